"""ROS parameter files (``config/*.yaml``) read without ROS: the configuration objects the nodes
build from their parameters, for runners that use the nodes' settings without the nodes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..core.config import ActionSpec, AgentConfig, ConfigError, LearningConfig, NetworkConfig

SOURCE_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def config_path(name: str) -> Path:
    """A parameter file of the package: from its share directory where the package is installed
    (colcon; ``AMENT_PREFIX_PATH``), else from the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        shared = Path(get_package_share_directory("ant_ros")) / "config" / name
        if shared.is_file():
            return shared
    except (ImportError, LookupError, OSError, ValueError):
        pass  # not installed as a ROS package: the source tree (an editable install, a clone)
    return SOURCE_CONFIG_DIR / name


ROBOT_CONFIG = config_path("robot.yaml")


def node_section(config: Mapping[str, Any], node_name: str) -> dict:
    """The ``ros__parameters`` of ``node_name`` in a loaded parameter file, under its plain key
    or one that matches it in any namespace (``/**/name``, ``/name``), as rcl matches them."""
    for key in (f"/**/{node_name}", node_name, f"/{node_name}"):
        if key in config:
            return config[key]["ros__parameters"]
    raise KeyError(f"no parameters for {node_name}")


def node_parameters(path: str | Path, node_name: str) -> dict:
    """The ``ros__parameters`` of ``node_name`` in the parameter file at ``path``."""
    return node_section(yaml.safe_load(Path(path).read_text()), node_name)


def config_from_values(cls, values: Mapping[str, Any]):
    """``cls`` (a config dataclass) from the values of its fields in ``values``, typed as the
    nodes read them: float fields as floats, per-input fields (double arrays) as tuples of
    floats. Fields not in ``values`` keep their defaults; other keys are ignored."""
    typed = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if f.type == "tuple[float, ...]":  # a double array parameter: a list or array.array
            value = tuple(float(v) for v in value)
        elif f.type in ("float", float):
            value = float(value)
        typed[f.name] = value
    return cls(**typed)


def twist_action_spec(min_linear_speed: float, max_linear_speed: float,
                      max_angular_speed: float) -> ActionSpec:
    """The actions of a learner that commands a Twist: forward speed and turn rate (m/s, rad/s)
    within their limits."""
    turn = float(max_angular_speed)
    return ActionSpec(kind="continuous", low=(float(min_linear_speed), -turn),
                      high=(float(max_linear_speed), turn))


def learner_config(params: Mapping[str, Any], seed: int) -> AgentConfig:
    """The AgentConfig that ``ant_learner`` builds from its parameters ``params`` (a parameter
    file's ``ros__parameters``, Twist commands), with ``network.seed`` set to ``seed``."""
    if params.get("command_type") != "twist":
        raise ConfigError("the learner's parameters must command a Twist (command_type twist)")
    network = config_from_values(NetworkConfig, {**params.get("network", {}), "seed": seed})
    learning = config_from_values(LearningConfig, params.get("learning", {}))
    action = twist_action_spec(params["min_linear_speed"], params["max_linear_speed"],
                               params["max_angular_speed"])
    return AgentConfig(network=network, learning=learning, action=action,
                       seed=network.seed).validate()
