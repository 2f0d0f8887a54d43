"""Numba kernels of readout learning: eligibility traces, bounded TD steps, consolidation.

Readout ``r`` (row 0: critic, rows 1..: actor) is ``V[r] . phi`` with ``phi = [yhat; xhat; 1]``
(``[yhat; 1]`` when the readouts read the hidden layer only).
Every change of ``V`` also updates the kept readout values, so they stay current without a
recomputation. One call per learning step keeps the per-step Python overhead small.

Consolidation: synaptic intelligence (Zenke, Poole and Ganguli 2017) with windows of the
learner's steps in place of task boundaries. During a window each weight's path integral
``omega`` gathers ``-g . dw`` of its own updates, which for a step ``dw = alpha delta z`` down
the TD surrogate's gradient ``g = -delta z`` is ``dw**2 / alpha`` with the step size ``alpha``
the update took (after the overshoot bound). At the window's end the learner folds it into the
importance, ``Omega <- Omega / 2 + omega / (moved**2 + xi)`` (``moved``: how far the weight went
in the window), and moves the anchor to the weights then. Every update is pulled towards the
anchor by ``min(1, alpha * strength * Omega)`` of the gap: the gradient step of SI's penalty
``strength * Omega * (w - anchor)**2 / 2``, capped so that it cannot overshoot.
"""

from __future__ import annotations

import math

from numba import njit

from .jit import INLINE, KERNEL



@njit(**KERNEL)
def accumulate_traces(traces, features, actor_grad, decay):
    """``z <- decay * z + grad``: the critic's gradient is ``phi``, the actor's ``g_k * phi``."""
    n_out, n_feat = traces.shape
    for j in range(n_feat):
        traces[0, j] = decay * traces[0, j] + features[j]
    for r in range(1, n_out):
        g = actor_grad[r - 1]
        for j in range(n_feat):
            traces[r, j] = decay * traces[r, j] + g * features[j]


@njit(**INLINE)
def _change_weight(readout, readout_value, r, j, change, features, path, importance, anchor,
                   strength, lr, inv_lr, clip, keep_values):
    w = readout[r, j]
    if strength > 0.0:
        # consolidation (module docstring): the window's path integral of change**2 / lr, the
        # pull of SI's penalty towards the anchor
        path[r, j] += change * change * inv_lr
        pull = min(1.0, lr * strength * importance[r, j])
        change -= pull * (w - anchor[r, j])
    new = min(max(w + change, -clip), clip)
    readout[r, j] = new
    if keep_values:
        readout_value[r] += (new - w) * features[j]


@njit(**KERNEL)
def td_update(readout, readout_value, traces, features, phi2, delta, critic_lr, actor_lr,
              critic_bound, actor_bound, log_std, log_std_trace, path, importance, anchor,
              strength, clip, keep_values):
    """``V += alpha_eff * delta * z`` per group (critic row; actor rows with the log-stds),
    where ``alpha_eff = alpha / max(1, alpha * bound * |z|_2 * |phi|_2)`` cannot overshoot
    (streaming RL's ObGD, with Cauchy-Schwarz's bound on ``z . phi``: the norms the
    event-driven readouts keep); ``bound = kappa * max(|delta|, 1)`` with the group's kappa,
    ``phi2 = |phi|**2`` of the step's features (the log-stds' features are 1). ``keep_values``:
    keep the readout values current (a network that recomputes them every decision does not).
    With consolidation (``strength`` > 0) each weight's path integral gains ``change**2 /
    alpha`` with the step size ``alpha`` the update took (module docstring)."""
    n_out, n_feat = traces.shape
    for group in range(2):
        start, stop = (0, 1) if group == 0 else (1, n_out)
        lr = critic_lr if group == 0 else actor_lr
        bound = critic_bound if group == 0 else actor_bound
        norm2 = 0.0
        feat2 = phi2
        for r in range(start, stop):
            for j in range(n_feat):
                norm2 += traces[r, j] * traces[r, j]
        if group == 1:
            for k in range(log_std.size):
                norm2 += log_std_trace[k] * log_std_trace[k]
            feat2 += log_std.size
        norm = math.sqrt(norm2 * feat2)
        alpha = lr / max(1.0, lr * bound * norm)  # the step size the update takes
        step = alpha * delta
        inv_alpha = 1.0 / alpha if strength > 0.0 and alpha > 0.0 else 0.0
        if group == 1:
            for k in range(log_std.size):
                log_std[k] += step * log_std_trace[k]
        for r in range(start, stop):
            for j in range(n_feat):
                _change_weight(readout, readout_value, r, j, step * traces[r, j], features,
                               path, importance, anchor, strength, alpha, inv_alpha, clip,
                               keep_values)


@njit(**KERNEL)
def actor_update(readout, readout_value, features, head_change, path, importance, anchor,
                 strength, lr, clip, keep_values):
    """``V[1 + k] += head_change[k] * phi``: a supervised or regularising step of the actor,
    of step size ``lr``."""
    inv_lr = 1.0 / lr if strength > 0.0 and lr > 0.0 else 0.0
    for k in range(head_change.size):
        c = head_change[k]
        if c != 0.0:
            for j in range(features.size):
                _change_weight(readout, readout_value, 1 + k, j, c * features[j], features,
                               path, importance, anchor, strength, lr, inv_lr, clip,
                               keep_values)
