"""e-prop traces settled lazily at events equal the same traces computed eagerly every step."""

import numpy as np
import pytest

from ant_ros.core import kernels as K
from ant_ros.core.config import NetworkConfig
from ant_ros.core.network import AsyncNetwork


@pytest.mark.parametrize("td_trace_decay", [0.0, 0.6, 0.95])  # rho below and above kappa
def test_lazily_settled_weight_changes_equal_eager_ones(td_trace_decay):
    n, m, n_sig, steps = 24, 5, 3, 400
    trace_steps, lr = 3.0, 0.01
    episode_ends = {90, 91, 250}
    config = NetworkConfig(n_inputs=m, n_hidden=n, recurrent_fan_in=6, input_fan_in=2,
                           threshold=0.05, tick_s=0.01)
    net = AsyncNetwork(config, 1, n_sig, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    net.feedback[:] = rng.standard_normal(net.feedback.shape)
    net.set_learning(lr=lr, trace_steps=trace_steps, weight_clip=1e6, active=True,
                     td_trace_decay=td_trace_decay)
    assert net.rebase_period < steps  # the run crosses several rebases
    w0 = net.weight.astype(np.float64).copy()
    outputs, deltas, gradients = [net.out.copy()], [], []
    for u in range(1, steps + 1):
        ch = np.flatnonzero(rng.random(m) < 0.3).astype(np.int32)
        net.process_ticks(np.full(ch.size, u, np.int64), ch, rng.normal(0, 0.6, ch.size), u)
        delta, gradient = rng.normal(0, 1), rng.normal(0, 1, n_sig)
        outputs.append(net.out.copy())
        deltas.append(delta)
        gradients.append(gradient)
        net.add_learning_signal(delta, gradient)
        if u in episode_ends:
            net.reset_traces()
    assert net.counters[K.HIDDEN_EVENTS] > steps  # events did happen, so settling was lazy
    net.settle_learning()

    # eager: every step, every synapse
    kappa = np.exp(-1.0 / trace_steps)
    pre, post = net.syn[K.PRE], net.syn[K.POST]
    eps = outputs[0].copy()
    trace = np.zeros_like(w0)
    expected = np.zeros_like(w0)
    for u in range(1, steps + 1):
        y = outputs[u]
        eps = kappa * eps + (1.0 - kappa) * y
        eligibility = (1.0 - y[post] ** 2) * eps[pre]
        if td_trace_decay == 0.0:  # each signal meets the current eligibility
            learning_signal = net.feedback @ (deltas[u - 1] * gradients[u - 1])
            expected += lr * learning_signal[post] * eligibility
        else:  # TD(lambda): the filtered eligibility meets the TD error
            trace = td_trace_decay * trace + eligibility * (net.feedback @ gradients[u - 1])[post]
            expected += lr * deltas[u - 1] * trace
            if u in episode_ends:
                trace[:] = 0.0
    change = net.weight.astype(np.float64) - w0
    assert np.abs(expected).max() > 0.05
    np.testing.assert_allclose(change, expected, atol=2e-5, rtol=1e-4)


def test_inactive_learning_changes_no_weight():
    config = NetworkConfig(n_inputs=3, n_hidden=10, recurrent_fan_in=3, threshold=0.05)
    net = AsyncNetwork(config, 1, 2, np.random.default_rng(0))
    net.feedback[:] = 1.0
    w0 = net.weight.copy()
    for u in range(1, 50):
        net.process_ticks(np.array([u]), np.array([u % 3], np.int32), np.array([0.5]), u)
        net.add_learning_signal(1.0, np.ones(2))
    net.settle_learning()
    assert np.array_equal(net.weight, w0)
    assert net.counters[K.LEARN_UPDATES] == 0
