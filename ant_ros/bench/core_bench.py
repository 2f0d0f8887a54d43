"""``ant-ros bench core``: the asynchronous network against its synchronous twin, forward only.

Both run the same input streams in one process, one call per tick (a tick is a decision: the
twin advances every neuron and every synapse once per call). Work is counted in flops by the
cost model of ``core/accounting.py`` for both. The full-matrix dense network (``core/dense.py``)
is the convergence oracle: as the threshold goes to 0 the asynchronous outputs approach it. A
stream is what send-on-delta encoders produce for slowly drifting signals: each tick a given
fraction of the input channels sends an event, a step of +-STEP (the encoder's delta, in
normalised units) whose sign is biased towards zero so the signals stay bounded. Timed loops
run with Python's garbage collector paused, as ``timeit`` does, for both networks alike.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..core import kernels as K
from ..core.config import AgentConfig, LearningConfig, NetworkConfig
from ..core.dense import DenseNetwork
from ..core.events import EventBatch
from ..core.learner import OnlineLearner
from ..core.network import AsyncNetwork
from ..core.twin import SyncNetwork

N_INPUTS = 64
N_READOUTS = 3
SIZES = (128, 512, 2048)
ACTIVITIES = (0.01, 0.05, 0.2)
CONVERGENCE_THRESHOLDS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
STEP = 0.1


def bench_network_config(n_hidden: int, threshold: float = 0.1) -> NetworkConfig:
    """The configuration benchmarked: a fixed threshold (no homeostasis), fan-in 8."""
    return NetworkConfig(n_inputs=N_INPUTS, n_hidden=n_hidden, threshold=threshold,
                         tick_s=0.01, recurrent_fan_in=8, input_fan_in=1,
                         spectral_radius=0.8, input_scale=1.0, bias_scale=0.1,
                         tau_min_s=0.02, tau_max_s=0.1, homeostasis_rate=0.0)


@dataclass(frozen=True)
class InputStream:
    """Per-tick input events (tick, channel, delta; ticks from 1) and the input vectors."""

    ticks: list[np.ndarray]
    channels: list[np.ndarray]
    deltas: list[np.ndarray]
    values: np.ndarray

    @classmethod
    def random(cls, n_ticks: int, n_inputs: int, activity: float, seed: int) -> "InputStream":
        rng = np.random.default_rng(seed)
        x = np.zeros(n_inputs)
        ticks, channels, deltas, values = [], [], [], np.zeros((n_ticks, n_inputs))
        for k in range(n_ticks):
            ch = np.flatnonzero(rng.random(n_inputs) < activity).astype(np.int32)
            up = rng.random(ch.size) < 0.5 - 0.1 * np.clip(x[ch], -4.0, 4.0)
            d = np.where(up, STEP, -STEP)
            x[ch] += d
            ticks.append(np.full(ch.size, k + 1, np.int64))
            channels.append(ch)
            deltas.append(d)
            values[k] = x
        return cls(ticks, channels, deltas, values)


def _make_pair(n_hidden: int, threshold: float, seed: int, reference: str) -> tuple:
    """The asynchronous network and its ``twin`` (or the ``dense`` float64 oracle), alike."""
    config = bench_network_config(n_hidden, threshold)
    net = AsyncNetwork(config, N_READOUTS, N_READOUTS, np.random.default_rng(seed))
    readout = np.random.default_rng(seed + 1).standard_normal(net.readout.shape) / np.sqrt(
        n_hidden)
    net.readout[:] = readout
    net.refresh()
    if reference == "dense":
        return net, DenseNetwork(net, np.float64)
    twin = SyncNetwork(config, N_READOUTS, N_READOUTS, np.random.default_rng(seed))
    twin.readout[:] = readout
    twin.refresh()
    return net, twin


@contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_async(net: AsyncNetwork, stream: InputStream, ticks: range) -> float:
    with _gc_paused():
        start = time.perf_counter()
        for k in ticks:
            net.process_ticks(stream.ticks[k], stream.channels[k], stream.deltas[k], k + 1)
        return time.perf_counter() - start


def _run_twin(twin: SyncNetwork, stream: InputStream, ticks: range) -> float:
    with _gc_paused():
        start = time.perf_counter()
        for k in ticks:
            twin.process_ticks(stream.ticks[k], stream.channels[k], stream.deltas[k], k + 1)
        return time.perf_counter() - start


def speed_row(n_hidden: int, activity: float, n_ticks: int, warmup: int, seed: int = 0) -> dict:
    """Time and counted flops per tick of both networks on one stream (no learning)."""
    stream = InputStream.random(warmup + n_ticks, N_INPUTS, activity, seed + 7)
    net, twin = _make_pair(n_hidden, 0.1, seed, "twin")
    _run_async(net, stream, range(warmup))
    _run_twin(twin, stream, range(warmup))
    count, twin_count = net.count.copy(), twin.count.copy()
    flops, twin_flops = net.flops_by_part().sum(), twin.flops_by_part().sum()
    measured = range(warmup, warmup + n_ticks)
    async_s = _run_async(net, stream, measured)
    twin_s = _run_twin(twin, stream, measured)
    per_tick = (net.count - count) / n_ticks
    flops = (net.flops_by_part().sum() - flops) / n_ticks
    twin_flops = (twin.flops_by_part().sum() - twin_flops) / n_ticks
    # accuracy at the timed threshold, in an untimed pass of a fresh pair over the same stream
    net, twin = _make_pair(n_hidden, 0.1, seed, "twin")
    readout_dev = hidden_dev = 0.0
    for k in range(warmup + n_ticks):
        net.process_ticks(stream.ticks[k], stream.channels[k], stream.deltas[k], k + 1)
        twin.process_ticks(stream.ticks[k], stream.channels[k], stream.deltas[k], k + 1)
        readout_dev = max(readout_dev, float(np.abs(net.readout_value
                                                    - twin.readout_value).max()))
        hidden_dev = max(hidden_dev, float(np.abs(net.hidden_output - twin.y).max()))
    return {
        "kind": "speed", "n_hidden": n_hidden, "n_inputs": N_INPUTS,
        "input_activity": activity, "threshold": net.config.threshold, "ticks": n_ticks,
        "async_ns_per_tick": async_s / n_ticks * 1e9,
        "twin_ns_per_tick": twin_s / n_ticks * 1e9,
        "flops_per_tick": flops, "twin_flops_per_tick": twin_flops,
        "synaptic_events_per_tick": per_tick[K.C_DELIVER] + per_tick[K.C_READOUT_DELIVER],
        "hidden_activity": K.hidden_events(per_tick) / n_hidden,
        "input_events_per_tick": per_tick[K.C_INPUT_EVENT],
        "flop_ratio": twin_flops / max(flops, 1e-12),
        "time_ratio": twin_s / async_s,
        "max_abs_readout_deviation": readout_dev, "max_abs_hidden_deviation": hidden_dev,
    }


def dispatch_row(n_hidden: int, activity: float, n_ticks: int, warmup: int,
                 seed: int = 0) -> dict:
    """A tick through numba's dispatcher (typing every argument on each call) against the
    compiled entry point the network calls (``network.compiled_entry``)."""
    stream = InputStream.random(warmup + n_ticks, N_INPUTS, activity, seed + 7)
    out = {"kind": "dispatch", "n_hidden": n_hidden, "input_activity": activity}
    for name in ("entry", "dispatcher"):
        net, _ = _make_pair(n_hidden, 0.1, seed, "dense")
        if name == "dispatcher":
            net._advance = K.advance
        _run_async(net, stream, range(warmup))
        out[f"{name}_ns_per_tick"] = _run_async(net, stream, range(warmup, warmup + n_ticks)
                                                ) / n_ticks * 1e9
    return out


def convergence_rows(n_hidden: int = 128, n_ticks: int = 1000, seed: int = 0) -> list[dict]:
    """Largest deviation of asynchronous readouts and outputs from the dense ones, per threshold."""
    stream = InputStream.random(n_ticks, N_INPUTS, 0.05, seed + 11)
    rows = []
    for threshold in CONVERGENCE_THRESHOLDS:
        net, dense = _make_pair(n_hidden, threshold, seed, "dense")
        readout_dev = hidden_dev = 0.0
        for k in range(n_ticks):
            net.process_ticks(stream.ticks[k], stream.channels[k], stream.deltas[k], k + 1)
            dense.step(stream.values[k])
            readout_dev = max(readout_dev,
                              float(np.abs(net.readout_value - dense.readout_value).max()))
            hidden_dev = max(hidden_dev, float(np.abs(net.hidden_output - dense.y).max()))
        rows.append({"kind": "convergence", "n_hidden": n_hidden, "ticks": n_ticks,
                     "threshold": threshold, "max_abs_deviation": readout_dev,
                     "max_abs_hidden_deviation": hidden_dev,
                     "hidden_activity": K.hidden_events(net.count) / n_ticks / n_hidden})
    return rows


def learning_step_row(n_hidden: int = 512, n_steps: int = 3000, activity: float = 0.05,
                      seed: int = 0) -> dict:
    """Wall time of one full learning step (input events, network, TD and e-prop learning,
    action; one step per tick on the same kind of stream as the speed rows), for the
    asynchronous learner and its synchronous twin, with counted flops per step."""
    config = AgentConfig(network=bench_network_config(n_hidden),
                         learning=LearningConfig(hidden_lr=1e-4), seed=seed)
    warmup = 200
    stream = InputStream.random(warmup + n_steps, N_INPUTS, activity, seed + 13)
    dt = config.network.tick_s
    out = {"kind": "learning_step", "n_hidden": n_hidden, "input_activity": activity,
           "steps": n_steps}
    for name, twin in (("async", False), ("twin", True)):
        learner = OnlineLearner(config, twin=twin)
        times = []
        for k in range(warmup + n_steps):
            ch = stream.channels[k]
            events = EventBatch(ch, np.full(ch.size, k * dt), stream.deltas[k])
            reward = float(-abs(stream.values[k, 0])) if k else None
            start = time.perf_counter()
            learner.step_events(events, k * dt, reward=reward)
            if k >= warmup:
                times.append(time.perf_counter() - start)
        t = np.array(times) * 1e6
        cost = learner.cost()
        out.update({f"{name}_median_us": float(np.median(t)),
                    f"{name}_p90_us": float(np.percentile(t, 90)),
                    f"{name}_p99_us": float(np.percentile(t, 99)),
                    f"{name}_flops_per_step": cost["flops_per_step"]})
        if not twin:
            out["hidden_activity"] = cost["firing_share"]
    out["median_us"] = out["async_median_us"]
    out["time_ratio"] = out["twin_median_us"] / out["async_median_us"]
    out["flop_ratio"] = out["twin_flops_per_step"] / out["async_flops_per_step"]
    return out


def run(quick: bool = False) -> list[dict]:
    """All rows; ``quick`` uses short streams (for tests), not for reported figures."""
    n_ticks, warmup = (200, 50) if quick else (3000, 300)
    sizes = (128,) if quick else SIZES
    rows = [speed_row(n, a, n_ticks, warmup) for n in sizes for a in ACTIVITIES]
    rows.append(dispatch_row(128 if quick else 512, 0.05, n_ticks, warmup))
    rows += convergence_rows(n_ticks=100 if quick else 1000)
    rows.append(learning_step_row(n_hidden=128 if quick else 512, n_steps=100 if quick else 3000))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["N      input  async ns/tick  twin ns/tick  flops/tick  twin flops/tick  "
             "hidden act  flop ratio  time ratio  max |dev| readouts, hidden (threshold 0.1)"]
    for r in rows:
        if r["kind"] == "speed":
            lines.append(f"{r['n_hidden']:<6} {r['input_activity']:>5.0%}  "
                         f"{r['async_ns_per_tick']:>13,.0f}  {r['twin_ns_per_tick']:>12,.0f}  "
                         f"{r['flops_per_tick']:>10,.0f}  {r['twin_flops_per_tick']:>15,.0f}  "
                         f"{r['hidden_activity']:>10.2%}  {r['flop_ratio']:>10.1f}  "
                         f"{r['time_ratio']:>10.2f}  {r['max_abs_readout_deviation']:.3f}, "
                         f"{r['max_abs_hidden_deviation']:.3f}")
    lines.append("")
    lines.append("threshold  max |async - dense| readouts  hidden outputs  (N=128, 1000 ticks)")
    for r in rows:
        if r["kind"] == "convergence":
            lines.append(f"{r['threshold']:<9.0e}  {r['max_abs_deviation']:>26.2e}  "
                         f"{r['max_abs_hidden_deviation']:>14.2e}")
    for r in rows:
        if r["kind"] == "dispatch":
            lines.append("")
            lines.append(f"N={r['n_hidden']}, {r['input_activity']:.0%} input activity: a tick "
                         f"{r['entry_ns_per_tick']:,.0f} ns through the compiled entry point, "
                         f"{r['dispatcher_ns_per_tick']:,.0f} ns through numba's dispatcher")
    for r in rows:
        if r["kind"] == "learning_step":
            lines.append("")
            lines.append(
                f"full learning step, N={r['n_hidden']}, {r['input_activity']:.0%} input "
                f"activity, hidden activity {r['hidden_activity']:.1%}: async median "
                f"{r['async_median_us']:.1f} us (p99 {r['async_p99_us']:.1f}), twin median "
                f"{r['twin_median_us']:.1f} us (p99 {r['twin_p99_us']:.1f}); flops per step "
                f"{r['async_flops_per_step']:,.0f} vs {r['twin_flops_per_step']:,.0f} "
                f"({r['flop_ratio']:.1f}x), time ratio {r['time_ratio']:.2f}x")
    return "\n".join(lines)
