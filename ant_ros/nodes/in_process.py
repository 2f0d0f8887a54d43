"""``ant-ros run CONFIG``: the encoder and learner nodes in one process, one executor.

For users without ROS launch, and for speed (no inter-process transport between the nodes).
The parameter file is the same one ``robot.launch.py`` takes.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from .encoder_node import EncoderNode
from .learner_node import LearnerNode


def run(params_file: str, use_sim_time: bool = False, namespace: str = "") -> None:
    args = ["--ros-args", "--params-file", params_file]
    if use_sim_time:
        args += ["-p", "use_sim_time:=true"]
    if namespace:
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    rclpy.init(args=args)
    # rclpy's EventsExecutor is faster, but in rclpy 9 its spin() neither idles nor stops on
    # SIGINT/SIGTERM, so a long-running process uses the standard executor
    executor = SingleThreadedExecutor()
    nodes = []
    try:
        nodes = [EncoderNode(), LearnerNode()]
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            if isinstance(node, LearnerNode):
                node.save_on_shutdown()
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
