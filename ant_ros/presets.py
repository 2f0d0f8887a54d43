"""Tuned agent configurations per task; everything else uses the dataclass defaults."""

from __future__ import annotations

from .core.config import AgentConfig, LearningConfig, NetworkConfig

PRESETS: dict[str, AgentConfig] = {
    "CartPole-v1": AgentConfig(
        network=NetworkConfig(n_hidden=128, recurrent_fan_in=16, input_fan_in=2,
                              spectral_radius=0.8, input_scale=1.4, bias_scale=1.0,
                              tau_min_s=0.02, tau_max_s=0.08, threshold=0.05),
        learning=LearningConfig(gamma=0.99, trace_lambda=0.9, actor_lr=0.001, critic_lr=0.001,
                                step_bound_kappa=2.0, entropy_coef=0.01, hidden_lr=1e-4),
    ),
}


def preset_for(env_id: str) -> AgentConfig:
    return PRESETS.get(env_id, AgentConfig())
