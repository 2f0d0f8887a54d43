"""Spike packets that survive late joins, restarts, resumes, loss and bags (spike packet v2:
sequence numbers and keyframes), and a clock that goes backwards, through real rclpy."""

import numpy as np
import pytest
from mcap.reader import make_reader
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float32, Float32MultiArray, Int32

from ant_ros.conversions import decode_spike_packet, make_spike_packet, seconds_to_stamp
from ant_ros.nodes.encoder_node import EncoderNode
from ant_ros.nodes.learner_node import LearnerNode
from ant_ros.qos import SPIKES_QOS
from ant_ros.recording import McapRecorder

from ros_harness import RosHarness

N = 6  # features
KEYFRAME_S = 0.3


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def encoder(ros, **params) -> EncoderNode:
    values = {"encoders": ["features"], "features.size": N, "features.threshold": 0.0,
              "keyframe_period_s": KEYFRAME_S, **params}
    return ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in values.items()]))


def learner(ros, **params) -> LearnerNode:
    values = {"network.n_inputs": N, "network.n_hidden": 16, "watchdog_timeout_s": 0.0,
              "command_type": "int32", **params}
    return ros.add(LearnerNode(context=ros.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in values.items()]))


class Sensor:
    """A sensor whose N features random-walk: each publish moves every one of them."""

    def __init__(self, ros) -> None:
        self.pub = ros.probe.create_publisher(Float32MultiArray, "features", 10)
        self.rng = np.random.default_rng(0)
        self.value = np.zeros(N)

    def publish(self) -> None:
        self.value += self.rng.normal(0.0, 0.5, N)
        self.pub.publish(Float32MultiArray(data=self.value.tolist()))


def sensed(enc: EncoderNode) -> np.ndarray:
    """The encoder's channels as a receiver that lost nothing holds them."""
    return enc.encoders[0].sent_sum


def drive(ros, sensor: Sensor, seconds: float) -> None:
    ros.spin_for(seconds, each=sensor.publish)
    ros.spin_for(0.2)  # the last packets arrive


def assert_exact(node: LearnerNode, enc: EncoderNode) -> None:
    np.testing.assert_allclose(node.learner.raw_input, sensed(enc), rtol=1e-6, atol=1e-6)
    assert node.sync.in_sync


def test_a_learner_that_starts_late_is_exact_within_one_keyframe_period(ros):
    enc, sensor = encoder(ros), Sensor(ros)
    drive(ros, sensor, 0.5)  # the encoder has sent changes nobody heard
    assert np.all(sensed(enc) != 0.0)
    node = learner(ros)
    drive(ros, sensor, 2 * KEYFRAME_S)
    assert node.steps > 10
    assert_exact(node, enc)
    assert node.sync.dropped_events > 0 or node.sync.keyframes > 0


def test_a_restarted_learner_is_exact_again(ros):
    enc, sensor = encoder(ros), Sensor(ros)
    first = learner(ros)
    drive(ros, sensor, 0.5)
    assert_exact(first, enc)
    ros.executor.remove_node(first)
    ros.nodes.remove(first)
    first.destroy_node()
    drive(ros, sensor, 0.3)  # changes while no learner runs
    second = learner(ros)
    drive(ros, sensor, 2 * KEYFRAME_S)
    assert_exact(second, enc)


def test_a_learner_resumed_from_a_checkpoint_is_exact_again(ros, tmp_path):
    path = str(tmp_path / "agent.npz")
    enc, sensor = encoder(ros), Sensor(ros)
    first = learner(ros, checkpoint_path=path)
    drive(ros, sensor, 0.5)
    ros.executor.remove_node(first)
    ros.nodes.remove(first)
    first.destroy_node()  # saves the checkpoint, with the inputs as they were
    drive(ros, sensor, 0.3)
    second = learner(ros, checkpoint_path=path, resume=True)
    assert np.any(second.learner.raw_input != 0.0)  # the checkpoint's (stale) inputs
    drive(ros, sensor, 2 * KEYFRAME_S)
    assert_exact(second, enc)


def test_a_lost_packet_is_detected_and_repaired_by_the_next_keyframe(ros):
    node = learner(ros)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    values = np.zeros(N)
    everything = np.arange(N)
    rng = np.random.default_rng(1)

    def send(sequence: int, lost: bool = False, keyframe: bool = False) -> None:
        change = rng.normal(0.0, 1.0, N).astype(np.float32)
        msg = make_spike_packet(seconds_to_stamp(0.01 * (sequence + 1)), "base_link",
                                everything, np.zeros(N), change, sequence=sequence,
                                keyframe=(everything, values.copy()) if keyframe else None)
        values[:] += change
        if not lost:
            pub.publish(msg)
            assert ros.spin_until(lambda: node.steps == sequence + 1 - int(sequence > 5))

    for sequence in range(5):
        send(sequence, keyframe=sequence == 0)
    np.testing.assert_allclose(node.learner.raw_input, values, rtol=1e-6)
    send(5, lost=True)
    send(6)
    assert node.sync.gaps == 1 and not node.sync.in_sync
    assert np.all(np.abs(node.learner.raw_input - values) > 1e-3)  # wrong: held, not rebuilt
    send(7)
    send(8, keyframe=True)
    np.testing.assert_allclose(node.learner.raw_input, values, rtol=1e-6)
    assert node.sync.in_sync


def test_a_bag_recorded_from_the_middle_replays_into_a_correct_learner(ros, tmp_path):
    enc, sensor = encoder(ros), Sensor(ros)
    drive(ros, sensor, 0.5)
    path = tmp_path / "spikes.mcap"
    recorder = McapRecorder(ros.probe, path, [("spikes", PointCloud2, 100)])
    drive(ros, sensor, 3 * KEYFRAME_S)
    recorder.close()
    expected = sensed(enc).copy()

    node = learner(ros)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    with open(path, "rb") as stream:
        packets = [deserialize_message(m.data, PointCloud2)
                   for _, _, m in make_reader(stream).iter_messages()]
    assert len(packets) > 10
    assert decode_spike_packet(packets[0]).sequence > 0  # the bag began mid-stream
    for n, msg in enumerate(packets, start=1):
        pub.publish(msg)
        assert ros.spin_until(lambda n=n: node.steps >= n)
    np.testing.assert_allclose(node.learner.raw_input, expected, rtol=1e-6, atol=1e-6)
    assert node.sync.in_sync


@pytest.mark.parametrize("frame_packets, restart_s", [(0, 3.0), (1, 100.5)])
def test_a_clock_that_goes_backwards_ends_the_episode_and_learning_carries_on(
        ros, frame_packets, restart_s):
    """A Gazebo world reset or a looping bag under sim time: /clock jumps back (far, or by
    less than a second in frame mode); the learner ends the episode, rebases time and keeps
    stepping (warned once)."""
    node = learner(ros, use_sim_time=True, frame_packets=frame_packets)
    clock = ros.probe.create_publisher(Clock, "/clock", 10)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    commands = ros.collect(Int32, "command")
    rng = np.random.default_rng(2)

    def run(start_s: float, steps: int) -> None:
        for k in range(steps):
            now = start_s + 0.05 * k
            clock.publish(Clock(clock=seconds_to_stamp(now)))
            assert ros.spin_until(lambda now=now: abs(node._now_s() - now) < 1e-6)
            before = node.steps
            reward.publish(Float32(data=1.0))
            pub.publish(make_spike_packet(seconds_to_stamp(now), "base_link", np.array([0]),
                                          np.zeros(1), rng.normal(0.0, 1.0, 1)))
            assert ros.spin_until(lambda: node.steps > before)

    run(100.0, 20)
    assert node.time_jumps == 0
    learned_until = node.learner.last_step_s[0]
    count = len(commands)
    run(restart_s, 20)  # the world was reset: its clock starts again
    assert node.time_jumps == 1
    # the jump's step ended the episode (truncated); in frame mode the step that took the
    # reward waiting for the first new frame, which then waits for the next reward
    assert node.steps == 20 + 1 + 20 - int(frame_packets > 0)
    assert node.learner.last_step_s[0] == pytest.approx(restart_s + 0.05 * 19)
    assert learned_until > 100.0 and len(commands) >= count + 19  # it acted on after the jump
    assert np.all(np.isfinite(node.learner.net.readout))


def test_a_keyframe_with_unknown_or_repeated_channels_is_refused_and_the_learner_runs_on(ros):
    node = learner(ros)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    good = (np.arange(N), np.ones(N))
    for sequence, keyframe in enumerate([good, (np.array([0, N + 3]), np.ones(2)),
                                         (np.array([1, 1]), np.ones(2))]):
        pub.publish(make_spike_packet(seconds_to_stamp(0.01 * (sequence + 1)), "base_link",
                                      np.zeros(0), np.zeros(0), np.zeros(0),
                                      sequence=sequence, keyframe=keyframe))
        assert ros.spin_until(lambda s=sequence: node.steps == s + 1)
        assert node.sync.in_sync == (sequence == 0)  # a refused keyframe: out of sync
    np.testing.assert_array_equal(node.learner.raw_input, np.ones(N))  # nothing applied twice
