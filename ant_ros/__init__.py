"""ant_ros: online learning on the robot with an asynchronous event-driven neural network."""

__version__ = "0.1.0"
