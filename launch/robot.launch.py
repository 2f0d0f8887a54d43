"""Encoder and learner on a robot that publishes standard sensor topics; drives ``cmd_vel``.

    ros2 launch ant_ros robot.launch.py [params_file:=...] [use_sim_time:=true]
                                        [namespace:=robot1] [checkpoint:=~/ant.npz]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    namespace = LaunchConfiguration("namespace")
    checkpoint = LaunchConfiguration("checkpoint")
    sim_time = {"use_sim_time": ParameterValue(use_sim_time, value_type=bool)}
    has_checkpoint = PythonExpression(["'", checkpoint, "' != ''"])

    def learner(condition, extra):
        return Node(package="ant_ros", executable="ant_learner", name="ant_learner",
                    namespace=namespace, parameters=[params_file, sim_time, *extra],
                    output="screen", emulate_tty=True, condition=condition)

    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("ant_ros"), "config",
                                                "robot.yaml"]),
            description="parameter file for ant_encoder and ant_learner"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (simulation) time"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the nodes and their topics"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="checkpoint file: resumed at start, saved "
                              "periodically and on shutdown (empty: from params_file)"),
        Node(package="ant_ros", executable="ant_encoder", name="ant_encoder",
             namespace=namespace, parameters=[params_file, sim_time], output="screen",
             emulate_tty=True),
        learner(IfCondition(has_checkpoint), [{"checkpoint_path": checkpoint}]),
        learner(UnlessCondition(has_checkpoint), []),
    ])
