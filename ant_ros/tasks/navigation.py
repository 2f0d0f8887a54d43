"""The navigation task, ROS-free: reward for progress to a goal, a penalty for collision, a bonus
on arrival, and the episode's end (arrival, collision, timeout)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def _param(default: float, description: str):
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class NavigationConfig:
    progress_weight: float = _param(1.0, "reward per metre of progress towards the goal")
    step_cost: float = _param(0.01, "subtracted from the reward at every evaluation (odometry "
                              "message)")
    collision_penalty: float = _param(10.0, "subtracted from the reward on collision")
    arrival_bonus: float = _param(10.0, "added to the reward on arrival")
    goal_tolerance_m: float = _param(0.3, "distance to the goal (m) that counts as arrival")
    collision_distance_m: float = _param(0.25, "a valid lidar range below this (m) is a "
                                         "collision")
    timeout_s: float = _param(60.0, "longest episode (s); then it ends as truncated")


@dataclass
class Outcome:
    reward: float
    end: str | None  # None, "arrived", "collided" or "timeout"

    @property
    def terminated(self) -> bool:
        return self.end in ("arrived", "collided")


class NavigationTask:
    """Evaluates one robot pose (and its lidar) against the current goal."""

    def __init__(self, config: NavigationConfig = NavigationConfig()) -> None:
        self.config = config
        self.goal: np.ndarray | None = None
        self._finished: np.ndarray | None = None  # the goal of the episode that just ended
        self._distance: float | None = None
        self._start_s: float | None = None

    def set_goal(self, goal_xy, now_s: float) -> bool:
        """Start an episode towards ``goal_xy``; the current goal, or the goal of the episode
        that just ended, sent again (goals are republished with every pose), changes nothing.
        Returns whether a new episode started."""
        goal = np.asarray(goal_xy, dtype=np.float64)
        if goal.shape != (2,) or not np.all(np.isfinite(goal)):
            raise ValueError("a goal is two finite coordinates")
        for known in (self.goal, self._finished):
            if known is not None and np.array_equal(known, goal):
                return False
        self.goal = goal
        self._finished = None
        self._distance = None
        self._start_s = now_s
        return True

    def evaluate(self, position_xy, min_range_m: float, now_s: float) -> Outcome:
        """Reward since the previous evaluation, and whether the episode ends here."""
        if self.goal is None:
            return Outcome(0.0, None)
        c = self.config
        distance = float(np.linalg.norm(np.asarray(position_xy, np.float64) - self.goal))
        progress = 0.0 if self._distance is None else self._distance - distance
        self._distance = distance
        reward = c.progress_weight * progress - c.step_cost
        if distance <= c.goal_tolerance_m:
            return self._end(reward + c.arrival_bonus, "arrived")
        if math.isfinite(min_range_m) and min_range_m < c.collision_distance_m:
            return self._end(reward - c.collision_penalty, "collided")
        if self._start_s is not None and now_s - self._start_s >= c.timeout_s:
            return self._end(reward, "timeout")
        return Outcome(reward, None)

    def _end(self, reward: float, why: str) -> Outcome:
        self._finished, self.goal = self.goal, None
        return Outcome(reward, why)


def min_valid_range(ranges: np.ndarray, range_min: float, range_max: float) -> float:
    """The closest valid lidar return (REP-117: NaN and out-of-range readings are ignored)."""
    r = np.asarray(ranges, dtype=np.float64)
    valid = np.isfinite(r) & (r >= range_min) & (r <= range_max)
    return float(r[valid].min()) if np.any(valid) else math.inf
