"""``ant-ros bench robot``: the robot regime. Sensors arrive at their real rates (lidar 20 Hz,
odometry 50 Hz, IMU 200 Hz), faster than the robot decides (10 Hz) and much faster than its
world changes; the learner learns navigation while it drives.

The robot is the ir-sim navigation robot of ``config/robot.yaml`` (its world stepped every
50 ms, one lidar scan per step); odometry and the IMU are sampled between the steps from the
robot's velocity (a kinematic base: the pose integrated from the last step, the IMU's
acceleration the velocity change of the last step), the IMU with white noise at the BMI088's
noise densities over a 100 Hz bandwidth. Each sensor has its own send-on-delta encoder, as the
encoder node has (lidar and odometry settings from ``config/robot.yaml``, the IMU's below).
The learner is ``config/robot.yaml``'s with 28 inputs and a 5 ms tick (the IMU's period).

Systems, each driving its own robot from the same seed:

* ``ant``: every sample's events go into the network when they arrive (``ingest_events``),
  which refreshes the command when the actor's outputs moved; a decision (learning step,
  sampled action) every 100 ms.
* ``twin_sensor``: the synchronous twin clocked at the fastest sensor (every neuron and synapse
  updated every 5 ms, so it sees every sample, and a refreshed command every 5 ms).
* ``twin_events``: the twin updated at every sample that carried events (and at decisions): it
  sees every change as the 200 Hz twin does, skipping the ticks that bring none (between them
  it advances in closed form with the drives held, the twin's coarseness with recurrence).
* ``twin_decision``: the twin clocked at the decisions: it takes the latest samples every
  100 ms and commands then.

Latency: from a sensor sample that carried events to the first command computed after it, in
simulated time plus the learner's wall time for the call that computed it. CPU: the learner's
wall time (its calls only) over the simulated time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time

import numpy as np
import yaml

from ..core import encoders as enc
from ..core.events import EventBatch, packet_precision
from ..core.learner import OnlineLearner
from ..tasks.navigation import NavigationConfig, NavigationTask, min_valid_range
from ..tasks.irsim_navigation import (DEFAULT_WORLD, IrSimConfig, IrSimRobot, scan_features,
                                      stamp_seconds, success_rate)
from ..tasks.parameter_files import (ROBOT_CONFIG, config_from_values, learner_config,
                                     node_parameters)

TICK_S = 0.005          # the IMU's period: the network's tick
SIM_TICKS = 10          # the world steps (and the lidar scans) every 50 ms: 20 Hz
ODOM_TICKS = 4          # 50 Hz
DECISION_TICKS = 20     # 10 Hz
GRAVITY = 9.81
# BMI088: gyroscope 0.014 deg/s/sqrt(Hz), accelerometer 175 ug/sqrt(Hz), at 100 Hz bandwidth
GYRO_NOISE = math.radians(0.014) * 10.0   # rad/s
ACCEL_NOISE = 175e-6 * GRAVITY * 10.0     # m/s^2
# the IMU encoder's thresholds: [wx, wy, wz] rad/s, [ax, ay, az] m/s^2, [roll, pitch] rad
IMU_THRESHOLDS = np.array([0.02] * 3 + [0.2] * 3 + [0.02] * 2)
N_SCAN, N_ODOM, N_IMU = 16, 4, 8
SYSTEMS = ("ant", "twin_sensor", "twin_events", "twin_decision")
DURATION_S = 900.0


def _world_file(directory: str) -> str:
    """The navigation world, stepped every 50 ms."""
    with open(DEFAULT_WORLD) as handle:
        world = yaml.safe_load(handle)
    world["world"]["step_time"] = world["world"]["sample_time"] = SIM_TICKS * TICK_S
    path = os.path.join(directory, "irsim_arena_50ms.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(world, handle)
    return path


def robot_learner_config(seed: int):
    """``config/robot.yaml``'s learner with the lidar, odometry and IMU inputs and a 5 ms
    tick."""
    config = learner_config(node_parameters(ROBOT_CONFIG, "ant_learner"), seed)
    network = dataclasses.replace(config.network, n_inputs=N_SCAN + N_ODOM + N_IMU,
                                  tick_s=TICK_S)
    return dataclasses.replace(config, network=network).validate()


class Sensors:
    """The robot's three sensors, sampled at their rates, each with its send-on-delta encoder
    (channels: lidar sectors, odometry features, IMU features)."""

    def __init__(self, robot: IrSimRobot, seed: int) -> None:
        enc_params = node_parameters(ROBOT_CONFIG, "ant_encoder")
        self.robot = robot
        self.clip_range = float(enc_params["scan"]["clip_range_m"])
        self.scan_coder = enc.SendOnDeltaEncoder(N_SCAN, enc_params["scan"]["threshold"], 0.0)
        self.odom_coder = enc.SendOnDeltaEncoder(N_ODOM, enc_params["odom"]["threshold"], 0.0)
        self.imu_coder = enc.SendOnDeltaEncoder(N_IMU, IMU_THRESHOLDS, 0.0)
        self.rng = np.random.default_rng(seed + 1)
        self.scan = robot.scan()
        self.pose = np.zeros(3)
        self.velocity = np.zeros(2)
        self.acceleration = 0.0
        self.since_step_s = 0.0
        self.new_episode()

    def world_stepped(self) -> None:
        """After the world's step: the new scan, pose and velocity."""
        odom = self.robot.odometry()
        velocity = np.array([odom.linear_x, odom.angular_z])
        self.acceleration = (velocity[0] - self.velocity[0]) / (SIM_TICKS * TICK_S)
        self.velocity = velocity
        self.pose = np.array([odom.x, odom.y, odom.yaw])
        self.scan = self.robot.scan()
        self.since_step_s = 0.0

    def new_episode(self) -> None:
        self.velocity[:] = 0.0
        self.acceleration = 0.0
        self.world_stepped()

    def odometry(self) -> np.ndarray:
        """Odometry features now: the pose integrated from the last step at its velocity."""
        v, w = self.velocity
        dt = self.since_step_s
        yaw = self.pose[2] + w * dt
        mid = self.pose[2] + 0.5 * w * dt
        x, y = self.pose[0] + v * dt * math.cos(mid), self.pose[1] + v * dt * math.sin(mid)
        return enc.odometry_features(v, w, (x, y), enc.wrap_angle(yaw), self.robot.goal)

    def imu(self) -> np.ndarray:
        v, w = self.velocity
        gyro = np.array([0.0, 0.0, w]) + GYRO_NOISE * self.rng.standard_normal(3)
        accel = (np.array([self.acceleration, v * w, GRAVITY])
                 + ACCEL_NOISE * self.rng.standard_normal(3))
        return enc.imu_features(gyro, accel)

    def sample(self, tick: int, now: float) -> tuple[np.ndarray, np.ndarray]:
        """The events of the samples due at ``tick`` (channels, values)."""
        channels, values = [], []
        due = [(self.imu_coder, self.imu, N_SCAN + N_ODOM)]
        if tick % ODOM_TICKS == 0:
            due.append((self.odom_coder, self.odometry, N_SCAN))
        if tick % SIM_TICKS == 0:
            due.append((self.scan_coder, lambda: scan_features(
                self.scan, N_SCAN, self.clip_range), 0))
        for coder, features, first in due:
            ch, deltas = coder.encode(features(), now)
            channels.append(ch.astype(np.int64) + first)
            values.append(packet_precision(deltas))
        return np.concatenate(channels), np.concatenate(values)


def run_system(system: str, duration_s: float, seed: int = 0) -> dict:
    """One system driving and learning for ``duration_s`` of simulated time."""
    with tempfile.TemporaryDirectory() as directory:
        robot = IrSimRobot(IrSimConfig(world=_world_file(directory)), seed=seed)
    sensors = Sensors(robot, seed)
    task = NavigationTask(config_from_values(NavigationConfig,
                                             node_parameters(ROBOT_CONFIG, "ant_nav_reward")))
    learner = OnlineLearner(robot_learner_config(seed), twin=system != "ant")
    spec = learner.config.action
    low, high = np.asarray(spec.low), np.asarray(spec.high)
    command = np.zeros(2)
    n_ticks = int(round(duration_s / TICK_S))
    waiting: list[float] = []  # times of samples with events, awaiting a command
    latencies: list[float] = []
    # twin_decision, twin_events: samples not yet taken in (since the last update)
    held: list[tuple[np.ndarray, np.ndarray]] = []
    outcomes: list[str] = []
    learn_s = 0.0
    warm = False
    for tick in range(n_ticks + 1):
        if tick and tick % SIM_TICKS == 0:
            robot.step(command)
            sensors.world_stepped()
        now = stamp_seconds(tick, TICK_S)
        channels, values = sensors.sample(tick, now)
        if channels.size:
            waiting.append(now)
        sensors.since_step_s += TICK_S
        decision = tick % DECISION_TICKS == 0
        if not decision and (system == "twin_decision"
                             or (system == "twin_events" and not channels.size)):
            held.append((channels, values))
            continue
        if held:
            held.append((channels, values))
            channels = np.concatenate([c for c, _ in held])
            values = np.concatenate([v for _, v in held])
            held = []
        events = EventBatch(channels, np.full(channels.size, now), values)
        outcome = None
        if decision:
            task.set_goal(robot.goal, now)
            odom = robot.odometry()
            outcome = task.evaluate((odom.x, odom.y), min_valid_range(
                sensors.scan.ranges, sensors.scan.range_min, sensors.scan.range_max), now)
        start = time.perf_counter()  # the learner's call only
        if decision:
            action = learner.step_events(
                events, now, reward=float(np.float32(outcome.reward)),
                terminated=outcome.terminated, truncated=outcome.end == "timeout")
        else:
            action = learner.ingest_events(events, now)
        wall = time.perf_counter() - start
        if not warm:  # the first call compiles (or loads) the kernels
            warm, wall = True, 0.0
        learn_s += wall
        if outcome is not None and outcome.end is not None:
            outcomes.append(outcome.end)
            robot.new_episode()
            sensors.new_episode()
            command = np.zeros(2)
            latencies.extend(wall + now - t for t in waiting)
            waiting = []
        elif action is not None:
            command = np.clip(action, low, high)
            latencies.extend(wall + now - t for t in waiting)
            waiting = []
    cost = learner.cost()
    decisions = int(learner.steps[0])
    per_s = decisions / duration_s
    lat = np.array(latencies) * 1e3
    return {"system": system, "duration_s": duration_s, "decisions": decisions,
            "flops_per_decision": cost["flops_per_step"],
            "flops_per_s": cost["flops_per_step"] * per_s,
            "flops_by_part_per_s": {k: v * per_s for k, v in cost["flops_by_part"].items()},
            "twin_estimate_flops_per_s": cost["twin_flops_per_step"] * per_s,
            "hidden_events_per_s": cost.get("hidden_events_per_step", math.nan) * per_s,
            "input_events_per_s": cost.get("input_events_per_step", math.nan) * per_s,
            "cpu_share": learn_s / duration_s,
            "wall_us_per_decision": learn_s / max(decisions, 1) * 1e6,
            "latency_ms_median": float(np.median(lat)) if lat.size else None,
            "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
            "episodes": len(outcomes), "goals_reached": outcomes.count("arrived"),
            "success_rate": success_rate(outcomes)}


def run(quick: bool = False) -> list[dict]:
    """Every system of ``SYSTEMS``; ``quick`` drives 20 s each (a smoke test, not for
    reporting)."""
    duration = 20.0 if quick else DURATION_S
    rows = [run_system(system, duration) for system in SYSTEMS]
    ant = rows[0]
    for row in rows[1:]:
        ant[f"total_ratio_vs_{row['system']}"] = row["flops_per_s"] / ant["flops_per_s"]
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["system          Mflop/s  flops/decision   CPU %   latency ms p50 / p99  "
             "goals/episodes"]
    for r in rows:
        lines.append(
            f"{r['system']:<14} {r['flops_per_s'] / 1e6:>8.2f}  {r['flops_per_decision']:>14,.0f}"
            f"  {100 * r['cpu_share']:>6.2f}   {r['latency_ms_median']:>8.2f} / "
            f"{r['latency_ms_p99']:<8.2f}    {r['goals_reached']}/{r['episodes']}")
    ant = rows[0]
    lines.append("")
    lines.append(f"total ratio: {ant['total_ratio_vs_twin_sensor']:.1f}x against the twin at "
                 f"the sensor clock (200 Hz), {ant['total_ratio_vs_twin_events']:.1f}x against "
                 f"the twin at samples with events, {ant['total_ratio_vs_twin_decision']:.2f}x "
                 f"against the twin at the decision clock (10 Hz); the learner's own estimate "
                 f"of the twin at its calls: {ant['twin_estimate_flops_per_s'] / 1e6:.2f} "
                 "Mflop/s")
    parts = ", ".join(f"{k} {v:,.0f}" for k, v in ant["flops_by_part_per_s"].items() if v)
    lines.append(f"ant: {ant['input_events_per_s']:,.0f} input events/s, "
                 f"{ant['hidden_events_per_s']:,.0f} hidden events/s; flops/s by part: {parts}")
    return "\n".join(lines)
