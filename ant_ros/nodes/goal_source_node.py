"""``ant_goal_source``: random reachable navigation goals on ``goal_pose``.

Subscribes ``odom`` (nav_msgs/Odometry: where the robot is) and ``episode_end`` (std_msgs/Bool,
from ``ant_nav_reward``); publishes ``goal_pose`` (geometry_msgs/PoseStamped, in ``frame_id``):
the first goal once the robot's pose is known, then a new one after every episode end. Goals are
uniform in the arena's free space (``ant_ros.tasks.navigation.GoalSampler``), away from the
robot. For Gazebo and real arenas, where nothing else picks goals (the ir-sim stand-in picks its
own, unless told not to).
"""

from __future__ import annotations

import math

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import Bool

from ..core.config import ConfigError
from ..tasks.navigation import GoalConfig, GoalSampler
from .parameters import declare_config, read_config
from .spin import spin_nodes


class GoalSourceNode(Node):
    def __init__(self, node_name: str = "ant_goal_source", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, "", GoalConfig(), read_only=True)
        self.frame_id = self.declare_parameter("frame_id", "odom", ParameterDescriptor(
            description="frame of the goals (the odometry's)", read_only=True)).value
        try:
            self.sampler = GoalSampler(read_config(self, "", GoalConfig))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.robot_xy: tuple[float, float] | None = None
        self.goal = None
        self.goals = 0  # published
        self.goal_pub = self.create_publisher(PoseStamped, "goal_pose", 10)
        self.create_subscription(Odometry, "odom", self._on_odom, qos_profile_sensor_data)
        self.create_subscription(Bool, "episode_end", self._on_episode_end, 10)

    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose.position
        if not (math.isfinite(p.x) and math.isfinite(p.y)):
            self.get_logger().warning("ignored non-finite odometry", throttle_duration_sec=5.0)
            return
        self.robot_xy = (p.x, p.y)
        if self.goal is None:
            self._new_goal()

    def _on_episode_end(self, msg: Bool) -> None:
        if self.robot_xy is not None:
            self._new_goal()

    def _new_goal(self) -> None:
        self.goal = self.sampler.sample(self.robot_xy)
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        msg.pose.position.x, msg.pose.position.y = (float(v) for v in self.goal)
        msg.pose.orientation.w = 1.0
        self.goal_pub.publish(msg)
        self.goals += 1
        self.get_logger().info(f"goal {self.goals}: ({self.goal[0]:.2f}, {self.goal[1]:.2f})")


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [GoalSourceNode()], args)


if __name__ == "__main__":
    main()
