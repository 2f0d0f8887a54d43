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
        # after a collision, until the lidar clears: a robot that is not moved away (Gazebo,
        # a real robot) would otherwise collide again at every evaluation of the next episode
        self.in_contact = False

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
        touching = math.isfinite(min_range_m) and min_range_m < c.collision_distance_m
        if self.in_contact and not touching:
            self.in_contact = False
        if touching and not self.in_contact:
            self.in_contact = True
            return self._end(reward - c.collision_penalty, "collided")
        if self._start_s is not None and now_s < self._start_s:
            self._start_s = now_s  # the clock went back (a world reset): the timer restarts
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


@dataclass(frozen=True)
class GoalConfig:
    """Where random goals may go: a rectangular arena with circular obstacles (the Gazebo
    arena's by default, ``worlds/ant_arena.sdf``), in the odometry frame."""

    arena_min: list[float] = field(default_factory=lambda: [-3.0, -3.0], metadata={
        "description": "lowest x and y of the arena's free space inside its walls (m)"})
    arena_max: list[float] = field(default_factory=lambda: [3.0, 3.0], metadata={
        "description": "highest x and y of the arena's free space inside its walls (m)"})
    obstacles: list[float] = field(default_factory=lambda: [1.2, 0.8, 0.25, -1.0, -1.2, 0.3],
                                   metadata={"description": "circular obstacles: x, y, radius "
                                             "for each (m)"})
    clearance_m: float = _param(0.5, "free space around a goal: from walls and obstacles (m)")
    min_goal_distance_m: float = _param(1.5, "shortest distance from the robot to a new goal")
    seed: int = field(default=0, metadata={"description": "seed of the goals"})

    def validate(self) -> "GoalConfig":
        if len(self.arena_min) != 2 or len(self.arena_max) != 2:
            raise ValueError("arena_min and arena_max are [x, y]")
        if len(self.obstacles) % 3:
            raise ValueError("obstacles are x, y, radius triples")
        if not all(math.isfinite(v) for v in (*self.arena_min, *self.arena_max, *self.obstacles,
                                             self.clearance_m, self.min_goal_distance_m)):
            raise ValueError("goal settings must be finite")
        if any(hi - lo <= 2 * self.clearance_m for lo, hi in zip(self.arena_min,
                                                                   self.arena_max)):
            raise ValueError("the arena leaves no room for goals at this clearance")
        return self


class GoalSampler:
    """Random reachable goals: uniform in the arena's free space (``clearance_m`` from walls
    and obstacles), at least ``min_goal_distance_m`` from the robot."""

    def __init__(self, config: GoalConfig) -> None:
        self.config = config.validate()
        self.rng = np.random.default_rng(config.seed)
        self.obstacles = np.asarray(config.obstacles, np.float64).reshape(-1, 3)

    def free(self, point: np.ndarray) -> bool:
        c = self.config
        inside = np.all(point >= np.asarray(c.arena_min) + c.clearance_m) and np.all(
            point <= np.asarray(c.arena_max) - c.clearance_m)
        gaps = np.hypot(*(self.obstacles[:, :2] - point).T) - self.obstacles[:, 2]
        return bool(inside and np.all(gaps > c.clearance_m))

    def sample(self, robot_xy: tuple[float, float]) -> np.ndarray:
        """A free goal far enough from the robot (the farthest of many tries if none is)."""
        c = self.config
        low = np.asarray(c.arena_min) + c.clearance_m
        high = np.asarray(c.arena_max) - c.clearance_m
        best, best_distance = None, -1.0
        for _ in range(1000):
            point = self.rng.uniform(low, high)
            if not self.free(point):
                continue
            distance = float(np.hypot(*(point - np.asarray(robot_xy))))
            if distance >= c.min_goal_distance_m:
                return point
            if distance > best_distance:
                best, best_distance = point, distance
        if best is None:
            raise RuntimeError("no free goal in the arena")
        return best
