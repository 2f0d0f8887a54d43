"""The Gazebo launch file's graph without Gazebo: the same nodes (goal source, navigation
reward, encoder, learner) on the same parameter file (config/robot.yaml), against the ir-sim
copy of the Gazebo arena in real time, with goals from ``ant_goal_source`` (as in Gazebo)."""

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped, Twist
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_msgs.msg import Bool, Float32

from ant_ros.nodes.encoder_node import EncoderNode
from ant_ros.nodes.goal_source_node import GoalSourceNode
from ant_ros.nodes.irsim_node import IrSimRobotNode
from ant_ros.nodes.learner_node import LearnerNode
from ant_ros.nodes.nav_reward_node import NavRewardNode
from ant_ros.nodes.spin import spin_until
from ant_ros.tasks.irsim_navigation import GAZEBO_ARENA_WORLD
from ant_ros.tasks.navigation import GoalConfig, GoalSampler, NavigationConfig, NavigationTask
from ant_ros.tasks.parameter_files import ROBOT_CONFIG


@pytest.fixture
def graph():
    context = Context()
    # the launch file's parameters: the parameter file for every ant_ros node, sim time
    rclpy.init(args=["--ros-args", "--params-file", str(ROBOT_CONFIG), "-p",
                     "use_sim_time:=true"], context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []
    yield context, executor, nodes
    executor.shutdown()
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_the_gazebo_graph_runs_on_the_arena_with_goals_from_the_goal_source(graph):
    context, executor, nodes = graph
    robot = IrSimRobotNode(context=context, parameter_overrides=[
        Parameter("world", value=GAZEBO_ARENA_WORLD), Parameter("mode", value="realtime"),
        Parameter("publish_goal", value=False), Parameter("seed", value=1)])
    goals = GoalSourceNode(context=context)
    reward = NavRewardNode(context=context)
    encoder = EncoderNode(context=context)
    learner = LearnerNode(context=context)
    probe = rclpy.create_node("probe", context=context)
    nodes += [robot, goals, reward, encoder, learner, probe]
    for node in nodes:
        executor.add_node(node)
    commands, rewards, ends, poses = [], [], [], []
    probe.create_subscription(Twist, "cmd_vel", commands.append, 10)
    probe.create_subscription(Float32, "reward", rewards.append, 10)
    probe.create_subscription(Bool, "episode_end", ends.append, 10)
    probe.create_subscription(PoseStamped, "goal_pose", poses.append, 10)

    assert spin_until(executor, lambda: robot.steps >= 80 and learner.steps >= 40, 60.0)
    assert goals.goals >= 1 and poses and reward.task.goal is not None
    sampler = GoalSampler(GoalConfig())  # the Gazebo arena's free space
    for pose in poses:
        assert sampler.free(np.array([pose.pose.position.x, pose.pose.position.y]))
    assert len(poses) == goals.goals == 1 + len(ends)  # a new goal after every episode end
    assert rewards and all(np.isfinite(r.data) for r in rewards)
    moving = [c for c in commands if c.linear.x != 0.0 or c.angular.z != 0.0]
    assert moving and all(-0.05 <= c.linear.x <= 0.3 and abs(c.angular.z) <= 1.0
                          for c in commands)
    assert learner.layout_ok and learner.sync.in_sync  # encoder and learner agree
    assert encoder.n_channels == learner.learner.n_inputs == 20


def test_goals_are_free_and_away_from_the_robot():
    sampler = GoalSampler(GoalConfig(seed=3))
    for robot in [(0.0, 0.0), (2.0, 2.0), (-2.0, 1.5)]:
        for _ in range(50):
            goal = sampler.sample(robot)
            assert sampler.free(goal) and np.hypot(*(goal - robot)) >= 1.5
    assert not sampler.free(np.array([1.2, 0.8]))  # on pillar a
    assert not sampler.free(np.array([2.9, 0.0]))  # at the wall
    with pytest.raises(ValueError):
        GoalSampler(GoalConfig(obstacles=[1.0, 2.0]))


def test_a_robot_left_at_the_wall_collides_once_not_at_every_reading():
    """Gazebo does not move the robot after a collision: the next episode's first readings
    still touch the wall; they count as one collision until the lidar has cleared."""
    task = NavigationTask(NavigationConfig(collision_distance_m=0.25))
    task.set_goal((2.0, 0.0), 0.0)
    assert task.evaluate((0.0, 0.0), 0.1, 0.1).end == "collided"
    task.set_goal((-2.0, 0.0), 0.2)  # the goal source's next goal; the robot has not moved
    assert all(task.evaluate((0.0, 0.0), 0.1, t).end is None for t in (0.3, 0.4, 0.5))
    assert task.evaluate((0.1, 0.0), 0.5, 0.6).end is None  # backed off: clear
    assert task.evaluate((0.0, 0.0), 0.1, 0.7).end == "collided"  # a new collision counts


def test_the_episode_timeout_restarts_when_the_clock_goes_back():
    task = NavigationTask(NavigationConfig(timeout_s=10.0))
    task.set_goal((2.0, 0.0), 1000.0)
    assert task.evaluate((0.0, 0.0), 1.0, 1005.0).end is None
    assert task.evaluate((0.0, 0.0), 1.0, 1.0).end is None  # a world reset: time from 0
    assert task.evaluate((0.0, 0.0), 1.0, 11.5).end == "timeout"  # 10 s after the reset
