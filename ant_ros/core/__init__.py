"""ROS-free core: network, kernels, learning rules, accounting, checkpoints (numpy + numba)."""
