"""e-prop traces settled lazily at events equal the same traces computed eagerly every step."""

import numpy as np

from ant_ros.core import kernels as K
from ant_ros.core.config import NetworkConfig
from ant_ros.core.network import AsyncNetwork


def test_lazily_settled_weight_changes_equal_eager_ones():
    n, m, n_sig, steps = 24, 5, 3, 400
    trace_steps, lr = 3.0, 0.01
    config = NetworkConfig(n_inputs=m, n_hidden=n, recurrent_fan_in=6, input_fan_in=2,
                           threshold=0.05, tick_s=0.01)
    net = AsyncNetwork(config, 1, n_sig, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    net.feedback[:] = rng.standard_normal(net.feedback.shape)
    net.set_learning(lr=lr, trace_steps=trace_steps, weight_clip=1e6, active=True)
    assert net.rebase_period < steps  # the run crosses several rebases
    w0 = net.weight.astype(np.float64).copy()
    outputs, signals = [net.out.copy()], []
    for u in range(1, steps + 1):
        ch = np.flatnonzero(rng.random(m) < 0.3).astype(np.int32)
        net.process_ticks(np.full(ch.size, u, np.int64), ch, rng.normal(0, 0.6, ch.size), u)
        signal = rng.normal(0, 1, n_sig)
        outputs.append(net.out.copy())
        signals.append(signal)
        net.add_learning_signal(signal)
    assert net.counters[K.HIDDEN_EVENTS] > steps  # events did happen, so settling was lazy
    net.settle_learning()

    # eager: every step, every synapse
    kappa = np.exp(-1.0 / trace_steps)
    pre, post = net.syn[K.PRE], net.syn[K.POST]
    eps = outputs[0].copy()
    expected = np.zeros_like(w0)
    for u in range(1, steps + 1):
        y = outputs[u]
        eps = kappa * eps + (1.0 - kappa) * y
        learning_signal = net.feedback @ signals[u - 1]
        expected += lr * (1.0 - y[post] ** 2) * learning_signal[post] * eps[pre]
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
        net.add_learning_signal(np.ones(2))
    net.settle_learning()
    assert np.array_equal(net.weight, w0)
    assert net.counters[K.LEARN_UPDATES] == 0
