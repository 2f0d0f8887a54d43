"""Navigation on the ir-sim robot, ROS-free.

``IrSimRobot`` is the simulated robot that ``ant_irsim_robot`` puts on ROS topics: a
differential-drive robot with a 2D lidar among obstacles (``ir-sim``), a random free start and
goal per episode. ``train_navigation`` runs the loop of the lockstep ROS demo (``ant-ros demo
--robot irsim``) without ROS, with the settings of ``config/robot.yaml``: per frame (a step's scan
and odometry) the encoder node's events, the reward node's reward and episode end
(``NavigationTask``), one learner step, whose command steps the robot; after an episode's end a
new start and goal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import yaml
from shapely.geometry import Point

from ..core import encoders as enc
from ..core.config import AgentConfig, ConfigError
from ..core.events import EventBatch, packet_precision
from .navigation import NavigationConfig, NavigationTask, min_valid_range
from .parameter_files import ROBOT_CONFIG, config_from_values, learner_config, node_parameters

if TYPE_CHECKING:  # the robot node simulates, it does not learn: no numba kernels loaded for it
    from ..core.learner import OnlineLearner

DEFAULT_WORLD = str(resources.files("ant_ros.tasks.worlds").joinpath("irsim_arena.yaml"))
# the Gazebo arena (worlds/ant_arena.sdf) in ir-sim, for the Gazebo graph without Gazebo
GAZEBO_ARENA_WORLD = str(resources.files("ant_ros.tasks.worlds").joinpath(
    "irsim_gazebo_arena.yaml"))
WINDOW = 100  # episodes: the success rate is that of the last WINDOW episodes


@dataclass(frozen=True)
class IrSimConfig:
    """The world and the placement of starts and goals (``ant_irsim_robot``'s parameters)."""

    world: str = field(default=DEFAULT_WORLD,
                       metadata={"description": "ir-sim world file (YAML)"})
    clearance_m: float = field(default=0.6,
                               metadata={"description": "free space around random starts and "
                                                        "goals"})
    min_goal_distance_m: float = field(default=2.0,
                                       metadata={"description": "shortest start-to-goal "
                                                                "distance"})


@dataclass(frozen=True)
class RobotChange:
    """What can change on the simulated robot while it learns (a worn motor, a bumped lidar, a
    dead lidar sector), for continual-learning scenarios; the defaults change nothing."""

    speed_gain: float = 1.0  # the wheels deliver this share of the commanded speeds
    lidar_rotation_rad: float = 0.0  # the lidar is mounted turned by this angle
    dead_sector_rad: tuple[float, float] = (0.0, 0.0)  # beams in [from, to): no return


@dataclass(frozen=True)
class LidarScan:
    """A lidar scan in the fields and precision (float32) of sensor_msgs/LaserScan; REP-117:
    ``+inf`` where a beam has no return within range."""

    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray  # float32


@dataclass(frozen=True)
class OdometryReading:
    """The robot's pose (m, rad) and velocity (m/s, rad/s) in the odometry frame."""

    x: float
    y: float
    yaw: float
    linear_x: float
    angular_z: float

    @property
    def orientation_zw(self) -> tuple[float, float]:
        """The yaw as the z and w of a quaternion, as nav_msgs/Odometry carries it."""
        return math.sin(self.yaw / 2.0), math.cos(self.yaw / 2.0)


class IrSimRobot:
    """An ir-sim differential-drive robot with a 2D lidar, one episode at a time: each starts at
    a random free pose facing a random direction, with a random free goal at least
    ``min_goal_distance_m`` away (``seed`` seeds ir-sim and the starts and goals)."""

    def __init__(self, config: IrSimConfig = IrSimConfig(), seed: int = 0) -> None:
        # ir-sim probes interactive matplotlib backends at import and prints each failure to
        # stdout (a robot has no screen); keep stdout clean for the command's output
        with contextlib.redirect_stdout(io.StringIO()):
            import irsim  # imported here: only the simulated robot needs it

        self.config = config
        self.env = irsim.make(config.world, headless=True, seed=seed, log_level="ERROR")
        with open(config.world) as handle:
            size = yaml.safe_load(handle).get("world", {})
        self.world_size = (float(size.get("width", 10.0)), float(size.get("height", 10.0)))
        self.world_offset = np.asarray(size.get("offset", [0.0, 0.0]), np.float64)
        self.robot = self.env.robot
        self.dt = float(self.env.step_time)
        self.rng = np.random.default_rng(seed)
        self.steps = 0
        self.episodes = 0
        self.goal = np.zeros(2)
        self.change = RobotChange()
        self.new_episode()

    def _free_point(self) -> np.ndarray:
        clearance = self.config.clearance_m
        low = self.world_offset + clearance
        high = self.world_offset + np.asarray(self.world_size) - clearance
        for _ in range(1000):
            p = self.rng.uniform(low, high)
            if all(o.geometry.distance(Point(*p)) > clearance for o in self.env.obstacle_list):
                return p
        raise RuntimeError("no free point found in the world")

    def new_episode(self) -> None:
        """Place the robot at a new random free start, facing a random direction, with a new
        goal."""
        start = self._free_point()
        goal = self._free_point()
        while np.linalg.norm(goal - start) < self.config.min_goal_distance_m:
            goal = self._free_point()
        self.robot.set_state([start[0], start[1], self.rng.uniform(-math.pi, math.pi)],
                             init=True)
        self.robot.set_goal([goal[0], goal[1], 0.0], init=True)
        self.robot.reset()  # to the new initial state, clearing collision and arrival
        self.robot.refresh()  # geometry and lidar at the new pose
        self.goal = goal
        self.episodes += 1

    def step(self, command: np.ndarray) -> None:
        """Advance one step with ``command`` (forward m/s, turn rad/s; ir-sim clips it to the
        robot's velocity limits)."""
        command = np.asarray(command, np.float64) * self.change.speed_gain
        self.env.step(command.reshape(2, 1))
        self.steps += 1

    @property
    def collided(self) -> bool:
        return bool(self.robot.collision)

    def scan(self) -> LidarScan:
        data = self.env.get_lidar_scan()
        ranges = np.asarray(data["ranges"], dtype=np.float32)
        # REP-117: no return within range is +inf
        ranges = np.where(ranges >= float(data["range_max"]), np.float32(np.inf), ranges)
        change = self.change
        if change.lidar_rotation_rad or change.dead_sector_rad[0] != change.dead_sector_rad[1]:
            ranges = self._changed_scan(ranges, float(data["angle_min"]),
                                        float(data["angle_increment"]))
        return LidarScan(*(float(np.float32(data[key])) for key in (
            "angle_min", "angle_max", "angle_increment", "range_min", "range_max")), ranges)

    def _changed_scan(self, ranges: np.ndarray, angle_min: float,
                      increment: float) -> np.ndarray:
        """The scan of a lidar turned by ``lidar_rotation_rad`` (beam i now sees what beam
        i + shift saw), with the dead sector's beams reporting no return."""
        change = self.change
        shift = int(round(change.lidar_rotation_rad / increment))
        ranges = np.roll(ranges, -shift)
        start, end = change.dead_sector_rad
        if start != end:
            angles = angle_min + increment * np.arange(ranges.size)
            ranges = np.where((angles >= start) & (angles < end), np.float32(np.inf), ranges)
        return ranges

    def odometry(self) -> OdometryReading:
        x, y, yaw = (float(v) for v in np.asarray(self.robot.state).ravel()[:3])
        v, w = (float(u) for u in np.asarray(self.robot.velocity).ravel()[:2])
        return OdometryReading(x, y, yaw, v, w)


# -- the encoder node's features and events, ROS-free ------------------------------------------


def scan_features(scan: LidarScan, sectors: int, clip_range_m: float) -> np.ndarray:
    """The encoder node's ``laser_scan`` features of ``scan`` (``clip_range_m`` 0: the sensor's
    range_max)."""
    return enc.laser_scan_sectors(scan.ranges, scan.range_min, scan.range_max, sectors,
                                  clip_range_m if clip_range_m > 0.0 else math.inf)


def odometry_features(odom: OdometryReading, goal_xy: np.ndarray | None) -> np.ndarray:
    """The encoder node's ``odometry`` features of ``odom``, the yaw read back from the
    quaternion as the node reads it from nav_msgs/Odometry."""
    z, w = odom.orientation_zw
    return enc.odometry_features(odom.linear_x, odom.angular_z, (odom.x, odom.y),
                                 enc.yaw_from_quaternion(0.0, 0.0, z, w), goal_xy)


class FrameEncoder:
    """The encoder node's events for one frame (a scan and odometry of one stamp), ROS-free.

    ``params`` are the node's parameters (a parameter file's ``ros__parameters``): its
    ``laser_scan`` and ``odometry`` encoders, channels in the order listed, each with its
    features sent send-on-delta by its threshold and rate limit, values in the precision of a
    spike packet. Every setting must be given (the node's defaults are not repeated here);
    population coding is not supported."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._encoders: list[tuple[int, Callable, enc.SendOnDeltaEncoder]] = []
        first = 0
        for name in params["encoders"]:
            section = params[name]
            if section.get("population_fields", 0):
                raise ConfigError(f"encoder {name}: population coding is not supported here")
            n, features = self._features(name, section)
            coder = enc.SendOnDeltaEncoder(n, section["threshold"], section["max_rate_hz"])
            self._encoders.append((first, features, coder))
            first += n
        self.n_channels = first

    @staticmethod
    def _features(name: str, section: Mapping[str, Any]) -> tuple[int, Callable]:
        """The number of features of encoder ``name`` and their function of (scan, odometry,
        goal)."""
        kind = section["type"]
        if kind == "laser_scan":
            sectors, clip = int(section["sectors"]), float(section["clip_range_m"])
            return sectors, lambda scan, odom, goal: scan_features(scan, sectors, clip)
        if kind == "odometry":
            if section["goal_topic"]:
                return 4, lambda scan, odom, goal: odometry_features(odom, goal)
            return 2, lambda scan, odom, goal: odometry_features(odom, None)
        raise ConfigError(f"encoder {name}: type {kind} is not laser_scan or odometry")

    def encode(self, scan: LidarScan, odom: OdometryReading, goal_xy: np.ndarray,
               time_s: float) -> EventBatch:
        """The events of the frame at ``time_s``, as its spike packets carry them."""
        channels, values = [], []
        for first, features, coder in self._encoders:
            ch, deltas = coder.encode(features(scan, odom, goal_xy), time_s)
            channels.append(ch.astype(np.int64) + first)
            values.append(packet_precision(deltas))
        channel = np.concatenate(channels)
        return EventBatch(channel, np.full(channel.size, time_s), np.concatenate(values))


# -- the lockstep learning loop ----------------------------------------------------------------


def stamp_seconds(frame: int, dt: float) -> float:
    """The time of frame ``frame`` as the ROS clock holds its stamp (whole nanoseconds), so
    that episodes time out on the same step as through ROS."""
    return round(frame * dt * 1e9) * 1e-9


def tally(kinds: list[str]) -> dict[str, int]:
    """Episodes by how they ended."""
    return {"goals_reached": kinds.count("arrived"), "collisions": kinds.count("collided"),
            "timeouts": kinds.count("timeout")}


def success_rate(kinds: list[str]) -> float | None:
    """The share of episodes that reached their goal (None: no episode)."""
    return kinds.count("arrived") / len(kinds) if kinds else None


class NavigationLoop:
    """The lockstep graph of the ROS demo without ROS: robot, encoder, reward and learner."""

    def __init__(self, robot: IrSimRobot, encoder: FrameEncoder, task: NavigationTask,
                 learner: OnlineLearner) -> None:
        self.robot, self.encoder, self.task, self.learner = robot, encoder, task, learner
        self.frames = 0  # frames stamped (every step, and every episode's first frame)
        self.learner_steps = 0
        self.learn_s = 0.0  # in the learner's calls

    def frame(self, deterministic: bool = False) -> str | None:
        """One frame: its events, reward and end, a learner step, and then the robot steps with
        the command, or, at the episode's end (returned, else None), starts a new episode."""
        robot = self.robot
        now = stamp_seconds(self.frames, robot.dt)
        self.frames += 1
        self.task.set_goal(robot.goal, now)  # as the reward node hears it with every frame
        scan, odom = robot.scan(), robot.odometry()
        events = self.encoder.encode(scan, odom, robot.goal, now)
        outcome = self.task.evaluate((odom.x, odom.y), min_valid_range(
            scan.ranges, scan.range_min, scan.range_max), now)
        start = time.perf_counter()
        action = self.learner.step_events(
            events, now, reward=float(np.float32(outcome.reward)),  # a Float32 message
            terminated=outcome.terminated, truncated=outcome.end == "timeout",
            deterministic=deterministic)
        self.learn_s += time.perf_counter() - start
        self.learner_steps += 1
        if outcome.end is not None:
            robot.new_episode()
            return outcome.end
        spec = self.learner.config.action
        robot.step(np.clip(action, spec.low, spec.high))  # as the learner node sends it
        return None


@dataclass
class NavigationResult:
    steps: int
    seed: int
    outcomes: list[tuple[int, str]]  # learning episodes: (robot step at the end, how it ended)
    ops: dict = field(repr=False)  # OnlineLearner.cost() at the end of learning
    wall_s: float  # of the learning steps
    learn_s: float  # of wall_s, in the learner's calls
    learner_steps: int  # while learning: one per robot step, and one per episode end
    evaluation: list[str] = field(default_factory=list)  # how evaluation episodes ended

    @property
    def success_rate_last100(self) -> float | None:
        return success_rate([kind for _, kind in self.outcomes[-WINDOW:]])

    def summary(self) -> dict:
        """The figures of ``ant-ros demo --robot irsim --json`` that a direct run has, and the
        counted cost per step."""
        kinds = [kind for _, kind in self.outcomes]
        return {
            "env": "irsim-navigation", "steps": self.steps, "seed": self.seed,
            "episodes": len(kinds), **tally(kinds),
            "success_rate_last100": self.success_rate_last100, **self.ops,
            "wall_s": self.wall_s, "steps_per_s": self.steps / max(self.wall_s, 1e-9),
            "wall_us_per_step": self.learn_s / max(self.steps, 1) * 1e6,
            "robot_steps": self.steps, "learner_steps": self.learner_steps,
            "eval_episodes": len(self.evaluation),
            **{f"eval_{key}": n for key, n in tally(self.evaluation).items()},
            "eval_success_rate": success_rate(self.evaluation), "outcomes": self.outcomes}


def navigation_agent_config(config: AgentConfig | None, seed: int,
                            n_channels: int) -> AgentConfig:
    """``config`` (None: ``ant_learner``'s in config/robot.yaml) with seed ``seed``, checked
    against the encoders' channels and the Twist command."""
    if config is None:
        return learner_config(node_parameters(ROBOT_CONFIG, "ant_learner"), seed)
    config = dataclasses.replace(config, network=dataclasses.replace(config.network, seed=seed),
                                 seed=seed).validate()
    if config.network.n_inputs != n_channels:
        raise ConfigError(f"network.n_inputs must be the encoders' {n_channels} channels")
    if config.action.kind != "continuous" or config.action.size != 2:
        raise ConfigError("the navigation learner commands two continuous actions (forward "
                          "speed, turn rate)")
    return config


def train_navigation(steps: int, seed: int, config: AgentConfig | None = None,
                     twin: bool = False,
                     progress: Callable[[int, float | None], None] | None = None,
                     eval_episodes: int = 0) -> NavigationResult:
    """Learn navigation online for ``steps`` robot steps, as the lockstep ROS demo does, without
    ROS: robot, encoder and reward settings from config/robot.yaml, and the learner
    ``config`` (None: ``ant_learner``'s there) on the asynchronous network, or with ``twin`` on
    the synchronous twin. ``progress(step, success rate of the last 100 episodes)`` is called
    every 1000 steps.

    Then, with ``eval_episodes``, learning is frozen and actions are greedy: the episode under
    way is finished, and the next ``eval_episodes`` episodes (new starts and goals) are the
    evaluation."""
    robot = IrSimRobot(seed=seed)
    encoder = FrameEncoder(node_parameters(ROBOT_CONFIG, "ant_encoder"))
    task = NavigationTask(config_from_values(NavigationConfig,
                                             node_parameters(ROBOT_CONFIG, "ant_nav_reward")))
    from ..core.learner import OnlineLearner
    learner = OnlineLearner(navigation_agent_config(config, seed, encoder.n_channels), twin=twin)
    loop = NavigationLoop(robot, encoder, task, learner)
    outcomes: list[tuple[int, str]] = []
    # the first frame is not timed: it compiles (or loads) the kernels, as in run_online
    end = loop.frame()
    loop.learn_s = 0.0
    start = time.perf_counter()
    while True:
        if end is not None:
            outcomes.append((robot.steps, end))
        elif progress is not None and robot.steps % 1000 == 0:
            progress(robot.steps, success_rate([kind for _, kind in outcomes[-WINDOW:]]))
        if robot.steps >= steps:
            break
        end = loop.frame()
    wall_s = time.perf_counter() - start
    result = NavigationResult(steps=steps, seed=seed, outcomes=outcomes, ops=learner.cost(),
                              wall_s=wall_s, learn_s=loop.learn_s,
                              learner_steps=loop.learner_steps)
    if eval_episodes > 0:
        learner.set_learning_enabled(False)
        while loop.frame(deterministic=True) is None:
            pass  # the episode under way was partly learned: not evaluated
        while len(result.evaluation) < eval_episodes:
            end = loop.frame(deterministic=True)
            if end is not None:
                result.evaluation.append(end)
    return result
