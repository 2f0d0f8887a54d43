"""SB3 PPO continuing across a continual scenario's changes: the ``ppo`` system of ``ant-ros
bench continual`` (the optional extra ``ant_ros[sb3]``: Stable-Baselines3 and torch; the
package and its tests do not need them).

PPO learns through the same phases as the learner (``run_scenario``), with no task label: one
model, ``learn`` called once for the whole run, the physics or wiring of every env copy switched
when the copies' steps together reach a phase's end; an episode under way at a change ends there
(truncated, not scored), as in the learner's runs. After every phase the model is evaluated
frozen (greedy, the same start states as the learner's evaluations) on both phases.

Hyperparameters: RL Baselines3 Zoo's tuned PPO for CartPole-v1 and Pendulum-v1
(``hyperparams/ppo.yml``), with the learning rate and clip range held constant where the zoo
decays them linearly to 0 over its 100,000-step budget: a learner that never stops has no end
to decay towards (decayed over the run, the last phases would barely learn by construction).
"""

from __future__ import annotations

import importlib.util
import math

import gymnasium as gym

from .continual import Exposure, PhaseEnv, Scenario

# RL Baselines3 Zoo, hyperparams/ppo.yml ("Tuned"); lin_x schedules held at x (module doc)
PPO_HYPERPARAMETERS: dict[str, dict] = {
    "CartPole-v1": {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8,
                    "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0, "learning_rate": 1e-3,
                    "clip_range": 0.2},
    "Pendulum-v1": {"n_envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9,
                    "n_epochs": 10, "ent_coef": 0.0, "learning_rate": 1e-3, "clip_range": 0.2,
                    "use_sde": True, "sde_sample_freq": 4},
}
MISSING = "SB3 PPO: not run (install the extra ant_ros[sb3]: stable-baselines3 and torch)"


def sb3_available() -> bool:
    """Whether Stable-Baselines3 (and so torch) can be imported here."""
    return importlib.util.find_spec("stable_baselines3") is not None


class _Schedule:
    """The run's phases over the env copies' steps together: the current phase, the episodes of
    each exposure, the frozen evaluations at every phase's end."""

    def __init__(self, scenario: Scenario, phase_steps: int, n_phases: int, evaluate) -> None:
        self.scenario, self.phase_steps, self.n_phases = scenario, phase_steps, n_phases
        self.evaluate = evaluate  # () -> (score A, score B)
        self.steps = 0  # env steps of all copies in the current phase
        self.index = 0  # the current phase
        self.exposures = [Exposure(0)]
        self.envs: list[PhaseEnv] = []

    @property
    def done(self) -> bool:
        return self.index >= self.n_phases

    def settings(self) -> dict:
        return self.scenario.phase(min(self.index, self.n_phases - 1))

    def count_step(self, episode_return: float | None) -> None:
        """One env step, and the return of the episode it ended (None: none ended, or one a
        change cut); at a phase's end: the frozen evaluation, then the next phase. As in the
        learner's runs, ``end_steps`` count from 1 and an episode that ends on a phase's last
        step is scored only if it terminated there (else the change cut it)."""
        if self.done:
            return
        self.steps += 1
        if episode_return is not None:
            exposure = self.exposures[-1]
            exposure.returns.append(episode_return)
            exposure.end_steps.append(self.steps)
        if self.steps < self.phase_steps:
            return
        self.exposures[-1].frozen = self.evaluate()
        self.index += 1
        self.steps = 0
        if not self.done:
            self.exposures.append(Exposure(self.index % 2))
            for env in self.envs:
                env.set_phase(self.settings())


class _ScheduledEnv(gym.Wrapper):
    """One env copy under the schedule: its episodes recorded, cut (truncated, not recorded)
    where a change came during them."""

    def __init__(self, env: PhaseEnv, schedule: _Schedule) -> None:
        super().__init__(env)
        self.schedule = schedule
        schedule.envs.append(env)
        env.set_phase(schedule.settings())
        self.episode_phase = schedule.index
        self.episode_return = 0.0

    def reset(self, **kwargs):
        self.episode_phase = self.schedule.index
        self.episode_return = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        changed = self.episode_phase != self.schedule.index  # a change came in this episode
        last = self.schedule.steps + 1 == self.schedule.phase_steps  # a phase's last step
        scored = (terminated or truncated) and not changed and (terminated or not last)
        self.schedule.count_step(self.episode_return if scored else None)
        if changed or self.episode_phase != self.schedule.index:
            truncated = truncated or not terminated  # the world changed under this episode
        return obs, reward, terminated, truncated, info


def run_ppo_scenario(scenario: Scenario, seed: int, phase_steps: int | None = None,
                     n_phases: int | None = None, eval_episodes: int = 10) -> list[Exposure]:
    """PPO (``PPO_HYPERPARAMETERS``) through the scenario's phases, as ``run_scenario`` runs the
    learner: the exposures with their learning episodes and frozen scores."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    if scenario.env_id not in PPO_HYPERPARAMETERS:
        raise ValueError(f"no PPO hyperparameters for {scenario.env_id}")
    torch.set_num_threads(1)  # one job per core, as the learner's runs
    phase_steps = phase_steps or scenario.phase_steps
    n_phases = n_phases or scenario.n_phases
    params = dict(PPO_HYPERPARAMETERS[scenario.env_id])
    n_envs = params.pop("n_envs")
    evaluation = PhaseEnv(gym.make(scenario.env_id))
    model = None

    def evaluate() -> tuple[float, float]:
        scores = []
        for phase in (0, 1):
            evaluation.set_phase(scenario.phase(phase))
            total = 0.0
            for episode in range(eval_episodes):
                # the learner's evaluation start states (run_scenario)
                obs, _ = evaluation.reset(seed=10_000 * (seed + 1) + episode)
                done = False
                while not done:
                    action, _ = model.predict(obs, deterministic=True)
                    obs, reward, terminated, truncated, _ = evaluation.step(action)
                    total += float(reward)
                    done = terminated or truncated
            scores.append(scenario.score(total / eval_episodes, phase))
        return scores[0], scores[1]

    schedule = _Schedule(scenario, phase_steps, n_phases, evaluate)
    envs = DummyVecEnv([lambda: _ScheduledEnv(PhaseEnv(gym.make(scenario.env_id)), schedule)
                        for _ in range(n_envs)])
    envs.seed(seed)
    model = PPO("MlpPolicy", envs, seed=seed, device="cpu", verbose=0, **params)
    rollout = n_envs * params["n_steps"]
    total = n_phases * phase_steps
    model.learn(total_timesteps=int(math.ceil(total / rollout) * rollout))
    envs.close()
    evaluation.close()
    if not schedule.done:
        raise RuntimeError("PPO stopped before the scenario's last phase ended")
    return schedule.exposures
