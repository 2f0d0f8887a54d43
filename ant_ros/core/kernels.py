"""Numba kernels of the asynchronous network: lazy neuron updates, scheduled threshold crossings,
event delivery and lazily settled e-prop learning.

Time is counted in integer ticks. A neuron's cell state ``c`` relaxes towards its drive ``a`` in
closed form, ``c(k) = a + (c(k0) - a) * exp(-(k - k0) / tau)``, and is only computed when
something touches the neuron. Because ``c`` moves monotonically towards ``a`` between events, the
first tick at which the output has moved by the threshold is known in closed form; the neuron is
filed under that tick in a timing wheel, so idle neurons cost nothing and there is no per-tick
loop over the network.

State is packed into a few arrays (row constants below) so that one kernel call passes few
arguments: numba's per-argument dispatch cost would otherwise dominate a sparse tick.

Presynaptic units are hidden neurons ``0..N-1`` followed by input channels ``N..N+M-1``;
``unit[OUT]`` is each unit's output as last sent (``yhat`` for neurons, the reconstructed input
``xhat`` for channels).

Learning (e-prop with TD(lambda) eligibility traces; derivation in ``docs/eprop.md``). Learning
steps ``u`` have two phases. Phase A (``begin_learning_step``), once the network has processed
the step's observation: the readouts' gradients ``h_r(u)`` (and an optional supervised error
``g_r(u)``) are known. Phase B (``apply_td_error``), after the next observation: the TD error
``delta(u)`` is known. For synapse ``p -> i`` with eligibility ``e(u) = psi_i(u) * yhat_p(u)``
(``psi_i = 1 - yhat_i**2``, both as they were at phase A of ``u``) and per-neuron signal
``L_i(u) = sum_r B[i, r] h_r(u)``:

    z(u) = rho * z(u - 1) + e(u) * L_i(u)                        (phase A)
    w   += lr * delta(u) * z(u)                                  (phase B)
    w   += lr * e(u) * sum_r B[i, r] g_r(u)                       (phase A, supervised)

with ``rho = gamma * lambda`` (0: no trace, each TD error meets its own step's eligibility).

Settlement (derivation in ``docs/eprop.md``). ``psi_i`` is constant between events of ``i`` and
``yhat_p`` between events of ``p``. Each neuron keeps ``H_i``, its learning signals filtered
with its own pseudo-derivative inside (``H_i <- rho H_i + psi_i L_i`` at phase A), and ``W_i``,
what the errors met of them (``W_i += lr delta H_i`` at phase B, ``+= lr psi_i B[i] . g`` at a
supervised phase A); both follow in closed form from the neuron's snapshot (at its last event)
and global running sums ``F_r = rho F_r + h_r`` and ``Q_r = sum lr (delta F_r + g_r)``
(``neuron_signal``), with one decayed TD sum per unit (``unit_factors``). Then for synapse
``p -> i`` with ``yhat_p`` constant since ``p``'s snapshot, ``z = yhat_p H_i`` plus the
snapshot's remainder decayed, and ``dw = yhat_p dW_i`` plus that remainder times the TD sum: a
synapse needs settling only when its presynaptic unit changes (``settle_out_synapses``); a
neuron's own event only snapshots its sums. A synapse keeps its trace and ``H_i``, ``W_i`` at its
last settlement. The phase clock ``CLOCK`` is ``2u`` after phase A of ``u`` and ``2u + 1``
after its phase B; a unit snapshotted between them waits in a pending list for ``delta(u)``.
The weights a drive holds lag the learned ones until the presynaptic unit's next event, the
round-robin sweep of units not settled for ``max_age`` steps (``settle_stale``), or a settlement
of every synapse (checkpoints, switching learning off).
"""

from __future__ import annotations

import math

from numba import njit

from . import event_readout as er
from .jit import INLINE, KERNEL

NEVER = -1
_EARLY = 1e-7  # crossing times are rounded down by this much; a check that fails is retried

# neuron float state columns (N, cols): the state first; SIG_H, SIG_W, SIG_FB, SIG_QB: the
# neuron's e-prop sums H_i and W_i and the projections B[i] . F and B[i] . Q now (at
# ni[SIG_VERSION]); H_SNAP_I, W_SNAP_I, F_SNAP_I, Q_SNAP_I: the same at the neuron's snapshot;
# from DECAY on, the decay over 1..DECAY_TICKS ticks, exp(-dt * INV_TAU), derived (``refresh``
# recomputes it), so that most lazy updates look a factor up instead of calling exp
# GROUP_S1, GROUP_S2, GROUP_MEAN, GROUP_INV_SD, GROUP_INV_K, in the row of a group's first
# neuron: the sums of the group's cells and of their squares, its mean and 1 / sd as its
# outputs were last computed with, and 1 / its size, set at start (``network.layer_norm``;
# LOW and HIGH then bound u = (c - mean) / sd);
(CELL, DRIVE, THETA, INV_TAU, BIAS, LOW, HIGH, SIG_H, SIG_W, SIG_FB, SIG_QB, H_SNAP_I, W_SNAP_I,
 F_SNAP_I, Q_SNAP_I, GROUP_S1, GROUP_S2, GROUP_MEAN, GROUP_INV_SD, GROUP_INV_K,
 DECAY) = range(21)
DECAY_TICKS = 16
NEURON_F_COLS = DECAY + DECAY_TICKS
# neuron int state columns (N, cols)
# (GROUP_FIRST, GROUP_END: the neuron's group, ``network.layers``; BUCKET_N, in the row of a
# group's first neuron: how many of the group are touched in this tick, ``network.feedforward``)
(T_LAST, LAST_EMIT, NEXT_TICK, LINK_NEXT, LINK_PREV, LINK_SLOT, DIRTY, IS_DIRTY, SIG_VERSION,
 GROUP_FIRST, GROUP_END, BUCKET_N) = range(12)
NEURON_I_COLS = 12
# unit float rows (rows, N + M): output as sent; the TD sum carried for the unit's synapses and
# the global TD sum P at its snapshot; the cached decayed TD sum and trace decay (at U_VERSION);
# a neuron's pseudo-derivative 1 - yhat**2
OUT, CARRY, P_SNAP, U_TD, U_DECAY, PSI = range(6)
UNIT_F_ROWS = 6
# unit int rows (rows, N + M): phase clock and episode of the unit's last snapshot, version
# of the cached factors, phase clock at which it joined the pending list; PENDING: the list
SNAP_CLOCK, SNAP_EPISODE, U_VERSION, PENDING_CLOCK, PENDING = range(5)
UNIT_I_ROWS = 5
# synapse int rows (rows, S); synapses are sorted by presynaptic unit, so the synapses leaving
# unit p are the contiguous range ptr[OUT_PTR, p] .. ptr[OUT_PTR, p + 1]
PRE, POST, IN_SYN = range(3)
# index pointer rows (2, N + M + 1): synapses leaving each unit, entering each neuron
OUT_PTR, IN_PTR = range(2)
# synapse float rows (rows, S): eligibility trace and the post neuron's sums H_i and W_i at the
# last settlement
TRACE, H_SNAP, W_SNAP = range(3)
SYN_F_ROWS = 3
# global learning sums (rows, n_signals): filtered gradients F, accumulated signal Q
SUM_F, SUM_Q = range(2)
SUM_ROWS = 2
# global floats: P = sum lr * delta(u) * rho**(u - BASE), then rho**n and rho**-n for n in
# [0, POWERS): the decays over integer step intervals are looked up, not computed
POWERS = 1024
G_P, G_POW, G_NEG = 0, 1, 1 + POWERS
GLOB_SIZE = 1 + 2 * POWERS
# misc int64 entries
# (VERSION changes whenever a learning sum does: the per-neuron and per-unit caches key on it)
# (FEEDFORWARD: ``network.feedforward``, memoryless cells and each tick's changes passed up
# through the groups within the tick; FF_WAITING: how many neurons wait in their groups'
# buckets for the next tick, put there by ``refresh`` or ``replace_feedback``; LEAKY:
# ``network.activation`` leaky_relu in place of tanh; BACKPROP: ``eprop_feedback: backprop``,
# each neuron's feedback through the groups above, ``refresh_rows``; LAYER_NORM:
# ``network.layer_norm`` in the delta network, ``ff_group_normed``; LN_FULL: its gradient in
# full, ``refresh_rows``)
(STEP, CLOCK, BASE, EPISODE, VERSION, N_PENDING, ACTIVE, NOW, NEAR, FAR_MIN,
 SWEEP_POS, FEEDFORWARD, FF_WAITING, LEAKY, BACKPROP, LAYER_NORM, LN_FULL) = range(17)
MISC_SIZE = 17
# layer norm's full gradient (``ln_rows``, rows of N x n_signals): each neuron's share of its
# group's sums, f'(u) B and u f'(u) B, as of its last refresh, and, in the row of a group's
# first neuron, the group's sums of them
LN_C1, LN_C2, LN_G1, LN_G2 = range(4)
LN_ROWS = 4
LN_EPS = 1e-5  # in the variance, as the twin's and stream AC's layer norm
# learn_params entries
(LP_LR, LP_WCLIP, LP_HOMEO, LP_RATE, LP_THMIN, LP_THMAX, LP_RHO, LP_LOG_RHO,
 LP_REBASE) = range(9)
N_LEARN_PARAMS = 9
# operation counters (int64), priced by ``accounting.py``
(C_INPUT_EVENT, C_HIDDEN_EVENT, C_DELIVER, C_READOUT_DELIVER, C_DECAY_TABLE, C_DECAY_EXP,
 C_SCHEDULE, C_CROSSING_SOLVE, C_WHEEL_OP, C_WHEEL_SCAN, C_HOMEOSTASIS, C_SETTLE, C_SETTLE_TRACE,
 C_WEIGHT_MOVE, C_NEURON_SIGNAL, C_UNIT_FACTORS, C_UNIT_TD, C_POWER_EXP, C_PENDING, C_SWEEP_UNIT,
 C_STEP_A, C_STEP_B, C_RO_SETTLE, C_RO_MOVE, C_RO_PENDING, C_NEURON_TOUCH,
 C_SETTLE_SKIP, C_RO_FEATURE, C_RO_FEATURE_SKIP, C_RO_SWEEP, C_SETTLE_UNIT,
 C_NEURON_SNAPSHOT, C_STALE_VISIT, C_FF_NEURON, C_FF_PUSH, C_FF_GROUP,
 C_HIDDEN_EVENT_LEAKY, C_BACKPROP_NEURON, C_BACKPROP_SYNAPSE, C_LN_CELL, C_LN_GROUP,
 C_LN_TEST, C_LN_PSI, C_LN_ROW, C_LN_SCAN) = range(45)
N_COUNTS = 45


def hidden_events(count) -> float:
    """Hidden-neuron events in operation counts ``count`` (tanh and leaky ReLU units)."""
    return float(count[C_HIDDEN_EVENT] + count[C_HIDDEN_EVENT_LEAKY])


WHEEL_SLOTS = 4096  # power of two; crossings further ahead wait in the far list (slot WHEEL_SLOTS)
_MASK = WHEEL_SLOTS - 1
_FAR = WHEEL_SLOTS
_NO_FAR = 2 ** 62


# -- activation ------------------------------------------------------------------------------
# libm's tanh and atanh cost three to five times an exp or a log here; these forms are exact to
# a few units of 1e-16 in absolute terms, which is what outputs and thresholds are compared in.

@njit(**INLINE)
def tanh(c):
    return 1.0 - 2.0 / (math.exp(2.0 * c) + 1.0)


@njit(**INLINE)
def atanh(y):
    """For -1 < y < 1."""
    return 0.5 * math.log((1.0 + y) / (1.0 - y))


# -- crossing times --------------------------------------------------------------------------

LEAK = 0.01  # the negative slope of ``network.activation: leaky_relu`` (the twin's too)
_INV_LEAK = 1.0 / LEAK


@njit(**INLINE)
def activate(c, leaky):
    """A neuron's output of its cell: ``tanh``, or with ``leaky`` ``max(c, LEAK c)``."""
    if leaky:
        return c if c > 0.0 else LEAK * c
    return tanh(c)


@njit(**INLINE)
def pseudo_derivative(y, leaky):
    """``dy / dc`` at the output y: ``1 - y**2``, or with ``leaky`` 1 or LEAK."""
    if leaky:
        return 1.0 if y > 0.0 else LEAK
    return 1.0 - y * y


@njit(**INLINE)
def cell_bounds(yhat, theta, leaky):
    """Cell states at which the output has moved by theta from yhat: (lower, upper)."""
    up = yhat + theta
    dn = yhat - theta
    if leaky:  # the inverse of max(c, LEAK c), piecewise linear
        return (dn if dn > 0.0 else dn * _INV_LEAK), (up if up > 0.0 else up * _INV_LEAK)
    c_up = atanh(up) if up < 1.0 else math.inf
    c_dn = atanh(dn) if dn > -1.0 else -math.inf
    return c_dn, c_up


@njit(**INLINE)
def crossing_tick(c, a, c_dn, c_up, inv_tau, k_now, k_min, count):
    """First tick >= k_min at which c(t) leaves (c_dn, c_up), or NEVER.

    ``c`` is the cell state at ``k_now``; the drive ``a`` is constant from then on. Working in
    cell space needs one logarithm per call; the bounds change only at the neuron's own events.
    """
    count[C_SCHEDULE] += 1
    if c >= c_up or c <= c_dn:
        return max(k_now, k_min)
    if a > c:
        if a <= c_up:
            return NEVER
        ratio = (c - a) / (c_up - a)
    elif a < c:
        if a >= c_dn:
            return NEVER
        ratio = (c - a) / (c_dn - a)
    else:
        return NEVER
    if ratio <= 1.0:
        return max(k_now, k_min)
    count[C_CROSSING_SOLVE] += 1
    k = k_now + int(math.ceil(math.log(ratio) / inv_tau - _EARLY))
    return max(k, k_min)


# -- timing wheel: one doubly linked list of neurons per tick slot -----------------------------

@njit(**INLINE)
def wheel_remove(i, ni, wheel, misc, count):
    slot = ni[i, LINK_SLOT]
    if slot < 0:
        return
    count[C_WHEEL_OP] += 1
    nxt = ni[i, LINK_NEXT]
    prv = ni[i, LINK_PREV]
    if prv >= 0:
        ni[prv, LINK_NEXT] = nxt
    else:
        wheel[slot] = nxt
    if nxt >= 0:
        ni[nxt, LINK_PREV] = prv
    ni[i, LINK_SLOT] = -1
    if slot != _FAR:
        misc[NEAR] -= 1


@njit(**INLINE)
def wheel_insert(i, k, ni, wheel, misc, count):
    count[C_WHEEL_OP] += 1
    if k - misc[NOW] < WHEEL_SLOTS:
        slot = k & _MASK
        misc[NEAR] += 1
    else:
        slot = _FAR
        if k < misc[FAR_MIN]:
            misc[FAR_MIN] = k
    head = wheel[slot]
    ni[i, LINK_NEXT] = head
    ni[i, LINK_PREV] = -1
    if head >= 0:
        ni[head, LINK_PREV] = i
    wheel[slot] = i
    ni[i, LINK_SLOT] = slot


@njit(**KERNEL)
def wheel_migrate(ni, wheel, misc, count):
    """Move far crossings that have come within the wheel's window into their slots."""
    i = wheel[_FAR]
    far_min = _NO_FAR
    while i >= 0:
        nxt = ni[i, LINK_NEXT]
        k = ni[i, NEXT_TICK]
        count[C_WHEEL_SCAN] += 1
        if k - misc[NOW] < WHEEL_SLOTS:
            wheel_remove(i, ni, wheel, misc, count)
            wheel_insert(i, k, ni, wheel, misc, count)
        elif k < far_min:
            far_min = k
        i = nxt
    misc[FAR_MIN] = far_min


@njit(**INLINE)
def next_crossing(limit, ni, wheel, misc, count):
    """Earliest tick in (NOW, limit] with a scheduled crossing, or limit + 1."""
    if misc[FAR_MIN] - misc[NOW] < WHEEL_SLOTS:
        wheel_migrate(ni, wheel, misc, count)
    if misc[NEAR] == 0:
        return limit + 1
    stop = min(limit, misc[NOW] + WHEEL_SLOTS - 1)
    for k in range(misc[NOW] + 1, stop + 1):
        count[C_WHEEL_SCAN] += 1
        if wheel[k & _MASK] >= 0:
            return k
    return limit + 1


@njit(**INLINE)
def schedule(i, k_now, k_min, nf, ni, wheel, misc, count):
    """(Re)file neuron i under its next crossing; its cell must be settled to ``k_now``."""
    k = crossing_tick(nf[i, CELL], nf[i, DRIVE], nf[i, LOW], nf[i, HIGH], nf[i, INV_TAU],
                      k_now, k_min, count)
    if k == ni[i, NEXT_TICK]:
        return
    wheel_remove(i, ni, wheel, misc, count)
    ni[i, NEXT_TICK] = k
    if k != NEVER:
        wheel_insert(i, k, ni, wheel, misc, count)


# -- neurons -----------------------------------------------------------------------------------

@njit(**KERNEL)
def fill_decay_table(i, nf):
    """Neuron i's decay factors over 1..DECAY_TICKS ticks, from its time constant."""
    for dt in range(1, DECAY_TICKS + 1):
        nf[i, DECAY + dt - 1] = math.exp(-dt * nf[i, INV_TAU])


@njit(**INLINE)
def settle_neuron(i, k, nf, ni, count):
    """Advance neuron i's cell state to tick k in closed form (the decay factor is looked up for
    up to DECAY_TICKS ticks: the same numbers exp gives)."""
    dt = k - ni[i, T_LAST]
    if dt > 0:
        a = nf[i, DRIVE]
        if dt <= DECAY_TICKS:
            factor = nf[i, DECAY + dt - 1]
            count[C_DECAY_TABLE] += 1
        else:
            factor = math.exp(-dt * nf[i, INV_TAU])
            count[C_DECAY_EXP] += 1
        nf[i, CELL] = a + (nf[i, CELL] - a) * factor
        ni[i, T_LAST] = k
    else:
        count[C_NEURON_TOUCH] += 1  # settled already: the interval's test only




@njit(**INLINE)
def mark_dirty(i, ni, n_dirty):
    if ni[i, IS_DIRTY] == 0:
        ni[i, IS_DIRTY] = 1
        ni[n_dirty, DIRTY] = i
        n_dirty += 1
    return n_dirty


# -- feed-forward ticks: touched neurons in a bucket per group ---------------------------------
# With ``network.feedforward`` a synapse between neurons runs from a group to the one above only
# (the inputs reach the first group), so taking the touched neurons group by group, bottom-up,
# computes each after every neuron that can reach it in this tick. Group g's bucket is the DIRTY
# column over the group's own rows (it holds at most the group), its size in the BUCKET_N of the
# group's first row; IS_DIRTY marks the members, so a neuron is in it once.

@njit(**INLINE)
def bucket_push(i, ni, n_dirty, count):
    """Put neuron i in its group's bucket (if it is not there); returns the touched count."""
    if ni[i, IS_DIRTY] != 0:
        return n_dirty
    ni[i, IS_DIRTY] = 1
    first = ni[i, GROUP_FIRST]
    ni[first + ni[first, BUCKET_N], DIRTY] = i
    ni[first, BUCKET_N] += 1
    count[C_FF_PUSH] += 1
    return n_dirty + 1


@njit(**INLINE)
def resettle(i, k, nf, ni, wheel, misc, count):
    """After neuron i's drive or bounds changed outside a tick: settle its cell and reschedule
    its crossing; a memoryless cell (``FEEDFORWARD``) becomes its drive and, out of its bounds,
    waits in its bucket to be taken at the next tick processed."""
    if misc[FEEDFORWARD] != 0:
        if misc[LAYER_NORM] != 0:  # its cell moves with its group's sums: it waits, and the
            misc[FF_WAITING] = bucket_push(i, ni, misc[FF_WAITING], count)  # group is tested
            return
        nf[i, CELL] = nf[i, DRIVE]
        ni[i, T_LAST] = k
        if nf[i, CELL] >= nf[i, HIGH] or nf[i, CELL] <= nf[i, LOW]:
            misc[FF_WAITING] = bucket_push(i, ni, misc[FF_WAITING], count)
    else:
        settle_neuron(i, k, nf, ni, count)
        schedule(i, k, k + 1, nf, ni, wheel, misc, count)


@njit(**INLINE)
def homeostasis(i, k, nf, ni, learn_params, count):
    """Raise the threshold of a neuron firing faster than the target rate, else lower it."""
    rate = learn_params[LP_HOMEO]
    if rate > 0.0 and ni[i, LAST_EMIT] != NEVER:
        interval = k - ni[i, LAST_EMIT]
        th = nf[i, THETA] * math.exp(rate * (1.0 - learn_params[LP_RATE] * interval))
        nf[i, THETA] = min(max(th, learn_params[LP_THMIN]), learn_params[LP_THMAX])
        count[C_HOMEOSTASIS] += 1
    ni[i, LAST_EMIT] = k


# -- lazy e-prop -------------------------------------------------------------------------------

@njit(**INLINE)
def rho_power(n, glob, learn_params, count):
    """rho**n for an integer n (0**0 = 1): looked up below POWERS, else computed."""
    if n >= 0 and n < POWERS:
        return glob[G_POW + n]
    if -n < POWERS and n < 0:
        return glob[G_NEG - n]
    if learn_params[LP_RHO] == 0.0:
        return 0.0
    count[C_POWER_EXP] += 1
    return math.exp(learn_params[LP_LOG_RHO] * n)


@njit(**INLINE)
def unit_factors(p, unit, uint, misc, count, glob, learn_params):
    """For unit p's snapshot, computed once per version of the sums: the TD errors met since,
    each decayed by rho**(u - k0) (``U_TD``), and rho**(STEP - k0) (``U_DECAY``). A snapshot
    from before the last trace reset carries only what came before the reset, and its traces
    have been reset (decay 0)."""
    if uint[U_VERSION, p] == misc[VERSION]:
        return
    k0 = uint[SNAP_CLOCK, p] >> 1
    td = unit[CARRY, p]
    if uint[SNAP_EPISODE, p] != misc[EPISODE]:
        decay = 0.0
    else:
        if learn_params[LP_RHO] > 0.0:
            td += rho_power(misc[BASE] - k0, glob, learn_params, count) * (
                glob[G_P] - unit[P_SNAP, p])
            count[C_UNIT_TD] += 1
        decay = rho_power(misc[STEP] - k0, glob, learn_params, count)
    unit[U_TD, p] = td
    unit[U_DECAY, p] = decay
    uint[U_VERSION, p] = misc[VERSION]
    count[C_UNIT_FACTORS] += 1


@njit(**INLINE)
def neuron_signal(i, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params):
    """Neuron i's e-prop sums now, computed once per version of the sums: ``H_i``, its learning
    signals filtered with its pseudo-derivative inside, and ``W_i``, what the TD and supervised
    errors have met of them (module docstring). ``psi_i`` is constant between the neuron's own
    events, so both follow in closed form from its snapshot and the global sums."""
    if ni[i, SIG_VERSION] == misc[VERSION]:
        return
    f = 0.0
    q = 0.0
    for r in range(sums.shape[1]):
        f += feedback[i, r] * sums[SUM_F, r]
        q += feedback[i, r] * sums[SUM_Q, r]
    unit_factors(i, unit, uint, misc, count, glob, learn_params)
    psi = unit[PSI, i]
    c = nf[i, H_SNAP_I] - psi * nf[i, F_SNAP_I]
    nf[i, SIG_H] = psi * f + unit[U_DECAY, i] * c
    nf[i, SIG_W] = nf[i, W_SNAP_I] + psi * (q - nf[i, Q_SNAP_I]) + c * unit[U_TD, i]
    nf[i, SIG_FB] = f
    nf[i, SIG_QB] = q
    ni[i, SIG_VERSION] = misc[VERSION]
    count[C_NEURON_SIGNAL] += 1


@njit(**INLINE)
def snapshot_neuron(i, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params):
    """Before neuron i's pseudo-derivative changes: its sums now become its snapshot (what
    follows is computed with the new psi_i from here on)."""
    neuron_signal(i, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params)
    nf[i, H_SNAP_I] = nf[i, SIG_H]
    nf[i, W_SNAP_I] = nf[i, SIG_W]
    nf[i, F_SNAP_I] = nf[i, SIG_FB]
    nf[i, Q_SNAP_I] = nf[i, SIG_QB]
    count[C_NEURON_SNAPSHOT] += 1


@njit(**INLINE)
def settle_synapse(s, k, td, decay, y, syn, weight, nf, ni, unit, uint, misc, count, feedback,
                   sums, glob, learn_params, syn_f):
    """Apply synapse s's e-prop change since its presynaptic unit's snapshot (whose factors are
    ``td`` and ``decay``; ``y`` its output, constant since) and bring its trace up to now."""
    i = syn[POST, s]
    neuron_signal(i, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params)
    h = nf[i, SIG_H]
    w_now = nf[i, SIG_W]
    dw = y * (w_now - syn_f[W_SNAP, s])
    trace = y * h
    if td != 0.0 or decay != 0.0:
        # the trace at the snapshot, less what y * H_i accounts for, meets the TD errors since
        # (decayed) and decays into the new trace
        c = syn_f[TRACE, s] - y * syn_f[H_SNAP, s]
        dw += c * td
        trace += decay * c
        count[C_SETTLE_TRACE] += 1
    syn_f[TRACE, s] = trace
    syn_f[H_SNAP, s] = h
    syn_f[W_SNAP, s] = w_now
    count[C_SETTLE] += 1
    w = float(weight[s])
    clip = learn_params[LP_WCLIP]
    weight[s] = min(max(w + dw, -clip), clip)
    moved = float(weight[s]) - w  # what the float32 weight took, so drives stay exact
    if moved != 0.0:
        if misc[FEEDFORWARD] == 0:  # a memoryless cell has no state to bring up to now
            settle_neuron(i, k, nf, ni, count)
        nf[i, DRIVE] += moved * y
        count[C_WEIGHT_MOVE] += 1


@njit(**INLINE)
def snapshot_unit(p, unit, uint, misc, glob):
    """p's synapses are settled: restart its TD sum here. Between phases A and B of a step the
    unit waits in the pending list for that step's TD error."""
    clock = misc[CLOCK]
    uint[SNAP_CLOCK, p] = clock
    uint[SNAP_EPISODE, p] = misc[EPISODE]
    uint[U_VERSION, p] = -1
    unit[CARRY, p] = 0.0
    unit[P_SNAP, p] = glob[G_P]
    if clock & 1 == 0 and uint[PENDING_CLOCK, p] != clock:
        uint[PENDING_CLOCK, p] = clock
        uint[PENDING, misc[N_PENDING]] = p
        misc[N_PENDING] += 1


@njit(**INLINE)
def settle_out_synapses(p, k, syn, ptr, weight, nf, ni, unit, uint, misc, count, feedback, sums,
                        glob, learn_params, syn_f):
    """Settle every synapse leaving unit p, with p's factors and output."""
    unit_factors(p, unit, uint, misc, count, glob, learn_params)
    td = unit[U_TD, p]
    decay = unit[U_DECAY, p]
    y = unit[OUT, p]
    for s in range(ptr[OUT_PTR, p], ptr[OUT_PTR, p + 1]):
        settle_synapse(s, k, td, decay, y, syn, weight, nf, ni, unit, uint, misc, count,
                       feedback, sums, glob, learn_params, syn_f)
    count[C_SETTLE_UNIT] += 1


@njit(**INLINE)
def settle_unit_synapses(p, k, is_neuron, syn, ptr, weight, nf, ni, unit, uint, misc, count,
                         feedback, sums, glob, learn_params, syn_f):
    """Before p's output changes: settle the synapses leaving p (their eligibility holds p's
    output), and, for a neuron, take its snapshot (its pseudo-derivative changes too; the
    synapses entering it need nothing: psi_i is inside H_i and W_i), then snapshot p."""
    if uint[SNAP_CLOCK, p] == misc[CLOCK] and uint[SNAP_EPISODE, p] == misc[EPISODE]:
        count[C_SETTLE_SKIP] += 1
        return  # settled in this phase already: no learning sum has moved since
    settle_out_synapses(p, k, syn, ptr, weight, nf, ni, unit, uint, misc, count, feedback, sums,
                        glob, learn_params, syn_f)
    if is_neuron:
        snapshot_neuron(p, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params)
    snapshot_unit(p, unit, uint, misc, glob)


# -- events ------------------------------------------------------------------------------------

@njit(**INLINE)
def deliver(p, delta, k, syn, ptr, weight, nf, ni, count, readout, readout_value, n_dirty,
            feedforward):
    """Send p's change to its targets' drives and to the readouts. A memoryless target
    (``feedforward``) has no cell state to bring up to now; it joins its group's bucket."""
    start = ptr[OUT_PTR, p]
    stop = ptr[OUT_PTR, p + 1]
    for s in range(start, stop):
        i = syn[POST, s]
        if feedforward:
            nf[i, DRIVE] += weight[s] * delta
            n_dirty = bucket_push(i, ni, n_dirty, count)
        else:
            settle_neuron(i, k, nf, ni, count)
            nf[i, DRIVE] += weight[s] * delta
            n_dirty = mark_dirty(i, ni, n_dirty)
    n_out = readout.shape[0] if p < readout.shape[1] - 1 else 0  # the last column: bias
    for r in range(n_out):
        readout_value[r] += readout[r, p] * delta
    count[C_DELIVER] += stop - start
    count[C_READOUT_DELIVER] += n_out
    return n_dirty


# -- entry points ------------------------------------------------------------------------------

@njit(**INLINE)
def settle_feature(p, unit, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, count):
    """Before unit p's output changes: settle its readout weights (if it is a read feature and
    the readouts learn from events)."""
    if ro_m[er.RM_ON] != 0 and p < readout.shape[1] - 1:
        if ro_i[er.RVERSION, p] == ro_m[er.RM_VERSION]:
            count[C_RO_FEATURE_SKIP] += 1  # no learning signal since its snapshot
        else:
            count[C_RO_FEATURE] += 1
            er.settle_feature(p, unit[OUT, p], readout, readout_value, ro_w, ro_u, ro_i, ro_s,
                              ro_g, ro_m, count, C_RO_SETTLE)


@njit(**INLINE)
def feature_moved(p, old, delta, readout, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, count):
    if ro_m[er.RM_ON] != 0 and p < readout.shape[1] - 1:
        er.feature_moved(p, old, delta, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m)
        count[C_RO_MOVE] += 1


@njit(**INLINE)
def emit(i, delta, k, learning, feedforward, syn, ptr, weight, nf, ni, unit, uint, misc, count,
         readout, readout_value, feedback, sums, glob, learn_params, syn_f, ro_w, ro_u, ro_i,
         ro_s, ro_g, ro_m, n_dirty):
    """Neuron i sends its output's change ``delta`` (its cell settled to tick k): learning
    settled first, then the new output, its threshold and bounds, and the delivery."""
    if learning:
        settle_unit_synapses(i, k, True, syn, ptr, weight, nf, ni, unit, uint, misc, count,
                             feedback, sums, glob, learn_params, syn_f)
        settle_feature(i, unit, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m,
                       count)
        feature_moved(i, unit[OUT, i], delta, readout, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m,
                      count)
    leaky = misc[LEAKY] != 0
    unit[OUT, i] += delta
    unit[PSI, i] = pseudo_derivative(unit[OUT, i], leaky)
    if misc[LN_FULL] != 0:  # the unit's slope is in its feedback row (``refresh_rows``)
        unit[PSI, i] = nf[ni[i, GROUP_FIRST], GROUP_INV_SD]
    elif misc[LAYER_NORM] != 0:  # d y / d c through u = (c - mean) / sd, the group's held
        unit[PSI, i] *= nf[ni[i, GROUP_FIRST], GROUP_INV_SD]
        count[C_LN_PSI] += 1
    count[C_HIDDEN_EVENT_LEAKY if leaky else C_HIDDEN_EVENT] += 1
    homeostasis(i, k, nf, ni, learn_params, count)
    nf[i, LOW], nf[i, HIGH] = cell_bounds(unit[OUT, i], nf[i, THETA], leaky)
    return deliver(i, delta, k, syn, ptr, weight, nf, ni, count, readout, readout_value,
                   n_dirty, feedforward)


@njit(**INLINE)
def backprop_row(i, syn, ptr, weight, unit, feedback, feedback_base, count):
    """``feedback[i] = feedback_base[i] + sum_k w_ik psi_k feedback[k]`` over i's synapses."""
    n_sig = feedback.shape[1]
    for r in range(n_sig):
        feedback[i, r] = feedback_base[i, r]
    start, stop = ptr[OUT_PTR, i], ptr[OUT_PTR, i + 1]
    for s in range(start, stop):
        k = syn[POST, s]
        wp = weight[s] * unit[PSI, k]
        for r in range(n_sig):
            feedback[i, r] += wp * feedback[k, r]
    count[C_BACKPROP_SYNAPSE] += stop - start


@njit(**INLINE)
def project_row(i, nf, ni, feedback, sums, count):
    """Neuron i's feedback row changed at its snapshot (no learning sum has moved since): the
    snapshot's projections ``B[i] . F`` and ``B[i] . Q`` are taken again, as
    ``replace_feedback`` does, so the closed forms carry on with the new row."""
    f = 0.0
    q = 0.0
    for r in range(feedback.shape[1]):
        f += feedback[i, r] * sums[SUM_F, r]
        q += feedback[i, r] * sums[SUM_Q, r]
    nf[i, F_SNAP_I] = f
    nf[i, Q_SNAP_I] = q
    ni[i, SIG_VERSION] = -1
    count[C_BACKPROP_NEURON] += 1


@njit(**INLINE)
def group_u(i, nf, ni):
    """Neuron i's standardised cell with its group's mean and sd as they are."""
    first = ni[i, GROUP_FIRST]
    return (nf[i, CELL] - nf[first, GROUP_MEAN]) * nf[first, GROUP_INV_SD]


@njit(**INLINE)
def ln_share(i, nf, ni, unit, feedback, ln_rows, leaky, count):
    """Layer norm's full gradient: neuron i's row B_eff (in ``feedback``) as its shares of its
    group's sums, ``f'(u) B_eff`` and ``u f'(u) B_eff``, the old shares taken out of the sums."""
    first = ni[i, GROUP_FIRST]
    slope = pseudo_derivative(unit[OUT, i], leaky)
    u = group_u(i, nf, ni)
    for r in range(feedback.shape[1]):
        c1 = slope * feedback[i, r]
        c2 = u * c1
        ln_rows[LN_G1, first, r] += c1 - ln_rows[LN_C1, i, r]
        ln_rows[LN_G2, first, r] += c2 - ln_rows[LN_C2, i, r]
        ln_rows[LN_C1, i, r] = c1
        ln_rows[LN_C2, i, r] = c2


@njit(**INLINE)
def ln_row(i, nf, ni, feedback, ln_rows, count):
    """Layer norm's full gradient, as ``_layer_norm_back`` takes it: neuron i's row becomes
    ``f'(u_i) B_eff[i] - mean(f'(u) B_eff) - u_i mean(u f'(u) B_eff)`` over its group (its psi
    holds the group's 1 / sd), from the group's sums of shares."""
    first = ni[i, GROUP_FIRST]
    inv_k = nf[first, GROUP_INV_K]
    u = group_u(i, nf, ni)
    for r in range(feedback.shape[1]):
        feedback[i, r] = ln_rows[LN_C1, i, r] - inv_k * (ln_rows[LN_G1, first, r]
                                                         + u * ln_rows[LN_G2, first, r])
    count[C_LN_ROW] += 1


@njit(**INLINE)
def refresh_rows(k, top_first, syn, ptr, weight, nf, ni, unit, uint, misc, feedback,
                 feedback_base, ln_rows, sums, count):
    """At the end of tick k, the groups top-down: each neuron that sent in it takes its feedback
    row again (one that sent at k before a learning phase, in an earlier call for the same
    tick, keeps its row). With backprop (below the top group) through the group above as it
    now is,
    ``B_eff[i] = B0[i] + sum_k w_ik psi_k B[k]``; with layer norm's full gradient the group's
    part follows (``ln_share``, then ``ln_row`` once the group's shares are in); then its
    projections (``project_row``). A group's senders are in its bucket, or with layer norm,
    which tests a touched group whole, anywhere in a touched group."""
    backprop = misc[BACKPROP] != 0
    full = misc[LN_FULL] != 0
    normed = misc[LAYER_NORM] != 0
    leaky = misc[LEAKY] != 0
    first = top_first
    while True:
        n_touched = ni[first, BUCKET_N]
        if n_touched > 0 and (full or (backprop and first != top_first)):
            end = ni[first, GROUP_END]
            n_scan = end - first if normed else n_touched
            count[C_LN_SCAN] += n_scan
            for phase in range(2 if full else 1):
                for j in range(n_scan):
                    i = first + j if normed else ni[first + j, DIRTY]
                    # sent at tick k and snapshotted in this phase: no learning sum has moved
                    # since (a tick can be processed again after a learning phase, when two
                    # steps share it; a neuron that sent before then keeps its row)
                    if (ni[i, LAST_EMIT] != k or uint[SNAP_CLOCK, i] != misc[CLOCK]
                            or uint[SNAP_EPISODE, i] != misc[EPISODE]):
                        continue
                    if phase == 0:
                        if backprop and first != top_first:
                            backprop_row(i, syn, ptr, weight, unit, feedback, feedback_base,
                                         count)
                        else:
                            for r in range(feedback.shape[1]):
                                feedback[i, r] = feedback_base[i, r]
                        if full:
                            ln_share(i, nf, ni, unit, feedback, ln_rows, leaky, count)
                            continue
                    else:
                        ln_row(i, nf, ni, feedback, ln_rows, count)
                    project_row(i, nf, ni, feedback, sums, count)
        ni[first, BUCKET_N] = 0
        if first == 0:
            break
        first = ni[first - 1, GROUP_FIRST]


@njit(**INLINE)
def ff_neuron(i, k, learning, leaky, syn, ptr, weight, nf, ni, unit, uint, misc, count, readout,
              readout_value, feedback, sums, glob, learn_params, syn_f, ro_w, ro_u, ro_i, ro_s,
              ro_g, ro_m, n_dirty):
    """A touched memoryless neuron at tick k: its cell is its drive; it sends if its output
    has moved by its threshold (the bounds' test is then in the event's price)."""
    c = nf[i, DRIVE]
    nf[i, CELL] = c
    ni[i, T_LAST] = k
    delta = 0.0
    if c >= nf[i, HIGH] or c <= nf[i, LOW]:
        delta = activate(c, leaky) - unit[OUT, i]
    if delta != 0.0:
        return emit(i, delta, k, learning, True, syn, ptr, weight, nf, ni, unit, uint, misc,
                    count, readout, readout_value, feedback, sums, glob, learn_params, syn_f,
                    ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, n_dirty)
    count[C_FF_NEURON] += 1
    return n_dirty


@njit(**INLINE)
def ff_group_normed(first, k, learning, leaky, syn, ptr, weight, nf, ni, unit, uint, misc,
                    count, readout, readout_value, feedback, sums, glob, learn_params, syn_f,
                    ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, n_dirty):
    """``network.layer_norm`` in the delta network, the group starting at ``first`` at tick
    k: each touched neuron's cell becomes its drive and the group's sums of cells and squares
    take the change; if any did, the group's mean and sd move, so every neuron of the group is
    tested, ``u = (c - mean) / sd`` against its bounds, and sends if ``f(u)`` has moved by its
    threshold (O(group) tests, events as they come)."""
    n_touched = ni[first, BUCKET_N]
    if n_touched == 0:
        return n_dirty
    end = ni[first, GROUP_END]
    s1 = nf[first, GROUP_S1]
    s2 = nf[first, GROUP_S2]
    for j in range(n_touched):
        i = ni[first + j, DIRTY]
        ni[i, IS_DIRTY] = 0
        old = nf[i, CELL]
        c = nf[i, DRIVE]
        s1 += c - old
        s2 += c * c - old * old
        nf[i, CELL] = c
        ni[i, T_LAST] = k
    count[C_LN_CELL] += n_touched
    nf[first, GROUP_S1] = s1
    nf[first, GROUP_S2] = s2
    inv_k = nf[first, GROUP_INV_K]
    mean = s1 * inv_k
    inv_sd = 1.0 / math.sqrt(max(s2 * inv_k - mean * mean, 0.0) + LN_EPS)
    nf[first, GROUP_MEAN] = mean
    nf[first, GROUP_INV_SD] = inv_sd
    count[C_LN_GROUP] += 1
    for i in range(first, end):
        u = (nf[i, CELL] - mean) * inv_sd
        delta = 0.0
        if u >= nf[i, HIGH] or u <= nf[i, LOW]:
            delta = activate(u, leaky) - unit[OUT, i]
        if delta != 0.0:  # the bounds' test is in the event's price
            n_dirty = emit(i, delta, k, learning, True, syn, ptr, weight, nf, ni, unit, uint,
                           misc, count, readout, readout_value, feedback, sums, glob,
                           learn_params, syn_f, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, n_dirty)
        else:
            count[C_FF_NEURON] += 1
    count[C_LN_TEST] += end - first
    return n_dirty


@njit(**KERNEL)
def advance(ev_tick, ev_channel, ev_value, k_end, syn, ptr, weight, nf, ni, unit, uint, wheel,
            misc, count, readout, readout_value, feedback, feedback_base, ln_rows, sums, glob,
            learn_params, syn_f, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m):
    """Process input events (sorted by tick, all in [NOW, k_end]) and every scheduled crossing
    up to and including tick ``k_end``, in tick order. With ``FEEDFORWARD`` every cell is its
    drive and a tick's changes go up through the groups within the tick (``bucket_push``)."""
    n_hidden = nf.shape[0]
    learning = misc[ACTIVE] != 0
    feedforward = misc[FEEDFORWARD] != 0
    leaky = misc[LEAKY] != 0
    rows = learning and (misc[BACKPROP] != 0 or misc[LN_FULL] != 0)
    n_ev = ev_tick.size
    e = 0
    n_dirty = misc[FF_WAITING] if feedforward else 0  # neurons waiting in their buckets for
    misc[FF_WAITING] = 0  # a tick, taken with the first tick processed: an input's, or k_end's
    while True:
        k = ev_tick[e] if e < n_ev else k_end + 1
        k = min(k, next_crossing(min(k, k_end), ni, wheel, misc, count))
        if n_dirty > 0:
            k = min(k, k_end)
        if k > k_end:
            break
        misc[NOW] = k
        # Input events at tick k change drives, not cell states: their order within a tick
        # does not matter.
        while e < n_ev and ev_tick[e] == k:
            p = n_hidden + ev_channel[e]
            value = ev_value[e]
            e += 1
            if learning:
                settle_unit_synapses(p, k, False, syn, ptr, weight, nf, ni, unit, uint, misc,
                                     count, feedback, sums, glob, learn_params, syn_f)
                settle_feature(p, unit, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g,
                               ro_m, count)
                feature_moved(p, unit[OUT, p], value, readout, ro_w, ro_u, ro_i, ro_s, ro_g,
                              ro_m, count)
            unit[OUT, p] += value
            count[C_INPUT_EVENT] += 1
            n_dirty = deliver(p, value, k, syn, ptr, weight, nf, ni, count, readout,
                              readout_value, n_dirty, feedforward)
        if feedforward:
            # the groups bottom-up, each touched neuron of a group taken once: its cell set to
            # its drive, it sends if it has moved by its threshold, touching the group above
            first = 0
            while first < n_hidden:
                if misc[LAYER_NORM] != 0:
                    n_dirty = ff_group_normed(first, k, learning, leaky, syn, ptr, weight, nf,
                                              ni, unit, uint, misc, count, readout,
                                              readout_value, feedback, sums, glob,
                                              learn_params, syn_f, ro_w, ro_u, ro_i, ro_s,
                                              ro_g, ro_m, n_dirty)
                j = 0
                while misc[LAYER_NORM] == 0 and j < ni[first, BUCKET_N]:
                    i = ni[first + j, DIRTY]
                    j += 1
                    ni[i, IS_DIRTY] = 0
                    n_dirty = ff_neuron(i, k, learning, leaky, syn, ptr, weight, nf, ni, unit,
                                        uint, misc, count, readout, readout_value, feedback,
                                        sums, glob, learn_params, syn_f, ro_w, ro_u, ro_i,
                                        ro_s, ro_g, ro_m, n_dirty)
                if not rows:
                    ni[first, BUCKET_N] = 0
                count[C_FF_GROUP] += 1
                first = ni[first, GROUP_END]
            if rows:  # the senders' feedback rows, the groups top-down
                refresh_rows(k, ni[n_hidden - 1, GROUP_FIRST], syn, ptr, weight, nf, ni, unit,
                             uint, misc, feedback, feedback_base, ln_rows, sums, count)
            n_dirty = 0
            continue
        # Scheduled threshold crossings at tick k.
        slot = k & _MASK
        while wheel[slot] >= 0:
            i = wheel[slot]
            wheel_remove(i, ni, wheel, misc, count)
            ni[i, NEXT_TICK] = NEVER
            settle_neuron(i, k, nf, ni, count)
            c = nf[i, CELL]
            if c >= nf[i, HIGH] or c <= nf[i, LOW]:
                delta = activate(c, leaky) - unit[OUT, i]
            else:
                delta = 0.0  # scheduled early by rounding: rescheduled below
            if delta != 0.0:
                n_dirty = emit(i, delta, k, learning, False, syn, ptr, weight, nf, ni, unit,
                               uint, misc, count, readout, readout_value, feedback, sums, glob,
                               learn_params, syn_f, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, n_dirty)
            n_dirty = mark_dirty(i, ni, n_dirty)
        # Drives changed at tick k cannot move any cell state at k, so crossings are
        # rescheduled from k + 1 on, once per touched neuron.
        for d in range(n_dirty):
            i = ni[d, DIRTY]
            ni[i, IS_DIRTY] = 0
            settle_neuron(i, k, nf, ni, count)
            schedule(i, k, k + 1, nf, ni, wheel, misc, count)
        n_dirty = 0
    misc[NOW] = k_end
    return e


@njit(**KERNEL)
def begin_learning_step(gradient, supervised, misc, count, sums, learn_params):
    """Phase A of a new learning step: ``F <- rho F + h`` (``gradient``: h per readout) and a
    supervised error's share of ``Q`` (``supervised``: lr * g per readout, or zeros). Units that
    change from here on change the next step's eligibility, not this one's."""
    rho = learn_params[LP_RHO]
    misc[STEP] += 1
    misc[CLOCK] = 2 * misc[STEP]
    misc[VERSION] += 1
    misc[N_PENDING] = 0  # a step without a TD error leaves nothing pending
    for r in range(sums.shape[1]):
        sums[SUM_F, r] = rho * sums[SUM_F, r] + gradient[r]
        sums[SUM_Q, r] += supervised[r]
    count[C_STEP_A] += 1


@njit(**KERNEL)
def apply_td_error(delta, unit, uint, misc, count, sums, glob, learn_params):
    """Phase B: the TD error of the current step (times the learning rate) meets every trace:
    ``Q += delta F``, ``P += delta rho**(STEP - BASE)``; the units settled since phase A get it
    as their carry."""
    for r in range(sums.shape[1]):
        sums[SUM_Q, r] += delta * sums[SUM_F, r]
    rho_on = learn_params[LP_RHO] > 0.0
    if rho_on:
        glob[G_P] += delta * rho_power(misc[STEP] - misc[BASE], glob, learn_params, count)
    for j in range(misc[N_PENDING]):
        p = uint[PENDING, j]
        if uint[SNAP_CLOCK, p] == misc[CLOCK]:
            unit[CARRY, p] = delta
            unit[P_SNAP, p] = glob[G_P]
    count[C_PENDING] += misc[N_PENDING]
    misc[N_PENDING] = 0
    misc[CLOCK] = 2 * misc[STEP] + 1
    misc[VERSION] += 1
    count[C_STEP_B] += 1
    if rho_on and misc[STEP] - misc[BASE] >= learn_params[LP_REBASE]:
        rebase(unit, uint, misc, count, glob, learn_params)


@njit(**KERNEL)
def rebase(unit, uint, misc, count, glob, learn_params):
    """Fold the TD sum P into every open unit's carry and restart it at the current step, before
    rho**(STEP - BASE) leaves double precision comfort. O(N + M), every LP_REBASE steps."""
    if learn_params[LP_RHO] > 0.0:
        for p in range(unit.shape[1]):
            if uint[SNAP_EPISODE, p] == misc[EPISODE]:
                k0 = uint[SNAP_CLOCK, p] >> 1
                unit[CARRY, p] += rho_power(misc[BASE] - k0, glob, learn_params, count) * (
                    glob[G_P] - unit[P_SNAP, p])
            unit[P_SNAP, p] = 0.0
        count[C_SWEEP_UNIT] += unit.shape[1]
    glob[G_P] = 0.0
    misc[BASE] = misc[STEP]
    misc[VERSION] += 1


@njit(**KERNEL)
def reset_traces(unit, uint, misc, count, sums, glob, learn_params):
    """Episode boundary: every trace restarts from zero. Units keep the TD errors they have met
    (folded into their carry by ``rebase``); a new trace episode marks their snapshots as
    closed, so their synapses' traces count as reset when they are next settled."""
    rebase(unit, uint, misc, count, glob, learn_params)
    misc[EPISODE] += 1
    misc[N_PENDING] = 0
    for r in range(sums.shape[1]):
        sums[SUM_F, r] = 0.0
    misc[VERSION] += 1


@njit(**KERNEL)
def settle_stale(k, n_visit, max_age, syn, ptr, weight, nf, ni, unit, uint, misc, count, feedback,
                 sums, glob, learn_params, syn_f):
    """Visit ``n_visit`` units round robin and settle those not settled for ``max_age`` learning
    steps: what a unit that rarely changes has learned reaches its targets' drives within about
    twice ``max_age`` steps (``n_visit = ceil(units / max_age)``)."""
    n_units = unit.shape[1]
    n_hidden = nf.shape[0]
    pos = misc[SWEEP_POS]
    for _ in range(n_visit):
        p = pos
        pos = pos + 1 if pos + 1 < n_units else 0
        count[C_STALE_VISIT] += 1
        if misc[STEP] - (uint[SNAP_CLOCK, p] >> 1) >= max_age:
            settle_unit_synapses(p, k, p < n_hidden, syn, ptr, weight, nf, ni, unit, uint, misc,
                                 count, feedback, sums, glob, learn_params, syn_f)
    misc[SWEEP_POS] = pos


@njit(**KERNEL)
def settle_all(k, syn, ptr, weight, nf, ni, unit, uint, misc, count, feedback, sums, glob,
               learn_params, syn_f):
    """Settle every synapse and snapshot every neuron and unit at the current phase."""
    for p in range(unit.shape[1]):
        settle_out_synapses(p, k, syn, ptr, weight, nf, ni, unit, uint, misc, count, feedback,
                            sums, glob, learn_params, syn_f)
    for i in range(nf.shape[0]):
        snapshot_neuron(i, nf, ni, unit, uint, misc, count, feedback, sums, glob, learn_params)
    for p in range(unit.shape[1]):
        snapshot_unit(p, unit, uint, misc, glob)


@njit(**KERNEL)
def replace_feedback(new_feedback, k, nf, ni, wheel, misc, count, feedback, sums):
    """Replace the feedback weights B at tick k, every synapse just settled and every neuron
    just snapshotted (``settle_all``): each snapshot's projections ``B[i] . F`` and ``B[i] . Q``
    are taken again with the new B, so the closed forms carry on as if the new B had been there
    since the snapshot (what was filtered and met before stays as it was); every neuron is
    rescheduled, as the settlement moved drives."""
    for i in range(nf.shape[0]):
        resettle(i, k, nf, ni, wheel, misc, count)
        f = 0.0
        q = 0.0
        for r in range(sums.shape[1]):
            feedback[i, r] = new_feedback[i, r]
            f += feedback[i, r] * sums[SUM_F, r]
            q += feedback[i, r] * sums[SUM_Q, r]
        nf[i, F_SNAP_I] = f
        nf[i, Q_SNAP_I] = q
        count[C_NEURON_SIGNAL] += 1  # priced as a neuron's signal: its 2R MACs and more
    misc[VERSION] += 1


@njit(**KERNEL)
def refresh(k, syn, weight, nf, ni, unit, wheel, misc, count, readout, readout_value):
    """Recompute drives, bounds and readouts exactly (removes accumulated rounding) and
    reschedule every neuron (``resettle``)."""
    n_hidden = nf.shape[0]
    n_read = readout.shape[1] - 1  # units the readouts read; the last column is the bias
    misc[NOW] = k
    misc[NEAR] = 0
    misc[FAR_MIN] = _NO_FAR
    misc[FF_WAITING] = 0
    wheel[:] = -1
    for i in range(n_hidden):
        ni[i, IS_DIRTY] = 0  # empty buckets (``resettle`` fills them again)
        ni[i, BUCKET_N] = 0
    for i in range(n_hidden):
        fill_decay_table(i, nf)
        if misc[FEEDFORWARD] == 0:
            settle_neuron(i, k, nf, ni, count)
        nf[i, DRIVE] = nf[i, BIAS]
        ni[i, LINK_SLOT] = -1
        ni[i, NEXT_TICK] = NEVER
    for s in range(syn.shape[1]):
        nf[syn[POST, s], DRIVE] += weight[s] * unit[OUT, syn[PRE, s]]
    for i in range(n_hidden):  # the groups' sums of cells exactly (``network.layer_norm``)
        first = ni[i, GROUP_FIRST]
        if i == first:
            nf[first, GROUP_S1] = 0.0
            nf[first, GROUP_S2] = 0.0
        nf[first, GROUP_S1] += nf[i, CELL]
        nf[first, GROUP_S2] += nf[i, CELL] * nf[i, CELL]
    for r in range(readout.shape[0]):
        acc = readout[r, n_read]
        for p in range(n_read):
            acc += readout[r, p] * unit[OUT, p]
        readout_value[r] = acc
    for i in range(n_hidden):
        nf[i, LOW], nf[i, HIGH] = cell_bounds(unit[OUT, i], nf[i, THETA], misc[LEAKY] != 0)
        resettle(i, k, nf, ni, wheel, misc, count)


@njit(**KERNEL)
def all_rows(syn, ptr, weight, nf, ni, unit, misc, feedback, feedback_base, ln_rows, count):
    """Every neuron's feedback row into ``feedback`` from the rows ``feedback_base`` (its
    readout feedback), the groups top-down: with backprop through the group above
    (``backprop_row``; a synapse's target has a higher index than its source), with layer
    norm's full gradient its group's part, the group's shares summed afresh."""
    backprop = misc[BACKPROP] != 0
    full = misc[LN_FULL] != 0
    leaky = misc[LEAKY] != 0
    n = nf.shape[0]
    end = n
    while end > 0:
        first = ni[end - 1, GROUP_FIRST]
        for i in range(end - 1, first - 1, -1):
            if backprop:
                backprop_row(i, syn, ptr, weight, unit, feedback, feedback_base, count)
            else:
                for r in range(feedback.shape[1]):
                    feedback[i, r] = feedback_base[i, r]
        if full:
            for r in range(feedback.shape[1]):
                ln_rows[LN_G1, first, r] = 0.0
                ln_rows[LN_G2, first, r] = 0.0
            for i in range(first, end):
                for r in range(feedback.shape[1]):
                    ln_rows[LN_C1, i, r] = 0.0
                    ln_rows[LN_C2, i, r] = 0.0
                ln_share(i, nf, ni, unit, feedback, ln_rows, leaky, count)
            for i in range(first, end):
                ln_row(i, nf, ni, feedback, ln_rows, count)
        end = first
