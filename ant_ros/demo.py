"""``ant-ros demo``: the whole ROS graph in one process, learning from scratch, online.

Gymnasium bridge (lockstep) -> joint_states -> ant_encoder -> spikes -> ant_learner -> command
-> bridge, with reward, episode_end and /clock from the bridge; one executor, real topics. At the
end: a results table, a learning-curve plot (PNG) and a JSON summary in the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.experimental import EventsExecutor
from rclpy.parameter import Parameter

from .core.config import AgentConfig
from .direct_runner import WINDOW, agent_config_for, solved_threshold
from .gym.bridge_node import GymBridgeNode, observation_names
from .nodes.encoder_node import EncoderNode
from .nodes.learner_node import LearnerNode


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
    """The bridge, encoder and learner nodes for ``env_id``, configured like the direct runner."""
    probe = gym.make(env_id)
    config = agent_config_for(probe, env_id, seed, config)
    names = observation_names(env_id, probe.observation_space.shape[0])
    probe.close()
    learner = LearnerNode(context=context, parameter_overrides=[
        Parameter(k, value=v) for k, v in learner_parameters(config).items()])
    encoder = EncoderNode(context=context, parameter_overrides=[
        Parameter("encoders", value=["obs"]), Parameter("obs.type", value="joint_state"),
        Parameter("obs.joints", value=names), Parameter("obs.include_velocity", value=False),
        Parameter("obs.threshold", value=0.0), Parameter("use_sim_time", value=True)])
    bridge = GymBridgeNode(context=context, parameter_overrides=[
        Parameter("env_id", value=env_id), Parameter("seed", value=seed),
        Parameter("autostart", value=False)])
    return bridge, encoder, learner


def run(env_id: str = "CartPole-v1", steps: int = 100_000, seed: int = 0,
        out_dir: str | Path = "runs/demo",
        progress: Callable[[int, float | None], None] | None = None) -> dict:
    """Learn online through the ROS graph for ``steps`` env steps; returns the summary."""
    context = Context()
    rclpy.init(context=context)
    executor = EventsExecutor(context=context)
    nodes = build_graph(env_id, seed, context)
    bridge, encoder, learner = nodes
    for node in (learner, encoder, bridge):
        executor.add_node(node)
    try:
        deadline = time.monotonic() + 30.0
        while not (bridge.obs_pub.get_subscription_count() and
                   encoder.publisher.get_subscription_count() and
                   learner.command_pub.get_subscription_count()):
            if time.monotonic() > deadline:
                raise RuntimeError("the demo graph did not connect")
            executor.spin_once(timeout_sec=0.01)
        bridge.start()
        start = time.perf_counter()
        next_report = 1000
        while bridge.steps < steps:
            executor.spin_once(timeout_sec=1.0)
            if progress is not None and bridge.steps >= next_report:
                returns = bridge.episode_returns[-WINDOW:]
                progress(bridge.steps, float(np.mean(returns)) if returns else None)
                next_report += 1000
        wall = time.perf_counter() - start
        summary = _summary(env_id, steps, seed, bridge, learner, wall)
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    return _write_outputs(summary, bridge.episode_returns, Path(out_dir))


def _summary(env_id, steps, seed, bridge, learner, wall) -> dict:
    returns = bridge.episode_returns
    threshold = solved_threshold(bridge.env, env_id)
    ends = bridge.episode_end_steps
    solved_at = None
    if threshold is not None:
        for i in range(WINDOW - 1, len(returns)):
            if np.mean(returns[i - WINDOW + 1:i + 1]) >= threshold:
                solved_at = ends[i]
                break
    ops = learner.learner.ops
    return {"env": env_id, "steps": steps, "seed": seed, "solved_at_step": solved_at,
            "mean_return_last100": float(np.mean(returns[-WINDOW:])) if returns else None,
            "episodes": len(returns), "steps_per_s": steps / wall, "wall_s": wall,
            "op_ratio": ops.op_ratio, "synops": ops.synops,
            "dense_equivalent_ops": ops.dense_synops, "threshold": threshold,
            "episode_returns": returns, "episode_end_steps": ends}


def _write_outputs(summary: dict, returns: list[float], out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    plot = out_dir / "learning_curve.png"
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
    fig.tight_layout()
    fig.savefig(plot)
    plt.close(fig)
    summary_path = out_dir / "summary.json"
    summary = dict(summary, plot=str(plot), summary=str(summary_path))
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary
