"""Run nodes until Ctrl-C or an external shutdown, then destroy them cleanly; spin an executor
until a condition holds or a deadline passes."""

from __future__ import annotations

import signal
import sys
import time
from typing import Callable

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ..core.config import ConfigError

WAKE_PERIOD_S = 0.2  # the longest a SIGINT or SIGTERM waits to be served
# what a node refuses at start because of its parameters, exit code 2
_STARTUP_ERRORS = (ConfigError, ParameterException)


def spin_nodes(make_nodes: Callable[[], list[Node]], args: list[str] | None = None,
               executor: Executor | None = None) -> None:
    """Initialise rclpy, build the nodes, spin them in one executor, then tear down.

    SIGINT and SIGTERM end the spin with the context still up, so the nodes can still publish
    while they are destroyed (the learner sends a stop command: base controllers keep the last
    one). A node that refuses its parameters at start ends the process with the reason on stderr
    and exit code 2, not a traceback."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    executor = executor or SingleThreadedExecutor()
    nodes: list[Node] = []
    try:
        nodes = make_nodes()
        for node in nodes:
            executor.add_node(node)
        # spin_once with a timeout, not spin(): the signal handlers (Python) run only when the
        # executor returns to Python, which an idle node (no input, no timer: an inactive
        # lifecycle node, the reward node before its first message, sim time without /clock)
        # would otherwise never do
        while executor.context.ok():
            executor.spin_once(timeout_sec=WAKE_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _STARTUP_ERRORS as exc:
        if nodes:
            raise
        expected_float = isinstance(exc, InvalidParameterTypeException) and "DOUBLE" in str(exc)
        hint = (" (in parameter files write floating-point values with a decimal point: "
                "1.0, not 1)" if expected_float else "")
        print(f"cannot start: {exc}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        for node in nodes:
            node.destroy_node()  # the learner stops the robot and saves its checkpoint here
        executor.shutdown()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame) -> None:
    """SIGINT or SIGTERM: leave the spin (the executor returns every WAKE_PERIOD_S)."""
    raise KeyboardInterrupt


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
