"""ir-sim world files of the tasks (package data)."""
