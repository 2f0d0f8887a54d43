"""Checkpoints: identical behaviour after a round trip; every kind of bad file is refused."""

import dataclasses
import os

import numpy as np
import pytest

from ant_ros.core import checkpoint as ckpt
from ant_ros.core.checkpoint import CheckpointError, load_checkpoint, load_learner, save_checkpoint
from ant_ros.core.learner import OnlineLearner

from helpers import assert_same_state, drive, small_config, state_copy


FIELD_LINEAR = dict(input_fields=4, input_wiring="field_linear", input_fan_in=8,
                    input_gain=(0.5, 1.0, 1.0, 2.0), readout_inputs=False)


# the delta network with every setting it has state for: buckets, group sums, feedback rows
DELTA = dict(layers=2, layer_fan_in=8, recurrent_fan_in=0, feedforward=True, layer_norm=True,
             activation="leaky_relu")


@pytest.mark.parametrize("eprop_td_traces,network", [(False, {}), (True, {}),
                                                     (True, dict(input_fields=4)),
                                                     (True, FIELD_LINEAR), (True, DELTA)])
def test_round_trip_gives_identical_behaviour(tmp_path, eprop_td_traces, network):
    feedback = "backprop" if network.get("feedforward") else "random"
    config = small_config(seed=1, eprop_td_traces=eprop_td_traces, eprop_feedback=feedback)
    config = dataclasses.replace(config, network=dataclasses.replace(config.network, **network))
    learner = OnlineLearner(config)
    drive(learner, 300)
    path = save_checkpoint(learner, tmp_path / "agent.npz")
    restored = load_learner(path)
    assert_same_state(state_copy(learner), state_copy(restored))
    # both continue on the same stream: same actions, same learned weights
    assert drive(learner, 300, seed=9, start_step=300) == drive(restored, 300, seed=9,
                                                                 start_step=300)
    assert_same_state(state_copy(learner), state_copy(restored))


def test_a_checkpoint_of_another_structure_names_what_differs(tmp_path):
    config = small_config(seed=1)
    config = dataclasses.replace(config, network=dataclasses.replace(config.network,
                                                                     **FIELD_LINEAR))
    path = save_checkpoint(OnlineLearner(config), tmp_path / "agent.npz")
    other = dataclasses.replace(config, network=dataclasses.replace(
        config.network, readout_inputs=True, input_gain=(0.5,)))
    learner = OnlineLearner(other)
    before = state_copy(learner)
    with pytest.raises(CheckpointError, match="readout_inputs: True -> False") as info:
        load_checkpoint(learner, path)
    assert "input_gain" in str(info.value) and "n_hidden" not in str(info.value)
    assert_same_state(before, state_copy(learner))
    # one value for every input equals the same value given per input
    same = dataclasses.replace(config, network=dataclasses.replace(
        config.network, input_gain=(0.5, 1.0, 1.0, 2.0)))
    load_checkpoint(OnlineLearner(same), path)
    uniform = [dataclasses.replace(config.network, input_gain=g) for g in ((2.0,), (2.0,) * 4)]
    assert (dataclasses.replace(config, network=uniform[0]).structure()
            == dataclasses.replace(config, network=uniform[1]).structure())


def test_load_into_a_running_learner(tmp_path):
    source = OnlineLearner(small_config(seed=1))
    drive(source, 200)
    save_checkpoint(source, tmp_path / "a.npz")
    target = OnlineLearner(small_config(seed=2))
    drive(target, 50)
    load_checkpoint(target, tmp_path / "a.npz")
    assert_same_state(state_copy(source), state_copy(target))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    learner = OnlineLearner(small_config())
    drive(learner, 20)
    save_checkpoint(learner, tmp_path / "agent.npz")
    drive(learner, 20, start_step=20)
    save_checkpoint(learner, tmp_path / "agent.npz")  # replaces the old one
    assert sorted(os.listdir(tmp_path)) == ["agent.npz"]
    with np.load(tmp_path / "agent.npz", allow_pickle=False) as data:
        assert int(data["meta.format_version"][0]) == ckpt.FORMAT_VERSION


def _rewrite(src, dst, **changes):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(dst, **arrays)
    return dst


def _bad_files(tmp_path):
    learner = OnlineLearner(small_config())
    drive(learner, 50)
    good = save_checkpoint(learner, tmp_path / "good.npz")
    raw = good.read_bytes()
    other = OnlineLearner(small_config(n_hidden=48))
    drive(other, 10)
    weight = learner.state()["net.weight"].copy()
    weight[3] = np.nan
    bad_index = learner.state()["net.syn"].copy()
    bad_index[1, 0] = 10_000
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"this is not a checkpoint" * 100)
    (tmp_path / "empty.npz").write_bytes(b"")
    return {
        "missing": tmp_path / "missing.npz",
        "truncated": tmp_path / "truncated.npz",
        "garbage": tmp_path / "garbage.npz",
        "empty": tmp_path / "empty.npz",
        "other version": _rewrite(good, tmp_path / "v1.npz",
                                  meta__format_version=np.array([ckpt.FORMAT_VERSION - 1],
                                                                np.int64)),
        "no version": _rewrite(good, tmp_path / "nov.npz", meta__format_version=None),
        "bad config": _rewrite(good, tmp_path / "cfg.npz",
                               meta__config_json=np.frombuffer(b"{nope", np.uint8)),
        "other shape": save_checkpoint(other, tmp_path / "other.npz"),
        "missing array": _rewrite(good, tmp_path / "noarr.npz", net__weight=None),
        "wrong dtype": _rewrite(good, tmp_path / "dtype.npz",
                                net__weight=weight.astype(np.float64)),
        "NaN weight": _rewrite(good, tmp_path / "nan.npz", net__weight=weight),
        "bad index": _rewrite(good, tmp_path / "index.npz", net__syn=bad_index),
        "pickled object": _rewrite(good, tmp_path / "pickle.npz",
                                   learner__traces=np.array([object()], dtype=object)),
        "config it cannot run": _rewrite(
            good, tmp_path / "backprop.npz", meta__config_json=np.frombuffer(
                learner.config.with_overrides(
                    ["learning.eprop_feedback=backprop"]).to_json().encode(), np.uint8)),
    }


def test_every_kind_of_bad_checkpoint_is_refused_and_the_learner_is_untouched(tmp_path):
    learner = OnlineLearner(small_config(seed=5))
    drive(learner, 80)
    before = state_copy(learner)
    for kind, path in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(learner, path)
        assert str(path.name) in str(info.value) or kind == "missing", kind
        assert_same_state(before, state_copy(learner))


def test_the_twin_has_no_checkpoints(tmp_path):
    twin = OnlineLearner(small_config(), twin=True)
    with pytest.raises(CheckpointError, match="twin"):
        save_checkpoint(twin, tmp_path / "twin.npz")
    save_checkpoint(OnlineLearner(small_config()), tmp_path / "learner.npz")
    with pytest.raises(CheckpointError, match="twin"):
        load_checkpoint(twin, tmp_path / "learner.npz")


def test_checkpoints_taken_at_any_moment_load_and_continue_the_same_way(tmp_path):
    """The generator's state has a fixed shape whatever its value (it once was JSON bytes whose
    length varied, and about 8 checkpoints in 20 were refused): 25 checkpoints at random moments
    all load, and the loaded learner then acts as the original does."""
    rng = np.random.default_rng(11)
    config = small_config()
    learner = OnlineLearner(config)
    step = 0
    for k in range(25):
        n = int(rng.integers(1, 40))
        drive(learner, n, seed=k, start_step=step)
        step += n
        path = tmp_path / f"c{k}.npz"
        save_checkpoint(learner, path)
        resumed = OnlineLearner(config)
        load_checkpoint(resumed, path)
        assert drive(resumed, 10, seed=100 + k, start_step=step) == drive(
            learner, 10, seed=100 + k, start_step=step)
        step += 10


def test_a_save_removes_what_killed_saves_left_and_nothing_else(tmp_path):
    learner = OnlineLearner(small_config())
    path = tmp_path / "ant.npz"
    stale = tmp_path / ".ant.npz.abc123.tmp"
    fresh = tmp_path / ".ant.npz.def456.tmp"  # a save under way in another process
    other = tmp_path / ".other.npz.abc123.tmp"
    for f in (stale, fresh, other):
        f.write_bytes(b"partial")
    old = os.path.getmtime(stale) - 2 * ckpt.STALE_TEMPORARY_S
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save_checkpoint(learner, path)
    assert not stale.exists() and fresh.exists() and other.exists()
    load_checkpoint(OnlineLearner(small_config()), path)


def test_a_feedback_change_still_due_at_a_checkpoint_is_made_after_loading(tmp_path):
    """A live switch of the feedback waits for the next learning step; a checkpoint taken
    before that step keeps it due, so the loaded learner replaces B where the original does."""
    config = small_config(seed=2)
    learner = OnlineLearner(config)
    drive(learner, 60)
    learner.apply_config(dataclasses.replace(config, learning=dataclasses.replace(
        config.learning, eprop_feedback="readout")))
    path = save_checkpoint(learner, tmp_path / "due.npz")
    restored = load_learner(path)
    assert drive(restored, 40, seed=3, start_step=60) == drive(learner, 40, seed=3,
                                                                start_step=60)
    assert_same_state(state_copy(learner), state_copy(restored))
    assert not np.array_equal(learner.net.feedback, learner.random_feedback)
