"""Package metadata stays true: ament_python layout, dependencies, a ROS-free core."""

import ast
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

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
                           "python3-matplotlib": "$ANT_ROS_DEMOS == 1",
                           "python3-shapely": "$ANT_ROS_DEMOS == 1"}
    # and the robot nodes do not import them, not even indirectly
    probe = ("import sys; import ant_ros.nodes.encoder_node, ant_ros.nodes.learner_node, "
             "ant_ros.nodes.nav_reward_node; "
             "print(sorted(m for m in ('matplotlib', 'shapely', 'irsim') if m in sys.modules))")
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
                assert top not in ("rclpy", "launch", "launch_ros", "gymnasium") and not \
                    top.endswith("_msgs"), f"{path.name} imports {name}"


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
