"""Run nodes until Ctrl-C or an external shutdown, then destroy them cleanly; spin an executor
until a condition holds or a deadline passes."""

from __future__ import annotations

import time
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


def spin_until(executor: Executor, condition: Callable[[], bool], timeout_s: float,
               step_s: float = 0.01) -> bool:
    """Spin ``executor`` one ``spin_once(step_s)`` at a time until ``condition()`` holds or
    ``timeout_s`` has passed; returns whether it holds. The condition is checked first (a
    condition that already holds spins nothing) and once more after the last spin."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=step_s)
    return True
