"""Run nodes until Ctrl-C or an external shutdown, then destroy them cleanly."""

from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def spin_nodes(make_nodes: Callable[[], list[Node]], args: list[str] | None = None,
               executor: Executor | None = None) -> None:
    """Initialise rclpy, build the nodes, spin them in one executor, then tear down."""
    rclpy.init(args=args)
    executor = executor or SingleThreadedExecutor()
    nodes: list[Node] = []
    try:
        nodes = make_nodes()
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            node.destroy_node()  # the learner saves its checkpoint here
        executor.shutdown()
        rclpy.try_shutdown()
