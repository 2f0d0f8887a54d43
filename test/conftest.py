"""Test set-up: DDS participants of this run see only this machine and this run's domain."""

import os

# Must be set before rclpy is imported anywhere in the session.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
