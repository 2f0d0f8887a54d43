"""Launch files and parameter files, tested for what can be tested without ROS launch installed:
they parse, every executable, config and world they name exists, and every parameter in the
config is one the nodes declare. ``ant-ros run`` is tested end to end as a separate process."""

import ast
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import rclpy
import yaml
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

from ant_ros.tasks.navigation import NavigationConfig
from ant_ros.nodes.encoder_node import EncoderNode
from ant_ros.nodes.goal_source_node import GoalSourceNode
from ant_ros.nodes.learner_node import LearnerNode
from ant_ros.nodes.nav_reward_node import NavRewardNode
from ant_ros.nodes.parameters import flatten
from ant_ros.tasks.parameter_files import node_section

from ros_harness import RosHarness
from test_nodes import scan

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def console_scripts() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = " in node.value:
            scripts.add(node.value.split(" = ")[0].strip())
    return scripts


def calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(
        n.func, "id", getattr(n.func, "attr", None)) == name]


def keyword(call, name):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_launch_files_exist_and_parse():
    names = {p.name for p in LAUNCH_FILES}
    assert {"robot.launch.py", "gazebo.launch.py"} <= names
    for path in LAUNCH_FILES:
        tree = ast.parse(path.read_text())
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "generate_launch_description" in functions, path.name
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert {"launch", "launch_ros.actions"} <= imported, path.name


def constants(tree) -> dict:
    """A launch file's module-level constants (names in capitals), as values."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name) and node.targets[0].id.isupper():
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_name_executables_that_exist(path):
    """Every ant_ros executable a launch file starts (literally, or from its constants)."""
    tree = ast.parse(path.read_text())
    scripts = console_scripts()
    named = [s for s in strings(constants(tree)) if s.startswith("ant_")]
    for call in calls(tree, "Node") + calls(tree, "LifecycleNode"):
        package, executable = keyword(call, "package"), keyword(call, "executable")
        if isinstance(package, ast.Constant) and package.value == "ant_ros" and isinstance(
                executable, ast.Constant):
            named.append(executable.value)
    assert named, path.name
    for executable in named:
        assert executable in scripts, f"{path.name}: {executable}"


def test_robot_launch_arguments_and_files():
    text = (ROOT / "launch" / "robot.launch.py").read_text()
    tree = ast.parse(text)
    declared = {c.args[0].value for c in calls(tree, "DeclareLaunchArgument")}
    assert {"params_file", "use_sim_time", "namespace", "checkpoint", "managed",
            "autostart"} <= declared
    assert constants(tree)["EXECUTABLES"] == {
        "encoder": ("ant_encoder", "ant_managed_encoder"),
        "learner": ("ant_learner", "ant_managed_learner")}
    assert calls(tree, "LifecycleNode") and calls(tree, "ChangeState")  # managed + autostart
    assert (ROOT / "config" / "robot.yaml").is_file() and '"robot.yaml"' in text
    assert '"checkpoint_path"' in text  # a parameter the learner declares (checked below)


def test_gazebo_launch_is_a_complete_navigation_graph():
    """World, bridge (clock, scan, odom, TF, cmd_vel; ROS names relative but /clock and /tf),
    the reward and goal source on the same parameter file, encoder and learner (robot.launch),
    headless rendering, and a shutdown when Gazebo exits."""
    text = (ROOT / "launch" / "gazebo.launch.py").read_text()
    tree = ast.parse(text)
    assert (ROOT / "worlds" / "ant_arena.sdf").is_file() and '"ant_arena.sdf"' in text
    assert constants(tree)["TASK_NODES"] == ("ant_nav_reward", "ant_goal_source")
    declared = {c.args[0].value for c in calls(tree, "DeclareLaunchArgument")}
    assert {"world", "headless", "namespace", "params_file", "managed"} <= declared
    assert '"--headless-rendering"' in text and calls(tree, "OnProcessExit")
    assert calls(tree, "Shutdown") and '"robot.launch.py"' in text and '"gz_bridge.yaml"' in text
    bridge = yaml.safe_load((ROOT / "config" / "gz_bridge.yaml").read_text())
    topics = {b["ros_topic_name"]: b for b in bridge}
    assert set(topics) == {"/clock", "scan", "odom", "/tf", "cmd_vel"}
    assert topics["cmd_vel"]["direction"] == "ROS_TO_GZ"
    assert topics["/tf"]["ros_type_name"] == "tf2_msgs/msg/TFMessage"
    sdf = (ROOT / "worlds" / "ant_arena.sdf").read_text()
    for gz in ("<topic>scan</topic>", "<odom_topic>odom</odom_topic>", "<tf_topic>/tf</tf_topic>",
               "<topic>cmd_vel</topic>", "<gz_frame_id>base_link</gz_frame_id>"):
        assert gz in sdf
    setup = (ROOT / "setup.py").read_text()
    assert '"config/*.yaml"' in setup  # gz_bridge.yaml is installed with the configs


def test_every_config_parameter_is_declared_by_its_node():
    path = ROOT / "config" / "robot.yaml"
    config = yaml.safe_load(path.read_text())
    context = Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path)], context=context)
    try:
        nodes = {"ant_encoder": EncoderNode(context=context),
                 "ant_learner": LearnerNode(context=context),
                 "ant_nav_reward": NavRewardNode(context=context),
                 "ant_goal_source": GoalSourceNode(context=context)}
        for name, node in nodes.items():
            for param, value in flatten(node_section(config, name)).items():
                assert node.has_parameter(param), f"{name} does not declare {param}"
                assert node.get_parameter(param).value == value, param
            node.destroy_node()
        assert nodes["ant_learner"].has_parameter("checkpoint_path")
        assert nodes["ant_nav_reward"].task.config == NavigationConfig(
            **flatten(node_section(config, "ant_nav_reward")))  # the task uses them
        assert nodes["ant_nav_reward"].describe_parameter("timeout_s").read_only
        assert nodes["ant_encoder"].n_channels == node_section(config, "ant_learner")[
            "network"]["n_inputs"]
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize("namespace", ["robot1", "fleet/robot2"])
def test_a_namespaced_node_gets_the_parameter_files_values(namespace):
    """config/robot.yaml's keys match the nodes in any namespace: pushed into one (as
    ``ant-ros run --namespace`` and ``robot.launch.py namespace:=`` do), they get the file's
    values, not their defaults."""
    path = ROOT / "config" / "robot.yaml"
    config = yaml.safe_load(path.read_text())
    context = Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path), "-r", f"__ns:=/{namespace}"],
               context=context)
    try:
        encoder, learner = EncoderNode(context=context), LearnerNode(context=context)
        assert learner.get_namespace() == f"/{namespace}"
        network = node_section(config, "ant_learner")["network"]
        assert learner.get_parameter("network.n_hidden").value == network["n_hidden"] == 512
        assert learner.learner.n_inputs == network["n_inputs"] == 20
        assert encoder.n_channels == 20
        for node in (encoder, learner):
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ant_ros_run_drives_cmd_vel_and_stops_the_robot_on_shutdown(tmp_path, stop_signal):
    params = yaml.safe_load((ROOT / "config" / "robot.yaml").read_text())
    learner = node_section(params, "ant_learner")
    learner["checkpoint_path"] = str(tmp_path / "run.npz")
    learner["network"]["n_hidden"] = 64
    config = tmp_path / "robot.yaml"
    config.write_text(yaml.safe_dump(params))
    child = subprocess.Popen([sys.executable, "-m", "ant_ros.cli", "run", str(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ros = RosHarness()
    signalled = False
    try:
        commands = ros.collect(Twist, "cmd_vel")
        scan_pub = ros.probe.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        odom_pub = ros.probe.create_publisher(Odometry, "odom", qos_profile_sensor_data)
        rng = np.random.default_rng(0)

        def publish():
            scan_pub.publish(scan(2.0 + rng.normal(0, 0.3, 90)))
            odom = Odometry()
            odom.pose.pose.orientation.w = 1.0
            odom_pub.publish(odom)
        assert ros.spin_until(lambda: any(c.linear.x != 0.0 or c.angular.z != 0.0
                                          for c in commands), timeout=60.0, each=publish)
        for c in commands:
            assert -0.05 <= c.linear.x <= 0.3 and -1.0 <= c.angular.z <= 1.0
        ros.spin_for(0.3)  # the last input's command is in
        count = len(commands)
        child.send_signal(stop_signal)
        signalled = True
        # base controllers keep the last command: the learner's last word is a stop
        assert ros.spin_until(lambda: len(commands) > count and commands[-1].linear.x == 0.0
                              and commands[-1].angular.z == 0.0, timeout=30.0)
    finally:
        ros.close()
        if not signalled:
            child.send_signal(signal.SIGINT)
        try:
            output, _ = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            output, _ = child.communicate()
    assert child.returncode == 0, output
    assert (tmp_path / "run.npz").exists()  # checkpoint written on shutdown


LEARNER = ("ant_learner", "ant_ros.nodes.learner_node")


@pytest.mark.parametrize("node, parameters, reason", [
    (LEARNER, {"network": {"input_gain": [1, 1, 8]}}, "1.0, not 1"),  # ints for doubles
    (LEARNER, {"command_type": "joystick"}, "command_type must be one of"),
    (LEARNER, {"network": {"n_inputs": 3, "input_gain": [1.0, 2.0]}},
     "input_gain needs 1 or n_inputs"),
    (("ant_gym_bridge", "ant_ros.nodes.bridge_node"), {"mode": "turbo"}, "mode must be one of"),
    (("ant_gym_bridge", "ant_ros.nodes.bridge_node"), {"publish_clock": 5}, "expecting type 'BOOL'"),
    (("ant_encoder", "ant_ros.nodes.encoder_node"),
     {"encoders": ["scan"], "scan": {"type": "sonar"}}, "unknown type sonar"),
])
def test_a_node_refusing_its_parameters_exits_with_the_reason(tmp_path, node, parameters,
                                                              reason):
    name, module = node
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({name: {"ros__parameters": parameters}}))
    done = subprocess.run([sys.executable, "-m", module, "--ros-args",
                           "--params-file", str(config)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "cannot start:" in done.stderr and reason in done.stderr
    assert "Traceback" not in done.stderr
    assert ("1.0, not 1" in done.stderr) == ("DOUBLE" in done.stderr)  # the hint only for floats


@pytest.mark.parametrize("module", ["ant_ros.nodes.nav_reward_node",
                                    "ant_ros.nodes.goal_source_node"])
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_an_idle_node_stops_on_a_signal(module, stop_signal):
    """A node with no input and no timer (here: before its first message; also an inactive
    lifecycle node, or sim time without /clock) still serves SIGINT and SIGTERM promptly, so
    ros2 launch does not have to escalate to SIGKILL."""
    child = subprocess.Popen([sys.executable, "-m", module, "--ros-args", "-p",
                              "use_sim_time:=true"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        ros = RosHarness()
        node_name = module.rsplit(".", 1)[1].replace("_node", "")
        assert ros.spin_until(lambda: f"ant_{node_name}" in ros.probe.get_node_names(),
                              timeout=60.0)
        ros.close()
        child.send_signal(stop_signal)
        output, _ = child.communicate(timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, output
