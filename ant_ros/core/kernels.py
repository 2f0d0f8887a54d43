"""Numba kernels of the asynchronous network: lazy neuron updates, scheduled threshold crossings,
event delivery and lazily settled e-prop traces.

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

Learning (e-prop, see ``learner.py``): the weight change of synapse ``p -> i`` accumulated over
learning steps ``u`` is ``psi_i * sum_u L_i(u) * eps_p(u)`` with ``psi_i = 1 - yhat_i**2``,
``eps_p`` the low-pass filtered output of ``p`` and ``L_i(u) = sum_r B[i, r] * s_r(u)`` a
broadcast learning signal. ``psi_i`` and the input of ``eps_p`` are constant between events of
``i`` and ``p``, so the sum has a closed form in two global running sums ``S_r = sum s_r`` and
``R_r = sum s_r * kappa**(u - base)``; a synapse is settled only when ``i`` or ``p`` has an event.

With TD(lambda) e-prop traces (``LP_FILTER``) the eligibility itself is a trace, as the readouts'
are: ``z(u) = rho * z(u-1) + psi_i * eps_p(u) * sum_r B[i, r] * h_r(u)`` with ``rho = gamma *
lambda`` and ``h_r`` the readout's gradient, and the weight moves by ``delta(u) * z(u)`` for the TD
error ``delta``. Its closed form needs the filtered signals ``F_r = rho F_r + h_r`` and
``G_r = rho G_r + h_r kappa**(u - base)``, their sums against ``delta`` (``Q_r``, ``R_r``), the sum
``P = sum delta * rho**(u - base)``, and one stored trace per synapse.
"""

from __future__ import annotations

import math

from numba import njit

NEVER = -1
_EARLY = 1e-7  # crossing times are rounded down by this much; a check that fails is retried

# neuron float state columns (N, 23): the state in the first 64-byte cache line; from DECAY on,
# the decay over 1..DECAY_TICKS ticks, exp(-dt * INV_TAU), derived (``refresh`` recomputes it), so
# that most lazy updates look a factor up instead of calling exp
CELL, DRIVE, THETA, INV_TAU, BIAS, LOW, HIGH, DECAY = range(8)
DECAY_TICKS = 16
NEURON_F_COLS = DECAY + DECAY_TICKS
# neuron int state columns (N, 8)
T_LAST, LAST_EMIT, NEXT_TICK, LINK_NEXT, LINK_PREV, LINK_SLOT, DIRTY, IS_DIRTY = range(8)
NEURON_I_COLS = 8
# unit float rows (n_rows, N + M)
OUT, EPS = range(2)
UNIT_F_ROWS = 2
# synapse int rows (n_rows, S); synapses are sorted by presynaptic unit, so the synapses leaving
# unit p are the contiguous range ptr[OUT_PTR, p] .. ptr[OUT_PTR, p + 1]
PRE, POST, IN_SYN = range(3)
# index pointer rows (2, N + M + 1): synapses leaving each unit, entering each neuron
OUT_PTR, IN_PTR = range(2)
# synapse float rows (n_rows, S): consolidation importance and anchor, TD(lambda) e-prop trace
IMPORTANCE, ANCHOR, TRACE = range(3)
SYN_F_ROWS = 3
# learning sums rows (n_rows, n_signals) and their snapshots (n_rows, N + M, n_signals): S or Q,
# R, and with TD(lambda) traces F, G and P (P is the same in every column)
SUM, DECAYED, FILTERED, FILTERED_DECAYED, TD_SUM = range(5)
SUM_ROWS = 5
# misc int64 entries
SYNOPS, NEURON_UPDATES, LEARN_UPDATES, HIDDEN_EVENTS, INPUT_EVENTS = range(5)
N_COUNTERS = 5
STEP, BASE, ACTIVE, NOW, NEAR, FAR_MIN = range(5, 11)
MISC_SIZE = 11
# learn_params entries
(LP_LR, LP_LOG_KAPPA, LP_WCLIP, LP_CONS, LP_ANCHOR, LP_HOMEO, LP_RATE, LP_THMIN,
 LP_THMAX, LP_FILTER, LP_LOG_RHO) = range(11)
N_LEARN_PARAMS = 11

WHEEL_SLOTS = 4096  # power of two; crossings further ahead wait in the far list (slot WHEEL_SLOTS)
_MASK = WHEEL_SLOTS - 1
_FAR = WHEEL_SLOTS
_NO_FAR = 2 ** 62


# -- activation ------------------------------------------------------------------------------
# libm's tanh and atanh cost three to five times an exp or a log here; these forms are exact to
# a few units of 1e-16 in absolute terms, which is what outputs and thresholds are compared in.

@njit(cache=True, inline="always", _nrt=False)
def tanh(c):
    return 1.0 - 2.0 / (math.exp(2.0 * c) + 1.0)


@njit(cache=True, inline="always", _nrt=False)
def atanh(y):
    """For -1 < y < 1."""
    return 0.5 * math.log((1.0 + y) / (1.0 - y))


# -- crossing times --------------------------------------------------------------------------

@njit(cache=True, inline="always", _nrt=False)
def cell_bounds(yhat, theta):
    """Cell states at which the output has moved by theta from yhat: (lower, upper)."""
    up = yhat + theta
    dn = yhat - theta
    c_up = atanh(up) if up < 1.0 else math.inf
    c_dn = atanh(dn) if dn > -1.0 else -math.inf
    return c_dn, c_up


@njit(cache=True, inline="always", _nrt=False)
def crossing_tick(c, a, c_dn, c_up, inv_tau, k_now, k_min):
    """First tick >= k_min at which c(t) leaves (c_dn, c_up), or NEVER.

    ``c`` is the cell state at ``k_now``; the drive ``a`` is constant from then on. Working in
    cell space needs one logarithm per call; the bounds change only at the neuron's own events.
    """
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
    k = k_now + int(math.ceil(math.log(ratio) / inv_tau - _EARLY))
    return max(k, k_min)


# -- timing wheel: one doubly linked list of neurons per tick slot -----------------------------

@njit(cache=True, inline="always", _nrt=False)
def wheel_remove(i, ni, wheel, misc):
    slot = ni[i, LINK_SLOT]
    if slot < 0:
        return
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


@njit(cache=True, inline="always", _nrt=False)
def wheel_insert(i, k, ni, wheel, misc):
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


@njit(cache=True, _nrt=False)
def wheel_migrate(ni, wheel, misc):
    """Move far crossings that have come within the wheel's window into their slots."""
    i = wheel[_FAR]
    far_min = _NO_FAR
    while i >= 0:
        nxt = ni[i, LINK_NEXT]
        k = ni[i, NEXT_TICK]
        if k - misc[NOW] < WHEEL_SLOTS:
            wheel_remove(i, ni, wheel, misc)
            wheel_insert(i, k, ni, wheel, misc)
        elif k < far_min:
            far_min = k
        i = nxt
    misc[FAR_MIN] = far_min


@njit(cache=True, inline="always", _nrt=False)
def next_crossing(limit, ni, wheel, misc):
    """Earliest tick in (NOW, limit] with a scheduled crossing, or limit + 1."""
    if misc[FAR_MIN] - misc[NOW] < WHEEL_SLOTS:
        wheel_migrate(ni, wheel, misc)
    if misc[NEAR] == 0:
        return limit + 1
    stop = min(limit, misc[NOW] + WHEEL_SLOTS - 1)
    for k in range(misc[NOW] + 1, stop + 1):
        if wheel[k & _MASK] >= 0:
            return k
    return limit + 1


@njit(cache=True, inline="always", _nrt=False)
def schedule(i, k_now, k_min, nf, ni, wheel, misc):
    """(Re)file neuron i under its next crossing; its cell must be settled to ``k_now``."""
    k = crossing_tick(nf[i, CELL], nf[i, DRIVE], nf[i, LOW], nf[i, HIGH], nf[i, INV_TAU],
                      k_now, k_min)
    if k == ni[i, NEXT_TICK]:
        return
    wheel_remove(i, ni, wheel, misc)
    ni[i, NEXT_TICK] = k
    if k != NEVER:
        wheel_insert(i, k, ni, wheel, misc)


# -- neurons and synapses ----------------------------------------------------------------------

@njit(cache=True, _nrt=False)
def fill_decay_table(i, nf):
    """Neuron i's decay factors over 1..DECAY_TICKS ticks, from its time constant."""
    for dt in range(1, DECAY_TICKS + 1):
        nf[i, DECAY + dt - 1] = math.exp(-dt * nf[i, INV_TAU])


@njit(cache=True, inline="always", _nrt=False)
def settle_neuron(i, k, nf, ni, misc):
    """Advance neuron i's cell state to tick k in closed form (the decay factor is looked up for
    up to DECAY_TICKS ticks: the same numbers exp gives)."""
    dt = k - ni[i, T_LAST]
    if dt > 0:
        a = nf[i, DRIVE]
        if dt <= DECAY_TICKS:
            factor = nf[i, DECAY + dt - 1]
        else:
            factor = math.exp(-dt * nf[i, INV_TAU])
        nf[i, CELL] = a + (nf[i, CELL] - a) * factor
        ni[i, T_LAST] = k
        misc[NEURON_UPDATES] += 1


@njit(cache=True, inline="always", _nrt=False)
def mark_dirty(i, ni, n_dirty):
    if ni[i, IS_DIRTY] == 0:
        ni[i, IS_DIRTY] = 1
        ni[n_dirty, DIRTY] = i
        n_dirty += 1
    return n_dirty


@njit(cache=True, inline="always", _nrt=False)
def settle_synapse(s, k, syn, weight, nf, ni, unit, snap_step, misc, feedback, sums, snaps,
                   learn_params, syn_f):
    """Add synapse s's e-prop weight change accumulated since it was last settled."""
    step = misc[STEP]
    p = syn[PRE, s]
    i = syn[POST, s]
    kp = snap_step[p]
    ki = snap_step[i]
    src = p if kp >= ki else i
    k0 = snap_step[src]
    if k0 >= step:
        return
    log_kappa = learn_params[LP_LOG_KAPPA]
    y = unit[OUT, p]
    eps0 = y + (unit[EPS, p] - y) * math.exp(log_kappa * (k0 - kp))
    scale = math.exp(log_kappa * (misc[BASE] - k0))
    yi = unit[OUT, i]
    psi = 1.0 - yi * yi
    lr = learn_params[LP_LR]
    acc = 0.0
    if learn_params[LP_FILTER] == 0.0:
        for r in range(sums.shape[1]):
            acc += feedback[i, r] * (y * (sums[SUM, r] - snaps[SUM, src, r]) + (eps0 - y) * (
                sums[DECAYED, r] - snaps[DECAYED, src, r]) * scale)
        dw = lr * psi * acc
    else:
        log_rho = learn_params[LP_LOG_RHO]
        rho_scale = math.exp(-log_rho * (k0 - misc[BASE]))  # rho**(base - k0)
        rho_span = math.exp(log_rho * (step - k0))
        td = (sums[TD_SUM, 0] - snaps[TD_SUM, src, 0]) * rho_scale
        new_trace = 0.0
        for r in range(sums.shape[1]):
            f0 = snaps[FILTERED, src, r]
            g0 = snaps[FILTERED_DECAYED, src, r]
            acc += feedback[i, r] * (y * (sums[SUM, r] - snaps[SUM, src, r] - f0 * td) + (
                eps0 - y) * scale * (sums[DECAYED, r] - snaps[DECAYED, src, r] - g0 * td))
            new_trace += feedback[i, r] * (y * (sums[FILTERED, r] - rho_span * f0) + (
                eps0 - y) * scale * (sums[FILTERED_DECAYED, r] - rho_span * g0))
        trace = syn_f[TRACE, s]
        syn_f[TRACE, s] = rho_span * trace + psi * new_trace
        dw = lr * (trace * td + psi * acc)
    w = weight[s]
    strength = learn_params[LP_CONS]
    if strength > 0.0:
        # Synaptic-intelligence-style consolidation: importance is the path integral of
        # update x gradient; the weight is pulled towards a slowly moving anchor in proportion.
        syn_f[IMPORTANCE, s] += dw * dw / max(lr, 1e-12)
        pull = min(1.0, lr * strength * syn_f[IMPORTANCE, s] * (step - k0))
        dw -= pull * (w - syn_f[ANCHOR, s])
        syn_f[ANCHOR, s] += min(1.0, learn_params[LP_ANCHOR] * (step - k0)) * (w - syn_f[ANCHOR, s])
    clip = learn_params[LP_WCLIP]
    w_new = min(max(w + dw, -clip), clip)
    if w_new != w:
        settle_neuron(i, k, nf, ni, misc)
        nf[i, DRIVE] += (w_new - w) * y
        weight[s] = w_new
    misc[LEARN_UPDATES] += 1


@njit(cache=True, inline="always", _nrt=False)
def snapshot_unit(p, unit, snap_step, misc, sums, snaps, learn_params):
    """Record the global learning sums and p's filtered output at the current learning step."""
    step = misc[STEP]
    y = unit[OUT, p]
    decay = math.exp(learn_params[LP_LOG_KAPPA] * (step - snap_step[p]))
    unit[EPS, p] = y + (unit[EPS, p] - y) * decay
    snap_step[p] = step
    for row in range(sums.shape[0]):
        for r in range(sums.shape[1]):
            snaps[row, p, r] = sums[row, r]


@njit(cache=True, inline="always", _nrt=False)
def settle_unit_synapses(p, k, is_neuron, syn, ptr, weight, nf, ni, unit, snap_step, misc,
                         feedback, sums, snaps, learn_params, syn_f):
    """Before p's output changes: settle every synapse touching p, then snapshot p."""
    if is_neuron:
        for j in range(ptr[IN_PTR, p], ptr[IN_PTR, p + 1]):
            settle_synapse(syn[IN_SYN, j], k, syn, weight, nf, ni, unit, snap_step, misc,
                           feedback, sums, snaps, learn_params, syn_f)
    for j in range(ptr[OUT_PTR, p], ptr[OUT_PTR, p + 1]):
        if is_neuron and syn[POST, j] == p:
            continue  # a self-connection, settled above as an incoming synapse
        settle_synapse(j, k, syn, weight, nf, ni, unit, snap_step, misc,
                       feedback, sums, snaps, learn_params, syn_f)
    snapshot_unit(p, unit, snap_step, misc, sums, snaps, learn_params)


@njit(cache=True, inline="always", _nrt=False)
def deliver(p, delta, k, syn, ptr, weight, nf, ni, misc, readout, readout_value, n_dirty):
    """Send p's change to its targets' drives and to the readouts."""
    start = ptr[OUT_PTR, p]
    stop = ptr[OUT_PTR, p + 1]
    for s in range(start, stop):
        i = syn[POST, s]
        settle_neuron(i, k, nf, ni, misc)
        nf[i, DRIVE] += weight[s] * delta
        n_dirty = mark_dirty(i, ni, n_dirty)
    n_out = readout.shape[0] if p < readout.shape[1] - 1 else 0  # the last column: bias
    for r in range(n_out):
        readout_value[r] += readout[r, p] * delta
    misc[SYNOPS] += stop - start + n_out
    return n_dirty


@njit(cache=True, inline="always", _nrt=False)
def homeostasis(i, k, nf, ni, learn_params):
    """Raise the threshold of a neuron firing faster than the target rate, else lower it."""
    rate = learn_params[LP_HOMEO]
    if rate > 0.0 and ni[i, LAST_EMIT] != NEVER:
        interval = k - ni[i, LAST_EMIT]
        th = nf[i, THETA] * math.exp(rate * (1.0 - learn_params[LP_RATE] * interval))
        nf[i, THETA] = min(max(th, learn_params[LP_THMIN]), learn_params[LP_THMAX])
    ni[i, LAST_EMIT] = k


# -- entry points ------------------------------------------------------------------------------

@njit(cache=True, _nrt=False)
def advance(ev_tick, ev_channel, ev_value, k_end, syn, ptr, weight, nf, ni, unit, snap_step,
            wheel, misc, readout, readout_value, feedback, sums, snaps, learn_params, syn_f):
    """Process input events (sorted by tick, all in [NOW, k_end]) and every scheduled crossing
    up to and including tick ``k_end``, in tick order."""
    n_hidden = nf.shape[0]
    learning = misc[ACTIVE] != 0
    n_ev = ev_tick.size
    e = 0
    n_dirty = 0
    while True:
        k = ev_tick[e] if e < n_ev else k_end + 1
        k = min(k, next_crossing(min(k, k_end), ni, wheel, misc))
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
                settle_unit_synapses(p, k, False, syn, ptr, weight, nf, ni, unit, snap_step,
                                     misc, feedback, sums, snaps, learn_params, syn_f)
            unit[OUT, p] += value
            misc[INPUT_EVENTS] += 1
            n_dirty = deliver(p, value, k, syn, ptr, weight, nf, ni, misc, readout,
                              readout_value, n_dirty)
        # Scheduled threshold crossings at tick k.
        slot = k & _MASK
        while wheel[slot] >= 0:
            i = wheel[slot]
            wheel_remove(i, ni, wheel, misc)
            ni[i, NEXT_TICK] = NEVER
            settle_neuron(i, k, nf, ni, misc)
            c = nf[i, CELL]
            if c >= nf[i, HIGH] or c <= nf[i, LOW]:
                delta = tanh(c) - unit[OUT, i]
            else:
                delta = 0.0  # scheduled early by rounding: rescheduled below
            if delta != 0.0:
                if learning:
                    settle_unit_synapses(i, k, True, syn, ptr, weight, nf, ni, unit, snap_step,
                                         misc, feedback, sums, snaps, learn_params, syn_f)
                unit[OUT, i] += delta
                misc[HIDDEN_EVENTS] += 1
                homeostasis(i, k, nf, ni, learn_params)
                nf[i, LOW], nf[i, HIGH] = cell_bounds(unit[OUT, i], nf[i, THETA])
                n_dirty = deliver(i, delta, k, syn, ptr, weight, nf, ni, misc, readout,
                                  readout_value, n_dirty)
            n_dirty = mark_dirty(i, ni, n_dirty)
        # Drives changed at tick k cannot move any cell state at k, so crossings are
        # rescheduled from k + 1 on, once per touched neuron.
        for d in range(n_dirty):
            i = ni[d, DIRTY]
            ni[i, IS_DIRTY] = 0
            settle_neuron(i, k, nf, ni, misc)
            schedule(i, k, k + 1, nf, ni, wheel, misc)
        n_dirty = 0
    misc[NOW] = k_end
    return e


@njit(cache=True, _nrt=False)
def settle_all(k, syn, weight, nf, ni, unit, snap_step, misc, feedback, sums, snaps,
               learn_params, syn_f):
    """Settle every synapse and snapshot every unit at the current learning step."""
    for s in range(syn.shape[1]):
        settle_synapse(s, k, syn, weight, nf, ni, unit, snap_step, misc, feedback, sums, snaps,
                       learn_params, syn_f)
    for p in range(unit.shape[1]):
        snapshot_unit(p, unit, snap_step, misc, sums, snaps, learn_params)


@njit(cache=True, _nrt=False)
def refresh(k, syn, weight, nf, ni, unit, wheel, misc, readout, readout_value):
    """Recompute drives, bounds and readouts exactly (removes accumulated rounding) and
    reschedule every neuron."""
    n_hidden = nf.shape[0]
    n_read = readout.shape[1] - 1  # units the readouts read; the last column is the bias
    misc[NOW] = k
    misc[NEAR] = 0
    misc[FAR_MIN] = _NO_FAR
    wheel[:] = -1
    for i in range(n_hidden):
        fill_decay_table(i, nf)
        settle_neuron(i, k, nf, ni, misc)
        nf[i, DRIVE] = nf[i, BIAS]
        ni[i, LINK_SLOT] = -1
        ni[i, NEXT_TICK] = NEVER
    for s in range(syn.shape[1]):
        nf[syn[POST, s], DRIVE] += weight[s] * unit[OUT, syn[PRE, s]]
    for r in range(readout.shape[0]):
        acc = readout[r, n_read]
        for p in range(n_read):
            acc += readout[r, p] * unit[OUT, p]
        readout_value[r] = acc
    for i in range(n_hidden):
        nf[i, LOW], nf[i, HIGH] = cell_bounds(unit[OUT, i], nf[i, THETA])
        schedule(i, k, k + 1, nf, ni, wheel, misc)
