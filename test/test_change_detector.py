"""The change detector (core/change_detector.py) and the learner's response to a change."""

import dataclasses

import numpy as np
import pytest

from ant_ros.core import change_detector as CD
from ant_ros.core.config import ActionSpec, AgentConfig, LearningConfig, NetworkConfig
from ant_ros.core.events import EventBatch
from ant_ros.core.learner import OnlineLearner

RATES = dict(fast_rate=1 / 200, slow_rate=1 / 5000, threshold=3.0, relative_drop=0.5,
             warmup_steps=5000, refractory_steps=5000)


def feed(values, state=None):
    state = CD.new_state() if state is None else state
    return state, [t for t, v in enumerate(values) if CD.update(state, float(v), **RATES)]


def test_a_drop_of_the_value_is_detected_once_and_soon():
    rng = np.random.default_rng(0)
    values = np.concatenate([3.0 + 0.5 * rng.standard_normal(30_000),
                             0.2 + 0.2 * rng.standard_normal(20_000)])
    state, alarms = feed(values)
    assert len(alarms) == 1 and 30_000 <= alarms[0] < 31_000
    report = CD.report(state)
    assert report["changes_detected"] == 1
    assert report["steps_since_change"] == values.size - 1 - alarms[0]


def test_noise_a_rise_and_a_small_drift_are_not_changes():
    rng = np.random.default_rng(1)
    noise = 0.5 * rng.standard_normal(100_000)
    rising = np.linspace(-5.0, 5.0, 100_000) + noise  # learning: the value climbs
    slow_decline = np.linspace(1.0, 0.0, 100_000) + noise  # slower than the slow mean follows
    for values in (noise, rising, slow_decline):
        _, alarms = feed(values)
        assert alarms == []


def test_a_fall_within_its_noise_or_by_a_small_share_of_the_level_is_not_a_change():
    rng = np.random.default_rng(3)
    small_share = np.r_[np.full(20_000, 10.0), np.full(20_000, 7.0)]  # 30 %, at 300 SDs
    noisy = np.r_[np.full(20_000, 3.0), np.full(20_000, 0.2)]  # 93 %, within the noise
    for values, noise in ((small_share, 0.01), (noisy, 5.0)):
        _, alarms = feed(values + noise * rng.standard_normal(values.size))
        assert alarms == []


def test_no_change_during_warmup_or_refractory_and_non_finite_values_are_ignored():
    rng = np.random.default_rng(2)
    # drops at 1,000 (in the warm-up), 10,000 and 12,000 (within the refractory time)
    levels = np.concatenate([np.full(1_000, 20.0), np.full(9_000, 8.0), np.full(2_000, 2.0),
                             np.full(20_000, 0.2)])
    values = levels + 0.1 * rng.standard_normal(levels.size)
    values[5_000] = np.nan
    values[5_001] = np.inf
    state, alarms = feed(values)
    assert alarms and all(t >= RATES["warmup_steps"] for t in alarms)
    assert np.all(np.diff(alarms) > RATES["refractory_steps"])
    assert any(10_000 <= t < 10_200 for t in alarms)  # the drop at 10,000, at once
    assert np.all(np.isfinite(state))
    assert CD.report(state)["changes_detected"] == len(alarms)


def _learner(twin: bool, kind: str = "discrete", **learning) -> OnlineLearner:
    action = (ActionSpec("discrete", 2) if kind == "discrete"
              else ActionSpec("continuous", low=(-2.0,), high=(2.0,)))
    config = AgentConfig(network=NetworkConfig(n_inputs=4, n_hidden=32, seed=3),
                         learning=LearningConfig(**learning), action=action, seed=3)
    return OnlineLearner(config, twin=twin)


def _drive(learner: OnlineLearner, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = np.zeros(4)
    start = int(learner.steps[0]) + 1
    for k in range(start, start + steps):
        x += 0.3 * rng.standard_normal(4)
        learner.step_observation(np.clip(x, -3, 3), k * 0.02,
                                 reward=float(rng.random()) if k > 1 else None)


@pytest.mark.parametrize("twin", [False, True])
@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_the_response_rescales_the_policy_exactly_and_keeps_the_critic(twin, kind):
    learner = _learner(twin, kind, change_detection=True, change_policy_shrink=0.25,
                       init_log_std=0.0)
    _drive(learner, 300)
    learner.net.settle_learning()
    before = learner.net.readout.copy()
    values = learner.net.readout_value.copy()
    log_std = learner.log_std.copy()
    flops = learner.flops_by_part()["change_detection"]
    learner.respond_to_change()
    np.testing.assert_allclose(learner.net.readout[1:], 0.25 * before[1:], rtol=1e-12)
    np.testing.assert_array_equal(learner.net.readout[0], before[0])
    np.testing.assert_allclose(learner.net.readout_value[1:], 0.25 * values[1:], rtol=1e-12)
    assert learner.net.readout_value[0] == values[0]
    np.testing.assert_allclose(learner.log_std, log_std + 0.75 * (0.0 - log_std))
    assert learner.flops_by_part()["change_detection"] > flops  # the response is counted
    # the kept values are still the readouts of the features: recomputing changes nothing
    learner.net.refresh()
    np.testing.assert_allclose(learner.net.readout_value, 0.25 * values * np.r_[4.0, np.ones(
        values.size - 1)], rtol=1e-9, atol=1e-12)
    _drive(learner, 100, seed=1)  # and learning goes on from there
    assert np.all(np.isfinite(learner.net.readout))


def test_detection_is_off_by_default_and_counted_when_on():
    off, on = _learner(False), _learner(False, change_detection=True)
    for learner in (off, on):
        _drive(learner, 200)
    assert off.flops_by_part()["change_detection"] == 0.0
    assert on.flops_by_part()["change_detection"] == pytest.approx(
        CD.FLOPS_PER_STEP * (on.change_state[CD.STEPS]))
    assert on.change_state[CD.STEPS] > 150
    assert off.change_state[CD.STEPS] == 0


def _detected(learner: OnlineLearner, before: float, after: float) -> None:
    """Put the detector where it is at a detected fall from ``before`` to ``after``."""
    state = learner.change_state
    state[CD.BEFORE], state[CD.FAST], state[CD.SLOW] = before, after, after
    state[CD.CHANGES] += 1
    learner.respond_to_change()


@pytest.mark.parametrize("twin", [False, True])
def test_policy_memory_keeps_a_policy_and_recalls_it_at_the_next_change(twin):
    learner = _learner(twin, "continuous", change_detection=True, change_policy_memory=2,
                       change_policy_shrink=0.0, init_log_std=0.0, actor_lr=0.05)
    _drive(learner, 300)
    learner.net.settle_learning()
    policy_a, log_std_a = learner.net.readout[1:].copy(), learner.log_std.copy()
    assert np.any(policy_a != 0.0)
    _detected(learner, before=3.0, after=0.5)  # nothing to recall: the policy starts again
    assert np.all(learner.net.readout[1:] == 0.0) and np.all(learner.net.readout_value[1:] == 0)
    _drive(learner, 300, seed=1)
    learner.net.settle_learning()
    policy_b = learner.net.readout[1:].copy()
    critic = learner.net.readout[0].copy()
    _detected(learner, before=2.0, after=0.2)  # B is kept, A recalled
    np.testing.assert_array_equal(learner.net.readout[1:], policy_a)
    np.testing.assert_array_equal(learner.log_std, log_std_a)
    np.testing.assert_array_equal(learner.net.readout[0], critic)
    np.testing.assert_allclose(learner.net.readout_value[1:],
                               policy_a @ learner.net.features(), rtol=1e-12)
    report = learner.change_report()
    assert (report["policies_kept"], report["policies_recalled"]) == (2, 1)
    # the recalled policy is on probation: the value does not come back, so it is dropped
    end = learner.policy_memory_meta[learner.MEMORY_PROBATION_END]
    assert end == learner.change_state[CD.STEPS] + 3000.0
    learner.change_state[CD.STEPS] = end - 1
    learner.change_state[CD.FAST] = learner.change_state[CD.SLOW] = 0.2
    learner._watch_for_change(0.2)
    assert np.all(learner.net.readout[1:] == 0.0)
    assert learner.change_report()["recalls_dropped"] == 1
    assert learner.policy_memory_meta[0] == pytest.approx(0.2)  # A keeps the level it reached
    # the next change keeps the new policy over the kept one of the lowest level (A's, after
    # its failed recall) and recalls the best one, B's
    _drive(learner, 200, seed=2)
    learner.net.settle_learning()
    policy_c = learner.net.readout[1:].copy()
    _detected(learner, before=1.0, after=0.1)
    kept = learner.policy_memory[:2, : policy_a.size].reshape(2, *policy_a.shape)
    np.testing.assert_array_equal(kept[0], policy_c)
    np.testing.assert_array_equal(kept[1], policy_b)
    np.testing.assert_array_equal(learner.net.readout[1:], policy_b)
    assert learner.change_report()["policies_recalled"] == 2


def test_policy_memory_survives_a_checkpoint(tmp_path):
    from ant_ros.core.checkpoint import load_checkpoint, save_checkpoint
    learner = _learner(False, change_detection=True, change_policy_memory=2)
    _drive(learner, 200)
    _detected(learner, before=3.0, after=0.5)
    _drive(learner, 100, seed=1)
    path = save_checkpoint(learner, tmp_path / "ckpt.npz")
    restored = _learner(False, change_detection=True, change_policy_memory=2)
    load_checkpoint(restored, path)
    np.testing.assert_array_equal(restored.policy_memory, learner.policy_memory)
    np.testing.assert_array_equal(restored.change_state, learner.change_state)
    assert restored.change_report() == learner.change_report()


def test_fewer_memory_slots_set_live_are_respected_at_the_next_change():
    """The current policy came from a slot beyond a smaller ``change_policy_memory`` set live:
    the next change keeps it in one of the configured slots (it raised IndexError)."""
    learner = _learner(False, change_detection=True, change_policy_memory=4)
    _drive(learner, 200)
    for before in (1.0, 2.0, 3.0, 10.0):  # slots 0..3 filled; every recall fails
        _detected(learner, before=before, after=0.5)
        learner._reset_policy()
    _detected(learner, before=0.0, after=-1.0)  # recalls slot 3, the best
    assert learner.policy_memory_meta[16] == 3.0
    config = learner.config
    learner.apply_config(dataclasses.replace(config, learning=dataclasses.replace(
        config.learning, change_policy_memory=2)))
    _detected(learner, before=5.0, after=0.5)
    assert 0 <= learner.policy_memory_meta[16] < 2
    assert learner.change_report()["policies_kept"] == 2


@pytest.mark.parametrize("recall", [False, True])
def test_consolidation_does_not_pull_a_reset_or_recalled_policy_back(recall):
    """With consolidation on, the actor's anchor and importance restart with the policy: a
    reset (or recalled) policy is not pulled back to the one it replaced."""
    learner = _learner(False, "continuous", change_detection=True, change_policy_shrink=0.0,
                       consolidation_strength=1.0, actor_lr=0.05,
                       change_policy_memory=2 if recall else 0)
    _drive(learner, 300)
    if recall:  # keep this policy, learn another one, then recall the first
        _detected(learner, before=3.0, after=0.5)
        _drive(learner, 300, seed=1)
    old = learner.net.readout[1:].copy()
    learner.readout_anchor[:] = learner.net.readout  # as after a long, settled run:
    learner.readout_importance[:] = 1e6  # the old policy is anchored, firmly
    _detected(learner, before=2.0, after=0.2)
    start = learner.net.readout[1:].copy()
    _drive(learner, 5, seed=2)
    moved_back = np.linalg.norm(learner.net.readout[1:] - start)
    assert moved_back < 0.2 * np.linalg.norm(old - start)
