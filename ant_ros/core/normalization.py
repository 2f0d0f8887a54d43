"""Running normalisation of observations and rewards (streaming-RL stabilisers)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .jit import KERNEL, entry_for


@njit(**KERNEL)
def welford_update(x, count, mean, m2, window):
    """One sample ``x`` into the running statistics (``count`` has one element), forgetting
    beyond ``window`` samples (``RunningMeanStd``)."""
    if count[0] >= window:
        # keep the weight of window - 1 samples: the new one makes it window again
        factor = (window - 1.0) / count[0]
        for i in range(m2.size):
            m2[i] *= factor
        count[0] = window - 1.0
    count[0] += 1.0
    n = count[0]
    for i in range(mean.size):
        delta = x[i] - mean[i]
        mean[i] += delta / n
        m2[i] += delta * (x[i] - mean[i])


@njit(**KERNEL)
def scale_reward(reward, episode_end, gamma, ret, count, mean, m2, window):
    """``RewardScaler.scale`` on its arrays: the discounted return, its statistics, the
    reward divided by the return's running std."""
    ret[0] = gamma * ret[0] + reward
    welford_update(ret, count, mean, m2, window)
    if episode_end:
        ret[0] = 0.0
    var = m2[0] / count[0] if count[0] > 1 else 1.0
    return reward / math.sqrt(var + 1e-8)


class RunningMeanStd:
    """Welford's running mean and variance, one sample at a time.

    With a finite ``window`` the statistics forget: once ``window`` samples are in, each new
    sample enters with weight ``1 / window`` and the old ones decay by ``1 - 1 / window``
    (an exponentially weighted mean and variance), so they follow a world that changes.
    """

    def __init__(self, size: int, window: float = np.inf) -> None:
        self.count = np.zeros(1, np.float64)
        self.mean = np.zeros(size, np.float64)
        self.m2 = np.zeros(size, np.float64)
        self.window = window

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if x.shape != self.mean.shape:
            x = np.broadcast_to(x, self.mean.shape)
        welford_update(x, self.count, self.mean, self.m2, float(self.window))

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.count[0] if self.count[0] > 1 else np.ones_like(self.mean)

    def normalize(self, x: np.ndarray, clip: float) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -clip, clip)


class RewardScaler:
    """Divides rewards by the running standard deviation of the discounted return."""

    def __init__(self, gamma: float, window: float = np.inf) -> None:
        self.gamma = gamma
        self.ret = np.zeros(1, np.float64)
        self.stats = RunningMeanStd(1, window)
        stats = self.stats
        self._scale = entry_for(scale_reward, 0.0, False, 0.0, self.ret, stats.count,
                                stats.mean, stats.m2, 0.0)

    def scale(self, reward: float, episode_end: bool) -> float:
        stats = self.stats
        return self._scale(float(reward), bool(episode_end), float(self.gamma), self.ret,
                           stats.count, stats.mean, stats.m2, float(stats.window))
