"""``ant_learner``: the asynchronous network on the robot, learning while it drives.

Subscribes spike packets (``spikes``), ``reward`` (std_msgs/Float32), ``episode_end``
(std_msgs/Bool: true = terminated, false = truncated) and an optional teacher command
(``teleop/cmd_vel``, geometry_msgs/Twist, or TwistStamped with ``command_type:
twist_stamped``). Each spike packet triggers one learning step (at most
one per ``min_step_interval_s``; a packet that comes sooner goes into the network when it arrives
and refreshes the command, or, with ``ingest_between_steps`` false, waits for the next step), or,
with ``frame_packets`` (lockstep simulators), each complete sensor frame (that many packets with
one stamp, and its reward) does; each step publishes one command on ``cmd_vel`` (Twist, or
TwistStamped as Jazzy's diff_drive_controller and nav2 since Kilted take it), or on ``command``
(std_msgs/Float64MultiArray for ros2_control forward command controllers, or std_msgs/Int32 for
discrete actions). A thin facade: parameters -> AgentConfig, messages -> core calls -> publish;
which packets make a step is ``ant_ros.core.step_assembly``, keeping the inputs equal to the
encoder's (sequence numbers, keyframes) ``ant_ros.core.input_sync``.

Two node types, one behaviour: ``LearnerNode`` (plain: configures and activates itself at start)
and ``ManagedLearnerNode`` (a lifecycle node, as nav2's: configure builds the network, compiles the
kernels and loads the checkpoint; activate subscribes and starts the timers; deactivate publishes
a stop and unsubscribes, so nothing is learned; cleanup drops the network; shutdown stops the
robot and saves the checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int32, String
from std_srvs.srv import SetBool, Trigger

from ..conversions import (PacketError, action_from_twist, decode_spike_packet,
                           stamp_to_seconds, twist_from_action)
from ..core import kernels as K
from ..core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..core.config import ActionSpec, AgentConfig, ConfigError, LearningConfig, NetworkConfig
from ..core.events import InputError
from ..core.input_sync import InputSync
from ..core.learner import OnlineLearner, warm_up
from ..core.step_assembly import IngestInputs, StepAssembler, StepInputs, event_batch
from ..qos import LAYOUT_QOS, SPIKES_QOS
from ..tasks.parameter_files import twist_action_spec
from .parameters import declare_config, descriptor, read_config
from .spin import spin_nodes

COMMAND_TYPES = ("twist", "twist_stamped", "float64_array", "int32")
TWIST_TYPES = ("twist", "twist_stamped")
# name -> (default, read-only, description); the command's parameters exist only for its type
_TWIST_LIMITS = {
    "max_linear_speed": (0.3, False, "largest forward speed (m/s)"),
    "min_linear_speed": (-0.1, False, "smallest (most backward) speed (m/s)"),
    "max_angular_speed": (1.0, False, "largest turn rate magnitude (rad/s)"),
}
COMMAND_PARAMETERS = {
    "twist": _TWIST_LIMITS,
    "twist_stamped": {**_TWIST_LIMITS, "command_frame_id": (
        "base_link", True, "header frame_id of the TwistStamped commands")},
    "float64_array": {
        "joint_limits_low": ([-1.0], False, "lower command limits"),
        "joint_limits_high": ([1.0], False, "upper command limits"),
    },
    "int32": {
        "n_actions": (2, True, "number of discrete actions"),
        "idle_action": (0, False, "discrete action sent when stopped"),
    },
}
NODE_PARAMETERS = {
    "watchdog_timeout_s": (0.5, False, "no spike packet for this long: publish a zero command"),
    "stop_at_episode_end": (True, False, "publish a zero command when an episode ends (false: "
                            "publish nothing, as a lockstep simulator expects)"),
    "min_step_interval_s": (0.0, False, "at most one learning step per this interval (packets "
                            "in between: see ingest_between_steps)"),
    "ingest_between_steps": (True, False, "packets between steps go into the network when they "
                             "arrive and refresh the command (the step's exploration held); "
                             "false: they are merged into the next step"),
    "frame_packets": (0, False, "step once per sensor frame: this many spike packets with one "
                      "stamp (lockstep simulators; 0: step on every packet)"),
    "frame_reward": (True, False, "with frame_packets: a frame is complete only once its reward "
                     "has arrived too"),
    "frame_timeout_s": (0.1, False, "with frame_packets: step an incomplete frame after this "
                        "long (steady clock, also under sim time; checked every 50 ms) and warn"),
    "teacher_timeout_s": (0.5, False, "a teacher command older than this is ignored"),
    "deterministic": (False, False, "act greedily (no exploration noise)"),
    "checkpoint_path": ("", True, "checkpoint file for save/load (empty: no checkpoints); "
                        "read-only, so no participant on the graph can point saves elsewhere"),
    "checkpoint_period_s": (0.0, False, "save a checkpoint this often (0: only on request)"),
    "resume": (False, True, "load checkpoint_path at start if it exists"),
    "diagnostics_period_s": (1.0, True, "period of /diagnostics messages"),
}
# node parameters read on every packet, step or watchdog tick: held in attributes of the same
# name, set at start and refreshed by the on-set callback once it accepts (rclpy has already
# checked the declared type and range)
CACHED_PARAMETERS = ("min_step_interval_s", "ingest_between_steps", "deterministic",
                     "stop_at_episode_end", "teacher_timeout_s", "watchdog_timeout_s",
                     "idle_action", "frame_packets", "frame_reward", "frame_timeout_s")


ASSEMBLER_SETTINGS = ("frame_packets", "frame_reward", "frame_timeout_s", "min_step_interval_s",
                      "ingest_between_steps")
MAX_REPORTED_JUMPS = 1  # clock jumps backwards warned of; later ones are counted in diagnostics


def _keep_unreadable(path: str) -> str:
    """Move a checkpoint that cannot be loaded (another format version, damage) out of the way
    of the next save, to ``PATH.unreadable`` (``.unreadable.1``, ... if taken); its new path."""
    target, n = f"{path}.unreadable", 0
    while os.path.exists(target):
        n += 1
        target = f"{path}.unreadable.{n}"
    os.replace(path, target)
    return target


class LearnerBehaviour:
    """What both learner nodes do; mixed into ``Node`` (``LearnerNode``) or ``LifecycleNode``
    (``ManagedLearnerNode``). ``_declare`` runs at construction, then ``_configure``,
    ``_activate``, ``_deactivate`` and ``_cleanup`` as the lifecycle (or the plain node's start
    and end) goes."""

    # the CACHED_PARAMETERS
    min_step_interval_s: float
    ingest_between_steps: bool
    deterministic: bool
    stop_at_episode_end: bool
    teacher_timeout_s: float
    watchdog_timeout_s: float
    frame_packets: int
    frame_reward: bool
    frame_timeout_s: float
    idle_action: int = 0  # int32 commands only
    learner: OnlineLearner | None = None  # between configure and cleanup

    # -- set-up --------------------------------------------------------------------------------

    def _declare(self) -> None:
        """Declare every parameter and the on-set callback (construction)."""
        self.command_type = self.declare_parameter("command_type", "twist", ParameterDescriptor(
            description="twist or twist_stamped (cmd_vel: geometry_msgs/Twist or TwistStamped), "
                        "float64_array (command) or int32 (command)",
            read_only=True)).value
        if self.command_type not in COMMAND_TYPES:
            raise ConfigError(f"command_type must be one of {COMMAND_TYPES}")
        for name, (default, read_only, text) in {**COMMAND_PARAMETERS[self.command_type],
                                                 **NODE_PARAMETERS}.items():
            # rclpy refuses values outside a descriptor's range, at start and when set live
            self.declare_parameter(name, default, descriptor(name, default, read_only, text))
        self.command_frame_id = (self.get_parameter("command_frame_id").value
                                 if self.has_parameter("command_frame_id") else "")
        declare_config(self, "network", NetworkConfig())
        declare_config(self, "learning", LearningConfig())
        self._cache_parameters({name: self.get_parameter(name).value
                                for name in CACHED_PARAMETERS if self.has_parameter(name)})
        self._config_from_parameters({})  # refuse a bad parameter file at construction
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._subscriptions_made: list = []
        self._timers_made: list = []
        self._services_made: list = []
        self._checkpoint_timer = None

    def _configure(self) -> None:
        """Build the network (compiling or loading the cached kernels), load the checkpoint
        (``resume``), create the publishers and services."""
        config = self._config_from_parameters({})
        warm_up()  # compile (or load cached) kernels now, not in the first callback
        self.learner = OnlineLearner(config)
        self.assembler = StepAssembler(**{name: getattr(self, name)
                                          for name in ASSEMBLER_SETTINGS})
        self._resume()
        self.sync = InputSync(config.network.n_inputs)
        self.sync.reset(self.learner.raw_input)
        self.steps = 0  # learning steps taken
        self.time_jumps = 0  # times the clock went backwards
        self._teacher: tuple[float, np.ndarray] | None = None
        self._last_packet = time.monotonic()
        self._stopped = False
        self._latencies: deque[float] = deque(maxlen=200)
        self.packet_events = 0  # events received in spike packets
        self._reward_ema = 0.0
        self._warned_v1 = False
        self._diag_last = (time.monotonic(), *self._event_counts(), 0)
        # None: no layout heard (a sender without one is trusted); else whether it matches
        self.layout_ok: bool | None = None

        if self.command_type in TWIST_TYPES:
            stamped = self.command_type == "twist_stamped"
            self.command_pub = self._create_output(TwistStamped if stamped else Twist,
                                                   "cmd_vel", 10)
        elif self.command_type == "float64_array":
            self.command_pub = self._create_output(Float64MultiArray, "command", 10)
        else:
            self.command_pub = self._create_output(Int32, "command", 10)
        self.diagnostics_pub = self._create_output(DiagnosticArray, "/diagnostics", 10)
        self._services_made = [
            self.create_service(Trigger, "~/save_checkpoint", self._srv_save),
            self.create_service(Trigger, "~/load_checkpoint", self._srv_load),
            self.create_service(Trigger, "~/reset_episode", self._srv_reset),
            self.create_service(SetBool, "~/set_learning", self._srv_set_learning)]
        self.get_logger().info(
            f"learning with {config.network.n_hidden} neurons on {config.network.n_inputs} "
            f"inputs, command {self.command_type}")

    def _create_output(self, msg_type, topic: str, qos):
        return self.create_publisher(msg_type, topic, qos)

    def _activate(self) -> None:
        """Subscribe the inputs and start the timers."""
        self._last_packet = time.monotonic()
        # rclpy's executors serve ready subscriptions in the order they were created: the
        # episode end, then the reward, then spike packets, so the step that a packet (or, in
        # frame mode, the reward) triggers has seen what came with it
        teacher_type = TwistStamped if self.command_type == "twist_stamped" else Twist
        self._subscriptions_made = [
            self.create_subscription(Bool, "episode_end", self._on_episode_end, 10),
            self.create_subscription(Float32, "reward", self._on_reward, 10),
            self.create_subscription(teacher_type, "teleop/cmd_vel", self._on_teacher, 10),
            self.create_subscription(PointCloud2, "spikes", self._on_spikes, SPIKES_QOS),
            self.create_subscription(String, "spike_layout", self._on_layout, LAYOUT_QOS)]
        # wall time, also under sim time: a lockstep simulator's clock waits for our command
        self._timers_made = [
            self.create_timer(0.05, self._watchdog, clock=Clock(clock_type=ClockType.STEADY_TIME)),
            self.create_timer(self.get_parameter("diagnostics_period_s").value, self._diagnostics)]
        self._schedule_checkpoints(self.get_parameter("checkpoint_period_s").value)

    def _deactivate(self) -> None:
        """Stop the robot, unsubscribe (nothing more is learned) and stop the timers."""
        self.stop_robot()
        for sub in self._subscriptions_made:
            self.destroy_subscription(sub)
        for timer in self._timers_made:
            self.destroy_timer(timer)
        self._subscriptions_made, self._timers_made = [], []
        self._schedule_checkpoints(0.0)

    def _cleanup(self) -> None:
        """Drop the network, the publishers and the services (back to unconfigured)."""
        for service in self._services_made:
            self.destroy_service(service)
        self._services_made = []
        self._destroy_outputs()
        self.learner = None

    def _destroy_outputs(self) -> None:
        self.destroy_publisher(self.command_pub)
        self.destroy_publisher(self.diagnostics_pub)

    # -- parameters ----------------------------------------------------------------------------

    def _action_spec(self, values: dict) -> ActionSpec:
        get = lambda name: values.get(name, self.get_parameter(name).value)  # noqa: E731
        if self.command_type == "int32":
            return ActionSpec(kind="discrete", n=int(get("n_actions")))
        if self.command_type in TWIST_TYPES:
            return twist_action_spec(get("min_linear_speed"), get("max_linear_speed"),
                                     get("max_angular_speed"))
        return ActionSpec(kind="continuous", low=tuple(map(float, get("joint_limits_low"))),
                          high=tuple(map(float, get("joint_limits_high"))))

    def _config_from_parameters(self, values: dict) -> AgentConfig:
        network = read_config(self, "network", NetworkConfig, values)
        learning = read_config(self, "learning", LearningConfig, values)
        config = AgentConfig(network=network, learning=learning,
                             action=self._action_spec(values), seed=network.seed).validate()
        OnlineLearner.check_config(config)  # what this node's (asynchronous) learner runs
        return config

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate and apply a parameter change (one callback: works on Humble and later)."""
        values = {p.name: p.value for p in params}
        try:
            config = self._config_from_parameters(values)
            if self.learner is not None:
                self.learner.apply_config(config)
        except (ConfigError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if "checkpoint_period_s" in values and self._timers_made:
            self._schedule_checkpoints(float(values["checkpoint_period_s"]))
        self._cache_parameters(values)
        if self.learner is not None and any(name in values for name in ASSEMBLER_SETTINGS):
            for name in ASSEMBLER_SETTINGS:
                setattr(self.assembler, name, getattr(self, name))
            self._do(self.assembler.settings_changed(self._now_s()), time.perf_counter())
        return SetParametersResult(successful=True)

    def _cache_parameters(self, values: dict) -> None:
        """Copy the CACHED_PARAMETERS among ``values`` (accepted values) into their attributes."""
        for name in CACHED_PARAMETERS:
            if name in values:
                setattr(self, name, values[name])

    # -- inputs --------------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_layout(self, msg: String) -> None:
        """The encoder's channel layout: refuse its packets if it has another number of
        channels than the learner has inputs (one clear error, then a stop)."""
        try:
            layout = json.loads(msg.data)
            n_channels = int(layout["n_channels"])
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"ignored a malformed spike_layout: {exc}")
            return
        n_inputs = self.learner.n_inputs
        ok = n_channels == n_inputs
        if not ok and self.layout_ok is not False:
            ranges = ", ".join(f"{e.get('name')}: {e.get('count')}"
                               for e in layout.get("encoders", []))
            self.get_logger().error(
                f"the encoder sends {n_channels} channels ({ranges}) but network.n_inputs is "
                f"{n_inputs}: its spike packets are refused until the two agree")
            self._discard_pending()
            self._publish(None)
            self._stopped = True
        elif ok and self.layout_ok is False:
            self.get_logger().info(f"the encoder's layout matches ({n_channels} channels)")
        self.layout_ok = ok

    def _on_spikes(self, msg: PointCloud2) -> None:
        if self.layout_ok is False:
            return  # refused at the layout, once, with the reason
        started = time.perf_counter()
        try:
            packet = decode_spike_packet(msg)
        except PacketError as exc:
            self.get_logger().warning(f"dropped a spike packet: {exc}", throttle_duration_sec=5.0)
            return
        events = packet.events
        stamp = stamp_to_seconds(msg.header.stamp)
        n_inputs = self.learner.n_inputs
        good = (events["channel"] < n_inputs) & np.isfinite(events["value"])
        if not np.all(good):
            self.get_logger().warning(
                f"dropped {int(np.count_nonzero(~good))} events with unknown channels (the "
                f"learner has {n_inputs}) or non-finite values", throttle_duration_sec=5.0)
            events = events[good]
        keyframe = packet.keyframe
        if keyframe is not None:
            channels = keyframe["channel"]
            usable = (np.all((channels < n_inputs) & np.isfinite(keyframe["value"]))
                      and np.unique(channels).size == channels.size)
            if not usable:  # the packet is treated as a gap
                self.get_logger().warning(
                    "dropped a keyframe with unknown, repeated or non-finite channels",
                    throttle_duration_sec=5.0)
                keyframe = None
                self.sync.next_sequence = None
        if packet.sequence is None and not self._warned_v1:
            self._warned_v1 = True
            self.get_logger().warning(
                "spike packets without sequence numbers (version 1): their events are applied "
                "as changes, and a lost packet or a late start cannot be detected or repaired")
        events, gap = self.sync.accept(events, packet.sequence, keyframe)
        if gap:
            self.get_logger().warning(
                "spike packets were lost (a sequence gap): inputs out of sync until the next "
                "keyframe", throttle_duration_sec=5.0)
        self._last_packet = time.monotonic()
        self.packet_events += len(events)
        now = self._now_s()
        if self.learner.went_backwards(now):
            # what came before the jump ends the episode; the packet starts the next one (and,
            # in frame mode, a frame: the frame tracking restarts)
            self._take_step(self.assembler.take(now), now)
        self._do(self.assembler.add_packet(stamp, events, now, time.monotonic()), started)

    def _on_reward(self, msg: Float32) -> None:
        if not math.isfinite(msg.data):
            self.get_logger().warning("dropped a non-finite reward", throttle_duration_sec=5.0)
            return
        self._reward_ema += 0.01 * (msg.data - self._reward_ema)
        self._do(self.assembler.add_reward(msg.data, self._now_s()), time.perf_counter())

    def _on_episode_end(self, msg: Bool) -> None:
        self.assembler.end_episode(bool(msg.data))

    def _on_teacher(self, msg: Twist | TwistStamped) -> None:
        action = action_from_twist(msg.twist if isinstance(msg, TwistStamped) else msg)
        if not np.all(np.isfinite(action)):
            self.get_logger().warning("dropped a non-finite teacher command",
                                      throttle_duration_sec=5.0)
            return
        self._teacher = (time.monotonic(), action)

    # -- stepping ------------------------------------------------------------------------------

    def _clock_jumped(self, now: float) -> bool:
        """Whether the clock went backwards (a world reset, a looping bag, a resume under sim
        time); if so time is rebased, so stepping carries on, and the caller ends the episode."""
        if not self.learner.went_backwards(now):
            return False
        self.time_jumps += 1
        if self.time_jumps <= MAX_REPORTED_JUMPS:
            self.get_logger().warning(
                f"the clock went backwards ({now:.3f} s after {self.learner.last_step_s[0]:.3f} "
                "s): the episode ends and time is rebased (later jumps are only counted, in "
                "/diagnostics)")
        self.learner.rebase_time(now)
        self.assembler.time_jumped()
        return True

    def _discard_pending(self) -> None:
        """Drop the packets waiting for a step: their changes never reach the learner."""
        for _, events in self.assembler.pending:
            self.sync.lost(events)
        self.assembler.discard()

    def _do(self, work: list, started: float) -> None:
        """Carry out what the assembler returned."""
        for item in work:
            now = self._now_s()
            if isinstance(item, IngestInputs):
                self._ingest(item, now)
            else:
                if item.incomplete:
                    self.get_logger().warning(
                        f"stepped an incomplete sensor frame (fewer than {self.frame_packets} "
                        f"packets{', no reward' if item.reward_missing else ''})",
                        throttle_duration_sec=5.0)
                self._take_step(item, now)
                self._latencies.append(time.perf_counter() - started)

    @property
    def incomplete_frames(self) -> int:
        """Frames stepped by frame_timeout_s or a newer stamp."""
        return self.assembler.incomplete_frames

    def _ingest(self, item: IngestInputs, now: float) -> None:
        """A packet between steps: into the network now; publish the refreshed command."""
        if self.learner.went_backwards(now):  # the packet ends the episode instead
            self.assembler.pending.append(item.packet)
            self._take_step(self.assembler.take(now), now)
            return
        try:
            action = self.learner.ingest_events(
                event_batch([item.packet], now, self.learner.last_step_s[0]), now)
        except InputError as exc:
            self._dropped(f"dropped a spike packet: {exc}", [item.packet])
            return
        if action is not None and not self._stopped:
            self._publish(action)

    def _dropped(self, message: str, packets: list) -> None:
        """Events refused by the core never reached the inputs: out of sync till a keyframe."""
        self.get_logger().warning(message, throttle_duration_sec=5.0)
        for _, events in packets:
            self.sync.lost(events)

    def _take_step(self, item: StepInputs, now: float) -> None:
        end = item.episode_end
        if self._clock_jumped(now) and end is None:
            end = False  # this step ends the episode (truncated)
        try:
            action = self.learner.step_events(
                event_batch(item.packets, now, self.learner.last_step_s[0]), now,
                reward=item.reward, terminated=end is True, truncated=end is False,
                teacher_action=self._teacher_action(), deterministic=self.deterministic)
        except InputError as exc:
            self._dropped(f"dropped a step: {exc}", item.packets)
            return
        self.steps += 1
        self._stopped = False
        if action is not None or self.stop_at_episode_end:
            self._publish(action)

    def _teacher_action(self):
        if self._teacher is None or self.command_type not in TWIST_TYPES:
            return None
        stamp, action = self._teacher
        if time.monotonic() - stamp > self.teacher_timeout_s:
            return None
        spec = self.learner.config.action
        return np.clip(action, spec.low, spec.high)

    def _publish(self, action) -> None:
        """Publish a command that is finite and inside the limits; None publishes a stop."""
        spec = self.learner.config.action
        if self.command_type == "int32":
            value = self.idle_action if action is None else int(action)
            self.command_pub.publish(Int32(data=int(min(max(value, 0), spec.n - 1))))
            return
        low, high = np.asarray(spec.low), np.asarray(spec.high)
        command = np.zeros(low.size) if action is None else np.asarray(action, np.float64)
        command = np.clip(np.nan_to_num(command, nan=0.0, posinf=0.0, neginf=0.0), low, high)
        if self.command_type == "twist":
            self.command_pub.publish(twist_from_action(command))
        elif self.command_type == "twist_stamped":
            msg = TwistStamped(twist=twist_from_action(command))
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = self.command_frame_id
            self.command_pub.publish(msg)
        else:
            self.command_pub.publish(Float64MultiArray(data=command.tolist()))

    def _watchdog(self) -> None:
        self._do(self.assembler.poll(self._now_s(), time.monotonic()), time.perf_counter())
        timeout = self.watchdog_timeout_s
        if timeout > 0 and time.monotonic() - self._last_packet > timeout and not self._stopped:
            self.get_logger().warning(f"no spike packet for {timeout:.2f} s: stopping",
                                      throttle_duration_sec=5.0)
            self._publish(None)
            self._stopped = True

    # -- services ------------------------------------------------------------------------------

    def _checkpoint_path(self) -> str:
        return os.path.expanduser(self.get_parameter("checkpoint_path").value)

    def _srv_save(self, request, response):
        path = self._checkpoint_path()
        if not path:
            response.success, response.message = False, "checkpoint_path is not set"
            return response
        try:
            save_checkpoint(self.learner, path)
            response.success, response.message = True, f"saved {path}"
        except OSError as exc:
            response.success, response.message = False, f"could not save {path}: {exc}"
        return response

    def _srv_load(self, request, response):
        path = self._checkpoint_path()
        try:
            load_checkpoint(self.learner, path)
            self._discard_pending()  # changes to inputs that are no longer there
            self.sync.reset(self.learner.raw_input)  # exact again at the next keyframe
            response.success, response.message = True, f"loaded {path}"
        except CheckpointError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _srv_reset(self, request, response):
        if not self._outputs_active():  # an inactive managed node learns nothing
            response.success, response.message = False, "the learner is not active"
            return response
        now = self._now_s()
        self._take_step(self.assembler.take(now, episode_end=False), now)
        response.success, response.message = True, "episode ended (truncated)"
        return response

    def _srv_set_learning(self, request, response):
        result = self.set_parameters([rclpy.parameter.Parameter(
            "learning.learning_enabled", value=bool(request.data))])[0]
        response.success = result.successful
        response.message = f"learning {'on' if request.data else 'off'}" if result.successful \
            else result.reason
        return response

    def _schedule_checkpoints(self, period: float) -> None:
        if self._checkpoint_timer is not None:
            self.destroy_timer(self._checkpoint_timer)
            self._checkpoint_timer = None
        if period > 0:
            self._checkpoint_timer = self.create_timer(period, self._periodic_checkpoint)

    def _periodic_checkpoint(self) -> None:
        if self._checkpoint_path():
            response = self._srv_save(None, Trigger.Response())
            if not response.success:
                self.get_logger().warning(response.message, throttle_duration_sec=30.0)

    def _resume(self) -> None:
        path = self._checkpoint_path()
        if self.get_parameter("resume").value and path and os.path.exists(path):
            try:
                load_checkpoint(self.learner, path)
                self.get_logger().info(f"resumed from {path}")
            except CheckpointError as exc:
                # keep the file: the next save would overwrite what it learned
                kept = _keep_unreadable(path)
                self.get_logger().error(f"not resuming: {exc}; the file is kept as {kept}")

    def save_on_shutdown(self) -> None:
        if self._checkpoint_path():
            response = self._srv_save(None, Trigger.Response())
            self.get_logger().info(response.message)

    def _end(self) -> None:
        """At the end of the node (shutdown, or destroyed while configured): publish a stop
        command (while the context is up: base controllers such as Gazebo's DiffDrive keep the
        last command) and save the checkpoint (when ``checkpoint_path`` is set). A node whose
        start failed (refused parameters) has no learner, and does neither."""
        if self.learner is not None:
            self.stop_robot()
            self.save_on_shutdown()

    def stop_robot(self) -> None:
        """Publish the stop command (zero, or ``idle_action``) and wait briefly until the
        subscribers have it."""
        if not self.context.ok() or not self._outputs_active():
            return
        self._publish(None)
        self._stopped = True
        self.command_pub.wait_for_all_acked(Duration(seconds=0.5))

    # -- diagnostics ---------------------------------------------------------------------------

    def _event_counts(self) -> tuple[int, int]:
        """Synaptic events (to neurons and readouts) and hidden-neuron events so far."""
        count = self.learner.net.count
        return (int(count[K.C_DELIVER] + count[K.C_READOUT_DELIVER]),
                int(K.hidden_events(count)))

    def _diagnostics(self) -> None:
        now = time.monotonic()
        t0, synops0, hidden0, inputs0 = self._diag_last
        dt = max(now - t0, 1e-9)
        synops, hidden = self._event_counts()
        self._diag_last = (now, synops, hidden, self.packet_events)
        cost = self.learner.cost()
        latency = float(np.median(self._latencies)) * 1e3 if self._latencies else float("nan")
        n_hidden = self.learner.net.n_hidden
        values = {
            "input_event_rate_hz": (self.packet_events - inputs0) / dt,
            "output_event_rate_hz": (hidden - hidden0) / dt,
            "hidden_activity": (hidden - hidden0) / dt / n_hidden
            * self.learner.config.network.tick_s,
            "synops_per_s": (synops - synops0) / dt,
            "flops_per_step": cost["flops_per_step"],
            "twin_flops_per_step": cost["twin_flops_per_step"],
            "total_ratio": cost["total_ratio"],
            "energy_uj_per_step": cost["energy_uj_per_step"],
            "learning": self.learner.config.learning.learning_enabled,
            "steps": self.steps,
            "incomplete_frames": self.incomplete_frames,
            "time_jumps": self.time_jumps,
            "inputs_in_sync": self.sync.in_sync,
            "sequence_gaps": self.sync.gaps,
            "out_of_sync_events_dropped": self.sync.dropped_events,
            "mean_reward": self._reward_ema,
            "processing_latency_ms": latency,
            "change_detection": self.learner.config.learning.change_detection,
        }
        # what the change detector sees (``core/change_detector.py``): changes detected, steps
        # since the last one, the critic's fast and slow mean values and their gap in SDs
        values.update({k: ("none" if v is None else v)
                       for k, v in self.learner.change_report().items()})
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if self._stopped else DiagnosticStatus.OK,
            # the fully qualified name: learners in two namespaces stay apart on /diagnostics
            name=f"{self.get_fully_qualified_name().lstrip('/')}: learner",
            hardware_id=self.get_fully_qualified_name(),
            message="stopped: no input" if self._stopped else "learning" if values["learning"]
            else "acting")
        status.values = [KeyValue(key=k, value=f"{v:.6g}" if isinstance(v, float) else str(v))
                         for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)


    def _outputs_active(self) -> bool:
        return True


class LearnerNode(LearnerBehaviour, Node):
    """The learner as a plain node: configured and active from construction."""

    def __init__(self, node_name: str = "ant_learner", **kwargs) -> None:
        Node.__init__(self, node_name, **kwargs)
        self._declare()
        self._configure()
        self._activate()

    def destroy_node(self) -> None:
        self._end()
        super().destroy_node()


class ManagedLearnerNode(LearnerBehaviour, LifecycleNode):
    """The learner as a lifecycle (managed) node: parameters are declared at construction;
    the network exists from configure, topics from activate (see the module docstring)."""

    def __init__(self, node_name: str = "ant_learner", **kwargs) -> None:
        LifecycleNode.__init__(self, node_name, **kwargs)
        self._declare()
        self._active = False

    def _create_output(self, msg_type, topic: str, qos):
        return self.create_lifecycle_publisher(msg_type, topic, qos)

    def _destroy_outputs(self) -> None:
        self.destroy_lifecycle_publisher(self.command_pub)
        self.destroy_lifecycle_publisher(self.diagnostics_pub)

    def _outputs_active(self) -> bool:
        return self._active

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ConfigError, CheckpointError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.learner = None
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # activates the lifecycle publishers
        self._active = True
        self._activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()  # the stop goes out while the publishers are still active
        self._active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._deactivate()
            self._active = False
        if self.learner is not None:
            self.save_on_shutdown()
            self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Back to unconfigured: stop the robot and tear everything down."""
        if self._active:
            self._deactivate()
            self._active = False
        if self.learner is not None:
            self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Destroyed without a shutdown transition (Ctrl-C): stop the robot if active, save the
        checkpoint if configured."""
        if self._active:
            self.stop_robot()
        if self.learner is not None:
            self.save_on_shutdown()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [LearnerNode()], args)


def main_managed(args: list[str] | None = None) -> None:
    """``ant_managed_learner``: the lifecycle node; a lifecycle manager (or launch) brings it up."""
    spin_nodes(lambda: [ManagedLearnerNode()], args)


if __name__ == "__main__":
    main(sys.argv)
