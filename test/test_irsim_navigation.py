"""The ROS-free navigation runner: a short run, and the same features, configuration and actions
as the nodes and the lockstep ROS demo."""

from dataclasses import astuple

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2

from ant_ros import demo
from ant_ros.conversions import decode_spike_packet, stamp_to_seconds
from ant_ros.core.input_sync import InputSync
from ant_ros.nodes.irsim_node import IrSimRobotNode
from ant_ros.tasks.navigation import NavigationConfig
from ant_ros.nodes.encoder_node import EncoderNode
from ant_ros.nodes.learner_node import LearnerNode
from ant_ros.qos import SPIKES_QOS
from ant_ros.nodes.nav_reward_node import NavRewardNode
from ant_ros.nodes.parameters import flatten
from ant_ros.tasks import irsim_navigation as nav
from ant_ros.tasks.parameter_files import (ROBOT_CONFIG, config_from_values, learner_config,
                                           node_parameters)

from ros_harness import RosHarness


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def overrides(node_name: str, **extra) -> list[Parameter]:
    """A node's parameters in config/robot.yaml, as the navigation demo gives them."""
    flat = flatten(node_parameters(ROBOT_CONFIG, node_name))
    flat.update(extra, use_sim_time=True)
    return [Parameter(k, value=v) for k, v in flat.items()]


def test_a_short_direct_run_returns_outcomes_cost_and_an_evaluation():
    result = nav.train_navigation(2000, seed=0, eval_episodes=2)
    assert result.steps == 2000 and result.seed == 0
    assert len(result.outcomes) >= 3  # an episode ends within 600 steps (60 s)
    ends = [step for step, _ in result.outcomes]
    assert ends == sorted(ends) and 0 < ends[-1] <= 2000
    kinds = [kind for _, kind in result.outcomes]
    assert set(kinds) <= {"arrived", "collided", "timeout"}
    assert result.success_rate_last100 == kinds.count("arrived") / len(kinds)
    # one learner step per frame: every robot step, and every episode's end
    assert result.learner_steps == 2000 + len(kinds)
    assert result.ops["flops_per_step"] > 0 and result.ops["twin_flops_per_step"] > 0
    assert 0 < result.learn_s < result.wall_s
    assert len(result.evaluation) == 2
    assert set(result.evaluation) <= {"arrived", "collided", "timeout"}
    summary = result.summary()
    assert summary["goals_reached"] + summary["collisions"] + summary["timeouts"] == len(kinds)
    assert summary["eval_episodes"] == 2 and summary["flops_per_step"] > 0


def test_the_direct_features_of_each_frame_are_the_encoder_nodes(ros):
    """The same robot, seed and commands: the encoder node's spike packets for the robot node's
    scan and odometry carry exactly the events the direct runner encodes (as the learner reads
    them, keyframes included)."""
    robot = ros.add(IrSimRobotNode(context=ros.context, parameter_overrides=[
        Parameter("seed", value=3), Parameter("use_sim_time", value=True)]))
    ros.add(EncoderNode(context=ros.context, parameter_overrides=overrides("ant_encoder")))
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    demo._wait_until_connected(ros.executor, ros.nodes)  # the first frame's goal in order
    commands = [np.array([0.3, 0.5]), np.array([0.2, -1.0]), np.array([-0.05, 0.0]),
                np.array([0.3, 0.0])]
    robot.start()
    for k, command in enumerate(commands, start=1):
        assert ros.spin_until(lambda k=k: len(packets) == 2 * k)
        robot.step(command)
    assert ros.spin_until(lambda: len(packets) == 2 * (len(commands) + 1))

    sim = nav.IrSimRobot(seed=3)
    sync = InputSync(256)
    encoder = nav.FrameEncoder(node_parameters(ROBOT_CONFIG, "ant_encoder"))
    for frame in range(len(commands) + 1):
        events = encoder.encode(sim.scan(), sim.odometry(), sim.goal,
                                nav.stamp_seconds(frame, sim.dt))
        scan_and_odometry = packets[2 * frame: 2 * frame + 2]
        for packet in scan_and_odometry:
            assert stamp_to_seconds(packet.header.stamp) == pytest.approx(frame * sim.dt)
        # as the learner takes them: its first packets are keyframes (absolute values)
        through_ros = np.concatenate([sync.accept(*astuple(decode_spike_packet(p)))[0]
                                      for p in scan_and_odometry])
        order = np.argsort(through_ros["channel"], kind="stable")
        np.testing.assert_array_equal(through_ros["channel"][order], events.channel)
        np.testing.assert_array_equal(through_ros["value"][order].astype(np.float64),
                                      events.value)
        if frame < len(commands):
            sim.step(commands[frame])
    assert sim.steps == robot.steps == len(commands)


def test_the_learner_and_the_reward_are_configured_as_their_nodes_are(ros):
    learner = ros.add(LearnerNode(context=ros.context, parameter_overrides=overrides(
        "ant_learner", **{"network.seed": 5})))
    reward = ros.add(NavRewardNode(context=ros.context, parameter_overrides=overrides(
        "ant_nav_reward")))
    assert learner_config(node_parameters(ROBOT_CONFIG, "ant_learner"), 5) == \
        learner.learner.config
    assert config_from_values(NavigationConfig, node_parameters(
        ROBOT_CONFIG, "ant_nav_reward")) == reward.task.config


def test_the_direct_runner_takes_the_actions_of_the_lockstep_ros_demo(tmp_path, monkeypatch):
    """Lockstep through ROS reproduces the direct runner exactly: every command, and the
    episodes' ends (the first one, a timeout or collision, then a new start and goal)."""
    step = nav.IrSimRobot.step
    commands: list[list[np.ndarray]] = []

    def recorded(self, command):
        commands[-1].append(np.array(command, np.float64))
        step(self, command)
    monkeypatch.setattr(nav.IrSimRobot, "step", recorded)
    steps = 700
    commands.append([])
    direct = nav.train_navigation(steps, seed=0)
    commands.append([])
    through_ros = demo.run_irsim(steps, seed=0, out_dir=tmp_path, eval_episodes=0)
    direct_commands, ros_commands = commands
    assert len(direct_commands) == len(ros_commands) == steps
    np.testing.assert_array_equal(np.array(ros_commands), np.array(direct_commands))
    assert direct.outcomes  # an episode ended: the reset frame is covered too
    assert [tuple(o) for o in through_ros["outcomes"]] == direct.outcomes
    assert through_ros["learner_steps"] == direct.learner_steps
    assert through_ros["incomplete_frames"] == through_ros["stall_nudges"] == 0
