"""Consolidation of the readouts (``readout.py``): synaptic intelligence with windows of steps in
place of task boundaries, against an eager reference written from the equations, through the
learner's own steps; and what it is for: a weight that mattered in a window is held near where
that window left it, and the importance fades once what mattered no longer does."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ant_ros.core.config import ConfigError
from ant_ros.core.learner import (_CONSOLIDATION_FOLD, CONSOLIDATION_KEEP, CONSOLIDATION_XI,
                                  OnlineLearner)

from helpers import small_config

STRENGTH, WINDOW = 0.5, 40


def _learner(**learning) -> OnlineLearner:
    return OnlineLearner(small_config(imitation_lr=0.2, consolidation_strength=STRENGTH,
                                      consolidation_window_steps=float(WINDOW), **learning))


def _teach(learner, steps, rule, rng, start):
    obs = np.zeros(4)
    correct = []
    for step in range(steps):
        obs = 0.8 * obs + rng.normal(0, 0.6, 4)
        teacher = rule(obs)
        action = learner.step_observation(obs, (start + step) * 0.02, teacher_action=teacher)
        correct.append(action == teacher)
    return float(np.mean(correct[-500:]))


def test_the_learner_consolidates_as_the_equations_say():
    """Through the learner's imitation steps (step size alpha = lr / max(1, lr |phi|^2)), each
    update checked against the reference: the change c * phi_j, the path integral omega +=
    (c phi_j)**2 / alpha, the pull min(1, alpha * strength * Omega) of w - anchor, the clip;
    at each window's end Omega <- KEEP * Omega + omega / (moved**2 + XI), the anchor and the
    window's start at the weights then, omega = 0."""
    learner = _learner()
    rng = np.random.default_rng(2)
    obs = np.zeros(4)
    V = learner.net.readout.copy()
    omega, Omega = np.zeros_like(V), np.zeros_like(V)
    anchor, start = V.copy(), V.copy()
    clip = 10 * learner.config.learning.weight_clip
    lr = learner.config.learning.imitation_lr
    folds = 0
    for step in range(3 * WINDOW + 5):
        obs = 0.8 * obs + rng.normal(0, 0.6, 4)
        teacher = int(obs[0] > 0)
        before = learner.net.readout.copy()
        np.testing.assert_allclose(before, V, rtol=1e-10, atol=1e-12)
        if (step + 1) % WINDOW == 0:  # the window's clock reaches WINDOW at this step's start
            moved = V - start
            Omega = CONSOLIDATION_KEEP * Omega + omega / (moved ** 2 + CONSOLIDATION_XI)
            anchor, start, omega = V.copy(), V.copy(), np.zeros_like(V)
            folds += 1
        learner.step_observation(obs, step * 0.02, teacher_action=teacher)
        # what the step changed: an imitation step of the actor rows
        changed = learner.net.readout - before
        phi = learner.pending_features
        alpha = lr / max(1.0, lr * float(phi @ phi))
        c = np.zeros(V.shape[0])
        # recover each row's c from the feature with the largest |phi| (exact: the update is
        # c * phi_j minus the pull, and the pull is known from the reference state)
        pull = np.minimum(1.0, alpha * STRENGTH * Omega)
        j = int(np.argmax(np.abs(phi)))
        c[1:] = (changed[1:, j] + pull[1:, j] * (V[1:, j] - anchor[1:, j])) / phi[j]
        update = c[:, None] * phi[None, :]
        omega[1:] += update[1:] ** 2 / alpha
        V[1:] = np.clip(V[1:] + update[1:] - pull[1:] * (V[1:] - anchor[1:]), -clip, clip)
        np.testing.assert_allclose(learner.net.readout, V, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(learner.readout_path, omega, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(learner.readout_importance, Omega, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(learner.readout_anchor, anchor, rtol=1e-10, atol=1e-12)
    assert folds == 3 and Omega[1:].max() > 0.0
    assert learner.cost()["flops_by_part"]["consolidation"] > 0.0


def test_a_weight_that_mattered_is_held_where_its_window_left_it():
    """Teach A, then B: with consolidation the readouts stay closer to where A's windows left
    them than without (how the importance fades at every window's end is checked above)."""
    drifts = []
    for strength in (0.0, STRENGTH):
        learner = OnlineLearner(small_config(imitation_lr=0.2, consolidation_strength=strength,
                                             consolidation_window_steps=500.0))
        rng = np.random.default_rng(0)
        _teach(learner, 2000, lambda o: int(o[0] > 0), rng, 0)
        learned_a = learner.net.readout.copy()
        if strength:
            assert learner.readout_importance[1:].max() > 0.0
        _teach(learner, 1000, lambda o: int(o[1] > 0), rng, 2000)
        drifts.append(np.abs(learner.net.readout - learned_a).sum())
    assert drifts[1] < 0.8 * drifts[0], drifts


def test_the_twin_refuses_consolidation():
    config = small_config(consolidation_strength=1.0)
    with pytest.raises(ConfigError, match="twin"):
        OnlineLearner(config, twin=True)
    twin = OnlineLearner(small_config(), twin=True)
    with pytest.raises(ConfigError, match="twin"):
        twin.apply_config(dataclasses.replace(twin.config, learning=dataclasses.replace(
            twin.config.learning, consolidation_strength=1.0)))


def test_consolidation_costs_its_updates_and_window_ends():
    learner = _learner()
    _teach(learner, 3 * WINDOW, lambda o: int(o[0] > 0), np.random.default_rng(0), 0)
    assert learner._kinds[_CONSOLIDATION_FOLD] == 3  # windows ended at steps 40, 80, 120
    cost = learner.cost()
    assert cost["flops_by_part"]["consolidation"] > 0.0
    assert cost["twin_flops_by_part"]["consolidation"] == 0.0
    assert math.isfinite(cost["total_ratio"])
