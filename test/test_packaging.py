"""Package metadata stays true: ament_python layout, dependencies, a ROS-free core."""

import ast
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_package_xml_is_format_3_with_true_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "ant_ros"
    assert root.findtext("buildtool_depend") == "ament_python"
    depends = {e.text for e in root if e.tag in ("exec_depend", "depend")}
    assert {"rclpy", "sensor_msgs", "geometry_msgs", "std_msgs", "std_srvs", "nav_msgs",
            "diagnostic_msgs", "rosgraph_msgs", "launch", "launch_ros", "python3-numpy",
            "python3-numba"} <= depends
    assert any("gymnasium" in d for d in depends)
    assert {e.text for e in root.iter("test_depend")} == {"python3-pytest"}
    assert root.find("export/build_type").text == "ament_python"


def test_what_only_gazebo_or_the_demos_need_is_not_a_hard_dependency():
    """rosdep installs conditional dependencies only where asked (ANT_ROS_GAZEBO=1,
    ANT_ROS_DEMOS=1): a robot gets the nodes' dependencies, not Gazebo or plotting."""
    root = ET.parse(ROOT / "package.xml").getroot()
    conditional = {e.text: e.get("condition") for e in root if e.tag == "exec_depend"
                   and e.get("condition")}
    assert conditional == {"ros_gz_sim": "$ANT_ROS_GAZEBO == 1",
                           "ros_gz_bridge": "$ANT_ROS_GAZEBO == 1",
                           "tf2_msgs": "$ANT_ROS_GAZEBO == 1",
                           "python3-gymnasium-pip": "$ANT_ROS_DEMOS == 1",
                           "python3-matplotlib": "$ANT_ROS_DEMOS == 1",
                           "python3-shapely": "$ANT_ROS_DEMOS == 1"}
    # and the robot nodes do not import them, not even indirectly
    probe = ("import sys; import ant_ros.nodes.encoder_node, ant_ros.nodes.learner_node, "
             "ant_ros.nodes.nav_reward_node, ant_ros.nodes.goal_source_node; "
             "print(sorted(m for m in ('matplotlib', 'shapely', 'irsim', 'gymnasium') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_every_imported_ros_package_is_a_declared_dependency():
    root = ET.parse(ROOT / "package.xml").getroot()
    depends = {e.text for e in root if e.tag in ("exec_depend", "depend")}
    imported = set()
    for path in [*(ROOT / "ant_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    ros = {name for name in imported
           if name in ("rclpy", "launch", "launch_ros")
           or name.endswith(("_msgs", "_srvs", "_interfaces"))}
    assert "rclpy" in ros and "builtin_interfaces" in ros
    assert ros <= depends, f"imported but not in package.xml: {sorted(ros - depends)}"


def test_ament_resource_marker_and_setup_files():
    assert (ROOT / "resource" / "ant_ros").is_file()
    setup_py = (ROOT / "setup.py").read_text()
    for needle in ("share/ament_index/resource_index/packages", "package.xml", "launch",
                   "config", "console_scripts", "ant-ros = ant_ros.cli:main"):
        assert needle in setup_py
    cfg = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/ant_ros" in cfg and "install_scripts=$base/lib/ant_ros" in cfg


def test_core_and_tasks_never_import_ros():
    for path in [*(ROOT / "ant_ros" / "core").glob("*.py"),
                 *(ROOT / "ant_ros" / "tasks").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("rclpy", "launch", "launch_ros") and not \
                    top.endswith("_msgs"), f"{path.name} imports {name}"
                assert top != "gymnasium" or path.parent.name == "tasks", \
                    f"core/{path.name} imports {name}"


@pytest.mark.parametrize("module, absent", [
    ("ant_ros.nodes.nav_reward_node", ("gymnasium", "numba", "ant_ros.nodes.learner_node")),
    ("ant_ros.nodes.encoder_node", ("gymnasium", "numba", "ant_ros.nodes.learner_node")),
    ("ant_ros.nodes.irsim_node", ("gymnasium", "numba")),
    ("ant_ros.nodes.learner_node", ("gymnasium", "ant_ros.nodes.encoder_node")),
])
def test_each_node_imports_only_what_it_needs(module, absent):
    """No node imports a sibling node; the robot nodes never load Gymnasium; the encoder and
    the reward node never load numba (a fresh interpreter, so nothing is imported already)."""
    code = (f"import sys, {module}; "
            f"print([m for m in {list(absent)!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", f"{module} loads {out.stdout.strip()}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


def test_parameter_files_come_from_the_share_directory_once_installed(tmp_path):
    """After a colcon install the source tree is not there: config/robot.yaml is found in the
    package's share directory (through the ament index), else in the source tree."""
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages" / "ant_ros").touch()
    (tmp_path / "share" / "ant_ros" / "config").mkdir(parents=True)
    (tmp_path / "share" / "ant_ros" / "config" / "robot.yaml").write_text("{}\n")
    probe = ("from ant_ros.tasks.parameter_files import ROBOT_CONFIG, config_path; "
             "print(ROBOT_CONFIG); print(config_path('other.yaml'))")
    env = {**os.environ, "AMENT_PREFIX_PATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120, env=env).stdout.split()
    assert out[0] == str(tmp_path / "share" / "ant_ros" / "config" / "robot.yaml")
    assert out[1] == str(ROOT / "config" / "other.yaml")  # not installed there: the source
    env.pop("AMENT_PREFIX_PATH")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120, env=env).stdout.split()
    assert out[0] == str(ROOT / "config" / "robot.yaml")


def _pins(name: str) -> dict:
    """The packages of a requirements file and their versions; every line must pin exactly."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        assert line.count("==") == 1, f"{name}: {line!r} is not pinned to one version"
        package, version = line.split("==")
        found[package.split("[")[0].strip().lower().replace("_", "-")] = version.strip()
    return found


def test_the_jazzy_and_kilted_environments_differ_only_in_ros():
    """make test runs the suite on ROS 2 Jazzy (.venv, requirements.txt), then on Kilted
    (.venv-kilted, requirements-kilted.txt): the same pins for everything but ROS, each
    distribution's ROS packages only, lifecycle_msgs in both."""
    import re

    jazzy, kilted = _pins("requirements.txt"), _pins("requirements-kilted.txt")
    ros = ("ros-", "ros2-")
    assert {k: v for k, v in jazzy.items() if not k.startswith(ros)} == \
        {k: v for k, v in kilted.items() if not k.startswith(ros)}
    assert all(k.startswith("ros-jazzy-") for k in jazzy if k.startswith(ros))
    assert not any(k.startswith(("ros-jazzy-", "ros-humble-", "ros-rolling-")) for k in kilted)
    assert "ros-jazzy-rclpy" in jazzy and "ros-rclpy" in kilted
    assert "ros-jazzy-lifecycle-msgs" in jazzy and "ros-lifecycle-msgs" in kilted
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: test-jazzy test-kilted$", makefile, re.M)
    for requirements in ("requirements.txt", "requirements-kilted.txt"):
        assert re.search(rf"call environment,\$\(VENV\w*\),{re.escape(requirements)}\)",
                         makefile), f"no environment from {requirements}"


def test_this_environment_has_rclpy_lifecycle_support():
    """Lifecycle (managed) nodes need rclpy.lifecycle and lifecycle_msgs, in both
    environments (this test runs in each)."""
    out = subprocess.run([sys.executable, "-c",
                          "from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn; "
                          "from lifecycle_msgs.msg import State, Transition; "
                          "from lifecycle_msgs.srv import ChangeState, GetState; print('ok')"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
