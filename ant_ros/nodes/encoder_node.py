"""``ant_encoder``: sensor topics -> spike packets.

One node hosts several encoders, listed in the ``encoders`` parameter; each subscribes its topic
with the sensor-data QoS, turns a message into features (``ant_ros.core.encoders``), sends the
features' changes send-on-delta (per-channel threshold and rate limit, optional Gaussian
population coding) and publishes them as a spike packet on ``spikes``. Encoders get contiguous
channel ranges in the order listed. Malformed messages are dropped with a rate-limited warning.

Packets are spike packet version 2 (``ant_ros.conversions``): numbered, and each encoder's first
packet and then one at least every ``keyframe_period_s`` (message stamps) is a keyframe with the
absolute value of every one of its channels (the sum of the changes it sent), so a learner that
joins late, restarts or misses a packet is exact again within one keyframe period.

Two node types: ``EncoderNode`` (plain) and ``ManagedEncoderNode`` (lifecycle: configure builds
the encoders and publishers, activate subscribes the sensors and latches the layout, deactivate
unsubscribes, cleanup drops the encoders).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, Imu, JointState, LaserScan, PointCloud2, Range
from std_msgs.msg import Float32MultiArray, String

from ..conversions import as_float_array, make_spike_packet, stamp_to_seconds
from ..core import encoders as enc
from ..core.config import ConfigError
from ..qos import LAYOUT_QOS, SPIKES_QOS
from .parameters import descriptor
from .spin import spin_nodes

# encoder type -> (message type, default topic)
ENCODER_TYPES: dict[str, tuple[type, str]] = {
    "laser_scan": (LaserScan, "scan"),
    "imu": (Imu, "imu"),
    "joint_state": (JointState, "joint_states"),
    "odometry": (Odometry, "odom"),
    "range": (Range, "range"),
    "image": (Image, "image_raw"),
    "float32_array": (Float32MultiArray, "features"),
}
# a name that is also a common topic name implies its type
TYPE_OF_NAME = {"scan": "laser_scan", "imu": "imu", "joint_states": "joint_state",
                "odom": "odometry", "range": "range", "image": "image", "camera": "image"}
IMAGE_ENCODINGS = ("mono8", "rgb8", "bgr8")
LIVE_KEYS = ("threshold", "max_rate_hz")  # send-on-delta parameters that apply live
# features beyond half of float32's range are skipped (a packet value, or a change between two
# such features, would overflow to inf)
PACKET_VALUE_LIMIT = float(np.finfo(np.float32).max) / 2


def layout_json(encoders: list["Encoder"]) -> str:
    """The ``spike_layout`` message: the number of channels and each encoder's range."""
    return json.dumps({"n_channels": sum(e.n_channels for e in encoders),
                       "encoders": [{"name": e.name, "first": e.first_channel,
                                     "count": e.n_channels} for e in encoders]})


@dataclass
class Encoder:
    """One encoder: its channel range, its input subscription's type, topic and callback, and
    what it has sent (for keyframes)."""

    name: str
    first_channel: int
    n_channels: int
    msg_type: type = object
    topic: str = ""
    callback: Callable = print
    sent_sum: np.ndarray | None = None  # the receiver's value of each channel: sum of changes
    last_keyframe_s: float = -math.inf  # stamp of its last keyframe


class EncoderBehaviour:
    """What both encoder nodes do; mixed into ``Node`` or ``LifecycleNode``."""

    def _declare(self) -> None:
        self.declare_parameter("encoders", ["scan"], ParameterDescriptor(
            description="names of the encoders to run, in channel order", read_only=True))
        self.declare_parameter("frame_id", "base_link", ParameterDescriptor(
            description="frame_id of the spike packets"))
        self.declare_parameter("publish_empty", True, ParameterDescriptor(
            description="publish a packet for every sensor message, even without events"))
        self.declare_parameter("keyframe_period_s", 1.0, descriptor(
            "keyframe_period_s", 1.0, False, "send each encoder's channels as absolute values "
            "at least this often (message stamps; 0: only its first packet)"))
        # read for every message: held here, refreshed by the on-set callback once it accepts
        self.frame_id: str = self.get_parameter("frame_id").value
        self.publish_empty: bool = self.get_parameter("publish_empty").value
        self.keyframe_period_s: float = self.get_parameter("keyframe_period_s").value
        self._goal: np.ndarray | None = None
        self._send_on_delta: dict[str, enc.SendOnDeltaEncoder] = {}
        self.encoders: list[Encoder] = []
        self._subscriptions_made: list = []
        self._goal_subscriptions: list = []  # made at configure (odometry goal topics)
        self.sequence = 0  # of the next packet
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _configure(self) -> None:
        """Build the encoders (channel ranges, feature functions) and the publishers."""
        self.publisher = self._create_output(PointCloud2, "spikes", SPIKES_QOS)
        self._send_on_delta = {}
        self.encoders = []
        channel = 0
        for name in self.get_parameter("encoders").value:
            encoder = self._make_encoder(name, channel)
            encoder.sent_sum = np.zeros(encoder.n_channels)
            self.encoders.append(encoder)
            channel += encoder.n_channels
        self.n_channels = channel
        layout = ", ".join(f"{e.name}: {e.first_channel}..{e.first_channel + e.n_channels - 1}"
                           for e in self.encoders)
        self.get_logger().info(f"{channel} input channels ({layout})")
        # the channel layout, latched: a learner that joins later checks it against its inputs
        self.layout_publisher = self._create_output(String, "spike_layout", LAYOUT_QOS)

    def _create_output(self, msg_type, topic: str, qos):
        return self.create_publisher(msg_type, topic, qos)

    def _activate(self) -> None:
        """Latch the layout and subscribe the sensors; each encoder's next packet is a
        keyframe."""
        self.layout_publisher.publish(String(data=layout_json(self.encoders)))
        for encoder in self.encoders:
            encoder.last_keyframe_s = -math.inf
        self._subscriptions_made = [
            self.create_subscription(e.msg_type, e.topic, e.callback, qos_profile_sensor_data)
            for e in self.encoders]

    def _deactivate(self) -> None:
        for sub in self._subscriptions_made:
            self.destroy_subscription(sub)
        self._subscriptions_made = []

    # -- set-up --------------------------------------------------------------------------------

    def _param(self, name: str, key: str, default, text: str):
        full = f"{name}.{key}"
        if not self.has_parameter(full):
            self.declare_parameter(full, default, ParameterDescriptor(
                description=text, read_only=key not in LIVE_KEYS))
        return self.get_parameter(full).value

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Thresholds, rate limits, ``frame_id`` and ``publish_empty`` apply live; anything else
        is read-only."""
        proposed = {p.name: p.value for p in params}
        updates = []
        for name, coder in self._send_on_delta.items():
            keys = {key: proposed.get(f"{name}.{key}", self.get_parameter(f"{name}.{key}").value)
                    for key in LIVE_KEYS}
            if any(f"{name}.{key}" in proposed for key in LIVE_KEYS):
                if not all(math.isfinite(float(v)) for v in keys.values()):
                    return SetParametersResult(successful=False,
                                               reason=f"{name}: values must be finite")
                updates.append((coder, keys))
        try:
            for coder, keys in updates:  # validate all before changing any
                coder.checked_settings(coder.n_channels, keys["threshold"], keys["max_rate_hz"])
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        for coder, keys in updates:
            coder.configure(keys["threshold"], keys["max_rate_hz"])
        self.frame_id = str(proposed.get("frame_id", self.frame_id))
        self.publish_empty = bool(proposed.get("publish_empty", self.publish_empty))
        self.keyframe_period_s = float(proposed.get("keyframe_period_s", self.keyframe_period_s))
        return SetParametersResult(successful=True)

    def _make_encoder(self, name: str, first: int) -> Encoder:
        kind = self._param(name, "type", TYPE_OF_NAME.get(name, "float32_array"),
                           f"encoder type: {', '.join(ENCODER_TYPES)}")
        if kind not in ENCODER_TYPES:
            raise ConfigError(f"encoder {name}: unknown type {kind}")
        msg_type, default_topic = ENCODER_TYPES[kind]
        topic = self._param(name, "topic", default_topic, "topic to encode")
        # the image encoder makes its own ON/OFF events (contrast_threshold): it has no
        # send-on-delta or population parameters, so a live set of one cannot silently do nothing
        if kind == "image":
            grid = (self._param(name, "grid_rows", 8, "event-camera grid rows"),
                    self._param(name, "grid_cols", 8, "event-camera grid columns"))
            contrast = self._param(name, "contrast_threshold", 0.15, "log-intensity change "
                                   "that makes an ON/OFF event")
            n_features = grid[0] * grid[1]
            camera: dict[str, enc.EventCameraEncoder] = {}

            def events_of(msg: Image, stamp_s: float):
                frame = self._image(msg)
                cam = camera.get("cam")
                if cam is None or (cam.height, cam.width) != frame.shape:
                    cam = camera["cam"] = enc.EventCameraEncoder(
                        frame.shape[0], frame.shape[1], min(grid[0], frame.shape[0]),
                        min(grid[1], frame.shape[1]), contrast)
                return cam.encode(frame)
        else:
            threshold = self._param(name, "threshold", 0.05, "send-on-delta threshold per "
                                    "channel")
            max_rate = self._param(name, "max_rate_hz", 0.0, "most events per channel per "
                                   "second (0: unlimited)")
            fields = self._param(name, "population_fields", 0, "Gaussian receptive fields per "
                                 "feature (0: send the feature itself)")
            low = self._param(name, "population_low", 0.0, "lowest value of the receptive "
                              "fields")
            high = self._param(name, "population_high", 1.0, "highest value of the receptive "
                               "fields")
            n_features, feature_fn = self._feature_function(name, kind)
            population = enc.PopulationEncoder(low, high, fields) if fields > 0 else None
            n_out = population.n_outputs(n_features) if population else n_features
            delta = enc.SendOnDeltaEncoder(n_out, threshold, max_rate)
            self._send_on_delta[name] = delta

            def events_of(msg, stamp_s: float):
                values = feature_fn(msg)
                if population is not None:
                    values = population.transform(values)
                # a spike packet carries float32: a feature (or a change) beyond its range would
                # arrive as inf, so it is skipped like a non-finite one
                values = np.where(np.abs(values) <= PACKET_VALUE_LIMIT, values, np.nan)
                channels, deltas = delta.encode(values, stamp_s)
                if delta.last_skipped:
                    self.get_logger().warning(f"{name}: {delta.last_skipped} non-finite or "
                                              f"out-of-range (beyond +-{PACKET_VALUE_LIMIT:.1e}) "
                                              "features skipped", throttle_duration_sec=5.0)
                return channels, deltas
            n_features = n_out

        encoder = Encoder(name, first, n_features, msg_type, topic)

        def callback(msg):
            stamp = self._stamp(msg)  # the time of the events and of their packet
            try:
                channels, values = events_of(msg, stamp_to_seconds(stamp))
            except (ValueError, KeyError, IndexError) as exc:
                self.get_logger().warning(f"{name}: dropped a malformed message: {exc}",
                                          throttle_duration_sec=5.0)
                return
            self._send(encoder, stamp, np.asarray(channels, np.int64),
                       np.asarray(values, np.float64))

        encoder.callback = callback
        return encoder

    def _feature_function(self, name: str, kind: str) -> tuple[int, Callable]:
        if kind == "laser_scan":
            sectors = self._param(name, "sectors", 8, "angular sectors (minimum range each)")
            clip = float(self._param(name, "clip_range_m", 0.0, "ranges beyond this (m) count "
                                     "as free: [0, 1] spans range_min..clip_range_m, for finer "
                                     "resolution near the robot (0: the sensor's range_max)"))
            if not (math.isfinite(clip) and clip >= 0.0):
                raise ConfigError(f"encoder {name}: clip_range_m must be finite and >= 0")
            clip = clip if clip > 0.0 else math.inf
            return sectors, lambda m: enc.laser_scan_sectors(
                as_float_array(m.ranges), m.range_min, m.range_max, sectors, clip)
        if kind == "imu":
            def imu(m: Imu):
                q = m.orientation
                unknown = m.orientation_covariance[0] == -1.0
                return enc.imu_features(
                    (m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z),
                    (m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z),
                    None if unknown else (q.x, q.y, q.z, q.w))
            return 8, imu
        if kind == "joint_state":
            joints = list(self._param(name, "joints", [""], "joints to encode (position, "
                                      "velocity each)"))
            joints = [j for j in joints if j]
            if not joints:
                raise ConfigError(f"encoder {name}: set {name}.joints")
            velocity = self._param(name, "include_velocity", True, "encode velocities too")

            def joint_state(m: JointState):
                features = enc.joint_features(list(m.name), as_float_array(m.position),
                                              as_float_array(m.velocity), joints)
                return features if velocity else features[0::2]
            return (2 if velocity else 1) * len(joints), joint_state
        if kind == "odometry":
            goal_topic = self._param(name, "goal_topic", "", "PoseStamped goal topic (empty: "
                                     "no goal features)")
            if goal_topic:
                self._goal_subscriptions.append(
                    self.create_subscription(PoseStamped, goal_topic, self._on_goal, 10))

            def odom(m: Odometry):
                p, q = m.pose.pose.position, m.pose.pose.orientation
                features = enc.odometry_features(
                    m.twist.twist.linear.x, m.twist.twist.angular.z, (p.x, p.y),
                    enc.yaw_from_quaternion(q.x, q.y, q.z, q.w), self._goal)
                if goal_topic and self._goal is None:
                    features = np.concatenate([features, [0.0, 0.0]])
                return features
            return (4 if goal_topic else 2), odom
        if kind == "range":
            return 1, lambda m: np.array([enc.range_feature(m.range, m.min_range, m.max_range)])
        size = self._param(name, "size", 1, "number of values in each message")

        def array(m: Float32MultiArray):
            values = as_float_array(m.data)
            if values.size != size:
                raise ValueError(f"expected {size} values, got {values.size}")
            return values
        return size, array

    # -- messages ------------------------------------------------------------------------------

    def _on_goal(self, msg: PoseStamped) -> None:
        goal = np.array([msg.pose.position.x, msg.pose.position.y])
        if np.all(np.isfinite(goal)):
            self._goal = goal

    def _image(self, msg: Image) -> np.ndarray:
        if msg.encoding not in IMAGE_ENCODINGS:
            raise ValueError(f"image encoding {msg.encoding!r} is not one of {IMAGE_ENCODINGS}")
        channels = 1 if msg.encoding == "mono8" else 3
        if msg.step < msg.width * channels or len(msg.data) < msg.step * msg.height:
            raise ValueError("image data is shorter than step * height")
        rows = np.frombuffer(msg.data, np.uint8)[: msg.step * msg.height].reshape(
            msg.height, msg.step)[:, : msg.width * channels]
        if channels == 1:
            return rows.astype(np.float64)
        pixels = rows.reshape(msg.height, msg.width, 3)
        return enc.rgb_to_gray(pixels[..., ::-1] if msg.encoding == "bgr8" else pixels)

    def _stamp(self, msg) -> Time:
        """The message's header stamp; now for a message without a header or with a zero stamp."""
        header = getattr(msg, "header", None)
        if header is not None and (header.stamp.sec or header.stamp.nanosec):
            return header.stamp
        return self.get_clock().now().to_msg()

    def _send(self, encoder: Encoder, stamp: Time, channels: np.ndarray,
              values: np.ndarray) -> None:
        """Publish one message's changes (channels relative to the encoder), led by a keyframe
        when one is due: the first packet, the period has passed, or time went backwards."""
        stamp_s = stamp_to_seconds(stamp)
        since = stamp_s - encoder.last_keyframe_s
        keyframe = None
        if since < 0.0 or math.isinf(since) or since >= self.keyframe_period_s > 0.0:
            encoder.last_keyframe_s = stamp_s
            keyframe = (np.arange(encoder.n_channels) + encoder.first_channel,
                        encoder.sent_sum.copy())
        # the receiver adds the float32 changes the packet carries
        np.add.at(encoder.sent_sum, channels, values.astype(np.float32))
        if keyframe is not None or len(channels) or self.publish_empty:
            self.publisher.publish(make_spike_packet(
                stamp, self.frame_id, channels + encoder.first_channel,
                np.zeros(len(channels), np.uint32), values, sequence=self.sequence,
                keyframe=keyframe))
            self.sequence = (self.sequence + 1) % 2 ** 32


class EncoderNode(EncoderBehaviour, Node):
    """The encoder as a plain node: configured and active from construction."""

    def __init__(self, node_name: str = "ant_encoder", **kwargs) -> None:
        Node.__init__(self, node_name, **kwargs)
        self._declare()
        self._configure()
        self._activate()


class ManagedEncoderNode(EncoderBehaviour, LifecycleNode):
    """The encoder as a lifecycle (managed) node (see the module docstring)."""

    def __init__(self, node_name: str = "ant_encoder", **kwargs) -> None:
        LifecycleNode.__init__(self, node_name, **kwargs)
        self._declare()

    def _create_output(self, msg_type, topic: str, qos):
        return self.create_lifecycle_publisher(msg_type, topic, qos)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ConfigError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _teardown(self) -> None:
        """Destroy what configure made (publishers, goal subscriptions, encoders)."""
        for name in ("publisher", "layout_publisher"):
            if getattr(self, name, None) is not None:
                self.destroy_lifecycle_publisher(getattr(self, name))
                setattr(self, name, None)
        for sub in self._goal_subscriptions:
            self.destroy_subscription(sub)
        self._goal_subscriptions = []
        self.encoders, self._send_on_delta = [], {}

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # activates the lifecycle publishers
        self._activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [EncoderNode()], args)


def main_managed(args: list[str] | None = None) -> None:
    """``ant_managed_encoder``: the lifecycle node; a lifecycle manager (or launch) brings it
    up."""
    spin_nodes(lambda: [ManagedEncoderNode()], args)


if __name__ == "__main__":
    main(sys.argv)
