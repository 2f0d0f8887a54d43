"""Lazily settled e-prop equals an eager reference written from the equations.

The rule (kernels.py, docs in the README): at phase A of learning step u, once the network has
processed u's observation, the trace of synapse p -> i takes that moment's eligibility,
``z(u) = rho z(u - 1) + (1 - y_i(u)**2) y_p(u) B[i] . h(u)``, and a supervised error moves the
weight at once, ``w += lr (1 - y_i(u)**2) y_p(u) B[i] . g(u)``; at phase B, after the next
observation, ``w += lr delta(u) z(u)``. An episode end resets every trace to 0.
"""

import copy

import numpy as np
import pytest

from ant_ros.core import kernels as K
from ant_ros.core.config import NetworkConfig
from ant_ros.core.network import AsyncNetwork

N, M, R = 24, 5, 3


def _network(threshold=0.05, seed=0):
    config = NetworkConfig(n_inputs=M, n_hidden=N, recurrent_fan_in=6, input_fan_in=2,
                           threshold=threshold, tick_s=0.01, homeostasis_rate=0.0)
    net = AsyncNetwork(config, 1, R, np.random.default_rng(seed))
    net.feedback[:] = np.random.default_rng(seed + 1).standard_normal(net.feedback.shape)
    return net


class EagerReference:
    """Every synapse, every phase, from the equations (float64 weights)."""

    def __init__(self, net: AsyncNetwork, lr: float, rho: float, max_lag: int = 0) -> None:
        self.max_lag = max_lag  # the learner's bounded-lag sweep: when, not what, it settles
        self.pre, self.post = net.syn[K.PRE].astype(int), net.syn[K.POST].astype(int)
        self.feedback, self.lr, self.rho = net.feedback.copy(), lr, rho
        self.weight = net.weight.astype(np.float64).copy()
        self.trace = np.zeros_like(self.weight)

    def phase_a(self, out: np.ndarray, h: np.ndarray, g: np.ndarray | None) -> None:
        eligibility = (1.0 - out[self.post] ** 2) * out[self.pre]
        self.trace = self.rho * self.trace + eligibility * (self.feedback @ h)[self.post]
        if g is not None:
            self.weight += self.lr * eligibility * (self.feedback @ g)[self.post]

    def phase_b(self, delta: float) -> None:
        self.weight += self.lr * delta * self.trace

    def reset(self) -> None:
        self.trace[:] = 0.0


def _run(net, reference, steps, rng, td_missing=(), resets=(), supervised=(), settle_at=(),
         frozen=(), ticks_per_step=1, new_feedback=None):
    """Steps 1..steps: events at ticks of step u (``ticks_per_step`` of them: units may change
    several times in a phase); the previous step's TD error (phase B); resets; then phase A with
    this step's outputs. ``frozen`` steps learn nothing (learning off). ``new_feedback``: step
    -> feedback weights B that replace the old ones at the step's start, before its events (the
    learner refreshes after them, in the same phase: between phases A and B of the step
    before)."""
    pending = None
    t = ticks_per_step
    for u in range(1, steps + 1):
        if new_feedback and u in new_feedback:
            net.set_feedback(new_feedback[u])
            reference.feedback = new_feedback[u].copy()
        ch = np.flatnonzero(rng.random(M) < 0.4).astype(np.int32)
        ticks = np.sort(rng.integers((u - 1) * t + 1, u * t + 1, ch.size)).astype(np.int64)
        net.process_ticks(ticks, ch, rng.normal(0, 0.6, ch.size), u * t)
        if u in frozen:
            if net.learning_active:
                net.set_learning(lr=reference.lr, weight_clip=1e6, active=False,
                                 td_trace_decay=reference.rho, max_lag_steps=reference.max_lag)
            pending = None
            continue
        if not net.learning_active:
            net.set_learning(lr=reference.lr, weight_clip=1e6, active=True,
                             td_trace_decay=reference.rho, max_lag_steps=reference.max_lag)
            reference.reset()  # learning switched on: fresh traces
        if u in settle_at:
            net.settle_learning()  # between phases A and B: a checkpoint mid-step
        if pending is not None:
            net.apply_td_error(pending)
            reference.phase_b(pending)
        if u - 1 in resets:
            net.reset_traces()
            reference.reset()
        if u + 1 in settle_at:
            net.settle_learning()  # after phase B
        h = rng.normal(0, 1, R)
        g = rng.normal(0, 1, R) if u in supervised else None
        net.begin_learning_step(h, g)
        reference.phase_a(net.out.copy(), h, g)
        pending = None if u in td_missing else float(rng.normal(0, 1))


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.95])
@pytest.mark.parametrize("ticks_per_step,max_lag", [(1, 0), (4, 0), (1, 3)])
def test_lazily_settled_weight_changes_equal_the_eager_rule(rho, ticks_per_step, max_lag):
    net = _network()
    lr = 0.01
    net.set_learning(lr=lr, weight_clip=1e6, active=True, td_trace_decay=rho,
                     max_lag_steps=max_lag)
    reference = EagerReference(net, lr, rho, max_lag)
    steps = 400
    _run(net, reference, steps, np.random.default_rng(2), td_missing={30, 31, 200},
         resets={90, 91, 250}, supervised=set(range(120, 140)), settle_at={60, 301},
         frozen=set(range(170, 180)), ticks_per_step=ticks_per_step)
    assert net.count[K.C_HIDDEN_EVENT] > steps  # events did happen, so settling was lazy
    if ticks_per_step > 1:
        assert net.count[K.C_SETTLE_SKIP] > 500  # units changed again within a phase
    if max_lag:
        assert net.count[K.C_STALE_VISIT] > 0
    if rho > 0.0:
        assert net.count[K.C_SWEEP_UNIT] > 0  # the run crossed rebases
    net.settle_learning()
    change = net.weight.astype(np.float64) - _network().weight
    expected = reference.weight - _network().weight
    assert np.abs(expected).max() > 0.05
    np.testing.assert_allclose(change, expected, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("rho", [0.0, 0.95])
@pytest.mark.parametrize("ticks_per_step", [1, 4])
def test_replaced_feedback_acts_from_the_replacement_on(rho, ticks_per_step):
    """Feedback weights replaced between steps (readout feedback's refresh): what the old B
    filtered is applied with the old B, later signals go through the new one, exactly as the
    eager rule with B swapped at that moment; a replacement while learning is off moves no
    weight."""
    net = _network()
    lr = 0.01
    net.set_learning(lr=lr, weight_clip=1e6, active=True, td_trace_decay=rho)
    reference = EagerReference(net, lr, rho)
    rng = np.random.default_rng(7)
    new_feedback = {u: rng.standard_normal((N, R)) for u in (40, 41, 97, 175, 260)}
    new_feedback[120] = np.zeros((N, R))  # no signal at all for a while
    _run(net, reference, 320, np.random.default_rng(3), td_missing={60}, resets={150},
         settle_at={200}, frozen=set(range(170, 180)), ticks_per_step=ticks_per_step,
         new_feedback=new_feedback)
    np.testing.assert_array_equal(net.feedback, new_feedback[260])
    net.settle_learning()
    change = net.weight.astype(np.float64) - _network().weight
    expected = reference.weight - _network().weight
    assert np.abs(expected).max() > 0.05
    np.testing.assert_allclose(change, expected, atol=2e-5, rtol=1e-4)
    # the same run with B never replaced learns something else: the replacements mattered
    net_fixed = _network()
    net_fixed.set_learning(lr=lr, weight_clip=1e6, active=True, td_trace_decay=rho)
    _run(net_fixed, EagerReference(net_fixed, lr, rho), 320, np.random.default_rng(3),
         td_missing={60}, resets={150}, settle_at={200}, frozen=set(range(170, 180)),
         ticks_per_step=ticks_per_step)
    net_fixed.settle_learning()
    assert np.abs(net_fixed.weight - net.weight).max() > 0.01


def test_replaced_feedback_leaves_every_neuron_scheduled_as_a_full_refresh_would():
    """The replacement's settlement moves drives: every neuron's next threshold crossing is
    solved again, the same tick an exact recomputation of the whole network finds."""
    net = _network()
    net.set_learning(lr=0.05, weight_clip=1e6, active=True, td_trace_decay=0.9)
    _run(net, EagerReference(net, 0.05, 0.9), 60, np.random.default_rng(11))
    replacement = np.random.default_rng(12).standard_normal((N, R))
    recomputed = copy.deepcopy(net)
    net.set_feedback(replacement)
    recomputed.set_feedback(replacement)
    recomputed.refresh()
    scheduled = net.ni[:, K.NEXT_TICK]
    assert np.any(scheduled != K.NEVER)
    np.testing.assert_array_equal(scheduled, recomputed.ni[:, K.NEXT_TICK])


def test_each_td_error_meets_the_eligibility_of_its_own_step():
    """rho = 0: delta(u) moves w by lr delta(u) e(u) L(u) with e(u) from u's outputs, even when
    the next observation changed both ends of the synapse before delta(u) was known."""
    net = _network(threshold=1e-6)  # every unit changes at every step
    net.set_learning(lr=0.1, weight_clip=1e6, active=True)
    rng = np.random.default_rng(5)
    w0 = net.weight.astype(np.float64).copy()
    ch = np.arange(M, dtype=np.int32)
    net.process_ticks(np.full(M, 1, np.int64), ch, rng.normal(0, 0.5, M), 1)
    out_u = net.out.copy()
    h = np.array([1.0, -0.5, 0.25])
    net.begin_learning_step(h)
    net.process_ticks(np.full(M, 2, np.int64), ch, rng.normal(0, 0.5, M), 2)  # the next step
    assert not np.allclose(net.out, out_u)
    net.apply_td_error(2.0)
    net.settle_learning()
    pre, post = net.syn[K.PRE], net.syn[K.POST]
    expected = 0.1 * 2.0 * (1 - out_u[post] ** 2) * out_u[pre] * (net.feedback @ h)[post]
    np.testing.assert_allclose(net.weight - w0, expected, atol=1e-6)


def test_switching_learning_off_applies_the_pending_changes_and_freezes_the_weights():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    frozen_late, frozen_now = _network(), _network()
    for net in (frozen_late, frozen_now):
        net.set_learning(lr=0.02, weight_clip=1e6, active=True, td_trace_decay=0.8)
    reference = EagerReference(frozen_late, 0.02, 0.8)
    _run(frozen_late, reference, 120, rng_a)
    _run(frozen_now, EagerReference(frozen_now, 0.02, 0.8), 120, rng_b)
    frozen_late.apply_td_error(0.7)  # the last step's TD error, then learning off
    reference.phase_b(0.7)
    frozen_now.apply_td_error(0.7)
    frozen_now.settle_learning()
    for net in (frozen_late, frozen_now):
        net.set_learning(lr=0.02, weight_clip=1e6, active=False, td_trace_decay=0.8)
    at_freeze = frozen_late.weight.copy()
    np.testing.assert_array_equal(at_freeze, frozen_now.weight)
    np.testing.assert_allclose(at_freeze, reference.weight, atol=2e-5, rtol=1e-4)
    rng = np.random.default_rng(9)
    for u in range(121, 321):  # 200 frozen ticks: outputs move, signals are ignored
        ch = np.flatnonzero(rng.random(M) < 0.5).astype(np.int32)
        frozen_late.process_ticks(np.full(ch.size, u, np.int64), ch, rng.normal(0, 1, ch.size),
                                  u)
        frozen_late.begin_learning_step(rng.normal(0, 1, R))
        frozen_late.apply_td_error(1.0)
    frozen_late.settle_learning()  # as a checkpoint taken while frozen does
    np.testing.assert_array_equal(frozen_late.weight, at_freeze)


def test_drives_stay_exact_for_the_float32_weights():
    net = _network()
    net.set_learning(lr=0.05, weight_clip=1e6, active=True, td_trace_decay=0.9)
    _run(net, EagerReference(net, 0.05, 0.9), 300, np.random.default_rng(4))
    assert net.count[K.C_WEIGHT_MOVE] > 1000
    kept = net.nf[:, K.DRIVE].copy()
    exact = net.nf[:, K.BIAS].copy()
    np.add.at(exact, net.syn[K.POST], net.weight.astype(np.float64) * net.out[net.syn[K.PRE]])
    np.testing.assert_allclose(kept, exact, atol=1e-12)


def test_inactive_learning_changes_no_weight():
    net = _network()
    w0 = net.weight.copy()
    for u in range(1, 50):
        net.process_ticks(np.array([u]), np.array([u % M], np.int32), np.array([0.5]), u)
        net.begin_learning_step(np.ones(R))
        net.apply_td_error(1.0)
    net.settle_learning()
    assert np.array_equal(net.weight, w0)
    assert net.count[K.C_SETTLE] == 0


@pytest.mark.parametrize("max_lag", [0, 10])
def test_a_unit_that_stops_changing_applies_what_it_learned_within_the_lag_bound(max_lag):
    """Input channel 0 changes once, then never: its synapses keep learning (its value is not
    0). With the bound, a round-robin sweep settles it within about twice ``max_lag`` steps; the
    drives hold exactly the float32 weights throughout."""
    net = _network()
    net.set_learning(lr=0.05, weight_clip=1e6, active=True, max_lag_steps=max_lag)
    rng = np.random.default_rng(7)
    net.process_ticks(np.array([1], np.int64), np.array([0], np.int32), np.array([0.8]), 1)
    channel = N  # input channel 0 as a presynaptic unit
    out = slice(net.ptr[K.OUT_PTR, channel], net.ptr[K.OUT_PTR, channel + 1])
    w_start = net.weight[out].copy()
    ages = []
    for u in range(2, 202):
        ch = (1 + np.flatnonzero(rng.random(M - 1) < 0.5)).astype(np.int32)
        net.process_ticks(np.full(ch.size, u, np.int64), ch, rng.normal(0, 0.5, ch.size), u)
        if u > 2:
            net.apply_td_error(float(rng.normal()))
        net.begin_learning_step(rng.normal(0, 1, R))
        ages.append(int(net.misc[K.STEP] - (net.uint[K.SNAP_CLOCK, channel] >> 1)))
    drive = net.nf[:, K.DRIVE].copy()
    net.refresh()  # recomputes every drive from the weights
    np.testing.assert_allclose(drive, net.nf[:, K.DRIVE], atol=1e-9)
    if max_lag:
        assert max(ages) <= 2 * max_lag and np.abs(net.weight[out] - w_start).max() > 0
    else:
        assert ages[-1] >= 199 and np.array_equal(net.weight[out], w_start)  # never settled
