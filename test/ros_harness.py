"""Real rclpy in tests: a private Context and executor, and helpers to wait for messages."""

from __future__ import annotations

import threading
from typing import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock

from ant_ros.conversions import seconds_to_stamp
from ant_ros.nodes.spin import spin_until


class RosHarness:
    """Owns a private rclpy context; nodes added to it are spun by one executor."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self.probe = self.add(rclpy.create_node("test_probe", context=self.context))

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, condition: Callable[[], bool], timeout: float = 10.0,
                   each: Callable[[], None] | None = None) -> bool:
        """Spin until ``condition()``; ``each`` runs before every spin (e.g. to publish)."""
        def done() -> bool:
            if condition():
                return True
            if each is not None:
                each()
            return False
        return spin_until(self.executor, done, timeout, 0.02)

    def spin_for(self, seconds: float, each: Callable[[], None] | None = None) -> None:
        self.spin_until(lambda: False, seconds, each)

    def collect(self, msg_type, topic: str, qos=10) -> list:
        received: list = []
        self.probe.create_subscription(msg_type, topic, received.append, qos)
        return received

    def call(self, client, request, timeout: float = 10.0):
        assert client.wait_for_service(timeout_sec=timeout), f"{client.srv_name} not available"
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout), f"{client.srv_name} did not answer"
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class ForeignClock:
    """What a second simulator on this run's domain does: a separate participant (its own
    context) publishing ``/clock``, here a fixed time at 100 Hz from a thread."""

    def __init__(self, seconds: float) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("foreign_clock", context=self.context)
        publisher = self.node.create_publisher(Clock, "/clock", 10)
        message = Clock(clock=seconds_to_stamp(seconds))
        self._stop = threading.Event()

        def publish() -> None:
            while not self._stop.wait(0.01):
                publisher.publish(message)
        self.thread = threading.Thread(target=publish, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
