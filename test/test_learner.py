"""The online learner: bad input, determinism, learning by reward and by imitation."""

import copy
import dataclasses
import json
import math

import gymnasium as gym
import numpy as np
import pytest

from ant_ros.core import accounting as A
from ant_ros.core import kernels as K
from ant_ros.core.config import ActionSpec, AgentConfig, ConfigError, LearningConfig
from ant_ros.core.connectivity import build_connectivity
from ant_ros.core.encoders import PopulationEncoder
from ant_ros.core.events import EventBatch, InputError
from ant_ros.core.learner import OnlineLearner
from ant_ros.tasks.direct_runner import agent_config_for, train

from helpers import assert_same_state, assert_twin_cost_exact, drive, small_config, state_copy

CONTINUOUS = ActionSpec(kind="continuous", low=(-2.0, -0.5), high=(2.0, 0.5))


@pytest.mark.parametrize("bad", [
    dict(observation=[np.nan, 0, 0, 0]),
    dict(observation=[np.inf, 0, 0, 0]),
    dict(observation=[0, 0, 0]),
    dict(reward=float("nan")),
    dict(reward=float("inf")),
    dict(time_s=0.0),  # earlier than the learner's clock
    dict(time_s=float("nan")),
    dict(teacher_action=7),
    dict(teacher_action=1.5),
])
def test_bad_input_is_refused_and_changes_nothing(bad):
    learner = OnlineLearner(small_config())
    drive(learner, 60)
    before = state_copy(learner)
    call = dict(observation=np.zeros(4), time_s=10.0, reward=1.0)
    call.update(bad)
    with pytest.raises(InputError):
        learner.step_observation(call["observation"], call["time_s"], reward=call["reward"],
                                 teacher_action=call.get("teacher_action"))
    assert_same_state(before, state_copy(learner))


@pytest.mark.parametrize("events", [
    EventBatch.from_arrays([9], [10.0], [1.0]),            # unknown channel
    EventBatch.from_arrays([-1], [10.0], [1.0]),
    EventBatch.from_arrays([1], [10.0], [np.nan]),          # NaN value
    EventBatch.from_arrays([1], [10.0], [np.inf]),
    EventBatch.from_arrays([1], [np.nan], [1.0]),           # NaN time
    EventBatch.from_arrays([1], [50.0], [1.0]),             # later than the step
])
def test_bad_events_are_refused_and_change_nothing(events):
    learner = OnlineLearner(small_config())
    drive(learner, 60)
    before = state_copy(learner)
    with pytest.raises(InputError):
        learner.step_events(events, 10.0, reward=0.0)
    assert_same_state(before, state_copy(learner))


def test_events_update_inputs_like_observations():
    by_obs = OnlineLearner(small_config())
    by_events = OnlineLearner(small_config())
    obs = np.zeros(4)
    rng = np.random.default_rng(2)
    for step in range(100):
        change = np.where(rng.random(4) < 0.5, rng.normal(0, 0.3, 4), 0.0)
        obs = obs + change
        ch = np.flatnonzero(change)
        t = step * 0.02
        a = by_obs.step_observation(obs, t, reward=0.1 if step else None)
        b = by_events.step_events(EventBatch.from_arrays(ch, np.full(ch.size, t), change[ch]), t,
                                  reward=0.1 if step else None)
        assert a == b
    # the same state, but for the accounting: events come from a sender's send-on-delta encoder
    obs_state, event_state = state_copy(by_obs), state_copy(by_events)
    sensor = A.PARTS.index("sensor_encoding")
    assert obs_state["learner.python_flops"][sensor] == 0
    assert event_state["learner.python_flops"][sensor] > 0
    for state in (obs_state, event_state):
        state["learner.python_flops"][sensor] = 0
    assert_same_state(obs_state, event_state)


@pytest.mark.parametrize("eprop_td_traces", [False, True])
def test_same_seed_same_result(eprop_td_traces):
    runs = []
    for _ in range(2):
        learner = OnlineLearner(small_config(seed=3, eprop_td_traces=eprop_td_traces))
        actions = drive(learner, 400, seed=5)
        runs.append((actions, state_copy(learner)))
    assert runs[0][0] == runs[1][0]
    assert_same_state(runs[0][1], runs[1][1])
    other = OnlineLearner(small_config(seed=4, eprop_td_traces=eprop_td_traces))
    assert drive(other, 400, seed=5) != runs[0][0]


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_continuous_actions_stay_within_limits_and_learn(squash):
    learner = OnlineLearner(small_config(action=CONTINUOUS, action_squash=squash))
    actions = [a for a in drive(learner, 500) if a is not None]
    arr = np.array(actions)
    assert np.all(np.isfinite(arr))
    assert np.all(arr[:, 0] >= -2.0) and np.all(arr[:, 0] <= 2.0)
    assert np.all(arr[:, 1] >= -0.5) and np.all(arr[:, 1] <= 0.5)
    assert np.abs(learner.net.readout[1:]).sum() > 0  # the actor learned something
    at_limit = np.isin(arr[:, 0], (-2.0, 2.0)).mean()
    assert (at_limit > 0.05) if squash == "clip" else (at_limit == 0.0)


def _pre_squash_means(learner: OnlineLearner, steps: int) -> np.ndarray:
    """A stream whose reward is the first action itself: the policy gradient pushes its mean
    up into the squash's saturation, where the action no longer follows it."""
    rng = np.random.default_rng(0)
    obs, reward, means = np.zeros(4), None, []
    for step in range(steps):
        obs = 0.9 * obs + rng.normal(0, 0.5, 4)
        action = learner.step_observation(obs, step * 0.02, reward=reward)
        reward = float(action[0])
        means.append(float(learner._command_head[0]))
    return np.array(means)


def test_means_beyond_the_limit_are_pulled_back_and_counted():
    free = _pre_squash_means(OnlineLearner(small_config(action=CONTINUOUS, actor_lr=0.05)), 3000)
    assert np.median(free[-500:]) > 2.0  # drifted into saturation (tanh(2) = 0.96)
    limited = _pre_squash_means(OnlineLearner(small_config(
        action=CONTINUOUS, actor_lr=0.05, mean_limit=1.5)), 3000)
    assert np.percentile(limited[-500:], 95) < 1.6  # held at the limit
    assert np.median(limited[-500:]) > 0.8  # and still pushed up to it
    # counted: the limit's test on every learning step without a teacher, the pull's update
    # where a mean is beyond it; the twin's estimate stays exact (thresholds 0: the same path)
    from ant_ros.core.learner import _MEAN_LIMIT
    exact = small_config(action=CONTINUOUS, actor_lr=0.05, mean_limit=0.05)
    exact = dataclasses.replace(exact, network=dataclasses.replace(
        exact.network, threshold=0.0, input_threshold=0.0, homeostasis_rate=0.0))
    lazy, twin = OnlineLearner(exact), OnlineLearner(exact, twin=True)
    _pre_squash_means(lazy, 300)
    _pre_squash_means(twin, 300)
    assert_twin_cost_exact(lazy, twin)
    assert lazy._kind_flops[0][_MEAN_LIMIT, A.PARTS.index("readout_learning")] == 2 * 4
    frozen = OnlineLearner(dataclasses.replace(exact, learning=dataclasses.replace(
        exact.learning, learning_enabled=False)))
    _pre_squash_means(frozen, 100)
    assert frozen.cost()["flops_by_part"]["readout_learning"] == 0.0  # no learning, no limit


def test_td_traces_learn_hidden_weights_and_restart_each_episode():
    """Within an episode a TD error moves the hidden weights through the traces; after the
    episode's end the traces are 0, so the same TD error moves nothing."""
    moved = []
    for end_episode in (False, True):
        learner = OnlineLearner(small_config(eprop_td_traces=True))
        w0 = learner.net.weight.copy()
        drive(learner, 49)  # the stream ends its first episode at step 49
        if end_episode:
            learner.step_observation(np.zeros(4), 49 * 0.02, reward=0.0, terminated=True)
        learner.net.settle_learning()
        assert not np.array_equal(learner.net.weight, w0)
        before = learner.net.weight.copy()
        learner.net.apply_td_error(1.0)
        learner.net.settle_learning()
        moved.append(float(np.abs(learner.net.weight - before).max()))
    assert moved[0] > 1e-4 and moved[1] == 0.0


def test_imitation_learns_the_teachers_discrete_policy():
    learner = OnlineLearner(small_config(imitation_lr=0.2))
    rng = np.random.default_rng(0)
    obs = np.zeros(4)
    agree = []
    for step in range(3000):
        obs = 0.8 * obs + rng.normal(0, 0.6, 4)
        teacher = int(obs[0] + 0.5 * obs[2] > 0)
        action = learner.step_observation(obs, step * 0.02, teacher_action=teacher,
                                          deterministic=True)
        agree.append(action == teacher)
    assert np.mean(agree[-500:]) > 0.9
    assert np.mean(agree[-500:]) > np.mean(agree[:30]) + 0.15


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_imitation_of_continuous_commands(squash):
    learner = OnlineLearner(small_config(action=CONTINUOUS, imitation_lr=0.2,
                                         action_squash=squash))
    rng = np.random.default_rng(0)
    obs = np.zeros(4)
    errors = []
    for step in range(3000):
        obs = 0.8 * obs + rng.normal(0, 0.6, 4)
        teacher = np.array([np.clip(obs[1], -1.5, 1.5), 0.3 * np.tanh(obs[3])])
        action = learner.step_observation(obs, step * 0.02, teacher_action=teacher,
                                          deterministic=True)
        errors.append(np.abs(np.asarray(action) - teacher).mean())
    assert np.mean(errors[-500:]) < 0.1
    assert np.mean(errors[-500:]) < 0.5 * np.mean(errors[:20])


def test_cartpole_learner_clearly_beats_a_random_policy():
    result = train("CartPole-v1", 15_000, seed=0)
    random_mean = 22.0  # CartPole-v1 under uniformly random actions
    assert np.mean(result.episode_returns[-20:]) > 3 * random_mean
    assert result.ops["total_ratio"] > 1.0


def test_live_configuration_and_fixed_structure():
    learner = OnlineLearner(small_config())
    new = dataclasses.replace(learner.config, learning=dataclasses.replace(
        learner.config.learning, actor_lr=0.001, hidden_lr=0.0))
    learner.apply_config(new)
    assert learner.config.learning.actor_lr == 0.001
    assert learner.net.learn_params[0] == 0.0
    bigger = dataclasses.replace(learner.config, network=dataclasses.replace(
        learner.config.network, n_hidden=64))
    with pytest.raises(ConfigError):
        learner.apply_config(bigger)
    with pytest.raises(ConfigError):
        small_config(gamma=1.5).validate()


def test_disabled_learning_changes_no_weight():
    learner = OnlineLearner(small_config())
    drive(learner, 50)
    learner.set_learning_enabled(False)
    before = {k: v.copy() for k, v in learner.state().items()}
    drive(learner, 200, start_step=50)
    after = learner.state()
    for key in ("net.weight", "net.readout", "learner.log_std"):
        np.testing.assert_array_equal(before[key], after[key])


def test_consolidation_keeps_weights_closer_to_what_was_learned_first():
    drifts = []
    for strength in (0.0, 50.0):
        learner = OnlineLearner(small_config(imitation_lr=0.2, consolidation_strength=strength,
                                             consolidation_window_steps=1000.0))
        rng = np.random.default_rng(0)
        obs = np.zeros(4)
        for step in range(4000):
            obs = 0.8 * obs + rng.normal(0, 0.6, 4)
            task_a = step < 2000
            teacher = int(obs[0] > 0) if task_a else int(obs[1] > 0)
            if step == 2000:
                learned_a = learner.net.readout.copy()
            learner.step_observation(obs, step * 0.02, teacher_action=teacher)
        drifts.append(np.abs(learner.net.readout - learned_a).sum())
    assert drifts[1] < 0.8 * drifts[0]


def test_pendulum_learner_swings_up_within_a_small_budget():
    result = train("Pendulum-v1", 30_000, seed=0)
    returns = np.array(result.episode_returns)
    # random torques score about -1,200; the preset halves that within 150 episodes
    assert returns[:20].mean() < -1000
    assert returns[-20:].mean() > -700


def test_population_coded_inputs_move_only_the_fields_near_the_value():
    config = small_config(n_inputs=3)
    config = dataclasses.replace(config, network=dataclasses.replace(
        config.network, input_fields=8, input_fan_in=3, input_threshold=0.02),
        learning=dataclasses.replace(config.learning, normalize_observations=False))
    learner = OnlineLearner(config)
    assert learner.net.n_channels == 24
    learner.step_observation(np.array([0.3, 0.8, -1.0]), 0.0)
    field_values = learner.net.input_value.reshape(3, 8).copy()
    # each value's strongest field is the one whose centre (8 spaced over +-2) is nearest
    np.testing.assert_array_equal(field_values.argmax(axis=1), [4, 5, 2])
    before = int(learner.net.count[K.C_INPUT_EVENT])
    learner.step_observation(np.array([0.3, 0.9, -1.0]), 0.02)  # a small change of one value
    changed = int(learner.net.count[K.C_INPUT_EVENT]) - before
    assert 1 <= changed <= 4  # a few fields of value 1, none of the others
    np.testing.assert_array_equal(learner.net.input_value.reshape(3, 8)[[0, 2]],
                                  field_values[[0, 2]])


def test_population_inputs_are_part_of_the_fixed_structure():
    config = small_config(n_inputs=3)
    with pytest.raises(ConfigError, match="input_fan_in"):
        dataclasses.replace(config.network, input_fan_in=5).validate()
    wide = dataclasses.replace(config.network, input_fields=4, input_fan_in=5)
    assert wide.validate().n_channels == 12
    with pytest.raises(ConfigError, match="input_fields"):
        dataclasses.replace(wide, input_fields=65).validate()
    learner = OnlineLearner(dataclasses.replace(config, network=wide))
    with pytest.raises(ConfigError, match="fixed"):
        learner.apply_config(dataclasses.replace(config, network=dataclasses.replace(
            wide, input_field_range=3.0)))


def test_overrides_are_parsed_by_field_type_and_unknown_ones_refused():
    config = small_config().with_overrides(
        ["network.threshold=0.07", "learning.eprop_td_traces=true", "network.input_fields=4",
         "learning.action_squash=clip"])
    assert config.network.threshold == 0.07 and config.network.input_fields == 4
    assert config.learning.eprop_td_traces is True and config.learning.action_squash == "clip"
    for bad in ("network.bogus=1", "network.n_hidden=1.5", "learning.eprop_td_traces=maybe",
                "action.n=3", "threshold=0.1", "network.threshold"):
        with pytest.raises(ConfigError):
            small_config().with_overrides([bad])
    with pytest.raises(ConfigError, match="use --seed"):
        small_config().with_overrides(["network.seed=3"], fixed={"network.seed": "use --seed"})


def field_linear_config(n_inputs=3, gain=(1.0,), readout_inputs=False, **network):
    config = small_config(n_inputs=n_inputs, n_hidden=24, normalize_observations=False)
    return dataclasses.replace(config, network=dataclasses.replace(
        config.network, input_fields=16, input_field_range=1.0, input_field_width=2.0,
        input_wiring="field_linear", input_fan_in=4 * n_inputs, input_gain=gain,
        readout_inputs=readout_inputs, **network))


def test_field_linear_wiring_reads_spaced_fields_and_starts_linear_in_the_inputs():
    net = OnlineLearner(field_linear_config()).net
    _, U = net.dense_weights()
    for neuron in range(net.n_hidden):
        for value in range(3):  # every 4th of the 16 fields of every input, from some offset
            read = np.flatnonzero(U[neuron, value * 16:(value + 1) * 16])
            assert read.size == 4 and np.all(np.diff(read) == 4)
    # away from the range's ends, each neuron's drive from each input's fields is close to
    # g * x, with g ~ N(0, input_scale**2 / n_inputs)
    code = PopulationEncoder(-1.0, 1.0, 16, 2.0)
    xs = np.linspace(-0.5, 0.5, 11)
    slopes = []
    for value in range(3):
        drive = np.array([U[:, value * 16:(value + 1) * 16] @ code.transform([x])
                          for x in xs])                               # (x, neurons)
        slope, offset = np.polyfit(xs, drive, 1)
        residual = drive - np.outer(xs, slope) - offset
        assert np.all(np.abs(residual).max(axis=0) < 0.05 * np.abs(slope))
        slopes.append(slope)
    assert 0.35 < np.std(slopes) < 0.85  # 1 / sqrt(3) = 0.58


def test_input_gain_changes_event_resolution_but_not_the_initial_drive():
    plain = OnlineLearner(field_linear_config())
    gained = OnlineLearner(field_linear_config(gain=(0.5, 1.0, 2.0)))
    _, u_plain = plain.net.dense_weights()
    _, u_gained = gained.net.dense_weights()
    x = np.array([0.3, -0.2, 0.6])
    fields = PopulationEncoder(-1.0, 1.0, 16, 2.0).transform(x)
    np.testing.assert_allclose(u_gained @ (fields * np.repeat([0.5, 1.0, 2.0], 16)),
                               u_plain @ fields, rtol=1e-5, atol=1e-5)
    # sweeping one input at a time: the 0.5-gain input sends fewer events, the 2.0-gain more
    for moving, fewer in ((0, True), (2, False)):
        counts = []
        for config in (field_linear_config(), field_linear_config(gain=(0.5, 1.0, 2.0))):
            learner = OnlineLearner(config)
            for step, value in enumerate(np.linspace(-0.5, 0.5, 40)):
                obs = np.zeros(3)
                obs[moving] = value
                learner.step_observation(obs, step * 0.02)
            counts.append(int(learner.net.count[K.C_INPUT_EVENT]))
        assert (counts[1] < counts[0]) if fewer else (counts[1] > counts[0])
    with pytest.raises(ConfigError, match="input_gain"):
        field_linear_config(gain=(1.0, 2.0)).validate()
    with pytest.raises(ConfigError, match="input_gain"):
        field_linear_config(gain=(1.0, 0.0, 1.0)).validate()


def test_initial_weights_are_clipped_like_learned_ones():
    env = gym.make("Pendulum-v1")
    config = agent_config_for(env, "Pendulum-v1", seed=0)  # gains 0.5 inflate some weights
    env.close()
    learner = OnlineLearner(config)
    assert np.abs(learner.net.weight).max() == pytest.approx(config.learning.weight_clip)
    unclipped = build_connectivity(config.network, np.random.default_rng(0)).weight
    assert np.abs(unclipped).max() > config.learning.weight_clip


def test_per_input_values_become_tuples_of_floats_or_are_refused():
    scale = LearningConfig(observation_scale=[np.float32(2.0), 8]).observation_scale
    assert scale == (2.0, 8.0) and all(type(v) is float for v in scale)
    for bad in ((True,), ("2",), (10**400,), (math.nan,), (), 2.0):
        with pytest.raises(ConfigError, match="observation_scale"):
            LearningConfig(observation_scale=bad).validate()
    # a configuration written before the per-input fields existed loads with their defaults
    raw = json.loads(small_config().to_json())
    del raw["network"]["input_gain"], raw["learning"]["observation_scale"]
    assert AgentConfig.from_json(json.dumps(raw)) == small_config()


def test_field_linear_wiring_is_checked():
    with pytest.raises(ConfigError, match="multiple of n_inputs"):
        dataclasses.replace(field_linear_config().network, input_fan_in=5).validate()
    with pytest.raises(ConfigError, match="input_fields"):
        dataclasses.replace(field_linear_config().network, input_fields=0,
                            input_fan_in=3).validate()
    with pytest.raises(ConfigError, match="input_wiring"):
        dataclasses.replace(field_linear_config().network, input_wiring="spiral").validate()


def test_readouts_of_the_hidden_layer_only_cost_nothing_per_input_event():
    hidden_only = OnlineLearner(field_linear_config(readout_inputs=False))
    both = OnlineLearner(field_linear_config(readout_inputs=True))
    n, m, rows = 24, 48, 3  # rows: the critic and two discrete actions
    assert hidden_only.net.readout.shape == (rows, n + 1)
    assert both.net.readout.shape == (rows, n + m + 1)
    assert hidden_only.net.features().shape == (n + 1,)

    for learner in (hidden_only, both):
        learner.net.process_ticks(np.array([1], np.int64), np.array([5], np.int32),
                                  np.array([0.5]), 1)
    # the same network otherwise: one input event costs one op per readout more only where
    # the readouts read the inputs
    np.testing.assert_array_equal(hidden_only.net.hidden_output, both.net.hidden_output)
    assert (both.net.count[K.C_READOUT_DELIVER] - hidden_only.net.count[K.C_READOUT_DELIVER]
            == rows)
    drive(hidden_only, 200)  # learns, and the readouts stay consistent with the features
    kept = hidden_only.net.readout_value.copy()
    hidden_only.net.settle_learning()  # the readout weights learn lazily: settle them
    np.testing.assert_allclose(kept, hidden_only.net.readout @ hidden_only.net.features(),
                               atol=1e-9)


def test_observation_scale_divides_each_input_before_it_is_coded():
    config = small_config(n_inputs=2, normalize_observations=False, observation_scale=(2.0, 8.0))
    config = dataclasses.replace(config, network=dataclasses.replace(
        config.network, input_threshold=0.0))
    learner = OnlineLearner(config)
    learner.step_observation(np.array([1.0, 4.0]), 0.0)
    np.testing.assert_allclose(learner.net.input_value, [0.5, 0.5])
    for bad in ((2.0, 8.0, 1.0), (0.0,), (-1.0, 1.0), (math.inf,)):
        with pytest.raises(ConfigError, match="observation_scale"):
            dataclasses.replace(config, learning=dataclasses.replace(
                config.learning, observation_scale=bad)).validate()
    with pytest.raises(ConfigError, match="fixed"):
        learner.apply_config(dataclasses.replace(config, learning=dataclasses.replace(
            config.learning, observation_scale=(1.0,))))


def test_tuple_overrides_parse_lists_of_floats():
    config = small_config(n_inputs=3).with_overrides(
        ["learning.observation_scale=1,1,8", "network.input_gain=[0.5, 0.5, 0.8]"])
    assert config.learning.observation_scale == (1.0, 1.0, 8.0)
    assert config.network.input_gain == (0.5, 0.5, 0.8)
    for bad in ("network.input_gain=", "network.input_gain=a,b", "network.input_gain=[]",
                "network.input_gain=1,,8"):
        with pytest.raises(ConfigError, match="input_gain"):
            small_config().with_overrides([bad])
    assert AgentConfig.from_json(config.validate().to_json()) == config


def test_switching_learning_back_on_takes_no_td_step_across_the_switch():
    learner = OnlineLearner(small_config())
    drive(learner, 120)
    learner.set_learning_enabled(False)
    drive(learner, 20, seed=1, start_step=120)  # within the episode: a step is pending
    learner.set_learning_enabled(True)
    learner.net.settle_learning()
    before = learner.net.readout.copy(), learner.net.weight.copy()
    # the first step after the switch has a reward but no step to judge: nothing moves
    learner.step_observation(np.full(4, 0.3), 140 * 0.02, reward=5.0)
    learner.net.settle_learning()
    np.testing.assert_array_equal(learner.net.readout, before[0])
    np.testing.assert_array_equal(learner.net.weight, before[1])
    drive(learner, 5, seed=2, start_step=141)
    learner.net.settle_learning()
    assert not np.array_equal(learner.net.readout, before[0])  # and then it learns again


def test_consolidation_switched_on_live_starts_from_the_weights_then():
    learner = OnlineLearner(small_config())
    drive(learner, 200)
    learner.apply_config(dataclasses.replace(learner.config, learning=dataclasses.replace(
        learner.config.learning, consolidation_strength=10.0)))
    np.testing.assert_array_equal(learner.readout_anchor, learner.net.readout)
    assert not learner._event_readouts  # consolidation learns the readouts eagerly
    np.testing.assert_allclose(learner.pending_features, learner.net.features())
    drive(learner, 50, seed=1, start_step=200)
    assert np.all(np.isfinite(learner.net.readout))


def test_readout_feedback_is_the_readouts_own_weights_scaled_and_refreshed():
    """``eprop_feedback: readout``: every refresh, B[i, r] is readout r's weight of neuron i,
    scaled to the random draw's size per readout (a readout with no weights yet keeps its
    random column); the refresh, with its settlement of every synapse, is counted; back to
    ``random``, the random draw returns; the refreshed B and the random draw survive a
    checkpoint."""
    config = small_config(eprop_feedback="readout", eprop_feedback_refresh_steps=25)
    learner = OnlineLearner(config)
    random_feedback = learner.net.feedback.copy()
    drive(learner, 1)  # the first refresh: readouts all zero, so the random draw stays
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)
    drive(learner, 99, start_step=1)  # refreshed at steps 26, 51, 76
    stale = learner.net.feedback.copy()
    settled = copy.deepcopy(learner)  # the learner itself left as it is: its refresh settles
    settled.net.settle_readouts()
    n, r = learner.net.n_hidden, learner.n_actions + 1
    weights = settled.net.readout[:, :n].copy()
    assert np.all(np.abs(weights).sum(axis=1) > 0.0)
    learner.flops_by_part()  # the charges so far folded
    before = learner.python_flops[A.EPROP]
    settles_before = int(learner.net.count[K.C_SETTLE])
    drive(learner, 1, start_step=100)  # step 101: refreshed from the readouts of step 100
    learner.flops_by_part()
    refresh_step = learner.python_flops[A.EPROP] - before
    assert int(learner.net.count[K.C_SETTLE]) - settles_before >= learner.net.weight.size
    assert not np.allclose(stale, learner.net.feedback)
    expected = (weights / np.sqrt(np.mean(weights ** 2, axis=1, keepdims=True))).T / np.sqrt(r)
    np.testing.assert_allclose(learner.net.feedback, expected, rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.mean(learner.net.feedback ** 2, axis=0)),
                               1.0 / np.sqrt(r))
    before = learner.python_flops[A.EPROP]
    drive(learner, 1, start_step=101)  # no refresh
    learner.flops_by_part()
    plain_step = learner.python_flops[A.EPROP] - before
    assert refresh_step - plain_step == r * (3 * n + A.SQRT + A.DIV + 1)
    # restored into a learner of another seed: the saved random draw comes back with it
    restored = OnlineLearner(dataclasses.replace(config, seed=1))
    assert not np.array_equal(restored.random_feedback, random_feedback)
    restored.load_state(learner.state())
    np.testing.assert_array_equal(restored.net.feedback, learner.net.feedback)
    restored.apply_config(small_config(eprop_feedback="random", seed=1))
    drive(restored, 1, start_step=102)  # the switch takes effect at the next step
    np.testing.assert_array_equal(restored.net.feedback, random_feedback)
    learner.apply_config(small_config(eprop_feedback="random"))
    drive(learner, 1, start_step=102)
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)
    drive(learner, 30, start_step=103)
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)


def _is_scaled_readout_feedback(learner: OnlineLearner) -> bool:
    """B is the readouts' weights, scaled per readout (as refreshed during the last step)."""
    weights = learner.net.readout[:, : learner.net.n_hidden]
    feedback = learner.net.feedback
    return all(np.corrcoef(feedback[:, r], weights[r])[0, 1] > 0.999
               for r in range(weights.shape[0])) and np.allclose(
        np.sqrt(np.mean(feedback ** 2, axis=0)), 1.0 / np.sqrt(weights.shape[0]))


@pytest.mark.parametrize("learning_on_at_the_switch", [True, False])
def test_switching_to_readout_feedback_live_takes_the_readouts_at_the_next_step(
        learning_on_at_the_switch):
    """A live switch takes the readouts at the next learning step (where nothing is pending,
    as the twin does it), not at the next multiple of the interval; made while learning is off,
    when learning comes back on."""
    learner = OnlineLearner(small_config(eprop_feedback_refresh_steps=1000))
    random_feedback = learner.net.feedback.copy()
    drive(learner, 40)
    if not learning_on_at_the_switch:
        learner.apply_config(small_config(eprop_feedback_refresh_steps=1000,
                                          learning_enabled=False))
    learner.apply_config(small_config(eprop_feedback="readout", eprop_feedback_refresh_steps=1000,
                                      learning_enabled=learning_on_at_the_switch))
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)  # not yet
    if not learning_on_at_the_switch:
        drive(learner, 5, start_step=40)
        np.testing.assert_array_equal(learner.net.feedback, random_feedback)  # learning off
        learner.apply_config(small_config(eprop_feedback="readout",
                                          eprop_feedback_refresh_steps=1000))
    drive(learner, 1, start_step=45)
    learner.net.settle_readouts()
    assert not np.allclose(learner.net.feedback, random_feedback)
    assert _is_scaled_readout_feedback(learner)
    learner.apply_config(small_config(eprop_feedback_refresh_steps=1000))  # back to random
    drive(learner, 1, start_step=46)
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)
    assert np.all(np.isfinite(learner.net.weight))


def test_readout_feedback_is_not_refreshed_for_a_fixed_hidden_layer():
    """hidden_lr = 0: nothing would learn from B, so no refresh (and no settlement of every
    synapse); turning hidden learning on refreshes B at the next step."""
    learner = OnlineLearner(small_config(eprop_feedback="readout",
                                         eprop_feedback_refresh_steps=1000,
                                         hidden_lr=0.0))
    random_feedback = learner.net.feedback.copy()
    drive(learner, 30)
    learner.net.settle_readouts()
    assert np.all(np.abs(learner.net.readout[:, : learner.net.n_hidden]).sum(axis=1) > 0.0)
    np.testing.assert_array_equal(learner.net.feedback, random_feedback)  # readouts learned
    learner.apply_config(small_config(eprop_feedback="readout", eprop_feedback_refresh_steps=1000,
                                      hidden_lr=1e-3))
    drive(learner, 1, start_step=30)  # step 31: long before the interval's next refresh
    assert not np.allclose(learner.net.feedback, random_feedback)


def test_readout_feedback_settings_are_checked():
    with pytest.raises(ConfigError, match="eprop_feedback"):
        small_config(eprop_feedback="transpose").validate()
    with pytest.raises(ConfigError, match="eprop_feedback_refresh_steps"):
        small_config(eprop_feedback_refresh_steps=0).validate()
