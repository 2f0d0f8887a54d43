"""The fair synchronous twin: the asynchronous network's model, updated eagerly once per decision.

It is the efficiency baseline, the fastest honest synchronous implementation of the same model
and learning rule: the *same* sparse connectivity (CSR, one row of incoming synapses per neuron,
recurrent and input synapses apart so the input drive is recomputed only when inputs change),
every neuron advanced once per interval with the exact closed-form decay ``c <- a + (c - a)
exp(-dt / tau)`` (the drive is constant between decisions, so that is the same model), outputs
``y = tanh(c)``, and e-prop in its factorised form: per neuron ``psi_i L_i`` once, then per
synapse ``z = rho z + (psi_i L_i) y_p`` at phase A and ``w += lr delta z`` at phase B. It has no
thresholds: every output is exact, as the asynchronous network's are when its threshold goes
to 0. It offers the interface of ``AsyncNetwork`` that ``OnlineLearner`` uses, so the twin
learner runs the same readouts, normalisation and policy code (``OnlineLearner(..., twin=True)``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, typeof, types

from . import accounting as A
from .config import NetworkConfig
from .connectivity import build_connectivity, draw_neurons
from .jit import KERNEL, compiled_entry, entry_for
from .kernels import DECAY_TICKS, LEAK

# operation counters of the twin, priced by ``twin_flops``
(T_DECAY, T_DECAY_EXP, T_OUTPUT, T_REC_SYNAPSE, T_IN_SYNAPSE, T_DRIVE_REC, T_DRIVE_IN,
 T_READOUT, T_SIGNAL, T_SIGNAL_B, T_SUPERVISED_SIGNAL, T_TRACE, T_WEIGHT, T_SUPERVISED, T_STEP_A,
 T_STEP_B, T_BACKPROP, T_BACKPROP_SIGNAL, T_BOUND_SYNAPSE, T_BOUND_NEURON, T_BOUND_STEP,
 T_UNIT_NORM, T_OUTPUT_LEAKY, T_UNIT_NORM_STATS, T_UNIT_NORM_PASS, T_LAYER_NORM,
 T_LAYER_NORM_GROUP, T_LAYER_NORM_BACK, T_LAYER_NORM_BACK_GROUP, T_LAYER_NORM_BACK_DIAGONAL
 ) = range(30)
N_TWIN_COUNTS = 30
# ``_begin_step``'s layer-norm mode: off, the full gradient, or its diagonal part only
# (``network.layer_norm_gradient``)
LN_OFF, LN_FULL, LN_DIAGONAL = 0, 1, 2


@dataclass
class DecisionLog:
    """What a learner did, step by step, in the terms the twin's cost depends on: neuron passes
    (intervals of at most DECAY_TICKS ticks, and longer ones, or with ``network.feedforward``
    one bottom-up pass per update), input drives (inputs or weights changed), read-outs, and
    learning phases A (with a supervised error) and B (whose steps the twin reads the critic
    for, and every readout again after the update)."""

    passes: int = 0
    long_passes: int = 0
    input_drives: int = 0
    readouts: int = 0
    phase_a: int = 0
    supervised: int = 0
    phase_b: int = 0
    actor_reads: int = 0  # samples between decisions: the actor's readouts only
    feedforward_passes: int = 0  # ``network.feedforward``: one bottom-up pass per update

    def as_array(self) -> np.ndarray:
        return np.array(dataclasses.astuple(self), np.int64)


def twin_counts(log: DecisionLog, n_hidden: int, n_recurrent: int, n_input_synapses: int,
                readout_shape: tuple[int, int], rho: float,
                n_input_neurons: int | None = None, leaky: bool = False,
                backprop: bool = False, layer_norm: str = "", n_groups: int = 1
                ) -> np.ndarray:
    """The operation counts the twin does for ``log``'s steps (its cost does not depend on the
    values, only on these numbers): what the twin would have cost where only the asynchronous
    learner ran. ``n_input_neurons``: the neurons that read inputs (all by default); ``leaky``:
    leaky ReLU units in place of tanh; ``backprop``: the signal through the groups, every
    synapse between neurons running from a group to the one above (``network.feedforward``);
    ``layer_norm``: the gradient through it, ``full`` or ``diagonal`` (empty: off), over
    ``n_groups`` groups."""
    count = np.zeros(N_TWIN_COUNTS, np.int64)
    n_syn = n_recurrent + n_input_synapses
    passes = log.passes + log.long_passes
    count[T_DECAY], count[T_DECAY_EXP] = log.passes * n_hidden, log.long_passes * n_hidden
    count[T_OUTPUT_LEAKY if leaky else T_OUTPUT] = (passes + log.feedforward_passes) * n_hidden
    if n_recurrent:
        count[T_REC_SYNAPSE] = (passes + log.feedforward_passes) * n_recurrent
        # a feed-forward pass sums synapses into the groups above the first only
        n_above = n_hidden - (n_hidden if n_input_neurons is None else n_input_neurons)
        count[T_DRIVE_REC] = passes * n_hidden + log.feedforward_passes * n_above
    count[T_IN_SYNAPSE] = log.input_drives * n_input_synapses
    count[T_DRIVE_IN] = log.input_drives * (n_hidden if n_input_neurons is None
                                             else n_input_neurons)
    # every readout at each decision; where a TD update follows, the critic first and every
    # readout after it
    count[T_READOUT] = (log.readouts * readout_shape[0] + log.phase_b
                        + log.actor_reads * (readout_shape[0] - 1)) * (readout_shape[1] - 1)
    count[T_SIGNAL] = log.phase_a * n_hidden
    if rho > 0.0:
        count[T_TRACE] = log.phase_a * n_syn
    else:
        count[T_SIGNAL_B] = log.phase_b * n_hidden
    count[T_SUPERVISED] = log.supervised * n_syn
    count[T_SUPERVISED_SIGNAL] = log.supervised * n_hidden
    count[T_STEP_A] = log.phase_a
    if backprop:  # per signal formed: each synapse between groups, each neuron
        count[T_BACKPROP] = (log.phase_a + log.supervised) * n_recurrent
        count[T_BACKPROP_SIGNAL] = (log.phase_a + log.supervised) * n_hidden
    if layer_norm:  # forward at every pass, backward per signal formed
        all_passes = passes + log.feedforward_passes
        count[T_LAYER_NORM], count[T_LAYER_NORM_GROUP] = (all_passes * n_hidden,
                                                          all_passes * n_groups)
        signals = log.phase_a + log.supervised
        if layer_norm == "diagonal":
            count[T_LAYER_NORM_BACK_DIAGONAL] = signals * n_hidden
        else:
            count[T_LAYER_NORM_BACK] = signals * n_hidden
            count[T_LAYER_NORM_BACK_GROUP] = signals * n_groups
    count[T_WEIGHT] = log.phase_b * n_syn
    count[T_STEP_B] = log.phase_b
    return count


@njit(**KERNEL)
def _activate(u, psi, y, group_ptr, group_inv_size, group_inv_sd, layer_norm, leaky, count):
    """Outputs of every group (``_activate_groups``)."""
    _activate_groups(u, psi, y, group_ptr, group_inv_size, group_inv_sd, layer_norm, leaky,
                     0, group_ptr.size - 1, count)


@njit(**KERNEL)
def _activate_groups(u, psi, y, group_ptr, group_inv_size, group_inv_sd, layer_norm, leaky,
                     g_first, g_end, count):
    """Outputs of groups ``g_first..g_end - 1`` from the activations' arguments ``u`` (the
    cells, or with unit norm the standardised cells, ``psi`` holding each one's factor
    ``1 / sd``, else 1). With ``layer_norm`` (``network.layer_norm``) each group's ``u`` is
    standardised first across the group, in place, ``u <- (u - mean) / sd`` (the group's
    ``1 / sd`` kept for the backward pass). Then ``y = tanh(u)`` or, ``leaky``,
    ``max(u, 0.01 u)``, and ``psi *= dy / du``."""
    start, stop = group_ptr[g_first], group_ptr[g_end]
    n = stop - start
    if layer_norm:
        for g in range(g_first, g_end):
            first, end = group_ptr[g], group_ptr[g + 1]
            inv_k = group_inv_size[g]
            mean = 0.0
            for i in range(first, end):
                mean += u[i]
            mean *= inv_k
            var = 0.0
            for i in range(first, end):
                d = u[i] - mean
                var += d * d
            inv_sd = 1.0 / math.sqrt(var * inv_k + 1e-5)
            group_inv_sd[g] = inv_sd
            for i in range(first, end):
                u[i] = (u[i] - mean) * inv_sd
        count[T_LAYER_NORM] += n
        count[T_LAYER_NORM_GROUP] += g_end - g_first
    for i in range(start, stop):
        c = u[i]
        if leaky:
            slope = 1.0 if c > 0.0 else LEAK
            y[i] = slope * c
            psi[i] *= slope
        else:
            yi = 1.0 - 2.0 / (math.exp(2.0 * c) + 1.0)
            y[i] = yi
            psi[i] *= 1.0 - yi * yi
    count[T_OUTPUT_LEAKY if leaky else T_OUTPUT] += n


@njit(**KERNEL)
def _advance_neurons(dt, cell, drive, decay_table, inv_tau, y, psi, bux, rec_ptr, rec_pre,
                     rec_w, wy, norm_floor, norm_learn, norm_mean, norm_var, norm_passes,
                     leaky, u, group_ptr, group_inv_size, group_inv_sd, layer_norm, count):
    """Advance every neuron dt ticks in closed form (the factor looked up for intervals of up to
    DECAY_TICKS ticks, as the asynchronous kernels do), then outputs (``_activate``) and, with
    recurrence, the recurrent drive. With ``norm_floor = 1 / S > 0``
    (``network.unit_norm_steps``) each cell is standardised by its own running mean and variance
    first, at the rate ``max(1 / (n + 1), 1 / S)`` after n passes: ``y = tanh((c - m) / sd)``,
    ``psi = dy / dc = (1 - y^2) / sd``; with ``norm_learn`` false (learning off) the statistics
    stay as they are. ``leaky`` (``network.activation: leaky_relu``): ``y = max(u, 0.01 u)``
    in place of ``tanh``, ``psi`` 1 or 0.01 (over sd). ``layer_norm``: the cells standardised
    across each group instead (``psi`` is then ``dy / du``, the group's part of the gradient
    taken in ``_begin_step``)."""
    n = cell.size
    table = dt <= decay_table.shape[1]
    normalise = norm_floor > 0.0
    update = normalise and norm_learn
    rate = 0.0
    if update:
        norm_passes[0] += 1
        rate = max(1.0 / (norm_passes[0] + 1), norm_floor)
    for i in range(n):
        a = drive[i]
        factor = decay_table[i, dt - 1] if table else math.exp(-dt * inv_tau[i])
        c = a + (cell[i] - a) * factor
        cell[i] = c
        inv_sd = 1.0
        if normalise:
            if update:
                moved = c - norm_mean[i]
                norm_mean[i] += rate * moved
                norm_var[i] += rate * (moved * (c - norm_mean[i]) - norm_var[i])
            inv_sd = 1.0 / math.sqrt(norm_var[i] + 1e-5)
            c = (c - norm_mean[i]) * inv_sd
        u[i] = c
        psi[i] = inv_sd
    count[T_DECAY if table else T_DECAY_EXP] += n
    if normalise:
        count[T_UNIT_NORM] += n
    if update:
        count[T_UNIT_NORM_STATS] += n
        count[T_UNIT_NORM_PASS] += 1
    _activate(u, psi, y, group_ptr, group_inv_size, group_inv_sd, layer_norm, leaky, count)
    if rec_pre.size:
        for i in range(n):
            acc = 0.0
            for s in range(rec_ptr[i], rec_ptr[i + 1]):
                acc += rec_w[s] * y[rec_pre[s]]
            wy[i] = acc
            drive[i] = bux[i] + acc
        count[T_REC_SYNAPSE] += rec_pre.size
        count[T_DRIVE_REC] += n


@njit(**KERNEL)
def _feedforward_pass(cell, drive, y, psi, bux, rec_ptr, rec_pre, rec_w, wy, leaky, u,
                      group_ptr, group_inv_size, group_inv_sd, layer_norm, count):
    """``network.feedforward``: one pass bottom-up, each group from the outputs the group below
    has at this pass (the first from its input drive ``bux``, already this pass's): every
    cell is its drive, ``c_i = bux_i + sum_p W_ip y_p``, then the group's outputs
    (``_activate_groups``, with its layer norm). Memoryless: no decay, no state carried."""
    for g in range(group_ptr.size - 1):
        first, end = group_ptr[g], group_ptr[g + 1]
        for i in range(first, end):
            acc = 0.0
            for s in range(rec_ptr[i], rec_ptr[i + 1]):
                acc += rec_w[s] * y[rec_pre[s]]
            wy[i] = acc
            c = bux[i] + acc
            drive[i] = c
            cell[i] = c
            u[i] = c
            psi[i] = 1.0
        count[T_REC_SYNAPSE] += rec_ptr[end] - rec_ptr[first]
        if rec_ptr[end] > rec_ptr[first]:  # the first group's drive is its input drive
            count[T_DRIVE_REC] += end - first
        _activate_groups(u, psi, y, group_ptr, group_inv_size, group_inv_sd, layer_norm, leaky,
                         g, g + 1, count)


@njit(**KERNEL)
def _input_drive(x, bias, bux, wy, drive, in_ptr, in_pre, in_w, count):
    """The input synapses' drive plus the bias (``bux``), after the inputs or weights changed."""
    for i in range(bias.size):
        acc = bias[i]
        for s in range(in_ptr[i], in_ptr[i + 1]):
            acc += in_w[s] * x[in_pre[s]]
        bux[i] = acc
        drive[i] = acc + wy[i]
    count[T_IN_SYNAPSE] += in_pre.size
    count[T_DRIVE_IN] += bias.size


@njit(**KERNEL)
def _take_inputs(channel, value, x, bias, bux, wy, drive, in_ptr, in_pre, in_w, count):
    """The input events' changes into the inputs (in event order, as ``np.add.at``), then the
    input drive (``_input_drive``)."""
    for e in range(channel.size):
        x[channel[e]] += value[e]
    _input_drive(x, bias, bux, wy, drive, in_ptr, in_pre, in_w, count)


@njit(**KERNEL)
def _readouts(readout, y, x, n_read, value, start, stop, count):
    """Readouts ``start..stop - 1`` of ``[y; x; 1]``."""
    n = y.size
    for r in range(start, stop):
        acc = readout[r, n_read]
        for j in range(n):
            acc += readout[r, j] * y[j]
        for j in range(n, n_read):
            acc += readout[r, j] * x[j - n]
        value[r] = acc
    count[T_READOUT] += (stop - start) * n_read


@njit(**KERNEL)
def _layer_norm_back(signal, u, first, end, inv_k, inv_sd):
    """The gradient through one group's layer norm, in place: ``signal`` (d/du of the group's
    normalised cells ``u``, ``inv_k`` one over their number) becomes d/dc,
    ``(s - mean(s) - u mean(s u)) / sd``."""
    m1 = 0.0
    m2 = 0.0
    for i in range(first, end):
        m1 += signal[i]
        m2 += signal[i] * u[i]
    m1 *= inv_k
    m2 *= inv_k
    for i in range(first, end):
        signal[i] = (signal[i] - m1 - u[i] * m2) * inv_sd


@njit(**KERNEL)
def _neuron_signal(feedback, i, error, back, backprop, count):
    """Neuron ``i``'s signal before its ``psi``: ``B_i . error``, plus with backprop what the
    group above sent down (``back_i``)."""
    sig = 0.0
    for r in range(error.size):
        sig += feedback[i, r] * error[r]
    if backprop:
        sig += back[i]
        count[T_BACKPROP_SIGNAL] += 1
    return sig


@njit(**KERNEL)
def _begin_step(gradient, supervised, rho, lr, clip, backprop, feedback, psi, y, x, rec_ptr,
                rec_pre, rec_w, rec_z, in_ptr, in_pre, in_w, in_z, signal_a, y_a, x_a, group,
                back, back_sup, sup_a, u, group_ptr, group_inv_size, group_inv_sd, layer_norm,
                count):
    """Phase A: per neuron ``psi_i L_i`` (and the supervised ``lr psi_i G_i``), then every
    synapse's trace ``z = rho z + psi_i L_i y_p`` (and weight ``w += lr psi_i G_i y_p``).
    Without traces (rho = 0) the step's ``psi_i L_i`` and outputs are kept for phase B instead,
    which then needs no trace per synapse. With ``backprop`` the groups are taken from the top
    down and each neuron's signal gets, before its ``psi_i``, the signals ``s_k`` of the
    neurons it feeds in the group above through the weights between them,
    ``s_i = psi_i (B_i . g + sum_k W_ki s_k)``: the chain rule of the instantaneous stack
    (each cell's leak taken as settled, as the eligibility ``psi_i y_p`` takes it; not through
    the recurrence within a group), the same for the supervised signal. With ``layer_norm``
    each group's signals then go through its layer norm's gradient (``_layer_norm_back``;
    ``layer_norm`` is ``LN_FULL``), or its diagonal part only, ``1 / sd`` (``LN_DIAGONAL``: as if
    the group's mean and sd did not move with the cell)."""
    traces = rho > 0.0
    if not traces:  # copies, not arithmetic
        for i in range(y.size):
            y_a[i] = y[i]
        for j in range(x.size):
            x_a[j] = x[j]
    n = psi.size
    has_supervised = False
    for r in range(supervised.size):
        if supervised[r] != 0.0:
            has_supervised = True
    if backprop:
        for i in range(n):
            back[i] = 0.0
            back_sup[i] = 0.0
    for g in range(group_ptr.size - 2, -1, -1):  # groups above first: their signals reach below
        first, end = group_ptr[g], group_ptr[g + 1]
        for i in range(first, end):
            signal_a[i] = _neuron_signal(feedback, i, gradient, back, backprop, count) * psi[i]
            if has_supervised:
                sup_a[i] = _neuron_signal(feedback, i, supervised, back_sup, backprop,
                                          count) * psi[i]
        if layer_norm == LN_DIAGONAL:  # d/dc through u = (c - m) / sd, m and sd held
            for i in range(first, end):
                signal_a[i] *= group_inv_sd[g]
                if has_supervised:
                    sup_a[i] *= group_inv_sd[g]
            count[T_LAYER_NORM_BACK_DIAGONAL] += (end - first) * (2 if has_supervised else 1)
        elif layer_norm == LN_FULL:
            _layer_norm_back(signal_a, u, first, end, group_inv_size[g], group_inv_sd[g])
            count[T_LAYER_NORM_BACK] += end - first
            count[T_LAYER_NORM_BACK_GROUP] += 1
            if has_supervised:
                _layer_norm_back(sup_a, u, first, end, group_inv_size[g],
                                 group_inv_sd[g])
                count[T_LAYER_NORM_BACK] += end - first
                count[T_LAYER_NORM_BACK_GROUP] += 1
        for i in range(first, end):
            sig = signal_a[i]
            sup = sup_a[i] if has_supervised else 0.0
            sup_lr = sup * lr
            for s in range(rec_ptr[i], rec_ptr[i + 1]):
                p = rec_pre[s]
                if backprop and group[p] < g:  # a synapse from the group below
                    back[p] += rec_w[s] * sig  # through the weight as it was before this step
                    count[T_BACKPROP] += 1
                    if has_supervised:
                        back_sup[p] += rec_w[s] * sup
                        count[T_BACKPROP] += 1
                if traces:
                    rec_z[s] = rho * rec_z[s] + sig * y[p]
                if has_supervised:
                    rec_w[s] = min(max(rec_w[s] + sup_lr * y[p], -clip), clip)
            for s in range(in_ptr[i], in_ptr[i + 1]):
                if traces:
                    in_z[s] = rho * in_z[s] + sig * x[in_pre[s]]
                if has_supervised:
                    in_w[s] = min(max(in_w[s] + sup_lr * x[in_pre[s]], -clip), clip)
    count[T_SIGNAL] += n
    if traces:
        count[T_TRACE] += rec_pre.size + in_pre.size
    if has_supervised:
        count[T_SUPERVISED] += rec_pre.size + in_pre.size
        count[T_SUPERVISED_SIGNAL] += n
    count[T_STEP_A] += 1


@njit(**KERNEL)
def _apply_td(delta, clip, rho, rec_ptr, rec_pre, rec_w, rec_z, in_ptr, in_pre, in_w, in_z,
              signal_a, y_a, x_a, count):
    """Phase B: every weight ``w += lr delta z``, clipped; without traces ``z`` is phase A's
    ``psi_i L_i y_p``, formed here from the kept per-neuron signal and outputs."""
    if rho > 0.0:
        for s in range(rec_w.size):
            rec_w[s] = min(max(rec_w[s] + delta * rec_z[s], -clip), clip)
        for s in range(in_w.size):
            in_w[s] = min(max(in_w[s] + delta * in_z[s], -clip), clip)
    else:
        for i in range(signal_a.size):
            c = delta * signal_a[i]
            for s in range(rec_ptr[i], rec_ptr[i + 1]):
                rec_w[s] = min(max(rec_w[s] + c * y_a[rec_pre[s]], -clip), clip)
            for s in range(in_ptr[i], in_ptr[i + 1]):
                in_w[s] = min(max(in_w[s] + c * x_a[in_pre[s]], -clip), clip)
        count[T_SIGNAL_B] += signal_a.size
    count[T_WEIGHT] += rec_w.size + in_w.size
    count[T_STEP_B] += 1


@njit(**KERNEL)
def _trace_norm(rho, rec_ptr, rec_pre, rec_z, in_ptr, in_pre, in_z, signal_a, y_a, x_a, count):
    """The L1 norm of every hidden and input synapse's trace ``z`` (without traces, of phase
    A's ``psi_i L_i y_p``, as ``|psi_i L_i| sum_p |y_p|`` per neuron): what the overshoot bound
    of the hidden step (``learning.hidden_bound_kappa``) scales by."""
    norm = 0.0
    if rho > 0.0:
        for s in range(rec_z.size):
            norm += abs(rec_z[s])
        for s in range(in_z.size):
            norm += abs(in_z[s])
        count[T_BOUND_SYNAPSE] += rec_z.size + in_z.size
    else:
        for i in range(signal_a.size):
            row = 0.0
            for s in range(rec_ptr[i], rec_ptr[i + 1]):
                row += abs(y_a[rec_pre[s]])
            for s in range(in_ptr[i], in_ptr[i + 1]):
                row += abs(x_a[in_pre[s]])
            norm += abs(signal_a[i]) * row
        count[T_BOUND_SYNAPSE] += rec_pre.size + in_pre.size
        count[T_BOUND_NEURON] += signal_a.size
    count[T_BOUND_STEP] += 1
    return norm


def twin_flops(count: np.ndarray, n_signals: int, rho: float) -> np.ndarray:
    """Flops by part (``accounting.PARTS``) for the twin's operation counts, priced with the
    same cost model as the asynchronous kernels."""
    flops = np.zeros(len(A.PARTS))
    flops[A.NEURONS] += count[T_DECAY] * (1 + 3) + count[T_DECAY_EXP] * (A.EXP + 2 + 3)
    flops[A.NEURONS] += count[T_OUTPUT] * (A.TANH + 2)           # y = tanh(c), psi = 1 - y**2
    flops[A.NEURONS] += count[T_OUTPUT_LEAKY] * 2                # the test and y = slope c
    # unit normalisation: per neuron 1 / sd (the epsilon, SQRT, DIV), standardise (2) and psi's
    # factor (1); while learning, the running mean (3) and variance (5), and per pass the
    # count, the rate's division and the max
    flops[A.NEURONS] += count[T_UNIT_NORM] * (1 + A.SQRT + A.DIV + 2 + 1)
    flops[A.NEURONS] += count[T_UNIT_NORM_STATS] * (3 + 5) + count[T_UNIT_NORM_PASS] * (
        2 + A.DIV)
    # layer norm (accounting.layer_norm_flops): per neuron and per group and pass
    flops[A.NEURONS] += (count[T_LAYER_NORM] * A.layer_norm_flops(1, 0)[0]
                         + count[T_LAYER_NORM_GROUP] * A.layer_norm_flops(0, 1)[0])
    flops[A.EVENTS] += (count[T_REC_SYNAPSE] + count[T_IN_SYNAPSE]) * 2
    flops[A.EVENTS] += count[T_DRIVE_REC] * 1 + count[T_DRIVE_IN] * 2  # + bias and input, + wy
    flops[A.EVENTS] += count[T_READOUT] * 2
    flops[A.EPROP] += count[T_SIGNAL] * (2 * n_signals + 1)
    flops[A.EPROP] += count[T_SIGNAL_B] * 1               # lr delta psi_i L_i, without traces
    flops[A.EPROP] += count[T_STEP_A] * n_signals  # is there a supervised error
    flops[A.EPROP] += count[T_SUPERVISED_SIGNAL] * (2 * n_signals + 2)
    flops[A.EPROP] += count[T_TRACE] * 3
    flops[A.EPROP] += count[T_SUPERVISED] * (2 + 2)
    flops[A.EPROP] += count[T_WEIGHT] * (2 + 2)
    flops[A.EPROP] += count[T_STEP_B] * 1
    # backprop through the groups: back_p += w * signal per synapse from the group below (the
    # group test is fixed wiring, not counted: a list of those synapses would need none), and
    # the neuron's signal + back_i
    flops[A.EPROP] += count[T_BACKPROP] * 2 + count[T_BACKPROP_SIGNAL] * 1
    # through a group's layer norm (accounting.layer_norm_flops): per neuron and group
    flops[A.EPROP] += (count[T_LAYER_NORM_BACK] * A.layer_norm_flops(1, 0)[1]
                       + count[T_LAYER_NORM_BACK_GROUP] * A.layer_norm_flops(0, 1)[1])
    flops[A.EPROP] += count[T_LAYER_NORM_BACK_DIAGONAL] * A.MUL
    # the hidden step's overshoot bound: |z| and its sum per synapse, per neuron its |signal|
    # times the row's sum and the add; per step |delta|, the max, three products, the test
    # and the division
    flops[A.STEP_SIZE] += (count[T_BOUND_SYNAPSE] * 2 + count[T_BOUND_NEURON] * 3
                           + count[T_BOUND_STEP] * (6 + A.DIV))
    return flops


class SyncNetwork:
    """The synchronous twin of ``AsyncNetwork`` with the same initial state for the same rng.

    ``readout_value`` is current where the learner reads it (after a teacher's or the mean
    regulariser's change of the actor it is recomputed at the next decision)."""

    def __init__(self, config: NetworkConfig, n_readouts: int, n_signals: int,
                 rng: np.random.Generator) -> None:
        self.config = config.validate()
        n, m = config.n_hidden, config.n_channels
        self.n_hidden, self.n_channels = n, m
        conn = build_connectivity(config, rng)
        self.n_synapses = conn.n_synapses
        self.bias, self.inv_tau = draw_neurons(config, rng)
        # incoming synapses per neuron, recurrent and input apart (post-major, contiguous)
        by_post = np.lexsort((conn.pre, conn.post))
        recurrent = conn.pre[by_post] < n
        self._rec = by_post[recurrent]
        self._inp = by_post[~recurrent]
        self.rec_pre = conn.pre[self._rec].astype(np.int64)
        self.in_pre = (conn.pre[self._inp] - n).astype(np.int64)
        self.rec_ptr = _row_pointer(conn.post[self._rec], n)
        self.in_ptr = _row_pointer(conn.post[self._inp], n)
        self.rec_w = conn.weight[self._rec].copy()
        self.in_w = conn.weight[self._inp].copy()
        self.rec_z = np.zeros(self.rec_w.size)
        self.in_z = np.zeros(self.in_w.size)
        self.cell = self.bias.copy()
        bounds = config.layer_bounds()
        self.group_ptr = np.array([first for first, _ in bounds] + [bounds[-1][1]], np.int64)
        self.group_inv_size = 1.0 / np.diff(self.group_ptr)  # fixed wiring: once, here
        self.group_inv_sd = np.ones(len(bounds))
        self.u = self.cell.copy()  # the activations' arguments (standardised with a norm)
        self.y, self.psi = np.zeros(n), np.ones(n)
        self.count = np.zeros(N_TWIN_COUNTS, np.int64)
        _activate(self.u, self.psi, self.y, self.group_ptr, self.group_inv_size,
                  self.group_inv_sd,
                  config.layer_norm, config.activation == "leaky_relu", self.count.copy())
        self.x = np.zeros(m)
        self.bux = np.zeros(n)  # bias plus input drive
        self.signal_a = np.zeros(n)  # without traces: phase A's psi_i L_i and outputs
        self.y_a = np.zeros(n)
        self.x_a = np.zeros(m)
        self.wy = np.zeros(n)
        self.drive = np.zeros(n)
        ticks = np.arange(1, DECAY_TICKS + 1)
        self.decay_table = np.exp(-ticks[None, :] * self.inv_tau[:, None])
        self.n_read = n + m if config.readout_inputs else n
        self.readout = np.zeros((n_readouts, self.n_read + 1), np.float64)
        self.readout_value = np.zeros(n_readouts, np.float64)
        self.n_signals = n_signals
        self.feedback = np.zeros((n, n_signals), np.float64)
        self.origin_s: float | None = None
        self._now = 0
        self._active = False
        self._lr = 0.0
        self._clip = 4.0
        self._rho = 0.0
        self._no_signal = np.zeros(n_signals)
        self._weights_moved = False  # since the input drive was last computed
        # the kernels' compiled entry points for these arrays (changed in place only)
        # network.unit_norm_steps: each cell's running mean and variance, passes so far
        self.norm_mean = np.zeros(n)
        self.norm_var = np.ones(n)
        self.norm_passes = np.zeros(1, np.int64)
        self.set_units(config.unit_norm_steps, config.activation, config.layer_norm,
                       config.feedforward, config.layer_norm_gradient)
        self._advance_entry = entry_for(_advance_neurons, 0, *self._advance_args)
        self._feedforward_entry = entry_for(_feedforward_pass, *self._feedforward_args)
        # only the first group reads inputs (``network.layers``): the input drive of the
        # neurons above stays their bias (set by ``refresh``), so it is never recomputed
        k_in = self.n_input_neurons = config.layer_bounds()[0][1]
        self._input_args = (self.x, self.bias[:k_in], self.bux[:k_in], self.wy[:k_in],
                            self.drive[:k_in], self.in_ptr[:k_in + 1], self.in_pre, self.in_w,
                            self.count)
        events = (types.Array(types.int32, 1, "A"), types.Array(types.float64, 1, "A"))
        self._take_entry = compiled_entry(_take_inputs, events + tuple(
            typeof(a) for a in self._input_args))
        self._readouts_entry = entry_for(_readouts, self.readout, self.y, self.x, self.n_read,
                                         self.readout_value, 0, 0, self.count)
        self.group = np.zeros(n, np.int64)
        for g, (first, end) in enumerate(config.layer_bounds()):
            self.group[first:end] = g
        self._back = np.zeros(n)
        self._back_sup = np.zeros(n)
        self._sup_a = np.zeros(n)
        self.backprop = False
        self.bound_kappa = 0.0  # learning.hidden_bound_kappa (0: no bound)
        self._begin_args = (self.feedback, self.psi, self.y, self.x, self.rec_ptr, self.rec_pre,
                            self.rec_w, self.rec_z, self.in_ptr, self.in_pre, self.in_w,
                            self.in_z, self.signal_a, self.y_a, self.x_a, self.group,
                            self._back, self._back_sup, self._sup_a, self.u, self.group_ptr,
                            self.group_inv_size, self.group_inv_sd)
        self._begin_entry = entry_for(_begin_step, self._no_signal, self._no_signal, 0.0, 0.0,
                                      0.0, False, *self._begin_args, LN_OFF, self.count)
        self._td_args = (self.rec_ptr, self.rec_pre, self.rec_w, self.rec_z, self.in_ptr,
                         self.in_pre, self.in_w, self.in_z, self.signal_a, self.y_a, self.x_a,
                         self.count)
        self._td_entry = entry_for(_apply_td, 0.0, 0.0, 0.0, *self._td_args)
        self._norm_args = (self.rec_ptr, self.rec_pre, self.rec_z, self.in_ptr, self.in_pre,
                           self.in_z, self.signal_a, self.y_a, self.x_a, self.count)
        self._norm_entry = entry_for(_trace_norm, 0.0, *self._norm_args)
        self.refresh()

    # -- configuration (the subset of AsyncNetwork's that means something here) ---------------

    def set_learning(self, lr: float, weight_clip: float, active: bool | None = None,
                     td_trace_decay: float = 0.0, max_lag_steps: int = 0) -> None:
        """As ``AsyncNetwork.set_learning``; ``max_lag_steps`` means nothing here (every
        weight's change is in the drives at the next pass)."""
        if active is not None and bool(active) != self._active:
            self._active = bool(active)
            self.reset_traces()
        self._lr, self._clip, self._rho = lr, weight_clip, td_trace_decay
        self._build_advance_args()

    @property
    def learning_active(self) -> bool:
        return self._active

    def set_units(self, steps: float, activation: str, layer_norm: bool = False,
                  feedforward: bool = False, layer_norm_gradient: str = "full") -> None:
        """``network.unit_norm_steps`` (0: off), ``network.activation``,
        ``network.layer_norm`` (its gradient ``network.layer_norm_gradient``) and
        ``network.feedforward``, from the next pass on; the statistics carry on where they
        are."""
        self._unit_norm_steps, self._activation = steps, activation
        self.layer_norm = bool(layer_norm)
        self._layer_norm_mode = (LN_OFF if not layer_norm else
                                 LN_DIAGONAL if layer_norm_gradient == "diagonal" else LN_FULL)
        self.feedforward = bool(feedforward)
        self._build_advance_args()

    def _build_advance_args(self) -> None:
        """The arguments of the neuron pass (they hold the unit settings and whether learning is
        on, which the normalisation's statistics follow)."""
        floor = 1.0 / self._unit_norm_steps if self._unit_norm_steps > 0.0 else 0.0
        leaky = self._activation == "leaky_relu"
        self._advance_args = (self.cell, self.drive, self.decay_table, self.inv_tau, self.y,
                              self.psi, self.bux, self.rec_ptr, self.rec_pre, self.rec_w,
                              self.wy, floor, self._active, self.norm_mean, self.norm_var,
                              self.norm_passes, leaky, self.u,
                              self.group_ptr, self.group_inv_size, self.group_inv_sd,
                              self.layer_norm, self.count)
        self._feedforward_args = (self.cell, self.drive, self.y, self.psi, self.bux,
                                  self.rec_ptr, self.rec_pre, self.rec_w, self.wy, leaky, self.u,
                                  self.group_ptr, self.group_inv_size, self.group_inv_sd,
                                  self.layer_norm, self.count)

    def clip_weights(self, limit: float) -> None:
        for w in (self.rec_w, self.in_w):
            np.clip(w, -limit, limit, out=w)
        self.refresh()

    def set_threshold(self, threshold: float) -> None:
        """The twin has no thresholds: every output is exact."""

    # -- time and running ---------------------------------------------------------------------

    def tick_of(self, time_s: np.ndarray | float) -> np.ndarray | int:
        origin = self.origin_s if self.origin_s is not None else 0.0
        if isinstance(time_s, float):  # a float64 scalar: the same arithmetic, without arrays
            return math.floor((time_s - origin) / self.config.tick_s + 0.5)
        return np.floor((np.asarray(time_s) - origin) / self.config.tick_s + 0.5).astype(np.int64)

    @property
    def now_tick(self) -> int:
        return self._now

    def process_ticks(self, ev_tick: np.ndarray, ev_channel: np.ndarray,
                      ev_value: np.ndarray, k_end: int, update_follows: bool = False,
                      actor_only: bool = False) -> None:
        """The same contract as ``AsyncNetwork.process_ticks``, for events of one tick: advance
        to the events' tick, take the new inputs, advance to ``k_end``, read out: every readout,
        where a TD update follows only the critic (the rest after it, ``read_after_update``),
        or, ``actor_only`` (a sample between decisions), the actor's. With ``feedforward``
        the inputs are taken at once and one pass computes every group from them (nothing
        advances in time: the cells are memoryless)."""
        k = int(ev_tick[0]) if ev_tick.size else k_end
        if not self.feedforward:
            self._advance_to(k)
        if ev_channel.size or self._weights_moved:
            if ev_channel.dtype == np.int32 and ev_value.dtype == np.float64:
                self._take_entry(ev_channel, ev_value, *self._input_args)
            else:  # other dtypes: typed by the dispatcher
                _take_inputs(ev_channel, ev_value, *self._input_args)
            self._weights_moved = False
        if self.feedforward:
            self._feedforward_entry(*self._feedforward_args)
            self._now = max(self._now, k_end)
        else:
            self._advance_to(k_end)
        self._readouts_entry(self.readout, self.y, self.x, self.n_read, self.readout_value,
                             1 if actor_only else 0,
                             1 if update_follows else self.readout.shape[0], self.count)

    def read_after_update(self) -> None:
        """The readouts again, with the weights after this step's TD update (the critic for
        the next TD error, the actor for the action): cheaper than keeping the values current
        through every weight's update."""
        self._readouts_entry(self.readout, self.y, self.x, self.n_read, self.readout_value, 0,
                             self.readout.shape[0], self.count)

    def _advance_to(self, k: int) -> None:
        if k > self._now:
            self._advance_entry(k - self._now, *self._advance_args)
            self._now = k

    # -- learning -----------------------------------------------------------------------------

    def begin_learning_step(self, gradient: np.ndarray,
                            supervised: np.ndarray | None = None) -> None:
        if self._active:
            self._weights_moved |= supervised is not None
            self._begin_entry(gradient, self._no_signal if supervised is None else supervised,
                              float(self._rho), float(self._lr), float(self._clip),
                              bool(self.backprop), *self._begin_args, self._layer_norm_mode,
                              self.count)

    def apply_td_error(self, delta: float) -> None:
        """Phase B: ``w += lr delta z``; with ``bound_kappa`` the step size is bounded against
        overshoot as ObGD bounds stream AC's, ``lr / max(1, lr kappa max(|delta|, 1) |z|_1)``
        over every hidden and input synapse's trace."""
        if self._active:
            self._weights_moved = True
            lr = self._lr
            if self.bound_kappa > 0.0:
                norm = self._norm_entry(float(self._rho), *self._norm_args)
                bound = lr * self.bound_kappa * max(abs(delta), 1.0) * norm
                if bound > 1.0:
                    lr /= bound
            self._td_entry(float(lr * delta), float(self._clip), float(self._rho),
                           *self._td_args)

    def reset_traces(self) -> None:
        self.rec_z[:] = 0.0
        self.in_z[:] = 0.0

    def settle_readouts(self) -> None:
        """Eager: every readout weight is always up to date."""

    def set_readouts(self, first: int, weights: np.ndarray) -> None:
        """Replace the weights of readouts ``first..`` (and so their values, from the features
        now)."""
        self.readout[first:] = weights
        self.readout_value[first:] = weights @ self.features()

    def scale_readouts(self, first: int, factor: float) -> None:
        """Multiply the weights of readouts ``first..`` by ``factor`` (and so their values)."""
        self.readout[first:] *= factor
        self.readout_value[first:] *= factor

    def set_feedback(self, feedback: np.ndarray) -> None:
        """Replace the e-prop feedback weights B (N x n_signals) between learning steps."""
        self.feedback[:] = feedback

    def settle_learning(self) -> None:
        """Eager: nothing is ever pending."""

    def refresh(self) -> None:
        """Recompute the drives and readouts from the current weights (set-up work: not
        counted)."""
        uncounted = np.zeros_like(self.count)
        self.wy[:] = 0.0
        np.add.at(self.wy, _rows(self.rec_ptr), self.rec_w * self.y[self.rec_pre])
        _input_drive(self.x, self.bias, self.bux, self.wy, self.drive, self.in_ptr, self.in_pre,
                     self.in_w, uncounted)
        _readouts(self.readout, self.y, self.x, self.n_read, self.readout_value, 0,
                  self.readout.shape[0], uncounted)

    def flops_by_part(self) -> np.ndarray:
        return twin_flops(self.count, self.n_signals, self._rho)

    # -- views --------------------------------------------------------------------------------

    @property
    def hidden_output(self) -> np.ndarray:
        return self.y

    @property
    def input_value(self) -> np.ndarray:
        return self.x

    def features(self) -> np.ndarray:
        """Readout input: ``[y; x; 1]``, or ``[y; 1]`` without ``readout_inputs``."""
        return np.concatenate([self.y, self.x[: self.n_read - self.n_hidden], [1.0]])

    def weights_in_async_order(self) -> np.ndarray:
        """Every weight, in the asynchronous network's synapse order (for comparisons)."""
        out = np.empty(self.n_synapses, np.float32)
        out[self._rec] = self.rec_w
        out[self._inp] = self.in_w
        return out

    STATE_FIELDS = ("rec_w", "in_w", "rec_z", "in_z", "cell", "y", "psi", "x", "bux", "wy",
                    "drive", "readout", "feedback", "signal_a", "y_a", "x_a", "count",
                    "norm_mean", "norm_var", "norm_passes", "u", "group_inv_sd")

    def state(self) -> dict[str, np.ndarray]:
        """Every array, by name (for comparisons; the twin has no checkpoints)."""
        state = {f"twin.{name}": getattr(self, name) for name in self.STATE_FIELDS}
        state["twin.now"] = np.array([self._now], np.int64)
        state["twin.backprop"] = np.array([self.backprop])
        state["twin.bound_kappa"] = np.array([self.bound_kappa])
        state["twin.layer_norm"] = np.array([self.layer_norm])
        state["twin.feedforward"] = np.array([self.feedforward])
        return state


def _row_pointer(rows: np.ndarray, n_rows: int) -> np.ndarray:
    ptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=ptr[1:])
    return ptr


def _rows(ptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
