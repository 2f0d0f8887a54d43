"""Tuned agent configurations per task.

The dataclass defaults are the configuration tuned on CartPole-v1 (4 of 5 seeds solved within
100k steps at an op ratio near 12x); other tasks override what they need. Pendulum-v1 wants
a fast, input-driven feed-forward layer (tau = one step, no recurrence) whose input weights learn
by e-prop with TD(lambda) traces, raw rewards with a looser critic step bound, clipped rather
than tanh-squashed torques, and a finer event threshold than CartPole. Its inputs (cos, sin,
angular velocity / 8, all in [-1, 1]) are population-coded into 64 wide Gaussian fields each,
with centres spanning +-1.3 so that +-1 lies where the fields' linear read-out holds:
a step moves a few fields of each input rather than every synapse of a raw input, and each
neuron reads every 4th field of each input with weights that start as a random linear function
of the inputs (``field_linear``); the readouts read the hidden layer only.

The CartPole-v1 preset turns on the change detector with a memory of four policies
(``CONTINUAL``): on ``ant-ros bench continual`` it lets CartPole-v1 relearn a motor wired
backwards and return to a known wiring about ten times faster than learning it, and changes
nothing where the world's change leaves the policy good (README, "Continual learning").
Pendulum-v1's keeps it off: its scenario (a heavier pendulum) gains nothing from it, and in
single-task learning it reported a change on one seed of five. The dataclass defaults keep it
off (it is measured on these tasks only).
"""

from __future__ import annotations

from ..core.config import AgentConfig, LearningConfig, NetworkConfig

# the continual mechanism the presets turn on (``ant-ros bench continual``: system ``recall``)
CONTINUAL = {"change_detection": True, "change_policy_shrink": 0.0, "change_policy_memory": 4}

PRESETS: dict[str, AgentConfig] = {
    "CartPole-v1": AgentConfig(learning=LearningConfig(**CONTINUAL)),
    "Pendulum-v1": AgentConfig(
        network=NetworkConfig(n_hidden=128, recurrent_fan_in=0, input_fields=64,
                              input_field_range=1.3, input_field_width=2.0,
                              input_gain=(0.5, 0.5, 0.8), input_wiring="field_linear",
                              input_fan_in=48, input_scale=6.0, readout_inputs=False,
                              tau_min_s=0.05, tau_max_s=0.05, bias_scale=1.0, threshold=0.025,
                              input_threshold=0.04, homeostasis_rate=0.0, decision_ticks=1),
        learning=LearningConfig(gamma=0.95, trace_lambda=0.7, actor_lr=2e-4, critic_lr=1e-2,
                                normalize_observations=False, observation_scale=(1.0, 1.0, 8.0),
                                normalize_rewards=False, critic_bound_kappa=1.0,
                                actor_bound_kappa=10.0, mean_regularization=0.05,
                                hidden_lr=5e-3, eprop_td_traces=True, entropy_coef=0.01,
                                action_squash="clip", min_log_std=-5.0, max_log_std=2.0),
    ),
}


def preset_for(env_id: str) -> AgentConfig:
    return PRESETS.get(env_id, AgentConfig())
