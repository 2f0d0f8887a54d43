"""Navigation learning in Gazebo (gz sim): the arena with a differential-drive robot and a 2D lidar
(``worlds/ant_arena.sdf``), ros_gz_bridge (``/clock``, ``scan``, ``odom``, ``/tf``,
``cmd_vel``: ``config/gz_bridge.yaml``), and the whole ant_ros graph: encoder, learner,
navigation reward (``ant_nav_reward``) and random reachable goals (``ant_goal_source``).

    ros2 launch ant_ros gazebo.launch.py [headless:=true] [namespace:=robot1]
                                         [world:=...] [params_file:=...] [managed:=true]

``headless:=true`` runs the server only, rendering offscreen (the GPU lidar still renders;
``--headless-rendering``). When Gazebo exits, the launch shuts down (the learner stops the robot
and saves its checkpoint). Needs Gazebo Harmonic or later and ros_gz_bridge. The same graph
without Gazebo: ``ant_irsim_robot`` with ``world`` set to the arena's ir-sim copy (tested).
"""

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess,
                            IncludeLaunchDescription, RegisterEventHandler)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

# the ant_ros nodes besides encoder and learner (robot.launch.py), all on the parameter file
TASK_NODES = ("ant_nav_reward", "ant_goal_source")


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("ant_ros")
    world = LaunchConfiguration("world")
    headless = LaunchConfiguration("headless")
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    # the server alone, rendering offscreen (headless), or with its GUI
    gazebo = [ExecuteProcess(cmd=["gz", "sim", "-r", *flags, world], output="screen",
                             name="gz_sim", condition=condition)
              for flags, condition in ((["-s", "--headless-rendering"], IfCondition(headless)),
                                       ([], UnlessCondition(headless)))]
    sim_time = {"use_sim_time": ParameterValue(True, value_type=bool)}
    return LaunchDescription([
        DeclareLaunchArgument("world", default_value=PathJoinSubstitution(
            [share, "worlds", "ant_arena.sdf"]), description="SDF world to simulate"),
        DeclareLaunchArgument("headless", default_value="false",
                              description="run the Gazebo server only, rendering offscreen"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the ant_ros nodes, the bridge and "
                              "their topics"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution(
            [share, "config", "robot.yaml"]), description="ant_ros parameter file"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="start lifecycle encoder and learner (activated "
                              "by robot.launch.py's autostart)"),
        *gazebo,
        *[RegisterEventHandler(OnProcessExit(target_action=process, on_exit=[
            EmitEvent(event=Shutdown(reason="Gazebo exited"))])) for process in gazebo],
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="ant_gz_bridge",
             namespace=namespace, output="screen",
             parameters=[{"config_file": PathJoinSubstitution([share, "config",
                                                               "gz_bridge.yaml"])},
                         sim_time]),
        *[Node(package="ant_ros", executable=name, name=name, namespace=namespace,
               parameters=[params_file, sim_time], output="screen", emulate_tty=True)
          for name in TASK_NODES],
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [share, "launch", "robot.launch.py"])),
            launch_arguments={"use_sim_time": "true", "namespace": namespace,
                              "managed": LaunchConfiguration("managed"),
                              "params_file": params_file}.items()),
    ])
