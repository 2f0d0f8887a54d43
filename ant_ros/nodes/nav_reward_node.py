"""``ant_nav_reward``: the navigation reward on any robot with ``odom``, ``scan`` and a goal.

Subscribes ``odom`` (nav_msgs/Odometry), ``scan`` (sensor_msgs/LaserScan) and ``goal_pose``
(geometry_msgs/PoseStamped); for every odometry message publishes ``reward`` (std_msgs/Float32:
progress towards the goal, a penalty on collision, a bonus on arrival) and, when the episode
ends, ``episode_end`` (std_msgs/Bool: true on arrival or collision, false on timeout), the end
first. An odometry message that comes before the episode's goal is scored when the goal comes.
With ``sync_stamps`` (lockstep simulators, whose readings of one step share a stamp) it is scored
only once the scan of its stamp or a later one has come, so collisions are judged on the same
step's scan whatever order the topics arrive in. Works the same on a real robot, in Gazebo and
in the ir-sim stand-in.
"""

from __future__ import annotations

import math

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool, Float32

from ..conversions import as_float_array, stamp_to_seconds
from ..tasks.navigation import NavigationConfig, NavigationTask, min_valid_range
from .parameters import declare_config, read_config
from .spin import spin_nodes


class NavRewardNode(Node):
    def __init__(self, node_name: str = "ant_nav_reward", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # the task's fields, at the node's top level (no section), fixed at start
        declare_config(self, "", NavigationConfig(), read_only=True)
        self.task = NavigationTask(read_config(self, "", NavigationConfig))
        self.sync_stamps = bool(self.declare_parameter("sync_stamps", False, ParameterDescriptor(
            description="score odometry only once the scan of its stamp has come (lockstep "
            "simulators)", read_only=True)).value)
        self.min_range = math.inf
        self._scan_stamp = -math.inf
        self._unscored: tuple[float, tuple[float, float]] | None = None  # odometry: stamp, x y
        self.outcomes: dict[str, int] = {"arrived": 0, "collided": 0, "timeout": 0}
        self.reward_pub = self.create_publisher(Float32, "reward", 10)
        self.end_pub = self.create_publisher(Bool, "episode_end", 10)
        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, 10)
        self.create_subscription(LaserScan, "scan", self._on_scan, qos_profile_sensor_data)
        self.create_subscription(Odometry, "odom", self._on_odom, qos_profile_sensor_data)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_goal(self, msg: PoseStamped) -> None:
        try:
            self.task.set_goal((msg.pose.position.x, msg.pose.position.y), self._now())
        except ValueError as exc:
            self.get_logger().warning(f"ignored goal: {exc}", throttle_duration_sec=5.0)
            return
        self._score()

    def _on_scan(self, msg: LaserScan) -> None:
        self.min_range = min_valid_range(as_float_array(msg.ranges), msg.range_min,
                                         msg.range_max)
        self._scan_stamp = stamp_to_seconds(msg.header.stamp)
        self._score()

    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose.position
        if not (math.isfinite(p.x) and math.isfinite(p.y)):
            self.get_logger().warning("ignored non-finite odometry", throttle_duration_sec=5.0)
            return
        self._unscored = (stamp_to_seconds(msg.header.stamp), (p.x, p.y))
        self._score()

    def _score(self) -> None:
        """Score the latest odometry once there is a goal (and, with sync_stamps, its scan)."""
        if self._unscored is None or self.task.goal is None:
            return
        stamp, position = self._unscored
        if self.sync_stamps and self._scan_stamp < stamp:
            return
        self._unscored = None
        outcome = self.task.evaluate(position, self.min_range, self._now())
        # the end first: a learner (which serves its episode_end subscription before reward)
        # that completes a frame on the reward then has the end too, within one process
        if outcome.end is not None:
            self.outcomes[outcome.end] += 1
            self.end_pub.publish(Bool(data=outcome.terminated))
        self.reward_pub.publish(Float32(data=float(outcome.reward)))


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [NavRewardNode()], args)


if __name__ == "__main__":
    main()
