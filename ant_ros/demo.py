"""``ant-ros demo``: the whole ROS graph in one process, learning from scratch, online.

Gymnasium bridge (lockstep) -> joint_states -> ant_encoder -> spikes -> ant_learner -> command
-> bridge, with reward, episode_end and /clock from the bridge; one executor, real topics. At the
end: a results table, a learning-curve plot (PNG) and a JSON summary in the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.experimental import EventsExecutor
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int32

from .core.change_detector import CHANGES
from .core.config import AgentConfig
from .tasks.direct_runner import WINDOW, TrainResult, agent_config_for, solved_threshold
from .nodes.bridge_node import GymBridgeNode
from .nodes.encoder_node import EncoderNode
from .nodes.learner_node import LearnerNode
from .nodes.parameters import flatten
from .nodes.spin import spin_until
from .recording import McapRecorder
from .tasks.irsim_navigation import success_rate, tally
from .tasks.parameter_files import ROBOT_CONFIG, node_parameters


def learner_parameters(config: AgentConfig) -> dict:
    """ROS parameters that make ant_learner run exactly ``config``, commanding the bridge."""
    params = {f"network.{k}": v for k, v in dataclasses.asdict(config.network).items()}
    params.update({f"learning.{k}": v for k, v in dataclasses.asdict(config.learning).items()})
    if config.action.kind == "discrete":
        params.update(command_type="int32", n_actions=config.action.n)
    else:
        params.update(command_type="float64_array", joint_limits_low=list(config.action.low),
                      joint_limits_high=list(config.action.high))
    params.update(stop_at_episode_end=False, watchdog_timeout_s=0.0, use_sim_time=True)
    return params


def build_graph(env_id: str, seed: int, context: Context, config: AgentConfig | None = None):
    """The bridge, encoder and learner nodes for ``env_id``, configured like the direct runner:
    the bridge's env gives the spaces that size the learner and name the encoder's joints."""
    bridge = GymBridgeNode(context=context, parameter_overrides=[
        Parameter("env_id", value=env_id), Parameter("seed", value=seed),
        Parameter("autostart", value=False)])
    config = agent_config_for(bridge.env, env_id, seed, config)
    learner = LearnerNode(context=context, parameter_overrides=[
        Parameter(k, value=v) for k, v in learner_parameters(config).items()])
    encoder = EncoderNode(context=context, parameter_overrides=[
        Parameter("encoders", value=["obs"]), Parameter("obs.type", value="joint_state"),
        Parameter("obs.joints", value=bridge.names), Parameter("obs.include_velocity", value=False),
        Parameter("obs.threshold", value=0.0), Parameter("use_sim_time", value=True)])
    return bridge, encoder, learner


# Right after matching, Fast DDS delivered a reliable topic's first message after best-effort
# messages published later (the first navigation frame's goal after its odometry: the encoder
# encoded that frame without the goal); a short wait after matching keeps the order.
SETTLE_S = 0.2
STALL_TIMEOUT_S = 30.0  # wall time in which a lockstep graph that steps nothing has stopped


def _stalled(graph: str, step: int, timeout_s: float) -> RuntimeError:
    domain = os.environ.get("ROS_DOMAIN_ID", "0")
    return RuntimeError(
        f"the {graph} graph stopped at step {step}: no command for {timeout_s:g} s (is "
        f"another ROS graph running on ROS_DOMAIN_ID {domain}? its /clock and topics mix with "
        "this one's)")


# the demos' simulators never set their clock back: a learner that saw it go back more often than
# this hears another graph's /clock
CLOCK_JUMPS_TOLERATED = 2


def _check_clock(graph: str, step: int, learner: LearnerNode) -> None:
    if learner.time_jumps > CLOCK_JUMPS_TOLERATED:
        domain = os.environ.get("ROS_DOMAIN_ID", "0")
        raise RuntimeError(
            f"the {graph} graph's clock went backwards {learner.time_jumps} times by step "
            f"{step} (is another ROS graph running on ROS_DOMAIN_ID {domain}? its /clock "
            "mixes with this one's)")


RECORDED_TOPICS = [("/clock", Clock, 100), ("joint_states", JointState, 100),
                   ("spikes", PointCloud2, 100), ("command", Int32, 100),
                   ("reward", Float32, 100), ("episode_end", Bool, 100),
                   ("/diagnostics", DiagnosticArray, 10)]


def run(env_id: str = "CartPole-v1", steps: int = 100_000, seed: int = 0,
        out_dir: str | Path = "runs/demo",
        progress: Callable[[int, float | None], None] | None = None,
        record: bool = False, stall_timeout_s: float = STALL_TIMEOUT_S) -> dict:
    """Learn online through the ROS graph for ``steps`` env steps; returns the summary.

    ``record`` writes every message of the graph to ``out_dir/demo.mcap``. A graph that steps
    nothing for ``stall_timeout_s`` (wall time) raises RuntimeError instead of waiting forever."""
    context = Context()
    rclpy.init(context=context)
    executor = EventsExecutor(context=context)
    nodes: tuple = ()
    try:
        nodes = bridge, encoder, learner = build_graph(env_id, seed, context)
        recorder = None
        if record:
            recorder_node = rclpy.create_node("ant_demo_recorder", context=context,
                                              parameter_overrides=[Parameter("use_sim_time",
                                                                             value=True)])
            nodes = (*nodes, recorder_node)
            topics = [(t, Float64MultiArray if t == "command" and not bridge.discrete else m, q)
                      for t, m, q in RECORDED_TOPICS]
            recorder = McapRecorder(recorder_node, Path(out_dir) / "demo.mcap", topics)
        for node in nodes:
            executor.add_node(node)
        _wait_until_connected(executor, nodes)
        bridge.start()
        start = time.perf_counter()
        next_report = 1000
        last_steps, last_change = 0, time.monotonic()
        while bridge.steps < steps:
            executor.spin_once(timeout_sec=1.0)
            if bridge.steps != last_steps:
                last_steps, last_change = bridge.steps, time.monotonic()
            elif time.monotonic() - last_change > stall_timeout_s:
                raise _stalled("demo", bridge.steps, stall_timeout_s)
            _check_clock("demo", bridge.steps, learner)
            if progress is not None and bridge.steps >= next_report:
                returns = bridge.episode_returns[-WINDOW:]
                progress(bridge.steps, float(np.mean(returns)) if returns else None)
                next_report += 1000
        wall = time.perf_counter() - start
        summary = _summary(env_id, steps, seed, bridge, learner, wall)
        if recorder is not None:
            executor.spin_once(timeout_sec=0.1)  # the last messages
            recorder.close()
            summary["recording"] = str(recorder.path)
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    return _write_outputs(summary, bridge.episode_returns, Path(out_dir))


def _wait_until_connected(executor, nodes, timeout_s: float = 30.0) -> None:
    """Spin until every publisher and subscription of the graph's ``nodes`` has matched all
    of the others on its topic, and then for SETTLE_S, so that the first messages reach every
    node in the order they were sent."""
    publishers = [p for node in nodes for p in node.publishers]
    subscriptions = [s for node in nodes for s in node.subscriptions]
    n_publishers = Counter(p.topic_name for p in publishers)
    n_subscriptions = Counter(s.topic_name for s in subscriptions)

    def connected() -> bool:
        return (all(p.get_subscription_count() >= n_subscriptions[p.topic_name]
                    for p in publishers)
                and all(s.get_publisher_count() >= n_publishers[s.topic_name]
                        for s in subscriptions))
    if not spin_until(executor, connected, timeout_s, 0.01):
        raise RuntimeError("the demo graph did not connect")
    spin_until(executor, lambda: False, SETTLE_S, 0.01)


def _summary(env_id, steps, seed, bridge, learner, wall) -> dict:
    """The direct runner's summary of this run, with the threshold and every episode."""
    threshold = solved_threshold(bridge.env, env_id)
    result = TrainResult.from_episodes(env_id, steps, seed, bridge.episode_returns,
                                       bridge.episode_end_steps, threshold,
                                       learner.learner.cost(), wall)
    return {**result.summary(), "threshold": threshold, "episode_returns": result.episode_returns,
            "episode_end_steps": result.episode_end_steps}


def _write_outputs(summary: dict, returns: list[float], out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    ends = summary["episode_end_steps"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(ends, returns, ".", ms=2, alpha=0.4, label="episode return")
    if len(returns) >= WINDOW:
        mean = np.convolve(returns, np.ones(WINDOW) / WINDOW, mode="valid")
        ax.plot(ends[WINDOW - 1:], mean, lw=2, label=f"mean of last {WINDOW}")
    if summary["threshold"] is not None:
        ax.axhline(summary["threshold"], color="k", ls="--", lw=1, label="solved")
    ax.set_xlabel("environment step")
    ax.set_ylabel("return")
    ax.set_title(f"{summary['env']}: online learning through ROS (seed {summary['seed']})")
    ax.legend(loc="lower right")
    return _save(fig, summary, out_dir)


def run_irsim(steps: int = 100_000, seed: int = 0, out_dir: str | Path = "runs/demo_irsim",
              progress: Callable[[int, float | None], None] | None = None,
              eval_episodes: int = 100, stall_timeout_s: float = STALL_TIMEOUT_S,
              continual: bool = False, namespace: str = "",
              learning: dict | None = None, watch: Callable[[], None] | None = None) -> dict:
    """Navigation: the ir-sim robot, the reward node, encoder (lidar sectors, odometry and goal)
    and learner (cmd_vel), learning online to reach random goals without collision.

    After ``steps`` steps of learning, the learner is frozen and acts greedily (parameters
    ``learning.learning_enabled`` and ``deterministic``) for ``eval_episodes`` new episodes, each
    towards a new random goal: the evaluation of what was learned. A step the graph drops is
    made with a zero command after 1 s; a graph that steps nothing itself for ``stall_timeout_s``
    raises RuntimeError.

    With ``continual`` the robot changes while it learns, through the robot node's parameters,
    in six equal phases (``CONTINUAL_PHASES``: as built, wheels at half speed, as built, the
    lidar turned 90 degrees, as built, the lidar's front quarter dead); the plot marks the
    changes. ``learning`` overrides ``ant_learner``'s ``learning.*`` parameters (names without
    the section). ``namespace`` puts every node (and the simulator's /clock) under it, so that
    another graph can run beside this one on the same ROS domain. ``watch``, called about once
    a second, may raise to end the run (the continual demo's two graphs watch each other)."""
    from .nodes.irsim_node import IrSimRobotNode
    from .nodes.nav_reward_node import NavRewardNode

    context = Context()
    rclpy.init(context=context)
    executor = EventsExecutor(context=context)

    def overrides(name: str, extra: dict) -> list[Parameter]:
        flat = flatten(node_parameters(ROBOT_CONFIG, name))
        flat.update(extra, use_sim_time=True)
        return [Parameter(k, value=v) for k, v in flat.items()]

    placement = namespaced(namespace)

    nodes: list = []  # destroyed at the end, also when a later one fails to start

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node

    outcomes: list[tuple[int, str]] = []
    try:
        learner = add(LearnerNode(context=context, **placement,
                                  parameter_overrides=overrides("ant_learner", {
            **{f"learning.{k}": v for k, v in (learning or {}).items()},
            "network.seed": seed, "checkpoint_path": "", "resume": False,
            "watchdog_timeout_s": 0.0, "stop_at_episode_end": False,
            # one step per lockstep frame: the scan and odometry packets and the reward
            # a frame left incomplete by a lost message is closed by the next 1 s nudge below
            "frame_packets": 2, "frame_reward": True, "frame_timeout_s": 2.0})))
        encoder = add(EncoderNode(context=context, **placement,
                                  parameter_overrides=overrides("ant_encoder", {})))
        # lockstep: score each step's odometry with the same step's scan
        reward = add(NavRewardNode(context=context, **placement, parameter_overrides=overrides(
            "ant_nav_reward", {"sync_stamps": True})))
        robot = add(IrSimRobotNode(context=context, **placement, parameter_overrides=[
            Parameter("seed", value=seed), Parameter("use_sim_time", value=True)]))
        _wait_until_connected(executor, nodes)
        robot.start()
        start = time.perf_counter()
        counted = dict(reward.outcomes)
        last_steps, last_change = 0, time.monotonic()
        driven, nudged_to = time.monotonic(), -1  # last step the graph made; the last nudge
        nudges = 0
        next_report = 1000
        eval_from: int | None = None  # episodes that had ended when the evaluation began
        schedule = continual_schedule(steps) if continual else []
        changes: list[tuple[int, str]] = []
        detections: list[int] = []  # robot steps at which the learner reported a change
        reported = 0
        watched = time.monotonic()
        while robot.steps < steps or (eval_from is not None
                                      and len(outcomes) - eval_from < eval_episodes):
            executor.spin_once(timeout_sec=0.1)
            if watch is not None and time.monotonic() - watched > 1.0:
                watch()
                watched = time.monotonic()
            if schedule and robot.steps >= schedule[0][0]:
                _, name, settings = schedule.pop(0)
                robot.set_parameters([Parameter(k, value=v) for k, v in settings.items()])
                changes.append((robot.steps, name))
            if learner.learner.change_state[CHANGES] > reported:
                reported = int(learner.learner.change_state[CHANGES])
                if eval_from is None:
                    detections.append(robot.steps)
            for kind, n in reward.outcomes.items():
                outcomes += [(robot.steps, kind)] * (n - counted[kind])
            counted = dict(reward.outcomes)
            if robot.steps >= steps and eval_episodes > 0:
                if eval_from is None:
                    wall = time.perf_counter() - start
                    learner.set_parameters([Parameter("learning.learning_enabled", value=False),
                                            Parameter("deterministic", value=True)])
                    eval_from = len(outcomes) + 1  # the episode under way was partly learned
            if robot.steps != last_steps:
                if robot.steps != nudged_to:
                    driven = time.monotonic()
                last_steps, last_change = robot.steps, time.monotonic()
            elif time.monotonic() - last_change > 1.0:  # a dropped step: keep the sim going
                robot.step(np.zeros(2))
                nudged_to, nudges = robot.steps, nudges + 1
            if time.monotonic() - driven > stall_timeout_s:
                raise _stalled("navigation", robot.steps, stall_timeout_s)
            _check_clock("navigation", robot.steps, learner)
            if progress is not None and robot.steps >= next_report:
                recent = outcomes[-WINDOW:]
                progress(robot.steps, float(np.mean([k == "arrived" for _, k in recent]))
                         if recent else None)
                next_report += 1000
        if eval_from is None:
            wall = time.perf_counter() - start
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    evaluation = [] if eval_from is None else [k for _, k in outcomes[eval_from:]]
    if eval_from is not None:
        outcomes = outcomes[:eval_from - 1]  # learning episodes only
    learned = [k for _, k in outcomes]
    summary = {
        "env": "irsim-navigation", "steps": steps, "seed": seed, "episodes": len(outcomes),
        **tally(learned), "success_rate_last100": success_rate(learned[-WINDOW:]),
        "solved_at_step": None, "mean_return_last100": None,
        "steps_per_s": steps / wall, "wall_s": wall,
        "total_ratio": learner.learner.cost()["total_ratio"],
        # one learning step per sensor frame: every robot step, plus one at each episode end
        "robot_steps": robot.steps, "learner_steps": learner.steps,
        "incomplete_frames": learner.incomplete_frames, "stall_nudges": nudges,
        "eval_episodes": len(evaluation),
        **{f"eval_{key}": n for key, n in tally(evaluation).items()},
        "eval_success_rate": success_rate(evaluation), "outcomes": outcomes,
        "changes": changes if continual else [],
        "phases": phase_success(outcomes, changes, steps) if continual else [],
        "learning_overrides": dict(learning or {}), "changes_detected": len(detections),
        "detections": detections}
    return _write_navigation_outputs(summary, Path(out_dir))


def namespaced(namespace: str) -> dict:
    """Node keyword arguments that put a node under ``namespace``, with the absolute /clock
    (where a simulator's clock is by convention) remapped under it too: two graphs on one ROS
    domain then share no topic."""
    if not namespace:
        return {}
    ns = "/" + namespace.strip("/")
    return {"namespace": ns, "cli_args": ["--ros-args", "-r", f"/clock:={ns}/clock"]}


BASELINE_NAMESPACE = "baseline"


def continual_systems() -> dict[str, dict]:
    """The continual demo's two learners: ``learner``, with the change detector and the policy
    memory (the bench's ``recall``, what the CartPole-v1 preset has on), and ``baseline``, every
    continual mechanism off (the bench's ``plain``: consolidation off, plain continual
    updating); both otherwise ``ant_learner``'s of config/robot.yaml."""
    from .tasks.continual import SYSTEM_SETTINGS
    return {"learner": dict(SYSTEM_SETTINGS["recall"]),
            "baseline": dict(SYSTEM_SETTINGS["plain"])}


def _baseline_graph(steps: int, seed: int, out_dir: str, eval_episodes: int,
                    stall_timeout_s: float) -> None:
    """The baseline's graph, in its own process (its own core) under ``BASELINE_NAMESPACE``;
    it stops if the demo's process is gone."""
    import multiprocessing

    parent = multiprocessing.parent_process()

    def watch() -> None:
        if parent is not None and not parent.is_alive():
            raise SystemExit("the demo's process is gone")
    run_irsim(steps, seed, out_dir, eval_episodes=eval_episodes,
              stall_timeout_s=stall_timeout_s, continual=True, namespace=BASELINE_NAMESPACE,
              learning=continual_systems()["baseline"], watch=watch)


def run_irsim_continual(steps: int = 600_000, seed: int = 0,
                        out_dir: str | Path = "runs/demo_irsim",
                        progress: Callable[[int, float | None], None] | None = None,
                        eval_episodes: int = 100, stall_timeout_s: float = STALL_TIMEOUT_S,
                        baseline: bool = True) -> dict:
    """The continual navigation demo (``run_irsim`` with ``continual``) for the learner with the
    continual mechanism on and, unless ``baseline`` is False, at the same time in a second
    process, under the namespace ``/baseline`` on the same ROS domain, the same graph with
    every mechanism off, on the same robot, seed and changes. The plot shows both; the baseline's
    own plot and summary are in ``OUT/baseline``."""
    import multiprocessing

    systems = continual_systems()
    out = Path(out_dir)
    child = None
    if baseline:
        child = multiprocessing.get_context("spawn").Process(
            target=_baseline_graph, name="ant_ros baseline graph", daemon=True,
            args=(steps, seed, str(out / BASELINE_NAMESPACE), eval_episodes, stall_timeout_s))
        child.start()
    def failed() -> RuntimeError:
        return RuntimeError(f"the baseline graph (namespace /{BASELINE_NAMESPACE}) failed with "
                            f"exit code {child.exitcode}; its error is printed above")

    def watch() -> None:  # a baseline that failed ends the demo at once, not hours later
        if child is not None and child.exitcode not in (None, 0):
            raise failed()
    try:
        summary = run_irsim(steps, seed, out, progress=progress, eval_episodes=eval_episodes,
                            stall_timeout_s=stall_timeout_s, continual=True,
                            learning=systems["learner"], watch=watch)
        if child is None:
            return summary
        child.join()
        if child.exitcode != 0:
            raise failed()
    finally:
        if child is not None and child.is_alive():
            child.terminate()
            child.join(10)
    other = json.loads((out / BASELINE_NAMESPACE / "summary.json").read_text())
    summary["baseline"] = {key: other[key] for key in (
        "learning_overrides", "episodes", "goals_reached", "collisions", "timeouts",
        "success_rate_last100", "eval_success_rate", "steps_per_s", "total_ratio", "phases",
        "changes", "changes_detected", "summary")}
    summary["baseline"]["outcomes"] = other["outcomes"]
    return _write_navigation_outputs(summary, out)


AS_BUILT = {"speed_gain": 1.0, "lidar_rotation_rad": 0.0, "dead_sector_rad": [0.0, 0.0]}
CONTINUAL_PHASES = [  # (name, ant_irsim_robot parameters)
    ("as built", AS_BUILT),
    ("half-speed wheels", {**AS_BUILT, "speed_gain": 0.5}),
    ("as built", AS_BUILT),
    ("lidar turned 90 deg", {**AS_BUILT, "lidar_rotation_rad": float(np.pi / 2)}),
    ("as built", AS_BUILT),
    ("front lidar sector dead", {**AS_BUILT, "dead_sector_rad": [float(-np.pi / 4),
                                                                 float(np.pi / 4)]}),
]


def phase_success(outcomes: list[tuple[int, str]], changes: list[tuple[int, str]],
                  steps: int) -> list[dict]:
    """Per phase of a continual run: its name, first step, episodes and the share of its last
    WINDOW episodes that reached their goal."""
    bounds = [(0, CONTINUAL_PHASES[0][0])] + [(at, name) for at, name in changes]
    phases = []
    for k, (start, name) in enumerate(bounds):
        end = bounds[k + 1][0] if k + 1 < len(bounds) else steps
        kinds = [kind for at, kind in outcomes if start <= at < end]
        phases.append({"phase": name, "from_step": start, "episodes": len(kinds),
                       "success_rate_last100": success_rate(kinds[-WINDOW:])})
    return phases


def continual_schedule(steps: int) -> list[tuple[int, str, dict]]:
    """(robot step, name, parameters) of each change after the first phase."""
    length = steps // len(CONTINUAL_PHASES)
    return [(k * length, name, settings)
            for k, (name, settings) in enumerate(CONTINUAL_PHASES) if k > 0]


def _write_navigation_outputs(summary: dict, out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    outcomes = summary["outcomes"]
    baseline = summary.get("baseline")
    # with a baseline: goals and collisions of both; else every outcome of the one learner
    kinds = ("arrived", "collided") if baseline else ("arrived", "collided", "timeout")
    runs = [(", detector + memory" if baseline else "", outcomes, "-")] + (
        [(", mechanisms off", baseline["outcomes"], "--")] if baseline else [])
    for suffix, run_outcomes, style in runs:
        if not run_outcomes:
            continue
        at = [s for s, _ in run_outcomes]
        for colour, kind in enumerate(kinds):
            hits = np.array([k == kind for _, k in run_outcomes], float)
            rate = np.convolve(hits, np.ones(WINDOW), "full")[:len(hits)] / np.minimum(
                np.arange(1, len(hits) + 1), WINDOW)
            ax.plot(at, rate, style, color=f"C{colour}",
                    label=f"{kind} (last {WINDOW} episodes){suffix}")
    for at in summary.get("detections", []):
        ax.plot([at], [0.03], "^", color="black", ms=5,
                label="change detected" if at == summary["detections"][0] else None)
    for at, name in summary.get("changes", []):
        ax.axvline(at, color="grey", linestyle=":", linewidth=1)
        ax.text(at, 1.0, f" {name}", rotation=90, va="top", fontsize=7, color="grey")
    ax.set_xlabel("simulation step")
    ax.set_ylabel("fraction of episodes")
    ax.set_ylim(0, 1)
    changing = bool(summary.get("changes"))
    ax.set_title(f"ir-sim navigation: online learning through ROS (seed {summary['seed']})"
                 + (", the robot changing" if changing else ""), fontsize=10)
    if changing:  # below the axes: the changes are labelled at the top
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8)
    else:
        ax.legend(loc="upper left")
    return _save(fig, summary, out_dir)


def _save(fig, summary: dict, out_dir: Path) -> dict:
    """Write the plot and the JSON summary; returns the summary with their paths."""
    import matplotlib.pyplot as plt

    plot = out_dir / "learning_curve.png"
    fig.tight_layout()
    fig.savefig(plot)
    plt.close(fig)
    summary_path = out_dir / "summary.json"
    summary = dict(summary, plot=str(plot), summary=str(summary_path))
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary
