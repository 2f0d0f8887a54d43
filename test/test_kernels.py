"""Mechanisms of the asynchronous network, each on its own."""

import math

import numpy as np
import pytest

from ant_ros.core import kernels as K
from ant_ros.core.config import NetworkConfig
from ant_ros.core.dense import DenseNetwork
from ant_ros.core.network import AsyncNetwork


def test_lazy_decay_equals_step_by_step_integration():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c0, a, inv_tau = rng.normal(), rng.normal(), rng.uniform(0.05, 1.0)
        steps = int(rng.integers(1, 40))  # looked up up to DECAY_TICKS, exp beyond
        nf = np.zeros((1, K.NEURON_F_COLS))
        ni = np.zeros((1, K.NEURON_I_COLS), np.int64)
        count = np.zeros(K.N_COUNTS, np.int64)
        nf[0, K.CELL], nf[0, K.DRIVE], nf[0, K.INV_TAU] = c0, a, inv_tau
        K.fill_decay_table(0, nf)
        K.settle_neuron(0, steps, nf, ni, count)
        c = c0
        for _ in range(steps):  # exact one-tick update, applied step by step
            c = a + (c - a) * math.exp(-inv_tau)
        assert nf[0, K.CELL] == pytest.approx(c, rel=1e-12, abs=1e-12)
        assert ni[0, K.T_LAST] == steps
        assert count[K.C_DECAY_TABLE if steps <= K.DECAY_TICKS else K.C_DECAY_EXP] == 1


def test_inline_tanh_and_atanh_match_libm_in_absolute_terms():
    for c in np.concatenate([np.linspace(-30, 30, 20001), [0.0, 1e-300, -1e-12, 400.0, -400.0]]):
        assert abs(K.tanh(c) - math.tanh(c)) <= 4e-16
    for y in np.concatenate([np.linspace(-0.999999, 0.999999, 20001), [0.0, 1e-300, -1e-12]]):
        assert abs(K.atanh(y) - math.atanh(y)) <= 4e-16 * max(1.0, abs(math.atanh(y)))


def test_crossing_tick_is_the_first_tick_past_the_threshold():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(2000):
        yhat = rng.uniform(-0.9, 0.9)
        theta = rng.uniform(0.01, 0.3)
        c = math.atanh(np.clip(yhat + rng.uniform(-0.99, 0.99) * theta, -0.999, 0.999))
        a = rng.normal(0.0, 2.0)
        inv_tau = rng.uniform(0.02, 1.0)
        low, high = K.cell_bounds(yhat, theta, False)
        k = K.crossing_tick(c, a, low, high, inv_tau, 0, 1, np.zeros(K.N_COUNTS, np.int64))
        # brute force: first tick at which |tanh(c(t)) - yhat| >= theta
        brute = K.NEVER
        for t in range(1, 3000):
            ct = a + (c - a) * math.exp(-t * inv_tau)
            if abs(math.tanh(ct) - yhat) >= theta:
                brute = t
                break
        if brute == K.NEVER:
            assert k == K.NEVER or k >= 3000 or abs(math.tanh(a) - yhat) >= theta - 1e-9
        else:
            checked += 1
            assert k == brute or (k == brute - 1 and abs(
                abs(math.tanh(a + (c - a) * math.exp(-k * inv_tau)) - yhat) - theta) < 1e-6)
    assert checked > 500


def _single_neuron(threshold: float) -> AsyncNetwork:
    config = NetworkConfig(n_inputs=1, n_hidden=1, recurrent_fan_in=0, input_fan_in=1,
                           bias_scale=0.0, threshold=threshold, tick_s=0.01,
                           homeostasis_rate=0.0, tau_min_s=0.2, tau_max_s=0.2)
    return AsyncNetwork(config, 1, 1, np.random.default_rng(0))


def test_event_rule_sends_output_changes_of_at_least_the_threshold():
    net = _single_neuron(0.1)
    net.weight[0] = 1.0
    net.refresh()
    net.process_ticks(np.array([1]), np.array([0], np.int32), np.array([2.0]), 1)
    sent = [float(net.hidden_output[0])]
    for k in range(2, 200):
        net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), k)
        y = math.tanh(net.cell[0]) if net.ni[0, K.T_LAST] == k else None
        sent.append(float(net.hidden_output[0]))
        if y is not None:
            assert abs(y - net.hidden_output[0]) < 0.1
    changes = np.diff(sent)
    changes = changes[changes != 0]
    assert len(changes) >= 6
    assert np.all(np.abs(changes) >= 0.1 - 1e-12)
    assert abs(net.hidden_output[0] - math.tanh(2.0)) < 0.1


def test_event_arrays_may_be_strided_views():
    events = np.array([[1, 0, 2.0], [99, 99, 99.0], [3, 0, -1.0], [99, 99, 99.0]])
    results = []
    for view in (events[::2], np.ascontiguousarray(events[::2])):
        net = _single_neuron(0.05)
        net.process_ticks(view[:, 0].astype(np.int64), view[:, 1].astype(np.int32), view[:, 2],
                          50)
        results.append((net.cell.copy(), net.hidden_output.copy(), net.count.copy()))
    assert not events[::2][:, 2].flags.c_contiguous
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_idle_network_does_no_work():
    net = _single_neuron(0.1)
    net.process_ticks(np.array([1]), np.array([0], np.int32), np.array([1.0]), 1)
    net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), 1000)
    busy = net.count.copy()
    net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), 10**6)
    assert np.array_equal(net.count, busy)


# the random wiring of 8 raw inputs; 2 inputs of 4 fields each, read in field_linear wiring by
# the hidden layer only
WIRINGS = {"random": {},
           "field_linear": dict(n_inputs=2, input_fields=4, input_wiring="field_linear",
                                input_fan_in=4, readout_inputs=False)}


@pytest.mark.parametrize("n_hidden,wiring", [(16, "random"), (64, "random"),
                                             (32, "field_linear")])
def test_async_converges_to_dense_as_threshold_goes_to_zero(n_hidden, wiring):
    rng = np.random.default_rng(3)
    m, ticks = 8, 300
    stream = [(np.flatnonzero(rng.random(m) < 0.2).astype(np.int32)) for _ in range(ticks)]
    deltas = [rng.normal(0, 0.5, ch.size) for ch in stream]
    deviations = []
    for threshold in (1e-1, 1e-3, 1e-5):
        config = NetworkConfig(**{**dict(n_inputs=m, n_hidden=n_hidden, recurrent_fan_in=8,
                                         input_fan_in=2, homeostasis_rate=0.0,
                                         threshold=threshold, tick_s=0.01), **WIRINGS[wiring]})
        net = AsyncNetwork(config, 2, 2, np.random.default_rng(5))
        net.readout[:] = np.random.default_rng(6).standard_normal(net.readout.shape) / 4
        net.refresh()
        dense = DenseNetwork(net, np.float64)
        x = np.zeros(m)
        worst = 0.0
        for k in range(ticks):
            x[stream[k]] += deltas[k]
            net.process_ticks(np.full(stream[k].size, k + 1, np.int64), stream[k], deltas[k],
                              k + 1)
            dense.step(x)
            worst = max(worst, float(np.abs(net.readout_value - dense.readout_value).max()),
                        float(np.abs(net.hidden_output - dense.y).max()))
        deviations.append(worst)
    assert deviations[0] > deviations[1] > deviations[2]
    assert deviations[2] < 1e-4


def test_events_in_one_call_equal_events_in_many_calls():
    """No global clock: processing a stream in one call or tick by tick gives the same state."""
    rng = np.random.default_rng(4)
    config = NetworkConfig(n_inputs=6, n_hidden=40, recurrent_fan_in=6, threshold=0.05,
                           homeostasis_rate=0.0)
    ticks = np.sort(rng.integers(1, 200, 80))
    channels = rng.integers(0, 6, 80).astype(np.int32)
    values = rng.normal(0, 1, 80)
    whole = AsyncNetwork(config, 1, 1, np.random.default_rng(9))
    whole.process_ticks(ticks, channels, values, 250)
    pieces = AsyncNetwork(config, 1, 1, np.random.default_rng(9))
    for k in range(1, 251):
        sel = ticks == k
        pieces.process_ticks(ticks[sel], channels[sel], values[sel], k)
    assert np.allclose(whole.hidden_output, pieces.hidden_output, atol=1e-12)
    assert np.array_equal(whole.count[K.C_HIDDEN_EVENT], pieces.count[K.C_HIDDEN_EVENT])


def test_homeostasis_raises_thresholds_of_fast_neurons_and_lowers_activity():
    rng = np.random.default_rng(0)
    ticks = np.arange(1, 2001)
    channels = rng.integers(0, 4, ticks.size).astype(np.int32)
    values = rng.choice([-0.5, 0.5], ticks.size)
    events = []
    for rate in (0.0, 0.05):
        config = NetworkConfig(n_inputs=4, n_hidden=50, recurrent_fan_in=8, threshold=0.02,
                               homeostasis_rate=rate, target_rate_hz=2.0, tick_s=0.02,
                               threshold_max=0.5)
        net = AsyncNetwork(config, 1, 1, np.random.default_rng(1))
        net.process_ticks(ticks, channels, values, 2000)
        events.append(int(net.count[K.C_HIDDEN_EVENT]))
        if rate > 0:
            assert net.threshold.max() > 0.02 and net.threshold.max() <= 0.5
    assert events[1] < 0.5 * events[0]


def test_compiled_entry_is_the_dispatchers_code_and_falls_back_where_numba_differs():
    from ant_ros.core.network import compiled_entry

    class OtherNumba:  # a dispatcher of a numba without ``overloads[...].entry_point``
        def compile(self, arg_types):
            self.arg_types = arg_types

    other = OtherNumba()
    assert compiled_entry(other, ("int64",)) is other
    results = []
    for direct in (True, False):
        net = AsyncNetwork(NetworkConfig(n_inputs=3, n_hidden=16, recurrent_fan_in=4,
                                         threshold=0.05), 1, 1, np.random.default_rng(0))
        if not direct:
            net._advance = K.advance  # the checked path, typed on every call
        assert (net._advance is not K.advance) == direct
        for k in range(1, 40):
            net.process_ticks(np.array([k]), np.array([k % 3], np.int32), np.array([0.3]), k)
        results.append(net.unit.copy())
    np.testing.assert_array_equal(*results)


def test_kernel_options_drop_what_this_numba_refuses():
    from numba import njit

    from ant_ros.core.jit import supported_options

    def refuses_nrt(**options):
        if "_nrt" in options:
            raise KeyError("unrecognized option _nrt")
        return njit(**options)

    assert supported_options() == {"_nrt": False}  # the numba pinned here takes it
    assert supported_options(refuses_nrt) == {}
    assert supported_options(refuses_nrt, {"_nrt": False, "fastmath": False}) == {
        "fastmath": False}


def test_every_kernel_module_is_in_the_cache_folders_hash():
    """Kernels inline functions of other modules, and numba keys a cached kernel on its own file
    only: the cache folder is named after the hash of every module that compiles kernels."""
    from pathlib import Path
    import ant_ros.core as core
    here = Path(core.__file__).parent
    compiling = {p.name for p in here.glob("*.py") if "njit" in p.read_text()}
    assert compiling <= set(core.KERNEL_SOURCES)
