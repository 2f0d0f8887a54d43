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

import contextlib
import io
import math
import time
from importlib import resources

import numpy as np
import yaml
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import LaserScan
from shapely.geometry import Point
from std_msgs.msg import Bool

from ..conversions import action_from_twist, seconds_to_stamp
from ..core.config import ConfigError
from ..nodes.spin import spin_nodes

DEFAULT_WORLD = str(resources.files("ant_ros.gym").joinpath("worlds/irsim_arena.yaml"))


class IrSimRobotNode(Node):
    def __init__(self, node_name: str = "ant_irsim_robot", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for name, default, text in (
                ("world", DEFAULT_WORLD, "ir-sim world file (YAML)"),
                ("seed", 0, "seed of starts and goals"),
                ("mode", "lockstep", "lockstep (step per cmd_vel) or realtime"),
                ("stale_timeout_s", 0.3, "realtime: older commands are replaced by a stop"),
                ("clearance_m", 0.6, "free space around random starts and goals"),
                ("min_goal_distance_m", 2.0, "shortest start-to-goal distance"),
                ("frame_id", "base_link", "frame of the lidar scan")):
            self.declare_parameter(name, default, ParameterDescriptor(description=text,
                                                                      read_only=True))
        # ir-sim probes interactive matplotlib backends at import and prints each failure to
        # stdout (a robot has no screen); keep stdout clean for the command's output
        with contextlib.redirect_stdout(io.StringIO()):
            import irsim  # imported here: only this node needs it

        world = self.get_parameter("world").value
        self.env = irsim.make(world, headless=True, seed=self.get_parameter("seed").value,
                              log_level="ERROR")
        with open(world) as handle:
            size = yaml.safe_load(handle).get("world", {})
        self.world_size = (float(size.get("width", 10.0)), float(size.get("height", 10.0)))
        self.robot = self.env.robot
        self.dt = float(self.env.step_time)
        self.rng = np.random.default_rng(self.get_parameter("seed").value)
        self.mode = self.get_parameter("mode").value
        self.frame_id = self.get_parameter("frame_id").value
        self.stale_timeout_s = self.get_parameter("stale_timeout_s").value
        if self.mode not in ("lockstep", "realtime"):
            raise ConfigError("mode must be lockstep or realtime")
        self.steps = 0
        self.episodes = 0
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
        self._new_episode()
        if self.mode == "realtime":
            self.create_timer(self.dt, self._realtime_step)

    # -- episodes ------------------------------------------------------------------------------

    def _free_point(self) -> np.ndarray:
        clearance = self.get_parameter("clearance_m").value
        low, high = clearance, min(self.world_size) - clearance
        for _ in range(1000):
            p = self.rng.uniform(low, high, 2)
            if all(o.geometry.distance(Point(*p)) > clearance for o in self.env.obstacle_list):
                return p
        raise RuntimeError("no free point found in the world")

    def _new_episode(self) -> None:
        start = self._free_point()
        goal = self._free_point()
        while np.linalg.norm(goal - start) < self.get_parameter("min_goal_distance_m").value:
            goal = self._free_point()
        self.robot.set_state([start[0], start[1], self.rng.uniform(-math.pi, math.pi)],
                             init=True)
        self.robot.set_goal([goal[0], goal[1], 0.0], init=True)
        self.robot.reset()  # to the new initial state, clearing collision and arrival
        self.robot.refresh()  # geometry and lidar at the new pose
        self.goal = goal
        self.episodes += 1

    def start(self) -> None:
        """Publish the first goal and sensor readings."""
        self._publish()

    def _on_episode_end(self, msg: Bool) -> None:
        self._new_episode()
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
        self.env.step(command.reshape(2, 1))
        self.steps += 1
        self._publish()

    @property
    def collided(self) -> bool:
        return bool(self.robot.collision)

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self) -> None:
        stamp = seconds_to_stamp(self.frames * self.dt)
        self.frames += 1
        self.clock_pub.publish(Clock(clock=stamp))
        goal = PoseStamped()
        goal.header.stamp = stamp
        goal.header.frame_id = "odom"
        goal.pose.position.x, goal.pose.position.y = float(self.goal[0]), float(self.goal[1])
        goal.pose.orientation.w = 1.0
        self.goal_pub.publish(goal)
        data = self.env.get_lidar_scan()
        scan = LaserScan()
        scan.header.stamp = stamp
        scan.header.frame_id = self.frame_id
        scan.angle_min, scan.angle_max = float(data["angle_min"]), float(data["angle_max"])
        scan.angle_increment = float(data["angle_increment"])
        scan.scan_time = self.dt
        scan.range_min, scan.range_max = float(data["range_min"]), float(data["range_max"])
        ranges = np.asarray(data["ranges"], dtype=np.float32)
        # REP-117: no return within range is +inf
        scan.ranges = np.where(ranges >= scan.range_max, np.inf, ranges).tolist()
        self.scan_pub.publish(scan)
        x, y, theta = (float(v) for v in np.asarray(self.robot.state).ravel()[:3])
        v, w = (float(u) for u in np.asarray(self.robot.velocity).ravel()[:2])
        odom = Odometry()
        odom.header.stamp = stamp
        odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        odom.pose.pose.orientation.z = math.sin(theta / 2.0)
        odom.pose.pose.orientation.w = math.cos(theta / 2.0)
        odom.twist.twist.linear.x, odom.twist.twist.angular.z = v, w
        self.odom_pub.publish(odom)


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [IrSimRobotNode()], args)


if __name__ == "__main__":
    main()
