"""``ant_irsim_robot``: an ir-sim differential-drive robot with a 2D lidar that speaks the topics
of Gazebo (ros_gz_bridge) and real robots: ``scan`` (sensor_msgs/LaserScan), ``odom``
(nav_msgs/Odometry), ``/clock``, driven by ``cmd_vel`` (geometry_msgs/Twist), plus the episode's
goal on ``goal_pose`` (geometry_msgs/PoseStamped). The stand-in for Gazebo on machines without it.

In ``lockstep`` mode the simulator steps once per ``cmd_vel`` (faster than real time); in
``realtime`` mode every ``step_time`` of wall time with the latest command (a command older than
``stale_timeout_s`` is replaced by a stop). When ``episode_end`` arrives (from ``ant_nav_reward``)
the robot is placed at a new random free start facing a random direction, with a new goal.
"""

from __future__ import annotations

import math
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock as SteadyClock
from rclpy.clock import ClockType
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool

from ..conversions import action_from_twist, seconds_to_stamp
from ..core.config import ConfigError
from .parameters import declare_config, read_config
from .spin import spin_nodes
from ..tasks.irsim_navigation import IrSimConfig, IrSimRobot, RobotChange


class IrSimRobotNode(Node):
    """Thin ROS facade over ``IrSimRobot``."""

    def __init__(self, node_name: str = "ant_irsim_robot", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # the world and the episodes' placement, at the node's top level, fixed at start
        declare_config(self, "", IrSimConfig(), read_only=True)
        for name, default, text in (
                ("seed", 0, "seed of starts and goals"),
                ("mode", "lockstep", "lockstep (step per cmd_vel) or realtime"),
                ("stale_timeout_s", 0.3, "realtime: older commands are replaced by a stop"),
                ("frame_id", "base_link", "frame of the lidar scan"),
                ("publish_goal", True, "publish the episode's goal on goal_pose (false: goals "
                 "come from elsewhere, e.g. ant_goal_source, as in Gazebo)")):
            self.declare_parameter(name, default, ParameterDescriptor(description=text,
                                                                      read_only=True))
        self.sim = IrSimRobot(read_config(self, "", IrSimConfig),
                              seed=self.get_parameter("seed").value)
        self.mode = self.get_parameter("mode").value
        self.frame_id = self.get_parameter("frame_id").value
        self.stale_timeout_s = self.get_parameter("stale_timeout_s").value
        self.publish_goal = self.get_parameter("publish_goal").value
        if self.mode not in ("lockstep", "realtime"):
            raise ConfigError("mode must be lockstep or realtime")
        # what changes on the robot while it learns (continual-learning scenarios), live
        for name, default, text in (
                ("speed_gain", 1.0, "the wheels deliver this share of the commanded speeds"),
                ("lidar_rotation_rad", 0.0, "the lidar is mounted turned by this angle"),
                ("dead_sector_rad", [0.0, 0.0], "lidar beams in [from, to) give no return")):
            self.declare_parameter(name, default, ParameterDescriptor(description=text))
        self.sim.change = self._robot_change({})
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # published frames: every frame, also the first of a new episode, gets its own stamp
        # (frames * dt), so listeners can tell a reset's readings from the last step's
        self.frames = 0
        self._command = np.zeros(2)
        self._command_time = -math.inf
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.scan_pub = self.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        self.odom_pub = self.create_publisher(Odometry, "odom", qos_profile_sensor_data)
        self.goal_pub = self.create_publisher(PoseStamped, "goal_pose", 10)
        self.create_subscription(Twist, "cmd_vel", self._on_cmd_vel, 10)
        self.create_subscription(Bool, "episode_end", self._on_episode_end, 10)
        if self.mode == "realtime":
            # wall time: the node's own /clock drives sim time, so a sim-time timer never fires
            self.create_timer(self.sim.dt, self._realtime_step,
                              clock=SteadyClock(clock_type=ClockType.STEADY_TIME))

    def _robot_change(self, values: dict) -> RobotChange:
        get = lambda name: values.get(name, self.get_parameter(name).value)  # noqa: E731
        gain, rotation = float(get("speed_gain")), float(get("lidar_rotation_rad"))
        sector = tuple(float(v) for v in get("dead_sector_rad"))
        if not (math.isfinite(gain) and 0.0 < gain <= 2.0):
            raise ValueError("speed_gain must be in (0, 2]")
        if not math.isfinite(rotation) or len(sector) != 2 or not all(
                math.isfinite(v) for v in sector):
            raise ValueError("lidar_rotation_rad and dead_sector_rad [from, to] must be finite")
        return RobotChange(gain, rotation, sector)

    def _on_set_parameters(self, params) -> SetParametersResult:
        """The robot changes apply at once (the next step and scan)."""
        values = {p.name: p.value for p in params}
        try:
            change = self._robot_change(values)
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.sim.change = change
        return SetParametersResult(successful=True)

    @property
    def steps(self) -> int:
        return self.sim.steps

    @property
    def episodes(self) -> int:
        return self.sim.episodes

    @property
    def collided(self) -> bool:
        return self.sim.collided

    def start(self) -> None:
        """Publish the first goal and sensor readings."""
        self._publish()

    def _on_episode_end(self, msg: Bool) -> None:
        self.sim.new_episode()
        self._publish()

    # -- stepping ------------------------------------------------------------------------------

    def _on_cmd_vel(self, msg: Twist) -> None:
        command = action_from_twist(msg)
        if not np.all(np.isfinite(command)):
            self.get_logger().warning("refused a non-finite cmd_vel", throttle_duration_sec=5.0)
            return
        self._command, self._command_time = command, time.monotonic()
        if self.mode == "lockstep":
            self.step(command)

    def _realtime_step(self) -> None:
        fresh = time.monotonic() - self._command_time <= self.stale_timeout_s
        self.step(self._command if fresh else np.zeros(2))

    def step(self, command: np.ndarray) -> None:
        """Advance the simulation one step (ir-sim clips to the robot's velocity limits)."""
        self.sim.step(command)
        self._publish()

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self) -> None:
        stamp = seconds_to_stamp(self.frames * self.sim.dt)
        self.frames += 1
        self.clock_pub.publish(Clock(clock=stamp))
        if self.publish_goal:
            goal = PoseStamped()
            goal.header.stamp = stamp
            goal.header.frame_id = "odom"
            goal.pose.position.x, goal.pose.position.y = (float(v) for v in self.sim.goal)
            goal.pose.orientation.w = 1.0
            self.goal_pub.publish(goal)
        reading = self.sim.scan()
        scan = LaserScan()
        scan.header.stamp = stamp
        scan.header.frame_id = self.frame_id
        scan.angle_min, scan.angle_max = reading.angle_min, reading.angle_max
        scan.angle_increment = reading.angle_increment
        scan.scan_time = self.sim.dt
        scan.range_min, scan.range_max = reading.range_min, reading.range_max
        scan.ranges = reading.ranges.tolist()
        self.scan_pub.publish(scan)
        pose = self.sim.odometry()
        odom = Odometry()
        odom.header.stamp = stamp
        odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = pose.x, pose.y
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = pose.orientation_zw
        odom.twist.twist.linear.x, odom.twist.twist.angular.z = pose.linear_x, pose.angular_z
        self.odom_pub.publish(odom)


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [IrSimRobotNode()], args)


if __name__ == "__main__":
    main()
