"""The Gymnasium bridge and the demo graph, with real rclpy and real Gymnasium environments."""

import json
import subprocess
import sys

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int32

from ant_ros import demo
from ant_ros.conversions import stamp_to_seconds
from ant_ros.tasks.direct_runner import learning_curve, solved_at_step, train
from ant_ros.nodes.bridge_node import GymBridgeNode

from ros_harness import ForeignClock, RosHarness


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def bridge(ros, **params) -> GymBridgeNode:
    return ros.add(GymBridgeNode(context=ros.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in params.items()]))


def test_lockstep_steps_once_per_command_and_advances_the_clock(ros):
    node = bridge(ros, env_id="CartPole-v1", seed=3)
    observations = ros.collect(JointState, "joint_states")
    clocks = ros.collect(Clock, "/clock")
    rewards = ros.collect(Float32, "reward")
    ends = ros.collect(Bool, "episode_end")
    command = ros.probe.create_publisher(Int32, "command", 10)
    assert ros.spin_until(lambda: observations)  # autostart once subscribed
    first = observations[0]
    assert list(first.name) == ["cart_position", "cart_velocity", "pole_angle",
                                "pole_angular_velocity"]
    assert (first.header.stamp.sec, first.header.stamp.nanosec) == (0, 0)
    ros.spin_for(0.2)
    assert node.steps == 0  # lockstep: no command, no step
    for k in range(1, 6):
        command.publish(Int32(data=k % 2))
        assert ros.spin_until(lambda k=k: node.steps == k and len(clocks) >= k + 1)
    ros.spin_for(0.1)
    times = [stamp_to_seconds(c.clock) for c in clocks]
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-9)  # CartPole's dt
    assert [r.data for r in rewards] == [1.0] * 5 and not ends
    assert len(observations) == 6
    # drive it to the end of an episode: the boundary comes before the next episode's first obs
    assert ros.spin_until(lambda: ends, timeout=20.0,
                          each=lambda: command.publish(Int32(data=1)))
    assert ends[0].data is True  # terminated (the pole fell), not truncated
    assert len(node.episode_returns) >= 1
    assert node.episode_returns[0] == node.episode_end_steps[0]  # CartPole: 1 per step


def test_commands_outside_the_action_space_are_refused_or_clipped(ros):
    cartpole = bridge(ros, env_id="CartPole-v1")
    ros.collect(JointState, "joint_states")
    ints = ros.probe.create_publisher(Int32, "command", 10)
    assert ros.spin_until(lambda: cartpole.started)
    ints.publish(Int32(data=5))
    ints.publish(Int32(data=-1))
    ros.spin_for(0.3)
    assert cartpole.steps == 0  # refused, not stepped
    ints.publish(Int32(data=1))
    assert ros.spin_until(lambda: cartpole.steps == 1)


def test_continuous_commands_are_clipped_and_non_finite_ones_refused(ros):
    pendulum = bridge(ros, env_id="Pendulum-v1")
    arrays = ros.probe.create_publisher(Float64MultiArray, "command", 10)
    ros.collect(JointState, "joint_states")
    assert ros.spin_until(lambda: pendulum.started)
    arrays.publish(Float64MultiArray(data=[float("nan")]))
    arrays.publish(Float64MultiArray(data=[1.0, 2.0]))
    ros.spin_for(0.3)
    assert pendulum.steps == 0
    arrays.publish(Float64MultiArray(data=[10.0]))
    assert ros.spin_until(lambda: pendulum.steps == 1)
    assert pendulum.env.unwrapped.last_u == pytest.approx(2.0)  # clipped to the torque limit


def test_realtime_mode_steps_on_its_own_with_the_idle_action(ros):
    node = bridge(ros, env_id="CartPole-v1", mode="realtime", stale_timeout_s=0.05)
    ros.collect(JointState, "joint_states")
    command = ros.probe.create_publisher(Int32, "command", 10)
    assert ros.spin_until(lambda: node.steps >= 5, timeout=5.0)  # no command needed
    command.publish(Int32(data=1))
    before = node.steps
    assert ros.spin_until(lambda: node.steps >= before + 5, timeout=5.0)


@pytest.mark.parametrize("env_id, steps", [("CartPole-v1", 2500),
                                           ("InvertedPendulum-v5", 1500),
                                           ("Pendulum-v1", 10_400)])  # 52 episodes of 200
def test_lockstep_through_ros_reproduces_the_direct_runner_exactly(tmp_path, env_id, steps):
    direct = train(env_id, steps, seed=4)
    through_ros = demo.run(env_id, steps, seed=4, out_dir=tmp_path)
    assert len(direct.episode_returns) > 50
    n = len(direct.episode_returns)
    assert through_ros["episode_returns"][:n] == direct.episode_returns
    assert through_ros["episode_end_steps"][:n] == direct.episode_end_steps
    if len(through_ros["episode_returns"]) == n:  # the same episodes: the same summary figures
        for key in ("solved_at_step", "mean_return_last100", "episodes"):
            assert through_ros[key] == getattr(direct, key), key


def test_a_demo_that_hears_a_second_clock_stops_with_an_error_instead_of_hanging(tmp_path):
    """A second graph's /clock on the domain (e.g. a second test run or a demo on the same
    ROS_DOMAIN_ID) sets the learner's time back again and again: the demo says so (or, if the
    graph stops stepping, says that after stall_timeout_s) instead of learning from a garbled
    clock or waiting forever."""
    foreign = ForeignClock(0.0)
    try:
        with pytest.raises(RuntimeError, match="(backwards|stopped at step) .* ROS_DOMAIN_ID"):
            demo.run("CartPole-v1", 100_000, seed=0, out_dir=tmp_path, stall_timeout_s=2.0)
    finally:
        foreign.close()


def test_solved_at_is_the_end_of_the_first_window_at_the_threshold():
    returns = [0.0] * 60 + [100.0] * 60
    ends = [10 * (i + 1) for i in range(len(returns))]
    # the window of episodes 20..119 has 60 of 100 at 100: mean 60; 19..118: 59; 10..109: 50
    assert solved_at_step(returns, ends, 50.0) == ends[109]
    assert solved_at_step(returns, ends, 60.0) == ends[119]
    assert solved_at_step(returns, ends, 61.0) is None
    assert solved_at_step(returns[:99], ends[:99], -1.0) is None  # fewer than 100 episodes
    assert solved_at_step(returns, ends, None) is None


def test_learning_curve_is_the_window_mean_of_the_episodes_ended_by_each_mark():
    returns = [0.0] * 60 + [100.0] * 60
    ends = [10 * (i + 1) for i in range(len(returns))]
    curve = learning_curve(returns, ends, 1200, points=4)
    assert curve["steps"] == [300, 600, 900, 1200]
    # by step 300: 30 episodes of 0; 600: 60 of 0; 900: 90, the last 30 at 100; 1200: 100 of 120
    assert curve["mean_return_last100"] == [0.0, 0.0, pytest.approx(100 / 3), 60.0]
    assert learning_curve(returns, ends, 5, points=1)["mean_return_last100"] == [None]


def test_demo_command_writes_its_plot_and_summary(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ant_ros.cli", "demo", "--steps", "1500",
                          "--json", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"env", "steps", "solved_at_step", "mean_return_last100", "steps_per_s", "total_ratio",
            "plot", "summary"} <= result.keys()
    assert result["env"] == "CartPole-v1" and result["steps"] == 1500
    png = (tmp_path / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["episode_returns"]) == summary["episodes"] > 10


def test_demo_records_an_mcap_bag_that_decodes(tmp_path):
    from mcap_ros2.reader import read_ros2_messages

    summary = demo.run("CartPole-v1", 300, seed=0, out_dir=tmp_path, record=True)
    path = tmp_path / "demo.mcap"
    assert summary["recording"] == str(path)
    counts: dict[str, int] = {}
    packet = None
    for message in read_ros2_messages(str(path)):
        topic = message.channel.topic
        counts[topic] = counts.get(topic, 0) + 1
        if topic == "/spikes" and packet is None and message.ros_msg.width:
            packet = message.ros_msg
    assert {"/clock", "/joint_states", "/spikes", "/command", "/reward"} <= counts.keys()
    assert counts["/command"] >= 290 and counts["/joint_states"] >= 300
    assert [f.name for f in packet.fields] == ["channel", "offset_ns", "value"]
