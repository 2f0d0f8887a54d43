"""The synchronous twin: the same model and learning rule, updated eagerly once per decision."""

import numpy as np
import pytest

from ant_ros.core import accounting as A
from ant_ros.core.config import AgentConfig, LearningConfig, NetworkConfig
from ant_ros.core.learner import OnlineLearner
from helpers import assert_twin_cost_exact, drive


def exact_config(rho_traces: bool, seed: int = 0, feedback: str = "random") -> AgentConfig:
    """Thresholds at 0 (every change is an event), one tick per decision."""
    return AgentConfig(
        network=NetworkConfig(n_inputs=4, n_hidden=32, recurrent_fan_in=6, input_fan_in=2,
                              threshold=0.0, input_threshold=0.0, homeostasis_rate=0.0,
                              tick_s=0.02),
        learning=LearningConfig(hidden_lr=0.02, eprop_td_traces=rho_traces,
                                eprop_feedback=feedback, eprop_feedback_refresh_steps=37),
        seed=seed)


@pytest.mark.parametrize("rho_traces,feedback", [(False, "random"), (True, "random"),
                                                 (False, "readout"), (True, "readout")])
def test_twin_learns_like_the_asynchronous_learner_as_the_threshold_goes_to_zero(rho_traces,
                                                                                 feedback):
    lazy = OnlineLearner(exact_config(rho_traces, feedback=feedback))
    twin = OnlineLearner(exact_config(rho_traces, feedback=feedback), twin=True)
    np.testing.assert_array_equal(lazy.net.weight, twin.net.weights_in_async_order())
    w0 = lazy.net.weight.astype(np.float64).copy()
    assert drive(lazy, 400) == drive(twin, 400)  # the same actions, step by step
    lazy.net.settle_learning()
    hidden_change = lazy.net.weight - w0
    assert np.abs(hidden_change).max() > 0.02  # the hidden weights did learn
    # stated tolerance: 1e-4 of the largest change (float32 weights, rounding in the lazy sums)
    tolerance = 1e-4 * np.abs(hidden_change).max()
    np.testing.assert_allclose(lazy.net.weight, twin.net.weights_in_async_order(),
                               atol=tolerance, rtol=0)
    np.testing.assert_allclose(lazy.net.readout, twin.net.readout, atol=1e-6)
    np.testing.assert_allclose(lazy.net.hidden_output, twin.net.hidden_output, atol=1e-5)
    if feedback == "readout":  # both refreshed their feedback from their own readouts alike
        np.testing.assert_allclose(lazy.net.feedback, twin.net.feedback, atol=1e-6)
        assert not np.allclose(lazy.net.feedback, lazy.random_feedback)


@pytest.mark.parametrize("rho_traces", [False, True])
def test_twin_cost_is_what_its_kernels_count_and_the_learner_estimates_it_exactly(rho_traces):
    config = exact_config(rho_traces)
    lazy = OnlineLearner(config)
    twin = OnlineLearner(config, twin=True)
    drive(lazy, 300)
    drive(twin, 300)
    measured = assert_twin_cost_exact(lazy, twin)
    cost = lazy.cost()
    assert cost["twin_flops_per_step"] == pytest.approx(sum(measured.values()) / 300)
    assert cost["total_ratio"] == pytest.approx(
        cost["twin_flops_per_step"] / cost["flops_per_step"])
    # at threshold 0 every neuron fires every step: the lazy learner does more, not less
    assert cost["firing_share"] > 0.9 and cost["total_ratio"] < 1.0


def test_every_part_of_a_learning_step_is_counted():
    learner = OnlineLearner(AgentConfig(learning=LearningConfig(normalize_rewards=True)))
    drive(learner, 200)
    parts = learner.cost()["flops_by_part"]
    assert set(parts) == set(A.PARTS)
    for part in ("input_coding", "normalisation", "events", "neurons", "scheduling", "eprop",
                 "homeostasis", "readout_learning", "step_size", "policy"):
        assert parts[part] > 0, part


@pytest.mark.parametrize("rho_traces", [False, True])
def test_twin_stays_in_step_through_live_switches_of_the_feedback(rho_traces):
    """Switched live to readout feedback, then back to random: both take the switch at the
    next step's refresh point, so the lazy learner still learns as the twin does."""
    lazy = OnlineLearner(exact_config(rho_traces))
    twin = OnlineLearner(exact_config(rho_traces), twin=True)
    w0 = lazy.net.weight.astype(np.float64).copy()
    for start, steps, feedback in ((0, 150, "random"), (150, 150, "readout"),
                                   (300, 100, "random")):
        for learner in (lazy, twin):
            learner.apply_config(exact_config(rho_traces, feedback=feedback))
        assert drive(lazy, steps, start_step=start) == drive(twin, steps, start_step=start)
        np.testing.assert_allclose(lazy.net.feedback, twin.net.feedback, atol=1e-6)
        # the switch took: readout feedback in the middle phase, the random draw around it
        assert np.array_equal(lazy.net.feedback, lazy.random_feedback) == (feedback == "random")
    lazy.net.settle_learning()
    hidden_change = lazy.net.weight - w0
    assert np.abs(hidden_change).max() > 0.02
    np.testing.assert_allclose(lazy.net.weight, twin.net.weights_in_async_order(),
                               atol=1e-4 * np.abs(hidden_change).max(), rtol=0)
    np.testing.assert_array_equal(lazy.net.feedback, lazy.random_feedback)
    np.testing.assert_array_equal(twin.net.feedback, twin.random_feedback)
