"""Running normalisation of observations and rewards (streaming-RL stabilisers)."""

from __future__ import annotations

import numpy as np


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
        if self.count[0] >= self.window:
            # keep the weight of window - 1 samples: the new one makes it window again
            self.m2 *= (self.window - 1.0) / self.count[0]
            self.count[0] = self.window - 1.0
        self.count += 1.0
        delta = x - self.mean
        self.mean += delta / self.count[0]
        self.m2 += delta * (x - self.mean)

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

    def scale(self, reward: float, episode_end: bool) -> float:
        self.ret[0] = self.gamma * self.ret[0] + reward
        self.stats.update(self.ret)
        if episode_end:
            self.ret[0] = 0.0
        return reward / float(np.sqrt(self.stats.var[0] + 1e-8))
