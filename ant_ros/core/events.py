"""Input events: the records a spike packet carries (channel, time, signed value)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class InputError(ValueError):
    """Input the network refuses; raised before any state is changed."""


# One event as it travels in a spike packet: time offset from the packet stamp in nanoseconds.
EVENT_DTYPE = np.dtype([("channel", "<u4"), ("offset_ns", "<u4"), ("value", "<f4")])


def packet_precision(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to the precision a spike packet carries (float32)."""
    return np.asarray(values).astype(np.float32).astype(np.float64)


@dataclass(frozen=True)
class EventBatch:
    """Events with absolute times in seconds, in arrival order."""

    channel: np.ndarray
    time_s: np.ndarray
    value: np.ndarray

    @classmethod
    def empty(cls) -> "EventBatch":
        return cls(np.zeros(0, np.int32), np.zeros(0, np.float64), np.zeros(0, np.float64))

    @classmethod
    def from_arrays(cls, channel, time_s, value) -> "EventBatch":
        channel = np.asarray(channel)
        time_s = np.asarray(time_s, dtype=np.float64)
        value = np.asarray(value, dtype=np.float64)
        if not (channel.ndim == time_s.ndim == value.ndim == 1
                and channel.size == time_s.size == value.size):
            raise InputError("event arrays must be 1-D and of equal length "
                             f"(got {channel.shape}, {time_s.shape}, {value.shape})")
        if channel.size and not np.issubdtype(channel.dtype, np.integer):
            raise InputError(f"event channels must be integers, got {channel.dtype}")
        return cls(channel.astype(np.int64, copy=False), time_s, value)

    def __len__(self) -> int:
        return int(self.channel.size)

    def validate(self, n_channels: int) -> None:
        """Refuse unknown channels and non-finite times or values."""
        if len(self) == 0:
            return
        if self.channel.min() < 0 or self.channel.max() >= n_channels:
            bad = self.channel[(self.channel < 0) | (self.channel >= n_channels)][0]
            raise InputError(f"unknown input channel {bad} (the network has {n_channels})")
        if not np.all(np.isfinite(self.value)):
            raise InputError("event values must be finite (got NaN or inf)")
        if not np.all(np.isfinite(self.time_s)):
            raise InputError("event times must be finite")
