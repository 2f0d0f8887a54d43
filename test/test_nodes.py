"""The encoder and learner nodes with real rclpy, real topics and real services."""

import math
import time

import gymnasium as gym
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, Imu, JointState, LaserScan, PointCloud2, Range
from std_msgs.msg import Bool, Float32, Float32MultiArray, Float64MultiArray, Int32
from std_srvs.srv import SetBool, Trigger

from ant_ros.conversions import make_spike_packet, read_spike_packet
from ant_ros.core import kernels as K
from ant_ros.demo import learner_parameters
from ant_ros.tasks.direct_runner import agent_config_for
from ant_ros.nodes.encoder_node import EncoderNode
from ant_ros.nodes.learner_node import LearnerNode
from ant_ros.qos import SPIKES_QOS
from ant_ros.nodes.spin import spin_until

from ros_harness import RosHarness


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def scan(ranges, range_min=0.1, range_max=10.0) -> LaserScan:
    msg = LaserScan()
    msg.header.frame_id = "laser"
    msg.angle_min, msg.angle_max = -math.pi, math.pi
    msg.angle_increment = 2 * math.pi / max(len(ranges), 1)
    msg.range_min, msg.range_max = range_min, range_max
    msg.ranges = [float(r) for r in ranges]
    return msg


def events_of(packets):
    return [read_spike_packet(p) for p in packets]


def test_laser_scan_encoder_sends_sector_changes(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("scan.sectors", value=4), Parameter("scan.threshold", value=0.05)]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    first = scan([1.0] * 40 + [float("inf")] * 40 + [float("nan")] * 40 + [5.05] * 40)
    assert ros.spin_until(lambda: packets, each=lambda: pub.publish(first))
    ev = read_spike_packet(packets[0])
    expected = np.array([(1.0 - 0.1) / 9.9, 1.0, 1.0, (5.05 - 0.1) / 9.9])
    np.testing.assert_allclose(ev["value"][np.argsort(ev["channel"])], expected, rtol=1e-6)
    packets.clear()
    second = scan([1.0] * 40 + [2.0] * 40 + [float("nan")] * 40 + [5.06] * 40)
    assert ros.spin_until(lambda: any(len(e) for e in events_of(packets)),
                          each=lambda: pub.publish(second))
    ev = [e for e in events_of(packets) if len(e)][0]
    assert ev["channel"].tolist() == [1]  # sector 3 moved less than the threshold
    assert ev["value"][0] == pytest.approx((2.0 - 0.1) / 9.9 - 1.0, rel=1e-5)


def test_laser_scan_encoder_clip_range_resolves_the_near_space(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("scan.sectors", value=4), Parameter("scan.clip_range_m", value=2.1)]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    msg = scan([0.6] * 40 + [float("inf")] * 40 + [1.1] * 40 + [5.0] * 40)
    assert ros.spin_until(lambda: packets, each=lambda: pub.publish(msg))
    ev = read_spike_packet(packets[0])
    np.testing.assert_allclose(ev["value"][np.argsort(ev["channel"])], [0.25, 1.0, 0.5, 1.0],
                               rtol=1e-6)


def test_laser_scan_encoder_refuses_a_negative_clip_range(ros):
    with pytest.raises(ValueError):
        EncoderNode(context=ros.context, parameter_overrides=[
            Parameter("scan.clip_range_m", value=-1.0)])


def _imu() -> Imu:
    msg = Imu()
    msg.angular_velocity.z = 0.5
    msg.linear_acceleration.z = 9.81
    msg.orientation.w = 1.0
    return msg


def _joints() -> JointState:
    return JointState(name=["a", "b"], position=[0.1, 0.2], velocity=[1.0, 2.0])


def _odom() -> Odometry:
    msg = Odometry()
    msg.twist.twist.linear.x = 0.3
    msg.pose.pose.orientation.w = 1.0
    return msg


def _image(value: int) -> Image:
    return Image(height=4, width=4, encoding="mono8", step=4, data=bytes([value] * 16))


SENSORS = {
    "imu": ({"imu.type": "imu"}, Imu, "imu", _imu, 8),
    "joints": ({"joints.type": "joint_state", "joints.joints": ["b"]}, JointState,
               "joint_states", _joints, 2),
    "odom": ({"odom.type": "odometry", "odom.goal_topic": "goal"}, Odometry, "odom", _odom, 4),
    "range": ({"range.type": "range"}, Range, "range",
              lambda: Range(range=1.0, min_range=0.0, max_range=2.0), 1),
    "features": ({"features.type": "float32_array", "features.size": 3}, Float32MultiArray,
                 "features", lambda: Float32MultiArray(data=[0.5, -0.5, 1.0]), 3),
}


@pytest.mark.parametrize("name", sorted(SENSORS))
def test_each_sensor_encoder_sends_its_features(ros, name):
    params, msg_type, topic, make, n_channels = SENSORS[name]
    node = ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=[name])] + [Parameter(k, value=v) for k, v in params.items()]))
    assert node.n_channels == n_channels
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(msg_type, topic, qos_profile_sensor_data)
    assert ros.spin_until(lambda: any(len(e) for e in events_of(packets)),
                          each=lambda: pub.publish(make()))
    channels = np.concatenate([e["channel"] for e in events_of(packets)])
    assert channels.max() < n_channels
    if name == "odom":  # a goal adds distance and bearing
        goal_pub = ros.probe.create_publisher(PoseStamped, "goal", 10)
        goal = PoseStamped()
        goal.pose.position.x, goal.pose.position.y = 3.0, 4.0
        packets.clear()
        assert ros.spin_until(lambda: any(2 in e["channel"] for e in events_of(packets)),
                              each=lambda: (goal_pub.publish(goal), pub.publish(make())))
        values = {int(c): float(v) for e in events_of(packets) for c, v in
                  zip(e["channel"], e["value"])}
        assert values[2] == pytest.approx(5.0)


def test_image_encoder_emulates_an_event_camera(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=["camera"]), Parameter("camera.grid_rows", value=2),
        Parameter("camera.grid_cols", value=2), Parameter("camera.topic", value="image")]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(Image, "image", qos_profile_sensor_data)
    assert ros.spin_until(lambda: packets, each=lambda: pub.publish(_image(50)))
    packets.clear()
    assert ros.spin_until(lambda: any(len(e) for e in events_of(packets)),
                          each=lambda: pub.publish(_image(200)))
    ev = [e for e in events_of(packets) if len(e)][0]
    assert sorted(ev["channel"].tolist()) == [0, 1, 2, 3] and np.all(ev["value"] > 0)  # ON


def test_image_encoder_has_no_send_on_delta_parameters(ros):
    """Its events come from contrast_threshold: a threshold it would ignore is not declared."""
    node = ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=["camera", "scan"])]))
    for key in ("threshold", "max_rate_hz", "population_fields", "population_low",
                "population_high"):
        assert not node.has_parameter(f"camera.{key}") and node.has_parameter(f"scan.{key}")
    [bad] = _set_parameters(ros, "ant_encoder", **{"camera.threshold": 0.3})
    assert not bad.successful
    [ok] = _set_parameters(ros, "ant_encoder", **{"scan.threshold": 0.3})
    assert ok.successful


def test_malformed_sensor_messages_are_dropped_and_the_encoder_runs_on(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=["scan", "joints", "camera"]),
        Parameter("joints.type", value="joint_state"), Parameter("joints.joints", value=["a"]),
        Parameter("camera.topic", value="image")]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    scan_pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    joint_pub = ros.probe.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    image_pub = ros.probe.create_publisher(Image, "image", qos_profile_sensor_data)
    bad = [
        lambda: scan_pub.publish(scan([])),                                  # empty
        lambda: scan_pub.publish(scan([1.0] * 10, range_min=5.0, range_max=1.0)),
        lambda: joint_pub.publish(JointState(name=["a", "b"], position=[0.1])),  # lengths
        lambda: joint_pub.publish(JointState(name=["x"], position=[0.1])),       # no joint a
        lambda: image_pub.publish(Image(height=2, width=2, encoding="32FC1", step=8,
                                        data=bytes(16))),                   # wrong encoding
        lambda: image_pub.publish(Image(height=4, width=4, encoding="mono8", step=4,
                                        data=bytes(3))),                    # truncated
    ]
    for publish in bad:
        publish()
    ros.spin_for(0.5)
    assert packets == []
    good = scan([2.0] * 16)
    assert ros.spin_until(lambda: packets, each=lambda: scan_pub.publish(good))


def test_features_beyond_a_packets_float32_range_are_skipped_at_the_encoder(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=["odom"]), Parameter("odom.threshold", value=0.01)]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(Odometry, "odom", qos_profile_sensor_data)
    huge = _odom()
    huge.twist.twist.linear.x = 1e308  # finite in float64, inf as a packet's float32
    assert ros.spin_until(lambda: packets, each=lambda: pub.publish(huge))
    ros.spin_for(0.2)
    for events in events_of(packets):
        assert np.all(np.isfinite(events["value"]))
        # the speed channel never sent: no change, and 0 in keyframes
        assert not np.any(events["value"][events["channel"] == 0])
    good = _odom()
    count = len(packets)

    def speed_sent():
        return any(np.any(e["value"][e["channel"] == 0]) for e in events_of(packets[count:]))
    assert ros.spin_until(speed_sent, each=lambda: pub.publish(good))  # and it runs on


def learner(ros, **params) -> LearnerNode:
    overrides = {"network.n_inputs": 4, "network.n_hidden": 32, "watchdog_timeout_s": 0.3}
    overrides.update(params)
    return ros.add(LearnerNode(context=ros.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in overrides.items()]))


def packet(ros, channels, values, offset_ns=None):
    n = len(channels)
    return make_spike_packet(ros.probe.get_clock().now().to_msg(), "base_link",
                             np.asarray(channels), np.zeros(n) if offset_ns is None else
                             np.asarray(offset_ns), np.asarray(values))


def test_learner_answers_with_bounded_commands(ros):
    node = learner(ros, max_linear_speed=0.2, min_linear_speed=0.0, max_angular_speed=0.5)
    assert not node.has_parameter("n_actions") and not node.has_parameter("joint_limits_low")
    commands = ros.collect(Twist, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    rng = np.random.default_rng(0)

    def send():
        pub.publish(packet(ros, [0, 1, 2, 3], rng.normal(0, 50, 4)))
        reward.publish(Float32(data=float(rng.normal())))
    assert ros.spin_until(lambda: len(commands) >= 50, each=send)
    for c in commands:
        assert 0.0 <= c.linear.x <= 0.2 and -0.5 <= c.angular.z <= 0.5
        assert math.isfinite(c.linear.x) and math.isfinite(c.angular.z)
    assert node.learner.net.count[K.C_INPUT_EVENT] > 0


def frame_packet(sec: int, channel: int) -> PointCloud2:
    """A packet stamped ``sec`` s (a lockstep frame's stamp) that adds 1 to ``channel``."""
    return make_spike_packet(Time(sec=sec), "base_link", np.array([channel]), np.zeros(1),
                             np.array([1.0]))


def test_frame_mode_steps_once_per_complete_sensor_frame_after_its_reward(ros):
    """frame_packets=2: two packets with one stamp and the frame's reward make one step."""
    node = learner(ros, frame_packets=2, watchdog_timeout_s=0.0, frame_timeout_s=1.0)
    commands = ros.collect(Twist, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    assert ros.spin_until(lambda: pub.get_subscription_count() and
                          reward.get_subscription_count())

    # both packets, then the reward: one step, after the reward, with both packets' inputs
    pub.publish(frame_packet(1, 0))
    pub.publish(frame_packet(1, 1))
    ros.spin_for(0.2)
    assert commands == [] and math.isnan(node.learner.last_step_s[0])  # no step yet
    reward.publish(Float32(data=1.0))
    assert ros.spin_until(lambda: len(commands) == 1)
    np.testing.assert_array_equal(node.learner.raw_input, [1.0, 1.0, 0.0, 0.0])
    # the reward first, then the packets: the step waits for the second packet
    reward.publish(Float32(data=0.5))
    pub.publish(frame_packet(2, 2))
    ros.spin_for(0.2)
    assert len(commands) == 1
    pub.publish(frame_packet(2, 3))
    assert ros.spin_until(lambda: len(commands) == 2)
    np.testing.assert_array_equal(node.learner.raw_input, [1.0, 1.0, 1.0, 1.0])
    assert node.incomplete_frames == 0 and node.steps == 2
    # a lost packet: a newer stamp closes the incomplete frame without the new packet
    reward.publish(Float32(data=0.0))
    pub.publish(frame_packet(3, 0))
    ros.spin_for(0.1)
    sent = time.monotonic()
    pub.publish(frame_packet(4, 1))
    assert ros.spin_until(lambda: len(commands) == 3)
    np.testing.assert_array_equal(node.learner.raw_input, [2.0, 1.0, 1.0, 1.0])
    # and an incomplete frame (one packet, no reward) is stepped after frame_timeout_s
    assert ros.spin_until(lambda: len(commands) == 4, timeout=5.0)
    assert time.monotonic() - sent >= 1.0
    np.testing.assert_array_equal(node.learner.raw_input, [2.0, 2.0, 1.0, 1.0])
    assert node.incomplete_frames == 2 and node.steps == 4


def test_frame_mode_under_sim_time_late_packets_episode_ends_and_live_changes(ros):
    """The frame timeout runs on the steady clock (a lockstep /clock waits for the command); a
    late packet of a stepped frame opens no frame; a frame's end is applied with its reward;
    frame_packets can be switched off live."""
    node = learner(ros, frame_packets=2, watchdog_timeout_s=0.0, frame_timeout_s=1.0,
                   use_sim_time=True, stop_at_episode_end=False)
    commands = ros.collect(Twist, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    end = ros.probe.create_publisher(Bool, "episode_end", 10)
    assert ros.spin_until(lambda: pub.get_subscription_count() and
                          reward.get_subscription_count() and end.get_subscription_count())

    # no /clock at all: the incomplete frame is still stepped after frame_timeout_s
    pub.publish(frame_packet(1, 0))
    assert ros.spin_until(lambda: node.steps == 1 and len(commands) == 1, timeout=5.0)
    assert node.incomplete_frames == 1
    # its late second packet joins the next step but opens no frame of its own
    pub.publish(frame_packet(1, 1))
    ros.spin_for(0.6)
    assert node.steps == 1
    reward.publish(Float32(data=1.0))
    pub.publish(frame_packet(2, 2))
    pub.publish(frame_packet(2, 3))
    assert ros.spin_until(lambda: node.steps == 2)
    np.testing.assert_array_equal(node.learner.raw_input, [1.0, 1.0, 1.0, 1.0])
    assert node.incomplete_frames == 1
    # the episode's end and the frame's reward, ready together: a terminal step, no command
    pub.publish(frame_packet(3, 0))
    pub.publish(frame_packet(3, 1))
    ros.spin_for(0.1)
    end.publish(Bool(data=True))
    reward.publish(Float32(data=5.0))
    assert ros.spin_until(lambda: node.steps == 3)
    assert math.isnan(node.learner.pending_value[0])  # the episode ended at this step
    ros.spin_for(0.2)
    assert len(commands) == 2  # the frame before had one, the terminal frame none
    # frame mode off with a frame half collected: its packet joins the next packet's step
    pub.publish(frame_packet(4, 2))
    ros.spin_for(0.1)
    [ok] = _set_parameters(ros, "ant_learner", frame_packets=0)
    assert ok.successful and node.steps == 3
    pub.publish(frame_packet(5, 3))
    assert ros.spin_until(lambda: node.steps == 4)
    np.testing.assert_array_equal(node.learner.raw_input, [2.0, 2.0, 2.0, 2.0])
    [refused] = _set_parameters(ros, "ant_learner", frame_timeout_s=0.0)
    assert not refused.successful and "out of range" in refused.reason
    # the limits are in the descriptors, where `ros2 param describe` shows them
    assert node.describe_parameter("frame_timeout_s").floating_point_range[0].from_value == 0.01
    assert node.describe_parameter("frame_packets").integer_range[0].to_value == 64


def test_twist_stamped_commands_and_teacher(ros):
    node = learner(ros, command_type="twist_stamped", max_linear_speed=0.2,
                   min_linear_speed=0.0, max_angular_speed=0.5, command_frame_id="base")
    commands = ros.collect(TwistStamped, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    rng = np.random.default_rng(3)
    assert ros.spin_until(lambda: len(commands) >= 10, each=lambda: pub.publish(
        packet(ros, [0, 1, 2, 3], rng.normal(0, 5, 4))))
    for c in commands:
        assert c.header.frame_id == "base" and (c.header.stamp.sec or c.header.stamp.nanosec)
        assert 0.0 <= c.twist.linear.x <= 0.2 and -0.5 <= c.twist.angular.z <= 0.5
    teacher = ros.probe.create_publisher(TwistStamped, "teleop/cmd_vel", 10)
    target = TwistStamped()
    target.twist.linear.x = 0.1
    assert ros.spin_until(lambda: node._teacher is not None,
                          each=lambda: teacher.publish(target))
    np.testing.assert_allclose(node._teacher_action(), [0.1, 0.0])


def test_discrete_and_array_commands(ros):
    node = learner(ros, command_type="int32", n_actions=3)
    ints = ros.collect(Int32, "command")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    assert ros.spin_until(lambda: len(ints) >= 5, each=lambda: pub.publish(
        packet(ros, [0], [1.0])))
    assert all(0 <= m.data < 3 for m in ints)
    # only the parameters of the node's command type exist: setting another's is refused
    assert node.has_parameter("idle_action") and not node.has_parameter("max_linear_speed")
    [refused] = _set_parameters(ros, "ant_learner", max_linear_speed=0.5)
    assert not refused.successful


def test_float64_array_commands_for_ros2_control(ros):
    learner(ros, command_type="float64_array", joint_limits_low=[-0.5, 0.0, -1.0],
            joint_limits_high=[0.5, 2.0, 1.0])
    arrays = ros.collect(Float64MultiArray, "command")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    assert ros.spin_until(lambda: len(arrays) >= 5, each=lambda: pub.publish(
        packet(ros, [0, 1], [2.0, -3.0])))
    for m in arrays:
        assert len(m.data) == 3
        assert -0.5 <= m.data[0] <= 0.5 and 0.0 <= m.data[1] <= 2.0 and -1 <= m.data[2] <= 1


def test_malformed_packets_and_rewards_are_dropped_and_the_learner_runs_on(ros):
    node = learner(ros)
    commands = ros.collect(Twist, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    wrong_layout = packet(ros, [0], [1.0])
    wrong_layout.fields = wrong_layout.fields[:2]
    for msg in (wrong_layout, packet(ros, [99], [1.0]), packet(ros, [0, 1], [np.nan, np.inf])):
        pub.publish(msg)
    reward.publish(Float32(data=float("nan")))
    ros.spin_for(0.3)
    weights = node.learner.net.readout.copy()
    assert np.all(np.isfinite(weights))
    assert ros.spin_until(lambda: len(commands) >= 3, each=lambda: pub.publish(
        packet(ros, [0], [0.5])))
    assert all(math.isfinite(c.linear.x) for c in commands)


def _set_parameters(ros, node_name, **values):
    client = ros.probe.create_client(SetParameters, f"/{node_name}/set_parameters")
    request = SetParameters.Request()
    for name, value in values.items():
        pv = ParameterValue()
        if isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        elif isinstance(value, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, str):
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, value
        elif isinstance(value, (list, tuple)):
            pv.type, pv.double_array_value = ParameterType.PARAMETER_DOUBLE_ARRAY, list(value)
        else:
            pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, value
        request.parameters.append(ParameterMsg(name=name, value=pv))
    return ros.call(client, request).results


def test_parameters_apply_live_and_invalid_ones_are_refused_with_a_reason(ros):
    node = learner(ros)
    [ok] = _set_parameters(ros, "ant_learner", **{"learning.actor_lr": 0.01})
    assert ok.successful and node.learner.config.learning.actor_lr == 0.01
    [ok] = _set_parameters(ros, "ant_learner", **{"network.threshold": 0.3})
    assert ok.successful and np.all(node.learner.net.threshold == 0.3)
    [bad] = _set_parameters(ros, "ant_learner", **{"learning.trace_lambda": 1.5})
    assert not bad.successful and "trace_lambda" in bad.reason
    [bad] = _set_parameters(ros, "ant_learner", **{"network.n_hidden": 64})
    assert not bad.successful and "read-only" in bad.reason.lower()
    [bad] = _set_parameters(ros, "ant_learner", **{"min_linear_speed": 1.0})
    assert not bad.successful and "low < high" in bad.reason
    [bad] = _set_parameters(ros, "ant_learner", **{"learning.eprop_feedback": "backprop"})
    assert not bad.successful and "synchronous twin only" in bad.reason
    assert node.learner.config.learning.trace_lambda != 1.5
    assert node.learner.config.learning.eprop_feedback == "random"


def test_per_input_parameters_are_double_arrays_fixed_at_start(ros):
    """The Pendulum preset (field_linear wiring, per-input gains and scales) as ROS parameters:
    the node builds exactly that configuration, and its array parameters are read-only."""
    env = gym.make("Pendulum-v1")
    config = agent_config_for(env, "Pendulum-v1", seed=3)
    env.close()
    node = ros.add(LearnerNode(context=ros.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in learner_parameters(config).items()]))
    assert node.learner.config == config
    for name in ("network.input_gain", "learning.observation_scale"):
        assert node.get_parameter(name).type_ == Parameter.Type.DOUBLE_ARRAY
    assert list(node.get_parameter("network.input_gain").value) == [0.5, 0.5, 0.8]
    [bad] = _set_parameters(ros, "ant_learner", **{"learning.observation_scale": [1.0, 1.0, 4.0]})
    assert not bad.successful and "read-only" in bad.reason.lower()
    [ok] = _set_parameters(ros, "ant_learner", **{"network.threshold": 0.05})
    assert ok.successful and node.learner.config.learning.observation_scale == (1.0, 1.0, 8.0)


def one_command(ros, pub, msg, commands) -> None:
    """Publish ``msg`` once and spin until the learner has answered it."""
    count = len(commands)
    pub.publish(msg)
    assert ros.spin_until(lambda: len(commands) > count)


def test_node_parameters_apply_live_discrete(ros):
    """deterministic, watchdog_timeout_s, idle_action and stop_at_episode_end, set live."""
    node = learner(ros, command_type="int32", n_actions=3, watchdog_timeout_s=0.0,
                   **{"learning.learning_enabled": False})
    commands = ros.collect(Int32, "command")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    ends = ros.probe.create_publisher(Bool, "episode_end", 10)
    rng = np.random.default_rng(0)
    send = lambda: packet(ros, [0, 1, 2, 3], rng.normal(0, 1, 4))  # noqa: E731
    assert ros.spin_until(lambda: commands, each=lambda: pub.publish(send()))  # connected
    assert ros.spin_until(lambda: ends.get_subscription_count() > 0)
    ros.spin_for(0.2)

    def greedy(n: int) -> list[bool]:
        """Send n packets one at a time: was each command the greedy action of its step?"""
        out = []
        for _ in range(n):
            one_command(ros, pub, send(), commands)
            out.append(commands[-1].data == int(np.argmax(node.learner.net.readout_value[1:])))
        return out
    assert not all(greedy(30))  # sampled
    [ok] = _set_parameters(ros, "ant_learner", deterministic=True)
    assert ok.successful and all(greedy(10))
    count = len(commands)
    ros.spin_for(0.5)
    assert len(commands) == count  # watchdog off: no stop command
    [ok, ok2] = _set_parameters(ros, "ant_learner", idle_action=2, watchdog_timeout_s=0.2)
    assert ok.successful and ok2.successful
    assert ros.spin_until(lambda: len(commands) > count, timeout=3.0)
    assert commands[-1].data == 2  # the watchdog's stop, with the new idle action
    [ok] = _set_parameters(ros, "ant_learner", watchdog_timeout_s=0.0)
    assert ok.successful

    def end_then_packet(expect_command: bool) -> None:
        ends.publish(Bool(data=True))
        assert ros.spin_until(lambda: node.assembler.episode_end is True)
        count = len(commands)
        pub.publish(send())
        if expect_command:
            assert ros.spin_until(lambda: len(commands) > count)
            assert commands[-1].data == 2  # the episode's end: a stop
        else:
            ros.spin_for(0.5)
            assert len(commands) == count
    end_then_packet(expect_command=True)
    [ok] = _set_parameters(ros, "ant_learner", stop_at_episode_end=False)
    assert ok.successful
    end_then_packet(expect_command=False)
    one_command(ros, pub, send(), commands)  # the next episode's first step answers again


def test_min_step_interval_and_teacher_timeout_apply_live(ros):
    node = learner(ros, watchdog_timeout_s=0.0)
    pub, commands = drive_learner(ros, 3)
    rng = np.random.default_rng(2)
    send = lambda: pub.publish(packet(ros, [0, 1], rng.normal(0, 1, 2)))  # noqa: E731
    ros.spin_for(0.2)
    assert all(r.successful for r in _set_parameters(
        ros, "ant_learner", min_step_interval_s=1000.0, ingest_between_steps=False))
    count = len(commands)
    ros.spin_for(0.5, each=send)
    assert len(commands) == count  # packets are merged into the next step, 1000 s away
    [ok] = _set_parameters(ros, "ant_learner", min_step_interval_s=0.0)
    assert ok.successful and ros.spin_until(lambda: len(commands) > count, each=send)

    teacher = ros.probe.create_publisher(Twist, "teleop/cmd_vel", 10)
    target = Twist()
    target.linear.x = 0.1
    assert ros.spin_until(lambda: node._teacher is not None, each=lambda: teacher.publish(target))
    [ok] = _set_parameters(ros, "ant_learner", teacher_timeout_s=100.0)
    assert ok.successful and node._teacher_action() is not None
    [ok] = _set_parameters(ros, "ant_learner", teacher_timeout_s=0.0)
    assert ok.successful and node._teacher_action() is None  # too old to follow
    [bad] = _set_parameters(ros, "ant_learner", teacher_timeout_s=-1.0)
    assert not bad.successful and node.teacher_timeout_s == 0.0  # refused: cache unchanged


def test_packets_between_steps_go_into_the_network_and_refresh_the_command(ros):
    node = learner(ros, watchdog_timeout_s=0.0, min_step_interval_s=0.0,
                   **{"learning.actor_lr": 0.05})
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    reward = ros.probe.create_publisher(Float32, "reward", 10)
    commands = ros.collect(Twist, "cmd_vel")
    rng = np.random.default_rng(0)

    def learn():  # steps with rewards: the actor's readouts learn
        reward.publish(Float32(data=float(rng.normal())))
        pub.publish(packet(ros, [0, 1, 2, 3], rng.normal(0, 1, 4)))
    assert ros.spin_until(lambda: node.steps >= 30, each=learn)
    [ok] = _set_parameters(ros, "ant_learner", min_step_interval_s=1000.0)
    assert ok.successful
    ros.spin_for(0.2)
    steps, count = node.steps, len(commands)
    inputs = node.learner.raw_input.copy()
    received = node.packet_events
    sent = np.zeros(4)

    def send():
        values = rng.normal(0, 2, 4)
        sent[:] += values
        pub.publish(packet(ros, [0, 1, 2, 3], values))
    for _ in range(20):
        send()
        ros.spin_for(0.02)
    assert ros.spin_until(lambda: node.packet_events >= received + 80, timeout=5.0)
    ros.spin_for(0.3)
    assert node.steps == steps  # no learning step, 1000 s away
    # every packet is in the network already, not waiting for the next step
    np.testing.assert_allclose(node.learner.raw_input, inputs + sent, rtol=1e-5, atol=1e-4)
    assert len(commands) > count  # commands refreshed from the new inputs
    spec = node.learner.config.action
    for c in commands[count:]:
        assert spec.low[0] <= c.linear.x <= spec.high[0]
        assert spec.low[1] <= c.angular.z <= spec.high[1]


def test_packets_after_an_episode_end_wait_for_the_step_that_ends_it(ros):
    node = learner(ros, watchdog_timeout_s=0.0, min_step_interval_s=0.0)
    pub, commands = drive_learner(ros, 5)
    assert all(r.successful for r in _set_parameters(ros, "ant_learner",
                                                     min_step_interval_s=1000.0))
    end = ros.probe.create_publisher(Bool, "episode_end", 10)
    assert ros.spin_until(lambda: node.assembler.episode_end is not None,
                          each=lambda: end.publish(Bool(data=True)))
    ros.spin_for(0.2)
    count, pending = len(commands), len(node.assembler.pending)
    rng = np.random.default_rng(6)
    for _ in range(5):
        pub.publish(packet(ros, [0, 1], rng.normal(0, 1, 2)))
    assert ros.spin_until(lambda: len(node.assembler.pending) >= pending + 5, timeout=5.0)
    ros.spin_for(0.2)
    assert len(commands) == count  # no command for an episode that has ended


def test_checkpoint_path_cannot_be_changed_on_the_graph(ros, tmp_path):
    path = str(tmp_path / "ant.npz")
    node = learner(ros, checkpoint_path=path)
    [result] = _set_parameters(ros, "ant_learner", checkpoint_path="/tmp/elsewhere.npz")
    assert not result.successful
    assert node.get_parameter("checkpoint_path").value == path


@pytest.mark.parametrize("sectors, n_inputs", [(4, 4), (8, 4)])
def test_the_learner_checks_the_encoders_latched_channel_layout(ros, sectors, n_inputs):
    """The encoder latches its layout on spike_layout; a learner started after it still gets it,
    and refuses the packets of an encoder with another number of channels, with one error and
    a stop, instead of dropping events as unknown channels forever."""
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("scan.sectors", value=sectors), Parameter("scan.threshold", value=0.01)]))
    ros.spin_for(0.2)
    node = learner(ros, watchdog_timeout_s=0.0, **{"network.n_inputs": n_inputs})  # late
    commands = ros.collect(Twist, "cmd_vel")
    assert ros.spin_until(lambda: node.layout_ok is not None, timeout=5.0)
    assert node.layout_ok == (sectors == n_inputs)
    pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    rng = np.random.default_rng(1)
    ros.spin_for(1.0, each=lambda: pub.publish(scan(2.0 + rng.normal(0, 0.5, 90))))
    if sectors == n_inputs:
        assert node.steps > 0
    else:
        assert node.steps == 0 and node.packet_events == 0
        assert all(c.linear.x == 0.0 and c.angular.z == 0.0 for c in commands)


def drive_learner(ros, n_commands: int):
    """Feed random spike packets until the learner has answered ``n_commands`` times."""
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    commands = ros.collect(Twist, "cmd_vel")
    rng = np.random.default_rng(0)
    assert ros.spin_until(lambda: len(commands) >= n_commands, each=lambda: pub.publish(
        packet(ros, [0, 1], rng.normal(0, 1, 2))))
    return pub, commands


def test_services_save_load_reset_and_switch_learning(ros, tmp_path):
    path = str(tmp_path / "agent.npz")
    node = learner(ros, checkpoint_path=path)
    pub, commands = drive_learner(ros, 5)

    def service(kind, name):
        return ros.probe.create_client(kind, f"/ant_learner/{name}")
    saved = ros.call(service(Trigger, "save_checkpoint"), Trigger.Request())
    assert saved.success and (tmp_path / "agent.npz").exists()
    before = node.learner.net.readout.copy()
    assert ros.spin_until(lambda: len(commands) >= 30, each=lambda: pub.publish(
        packet(ros, [2], [np.random.normal()])))
    loaded = ros.call(service(Trigger, "load_checkpoint"), Trigger.Request())
    assert loaded.success
    np.testing.assert_array_equal(node.learner.net.readout, before)
    assert ros.call(service(Trigger, "reset_episode"), Trigger.Request()).success
    off = ros.call(service(SetBool, "set_learning"), SetBool.Request(data=False))
    assert off.success and not node.learner.config.learning.learning_enabled
    (tmp_path / "agent.npz").write_bytes(b"garbage")
    refused = ros.call(service(Trigger, "load_checkpoint"), Trigger.Request())
    assert not refused.success and "not a readable" in refused.message


def test_watchdog_stops_the_robot_when_input_stops(ros):
    learner(ros, watchdog_timeout_s=0.2)
    commands = ros.collect(Twist, "cmd_vel")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    assert ros.spin_until(lambda: len(commands) >= 3, each=lambda: pub.publish(
        packet(ros, [0], [3.0])))
    assert any(c.linear.x != 0.0 or c.angular.z != 0.0 for c in commands)
    assert ros.spin_until(lambda: commands[-1].linear.x == 0.0 and commands[-1].angular.z == 0.0,
                          timeout=3.0)


def test_diagnostics_arrive(ros):
    learner(ros, diagnostics_period_s=0.2)
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    assert ros.spin_until(lambda: diagnostics, each=lambda: pub.publish(packet(ros, [0], [1.0])))
    keys = {kv.key for kv in diagnostics[-1].status[0].values}
    assert {"input_event_rate_hz", "output_event_rate_hz", "hidden_activity", "synops_per_s",
            "total_ratio", "flops_per_step", "learning", "mean_reward",
            "processing_latency_ms", "change_detection", "changes_detected",
            "steps_since_change", "value_fast", "value_slow", "value_drop_sd"} <= keys


def test_imitation_from_a_teacher_command(ros):
    node = learner(ros, **{"learning.imitation_lr": 0.5})
    teacher = ros.probe.create_publisher(Twist, "teleop/cmd_vel", 10)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    target = Twist()
    target.linear.x, target.angular.z = 0.2, -0.5
    rng = np.random.default_rng(1)
    ros.spin_for(3.0, each=lambda: (teacher.publish(target), pub.publish(
        packet(ros, [0, 1], rng.normal(0, 0.2, 2)))))
    mean = node.learner.net.readout_value[1:]
    spec = node.learner.config.action
    action = np.asarray(spec.low) + 0.5 * (np.tanh(mean) + 1) * (
        np.asarray(spec.high) - np.asarray(spec.low))
    np.testing.assert_allclose(action, [0.2, -0.5], atol=0.1)


def test_encoder_thresholds_apply_live(ros):
    node = ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("scan.sectors", value=2)]))
    [ok] = _set_parameters(ros, "ant_encoder", **{"scan.threshold": 0.3})
    assert ok.successful and np.all(node._send_on_delta["scan"].thresholds == 0.3)
    [bad] = _set_parameters(ros, "ant_encoder", **{"scan.threshold": float("nan")})
    assert not bad.successful and "finite" in bad.reason
    [bad] = _set_parameters(ros, "ant_encoder", **{"scan.sectors": 4})
    assert not bad.successful  # structural: read-only


def test_encoder_frame_id_and_publish_empty_apply_live(ros):
    ros.add(EncoderNode(context=ros.context, parameter_overrides=[
        Parameter("scan.sectors", value=2), Parameter("keyframe_period_s", value=0.0)]))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    same = scan([2.0] * 20)
    assert ros.spin_until(lambda: len(packets) >= 3, each=lambda: pub.publish(same))
    assert len(read_spike_packet(packets[-1])) == 0  # empty
    assert packets[-1].header.frame_id == "base_link"
    [ok, ok2] = _set_parameters(ros, "ant_encoder", frame_id="laser_link", publish_empty=False)
    assert ok.successful and ok2.successful
    ros.spin_for(0.1)
    packets.clear()
    ros.spin_for(0.5, each=lambda: pub.publish(same))
    assert packets == []  # no change, no packet
    assert ros.spin_until(lambda: packets, each=lambda: pub.publish(scan([1.0] * 20)))
    assert len(read_spike_packet(packets[0])) > 0 and packets[0].header.frame_id == "laser_link"


def test_learner_resumes_from_its_checkpoint(ros, tmp_path):
    path = str(tmp_path / "agent.npz")
    first = learner(ros, checkpoint_path=path)
    drive_learner(ros, 10)
    first.save_on_shutdown()
    readout = first.learner.net.readout.copy()
    ros.executor.remove_node(first)
    first.destroy_node()
    ros.nodes.remove(first)
    second = learner(ros, checkpoint_path=path, resume=True)
    np.testing.assert_array_equal(second.learner.net.readout, readout)


def test_an_unreadable_checkpoint_is_kept_not_overwritten(ros, tmp_path):
    """A checkpoint the learner cannot load (here: damaged; likewise one of an older format)
    is moved aside to PATH.unreadable before the learner saves over PATH."""
    path = tmp_path / "agent.npz"
    path.write_bytes(b"not a checkpoint")
    node = learner(ros, checkpoint_path=str(path), resume=True)
    kept = tmp_path / "agent.npz.unreadable"
    assert kept.read_bytes() == b"not a checkpoint" and not path.exists()
    node.save_on_shutdown()
    assert path.exists() and kept.read_bytes() == b"not a checkpoint"


def test_periodic_checkpoints(ros, tmp_path):
    path = tmp_path / "periodic.npz"
    learner(ros, checkpoint_path=str(path), checkpoint_period_s=0.2)
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    assert ros.spin_until(path.exists, timeout=5.0, each=lambda: pub.publish(
        packet(ros, [0], [0.5])))
    first = path.stat().st_mtime_ns
    assert ros.spin_until(lambda: path.stat().st_mtime_ns != first, timeout=5.0)


def test_spin_until_returns_when_the_condition_holds_or_at_the_deadline(ros):
    received = ros.collect(Float32, "reward")
    pub = ros.probe.create_publisher(Float32, "reward", 10)
    assert spin_until(ros.executor, lambda: True, 0.0)
    start = time.monotonic()
    assert not spin_until(ros.executor, lambda: False, 0.2, 0.01)
    assert 0.2 <= time.monotonic() - start < 2.0
    assert spin_until(ros.executor, lambda: pub.get_subscription_count() > 0, 5.0)
    pub.publish(Float32(data=1.0))
    assert spin_until(ros.executor, lambda: received, 5.0) and received[0].data == 1.0
