"""The learner's per-step kernels (``core/learner_kernels.py``, ``core/normalization.py``) give
bit for bit what the numpy expressions they replaced gave (kept here as the references)."""

import math

import numpy as np
import pytest

from ant_ros.core import learner_kernels as LK
from ant_ros.core.config import ActionSpec
from ant_ros.core.encoders import PopulationEncoder
from ant_ros.core.events import EventBatch, InputError
from ant_ros.core.learner import OnlineLearner
from ant_ros.core.normalization import RewardScaler, RunningMeanStd, welford_update

from helpers import assert_same_state, drive, small_config, state_copy


# -- the numpy references ----------------------------------------------------------------------

def numpy_welford(x, count, mean, m2, window):
    if count[0] >= window:
        m2 *= (window - 1.0) / count[0]
        count[0] = window - 1.0
    count += 1.0
    delta = x - mean
    mean += delta / count[0]
    m2 += delta * (x - mean)


def numpy_var(count, m2):
    return m2 / count[0] if count[0] > 1 else np.ones_like(m2)


def numpy_network_inputs(raw, scale, stats, gain, network_value, idx, update, normalize,
                         window, clip, fields, threshold):
    count, mean, m2 = stats
    scaled = raw[idx] / scale[idx]
    if update and normalize:
        numpy_welford(scaled, count, mean, m2, window)
    if normalize:
        target = np.clip((scaled - mean[idx]) / np.sqrt(numpy_var(count, m2)[idx] + 1e-8),
                         -clip, clip)
    else:
        target = scaled
    n_fields = 1
    if fields is not None:
        target = fields.transform(target)
        n_fields = fields.n_fields
    ch = (idx[:, None] * n_fields + np.arange(n_fields)[None, :]).reshape(-1)
    change = target * gain[ch] - network_value[ch]
    moved = np.abs(change) >= threshold if threshold > 0.0 else change != 0.0
    return ch[moved].astype(np.int32), change[moved]


def numpy_discrete_policy(head, u, deterministic):
    z = head - head.max()
    p = np.exp(z)
    p /= p.sum()
    a = int(np.argmax(p)) if deterministic else int(
        min(np.searchsorted(np.cumsum(p), u), p.size - 1))
    grad = -p
    grad[a] += 1.0
    logp = np.log(np.maximum(p, 1e-12))
    entropy = -float(np.dot(p, logp))
    return a, grad, -p * (logp + entropy)


def coding_for(n_inputs, n_fields, rng):
    n_ch = n_inputs * n_fields
    return LK.InputCoding(
        raw=rng.normal(0.0, 2.0, n_inputs), scratch=np.zeros(n_inputs),
        scale=rng.uniform(0.5, 3.0, n_inputs), count=np.zeros(1), mean=np.zeros(n_inputs),
        m2=np.zeros(n_inputs), coded=np.zeros(n_inputs), gain=rng.uniform(0.5, 2.0, n_ch),
        network_value=rng.normal(0.0, 0.5, n_ch), ticks=np.zeros(n_ch, np.int64),
        channels=np.zeros(n_ch, np.int32), changes=np.zeros(n_ch))


# -- the kernels against them ------------------------------------------------------------------

@pytest.mark.parametrize("window", [np.inf, 7.0])
def test_welford_update_and_reward_scaling_equal_numpy(window):
    rng = np.random.default_rng(0)
    ours = RunningMeanStd(5, window)
    count, mean, m2 = np.zeros(1), np.zeros(5), np.zeros(5)
    scaler, ret = RewardScaler(0.9, window), np.zeros(1)
    r_count, r_mean, r_m2 = np.zeros(1), np.zeros(1), np.zeros(1)
    for step in range(60):
        x = rng.normal(3.0, 2.0, 5)
        ours.update(x)
        numpy_welford(x, count, mean, m2, window)
        np.testing.assert_array_equal(ours.count, count)
        np.testing.assert_array_equal(ours.mean, mean)
        np.testing.assert_array_equal(ours.m2, m2)
        reward, end = float(rng.normal()), step % 13 == 12
        ret[0] = 0.9 * ret[0] + reward
        numpy_welford(ret, r_count, r_mean, r_m2, window)
        expected = reward / float(np.sqrt(numpy_var(r_count, r_m2)[0] + 1e-8))
        if end:
            ret[0] = 0.0
        assert scaler.scale(reward, end) == expected
        np.testing.assert_array_equal(scaler.ret, ret)


def test_welford_update_takes_a_slice_of_a_buffer():
    count, mean, m2 = np.zeros(1), np.zeros(3), np.zeros(3)
    buffer = np.array([1.0, 2.0, 3.0, 99.0])
    welford_update(buffer[:3], count, mean, m2, np.inf)
    np.testing.assert_array_equal(mean, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("n_fields", [1, 4])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("threshold", [0.0, 0.1])
@pytest.mark.parametrize("window", [np.inf, 5.0])
def test_input_coding_equals_numpy(n_fields, normalize, threshold, window):
    rng = np.random.default_rng(n_fields + 10 * normalize)
    n_in = 6
    coding = coding_for(n_in, n_fields, rng)
    stats = (coding.count.copy(), coding.mean.copy(), coding.m2.copy())
    fields = PopulationEncoder(-2.0, 2.0, n_fields) if n_fields > 1 else None
    kernels = LK.StepKernels(coding, 2)
    for step in range(40):
        coding.raw[:] += np.where(rng.random(n_in) < 0.5, rng.normal(0.0, 1.0, n_in), 0.0)
        update = step % 5 != 4
        idx = np.arange(n_in) if update else np.unique(rng.integers(0, n_in, 3))
        ref_ch, ref_change = numpy_network_inputs(
            coding.raw, coding.scale, stats, coding.gain, coding.network_value, idx, update,
            normalize, window, 3.0, fields, threshold)
        kernels.code(idx, update, normalize, window, 3.0, coding)
        values = coding.coded if fields is None else fields.transform(coding.coded[:idx.size])
        n = kernels.moved(values, idx, n_fields, threshold, step, coding)
        np.testing.assert_array_equal(coding.channels[:n], ref_ch)
        np.testing.assert_array_equal(coding.changes[:n], ref_change)
        np.testing.assert_array_equal(coding.ticks[:n], step)
        for ours, ref in zip((coding.count, coding.mean, coding.m2), stats):
            np.testing.assert_array_equal(ours, ref)
        coding.network_value[coding.channels[:n]] += coding.changes[:n]  # the network took them


def test_receive_events_equals_numpy_and_refuses_what_validate_refuses():
    rng = np.random.default_rng(3)
    coding = coding_for(5, 1, rng)
    kernels = LK.StepKernels(coding, 2)
    for _ in range(30):
        ch = rng.integers(0, 5, rng.integers(0, 8))
        ev = EventBatch.from_arrays(ch, np.full(ch.size, 1.0), rng.normal(0.0, 1.0, ch.size))
        expected = coding.raw.copy()
        np.add.at(expected, ev.channel, ev.value)
        assert kernels.receive[ev.channel.dtype](ev.channel, ev.time_s, ev.value, 1.5,
                                                 coding) == LK.RECEIVED
        np.testing.assert_array_equal(coding.raw, expected)
    raw = coding.raw.copy()
    for found, channel, time_s, value in (
            (LK.BAD_CHANNEL, [5], [1.0], [1.0]), (LK.BAD_CHANNEL, [-1], [1.0], [1.0]),
            (LK.BAD_VALUE, [1], [1.0], [np.nan]), (LK.BAD_TIME, [1], [np.inf], [1.0]),
            (LK.LATE, [1, 2], [1.0, 1.6], [1.0, 1.0]), (LK.OVERFLOW, [1, 1], [1.0] * 2, [1e308] * 2)):
        for dtype in (np.int64, np.int32):
            assert kernels.receive[np.dtype(dtype)](
                np.array(channel, dtype), np.array(time_s), np.array(value), 1.5,
                coding) == found
            np.testing.assert_array_equal(coding.raw, raw)


@pytest.mark.parametrize("n", [2, 3, 5, 9, 12])
def test_discrete_policy_equals_numpy(n):
    learner = OnlineLearner(small_config(action=ActionSpec(n=n)))
    rng = np.random.default_rng(n)
    for trial in range(200):
        head = rng.normal(0.0, 3.0 if trial % 2 else 30.0, n)
        deterministic = trial % 7 == 0
        state = learner.rng.bit_generator.state  # the policy draws the same u
        u = 0.0 if deterministic else learner.rng.random()
        learner.rng.bit_generator.state = state
        a, grad, entropy_grad = numpy_discrete_policy(head, u, deterministic)
        ours = learner._policy(head, deterministic)
        assert ours[0] == a
        np.testing.assert_array_equal(ours[1], grad)
        np.testing.assert_array_equal(ours[2], entropy_grad)
        assert ours[3].size == 0


def test_gradient_kernels_equal_numpy():
    rng = np.random.default_rng(5)
    coding = coding_for(2, 1, rng)
    for n_act, n_std in ((2, 0), (3, 3)):
        kernels = LK.StepKernels(coding, n_act)
        grad, entropy_grad, log_std_grad = (rng.normal(0.0, 4.0, n) for n in (n_act, n_act, n_std))
        pending, signal = np.zeros((2, n_act + n_std)), np.zeros(1 + n_act)
        kernels.record_gradients(grad, entropy_grad, log_std_grad, 5.0, pending, signal)
        ref = np.zeros((2, n_act + n_std))
        ref[0] = np.concatenate([grad, log_std_grad])
        ref[1, :n_act] = entropy_grad
        ref[1, n_act:] = 1.0
        np.testing.assert_array_equal(pending, ref)
        np.testing.assert_array_equal(signal, np.concatenate([[1.0], np.clip(grad, -5.0, 5.0)]))
        for delta in (0.7, -2.0, 0.0, -0.0):
            trace = rng.normal(0.0, 1.0, n_std)
            ref_trace = trace.copy()
            head_grad = np.zeros(n_act)
            kernels.td_gradients(pending, delta, 0.01, 0.9, head_grad, trace)
            g = pending[0] + 0.01 * np.sign(delta) * pending[1]
            ref_trace *= 0.9
            ref_trace += g[n_act:]
            np.testing.assert_array_equal(head_grad, g[:n_act])
            np.testing.assert_array_equal(trace, ref_trace)
            assert math.copysign(1.0, head_grad[0]) == math.copysign(1.0, g[0])


# -- through the learner -----------------------------------------------------------------------

@pytest.mark.parametrize("channel", [np.array([1, 2], np.int16), np.array([1, 2], np.uint32),
                                     np.array([[1], [2]]), np.array([1.0, 2.0])])
def test_events_of_other_dtypes_are_taken_as_from_arrays_makes_them(channel):
    learner, reference = OnlineLearner(small_config()), OnlineLearner(small_config())
    drive(learner, 5)
    drive(reference, 5)
    times, values = np.array([0.1, 0.1]), np.array([0.5, -0.25])
    if channel.dtype.kind == "f" or channel.ndim != 1:
        with pytest.raises(InputError):
            learner.step_events(EventBatch(channel, times, values), 0.1, reward=0.0)
        return
    learner.step_events(EventBatch(channel, times, values), 0.1, reward=0.0)
    reference.step_events(EventBatch.from_arrays([1, 2], times, values), 0.1, reward=0.0)
    assert_same_state(state_copy(learner), state_copy(reference))


def test_an_overflowing_event_is_refused_and_changes_nothing():
    learner = OnlineLearner(small_config())
    drive(learner, 10)
    before = state_copy(learner)
    with pytest.raises(InputError, match="overflowed"):
        learner.step_events(EventBatch.from_arrays([1, 1], [0.3, 0.3], [1e308, 1e308]), 0.3)
    assert_same_state(before, state_copy(learner))


def test_the_twins_input_step_equals_np_add_at_and_the_input_drive():
    from ant_ros.core.config import NetworkConfig
    from ant_ros.core.twin import SyncNetwork, _input_drive
    config = NetworkConfig(n_inputs=5, n_hidden=20, recurrent_fan_in=4, input_fan_in=2)
    nets = [SyncNetwork(config, 2, 2, np.random.default_rng(0)) for _ in range(3)]
    rng = np.random.default_rng(1)
    for k in range(1, 30):
        channel = rng.integers(0, 5, rng.integers(1, 6))
        value = rng.normal(0.0, 0.3, channel.size)
        ticks = np.full(channel.size, k, np.int64)
        nets[0].process_ticks(ticks, channel.astype(np.int32), value, k)  # the entry point
        nets[1].process_ticks(ticks, channel, value, k)  # int64 channels: the dispatcher
        ref = nets[2]  # the numpy path it replaced
        ref._advance_to(k)
        np.add.at(ref.x, channel, value)
        _input_drive(ref.x, ref.bias, ref.bux, ref.wy, ref.drive, ref.in_ptr, ref.in_pre,
                     ref.in_w, ref.count)
        ref.read_after_update()
        for net in nets[:2]:
            for name in ("x", "bux", "drive", "y", "readout_value", "count"):
                np.testing.assert_array_equal(getattr(net, name), getattr(ref, name))
