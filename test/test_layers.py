"""Stacked hidden groups (``network.layers``): wiring, and learning like the twin."""

import numpy as np
import pytest

from ant_ros.core import accounting as A
from ant_ros.core import kernels as K
from ant_ros.core.config import AgentConfig, ConfigError, LearningConfig, NetworkConfig
from ant_ros.core.connectivity import build_connectivity
from ant_ros.core.learner import OnlineLearner
from ant_ros.core.twin import T_DRIVE_IN
from helpers import assert_twin_cost_exact, drive


def layered_network(**overrides) -> NetworkConfig:
    values = dict(n_inputs=4, n_hidden=30, layers=3, layer_fan_in=5, recurrent_fan_in=3,
                  input_fan_in=2)
    values.update(overrides)
    return NetworkConfig(**values).validate()


def test_each_group_reads_the_inputs_or_the_group_below_and_itself():
    config = layered_network()
    conn = build_connectivity(config, np.random.default_rng(0))
    bounds = config.layer_bounds()
    assert bounds == ((0, 10), (10, 20), (20, 30))
    group = np.searchsorted([end for _, end in bounds], np.arange(config.n_hidden), side="right")
    n = config.n_hidden
    for post in range(n):
        pre = conn.pre[conn.post == post]
        hidden = pre[pre < n]
        inputs = pre[pre >= n]
        recurrent = hidden[group[hidden] == group[post]]
        below = hidden[group[hidden] == group[post] - 1]
        assert recurrent.size == config.recurrent_fan_in
        assert hidden.size == recurrent.size + below.size  # nothing from other groups
        if group[post] == 0:
            assert inputs.size == config.input_fan_in and below.size == 0
        else:
            assert inputs.size == 0 and below.size == config.layer_fan_in
            assert np.unique(below).size == below.size  # distinct neurons of the group below
    # the CSR index of presynaptic units still lists every synapse leaving a unit
    for unit in range(n + config.n_channels):
        span = slice(conn.out_ptr[unit], conn.out_ptr[unit + 1])
        assert np.all(conn.pre[span] == unit)


def test_a_remainder_goes_to_the_lowest_groups_and_sizes_are_checked():
    assert layered_network(n_hidden=32).layer_bounds() == ((0, 11), (11, 22), (22, 32))
    assert layered_network(n_hidden=9, layers=5, layer_fan_in=1, recurrent_fan_in=1,
                           ).layer_bounds() == ((0, 2), (2, 4), (4, 6), (6, 8), (8, 9))
    with pytest.raises(ConfigError, match="^layer_fan_in must be"):
        layered_network(layer_fan_in=11)
    with pytest.raises(ConfigError, match="^recurrent_fan_in must be"):
        layered_network(recurrent_fan_in=11)
    with pytest.raises(ConfigError, match="^layers must be"):
        layered_network(layers=31)
    with pytest.raises(ConfigError, match="^layer_scale must be"):
        layered_network(layer_scale=float("inf"))


def test_a_remainder_is_wired_like_the_rest():
    config = layered_network(n_hidden=32)
    conn = build_connectivity(config, np.random.default_rng(0))
    fan_in = np.bincount(conn.post, minlength=32)
    assert np.all(fan_in[:11] == config.recurrent_fan_in + config.input_fan_in)
    assert np.all(fan_in[11:] == config.recurrent_fan_in + config.layer_fan_in)


def test_each_group_has_the_configured_spectral_radius():
    config = layered_network(n_hidden=128, layers=4, layer_fan_in=8, recurrent_fan_in=8,
                             spectral_radius=0.8)
    conn = build_connectivity(config, np.random.default_rng(0))
    for first, end in config.layer_bounds():
        inside = (conn.pre >= first) & (conn.pre < end) & (conn.post >= first) & (
            conn.post < end)
        block = np.zeros((end - first, end - first))
        block[conn.post[inside] - first, conn.pre[inside] - first] = conn.weight[inside]
        assert np.max(np.abs(np.linalg.eigvals(block))) == pytest.approx(0.8, rel=1e-5)


def test_field_linear_inputs_reach_the_first_group_only():
    config = layered_network(n_inputs=2, input_fields=16, input_fan_in=8,
                             input_wiring="field_linear", layers=2, layer_fan_in=4)
    conn = build_connectivity(config, np.random.default_rng(0))
    from_inputs = conn.pre >= config.n_hidden
    assert set(np.unique(conn.post[from_inputs])) == set(range(15))
    assert np.all(np.bincount(conn.post[from_inputs], minlength=30)[:15] == 8)


def test_layers_are_structure_and_layer_fan_in_only_counts_with_several():
    one, two = AgentConfig(), AgentConfig(network=NetworkConfig(layers=2))
    assert "network.layers" in one.structure_differences(two)
    other_fan_in = AgentConfig(network=NetworkConfig(layer_fan_in=4))
    assert one.structure_differences(other_fan_in) == ""  # one group: no synapses between
    two_other_fan_in = AgentConfig(network=NetworkConfig(layers=2, layer_fan_in=4))
    assert two.structure_differences(two_other_fan_in) == "network.layer_fan_in: 16 -> 4"


def exact_layered_config(rho_traces: bool) -> AgentConfig:
    """Thresholds at 0 (every change is an event), one tick per decision, three groups."""
    return AgentConfig(
        network=layered_network(threshold=0.0, input_threshold=0.0, homeostasis_rate=0.0,
                                tick_s=0.02),
        learning=LearningConfig(hidden_lr=0.02, eprop_td_traces=rho_traces), seed=1)


@pytest.mark.parametrize("rho_traces,feedforward,activation,layer_norm", [
    (False, False, "tanh", ""), (True, False, "tanh", ""), (False, True, "tanh", ""),
    (True, True, "tanh", ""), (False, True, "leaky_relu", ""), (True, True, "leaky_relu", ""),
    (True, True, "leaky_relu", "diagonal"), (False, True, "tanh", "diagonal"),
    (True, True, "leaky_relu", "full"), (False, True, "tanh", "full")])
def test_layered_network_learns_like_its_twin_as_the_threshold_goes_to_zero(
        rho_traces, feedforward, activation, layer_norm):
    """With ``feedforward`` (no recurrence) the asynchronous network passes each tick's
    changes up through the groups within the tick, as the twin's bottom-up pass computes them;
    leaky ReLU units send and learn as the twin's do; so does a layer-normalised delta network,
    its learning signal through each group's ``1 / sd`` (``layer_norm_gradient: diagonal``) or
    through the exact gradient of the normalisation (``full``: the feedback rows take the
    group's part from its sums of shares at each sender's event)."""
    config = exact_layered_config(rho_traces).with_overrides([
        f"network.activation={activation}", f"network.layer_norm={str(bool(layer_norm)).lower()}",
        f"network.layer_norm_gradient={layer_norm or 'full'}"])
    if feedforward:
        config = config.with_overrides(["network.recurrent_fan_in=0",
                                        "network.feedforward=true"])
    lazy = OnlineLearner(config)
    twin = OnlineLearner(config, twin=True)
    assert lazy.net.feedforward == feedforward
    w0 = lazy.net.weight.astype(np.float64).copy()
    assert drive(lazy, 300) == drive(twin, 300)
    lazy.net.settle_learning()
    change = lazy.net.weight - w0
    group = np.repeat(np.arange(3), 10)
    pre, post = lazy.net.syn[K.PRE], lazy.net.syn[K.POST]
    hidden_pre = pre < 30
    between = np.zeros(pre.size, bool)
    between[hidden_pre] = group[pre[hidden_pre]] == group[post[hidden_pre]] - 1
    assert between.sum() == 20 * 5
    assert (group[pre[hidden_pre]] == group[post[hidden_pre]]).any() != feedforward
    assert np.abs(change[between]).max() > 0.01  # the synapses between groups learn
    tolerance = 1e-4 * np.abs(change).max()
    np.testing.assert_allclose(lazy.net.weight, twin.net.weights_in_async_order(),
                               atol=tolerance, rtol=0)
    np.testing.assert_allclose(lazy.net.hidden_output, twin.net.hidden_output, atol=1e-5)
    assert_twin_cost_exact(lazy, twin)


def test_events_of_the_top_group_reach_only_the_top_group():
    config = layered_network()
    conn = build_connectivity(config, np.random.default_rng(2))
    top_first = config.layer_bounds()[-1][0]
    leaving_top = np.isin(conn.pre, np.arange(top_first, config.n_hidden))
    assert np.all(conn.post[leaving_top] >= top_first)  # recurrent within the top group only
    assert leaving_top.sum() == 10 * config.recurrent_fan_in


def test_the_twin_recomputes_the_input_drive_of_the_first_group_only():
    config = exact_layered_config(False)
    twin = OnlineLearner(config, twin=True)
    drive(twin, 20)
    assert twin.net.n_input_neurons == 10
    assert twin.net.count[T_DRIVE_IN] == twin.log.input_drives * 10
    np.testing.assert_array_equal(twin.net.bux[10:], twin.net.bias[10:])


def _weights_from_group_below(net) -> np.ndarray:
    """The twin's weights between groups as a dense matrix from its CSR rows: ``W[k, i]``, i in
    the group below k."""
    n = net.psi.size
    up = np.zeros((n, n))
    for k in range(n):
        for s in range(net.rec_ptr[k], net.rec_ptr[k + 1]):
            p = net.rec_pre[s]
            if net.group[p] < net.group[k]:
                up[k, p] += net.rec_w[s]
    return up


@pytest.mark.parametrize("rho_traces", [False, True])
@pytest.mark.parametrize("supervised", [False, True])
def test_twin_backprop_signal_follows_the_layered_equations(supervised, rho_traces):
    """``eprop_feedback: backprop`` (the twin only): each neuron's signal is
    ``s_i = psi_i (B_i . g + sum_k W_ki s_k)`` with ``s_k`` the signals of the group above;
    traces (or, without them, phase B) and supervised weights take it as e-prop does, and the
    cost counts each synapse between groups."""
    config = exact_layered_config(rho_traces)
    config = config.with_overrides(["learning.eprop_feedback=backprop"])
    twin = OnlineLearner(config, twin=True)
    drive(twin, 40)  # outputs, weights and traces away from their start
    net = twin.net
    assert net.backprop
    rng = np.random.default_rng(5)
    gradient = rng.standard_normal(net.feedback.shape[1])
    teacher = rng.standard_normal(net.feedback.shape[1]) if supervised else None
    z_rec, z_in, w_rec, w_in = net.rec_z.copy(), net.in_z.copy(), net.rec_w.copy(), net.in_w.copy()
    flops = net.flops_by_part().sum()
    up = _weights_from_group_below(net)
    psi, y, x = net.psi.copy(), net.y.copy(), net.x.copy()
    rho, lr, clip = net._rho, net._lr, net._clip
    assert (rho > 0.0) == rho_traces and np.abs(up).sum() > 0.0

    def through_groups(error: np.ndarray) -> np.ndarray:
        signal = np.zeros(psi.size)
        for first, end in reversed(config.network.layer_bounds()):
            part = slice(first, end)
            signal[part] = psi[part] * (net.feedback[part] @ error + up[:, part].T @ signal)
        return signal

    net.begin_learning_step(gradient, teacher)
    signal = through_groups(gradient)
    below = net.group < net.group.max()
    assert np.abs(signal[below] - psi[below] * (net.feedback[below] @ gradient)).max() > 1e-6
    rows = np.repeat(np.arange(psi.size), np.diff(net.rec_ptr))
    rows_in = np.repeat(np.arange(psi.size), np.diff(net.in_ptr))
    if rho_traces:
        np.testing.assert_allclose(net.rec_z, rho * z_rec + signal[rows] * y[net.rec_pre],
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(net.in_z, rho * z_in + signal[rows_in] * x[net.in_pre],
                                   rtol=1e-12, atol=1e-14)
    if supervised:
        taught = lr * through_groups(teacher)
        w_rec = np.clip(w_rec + taught[rows] * y[net.rec_pre], -clip, clip)
        w_in = np.clip(w_in + taught[rows_in] * x[net.in_pre], -clip, clip)
    np.testing.assert_allclose(net.rec_w, w_rec, atol=1e-14)
    np.testing.assert_allclose(net.in_w, w_in, atol=1e-14)
    with_backprop = net.flops_by_part().sum() - flops
    # phase B: the TD error meets the signal (through its trace, or the kept one)
    delta = 0.7
    net.apply_td_error(delta)
    if rho_traces:
        rec_z, in_z = net.rec_z, net.in_z
    else:
        rec_z, in_z = signal[rows] * y[net.rec_pre], signal[rows_in] * x[net.in_pre]
    np.testing.assert_allclose(net.rec_w, np.clip(w_rec + lr * delta * rec_z, -clip, clip),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(net.in_w, np.clip(w_in + lr * delta * in_z, -clip, clip),
                               rtol=1e-6, atol=1e-12)
    # the backprop part of the step's cost: 2 flops per synapse between groups and 1 per
    # neuron, for each signal formed
    net.backprop = False
    before = net.flops_by_part().sum()
    net.begin_learning_step(gradient, teacher)
    plain = net.flops_by_part().sum() - before
    n_up = int((up != 0.0).sum())
    signals = 2 if supervised else 1
    assert with_backprop - plain == signals * (2 * n_up + psi.size)


@pytest.mark.parametrize("setting,named", [
    ("learning.eprop_feedback=backprop", "backprop without network.feedforward"),
    ("learning.hidden_bound_kappa=2", "hidden_bound_kappa"),
    ("network.unit_norm_steps=100", "unit_norm_steps"),
    ("network.layer_norm=true", "layer_norm")])
def test_only_the_twin_takes_its_own_settings(setting, named):
    """The asynchronous learner refuses each, at construction and live, naming it; the twin
    takes it, live too."""
    base = exact_layered_config(True).with_overrides(["network.recurrent_fan_in=0"])
    config = base.with_overrides([setting])
    with pytest.raises(ConfigError, match=f"{named}.* is built in the synchronous twin only"):
        OnlineLearner(config)
    lazy = OnlineLearner(base)
    before = lazy.config
    with pytest.raises(ConfigError, match="synchronous twin only"):
        lazy.apply_config(config)
    assert lazy.config == before
    twin = OnlineLearner(base, twin=True)
    twin.apply_config(config)  # live
    assert twin.config == config


def test_the_twin_takes_backprop_live():
    twin = OnlineLearner(exact_layered_config(True), twin=True)
    assert not twin.net.backprop
    twin.apply_config(exact_layered_config(True).with_overrides(
        ["learning.eprop_feedback=backprop"]))  # as any feedback switch
    assert twin.net.backprop


@pytest.mark.parametrize("rho_traces", [False, True])
def test_twin_hidden_bound_scales_the_step_as_obgd_does(rho_traces):
    """``hidden_bound_kappa`` (the twin only): phase B's step is
    ``lr / max(1, lr kappa max(|delta|, 1) |z|_1)`` with ``z`` every hidden and input synapse's
    trace (without traces, the step's ``psi_i L_i y_p``), written here from the equations; a
    bound that does not bind leaves the step as it is; its arithmetic is counted."""
    kappa = 50.0
    config = exact_layered_config(rho_traces).with_overrides(
        [f"learning.hidden_bound_kappa={kappa}"])
    twin = OnlineLearner(config, twin=True)
    drive(twin, 40)
    net = twin.net
    assert net.bound_kappa == kappa
    rows = np.repeat(np.arange(net.psi.size), np.diff(net.rec_ptr))
    rows_in = np.repeat(np.arange(net.psi.size), np.diff(net.in_ptr))
    gradient = np.random.default_rng(6).standard_normal(net.feedback.shape[1])
    lr, clip = net._lr, net._clip
    for delta, binds in ((-2.5, True), (0.3, True), (0.3, False)):
        net.bound_kappa = kappa if binds else 1e-9
        net.begin_learning_step(gradient)
        net._advance_to(net.now_tick + 1)  # outputs move between phases A and B
        if rho_traces:
            rec_z, in_z = net.rec_z.copy(), net.in_z.copy()
        else:
            rec_z = net.signal_a[rows] * net.y_a[net.rec_pre]
            in_z = net.signal_a[rows_in] * net.x_a[net.in_pre]
        norm = np.abs(rec_z).sum() + np.abs(in_z).sum()
        bound = lr * net.bound_kappa * max(abs(delta), 1.0) * norm
        assert (bound > 1.0) == binds
        step = (lr / bound if binds else lr) * delta
        w_rec, w_in = net.rec_w.copy(), net.in_w.copy()
        flops = net.flops_by_part()
        net.apply_td_error(delta)
        assert np.abs(w_rec).max() < clip and np.abs(w_in).max() < clip
        assert rho_traces or not np.allclose(net.y, net.y_a)  # the kept outputs are used
        # float32 weights: their rounding is the tolerance, far below what the bound changes
        tolerance = 1e-7 * max(np.abs(w_rec).max(), np.abs(w_in).max())
        if binds:
            assert abs(lr * delta - step) * np.abs(rec_z).max() > 1e3 * tolerance
        if binds and abs(delta) < 1.0:  # |delta| floored at 1 in the bound, not |delta|
            unfloored = lr / (bound * abs(delta)) * delta
            assert abs(step - unfloored) * np.abs(rec_z).max() > 1e3 * tolerance
        np.testing.assert_allclose(net.rec_w - w_rec, step * rec_z, rtol=0, atol=tolerance)
        np.testing.assert_allclose(net.in_w - w_in, step * in_z, rtol=0, atol=tolerance)
        n_syn = net.rec_w.size + net.in_w.size
        per_step = 2 * n_syn + (0 if rho_traces else 3 * net.psi.size) + 6 + A.DIV
        assert net.flops_by_part()[A.STEP_SIZE] - flops[A.STEP_SIZE] == per_step
    net.bound_kappa = 0.0  # off: no norm, nothing counted for it
    net.begin_learning_step(gradient)
    flops = net.flops_by_part()[A.STEP_SIZE]
    net.apply_td_error(0.5)
    assert net.flops_by_part()[A.STEP_SIZE] == flops


def test_a_hidden_bound_below_zero_is_refused():
    with pytest.raises(ConfigError, match="hidden_bound_kappa must be >= 0"):
        exact_layered_config(True).with_overrides(["learning.hidden_bound_kappa=-1"]).validate()


def test_twin_unit_norm_standardises_each_cell_by_its_running_statistics():
    """``network.unit_norm_steps`` (the twin only): each pass advances the cells as before, then
    updates each cell's running mean and variance at the rate ``max(1 / (n + 1), 1 / S)`` and
    gives ``y = tanh((c - m) / sd)`` and ``psi = (1 - y^2) / sd``; counted per neuron."""
    steps = 20.0
    config = exact_layered_config(False).with_overrides([f"network.unit_norm_steps={steps}"])
    twin = OnlineLearner(config, twin=True)
    drive(twin, 60)
    net = twin.net
    assert net.norm_passes[0] > 0 and np.all(net.norm_var != 1.0)
    cell, drive_now = net.cell.copy(), net.drive.copy()
    mean, var, passes = net.norm_mean.copy(), net.norm_var.copy(), int(net.norm_passes[0])
    counted = net.flops_by_part()[A.NEURONS]
    net._advance_to(net.now_tick + 1)
    c = drive_now + (cell - drive_now) * np.exp(-net.inv_tau)
    rate = max(1.0 / (passes + 2), 1.0 / steps)
    new_mean = mean + rate * (c - mean)
    new_var = var + rate * ((c - mean) * (c - new_mean) - var)
    sd = np.sqrt(new_var + 1e-5)
    y = np.tanh((c - new_mean) / sd)
    np.testing.assert_allclose(net.cell, c, rtol=1e-12)
    np.testing.assert_allclose(net.norm_mean, new_mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.norm_var, new_var, rtol=1e-12)
    np.testing.assert_allclose(net.y, y, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.psi, (1.0 - y * y) / sd, rtol=1e-9, atol=1e-12)
    per_neuron = (1 + A.SQRT + A.DIV + 2 + 1) + (3 + 5)  # standardise; the statistics
    plain = net.psi.size * (1 + 3 + A.TANH + 2)  # decay from the table, output and psi
    assert net.flops_by_part()[A.NEURONS] - counted == (plain + net.psi.size * per_neuron
                                                        + 2 + A.DIV)  # and the pass's rate
    # learning off: the statistics stay, the cells are standardised by them
    twin.apply_config(config.with_overrides(["learning.learning_enabled=false"]))
    kept = (net.norm_mean.copy(), net.norm_var.copy(), int(net.norm_passes[0]))
    counted = net.flops_by_part()[A.NEURONS]
    net._advance_to(net.now_tick + 1)
    assert int(net.norm_passes[0]) == kept[2]
    np.testing.assert_array_equal(net.norm_mean, kept[0])
    np.testing.assert_array_equal(net.norm_var, kept[1])
    np.testing.assert_allclose(net.y, np.tanh((net.cell - kept[0]) / np.sqrt(kept[1] + 1e-5)),
                               rtol=1e-9, atol=1e-12)
    assert net.flops_by_part()[A.NEURONS] - counted == (
        plain + net.psi.size * (1 + A.SQRT + A.DIV + 2 + 1))
    # a live switch off: plain tanh of the cell from the next pass; and on again
    twin.apply_config(config.with_overrides(["network.unit_norm_steps=0"]))
    net._advance_to(net.now_tick + 1)
    np.testing.assert_allclose(net.y, np.tanh(net.cell), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(net.norm_mean, kept[0])
    twin.apply_config(config)
    net._advance_to(net.now_tick + 1)
    assert int(net.norm_passes[0]) == kept[2] + 1 and not np.allclose(net.y, np.tanh(net.cell))
    with pytest.raises(ConfigError, match="unit_norm_steps .*synchronous twin only"):
        OnlineLearner(config)
    with pytest.raises(ConfigError, match="unit_norm_steps must be 0"):
        config.with_overrides(["network.unit_norm_steps=inf"]).validate()


def test_twin_leaky_relu_units_replace_tanh_and_are_counted():
    """``network.activation: leaky_relu`` in the twin: ``y = max(u, 0.01 u)`` of the cell
    (standardised with ``unit_norm_steps``), ``psi`` its slope (over the sd)."""
    for unit_norm in (0.0, 20.0):
        config = exact_layered_config(False).with_overrides(
            ["network.activation=leaky_relu", f"network.unit_norm_steps={unit_norm}"])
        twin = OnlineLearner(config, twin=True)
        # the start: leaky ReLU of the initial cells (the biases), psi its slope
        start = np.where(twin.net.bias > 0.0, 1.0, 0.01)
        np.testing.assert_allclose(twin.net.y, start * twin.net.bias, rtol=1e-12)
        np.testing.assert_array_equal(twin.net.psi, start)
        drive(twin, 30)
        net = twin.net
        cell, drive_now = net.cell.copy(), net.drive.copy()
        mean, var, passes = net.norm_mean.copy(), net.norm_var.copy(), int(net.norm_passes[0])
        counted = net.flops_by_part()[A.NEURONS]
        net._advance_to(net.now_tick + 1)
        u = drive_now + (cell - drive_now) * np.exp(-net.inv_tau)
        sd = 1.0
        if unit_norm:
            rate = max(1.0 / (passes + 2), 1.0 / unit_norm)
            new_mean = mean + rate * (u - mean)
            sd = np.sqrt(var + rate * ((u - mean) * (u - new_mean) - var) + 1e-5)
            u = (u - new_mean) / sd
        slope = np.where(u > 0.0, 1.0, 0.01)
        assert (slope < 1.0).any() and (slope == 1.0).any()
        np.testing.assert_allclose(net.y, slope * u, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(net.psi, slope / sd, rtol=1e-9, atol=1e-12)
        per_neuron = (1 + 3) + 2 + (1 + A.SQRT + A.DIV + 2 + 1 + 3 + 5 if unit_norm else 0)
        per_pass = 2 + A.DIV if unit_norm else 0
        assert net.flops_by_part()[A.NEURONS] - counted == net.psi.size * per_neuron + per_pass
    with pytest.raises(ConfigError, match="activation must be"):
        exact_layered_config(False).with_overrides(["network.activation=relu"]).validate()


def _stack_outputs(net, layer_bounds, first_cells, activation, layer_norm=True) -> np.ndarray:
    """The outputs of the memoryless stack (no recurrence) from the first group's cells: each
    group (layer-normalised and) activated, each group above driven by its bias and the group
    below through the weights between them."""
    up = _weights_from_group_below(net)
    leaky = activation == "leaky_relu"
    y = np.zeros(net.psi.size)
    for g, (first, end) in enumerate(layer_bounds):
        part = slice(first, end)
        cells = first_cells if g == 0 else net.bux[part] + up[part] @ y
        u = (cells - cells.mean()) / np.sqrt(cells.var() + 1e-5) if layer_norm else cells
        y[part] = np.where(u > 0.0, u, 0.01 * u) if leaky else np.tanh(u)
    return y


def _instantaneous_objective(net, layer_bounds, feedback_error, first_cells, activation,
                             layer_norm=True):
    """``J = sum_i y_i (B_i . g)`` of the memoryless stack (``_stack_outputs``)."""
    y = _stack_outputs(net, layer_bounds, first_cells, activation, layer_norm)
    return float(y @ (net.feedback @ feedback_error))


def _numeric_signal(net, layer_bounds, feedback_error, first_cells, activation,
                    layer_norm=True) -> np.ndarray:
    """dJ / d(first group's cells) by central differences (``_instantaneous_objective``)."""
    eps = 1e-6
    numeric = np.zeros(first_cells.size)
    for i in range(first_cells.size):
        plus, minus = first_cells.copy(), first_cells.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (_instantaneous_objective(net, layer_bounds, feedback_error, plus,
                                               activation, layer_norm)
                      - _instantaneous_objective(net, layer_bounds, feedback_error, minus,
                                                 activation, layer_norm)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_twin_layer_norm_standardises_each_group_and_backprops_through_it(activation):
    """``network.layer_norm`` (the twin only): each pass standardises every group's cells
    across the group, ``u = (c - mean) / sd``, ``y = f(u)``, ``psi = f'(u)``; with backprop a
    step's signal is the exact gradient of the memoryless stack (checked by finite differences
    on the first group's cells); both directions are counted per neuron and group."""
    config = exact_layered_config(False).with_overrides([
        "network.layer_norm=true", f"network.activation={activation}",
        "network.recurrent_fan_in=0", "network.tau_min_s=0.0001", "network.tau_max_s=0.0001",
        "learning.eprop_feedback=backprop"])
    twin = OnlineLearner(config, twin=True)
    net = twin.net
    bounds = config.network.layer_bounds()
    # the start: the initial cells (the biases) standardised per group
    for first, end in bounds:
        c = net.bias[first:end]
        np.testing.assert_allclose(net.u[first:end], (c - c.mean()) / np.sqrt(c.var() + 1e-5),
                                   rtol=1e-12, atol=1e-12)
    drive(twin, 40)
    assert net.layer_norm
    counted = net.flops_by_part()
    net._advance_to(net.now_tick + 1)
    for g, (first, end) in enumerate(bounds):
        c = net.cell[first:end]
        sd = np.sqrt(c.var() + 1e-5)
        u = (c - c.mean()) / sd
        np.testing.assert_allclose(net.u[first:end], u, rtol=1e-9, atol=1e-12)
        assert net.group_inv_sd[g] == pytest.approx(1.0 / sd, rel=1e-12)
        if activation == "tanh":
            y, slope = np.tanh(u), 1.0 - np.tanh(u) ** 2
        else:
            y, slope = np.where(u > 0.0, u, 0.01 * u), np.where(u > 0.0, 1.0, 0.01)
        np.testing.assert_allclose(net.y[first:end], y, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(net.psi[first:end], slope, rtol=1e-9, atol=1e-12)
    n, n_groups = net.psi.size, len(bounds)
    output = (A.TANH + 2) if activation == "tanh" else 2
    assert net.flops_by_part()[A.NEURONS] - counted[A.NEURONS] == (
        n * ((1 + 3) + output + 6) + n_groups * (3 + A.SQRT + A.DIV))
    # the memoryless stack: each pass moves every group to its drive in the same pass
    # (tau 0.1 ms at a 20 ms tick), so a step with the same inputs settles the whole stack
    for _ in range(n_groups):
        net._advance_to(net.now_tick + 1)
    rng = np.random.default_rng(7)
    gradient = rng.standard_normal(net.feedback.shape[1])
    first_cells = net.cell[slice(*bounds[0])].copy()
    counted = net.flops_by_part()
    net.begin_learning_step(gradient)
    signal = net.signal_a[slice(*bounds[0])]
    numeric = _numeric_signal(net, bounds, gradient, first_cells, activation)
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(signal, numeric, rtol=1e-5, atol=1e-7)
    # the layer norm's part of the step: 7 flops per neuron and 2 per group
    with_norm = net.flops_by_part()[A.EPROP] - counted[A.EPROP]
    net.set_units(0.0, activation, layer_norm=False)
    before = net.flops_by_part()[A.EPROP]
    net.begin_learning_step(gradient)
    assert with_norm - (net.flops_by_part()[A.EPROP] - before) == n * 7 + n_groups * 2
    with pytest.raises(ConfigError, match="two normalisations"):
        config.with_overrides(["network.unit_norm_steps=100"]).validate()


@pytest.mark.parametrize("layer_norm,activation", [(False, "tanh"), (True, "leaky_relu")])
def test_twin_feedforward_pass_computes_every_group_from_this_passs_inputs(layer_norm,
                                                                          activation):
    """``network.feedforward`` (the twin only): a pass takes the new inputs and computes the
    groups bottom-up, each from the outputs the group below has at this pass, each cell its
    drive, so the readouts read this step's inputs through the whole stack, with no lag; it
    costs each synapse between groups and each neuron once, no decay; with backprop the step's
    signal is the exact gradient of that stack, without letting it settle first."""
    config = exact_layered_config(False).with_overrides([
        "network.feedforward=true", f"network.layer_norm={str(layer_norm).lower()}",
        f"network.activation={activation}", "network.recurrent_fan_in=0",
        "learning.eprop_feedback=backprop"])
    twin = OnlineLearner(config, twin=True)
    net = twin.net
    bounds = config.network.layer_bounds()
    drive(twin, 40)
    assert net.feedforward
    n, n_between = net.psi.size, net.rec_pre.size
    assert n_between == sum(end - first for first, end in bounds[1:]) * 5
    before = net.flops_by_part()
    tick = net.now_tick + 1
    net.process_ticks(np.array([tick], np.int64), np.array([0], np.int32),
                      np.array([0.7]), tick)
    first = slice(*bounds[0])
    expected = _stack_outputs(net, bounds, net.bux[first].copy(), activation, layer_norm)
    np.testing.assert_allclose(net.y, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.readout_value, net.readout @ net.features(), rtol=1e-9,
                               atol=1e-12)
    assert net.now_tick == tick
    # the pass's arithmetic: the input drive (one event), every synapse between groups and
    # every neuron's drive once, the outputs (and layer norm), the readouts; no decay
    moved = net.flops_by_part() - before
    output = (A.TANH + 2) if activation == "tanh" else 2
    norm = n * 6 + len(bounds) * (3 + A.SQRT + A.DIV) if layer_norm else 0
    assert moved[A.NEURONS] == n * output + norm
    n_first = bounds[0][1]
    assert moved[A.EVENTS] == (net.in_pre.size * 2 + n_first * 2 + n_between * 2
                               + (n - n_first) * 1 + net.readout.shape[0] * net.n_read * 2)
    # backprop at once: the exact gradient of this pass's stack
    rng = np.random.default_rng(7)
    gradient = rng.standard_normal(net.feedback.shape[1])
    first_cells = net.cell[first].copy()
    net.begin_learning_step(gradient)
    numeric = _numeric_signal(net, bounds, gradient, first_cells, activation, layer_norm)
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(net.signal_a[first], numeric, rtol=1e-5, atol=1e-7)
    for wrong in ("network.recurrent_fan_in=2",
                  "network.layer_norm=false network.unit_norm_steps=100"):
        with pytest.raises(ConfigError, match="feedforward needs"):
            config.with_overrides(wrong.split()).validate()


def _one_input_event(net, channel: int, value: float) -> tuple[int, np.ndarray]:
    """One input event at the network's next tick; that tick and the operation counts it
    moved."""
    counts = net.count.copy()
    tick = net.now_tick + 1
    net.process_ticks(np.array([tick], np.int64), np.array([channel], np.int32),
                      np.array([value]), tick)
    return tick, net.count - counts


def _delta_network(threshold: float) -> OnlineLearner:
    config = exact_layered_config(False).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true",
        f"network.threshold={threshold}", "network.input_threshold=0.05"])
    return OnlineLearner(config)


def _assert_settled_stack(net, threshold: float) -> None:
    """Every drive is its bias plus its synapses' weights times the outputs as sent, every cell
    its drive, and no neuron's output has moved by its threshold from what it sent."""
    w, u = net.dense_weights()
    exact = net.bias + w @ net.hidden_output + u @ net.input_value
    np.testing.assert_allclose(net.nf[:, K.DRIVE], exact, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(net.cell, net.nf[:, K.DRIVE])
    assert np.all(np.abs(np.tanh(net.cell) - net.hidden_output) < threshold + 1e-12)


def test_a_delta_network_passes_an_input_change_up_through_every_group_within_its_tick():
    """``network.feedforward`` in the asynchronous network: one input event moves the top
    group's outputs and the readouts in the same tick; each touched neuron is looked at once,
    lowest group first, and only those whose output moved by the threshold send (the rest cost
    their bounds' test); nothing is left scheduled for later ticks."""
    threshold = 0.05
    learner = _delta_network(threshold)
    net = learner.net
    drive(learner, 40)
    _assert_settled_stack(net, threshold)
    bounds = learner.config.network.layer_bounds()
    top = slice(*bounds[-1])
    before_out, before_read = net.hidden_output.copy(), net.readout_value.copy()
    tick, moved = _one_input_event(net, 1, 0.8)
    assert net.now_tick == tick
    _assert_settled_stack(net, threshold)
    assert np.any(net.hidden_output[top] != before_out[top])  # reached the top at once
    assert np.any(net.readout_value != before_read)
    touched = moved[K.C_HIDDEN_EVENT] + moved[K.C_FF_NEURON]
    assert moved[K.C_HIDDEN_EVENT] == np.count_nonzero(net.hidden_output != before_out)
    first_targets = np.unique(net.syn[K.POST, net.ptr[K.OUT_PTR, 30 + 1]:
                                      net.ptr[K.OUT_PTR, 30 + 2]])
    assert len(first_targets) <= touched < net.n_hidden  # proportional to change
    assert moved[K.C_FF_PUSH] == touched  # each in its group's bucket once
    assert moved[K.C_FF_GROUP] == 3  # each group visited once, bottom-up
    assert moved[K.C_SCHEDULE] == moved[K.C_DECAY_TABLE] == moved[K.C_DECAY_EXP] == 0
    assert np.all(net.ni[:, K.NEXT_TICK] == K.NEVER)  # no crossing waits: memoryless
    # a tick with no input changes nothing and costs nothing
    counts = net.count.copy()
    net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), tick + 5)
    assert np.array_equal(net.count, counts)


def test_a_delta_network_is_taken_live_and_a_refresh_waits_for_the_next_tick():
    """Switching ``network.feedforward`` on in a running learner makes the cells their drives;
    neurons then out of their bounds send at the next tick processed (as after start-up, when
    the groups above have not yet seen the outputs below), and the outputs sent, so the pending
    learning, are not touched by the switch itself."""
    config = exact_layered_config(False).with_overrides(["network.recurrent_fan_in=0"])
    learner = OnlineLearner(config)
    drive(learner, 30)
    net = learner.net
    sent = net.hidden_output.copy()
    learner.apply_config(config.with_overrides(["network.feedforward=true"]))
    assert net.feedforward
    np.testing.assert_array_equal(net.hidden_output, sent)
    np.testing.assert_array_equal(net.cell, net.nf[:, K.DRIVE])
    tick = net.now_tick + 1
    net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), tick)
    _assert_settled_stack(net, 0.0 + 1e-9)
    learner.apply_config(config)  # and off again: leaky cells, crossings scheduled
    assert not net.feedforward
    drive(learner, 10, start_step=31)
    with pytest.raises(ConfigError, match="feedforward needs"):
        learner.apply_config(exact_layered_config(False).with_overrides(
            ["network.feedforward=true"]))


def test_asynchronous_leaky_relu_units_send_by_their_own_bounds_and_are_counted():
    """``network.activation: leaky_relu`` in the asynchronous network: a neuron's output is
    ``max(c, 0.01 c)``, it sends when that has moved by its threshold (bounds in cell space
    from the piecewise-linear inverse), its pseudo-derivative is its slope, each event priced
    as such; the activation cannot change in a running learner."""
    threshold = 0.05
    config = exact_layered_config(True).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true", "network.activation=leaky_relu",
        f"network.threshold={threshold}", "network.input_threshold=0.05"])
    learner = OnlineLearner(config)
    net = learner.net
    start = np.where(net.bias > 0.0, 1.0, 0.01)
    np.testing.assert_allclose(net.hidden_output, start * net.bias, rtol=1e-12)
    drive(learner, 40)
    y, cell = net.hidden_output, net.cell
    slope = np.where(cell > 0.0, 1.0, 0.01)
    assert (slope < 1.0).any() and (slope == 1.0).any()
    assert np.all(np.abs(slope * cell - y) < threshold + 1e-12)  # within its threshold
    np.testing.assert_array_equal(net.unit[K.PSI, :net.n_hidden],
                                  np.where(y > 0.0, 1.0, 0.01))
    up, dn = y + net.threshold, y - net.threshold
    np.testing.assert_allclose(net.nf[:, K.HIGH], np.where(up > 0.0, up, up / 0.01))
    np.testing.assert_allclose(net.nf[:, K.LOW], np.where(dn > 0.0, dn, dn / 0.01))
    assert net.count[K.C_HIDDEN_EVENT_LEAKY] > 0 and net.count[K.C_HIDDEN_EVENT] == 0
    flops = net.flops_by_part()
    events = net.count[K.C_HIDDEN_EVENT_LEAKY]
    net.count[K.C_HIDDEN_EVENT_LEAKY] = 0
    assert flops[A.NEURONS] - net.flops_by_part()[A.NEURONS] == events * 13
    with pytest.raises(ConfigError, match="activation is fixed at start"):
        learner.apply_config(config.with_overrides(["network.activation=tanh"]))


def _backprop_delta_config(hidden_lr: float, feedback: str = "backprop",
                           layer_norm: bool = False) -> AgentConfig:
    return exact_layered_config(False).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true",
        f"learning.eprop_feedback={feedback}", f"learning.hidden_lr={hidden_lr}",
        f"network.layer_norm={str(layer_norm).lower()}"])


@pytest.mark.parametrize("layer_norm", [False, True])
def test_asynchronous_backprop_learns_as_the_twins_up_to_its_one_step_older_weights(
        layer_norm):
    """``eprop_feedback: backprop`` in the delta network: each neuron that sends takes its
    feedback through the groups above at the end of the tick (``B[i] = B0[i] + sum_k w_ik psi_k
    B[k]``, top-down), with the weights as last settled, which miss the TD update that the twin
    makes just before its step's signal. At thresholds 0 the two then learn alike up to a
    difference of second order in ``hidden_lr``: ten times smaller steps, a relative
    difference about ten times smaller (with layer norm's full gradient as well). The signal
    through the groups is not the readout feedback's."""
    relative = []
    for lr in (0.002, 0.0002):
        lazy = OnlineLearner(_backprop_delta_config(lr, layer_norm=layer_norm))
        twin = OnlineLearner(_backprop_delta_config(lr, layer_norm=layer_norm), twin=True)
        assert lazy.net.backprop and twin.net.backprop
        w0 = lazy.net.weight.astype(np.float64).copy()
        assert drive(lazy, 300) == drive(twin, 300)
        lazy.net.settle_learning()
        change = np.abs(lazy.net.weight - w0).max()
        relative.append(np.abs(lazy.net.weight - twin.net.weights_in_async_order()).max()
                        / change)
        assert_twin_cost_exact(lazy, twin)  # the twin's backprop in the estimate too
    assert relative[1] < 0.01 and relative[1] < 0.2 * relative[0]
    readout = OnlineLearner(_backprop_delta_config(0.0002, "readout", layer_norm))
    drive(readout, 300)
    readout.net.settle_learning()
    lower = readout.net.syn[K.POST] < 20  # synapses into the groups that have one above
    assert np.abs(readout.net.weight - lazy.net.weight)[lower].max() > 0.1 * change


def test_asynchronous_backprop_feedback_is_refreshed_at_events_and_counted():
    """A neuron below the top group that sends in a tick gets its feedback through the groups
    above as they are at the tick's end; the top group's is its readout feedback; each refresh
    is counted (its synapses and projections); the asynchronous learner needs feedforward for
    it."""
    learner = OnlineLearner(_backprop_delta_config(0.002).with_overrides([
        "network.threshold=0.02"]))
    net = learner.net
    drive(learner, 60)
    tick, moved = _one_input_event(net, 0, 0.9)
    sent = np.flatnonzero(net.ni[:, K.LAST_EMIT] == tick)
    below_top = sent[sent < 20]
    assert below_top.size > 0 and moved[K.C_BACKPROP_NEURON] == below_top.size
    out = net.ptr[K.OUT_PTR]
    assert moved[K.C_BACKPROP_SYNAPSE] == sum(out[i + 1] - out[i] for i in below_top)
    psi = net.unit[K.PSI, :net.n_hidden]
    for i in below_top:
        syn = slice(out[i], out[i + 1])
        post = net.syn[K.POST, syn]
        expected = net.feedback_base[i] + (net.weight[syn] * psi[post]) @ net.feedback[post]
        np.testing.assert_allclose(net.feedback[i], expected, rtol=1e-12)
    np.testing.assert_array_equal(net.feedback[20:], net.feedback_base[20:])
    r = net.n_signals
    assert (net.flops_by_part()[A.EPROP] - A.kernel_flops(net.count - moved, r)[A.EPROP]
            >= moved[K.C_BACKPROP_SYNAPSE] * (1 + 2 * r) + below_top.size * 4 * r)
    with pytest.raises(ConfigError, match="backprop without network.feedforward"):
        OnlineLearner(exact_layered_config(False).with_overrides([
            "learning.eprop_feedback=backprop"]))


def test_twin_layer_norm_diagonal_gradient_holds_the_groups_statistics():
    """``network.layer_norm_gradient: diagonal`` in the twin: the learning signal goes
    through ``1 / sd`` of its group only, as if the group's mean and sd did not move with the
    cell (what an event-driven layer norm could keep per neuron), one multiply per neuron; the
    forward pass is the same layer norm."""
    config = exact_layered_config(False).with_overrides([
        "network.layer_norm=true", "network.activation=leaky_relu",
        "network.recurrent_fan_in=0", "network.feedforward=true",
        "learning.eprop_feedback=backprop", "network.layer_norm_gradient=diagonal"])
    twin = OnlineLearner(config, twin=True)
    net = twin.net
    drive(twin, 40)
    rng = np.random.default_rng(3)
    gradient = rng.standard_normal(net.feedback.shape[1])
    counted = net.flops_by_part()[A.EPROP]
    net.begin_learning_step(gradient)
    diagonal = net.flops_by_part()[A.EPROP] - counted
    up = _weights_from_group_below(net)
    bounds = config.network.layer_bounds()
    expected = np.zeros(net.psi.size)
    for g in range(len(bounds) - 1, -1, -1):
        part = slice(*bounds[g])
        signal = net.feedback[part] @ gradient + up[:, part].T @ expected
        expected[part] = net.psi[part] * signal * net.group_inv_sd[g]
    np.testing.assert_allclose(net.signal_a, expected, rtol=1e-10, atol=1e-12)
    twin.apply_config(config.with_overrides(["network.layer_norm_gradient=full"]))
    counted = net.flops_by_part()[A.EPROP]
    net.begin_learning_step(gradient)
    full = net.flops_by_part()[A.EPROP] - counted
    n, n_groups = net.psi.size, len(bounds)
    assert full - diagonal == n * 7 + n_groups * 2 - n
    assert not np.allclose(net.signal_a, expected)
    with pytest.raises(ConfigError, match="layer_norm_gradient must be"):
        config.with_overrides(["network.layer_norm_gradient=none"]).validate()
    assert OnlineLearner(config).net.misc[K.LAYER_NORM]  # the asynchronous learner's too


def test_leaky_units_events_are_reported_as_hidden_events():
    config = exact_layered_config(False).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true", "network.activation=leaky_relu",
        "network.threshold=0.05"])
    learner = OnlineLearner(config)
    drive(learner, 30)
    cost = learner.cost()
    events = learner.net.count[K.C_HIDDEN_EVENT_LEAKY]
    assert events > 0 and cost["hidden_events_per_step"] == pytest.approx(events / 30)
    assert cost["firing_share"] == pytest.approx(events / (30 * learner.net.n_hidden))
    assert cost["threshold_median"] == np.median(learner.net.nf[:, K.THETA])



def test_a_layer_normalised_delta_network_tests_a_touched_group_whole():
    """``network.layer_norm`` in the delta network: a touched cell moves its group's sums, so
    the group's mean and sd move and every neuron of the group is standardised and tested
    against its bounds (O(group)); each sends if ``f((c - mean) / sd)`` has moved by its
    threshold, its pseudo-derivative times the group's ``1 / sd``; an untouched group costs
    nothing. Fixed at start; needs feedforward."""
    threshold = 0.05
    config = exact_layered_config(False).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true", "network.layer_norm=true",
        "network.layer_norm_gradient=diagonal", "network.activation=leaky_relu",
        f"network.threshold={threshold}", "network.input_threshold=0.05"])
    learner = OnlineLearner(config)
    net = learner.net
    drive(learner, 40)
    bounds = config.network.layer_bounds()

    def check_groups():
        for first, end in bounds:
            c = net.cell[first:end]
            np.testing.assert_array_equal(c, net.nf[first:end, K.DRIVE])
            assert net.nf[first, K.GROUP_S1] == pytest.approx(c.sum(), abs=1e-9)
            assert net.nf[first, K.GROUP_S2] == pytest.approx((c * c).sum(), rel=1e-9)
            inv_sd = 1.0 / np.sqrt(c.var() + 1e-5)
            assert net.nf[first, K.GROUP_INV_SD] == pytest.approx(inv_sd, rel=1e-8)
            u = (c - c.mean()) * inv_sd
            y = np.where(u > 0.0, u, 0.01 * u)
            assert np.all(np.abs(y - net.hidden_output[first:end]) < threshold + 1e-9)

    check_groups()
    tick, moved = _one_input_event(net, 1, 0.8)
    check_groups()
    touched_groups = moved[K.C_LN_GROUP]
    assert 1 <= touched_groups <= len(bounds)
    group_size = bounds[0][1] - bounds[0][0]
    assert moved[K.C_LN_TEST] == touched_groups * group_size
    assert moved[K.C_LN_PSI] == moved[K.C_HIDDEN_EVENT_LEAKY]
    sent = np.flatnonzero(net.ni[:, K.LAST_EMIT] == tick)
    group_of = net.ni[sent, K.GROUP_FIRST]
    psi = np.where(net.hidden_output[sent] > 0.0, 1.0, 0.01) * net.nf[group_of, K.GROUP_INV_SD]
    np.testing.assert_allclose(net.unit[K.PSI, sent], psi, rtol=1e-12)
    counts = net.count.copy()
    net.process_ticks(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), tick + 3)
    assert np.array_equal(net.count, counts)
    with pytest.raises(ConfigError, match="layer_norm is fixed at start"):
        learner.apply_config(config.with_overrides(["network.layer_norm=false"]))
    with pytest.raises(ConfigError, match="layer_norm without network.feedforward"):
        OnlineLearner(config.with_overrides(["network.feedforward=false"]))



def test_layer_norms_full_gradient_takes_each_senders_row_from_its_groups_shares():
    """``layer_norm_gradient: full`` in the delta network: a neuron that sends takes its row
    ``f'(u) B - mean(f'(u) B) - u mean(u f'(u) B)`` over its group (``_layer_norm_back``'s
    gradient), the means from the group's sums of each neuron's shares as of its last event,
    its psi the group's ``1 / sd``; counted per row and per neuron looked at."""
    config = exact_layered_config(False).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true", "network.layer_norm=true",
        "network.activation=leaky_relu", "network.threshold=0.05",
        "network.input_threshold=0.05"])
    learner = OnlineLearner(config)
    net = learner.net
    drive(learner, 40)
    tick, moved = _one_input_event(net, 1, 0.8)
    sent = np.flatnonzero(net.ni[:, K.LAST_EMIT] == tick)
    assert sent.size > 0 and moved[K.C_LN_ROW] == sent.size
    rows = net.ln_rows
    for first, end in config.network.layer_bounds():
        part = slice(first, end)
        np.testing.assert_allclose(rows[K.LN_G1, first], rows[K.LN_C1, part].sum(axis=0),
                                   atol=1e-9)
        np.testing.assert_allclose(rows[K.LN_G2, first], rows[K.LN_C2, part].sum(axis=0),
                                   atol=1e-9)
    for i in sent:
        first = net.ni[i, K.GROUP_FIRST]
        k = net.ni[i, K.GROUP_END] - first
        inv_sd = net.nf[first, K.GROUP_INV_SD]
        u = (net.cell[i] - net.nf[first, K.GROUP_MEAN]) * inv_sd
        slope = 1.0 if net.hidden_output[i] > 0.0 else 0.01
        np.testing.assert_allclose(rows[K.LN_C1, i], slope * net.feedback_base[i], rtol=1e-12)
        np.testing.assert_allclose(rows[K.LN_C2, i], u * slope * net.feedback_base[i],
                                   rtol=1e-12)
        expected = rows[K.LN_C1, i] - (rows[K.LN_G1, first] + u * rows[K.LN_G2, first]) / k
        np.testing.assert_allclose(net.feedback[i], expected, rtol=1e-12, atol=1e-15)
        assert net.unit[K.PSI, i] == inv_sd
    r = net.n_signals
    assert (A.kernel_flops(moved, r)[A.EPROP] >= moved[K.C_LN_ROW] * (6 + 10 * r)
            + moved[K.C_BACKPROP_NEURON] * 4 * r)



def _drive_steps_per_tick(learner: OnlineLearner, steps: int, per_tick: int) -> np.ndarray:
    """``drive``'s stream with ``per_tick`` steps sharing each tick; the weights learnt."""
    rng = np.random.default_rng(0)
    obs = np.zeros(learner.n_inputs)
    dt = learner.config.network.tick_s / per_tick
    for step in range(steps):
        obs = 0.9 * obs + rng.normal(0, 0.5, obs.size)
        reward = float(rng.normal()) if step > 0 else None
        learner.step_observation(obs, step * dt, reward=reward, terminated=step % 50 == 49)
    learner.net.settle_learning()
    return learner.net.weight.astype(np.float64)


@pytest.mark.parametrize("setting", ["learning.eprop_feedback=backprop",
                                     "network.layer_norm=true"])
def test_a_tick_shared_by_several_steps_learns_as_distinct_ticks_do(setting):
    """A delta network has no time within a step, so three steps sharing one tick (a tick
    processed again after each step's learning phases) must learn what three ticks do: a
    neuron that sent earlier in the tick keeps its feedback row, which its snapshot, taken
    before the learning sums moved, still matches."""
    config = exact_layered_config(True).with_overrides([
        "network.recurrent_fan_in=0", "network.feedforward=true", "network.threshold=0.02",
        "network.input_threshold=0.02", "learning.hidden_lr=0.002", setting])
    w0 = OnlineLearner(config).net.weight.astype(np.float64)
    apart = _drive_steps_per_tick(OnlineLearner(config), 150, 1)
    shared = _drive_steps_per_tick(OnlineLearner(config), 150, 3)
    assert np.abs(apart - w0).max() > 0.01
    np.testing.assert_allclose(shared, apart, rtol=0, atol=1e-6 * np.abs(apart - w0).max())
