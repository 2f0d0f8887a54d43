"""The ir-sim mobile robot (Gazebo's topics) and the navigation reward, with real rclpy."""

import math
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool, Float32

from ant_ros.conversions import stamp_to_seconds
from ant_ros.nodes.irsim_node import IrSimRobotNode
from ant_ros.tasks.navigation import NavigationConfig, NavigationTask, min_valid_range
from ant_ros.nodes.nav_reward_node import NavRewardNode

from ros_harness import ForeignClock, RosHarness


def test_navigation_reward_progress_arrival_collision_timeout():
    task = NavigationTask(NavigationConfig(step_cost=0.0, timeout_s=10.0))
    task.set_goal((3.0, 4.0), now_s=0.0)
    assert task.evaluate((0.0, 0.0), math.inf, 0.1).reward == 0.0  # first: no progress yet
    out = task.evaluate((0.6, 0.8), math.inf, 0.2)  # one metre closer
    assert out.reward == pytest.approx(1.0) and out.end is None
    out = task.evaluate((2.9, 3.9), math.inf, 0.3)
    assert out.end == "arrived" and out.terminated and out.reward > 10.0
    assert not task.set_goal((3.0, 4.0), now_s=1.0)  # the goal just reached, sent again
    assert task.set_goal((3.0, 5.0), now_s=1.0)
    assert not task.set_goal((3.0, 5.0), now_s=1.05)  # republished: same episode
    task.evaluate((0.0, 0.0), 5.0, 1.1)
    out = task.evaluate((0.0, 0.0), 0.1, 1.2)
    assert out.end == "collided" and out.reward == pytest.approx(-10.0)
    task.set_goal((1.0, 1.0), now_s=2.0)
    assert task.evaluate((0.0, 0.0), 5.0, 12.5).end == "timeout"
    assert not NavigationTask().evaluate((0, 0), 1.0, 0.0).end  # no goal, no episode
    assert min_valid_range(np.array([np.nan, 0.01, 2.0, np.inf]), 0.05, 5.0) == 2.0


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def test_irsim_robot_publishes_valid_scans_odometry_and_goals(ros):
    robot = ros.add(IrSimRobotNode(context=ros.context))
    scans = ros.collect(LaserScan, "scan", qos_profile_sensor_data)
    odoms = ros.collect(Odometry, "odom", qos_profile_sensor_data)
    goals = ros.collect(PoseStamped, "goal_pose")
    cmd = ros.probe.create_publisher(Twist, "cmd_vel", 10)
    ros.spin_for(0.2)
    robot.start()
    twist = Twist()
    twist.linear.x, twist.angular.z = 0.3, 0.5
    assert ros.spin_until(lambda: len(odoms) >= 10 and len(scans) >= 10,
                          each=lambda: cmd.publish(twist))
    scan = scans[-1]
    ranges = np.asarray(scan.ranges)
    assert ranges.size == 180 and scan.range_min < scan.range_max
    valid = np.isfinite(ranges)
    assert np.all((ranges[valid] >= scan.range_min) & (ranges[valid] <= scan.range_max))
    assert np.all(np.isposinf(ranges[~valid]))  # REP-117: no return is +inf
    assert scan.angle_max - scan.angle_min == pytest.approx(2 * math.pi, abs=0.01)
    odom = odoms[-1]
    q = odom.pose.pose.orientation
    assert q.z ** 2 + q.w ** 2 == pytest.approx(1.0)
    assert odom.twist.twist.linear.x == pytest.approx(0.3, abs=1e-6)
    assert odom.header.frame_id == "odom" and odom.child_frame_id == "base_link"
    assert goals and 0 < goals[-1].pose.position.x < 10
    t = [stamp_to_seconds(s.header.stamp) for s in scans]
    steps = np.diff(t) / 0.1  # simulated time advances by step_time per step
    assert np.all(steps >= 0.5) and np.allclose(steps, np.round(steps))


def test_driven_into_a_wall_it_collides_and_the_reward_node_ends_the_episode(ros):
    robot = ros.add(IrSimRobotNode(context=ros.context))
    reward_node = ros.add(NavRewardNode(context=ros.context))
    rewards = ros.collect(Float32, "reward")
    ends = ros.collect(Bool, "episode_end")
    cmd = ros.probe.create_publisher(Twist, "cmd_vel", 10)
    ros.spin_for(0.2)
    robot.start()
    forward = Twist()
    forward.linear.x = 1.0
    collided = []
    episodes = robot.episodes

    def drive():
        cmd.publish(forward)
        collided.append(robot.collided)
    assert ros.spin_until(lambda: ends, timeout=20.0, each=drive)
    assert any(collided)
    assert ends[0].data is True and reward_node.outcomes["collided"] == 1
    assert min(r.data for r in rewards) <= -9.0
    assert ros.spin_until(lambda: robot.episodes == episodes + 1)  # new start and goal
    assert not robot.collided


def test_a_navigation_demo_that_hears_a_second_clock_stops_with_an_error(tmp_path):
    """A second /clock far ahead: the learner's clock jumps between the two, back and forth; it
    would carry on after each jump (a world reset), but this often means a second graph, and
    the demo says so (or, if the graph stops stepping, says that after stall_timeout_s)."""
    from ant_ros import demo

    foreign = ForeignClock(1e6)
    try:
        with pytest.raises(RuntimeError, match="navigation graph('s clock went backwards| "
                           "stopped at step)"):
            demo.run_irsim(100_000, seed=0, out_dir=tmp_path, eval_episodes=0,
                           stall_timeout_s=3.0)
    finally:
        foreign.close()


def test_navigation_demo_runs_end_to_end(tmp_path):
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "ant_ros.cli", "demo", "--robot", "irsim",
                          "--steps", "700", "--eval-episodes", "2", "--json", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["steps"] == 700 and result["episodes"] >= 1  # 70 s > the 60 s timeout
    # one learning step per complete lockstep frame (scan and odometry packets and the reward):
    # one per robot step, plus one per episode end (no command) and the frame in flight at the end;
    # a frame is only left incomplete when a stall of over 1 s made the demo nudge the robot
    assert result["incomplete_frames"] <= result["stall_nudges"]
    assert result["robot_steps"] <= result["learner_steps"] <= (
        result["robot_steps"] + result["episodes"] + result["eval_episodes"] + 2)
    assert result["goals_reached"] + result["collisions"] + result["timeouts"] == result[
        "episodes"]
    # then two episodes with learning frozen and greedy actions
    assert result["eval_episodes"] == 2
    assert result["eval_goals_reached"] + result["eval_collisions"] + result[
        "eval_timeouts"] == 2
    assert result["eval_success_rate"] == result["eval_goals_reached"] / 2
    assert (tmp_path / "learning_curve.png").exists() and (tmp_path / "summary.json").exists()


def _stamped(msg, seconds: float):
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(seconds), int(seconds % 1 * 1e9)
    return msg


def _odom(x: float, seconds: float) -> Odometry:
    odom = _stamped(Odometry(), seconds)
    odom.pose.pose.position.x = x
    return odom


def _scan(nearest_m: float, seconds: float) -> LaserScan:
    scan = _stamped(LaserScan(), seconds)
    scan.range_min, scan.range_max, scan.ranges = 0.05, 5.0, [nearest_m, 4.0]
    return scan


def _goal(x: float, seconds: float) -> PoseStamped:
    goal = _stamped(PoseStamped(), seconds)
    goal.pose.position.x = x
    return goal


@pytest.mark.parametrize("sync_stamps", [False, True])
def test_reward_node_scores_each_odometry_once_whatever_the_topic_order(ros, sync_stamps):
    """Odometry before its goal is scored when the goal comes; with sync_stamps, odometry is
    scored only with the scan of its own step, so a collision is judged on that step's scan."""
    from rclpy.parameter import Parameter
    ros.add(NavRewardNode(context=ros.context, parameter_overrides=[
        Parameter("sync_stamps", value=sync_stamps)]))
    rewards = ros.collect(Float32, "reward")
    ends = ros.collect(Bool, "episode_end")
    odom = ros.probe.create_publisher(Odometry, "odom", qos_profile_sensor_data)
    scan = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    goal = ros.probe.create_publisher(PoseStamped, "goal_pose", 10)
    assert ros.spin_until(lambda: odom.get_subscription_count() and scan.get_subscription_count()
                          and goal.get_subscription_count())
    # step 1: the odometry first, its scan, then the episode's goal: scored once, on the goal
    odom.publish(_odom(0.0, 1.0))
    scan.publish(_scan(3.0, 1.0))
    ros.spin_for(0.2)
    assert rewards == []
    goal.publish(_goal(5.0, 1.0))
    assert ros.spin_until(lambda: len(rewards) == 1)
    # step 2: 1 m closer; the odometry comes before this step's scan, which is close to a wall
    odom.publish(_odom(1.0, 2.0))
    ros.spin_for(0.2)
    if sync_stamps:
        assert len(rewards) == 1  # waits for the scan of step 2
        scan.publish(_scan(0.1, 2.0))
        assert ros.spin_until(lambda: len(rewards) == 2 and ends)
        assert ends[0].data is True  # a collision, judged on step 2's scan
        assert rewards[1].data < -5.0
    else:
        assert len(rewards) == 2 and not ends  # scored at once, with the latest scan (step 1)
        assert rewards[1].data > 0.0  # progress
    ros.spin_for(0.2)
    assert len(rewards) == 2  # nothing is scored twice


def test_robot_changes_apply_live_through_parameters(ros):
    """What the continual scenarios change (half-speed wheels, a turned lidar, a dead sector)
    is set on the running robot node through its parameters; bad values are refused."""
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    robot = ros.add(IrSimRobotNode(context=ros.context))
    client = ros.probe.create_client(SetParameters, "/ant_irsim_robot/set_parameters")

    def set_parameters(**values):
        request = SetParameters.Request()
        for name, value in values.items():
            kind = (ParameterType.PARAMETER_DOUBLE_ARRAY if isinstance(value, list)
                    else ParameterType.PARAMETER_DOUBLE)
            pv = ParameterValue(type=kind)
            if isinstance(value, list):
                pv.double_array_value = value
            else:
                pv.double_value = value
            request.parameters.append(ParameterMsg(name=name, value=pv))
        return ros.call(client, request).results

    [ok] = set_parameters(speed_gain=0.5)
    assert ok.successful and robot.sim.change.speed_gain == 0.5
    [ok, ok2] = set_parameters(lidar_rotation_rad=math.pi / 2, dead_sector_rad=[-0.5, 0.5])
    assert ok.successful and ok2.successful
    assert robot.sim.change.dead_sector_rad == (-0.5, 0.5)
    scans = ros.collect(LaserScan, "scan", qos_profile_sensor_data)
    assert ros.spin_until(lambda: scans, each=robot.start)
    angles = scans[-1].angle_min + scans[-1].angle_increment * np.arange(len(scans[-1].ranges))
    front = (angles >= -0.5) & (angles < 0.5)
    assert np.all(np.isinf(np.asarray(scans[-1].ranges)[front]))
    [bad] = set_parameters(speed_gain=0.0)
    assert not bad.successful and "speed_gain" in bad.reason
    assert robot.sim.change.speed_gain == 0.5


def test_the_continual_navigation_demo_changes_the_robot_through_its_parameters(tmp_path,
                                                                              monkeypatch):
    """demo --robot irsim --continual: the robot node's parameters change at the phase
    boundaries (so the simulated robot does), and the summary and plot mark the changes; the
    baseline graph runs beside it on the same ROS domain under /baseline (its own /clock: a
    clock heard from the other graph would stop the run), with the mechanisms off."""
    from ant_ros import demo
    from ant_ros.nodes.irsim_node import IrSimRobotNode
    seen = []
    original = IrSimRobotNode._on_set_parameters

    def recorded(self, params):
        result = original(self, params)
        seen.append((self.sim.steps, self.sim.change))
        return result
    monkeypatch.setattr(IrSimRobotNode, "_on_set_parameters", recorded)  # this process's robot
    summary = demo.run_irsim_continual(600, seed=0, out_dir=tmp_path, eval_episodes=0)
    schedule = [[at, name] for at, (name, _) in zip(range(100, 600, 100),
                                                    demo.CONTINUAL_PHASES[1:])]
    assert [list(change) for change in summary["changes"]] == schedule
    gains = [change.speed_gain for _, change in seen]
    assert 0.5 in gains and gains[-1] == 1.0
    assert seen[-1][1].dead_sector_rad == pytest.approx((-math.pi / 4, math.pi / 4))
    assert (tmp_path / "learning_curve.png").exists()
    assert [p["phase"] for p in summary["phases"]] == [n for n, _ in demo.CONTINUAL_PHASES]
    assert sum(p["episodes"] for p in summary["phases"]) == summary["episodes"]
    systems = demo.continual_systems()
    assert summary["learning_overrides"] == systems["learner"]
    assert systems["learner"]["change_detection"] and systems["learner"]["change_policy_memory"]
    baseline = summary["baseline"]
    assert baseline["learning_overrides"] == systems["baseline"]
    assert not systems["baseline"]["change_detection"]
    assert [list(change) for change in baseline["changes"]] == schedule
    assert baseline["changes_detected"] == 0
    assert sum(p["episodes"] for p in baseline["phases"]) == baseline["episodes"]
    assert (tmp_path / "baseline" / "summary.json").exists()


def test_namespaced_puts_a_node_and_its_clock_under_the_namespace():
    """The node keyword arguments of the baseline's placement (that the two graphs then do not
    hear each other is what the continual demo's test checks: a clock heard from the other
    graph would stop it)."""
    from ant_ros.demo import namespaced
    assert namespaced("") == {}
    placement = namespaced("baseline")
    assert placement["namespace"] == "/baseline"
    assert placement["cli_args"] == ["--ros-args", "-r", "/clock:=/baseline/clock"]


def test_a_watch_that_raises_ends_the_navigation_run_at_once(tmp_path):
    """The continual demo's graphs watch each other (a failed baseline, a vanished parent):
    a watch that raises ends the run about a second in, its graph shut down."""
    from ant_ros import demo
    calls = []

    def watch():
        calls.append(time.monotonic())
        raise RuntimeError("the other graph failed")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="other graph failed"):
        demo.run_irsim(1_000_000, seed=0, out_dir=tmp_path, eval_episodes=0, watch=watch)
    assert len(calls) == 1 and time.monotonic() - start < 60.0
