"""Continual learning scenarios and their metrics (ROS-free): a task whose world changes and
changes back (phases A, B, A, B, ...), learning never stopped, no task label given.

A scenario is a Gymnasium env and two phases (settings of its physics or wiring), or the ir-sim
navigation task (``NAVIGATION``) and two phases of the robot and its arena (``RobotChange``
fields, or ``world: "b"`` for the rearranged arena); a navigation episode scores 1 if it reached
its goal, else 0. A run learns
through every phase with one learner (or, for the ``reset`` system, a new learner at every
change), and after every phase evaluates the learner frozen (a snapshot, learning off, greedy,
the same ``EVAL_EPISODES`` start states every time) on both phases. Scores: returns normalised
per phase between a random policy (0) and a good one (1). Metrics:

- **forgetting** (per phase, and their mean): a phase's frozen score at the end of its exposure
  minus its frozen score just before its next exposure (after the other phase was learned);
- **recovery steps**: steps into an exposure until the first window of ``WINDOW`` consecutive
  episodes whose mean score reaches the phase's **target** begins; the target is 90 % of the
  median level a fresh learner (the ``reset`` runs) reaches in one exposure of that phase, one
  target per scenario and phase for every system. An exposure that never gets there counts as
  censored at the phase length (``censored`` is the share of such exposures). First exposures
  (learning it new) and later ones (returning to a known phase) are reported apart;
- **plasticity ratio**: recovery steps at the 20th change over those at the 2nd (both returns to
  phase A, so it mixes memory with plasticity), for runs with at least 21 phases;
- the frozen scores of every phase after every exposure, and at the end.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from ..core.change_detector import CHANGES
from ..core.config import AgentConfig
from ..core.encoders import SendOnDeltaEncoder
from ..core.events import EventBatch, packet_precision
from ..core.learner import OnlineLearner
from .direct_runner import agent_config_for

WINDOW = 10  # episodes of the moving mean that recovery is judged on
TARGET = 0.9  # of the level a fresh learner reaches in one exposure
EVAL_EPISODES = 10


@dataclass(frozen=True)
class Scenario:
    """An env and its two phases (``PhaseEnv`` settings), alternated ``n_phases`` times."""

    name: str
    env_id: str
    phase_a: dict
    phase_b: dict
    random_returns: tuple[float, float]  # per phase: a uniformly random policy's mean (score 0)
    best_returns: tuple[float, float]  # per phase: a good policy's return (score 1)
    n_phases: int = 6
    phase_steps: int = 30_000
    description: str = ""

    def phase(self, index: int) -> dict:
        return self.phase_a if index % 2 == 0 else self.phase_b

    def score(self, episode_return: float, phase: int) -> float:
        low, high = self.random_returns[phase], self.best_returns[phase]
        return (episode_return - low) / (high - low)


NAVIGATION = "irsim-navigation"

SCENARIOS = {
    "cartpole-physics": Scenario(
        "cartpole-physics", "CartPole-v1", {}, {"length": 1.0, "masspole": 0.2},
        random_returns=(22.4, 33.8), best_returns=(500.0, 500.0),
        description="CartPole-v1; B: a pole twice as long and twice as heavy"),
    "cartpole-reversed": Scenario(
        "cartpole-reversed", "CartPole-v1", {}, {"reversed": True},
        random_returns=(22.4, 22.4), best_returns=(500.0, 500.0),
        description="CartPole-v1; B: the motor wired backwards (actions swapped)"),
    "pendulum-mass": Scenario(
        "pendulum-mass", "Pendulum-v1", {}, {"m": 1.4},
        # best: an energy-pumping swing-up controller's mean return
        random_returns=(-1208.0, -1217.0), best_returns=(-145.0, -176.0),
        description="Pendulum-v1; B: a 40 % heavier pendulum"),
    "cartpole-reversed-long": Scenario(
        "cartpole-reversed-long", "CartPole-v1", {}, {"reversed": True},
        random_returns=(22.4, 22.4), best_returns=(500.0, 500.0), n_phases=21,
        phase_steps=12_000,
        description="cartpole-reversed with 20 changes, for loss of plasticity"),
    "navigation-arena": Scenario(
        "navigation-arena", NAVIGATION, {}, {"world": "b"}, (0.0, 0.0), (1.0, 1.0),
        phase_steps=50_000, description="ir-sim navigation; B: the obstacles rearranged"),
    "navigation-half-speed": Scenario(
        "navigation-half-speed", NAVIGATION, {}, {"speed_gain": 0.5}, (0.0, 0.0),
        (1.0, 1.0), phase_steps=50_000,
        description="ir-sim navigation; B: wheels at half the speed"),
    "navigation-lidar-rotated": Scenario(
        "navigation-lidar-rotated", NAVIGATION, {}, {"lidar_rotation_rad": math.pi / 2},
        (0.0, 0.0), (1.0, 1.0), phase_steps=50_000,
        description="ir-sim navigation; B: the lidar mounted turned by 90 degrees"),
    "navigation-dead-sector": Scenario(
        "navigation-dead-sector", NAVIGATION, {}, {"dead_sector_rad": (-math.pi / 4,
                                                                         math.pi / 4)},
        (0.0, 0.0), (1.0, 1.0), phase_steps=50_000,
        description="ir-sim navigation; B: the lidar's front quarter dead (no returns)"),
}


class PhaseEnv(gym.Wrapper):
    """An env whose physics or wiring a phase sets: CartPole ``length``/``masspole``/
    ``reversed`` (the two actions swapped), Pendulum ``m``/``l``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        self._defaults = {name: getattr(base, name) for name in ("length", "masspole", "m", "l")
                          if hasattr(base, name)}
        self.reversed = False

    def set_phase(self, settings: dict) -> None:
        base = self.env.unwrapped
        values = {**self._defaults, **{k: v for k, v in settings.items() if k != "reversed"}}
        unknown = set(values) - set(self._defaults)
        if unknown:
            raise ValueError(f"{self.env.spec.id} has no setting {sorted(unknown)}")
        for name, value in values.items():
            setattr(base, name, float(value))
        if hasattr(base, "masscart"):  # CartPole caches these
            base.total_mass = base.masspole + base.masscart
            base.polemass_length = base.masspole * base.length
        self.reversed = bool(settings.get("reversed", False))
        if self.reversed and not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError("reversed needs two discrete actions")

    def step(self, action):
        if self.reversed:
            action = 1 - int(action)
        return self.env.step(action)


@dataclass
class Exposure:
    """One phase of a run: its learning episodes (returns, end steps counted from the phase's
    start) and the frozen scores of both phases after it."""

    phase: int  # 0: A, 1: B
    returns: list[float] = field(default_factory=list)
    end_steps: list[int] = field(default_factory=list)
    frozen: tuple[float, float] = (math.nan, math.nan)  # scores of A and B after this phase
    detections: list[int] = field(default_factory=list)  # steps at which a change was detected


class Agent:
    """A learner fed as the ROS graph feeds it (send-on-delta events, float32 values)."""

    def __init__(self, config: AgentConfig) -> None:
        self.learner = OnlineLearner(config)
        self.encoder = SendOnDeltaEncoder(self.learner.n_inputs, 0.0)
        self.dt = config.network.tick_s
        self.time_s = 0.0

    def step(self, obs, reward=None, terminated=False, truncated=False, deterministic=False):
        self.time_s += self.dt
        channels, deltas = self.encoder.encode(np.asarray(obs, np.float64), self.time_s)
        events = EventBatch(channels.astype(np.int64), np.full(channels.size, self.time_s),
                            packet_precision(deltas))
        return self.learner.step_events(
            events, self.time_s, reward=None if reward is None else float(np.float32(reward)),
            terminated=terminated, truncated=truncated, deterministic=deterministic)

    def frozen_return(self, env: PhaseEnv, episodes: int, seed: int) -> float:
        """Mean return of ``episodes`` greedy episodes with learning off; the learner (and its
        encoder and clock) are restored exactly afterwards."""
        snapshot = {k: np.array(v, copy=True)  # copies: state() hands out the live arrays
                    for k, v in self.learner.state(settle=False).items()}
        encoder, time_s, learning = (copy.deepcopy(self.encoder), self.time_s,
                                     self.learner.config.learning.learning_enabled)
        self.learner.set_learning_enabled(False)
        total = 0.0
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            action = self.step(obs, deterministic=True)
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
                action = self.step(obs, reward, terminated, truncated, deterministic=True)
        self.learner.set_learning_enabled(learning)
        self.learner.load_state(snapshot)
        self.encoder, self.time_s = encoder, time_s
        return total / episodes


def scenario_config(scenario: Scenario, system: str, seed: int,
                    consolidation_strength: float) -> AgentConfig:
    """The task's preset (as ``ant-ros train`` uses it; navigation: ``ant_learner``'s in
    config/robot.yaml) with the continual mechanisms of ``system`` (``SYSTEM_SETTINGS``) and
    nothing else: every system sets them all, whatever the preset has on."""
    if scenario.env_id == NAVIGATION:
        from .irsim_navigation import navigation_agent_config
        config = navigation_agent_config(None, seed, _navigation_channels())
    else:
        env = gym.make(scenario.env_id)
        config = agent_config_for(env, scenario.env_id, seed)
        env.close()
    settings = dict(SYSTEM_SETTINGS[system])
    if settings["consolidation_strength"]:
        settings["consolidation_strength"] = consolidation_strength
    return dataclasses.replace(config, learning=dataclasses.replace(
        config.learning, **settings)).validate()


NORMALIZATION_WINDOW = 5000.0  # steps, for the ``window`` system
POLICY_MEMORY = 4  # policies kept, for the ``recall`` system (the presets' ``CONTINUAL``)
_OFF = {"consolidation_strength": 0.0, "normalization_window_steps": 0.0,
        "change_detection": False, "change_policy_memory": 0}
# per system, the continual mechanisms' settings (consolidation's strength: the run's)
SYSTEM_SETTINGS = {
    "plain": _OFF,  # plain continual updating: every mechanism off
    "consolidation": {**_OFF, "consolidation_strength": 1.0},
    "window": {**_OFF, "normalization_window_steps": NORMALIZATION_WINDOW},
    "detect": {**_OFF, "change_detection": True, "change_policy_shrink": 0.0},
    "recall": {**_OFF, "change_detection": True, "change_policy_shrink": 0.0,
               "change_policy_memory": POLICY_MEMORY},
    "reset": _OFF,  # a new plain learner at every change
}
SYSTEMS = tuple(SYSTEM_SETTINGS)


def run_scenario(scenario: Scenario, system: str, seed: int, phase_steps: int | None = None,
                 n_phases: int | None = None, eval_episodes: int = EVAL_EPISODES,
                 consolidation_strength: float = 1.0) -> list[Exposure]:
    """Learn through the scenario's phases with ``system`` (``plain``: the preset with every
    continual mechanism off, learning on throughout; ``consolidation``: the same with
    consolidation on; ``window``: with normalisation statistics that forget
    (``NORMALIZATION_WINDOW`` steps); ``detect``: with the change detector, the policy reset at
    a detected change; ``recall``: the same with a memory of ``POLICY_MEMORY`` policies, one
    recalled at a change; ``reset``: a new plain learner at every change)."""
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {SYSTEMS}")
    phase_steps = phase_steps or scenario.phase_steps
    n_phases = n_phases or scenario.n_phases
    config = scenario_config(scenario, system, seed, consolidation_strength)
    if scenario.env_id == NAVIGATION:
        return _run_navigation(scenario, system, seed, phase_steps, n_phases, eval_episodes,
                               config)
    env = PhaseEnv(gym.make(scenario.env_id))
    evaluation = PhaseEnv(gym.make(scenario.env_id))
    agent = Agent(config)
    env.action_space.seed(seed)
    exposures: list[Exposure] = []
    obs, _ = env.reset(seed=seed)
    for index in range(n_phases):
        if index > 0 and system == "reset":
            agent = Agent(config)
        env.set_phase(scenario.phase(index))
        exposure = Exposure(index % 2)
        # the episode under way at a change ends there (truncated): the world changed
        obs, _ = env.reset()
        action = agent.step(obs)
        episode_return = 0.0
        for step in range(1, phase_steps + 1):
            obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += float(reward)
            truncated = truncated or step == phase_steps
            seen = agent.learner.change_state[CHANGES]
            action = agent.step(obs, reward, terminated, truncated)
            if agent.learner.change_state[CHANGES] > seen:
                exposure.detections.append(step)
            if terminated or truncated:
                if not (step == phase_steps and not terminated):  # not a cut-off episode
                    exposure.returns.append(episode_return)
                    exposure.end_steps.append(step)
                episode_return = 0.0
                if step < phase_steps:
                    obs, _ = env.reset()
                    action = agent.step(obs)
        scores = []
        for phase in (0, 1):
            evaluation.set_phase(scenario.phase(phase))
            # the same start states at every evaluation of a run: paired differences
            scores.append(scenario.score(agent.frozen_return(
                evaluation, eval_episodes, seed=10_000 * (seed + 1)), phase))
        exposure.frozen = (scores[0], scores[1])
        exposures.append(exposure)
    env.close()
    evaluation.close()
    return exposures


def adapt_steps(scenario: Scenario, exposure: Exposure, target: float,
                phase_steps: int) -> tuple[float, bool]:
    """Steps into the exposure until the first window of ``WINDOW`` consecutive episodes whose
    mean score reaches ``target`` begins, and whether it never did (then ``phase_steps``)."""
    scores = [scenario.score(r, exposure.phase) for r in exposure.returns]
    for end in range(WINDOW, len(scores) + 1):
        if np.mean(scores[end - WINDOW:end]) >= target:
            begin = end - WINDOW  # episodes before the window
            return (float(exposure.end_steps[begin - 1]) if begin > 0 else 0.0), False
    return float(phase_steps), True


def level(scenario: Scenario, exposure: Exposure) -> float:
    """The score an exposure ended at: its last ``WINDOW`` episodes (NaN: fewer)."""
    if len(exposure.returns) < WINDOW:
        return math.nan
    return float(np.mean([scenario.score(r, exposure.phase)
                          for r in exposure.returns[-WINDOW:]]))


def phase_targets(scenario: Scenario, fresh_runs: list[list[Exposure]]) -> tuple[float, float]:
    """Per phase, 90 % of the median level fresh learners reach in one exposure of it (the
    ``reset`` runs: every exposure of theirs is a fresh learner's)."""
    targets = []
    for phase in (0, 1):
        levels = [level(scenario, e) for run in fresh_runs for e in run if e.phase == phase]
        levels = [v for v in levels if not math.isnan(v)]
        targets.append(TARGET * float(np.median(levels)) if levels else math.nan)
    return targets[0], targets[1]


def run_metrics(scenario: Scenario, exposures: list[Exposure], phase_steps: int,
                targets: tuple[float, float]) -> dict[str, Any]:
    """The metrics of one run against the scenario's per-phase ``targets``."""
    adapt = [adapt_steps(scenario, e, targets[e.phase], phase_steps) for e in exposures]
    seen: set[int] = set()
    first, later = [], []
    for exposure, result in zip(exposures, adapt):
        (later if exposure.phase in seen else first).append(result)
        seen.add(exposure.phase)
    forgetting: dict[int, list[float]] = {0: [], 1: []}
    last_frozen: dict[int, float] = {}
    for index, exposure in enumerate(exposures):
        phase = exposure.phase
        if phase in last_frozen:
            before = exposures[index - 1].frozen[phase]  # after the other phase was learned
            forgetting[phase].append(last_frozen[phase] - before)
        last_frozen[phase] = exposure.frozen[phase]
    steps = [a for a, _ in adapt]
    plasticity = steps[20] / steps[2] if len(exposures) >= 21 and steps[2] > 0 else math.nan

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else math.nan
    return {
        "forgetting": mean(forgetting[0] + forgetting[1]),
        "forgetting_a": mean(forgetting[0]), "forgetting_b": mean(forgetting[1]),
        "recovery_steps_first": mean([a for a, _ in first]),
        "recovery_steps_first_b": first[1][0] if len(first) > 1 else math.nan,
        "recovery_steps_return": mean([a for a, _ in later]),
        "censored_first": mean([float(c) for _, c in first]),
        "censored_return": mean([float(c) for _, c in later]),
        "plasticity_ratio": float(plasticity),
        "final_frozen_a": exposures[-1].frozen[0], "final_frozen_b": exposures[-1].frozen[1],
        "recovery_steps_by_exposure": steps,
        "phase_end_scores": [level(scenario, e) for e in exposures],
        "frozen_scores": [list(e.frozen) for e in exposures],
    }


# -- navigation ---------------------------------------------------------------------------------


def _navigation_channels() -> int:
    from .irsim_navigation import FrameEncoder
    from .parameter_files import ROBOT_CONFIG, node_parameters
    return FrameEncoder(node_parameters(ROBOT_CONFIG, "ant_encoder")).n_channels


def _navigation_robot(settings: dict, seed: int):
    """The ir-sim robot of a phase: its arena, and what changed on it."""
    from .irsim_navigation import DEFAULT_WORLD, IrSimConfig, IrSimRobot, RobotChange
    from importlib import resources
    world = (str(resources.files("ant_ros.tasks.worlds").joinpath("irsim_arena_b.yaml"))
             if settings.get("world") == "b" else DEFAULT_WORLD)
    robot = IrSimRobot(IrSimConfig(world=world), seed=seed)
    robot.change = RobotChange(**{k: v for k, v in settings.items() if k != "world"})
    return robot


def _run_navigation(scenario: Scenario, system: str, seed: int, phase_steps: int,
                    n_phases: int, eval_episodes: int, config: AgentConfig) -> list[Exposure]:
    """The navigation loop of ``train_navigation`` through the phases; the robot (and, for a
    new arena, its world) changes at each change, the learner goes on."""
    from .irsim_navigation import FrameEncoder, NavigationLoop
    from .navigation import NavigationConfig, NavigationTask
    from .parameter_files import ROBOT_CONFIG, config_from_values, node_parameters
    encoder_params = node_parameters(ROBOT_CONFIG, "ant_encoder")
    task_config = config_from_values(NavigationConfig,
                                     node_parameters(ROBOT_CONFIG, "ant_nav_reward"))
    loop = NavigationLoop(_navigation_robot(scenario.phase(0), seed), FrameEncoder(encoder_params),
                          NavigationTask(task_config), OnlineLearner(config))
    exposures = []
    for index in range(n_phases):
        if index > 0:
            # the episode under way ends at the change (truncated); the world changes
            now = loop.frames * loop.robot.dt
            loop.frames += 1
            loop.learner.step_events(EventBatch.from_arrays([], [], []), now, reward=0.0,
                                     truncated=True)
            if system == "reset":
                loop.learner, loop.encoder = OnlineLearner(config), FrameEncoder(encoder_params)
            loop.robot = _navigation_robot(scenario.phase(index), seed + 1000 * index)
            loop.task = NavigationTask(task_config)
        exposure = Exposure(index % 2)
        start = loop.robot.steps
        while loop.robot.steps - start < phase_steps:
            seen = loop.learner.change_state[CHANGES]
            end = loop.frame()
            if loop.learner.change_state[CHANGES] > seen:
                exposure.detections.append(loop.robot.steps - start)
            if end is not None:
                exposure.returns.append(1.0 if end == "arrived" else 0.0)
                exposure.end_steps.append(loop.robot.steps - start)
        exposure.frozen = tuple(_navigation_frozen(loop, scenario.phase(phase), eval_episodes,
                                                   seed=50_000 + 100 * seed,
                                                   task_config=task_config)
                                for phase in (0, 1))
        exposures.append(exposure)
    return exposures


def _navigation_frozen(loop, settings: dict, episodes: int, seed: int, task_config) -> float:
    """The share of ``episodes`` greedy episodes with learning off that reach their goal, on a
    robot of the phase; the learner is restored afterwards."""
    from .irsim_navigation import NavigationLoop
    from .navigation import NavigationTask
    learner = loop.learner
    # (mid-episode: the training episode goes on after it, with the learner restored)
    snapshot = {k: np.array(v, copy=True) for k, v in learner.state(settle=False).items()}
    learning = learner.config.learning.learning_enabled
    learner.set_learning_enabled(False)
    evaluation = NavigationLoop(_navigation_robot(settings, seed), copy.deepcopy(loop.encoder),
                                NavigationTask(task_config), learner)
    evaluation.frames = loop.frames
    reached, ended = 0, 0
    limit = episodes * 2000
    while ended < episodes and limit > 0:
        end = evaluation.frame(deterministic=True)
        limit -= 1
        if end is not None:
            ended += 1
            reached += end == "arrived"
    learner.set_learning_enabled(learning)
    learner.load_state(snapshot)
    return reached / max(ended, 1)
