"""Consolidation of the readouts (``readout.py``): synaptic intelligence's path integral with an
importance that decays, against an eager reference written from the equations; and what the
decay is for: learning goes on when what mattered long ago no longer does."""

from __future__ import annotations

import math

import numpy as np

from ant_ros.core import readout
from ant_ros.core.learner import OnlineLearner

from helpers import small_config


def _reference_td_update(V, z, phi, delta, lrs, bounds, importance, anchor, strength, decay,
                         anchor_rate, clip):
    """One learning step of the readouts with consolidation, from the equations: importance
    <- decay * importance; per group (row 0, rows 1..) alpha = lr / max(1, lr * bound * |z|_2 *
    |phi|_2), the update dw = alpha delta z; importance += dw**2 / alpha; the pull min(1, alpha
    * strength * importance) of w towards the anchor; the anchor moves by anchor_rate of
    w - anchor; clip."""
    V, importance, anchor = V.copy(), importance.copy(), anchor.copy()
    for rows, lr, bound in ((slice(0, 1), lrs[0], bounds[0]), (slice(1, None), lrs[1], bounds[1])):
        norm = math.sqrt(float(np.sum(z[rows] ** 2)) * float(phi @ phi))
        alpha = lr / max(1.0, lr * bound * norm)
        dw = alpha * delta * z[rows]
        importance[rows] = decay * importance[rows] + dw ** 2 / alpha  # decay: once per step
        pull = np.minimum(1.0, alpha * strength * importance[rows])
        w = V[rows]
        new = np.clip(w + dw - pull * (w - anchor[rows]), -clip, clip)
        anchor[rows] += anchor_rate * (w - anchor[rows])
        V[rows] = new
    return V, importance, anchor


def test_the_importance_is_the_decayed_path_integral_of_each_update():
    """The kernel against the reference over steps with TD errors, steps without (where the
    importance only decays), large traces (where the overshoot bound shrinks the step, and the
    importance divides by the step taken, not by the learning rate); the decay applied before
    each step, as the learner does."""
    rng = np.random.default_rng(3)
    n_out, n_feat = 3, 6
    V = rng.normal(0, 0.3, (n_out, n_feat))
    value = V @ np.ones(n_feat)
    importance = np.zeros((n_out, n_feat))
    anchor = V.copy()
    ref = (V.copy(), importance.copy(), anchor.copy())
    strength, decay, anchor_rate, clip = 5.0, math.exp(-1 / 50), 1 / 200, 4.0
    lrs, kappas = (0.05, 0.02), (2.0, 3.0)
    no_std = np.zeros(0)
    for step in range(60):
        phi = rng.normal(0, 1.0, n_feat)
        z = rng.normal(0, 3.0 if step % 7 == 0 else 0.3, (n_out, n_feat))
        delta = 0.0 if step % 5 == 4 else float(rng.normal(0, 1.0))
        size = max(abs(delta), 1.0)
        bounds = (kappas[0] * size, kappas[1] * size)
        importance *= decay
        readout.td_update(V, value, z, phi, float(phi @ phi), delta, lrs[0], lrs[1], bounds[0],
                          bounds[1], no_std, no_std, importance, anchor, strength, anchor_rate,
                          clip, False)
        ref = _reference_td_update(ref[0], z, phi, delta, lrs, bounds, *ref[1:], strength,
                                   decay, anchor_rate, clip)
        np.testing.assert_allclose(V, ref[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(importance, ref[1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(anchor, ref[2], rtol=1e-12, atol=1e-14)
    assert importance.max() > 0.0


def _teach(learner, steps, rule, rng, start):
    obs = np.zeros(4)
    correct = []
    for step in range(steps):
        obs = 0.8 * obs + rng.normal(0, 0.6, 4)
        teacher = rule(obs)
        action = learner.step_observation(obs, (start + step) * 0.02, teacher_action=teacher)
        correct.append(action == teacher)
    return float(np.mean(correct[-500:]))


def test_an_importance_that_decays_lets_a_new_task_be_learned():
    """Consolidation whose importance never decays (the old running sum) holds the readouts
    ever more firmly where they were, so a second task is learned worse and worse; with an
    importance that decays, task B is learned better (A's protection lasts about as long as
    A's updates mattered)."""
    scores = {}
    for steps in (1e12, 300.0):
        config = small_config(imitation_lr=0.2, consolidation_strength=1.0,
                              consolidation_anchor_steps=500.0,
                              consolidation_importance_steps=steps)
        learner = OnlineLearner(config)
        rng = np.random.default_rng(0)
        _teach(learner, 2000, lambda o: int(o[0] > 0), rng, 0)
        scores[steps] = _teach(learner, 4000, lambda o: int(o[1] > 0), rng, 2000)
    assert scores[300.0] > 0.75
    assert scores[300.0] > scores[1e12] + 0.1, scores
