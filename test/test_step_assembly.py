"""The learner node's step assembly and input sync, without ROS (ant_ros.core)."""

import numpy as np
import pytest

from ant_ros.core.config import ActionSpec, AgentConfig, NetworkConfig
from ant_ros.core.events import EVENT_DTYPE, EventBatch
from ant_ros.core.input_sync import InputSync
from ant_ros.core.learner import OnlineLearner
from ant_ros.core.step_assembly import (STAMP_JUMP_S, IngestInputs, StepAssembler, StepInputs,
                                        event_batch)


def events(channels, values) -> np.ndarray:
    out = np.zeros(len(channels), EVENT_DTYPE)
    out["channel"], out["value"] = channels, values
    return out


def one(channel: int = 0, value: float = 1.0) -> np.ndarray:
    return events([channel], [value])


def test_each_packet_steps_with_the_reward_and_end_since_the_last_step():
    a = StepAssembler()
    assert a.add_reward(2.0, 0.0) == [] and a.add_reward(0.5, 0.0) == []
    a.end_episode(terminated=True)
    [step] = a.add_packet(1.0, one(), now=1.0, wall=0.0)
    assert isinstance(step, StepInputs)
    assert step.reward == 2.5 and step.episode_end is True and len(step.packets) == 1
    [step] = a.add_packet(1.1, one(), now=1.1, wall=0.0)
    assert step.reward == 0.0 and step.episode_end is None


def test_packets_inside_the_step_interval_are_ingested_or_wait():
    a = StepAssembler(min_step_interval_s=0.1)
    assert isinstance(a.add_packet(0.0, one(), 0.0, 0.0)[0], StepInputs)
    [item] = a.add_packet(0.05, one(), 0.05, 0.0)
    assert isinstance(item, IngestInputs) and item.packet[0] == 0.05
    a.end_episode(terminated=False)  # an end pending: the packet joins the step that ends it
    assert a.add_packet(0.06, one(), 0.06, 0.0) == [] and len(a.pending) == 1
    [step] = a.add_packet(0.1, one(), 0.1, 0.0)
    assert len(step.packets) == 2 and step.episode_end is False
    a.ingest_between_steps = False
    assert a.add_packet(0.15, one(), 0.15, 0.0) == [] and len(a.pending) == 1


def test_a_frame_steps_once_complete_with_its_reward():
    a = StepAssembler(frame_packets=2, frame_reward=True)
    assert a.add_packet(5.0, one(0), 5.0, 0.0) == []
    assert a.add_packet(5.0, one(1), 5.0, 0.0) == []  # complete, but no reward yet
    [step] = a.add_reward(1.0, 5.0)
    assert len(step.packets) == 2 and step.reward == 1.0 and not step.incomplete
    # a late packet of the stepped frame opens no frame; it joins the next step
    assert a.add_packet(5.0, one(0), 5.0, 0.0) == [] and a.frame_stamp is None
    assert a.add_packet(6.0, one(0), 6.0, 0.0) == [] and a.add_packet(6.0, one(1), 6.0, 0.0) == []
    [step] = a.add_reward(0.0, 6.0)
    assert len(step.packets) == 3


def test_incomplete_frames_are_stepped_by_a_newer_stamp_and_by_the_timeout():
    a = StepAssembler(frame_packets=2, frame_reward=False, frame_timeout_s=0.1)
    assert a.add_packet(1.0, one(), 1.0, wall=10.0) == []
    [step] = a.add_packet(2.0, one(), 2.0, wall=10.01)  # a newer frame closes this one
    assert step.incomplete and len(step.packets) == 1 and a.incomplete_frames == 1
    assert a.poll(2.0, wall=10.05) == []
    [step] = a.poll(2.0, wall=10.2)
    assert step.incomplete and len(step.packets) == 1 and a.incomplete_frames == 2


def test_frame_stamps_that_jump_back_are_tracked_afresh():
    """A world reset or a looping bag: stamps start again from 0; frames still step."""
    a = StepAssembler(frame_packets=1, frame_reward=False)
    for t in (100.0, 100.1):
        assert len(a.add_packet(t, one(), t, 0.0)) == 1
    # a stamp a little older: a late packet, no frame
    assert a.add_packet(100.0, one(), 100.1, 0.0) == []
    [step] = a.add_packet(100.1 - STAMP_JUMP_S - 0.5, one(), 0.0, 0.0)
    assert not step.incomplete and len(step.packets) == 2  # with the late one
    assert len(a.add_packet(0.1, one(), 0.1, 0.0)) == 1


def test_leaving_frame_mode_live_hands_the_frame_to_the_next_packet():
    a = StepAssembler(frame_packets=2, frame_reward=False)
    assert a.add_packet(1.0, one(), 1.0, 0.0) == []
    a.frame_packets = 0
    assert a.settings_changed(1.0) == []
    [step] = a.add_packet(1.0, one(), 1.0, 0.0)
    assert len(step.packets) == 2


def test_event_batch_moves_times_into_the_step_interval():
    packets = [(1.0, events([0, 1], [1.0, 2.0])), (3.0, one(2))]
    packets[0][1]["offset_ns"] = [0, 500_000_000]
    batch = event_batch(packets, now=2.0, last_step_s=1.2)
    np.testing.assert_allclose(batch.time_s, [1.2, 1.5, 2.0])
    assert batch.channel.tolist() == [0, 1, 2]
    assert event_batch([], 1.0, float("nan")).channel.size == 0


def test_input_sync_drops_changes_until_a_keyframe_then_follows_the_sender():
    sync = InputSync(3)
    # a late join: the first packet seen (7) has a change; its base is unknown
    changes, gap = sync.accept(events([0], [0.5]), 7)
    assert len(changes) == 0 and not gap and sync.dropped_events == 1
    # a keyframe (values before the packet) and the packet's own change
    changes, gap = sync.accept(events([1], [0.5]), 8, events([0, 1, 2], [1.0, 2.0, 0.0]))
    assert not gap and sync.in_sync
    np.testing.assert_allclose(sync.values, [1.0, 2.5, 0.0])
    # channel 2 was right already: no change for it
    assert changes["channel"].tolist() == [0, 1, 1]
    changes, _ = sync.accept(events([1], [0.25]), 9)
    assert changes["value"].tolist() == [0.25]
    # packet 10 is lost: out of sync, changes dropped, until the next keyframe
    changes, gap = sync.accept(events([0], [0.1]), 11)
    assert gap and len(changes) == 0 and not sync.in_sync and sync.gaps == 1
    changes, _ = sync.accept(events([], []), 12, events([0, 1, 2], [1.3, 2.75, 0.0]))
    np.testing.assert_allclose(changes["value"], [0.3], rtol=1e-6)
    np.testing.assert_allclose(sync.values, [1.3, 2.75, 0.0], rtol=1e-6)


def test_a_keyframe_changes_nothing_for_a_receiver_that_lost_nothing():
    """Values that are float64 sums of float32 changes: the keyframe's float32 records round
    them, and the receiver still finds them right (no change, exactly as without keyframes)."""
    rng = np.random.default_rng(0)
    sent = np.zeros(4)
    sync = InputSync(4)
    sync.accept(events([], []), 0, events(range(4), sent))
    for sequence in range(1, 200):
        change = rng.normal(0, 1, 4).astype(np.float32)
        keyframe = events(range(4), sent) if sequence % 20 == 0 else None
        changes, _ = sync.accept(events(range(4), change), sequence, keyframe)
        np.testing.assert_array_equal(changes["value"], change)  # only the packet's changes
        sent += change
    np.testing.assert_array_equal(sync.values, sent)


def test_input_sync_wraps_the_sequence_and_trusts_version_1():
    sync = InputSync(2)
    sync.accept(events([], []), 2 ** 32 - 1, events([0, 1], [1.0, 1.0]))
    _, gap = sync.accept(one(0, 1.0), 0)
    assert not gap and sync.values[0] == 2.0
    changes, gap = sync.accept(one(1, 3.0), None)  # version 1: applied
    assert not gap and changes["value"].tolist() == [3.0] and sync.values[1] == 4.0
    sync.reset(np.array([5.0, 6.0]))  # e.g. a checkpoint was loaded
    assert not sync.in_sync and sync.values.tolist() == [5.0, 6.0]


def test_rebasing_time_lets_the_learner_step_after_the_clock_went_back():
    config = AgentConfig(network=NetworkConfig(n_inputs=2, n_hidden=16, recurrent_fan_in=4),
                         action=ActionSpec(kind="discrete", n=2)).validate()
    agent = OnlineLearner(config)
    tick = config.network.tick_s
    for i in range(5):
        agent.step_events(EventBatch.from_arrays([0], [100.0 + i * 0.05], [0.1]),
                          100.0 + i * 0.05, reward=1.0)
    last, now_tick = agent.last_step_s[0], agent.net.now_tick
    assert agent.went_backwards(1.0) and not agent.went_backwards(last)
    with pytest.raises(Exception, match="backwards"):
        agent.step_events(EventBatch.from_arrays([], [], []), 1.0)
    agent.rebase_time(1.0)
    assert int(agent.net.tick_of(1.0)) == now_tick  # the tick count runs on
    agent.step_events(EventBatch.from_arrays([], [], []), 1.0, reward=0.0, truncated=True)
    for i in range(1, 4):
        agent.step_events(EventBatch.from_arrays([1], [1.0 + i * 0.05], [0.2]),
                          1.0 + i * 0.05, reward=1.0)
    assert agent.net.now_tick >= now_tick + round(0.15 / tick)


def test_changes_that_never_reached_the_learner_are_taken_back_until_a_keyframe():
    """A discarded packet or a refused step: the sync state takes its changes back and its
    channels wait for a keyframe, so later keyframes are judged against the learner's values."""
    sync = InputSync(2)
    sync.accept(events([], []), 0, events([0, 1], [1.0, 1.0]))
    changes, _ = sync.accept(events([0], [0.5]), 1)
    sync.lost(changes)  # e.g. the layout was refused while it waited for its step
    assert sync.values.tolist() == [1.0, 1.0] and not sync.synced[0] and sync.synced[1]
    dropped, _ = sync.accept(events([0, 1], [0.25, 0.25]), 2)
    assert dropped["channel"].tolist() == [1]  # channel 0 waits for the keyframe
    fix, _ = sync.accept(events([], []), 3, events([0, 1], [1.75, 1.25]))
    assert fix["channel"].tolist() == [0] and fix["value"].tolist() == [0.75]
    assert sync.in_sync and sync.values.tolist() == [1.75, 1.25]
