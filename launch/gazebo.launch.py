"""Gazebo (gz sim) arena with a differential-drive robot and a 2D lidar, bridged to ROS with
ros_gz_bridge in the ros_gz conventions (scan, odom, cmd_vel, clock), and ant_ros learning on it.

    ros2 launch ant_ros gazebo.launch.py [world:=...] [headless:=true]

Needs ros_gz_sim and ros_gz_bridge (Gazebo Harmonic or later).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

BRIDGED_TOPICS = [
    "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
    "/scan@sensor_msgs/msg/LaserScan[gz.msgs.LaserScan",
    "/odom@nav_msgs/msg/Odometry[gz.msgs.Odometry",
    "/cmd_vel@geometry_msgs/msg/Twist]gz.msgs.Twist",
]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("ant_ros")
    world = LaunchConfiguration("world")
    headless = LaunchConfiguration("headless")
    gz_args = PythonExpression(["'-r -s ' if '", headless, "' == 'true' else '-r '"])
    return LaunchDescription([
        DeclareLaunchArgument("world", default_value=PathJoinSubstitution(
            [share, "worlds", "ant_arena.sdf"]), description="SDF world to simulate"),
        DeclareLaunchArgument("headless", default_value="false",
                              description="run the Gazebo server without a GUI"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution(
            [share, "config", "robot.yaml"]), description="ant_ros parameter file"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"])),
            launch_arguments={"gz_args": [gz_args, world]}.items()),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="ant_gz_bridge",
             arguments=BRIDGED_TOPICS, parameters=[{"use_sim_time": True}], output="screen"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [share, "launch", "robot.launch.py"])),
            launch_arguments={"use_sim_time": "true",
                              "params_file": LaunchConfiguration("params_file")}.items()),
    ])
