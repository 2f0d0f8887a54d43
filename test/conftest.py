"""Test set-up: DDS participants of this run see only this machine and this run's domain.

The run's ROS domain is its own: two test runs at once (say one in each worktree), or a demo
left running, on the same domain hear each other's topics, and a lockstep graph that hears a
second ``/clock`` stops stepping. So a run claims a domain with a lock file that only it holds
(released when the process ends, however it ends) and skips a domain where other ROS nodes are
already seen. ``ROS_DOMAIN_ID`` set by the caller is used as given.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time

FIRST_DOMAIN, N_DOMAINS = 100, 100
LOCK_DIR = os.path.join(tempfile.gettempdir(), "ant_ros_test_domains")
_held: list = []  # the open lock file of the claimed domain, kept for the whole run


def _others_on(domain: int, wait_s: float = 0.5) -> bool:
    """Whether ROS nodes of other processes are seen on ``domain`` within ``wait_s``."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("ant_ros_test_domain_probe", context=context)
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if len(node.get_node_names()) > 1:
                return True
            time.sleep(0.05)
        return False
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _claim_domain() -> int:
    """A domain in FIRST_DOMAIN .. FIRST_DOMAIN + N_DOMAINS - 1 that no other test run holds and
    no other ROS node uses, starting at one that depends on the process id."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    start = os.getpid() % N_DOMAINS
    for i in range(N_DOMAINS):
        domain = FIRST_DOMAIN + (start + i) % N_DOMAINS
        try:
            handle = open(os.path.join(LOCK_DIR, f"{domain}.lock"), "w")
        except OSError:
            continue  # e.g. a lock file of another user
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()  # another test run holds it
            continue
        if _others_on(domain):
            handle.close()  # e.g. a demo runs there
            continue
        _held.append(handle)
        return domain
    raise RuntimeError(f"no free ROS domain in {FIRST_DOMAIN}..{FIRST_DOMAIN + N_DOMAINS - 1}")


# Must be set before any context is initialised (the domain probe's included).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "ROS_DOMAIN_ID" not in os.environ:
    os.environ["ROS_DOMAIN_ID"] = str(_claim_domain())
