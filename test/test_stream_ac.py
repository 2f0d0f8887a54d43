"""The dense stream AC(lambda) baseline: its backward pass, its frozen-feature ablation and its
configuration from ``--set``."""

from __future__ import annotations

import numpy as np
import pytest

from ant_ros.core import accounting as A
from ant_ros.core.config import ActionSpec, ConfigError
from ant_ros.core.stream_ac import MLP, StreamAC, StreamACConfig


def _objective(mlp: MLP, x: np.ndarray, c: np.ndarray) -> float:
    out, _ = mlp.forward(x)
    return float(c @ out)


@pytest.mark.parametrize("frozen_hidden,layer_norm,activation", [
    (False, True, "leaky_relu"), (True, True, "leaky_relu"), (False, False, "leaky_relu"),
    (False, True, "tanh"), (False, False, "tanh")])
def test_mlp_gradients_match_finite_differences(frozen_hidden, layer_norm, activation):
    rng = np.random.default_rng(3)
    mlp = MLP((5, 7, 6, 3), sparsity=0.3, rng=rng, frozen_hidden=frozen_hidden,
              layer_norm=layer_norm, activation=activation)
    for b in mlp.biases:
        b += rng.normal(0.0, 0.1, b.size)  # non-zero biases: their gradients are checked too
    x, c = rng.normal(size=5), rng.normal(size=3)
    _, cache = mlp.forward(x)
    grads = mlp.gradients(cache, c)
    assert [g.shape for g in grads] == [p.shape for p in mlp.params]
    eps = 1e-6
    for p, g in zip(mlp.params, grads):
        numeric = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            keep = p[index]
            p[index] = keep + eps
            up = _objective(mlp, x, c)
            p[index] = keep - eps
            down = _objective(mlp, x, c)
            p[index] = keep
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_frozen_hidden_learns_only_the_output_layers_and_counts_only_their_learning():
    action = ActionSpec("continuous", low=(-1.0, -1.0), high=(1.0, 1.0))
    full = StreamAC(4, action, seed=0)
    frozen = StreamAC(4, action, seed=0, config=StreamACConfig(frozen_hidden=True))
    hidden_before = [w.copy() for w in frozen.actor.weights[:-1] + frozen.critic.weights[:-1]]
    out_before = [frozen.actor.weights[-1].copy(), frozen.critic.weights[-1].copy()]
    rng = np.random.default_rng(0)
    for step in range(200):
        frozen.step(rng.normal(size=4), None if step == 0 else float(rng.normal()))
    for before, after in zip(hidden_before, frozen.actor.weights[:-1] + frozen.critic.weights[:-1]):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(out_before[0], frozen.actor.weights[-1])
    assert not np.array_equal(out_before[1], frozen.critic.weights[-1])
    # the same forward pass, the learning of the output layers alone
    assert frozen.n_params == sum(m.weights[-1].size + m.biases[-1].size
                                  for m in (frozen.actor, frozen.critic))
    full_costs, frozen_costs = full.actor.flops(), frozen.actor.flops()
    assert frozen_costs[0] == full_costs[0]
    assert frozen_costs[1] == frozen.actor.weights[-1].size
    assert frozen.flops_per_step() < full.flops_per_step() / 3


def test_fixed_sparsity_keeps_the_zeroed_weights_zero_and_counts_the_rest():
    action = ActionSpec("discrete", n=3)
    config = StreamACConfig(fixed_sparsity=True, sparsity=0.75)
    learner, dense = StreamAC(8, action, seed=2, config=config), StreamAC(8, action, seed=2)
    masks = [m.copy() for m in learner.actor.masks[:-1]]
    assert learner.actor.masks[-1] is None  # the output layer stays dense
    rng = np.random.default_rng(1)
    for step in range(300):
        learner.step(rng.normal(size=8), None if step == 0 else float(rng.normal()),
                     terminated=step % 97 == 96)
    for w, mask, w0 in zip(learner.actor.weights, masks, dense.actor.weights):
        assert np.all(w[~mask] == 0.0) and not np.array_equal(w[mask], w0[mask])
    # masked gradients are the true ones on the remaining weights
    mlp = learner.critic
    x = rng.normal(size=8)
    _, cache = mlp.forward(x)
    grads = mlp.gradients(cache, np.ones(1))
    w, mask = mlp.weights[1], mlp.masks[1]
    i, j = map(int, np.argwhere(mask)[0])
    keep, eps = w[i, j], 1e-6
    w[i, j] = keep + eps
    up = mlp.forward(x)[0][0]
    w[i, j] = keep - eps
    down = mlp.forward(x)[0][0]
    w[i, j] = keep
    assert grads[2][i, j] == pytest.approx((up - down) / (2 * eps), rel=1e-5)
    assert np.all(grads[2][~mask] == 0.0)
    nonzero = sum(int(m.sum()) for m in masks)
    assert learner.actor.n_learning_params == (nonzero + learner.actor.weights[-1].size
                                               + sum(b.size for b in learner.actor.biases))
    assert learner.actor.flops()[0] < dense.actor.flops()[0]


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_unit_norm_standardises_each_unit_by_its_running_statistics(activation):
    """``unit_norm_steps``: each hidden unit's input minus its running mean, over its running
    standard deviation (updated by the forward pass, rate ``max(1 / (n + 1), 1 / S)``), the
    statistics constants to the gradient, which finite differences confirm once the rate is
    small."""
    rng = np.random.default_rng(7)
    mlp = MLP((4, 6, 5, 2), 0.0, rng, layer_norm=False, activation=activation,
              unit_norm_steps=50.0)
    xs = rng.normal(size=(300, 4)) * 2.0 + 1.0
    pre_first = []
    for x in xs:
        pre_first.append(mlp.weights[0] @ x)
        mlp.forward(x)
    pre_first = np.array(pre_first)
    # the first layer's statistics follow its inputs' recent mean and spread
    np.testing.assert_allclose(mlp.unit_mean[0], pre_first[-100:].mean(axis=0),
                               atol=0.5 * pre_first.std(axis=0).max())
    assert np.all(mlp.unit_var[0] > 0.2 * pre_first.var(axis=0))
    x = rng.normal(size=4)
    mean, var = mlp.unit_mean[0].copy(), mlp.unit_var[0].copy()
    out, cache = mlp.forward(x)
    moved = mlp.weights[0] @ x - mean
    rate = 1.0 / 50.0
    new_mean = mean + rate * moved
    new_var = var + rate * (moved * (mlp.weights[0] @ x - new_mean) - var)
    np.testing.assert_allclose(cache[0][1], (mlp.weights[0] @ x - new_mean)
                               / np.sqrt(new_var + 1e-5), rtol=1e-12)
    # gradients with the statistics as constants: finite differences at a tiny rate
    mlp.unit_norm_steps, mlp.unit_count = 1e12, 10**13
    state = ([m.copy() for m in mlp.unit_mean], [v.copy() for v in mlp.unit_var])
    c = rng.normal(size=2)

    def objective() -> float:
        for m, v, m0, v0 in zip(mlp.unit_mean, mlp.unit_var, *state):
            m[:], v[:] = m0, v0
        return float(c @ mlp.forward(x)[0])

    objective()
    grads = mlp.gradients(mlp.forward(x)[1], c)
    w = mlp.weights[0]
    for index in [(0, 0), (3, 2), (5, 1)]:
        keep = w[index]
        w[index] = keep + 1e-6
        up = objective()
        w[index] = keep - 1e-6
        down = objective()
        w[index] = keep
        assert grads[0][index] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)
    # its arithmetic: per unit the statistics (8), the epsilon, SQRT, the subtraction and DIV
    # forward, DIV backward; per pass the rate
    plain = MLP((4, 6, 5, 2), 0.0, np.random.default_rng(7), layer_norm=False,
                activation=activation)
    (fwd, bwd, upd), (p_fwd, p_bwd, p_upd) = mlp.flops(), plain.flops()
    assert fwd - p_fwd == 11 * (3 + 5 + 1 + A.SQRT + 1 + A.DIV) + 2 + A.DIV
    assert bwd - p_bwd == 11 * A.DIV and upd == p_upd
    with pytest.raises(ConfigError, match="replaces layer norm"):
        StreamACConfig(unit_norm_steps=100.0).validate()


def test_the_ablations_compute_and_count_what_they_say():
    x = np.random.default_rng(4).normal(size=6)
    plain = MLP((6, 8, 8, 2), 0.0, np.random.default_rng(5), layer_norm=False,
                activation="tanh")
    reference = MLP((6, 8, 8, 2), 0.0, np.random.default_rng(5))
    w0, w1, w2 = plain.weights
    expected = w2 @ np.tanh(w1 @ np.tanh(w0 @ x))  # biases start at zero
    np.testing.assert_allclose(plain.forward(x)[0], expected, rtol=1e-12)
    # the same weights, normalised and leaky: another output
    assert not np.allclose(reference.forward(x)[0], expected)
    fwd, bwd, upd = plain.flops()
    ref_fwd, ref_bwd, ref_upd = reference.flops()
    units, layers = 16, 2
    # layer norm (accounting.layer_norm_flops, the twin's too) and leaky ReLU against tanh
    assert ref_fwd - fwd == units * (6 + 1 - A.TANH) + layers * (3 + A.SQRT + A.DIV)
    assert ref_bwd - bwd == units * (7 + 1 - 3) + layers * 2  # both layers pass it down
    assert upd == ref_upd
    with pytest.raises(ConfigError, match="activation"):
        StreamACConfig(activation="relu6").validate()


def test_configuration_from_set_assignments():
    config = StreamACConfig().with_overrides(
        ["stream_ac.hidden=64,32", "stream_ac.frozen_hidden=true", "stream_ac.actor_kappa=2"])
    assert config.hidden == (64, 32) and config.frozen_hidden and config.actor_kappa == 2.0
    learner = StreamAC(3, ActionSpec("discrete", n=2), config=config)
    assert [w.shape for w in learner.actor.weights] == [(64, 3), (32, 64), (2, 32)]
    for wrong, reason in (("network.n_hidden=3", "stream_ac.FIELD"), ("stream_ac.bogus=1", "bogus"),
                          ("stream_ac.hidden=0", "hidden"), ("stream_ac.hidden=a", "layer sizes"),
                          ("stream_ac.gamma=1.5", "gamma")):
        with pytest.raises(ConfigError, match=reason):
            StreamACConfig().with_overrides([wrong])


def test_shared_trunk_is_one_network_with_the_value_as_last_output_and_two_trace_sets():
    """``shared_trunk``: actor and critic are one network (the actor's heads, then the value);
    the critic's traces reach only the value's output row, the actor's only its heads' rows,
    both reach the shared hidden layers; two forward, two backward passes and two trace sets
    over the whole network counted."""
    action = ActionSpec("continuous", low=(-1.0, -1.0), high=(1.0, 1.0))
    shared = StreamAC(4, action, seed=0, config=StreamACConfig(shared_trunk=True,
                                                               hidden=(16, 16)))
    net = shared.actor
    assert shared.critic is net and net.weights[-1].shape == (2 * 2 + 1, 16)
    assert shared.actor_traces is not net.traces and shared.n_params == net.n_learning_params
    rng = np.random.default_rng(0)
    before = [p.copy() for p in net.params]
    for step in range(60):
        action_taken = shared.step(rng.normal(size=4), None if step == 0 else float(rng.normal()))
        assert np.all(np.abs(action_taken) <= 1.0)
    critic_out, actor_out = net.traces[-2], shared.actor_traces[-2]  # output weights' traces
    assert np.all(critic_out[:-1] == 0.0) and np.any(critic_out[-1] != 0.0)
    assert np.all(actor_out[-1] == 0.0) and np.any(actor_out[:-1] != 0.0)
    for critic_z, actor_z in zip(net.traces[:-2], shared.actor_traces[:-2]):
        assert np.any(critic_z != 0.0) and np.any(actor_z != 0.0)
    assert all(not np.array_equal(b, p) for b, p in zip(before, net.params))
    # a learning step counts what flops_per_step says: two passes of the whole network
    counted = sum(shared.flops_by_part().values())
    shared.step(rng.normal(size=4), 0.5)
    assert sum(shared.flops_by_part().values()) - counted == pytest.approx(
        shared.flops_per_step())
    fwd, bwd, upd = net.flops()
    separate = StreamAC(4, action, seed=0, config=StreamACConfig(hidden=(16, 16)))
    (a_fwd, a_bwd, a_upd), (c_fwd, c_bwd, c_upd) = separate._costs
    assert shared.flops_per_step() - separate.flops_per_step() == (
        2 * (fwd + bwd + upd) - (a_fwd + a_bwd + a_upd + c_fwd + c_bwd + c_upd))
    assert fwd < a_fwd + c_fwd  # one trunk's forward, not two
    with pytest.raises(ConfigError, match="learn twice"):
        StreamACConfig(shared_trunk=True, layer_norm=False, unit_norm_steps=10.0).validate()
    # the episode's end clears both trace sets
    shared.step(rng.normal(size=4), 0.0, terminated=True)
    assert all(np.all(z == 0.0) for z in net.traces + shared.actor_traces)


def test_observation_delay_feeds_the_networks_the_observation_of_k_steps_earlier():
    """``observation_delay: 2``: the networks' input at step t is the normalised observation of
    step t - 2 (the episode's first for the first two steps); a new episode starts afresh."""
    action = ActionSpec("discrete", n=2)
    now = StreamAC(3, action, seed=4)
    late = StreamAC(3, action, seed=4,
                    config=StreamACConfig().with_overrides(["stream_ac.observation_delay=2"]))
    rng = np.random.default_rng(2)
    seen_now, seen_late = [], []
    for episode in range(2):
        for step in range(6):  # no reward: nothing learns, the inputs alone are compared
            obs = rng.normal(size=3)
            now.step(obs)
            late.step(obs)
            seen_now.append(now._pending[1][0][0].copy())  # the critic's input this step
            seen_late.append(late._pending[1][0][0].copy())
        last = rng.normal(size=3)
        for learner in (now, late):
            learner.step(last, 0.0, terminated=True)
    for start in (0, 6):
        np.testing.assert_array_equal(seen_late[start], seen_now[start])
        np.testing.assert_array_equal(seen_late[start + 1], seen_now[start])
        for t in range(start + 2, start + 6):
            np.testing.assert_array_equal(seen_late[t], seen_now[t - 2])
    with pytest.raises(ConfigError, match="observation_delay"):
        StreamACConfig(observation_delay=-1).validate()
    with pytest.raises(ConfigError, match="observation_delay"):
        StreamACConfig(observation_delay=True).validate()
