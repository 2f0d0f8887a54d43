"""Small shared helpers for the tests."""

import numpy as np
import pytest

from ant_ros.core.config import ActionSpec, AgentConfig, LearningConfig, NetworkConfig
from ant_ros.core.learner import OnlineLearner
from ant_ros.core.twin import twin_counts


def small_config(n_inputs=4, n_hidden=32, action=ActionSpec(), seed=0, **learning) -> AgentConfig:
    return AgentConfig(
        network=NetworkConfig(n_inputs=n_inputs, n_hidden=n_hidden, recurrent_fan_in=6,
                              input_fan_in=min(2, n_inputs), threshold=0.05, tick_s=0.02),
        learning=LearningConfig(**{"hidden_lr": 1e-3, **learning}), action=action, seed=seed)


def drive(learner: OnlineLearner, steps: int, seed: int = 0, start_step: int = 0) -> list:
    """Feed a reproducible random observation/reward stream; return the actions."""
    rng = np.random.default_rng(seed)
    obs = np.zeros(learner.n_inputs)
    actions = []
    dt = learner.config.network.tick_s
    for step in range(start_step, start_step + steps):
        obs = 0.9 * obs + rng.normal(0, 0.5, obs.size)
        reward = float(rng.normal()) if step > start_step else None
        end = step % 50 == 49
        action = learner.step_observation(obs, step * dt, reward=reward, terminated=end)
        actions.append(None if action is None else np.asarray(action).tolist())
    return actions


def state_copy(learner: OnlineLearner) -> dict:
    return {k: v.copy() for k, v in learner.state(settle=False).items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def assert_twin_cost_exact(lazy: OnlineLearner, twin: OnlineLearner) -> dict:
    """The twin's operation counts are what its log implies, the two learners made the same
    calls, and the lazy learner's estimate of the twin's flops is the twin's own count; returns
    the twin's flops by part."""
    net = twin.net
    counted = twin_counts(twin.log, net.n_hidden, net.rec_w.size, net.in_w.size,
                          net.readout.shape, net._rho, net.n_input_neurons,
                          twin.config.network.activation == "leaky_relu",
                          twin.config.learning.eprop_feedback == "backprop"
                          and twin.config.network.feedforward,
                          twin.config.network.layer_norm_gradient
                          if twin.config.network.layer_norm else "",
                          twin.config.network.layers)
    np.testing.assert_array_equal(net.count, counted)
    assert lazy.log == twin.log  # the same calls: the twin's cost depends only on them
    measured = twin.flops_by_part()
    assert lazy.twin_flops_by_part() == pytest.approx(measured, rel=1e-12)
    return measured
