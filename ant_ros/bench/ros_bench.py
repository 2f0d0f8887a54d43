"""``ant-ros bench ros``: from a LaserScan publish to the resulting cmd_vel, through real topics.

A probe node publishes a 360-beam LaserScan (sensor-data QoS) and waits for the cmd_vel it
causes: encoder (16 sectors) -> spike packet -> learner (N = 512, learning on) -> cmd_vel.
``single``: all nodes in one process and one executor. ``two``: the encoder and learner run in a
second process (``ant-ros run``), so every message crosses DDS between processes.
``throughput``: the probe sends spike packets of 1000 events straight to the learner, each as soon
as the previous one was answered; the figure is the input events processed per second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import rclpy
import yaml
from geometry_msgs.msg import Twist
from rclpy.context import Context
from rclpy.experimental import EventsExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan, PointCloud2

from ..conversions import make_spike_packet
from ..nodes.encoder_node import EncoderNode
from ..nodes.learner_node import LearnerNode
from ..qos import SPIKES_QOS
from ..nodes.parameters import nest
from ..nodes.spin import spin_until

N_HIDDEN = 512
SECTORS = 16
BEAMS = 360
EVENTS_PER_PACKET = 1000


def node_parameters(n_hidden: int = N_HIDDEN) -> dict:
    return {
        "ant_encoder": {"encoders": ["scan"], "scan.sectors": SECTORS, "scan.threshold": 0.01},
        "ant_learner": {"network.n_inputs": SECTORS, "network.n_hidden": n_hidden,
                        "network.tick_s": 0.001, "network.threshold": 0.1,
                        "watchdog_timeout_s": 0.0, "diagnostics_period_s": 5.0},
    }


class Probe:
    """Publishes scans (or packets) and times the cmd_vel each one causes."""

    def __init__(self, context: Context) -> None:
        self.node = rclpy.create_node("ant_bench_probe", context=context)
        self.scan_pub = self.node.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        self.spike_pub = self.node.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
        self.node.create_subscription(Twist, "cmd_vel", self._on_command, 10)
        self.answered = 0
        self.rng = np.random.default_rng(0)
        self.scan = LaserScan()
        self.scan.header.frame_id = "laser"
        self.scan.angle_min, self.scan.angle_max = -np.pi, np.pi
        self.scan.angle_increment = 2 * np.pi / BEAMS
        self.scan.range_min, self.scan.range_max = 0.1, 10.0

    def _on_command(self, msg: Twist) -> None:
        self.answered += 1

    def publish_scan(self) -> None:
        self.scan.header.stamp = self.node.get_clock().now().to_msg()
        self.scan.ranges = (3.0 + self.rng.normal(0, 0.5, BEAMS)).astype(np.float32).tolist()
        self.scan_pub.publish(self.scan)

    def publish_packet(self, n_events: int) -> None:
        self.spike_pub.publish(make_spike_packet(
            self.node.get_clock().now().to_msg(), "bench",
            self.rng.integers(0, SECTORS, n_events), np.zeros(n_events),
            self.rng.normal(0, 0.05, n_events)))


def _ping_pong(executor, probe: Probe, send, count: int, timeout: float = 5.0) -> np.ndarray:
    """Send, spin until answered; returns the latencies in seconds."""
    latencies = []
    for _ in range(count):
        target = probe.answered + 1
        start = time.perf_counter()
        send()
        if not spin_until(executor, lambda: probe.answered >= target, timeout, 0.01):
            raise TimeoutError(f"no cmd_vel within {timeout} s")
        latencies.append(time.perf_counter() - start)
    return np.array(latencies)


def _row(mode: str, latencies: np.ndarray, wall_s: float, events: float | None) -> dict:
    return {"mode": mode, "n_hidden": N_HIDDEN, "samples": int(latencies.size),
            "p50_ms": float(np.percentile(latencies, 50) * 1e3),
            "p99_ms": float(np.percentile(latencies, 99) * 1e3),
            "rate_hz": latencies.size / wall_s,
            "events_per_s": None if events is None else events / wall_s}


def _in_process(count: int, warmup: int) -> list[dict]:
    context = Context()
    rclpy.init(context=context)
    params = node_parameters()
    nodes = [EncoderNode(context=context, parameter_overrides=[
                 Parameter(k, value=v) for k, v in params["ant_encoder"].items()]),
             LearnerNode(context=context, parameter_overrides=[
                 Parameter(k, value=v) for k, v in params["ant_learner"].items()])]
    probe = Probe(context)
    executor = EventsExecutor(context=context)
    for node in [*nodes, probe.node]:
        executor.add_node(node)
    learner = nodes[1]
    try:
        _ping_pong(executor, probe, probe.publish_scan, warmup)
        events0 = learner.packet_events
        start = time.perf_counter()
        latencies = _ping_pong(executor, probe, probe.publish_scan, count)
        rows = [_row("single", latencies, time.perf_counter() - start,
                     learner.packet_events - events0)]
        events0 = learner.packet_events
        start = time.perf_counter()
        latencies = _ping_pong(executor, probe, lambda: probe.publish_packet(EVENTS_PER_PACKET),
                               count)
        rows.append(_row("throughput", latencies, time.perf_counter() - start,
                         learner.packet_events - events0))
        rows[-1]["events_per_packet"] = EVENTS_PER_PACKET
        return rows
    finally:
        executor.shutdown()
        for node in [*nodes, probe.node]:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _two_processes(count: int, warmup: int) -> dict:
    params = {name: {"ros__parameters": nest(values)}
              for name, values in node_parameters().items()}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(params, handle)
        path = handle.name
    child = subprocess.Popen([sys.executable, "-m", "ant_ros.cli", "run", path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = Context()
    rclpy.init(context=context)
    probe = Probe(context)
    executor = EventsExecutor(context=context)
    executor.add_node(probe.node)
    try:
        deadline = time.monotonic() + 60.0
        while probe.answered == 0:  # discovery and start-up of the other process
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the encoder/learner process did not answer")
            probe.publish_scan()
            executor.spin_once(timeout_sec=0.1)
        _ping_pong(executor, probe, probe.publish_scan, warmup)
        start = time.perf_counter()
        latencies = _ping_pong(executor, probe, probe.publish_scan, count)
        return _row("two", latencies, time.perf_counter() - start, None)
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        executor.shutdown()
        probe.node.destroy_node()
        rclpy.try_shutdown(context=context)
        os.unlink(path)


def run(quick: bool = False) -> list[dict]:
    count, warmup = (50, 10) if quick else (2000, 200)
    rows = _in_process(count, warmup)
    rows.append(_two_processes(count, warmup))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"LaserScan -> cmd_vel, N={N_HIDDEN}, learning on",
             "mode         p50 ms   p99 ms   rate Hz   input events/s"]
    for r in rows:
        events = "" if r["events_per_s"] is None else f"{r['events_per_s']:,.0f}"
        lines.append(f"{r['mode']:<11} {r['p50_ms']:>7.3f}  {r['p99_ms']:>7.3f}  "
                     f"{r['rate_hz']:>8,.0f}   {events:>14}")
    return "\n".join(lines)
