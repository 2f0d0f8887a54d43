"""Encoder and learner on a robot that publishes standard sensor topics; drives ``cmd_vel``.

    ros2 launch ant_ros robot.launch.py [params_file:=...] [use_sim_time:=true]
                                        [namespace:=robot1] [checkpoint:=~/ant.npz]
                                        [managed:=true] [autostart:=true]

``managed:=true`` starts the lifecycle versions (``ant_managed_encoder``,
``ant_managed_learner``); with ``autostart:=true`` (the default) the launch configures and
activates them itself, with ``autostart:=false`` a lifecycle manager (e.g. nav2's) does.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition, UnlessCondition
from launch.events import matches_action
from launch.substitutions import (AndSubstitution, LaunchConfiguration, NotEqualsSubstitution,
                                  NotSubstitution, PathJoinSubstitution)
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

# kind -> (node name and plain executable, lifecycle executable)
EXECUTABLES = {"encoder": ("ant_encoder", "ant_managed_encoder"),
               "learner": ("ant_learner", "ant_managed_learner")}

def generate_launch_description() -> LaunchDescription:
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    namespace = LaunchConfiguration("namespace")
    checkpoint = LaunchConfiguration("checkpoint")
    managed = LaunchConfiguration("managed")
    autostart = LaunchConfiguration("autostart")
    sim_time = {"use_sim_time": ParameterValue(use_sim_time, value_type=bool)}
    has_checkpoint = NotEqualsSubstitution(checkpoint, "")
    plain = UnlessCondition(managed)

    def node(kind: str, condition, extra=()):
        """A plain node (managed:=false)."""
        name, executable = EXECUTABLES[kind][0], EXECUTABLES[kind][0]
        return Node(package="ant_ros", executable=executable, name=name,
                    namespace=namespace, parameters=[params_file, sim_time, *extra],
                    output="screen", emulate_tty=True, condition=condition)

    def lifecycle_node(kind: str, condition, extra=()):
        """A lifecycle node (managed:=true), configured then activated with autostart."""
        name, executable = EXECUTABLES[kind]
        node = LifecycleNode(package="ant_ros", executable=executable, name=name,
                             namespace=namespace,
                             parameters=[params_file, sim_time, *extra], output="screen",
                             emulate_tty=True, condition=condition)
        start = IfCondition(AndSubstitution(managed, autostart))
        configure = EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_CONFIGURE), condition=start)
        activate = RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
            entities=[EmitEvent(event=ChangeState(
                lifecycle_node_matcher=matches_action(node),
                transition_id=Transition.TRANSITION_ACTIVATE))]), condition=start)
        return [node, activate, configure]

    with_checkpoint = [{"checkpoint_path": checkpoint}]
    managed_with = IfCondition(AndSubstitution(managed, has_checkpoint))
    managed_without = IfCondition(AndSubstitution(managed, NotSubstitution(has_checkpoint)))
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
        DeclareLaunchArgument("managed", default_value="false",
                              description="start the lifecycle (managed) nodes"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="managed: configure and activate them at start"),
        node("encoder", plain),
        node("learner", IfCondition(AndSubstitution(NotSubstitution(managed),
                                                    has_checkpoint)), with_checkpoint),
        node("learner", IfCondition(AndSubstitution(NotSubstitution(managed),
                                                    NotSubstitution(has_checkpoint)))),
        *lifecycle_node("encoder", IfCondition(managed)),
        *lifecycle_node("learner", managed_with, with_checkpoint),
        *lifecycle_node("learner", managed_without),
    ])
