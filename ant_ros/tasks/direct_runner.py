"""Train the core learner directly on a Gymnasium environment (no ROS): ``ant-ros train``."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np

from ..core.accounting import ppo_flops_per_step
from ..core.config import ActionSpec, AgentConfig
from ..core.encoders import SendOnDeltaEncoder
from ..core.events import EventBatch, packet_precision
from ..core.learner import OnlineLearner
from ..core.stream_ac import StreamAC, StreamACConfig
from .presets import preset_for

# Mean return over 100 episodes that counts as solved, where the env's spec has none.
SOLVED_THRESHOLDS = {"Pendulum-v1": -200.0}
WINDOW = 100


@dataclass
class TrainResult:
    env: str
    steps: int
    seed: int
    solved_at_step: int | None
    mean_return_last100: float
    episodes: int
    episode_returns: list[float] = field(repr=False)
    episode_end_steps: list[int] = field(repr=False)
    ops: dict = field(repr=False)  # OnlineLearner.cost()
    wall_s: float = 0.0
    learn_s: float = 0.0  # of wall_s, in the learner's calls
    solved_threshold: float | None = None  # the mean return that counts as solved (None: none)

    @classmethod
    def from_episodes(cls, env: str, steps: int, seed: int, returns: list[float],
                      end_steps: list[int], threshold: float | None, ops: dict,
                      wall_s: float, learn_s: float = 0.0) -> TrainResult:
        """The result of a run from its episodes' returns and end steps (direct or via ROS)."""
        return cls(env=env, steps=steps, seed=seed,
                   solved_at_step=solved_at_step(returns, end_steps, threshold),
                   mean_return_last100=float(np.mean(returns[-WINDOW:])) if returns else math.nan,
                   episodes=len(returns), episode_returns=returns, episode_end_steps=end_steps,
                   ops=ops, wall_s=wall_s, learn_s=learn_s, solved_threshold=threshold)

    def summary(self) -> dict:
        """Learning result and the counted cost per step (``OnlineLearner.cost``)."""
        cost = self.ops
        events = cost.get("hidden_events_per_step", 0.0) + cost.get("input_events_per_step", 0.0)
        return {
            "env": self.env, "steps": self.steps, "seed": self.seed,
            "solved_at_step": self.solved_at_step, "solved_threshold": self.solved_threshold,
            "mean_return_last100": self.mean_return_last100, "episodes": self.episodes,
            "events_per_step": events, **cost,
            "wall_s": self.wall_s, "steps_per_s": self.steps / max(self.wall_s, 1e-9),
            "wall_us_per_step": self.learn_s / max(self.steps, 1) * 1e6,
            "learning_curve": learning_curve(self.episode_returns, self.episode_end_steps,
                                             self.steps),
        }


CURVE_POINTS = 50


def learning_curve(returns: list[float], end_steps: list[int], steps: int,
                   points: int = CURVE_POINTS) -> dict[str, list]:
    """The mean return of the last WINDOW episodes ended by each of ``points`` evenly spaced
    steps up to ``steps`` (None before the first episode ends): a run's curve in a few numbers,
    for plots of many runs."""
    marks = [round(steps * (k + 1) / points) for k in range(points)]
    ends = np.asarray(end_steps, np.int64)
    values: list[float | None] = []
    for mark in marks:
        done = int(np.searchsorted(ends, mark, side="right"))
        values.append(float(np.mean(returns[max(0, done - WINDOW):done])) if done else None)
    return {"steps": marks, "mean_return_last100": values}


def solved_at_step(returns: list[float], end_steps: list[int],
                   threshold: float | None) -> int | None:
    """The step at which the mean return of the last WINDOW episodes first reached
    ``threshold`` (None: never, or no threshold)."""
    if threshold is None:
        return None
    for i in range(WINDOW - 1, len(returns)):
        if float(np.mean(returns[i - WINDOW + 1:i + 1])) >= threshold:
            return end_steps[i]
    return None


def solved_threshold(env: gym.Env, env_id: str) -> float | None:
    if env_id in SOLVED_THRESHOLDS:
        return SOLVED_THRESHOLDS[env_id]
    spec = env.spec
    return None if spec is None or spec.reward_threshold is None else float(spec.reward_threshold)


def action_spec_for(space: gym.Space) -> ActionSpec:
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpec(kind="discrete", n=int(space.n))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return ActionSpec(kind="continuous", low=tuple(map(float, space.low)),
                          high=tuple(map(float, space.high)))
    raise ValueError(f"unsupported action space {space}")


def env_step_seconds(env: gym.Env) -> float:
    """The simulated time one env step takes (``dt``/``tau`` where the env says), else 0.02 s."""
    base = env.unwrapped
    for name in ("dt", "tau"):
        value = getattr(base, name, None)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return 0.02


# fields the runner sets from the environment and the seed, whatever the preset says
RUNNER_FIELDS = {
    "network.n_inputs": "it is the size of the environment's observation",
    "network.tick_s": "it is the environment's step time",
    "network.seed": "use --seed",
}


def agent_config_for(env: gym.Env, env_id: str, seed: int,
                     overrides: AgentConfig | None = None) -> AgentConfig:
    """The preset configuration for ``env_id``, sized to the env's spaces."""
    base = overrides or preset_for(env_id)
    obs_shape = env.observation_space.shape
    if obs_shape is None or len(obs_shape) != 1:
        raise ValueError(f"the direct runner needs a flat observation vector, got {obs_shape}")
    tick = env_step_seconds(env)
    network = dataclasses.replace(base.network, n_inputs=int(obs_shape[0]), tick_s=tick,
                                  seed=seed)
    network = dataclasses.replace(network, input_fan_in=min(network.input_fan_in,
                                                             network.n_channels))
    return dataclasses.replace(base, network=network, action=action_spec_for(env.action_space),
                               seed=seed).validate()


def train(env_id: str, steps: int, seed: int, config: AgentConfig | None = None,
          progress: Callable[[int, float | None], None] | None = None,
          env_kwargs: dict | None = None, twin: bool = False) -> TrainResult:
    """Learn online for ``steps`` env steps; returns returns, solve step, counted cost, wall
    time. ``twin`` learns with the synchronous twin instead (``OnlineLearner(twin=True)``)."""
    env = gym.make(env_id, **(env_kwargs or {}))
    learner = OnlineLearner(agent_config_for(env, env_id, seed, config), twin=twin)
    dt = learner.config.network.tick_s
    # the same encoding the ROS graph applies (encoder threshold 0, float32 packet values), so
    # that lockstep training through ROS reproduces this run exactly
    encoder = SendOnDeltaEncoder(learner.n_inputs, 0.0)

    def learn_step(obs, step, reward=None, terminated=False, truncated=False):
        now = step * dt
        channels, deltas = encoder.encode(np.asarray(obs, np.float64), now)
        events = EventBatch(channels.astype(np.int64), np.full(channels.size, now),
                            packet_precision(deltas))
        return learner.step_events(events, now, reward=None if reward is None else float(
            np.float32(reward)), terminated=terminated, truncated=truncated)

    run = run_online(env, steps, seed, learn_step, progress)
    env.close()
    return TrainResult.from_episodes(env_id, steps, seed, run.returns, run.end_steps,
                                     run.threshold(env_id),
                                     {**learner.cost(), **baseline_costs(env, learner.cost()),
                                      **({"learner": "twin"} if twin else {}),
                                      "changes_detected": learner.change_report()[
                                          "changes_detected"]},
                                     run.wall_s, run.learn_s)


def baseline_costs(env: gym.Env, cost: dict) -> dict:
    """What a user would pick instead, for this env's sizes, by the same cost model: stream
    AC(lambda) (two hidden layers of 128) and SB3 PPO with its defaults, per env step, and
    their ratios to the learner's counted flops."""
    n_in, action = int(env.observation_space.shape[0]), action_spec_for(env.action_space)
    stream_ac = StreamAC(n_in, action).flops_per_step()
    ppo = ppo_flops_per_step(n_in, action)["total"]
    return {"stream_ac_flops_per_step": stream_ac, "ppo_flops_per_step": ppo,
            "stream_ac_ratio": stream_ac / cost["flops_per_step"],
            "ppo_ratio": ppo / cost["flops_per_step"]}


@dataclass
class OnlineRun:
    env: gym.Env
    returns: list[float]
    end_steps: list[int]
    wall_s: float
    learn_s: float

    def threshold(self, env_id: str) -> float | None:
        return solved_threshold(self.env, env_id)


def run_online(env: gym.Env, steps: int, seed: int, learn_step: Callable,
               progress: Callable[[int, float | None], None] | None = None) -> OnlineRun:
    """Step ``env`` and a learner for ``steps`` steps, one sample at a time: ``learn_step(obs,
    step, reward=, terminated=, truncated=)`` returns the next action (None at an episode's
    end; a reset's first observation follows). Times the learner's calls apart from the env's."""
    returns: list[float] = []
    ends: list[int] = []
    window: deque[float] = deque(maxlen=WINDOW)  # for the progress line
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    action = learn_step(obs, 0)
    episode_return = 0.0
    learn_s = 0.0
    clock = time.perf_counter
    start = clock()
    for step in range(1, steps + 1):
        obs, reward, terminated, truncated, _ = env.step(action)
        episode_return += float(reward)
        t0 = clock()
        action = learn_step(obs, step, reward=float(reward), terminated=terminated,
                            truncated=truncated)
        learn_s += clock() - t0
        if terminated or truncated:
            returns.append(episode_return)
            ends.append(step)
            window.append(episode_return)
            episode_return = 0.0
            obs, _ = env.reset()
            t0 = clock()
            action = learn_step(obs, step)
            learn_s += clock() - t0
        if progress is not None and (step % 1000 == 0 or step == steps):
            progress(step, float(np.mean(window)) if window else None)
    return OnlineRun(env, returns, ends, clock() - start, learn_s)


def train_stream_ac(env_id: str, steps: int, seed: int,
                    progress: Callable[[int, float | None], None] | None = None,
                    env_kwargs: dict | None = None,
                    config: StreamACConfig = StreamACConfig()) -> TrainResult:
    """Learn online with the dense stream AC(lambda) baseline (``core/stream_ac.py``) instead,
    through the same runner: the reference a user would pick, with its flops counted by the
    same cost model (the paper's hyper-parameters unless ``config`` says otherwise)."""
    env = gym.make(env_id, **(env_kwargs or {}))
    space = env.observation_space.shape
    if space is None or len(space) != 1:
        raise ValueError(f"the direct runner needs a flat observation vector, got {space}")
    agent = StreamAC(int(space[0]), action_spec_for(env.action_space), seed, config)

    def learn_step(obs, step, reward=None, terminated=False, truncated=False):
        return agent.step(obs, reward, terminated, truncated)

    run = run_online(env, steps, seed, learn_step, progress)
    env.close()
    by_part = {part: flops / max(steps, 1) for part, flops in agent.flops_by_part().items()}
    ops = {"learner": "stream-ac", "flops_per_step": sum(by_part.values()),
           "flops_by_part": by_part, "n_params": agent.n_params,
           "stream_ac_config": dataclasses.asdict(config)}
    return TrainResult.from_episodes(env_id, steps, seed, run.returns, run.end_steps,
                                     run.threshold(env_id), ops, run.wall_s, run.learn_s)


def terminal_progress(total: int, stream=sys.stderr) -> Callable[[int, float | None], None]:
    """A one-line progress bar with the running mean return (only on a terminal)."""
    if not stream.isatty():
        return lambda step, mean: None
    started = time.perf_counter()

    def show(step: int, mean: float | None) -> None:
        width = 30
        done = int(width * step / total)
        rate = step / max(time.perf_counter() - started, 1e-9)
        mean_text = "   n/a" if mean is None else f"{mean:8.1f}"
        stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{total} steps "
                     f"mean return (100 ep) {mean_text}  {rate:,.0f} steps/s")
        if step == total:
            stream.write("\n")
        stream.flush()

    return show
