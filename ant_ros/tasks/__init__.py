"""ROS-free task logic: what the nodes run, without ROS (the core, and the tasks' simulators)."""
