"""Event-driven readout learning equals the eager rule written from the equations.

Per TD step u (phase B): ``z_r <- rho z_r + g_r phi(u)``, ``V_r += a_g z_r`` with
``a_g = delta alpha_g / max(1, alpha_g kappa_g |z_g|_2 |phi(u)|_2)``; at phase A a direct change
``V_r += b_r phi(u)``; an episode end resets the traces. ``phi(u)`` is the features' value at
phase A of step u, even for features that changed before the TD error came.
"""

import dataclasses

import numpy as np
import pytest

from ant_ros.core import kernels as K
from ant_ros.core.config import NetworkConfig
from ant_ros.core.network import AsyncNetwork

N, M, ROWS = 24, 6, 3


def _network(seed=0):
    config = NetworkConfig(n_inputs=M, n_hidden=N, recurrent_fan_in=6, input_fan_in=2,
                           threshold=0.05, tick_s=0.01, homeostasis_rate=0.0)
    net = AsyncNetwork(config, ROWS, ROWS, np.random.default_rng(seed))
    net.readout[:] = np.random.default_rng(seed + 1).normal(0, 0.3, net.readout.shape)
    net.set_learning(lr=0.0, weight_clip=1e6, active=True)
    net.refresh()
    return net


def _eager_step(v, z, phi, g, delta, lr, bound, rho):
    z[:] = rho * z + g[:, None] * phi[None, :]
    phi2 = phi @ phi
    steps = []
    for rows, alpha, kappa in (([0], lr[0], bound[0]), (list(range(1, ROWS)), lr[1], bound[1])):
        norm = np.sqrt((z[rows] ** 2).sum() * phi2)
        steps.append(alpha / max(1.0, alpha * kappa * norm) * delta)
    v[0] += steps[0] * z[0]
    v[1:] += steps[1] * z[1:]
    return steps[1]


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_event_driven_readouts_equal_the_eager_rule(rho):
    net = _network()
    net.set_event_readouts(np.zeros_like(net.readout), rho, clip=1e6)
    v = net.readout.copy()
    z = np.zeros_like(v)
    rng = np.random.default_rng(3)
    lr, bound = (0.05, 0.02), (2.0, 3.0)
    pending, resets, directs = None, {40, 41, 150}, set(range(60, 80))
    for u in range(1, 301):
        # three ticks a step: a feature can change more than once before its TD step
        ch = np.flatnonzero(rng.random(M) < 0.3).astype(np.int32)
        net.process_ticks(np.full(ch.size, 3 * u, np.int64), ch, rng.normal(0, 0.6, ch.size),
                          3 * u + 2)
        if pending is not None:
            g, delta, phi = pending
            size = max(abs(delta), 1.0)
            step = net.readout_td_step(g[1:], delta, *lr, bound[0] * size, bound[1] * size,
                                       0.0, 0)
            assert step == pytest.approx(_eager_step(v, z, phi, g, delta, lr,
                                                     (bound[0] * size, bound[1] * size), rho))
        if u - 1 in resets:
            net.reset_traces()
            z[:] = 0.0
        phi = net.features()
        direct = np.r_[0.0, rng.normal(0, 0.01, ROWS - 1)] if u in directs else np.zeros(ROWS)
        net.begin_readout_step(direct)
        v += direct[:, None] * phi[None, :]
        # the kept values are those of the eager weights at every step
        np.testing.assert_allclose(net.readout_value, v @ phi, atol=1e-9)
        pending = (np.r_[1.0, rng.normal(0, 1, ROWS - 1)], float(rng.normal(0, 1)), phi)
    assert net.count[K.C_HIDDEN_EVENT] > 600  # features did change between steps
    assert net.count[K.C_RO_MOVE] > net.count[K.C_RO_PENDING] / ROWS  # some more than once
    assert net.count[K.C_RO_PENDING] > 0
    net.settle_learning()
    assert np.abs(v - _network().readout).max() > 0.05
    np.testing.assert_allclose(net.readout, v, atol=1e-9)


def test_a_live_switch_to_eager_readouts_hands_over_the_traces():
    net = _network()
    net.set_event_readouts(np.zeros_like(net.readout), 0.8, clip=1e6)
    rng = np.random.default_rng(4)
    for u in range(1, 60):
        ch = np.flatnonzero(rng.random(M) < 0.3).astype(np.int32)
        net.process_ticks(np.full(ch.size, u, np.int64), ch, rng.normal(0, 0.6, ch.size), u)
        if u > 1:
            net.readout_td_step(rng.normal(0, 1, ROWS - 1), 0.5, 0.05, 0.02, 2.0, 3.0, 0.0, 0)
        net.begin_readout_step(np.zeros(ROWS))
    traces = net.readout_traces()
    assert np.abs(traces).max() > 0.1
    net.set_event_readouts(None, 0.8, 1e6)
    assert not net.event_readouts
    np.testing.assert_array_equal(net.readout_traces(), traces)


def test_a_live_change_of_the_trace_decay_keeps_the_norms_exact():
    from ant_ros.core import event_readout as er
    from ant_ros.core.learner import OnlineLearner
    from helpers import drive, small_config

    learner = OnlineLearner(small_config())
    drive(learner, 90)  # mid-episode: traces and a pending step
    assert np.abs(learner.net.readout_traces()).max() > 0.1
    learner.apply_config(dataclasses.replace(learner.config, learning=dataclasses.replace(
        learner.config.learning, gamma=0.9)))
    # the next step's TD error meets traces carried over the change
    learner.step_observation(np.full(4, 0.2), 90 * 0.02, reward=1.0)
    kept = learner.net.ro_s[er.RSUM_N2].copy()
    traces = learner.net.readout_traces()
    np.testing.assert_allclose(kept, (traces ** 2).sum(axis=1), rtol=1e-9)
