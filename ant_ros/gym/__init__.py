"""Gymnasium <-> ROS: the bridge node (an env as a ROS robot) and ``ant_ros/RosRobot-v0`` (a ROS
robot as an env). Importing this package registers the env id."""

import gymnasium as gym

ROS_ROBOT_ENV_ID = "ant_ros/RosRobot-v0"

if ROS_ROBOT_ENV_ID not in gym.registry:
    gym.register(id=ROS_ROBOT_ENV_ID, entry_point="ant_ros.gym.ros_env:RosRobotEnv")
