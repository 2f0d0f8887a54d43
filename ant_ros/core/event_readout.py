"""Event-driven readout learning: the readouts' TD(lambda) traces and weights settled lazily.

Readout ``r`` (row 0: critic, rows 1..: actor) is ``V[r] . phi``. Per TD step ``u`` (phase B,
once the TD error ``delta(u)`` is known) the eager rule is

    z_r <- rho z_r + g_r(u) phi(u),      V_r <- V_r + a_g(u) z_r

with ``rho = gamma lambda``, ``g_0 = 1`` (critic) and ``g_r`` the actor's gradient, and the
group's step ``a_g = delta alpha_g / max(1, alpha_g kappa_g max(|delta|, 1) |z_g|_2 |phi|_2)``
(the overshoot bound of streaming RL, on L2 norms by Cauchy-Schwarz, which can be kept
incrementally). A supervised or regularising change ``V_r += b_r phi`` happens at phase A.

A feature ``phi_j`` is constant between its unit's events, so each weight has a closed form in
per-row running sums (``F_r = rho F_r + g_r``, ``Q_r = sum a_g F_r + b_r``) and one decayed TD sum
per group (``P_g = sum a_g rho**(u - BASE)``), as the e-prop synapses have (``kernels.py``): a
feature's weights are settled only at its unit's events. The readout values stay exact without
touching every weight: ``S_r = z_r . phi`` and ``|phi|**2`` change by one term per event, and a
TD step moves ``readout_value_r`` by ``a_g (rho S_r + g_r phi(A) . phi)``. A feature that changed
between phase A and its TD step takes that step with its value at phase A (the pending list).
Weights are clipped when they are settled.
"""

from __future__ import annotations

import math

from numba import njit

from .jit import INLINE as _INLINE
from .jit import KERNEL as _FLAGS

# per weight (rows, n_out, n_features): the trace at the feature's snapshot, F_r and Q_r then
RZ, RF0, RQ0 = range(3)
RO_W_ROWS = 3
# per feature float (rows, n_features): carried TD sums and P at the snapshot, per group (critic,
# actor); the feature's value at phase A (when it changed since)
RCARRY_C, RCARRY_A, RPSNAP_C, RPSNAP_A, RPHI_A = range(5)
RO_U_ROWS = 5
# per feature int (rows, n_features): step and episode of the snapshot, version of the sums at
# it, phase in which it joined the pending list; RPENDING: the list
RK0, REPISODE, RVERSION, RPHASE, RPENDING = range(5)
RO_I_ROWS = 5
# per row (rows, n_out): F, Q, S = z . phi, |z|**2, S at phase A
RSUM_F, RSUM_Q, RSUM_S, RSUM_N2, RSUM_SA = range(5)
RO_S_ROWS = 5
# globals (float): P per group, |phi|**2, |phi(A)|**2, phi(A) . phi, rho, log rho, clip,
# rebase period, then rho**n and rho**-n for n in [0, POWERS)
(RG_P_C, RG_P_A, RG_PHI2, RG_PHI2_A, RG_X, RG_RHO, RG_LOG_RHO, RG_CLIP, RG_REBASE) = range(9)
POWERS = 1024
RG_POW = 9
RG_NEG = RG_POW + POWERS
RO_G_SIZE = RG_NEG + POWERS
# globals (int): TD steps, base, trace episode, version of the sums, phase (A count), pending,
# whether the readouts learn this way (else eagerly, ``readout.py``)
RM_STEPS, RM_BASE, RM_EPISODE, RM_VERSION, RM_PHASE, RM_NPENDING, RM_ON = range(7)
RO_M_SIZE = 7


@njit(**_INLINE)
def _power(n, ro_g):
    """rho**n for an integer n: looked up below POWERS, else computed (0 for rho = 0)."""
    if 0 <= n < POWERS:
        return ro_g[RG_POW + n]
    if 0 < -n < POWERS:
        return ro_g[RG_NEG - n]
    if ro_g[RG_RHO] == 0.0:
        return 0.0
    return math.exp(ro_g[RG_LOG_RHO] * n)


@njit(**_INLINE)
def _snapshot(j, ro_u, ro_i, ro_g, ro_m):
    ro_i[RK0, j] = ro_m[RM_STEPS]
    ro_i[REPISODE, j] = ro_m[RM_EPISODE]
    ro_i[RVERSION, j] = ro_m[RM_VERSION]
    ro_u[RCARRY_C, j] = 0.0
    ro_u[RCARRY_A, j] = 0.0
    ro_u[RPSNAP_C, j] = ro_g[RG_P_C]
    ro_u[RPSNAP_A, j] = ro_g[RG_P_A]


@njit(**_INLINE)
def _clipped(readout, readout_value, r, j, new, phi, ro_g):
    """Store weight (r, j) clipped; the kept value already counts the unclipped one."""
    clip = ro_g[RG_CLIP]
    kept = min(max(new, -clip), clip)
    readout[r, j] = kept
    if kept != new:
        readout_value[r] += (kept - new) * phi


@njit(**_INLINE)
def settle_feature(j, phi, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, count,
                   counter):
    """Apply the changes of feature j's weights since its snapshot (``phi``: its value since)
    and snapshot it (the caller has checked that a learning signal came since)."""
    k0 = ro_i[RK0, j]
    d_c = ro_u[RCARRY_C, j]
    d_a = ro_u[RCARRY_A, j]
    if ro_i[REPISODE, j] != ro_m[RM_EPISODE]:
        decay = 0.0  # the traces were reset since; the carry holds what came before
    else:
        f = _power(ro_m[RM_BASE] - k0, ro_g)
        d_c += f * (ro_g[RG_P_C] - ro_u[RPSNAP_C, j])
        d_a += f * (ro_g[RG_P_A] - ro_u[RPSNAP_A, j])
        decay = _power(ro_m[RM_STEPS] - k0, ro_g)
    for r in range(readout.shape[0]):
        c = ro_w[RZ, r, j] - phi * ro_w[RF0, r, j]
        f_r = ro_s[RSUM_F, r]
        q_r = ro_s[RSUM_Q, r]
        change = c * (d_c if r == 0 else d_a) + phi * (q_r - ro_w[RQ0, r, j])
        ro_w[RZ, r, j] = decay * c + phi * f_r
        ro_w[RF0, r, j] = f_r
        ro_w[RQ0, r, j] = q_r
        _clipped(readout, readout_value, r, j, readout[r, j] + change, phi, ro_g)
    count[counter] += readout.shape[0]
    _snapshot(j, ro_u, ro_i, ro_g, ro_m)


@njit(**_INLINE)
def feature_moved(j, phi_old, delta, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m):
    """Feature j (settled) changes by delta: S_r, |phi|**2 and phi(A) . phi follow; the first
    change after phase A records phi(A) and puts j on the pending list."""
    if ro_i[RPHASE, j] != ro_m[RM_PHASE]:
        ro_i[RPHASE, j] = ro_m[RM_PHASE]
        ro_u[RPHI_A, j] = phi_old
        ro_i[RPENDING, ro_m[RM_NPENDING]] = j
        ro_m[RM_NPENDING] += 1
    for r in range(ro_s.shape[1]):
        ro_s[RSUM_S, r] += ro_w[RZ, r, j] * delta
    phi_new = phi_old + delta
    ro_g[RG_PHI2] += phi_new * phi_new - phi_old * phi_old
    ro_g[RG_X] += ro_u[RPHI_A, j] * delta


@njit(**_FLAGS)
def begin_phase(direct, readout_value, ro_s, ro_g, ro_m):
    """Phase A: record S and |phi|**2; a direct change ``V_r += direct_r phi`` (or zeros)."""
    ro_m[RM_PHASE] += 1
    ro_m[RM_NPENDING] = 0  # no TD step came for the last phase's changes: nothing is pending
    ro_g[RG_PHI2_A] = ro_g[RG_PHI2]
    ro_g[RG_X] = ro_g[RG_PHI2]
    moved = False
    for r in range(ro_s.shape[1]):
        ro_s[RSUM_SA, r] = ro_s[RSUM_S, r]
        b = direct[r]
        if b != 0.0:
            ro_s[RSUM_Q, r] += b
            readout_value[r] += b * ro_g[RG_PHI2]
            moved = True
    if moved:
        ro_m[RM_VERSION] += 1


@njit(**_FLAGS)
def td_step(actor_grad, delta, critic_lr, actor_lr, critic_bound, actor_bound, extra_norm2,
            n_extra, out, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, count,
            counter, sweep_counter):
    """Phase B: traces, bounded steps and weights of every readout, in O(rows + pending
    features). ``actor_grad`` per actor row; ``critic_bound``/``actor_bound``: kappa max(|delta|,
    1); ``extra_norm2``, ``n_extra``: the log-std traces' |z|**2 and their number (features 1).
    Returns the actor group's step ``a_a`` (for the log-stds)."""
    n_out = readout.shape[0]
    rho = ro_g[RG_RHO]
    phi2_a = ro_g[RG_PHI2_A]
    n2_a = extra_norm2
    for r in range(n_out):
        g = 1.0 if r == 0 else actor_grad[r - 1]
        n2 = rho * rho * ro_s[RSUM_N2, r] + 2.0 * rho * g * ro_s[RSUM_SA, r] + g * g * phi2_a
        ro_s[RSUM_N2, r] = max(n2, 0.0)
        if r > 0:
            n2_a += ro_s[RSUM_N2, r]
    norm_c = math.sqrt(ro_s[RSUM_N2, 0] * phi2_a)
    norm_a = math.sqrt(n2_a * (phi2_a + n_extra))
    a_c = critic_lr / max(1.0, critic_lr * critic_bound * norm_c) * delta
    a_a = actor_lr / max(1.0, actor_lr * actor_bound * norm_a) * delta
    x = ro_g[RG_X]
    for r in range(n_out):
        g = 1.0 if r == 0 else actor_grad[r - 1]
        a = a_c if r == 0 else a_a
        s = rho * ro_s[RSUM_S, r] + g * x  # z(u) . phi(now)
        readout_value[r] += a * s
        ro_s[RSUM_S, r] = s
        ro_s[RSUM_F, r] = rho * ro_s[RSUM_F, r] + g
        ro_s[RSUM_Q, r] += a * ro_s[RSUM_F, r]
    ro_m[RM_STEPS] += 1
    decay = _power(ro_m[RM_STEPS] - ro_m[RM_BASE], ro_g)
    ro_g[RG_P_C] += a_c * decay
    ro_g[RG_P_A] += a_a * decay
    ro_m[RM_VERSION] += 1
    # features that changed since phase A take this step with their value then
    for k in range(ro_m[RM_NPENDING]):
        j = ro_i[RPENDING, k]
        phi_a = ro_u[RPHI_A, j]
        for r in range(n_out):
            g = 1.0 if r == 0 else actor_grad[r - 1]
            z = rho * ro_w[RZ, r, j] + g * phi_a
            ro_w[RZ, r, j] = z
            ro_w[RF0, r, j] = ro_s[RSUM_F, r]
            ro_w[RQ0, r, j] = ro_s[RSUM_Q, r]
            w = readout[r, j]
            new = w + (a_c if r == 0 else a_a) * z
            # the kept value counted this step's change already, with the feature's value now
            _clipped(readout, readout_value, r, j, new, out[j], ro_g)
        _snapshot(j, ro_u, ro_i, ro_g, ro_m)
    count[counter] += ro_m[RM_NPENDING] * n_out
    ro_m[RM_NPENDING] = 0
    if rho > 0.0 and ro_m[RM_STEPS] - ro_m[RM_BASE] >= ro_g[RG_REBASE]:
        rebase(ro_u, ro_i, ro_g, ro_m, count, sweep_counter)
    return a_a


@njit(**_FLAGS)
def rebase(ro_u, ro_i, ro_g, ro_m, count, counter):
    """Fold P into every open feature's carry and restart it (O(features))."""
    count[counter] += ro_u.shape[1]
    for j in range(ro_u.shape[1]):
        if ro_i[REPISODE, j] == ro_m[RM_EPISODE]:
            f = _power(ro_m[RM_BASE] - ro_i[RK0, j], ro_g)
            ro_u[RCARRY_C, j] += f * (ro_g[RG_P_C] - ro_u[RPSNAP_C, j])
            ro_u[RCARRY_A, j] += f * (ro_g[RG_P_A] - ro_u[RPSNAP_A, j])
        ro_u[RPSNAP_C, j] = 0.0
        ro_u[RPSNAP_A, j] = 0.0
    ro_g[RG_P_C] = 0.0
    ro_g[RG_P_A] = 0.0
    ro_m[RM_BASE] = ro_m[RM_STEPS]
    ro_m[RM_VERSION] += 1


@njit(**_FLAGS)
def reset_traces(ro_u, ro_i, ro_s, ro_g, ro_m, count, counter):
    """Episode boundary: every readout trace restarts from zero (O(features), no settling)."""
    rebase(ro_u, ro_i, ro_g, ro_m, count, counter)
    ro_m[RM_EPISODE] += 1
    ro_m[RM_NPENDING] = 0
    for r in range(ro_s.shape[1]):
        ro_s[RSUM_F, r] = 0.0
        ro_s[RSUM_S, r] = 0.0
        ro_s[RSUM_N2, r] = 0.0
        ro_s[RSUM_SA, r] = 0.0


@njit(**_FLAGS)
def settle_all(out, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m, count, counter,
               feature_counter, skip_counter):
    """Settle every feature's weights (``out``: the unit outputs; the last feature is the bias,
    1). Pending features keep their place: their TD step is still to come. ``counter`` counts
    weights settled, ``feature_counter`` and ``skip_counter`` features settled and skipped."""
    n_read = readout.shape[1] - 1
    for j in range(n_read + 1):
        if ro_i[RVERSION, j] != ro_m[RM_VERSION]:
            count[feature_counter] += 1
            settle_feature(j, out[j] if j < n_read else 1.0, readout, readout_value, ro_w,
                           ro_u, ro_i, ro_s, ro_g, ro_m, count, counter)
        else:
            count[skip_counter] += 1


@njit(**_FLAGS)
def restart(out, readout, readout_value, ro_w, ro_u, ro_i, ro_s, ro_g, ro_m):
    """Learning switched on: traces from zero, |phi|**2 exact, every feature snapshotted, the
    readout values exact."""
    n_read = readout.shape[1] - 1
    ro_m[RM_EPISODE] += 1
    ro_m[RM_NPENDING] = 0
    ro_m[RM_BASE] = ro_m[RM_STEPS]
    ro_m[RM_VERSION] += 1
    ro_g[RG_P_C] = 0.0
    ro_g[RG_P_A] = 0.0
    phi2 = 1.0
    for j in range(n_read):
        phi2 += out[j] * out[j]
    ro_g[RG_PHI2] = phi2
    ro_g[RG_PHI2_A] = phi2
    ro_g[RG_X] = phi2
    for r in range(ro_s.shape[1]):
        for row in range(RO_S_ROWS):
            ro_s[row, r] = 0.0
        acc = readout[r, n_read]
        for j in range(n_read):
            acc += readout[r, j] * out[j]
        readout_value[r] = acc
    for j in range(n_read + 1):
        for r in range(ro_s.shape[1]):
            ro_w[RZ, r, j] = 0.0
            ro_w[RF0, r, j] = 0.0
            ro_w[RQ0, r, j] = 0.0
        _snapshot(j, ro_u, ro_i, ro_g, ro_m)
