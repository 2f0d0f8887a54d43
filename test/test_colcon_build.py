"""colcon builds the package as a robot's workspace does (a plain ``colcon build``, not
``--symlink-install``) from a copy of the source tree, and what it installs works without the
source tree: the share directory (manifest, launch files, parameter files, worlds, the ament
index marker), the console scripts where ``ros2 run`` looks for them, the package's own data
files, and parameter files found through the share directory.

Skipped where colcon is not installed (the test environments of ``make test`` have it)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "ant_ros"
CONSOLE_SCRIPTS = ("ant-ros", "ant_encoder", "ant_learner", "ant_gym_bridge", "ant_irsim_robot",
                   "ant_nav_reward")
# What setuptools says when a folder inside the package that is not a listed package holds
# files it installs (package data): newer setuptools ("... is absent from the `packages`
# configuration"), older ("Installing 'x' as data is deprecated").
DATA_AS_PACKAGE = re.compile(r"absent from the `packages` configuration|as data is deprecated")
# Left out of the copy when git cannot list the tree: environments, build output, caches.
NOT_SOURCE = (".git", ".venv*", "build", "install", "log", "runs", "__pycache__", "*.egg-info",
              ".pytest_cache", "*.nbi", "*.nbc")


def _colcon() -> str | None:
    """This environment's colcon (beside its python), else one on PATH."""
    beside = pathlib.Path(sys.executable).parent / "colcon"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("colcon")


def _source_files() -> list[pathlib.Path] | None:
    """The tree's files as git sees them (tracked and new, not ignored), or None without git."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    names = [name for name in listed.decode().split("\0") if name]
    return [pathlib.Path(name) for name in names if (ROOT / name).is_file()]  # not deleted ones


def _copy_source(destination: pathlib.Path) -> None:
    files = _source_files()
    if files is None:
        shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(*NOT_SOURCE))
        return
    for name in files:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination / name)


def _clean_environment(workspace: pathlib.Path) -> dict:
    """The caller's environment without a sourced ROS workspace or colcon configuration, so
    the build sees this workspace only."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLCON_") and k not in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH",
                                                        "PYTHONPATH")}
    env["COLCON_HOME"] = str(workspace / ".colcon")  # no user defaults, mixins or metadata
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A colcon workspace with a copy of this source tree in src/, built once (~20 s)."""
    colcon = _colcon()
    if colcon is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    ws = tmp_path_factory.mktemp("colcon_ws")
    _copy_source(ws / "src" / PACKAGE)
    env = _clean_environment(ws)
    build = subprocess.run([colcon, "build", "--event-handlers", "console_cohesion+"],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=180)
    output = build.stdout + build.stderr
    (ws / "build_output.txt").write_text(output)  # kept with the workspace, for a look
    assert build.returncode == 0, f"colcon build failed:\n{output[-6000:]}"
    return ws, output, env


def _site_packages(prefix: pathlib.Path) -> pathlib.Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    assert len(found) == 1, f"one site-packages under {prefix}: {found}"
    return found[0]


def test_colcon_installs_the_share_directory(workspace):
    ws, _, _ = workspace
    prefix = ws / "install" / PACKAGE
    share = prefix / "share" / PACKAGE
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    for folder, pattern in (("launch", "*.launch.py"), ("config", "*.yaml"),
                            ("worlds", "*.sdf")):
        sources = sorted(p.name for p in (ROOT / folder).glob(pattern))
        assert sources, f"no {folder}/{pattern} in the source tree"
        installed = sorted(p.name for p in (share / folder).glob(pattern))
        assert installed == sources, f"share/{PACKAGE}/{folder}"
    assert (share / "config" / "robot.yaml").is_file()
    # a plain build copies, it does not link back into the source
    assert not (share / "package.xml").is_symlink()


def test_colcon_installs_the_console_scripts_where_ros2_run_finds_them(workspace):
    """ament_python: setup.cfg puts the scripts in lib/<package> (``ros2 run`` looks there),
    not bin/."""
    ws, _, _ = workspace
    scripts = ws / "install" / PACKAGE / "lib" / PACKAGE
    for name in CONSOLE_SCRIPTS:
        script = scripts / name
        assert script.is_file() and os.access(script, os.X_OK), f"lib/{PACKAGE}/{name}"
    assert not (ws / "install" / PACKAGE / "bin").exists()


def test_colcon_installs_the_package_and_its_data_files(workspace):
    """Every file of the package that is not Python (world descriptions and the like) is
    installed beside the modules, where the code looks for it."""
    ws, _, _ = workspace
    site = _site_packages(ws / "install" / PACKAGE)
    source = ws / "src" / PACKAGE
    assert (site / PACKAGE / "__init__.py").is_file()
    data = [p.relative_to(source) for p in (source / PACKAGE).rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc")]
    missing = [str(p) for p in data if not (site / p).is_file()]
    assert not missing, f"package files not installed: {missing}"


def test_colcon_build_prints_no_warning_about_data_installed_as_packages(workspace):
    _, output, _ = workspace
    warnings = [line.strip() for line in output.splitlines() if DATA_AS_PACKAGE.search(line)]
    assert not warnings, "setuptools installs data of folders that are not listed packages:\n" \
        + "\n".join(warnings)


def test_colcon_itself_warns_of_nothing(workspace):
    """E.g. colcon-ros's warnings that a package does not install its ament index marker or
    its package.xml itself (it does both implicitly, for now)."""
    _, output, _ = workspace
    warnings = [line.strip() for line in output.splitlines() if "WARNING:colcon" in line]
    assert not warnings, "\n".join(warnings)


def test_installed_ant_ros_help_runs(workspace):
    ws, _, env = workspace
    out = subprocess.run([str(ws / "install" / PACKAGE / "lib" / PACKAGE / "ant-ros"), "--help"],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()


@pytest.mark.skipif(shutil.which("bash") is None, reason="the workspace's setup.bash needs bash")
def test_installed_package_finds_its_parameter_files_in_its_share_directory(workspace):
    """With the workspace sourced (install/setup.bash) and the source tree out of reach, the
    package imported is the installed one and config_path() answers from its share directory."""
    ws, _, env = workspace
    probe = ("import ant_ros; from ant_ros.tasks.parameter_files import config_path; "
             "print(ant_ros.__file__); print(config_path('robot.yaml'))")
    command = 'source install/setup.bash && "$ANT_ROS_PYTHON" -c "$ANT_ROS_PROBE"'
    out = subprocess.run(["bash", "-c", command], cwd=ws, capture_output=True, text=True,
                         timeout=120,
                         env={**env, "ANT_ROS_PYTHON": sys.executable, "ANT_ROS_PROBE": probe})
    assert out.returncode == 0, out.stderr
    module, config = (pathlib.Path(line) for line in out.stdout.split())
    prefix = (ws / "install" / PACKAGE).resolve()
    assert module.resolve().is_relative_to(prefix), f"imported {module}, not the installed one"
    assert config.resolve() == prefix / "share" / PACKAGE / "config" / "robot.yaml"
    assert not config.resolve().is_relative_to(ROOT)
