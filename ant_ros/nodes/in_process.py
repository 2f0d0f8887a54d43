"""``ant-ros run CONFIG``: the encoder and learner nodes in one process, one executor.

For users without ROS launch, and for speed (no inter-process transport between the nodes).
The parameter file is the same one ``robot.launch.py`` takes.
"""

from __future__ import annotations

from .encoder_node import EncoderNode
from .learner_node import LearnerNode
from .spin import spin_nodes


def run(params_file: str, use_sim_time: bool = False, namespace: str = "") -> None:
    args = ["--ros-args", "--params-file", params_file]
    if use_sim_time:
        args += ["-p", "use_sim_time:=true"]
    if namespace:
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    # rclpy's EventsExecutor is faster, but in rclpy 9 its spin() neither idles nor stops on
    # SIGINT/SIGTERM, so a long-running process uses the standard executor (spin_nodes' default)
    spin_nodes(lambda: [EncoderNode(), LearnerNode()], args)
