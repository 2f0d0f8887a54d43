"""Sensor encoding: numeric sensor readings -> input events (channel, signed change).

ROS-free (numpy only). The encoder nodes convert messages to arrays at the boundary and call
these functions and classes with explicit timestamps; nothing here reads a clock.

Units and conventions follow REP-103 (metres, radians, m/s, rad/s; roll/pitch/yaw are the ZYX
intrinsic Euler angles) and REP-117 for range readings (+inf: no return within range, -inf: too
close, NaN: invalid measurement).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "SendOnDeltaEncoder",
    "PopulationEncoder",
    "EventCameraEncoder",
    "laser_scan_sectors",
    "range_feature",
    "imu_features",
    "odometry_features",
    "yaw_from_quaternion",
    "wrap_angle",
    "joint_features",
    "rgb_to_gray",
]

# Relative tolerance on the rate-limit period, so that samples taken exactly one period apart
# (e.g. t = 0.2 and 0.3 at 10 Hz) are not suppressed by floating-point rounding.
_PERIOD_RTOL = 1e-9
# Tolerance on threshold-crossing counts (exact multiples of the contrast threshold count fully).
_COUNT_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# Send-on-delta (level-crossing) encoding
# --------------------------------------------------------------------------------------------


class SendOnDeltaEncoder:
    """Emit an event per channel when its value moved by at least its threshold since last sent.

    ``sent`` holds the last value sent per channel (NaN: never sent). The first time a channel
    has a finite, non-zero value it is always emitted with delta = value (the receiver starts
    from 0). Afterwards a channel is emitted when ``|value - sent| >= threshold``; the delta is
    ``value - sent`` and ``sent`` becomes ``value``, so deltas sum exactly to the current value.

    Rate limit: a channel emits at most once per ``1 / max_rate_hz`` seconds (``max_rate_hz``
    <= 0 or inf: unlimited). A change suppressed by the limit stays pending and is sent, as the
    full accumulated delta to the then current value, at the first call the limit allows (even
    if that delta has meanwhile fallen below the threshold, provided it is non-zero). If time
    goes backwards (simulation reset, bag loop) the limit is released rather than stalling.

    Non-finite values (NaN, +-inf) are never emitted: such channels are skipped for the call,
    keep their state, and are counted in ``last_skipped``.
    """

    def __init__(self, n_channels: int, thresholds: float | np.ndarray = 0.0,
                 max_rate_hz: float = 0.0) -> None:
        n_channels = int(n_channels)
        if n_channels < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels}")
        self.n_channels: int = n_channels
        self.configure(thresholds, max_rate_hz)
        self.sent: np.ndarray = np.full(n_channels, np.nan)
        self.last_emit_s: np.ndarray = np.full(n_channels, -np.inf)
        self.pending: np.ndarray = np.zeros(n_channels, dtype=bool)
        self.last_skipped: int = 0

    @staticmethod
    def checked_settings(n_channels: int, thresholds: float | np.ndarray,
                         max_rate_hz: float) -> tuple[np.ndarray, float]:
        """Per-channel thresholds and the rate limit, validated; raises ValueError if invalid."""
        thr = np.asarray(thresholds, dtype=np.float64)
        if thr.ndim == 0:
            thr = np.full(n_channels, float(thr))
        if thr.shape != (n_channels,):
            raise ValueError(f"thresholds must be a scalar or have shape ({n_channels},), "
                             f"got {thr.shape}")
        if not np.all(np.isfinite(thr)) or np.any(thr < 0.0):
            raise ValueError("thresholds must be finite and >= 0")
        rate = float(max_rate_hz)
        if math.isnan(rate):
            raise ValueError("max_rate_hz must not be NaN (<= 0 or inf: unlimited)")
        return thr, rate

    def configure(self, thresholds: float | np.ndarray, max_rate_hz: float) -> None:
        """Set the thresholds and the rate limit (also live); raises ValueError if invalid."""
        thr, rate = self.checked_settings(self.n_channels, thresholds, max_rate_hz)
        self.thresholds: np.ndarray = thr
        self.max_rate_hz: float = rate
        self.min_interval_s: float = 1.0 / rate if 0.0 < rate < math.inf else 0.0

    def reset(self) -> None:
        """Forget everything sent: the next finite non-zero value of each channel is emitted."""
        self.sent.fill(np.nan)
        self.last_emit_s.fill(-np.inf)
        self.pending.fill(False)
        self.last_skipped = 0

    def encode(self, values: np.ndarray, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(channels int32, deltas float64)`` of the events due at ``time_s``."""
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if x.size != self.n_channels:
            raise ValueError(f"expected {self.n_channels} values, got {x.size}")
        t = float(time_s)
        if not math.isfinite(t):
            raise ValueError(f"time_s must be finite, got {time_s!r}")

        finite = np.isfinite(x)
        self.last_skipped = int(finite.size - np.count_nonzero(finite))
        never = np.isnan(self.sent)
        with np.errstate(invalid="ignore"):
            delta = x - np.where(never, 0.0, self.sent)
            moved = delta != 0.0
            changed = moved & (never | (np.abs(delta) >= self.thresholds))
        want = finite & (changed | (self.pending & moved))

        if self.min_interval_s > 0.0:
            elapsed = t - self.last_emit_s
            allowed = (elapsed >= self.min_interval_s * (1.0 - _PERIOD_RTOL)) | (elapsed < 0.0)
        else:
            allowed = np.ones(self.n_channels, dtype=bool)
        emit = want & allowed
        # Suppressed changes wait; channels that are emitted now, or whose value came back to
        # what was sent, have nothing pending. Non-finite channels keep their pending state.
        self.pending = np.where(finite, want & ~allowed, self.pending)

        channels = np.flatnonzero(emit).astype(np.int32)
        deltas = delta[channels].astype(np.float64)
        self.sent[channels] = x[channels]
        self.last_emit_s[channels] = t
        return channels, deltas


# --------------------------------------------------------------------------------------------
# Population (Gaussian receptive-field) coding
# --------------------------------------------------------------------------------------------


class PopulationEncoder:
    """Gaussian receptive fields: each scalar in [low, high] -> ``n_fields`` activations.

    Centres are evenly spaced from ``low`` to ``high``; sigma is ``width`` times the spacing
    between centres (the spacing is ``high - low`` when ``n_fields == 1``, with the single centre
    in the middle). Inputs are clipped to [low, high]; NaN inputs give NaN activations (which
    SendOnDeltaEncoder skips).
    """

    def __init__(self, low: float, high: float, n_fields: int, width: float = 1.0) -> None:
        low, high, n_fields, width = float(low), float(high), int(n_fields), float(width)
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            raise ValueError(f"need finite low < high, got low={low}, high={high}")
        if n_fields < 1:
            raise ValueError(f"n_fields must be >= 1, got {n_fields}")
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"width must be finite and > 0, got {width}")
        self.low: float = low
        self.high: float = high
        self.n_fields: int = n_fields
        if n_fields == 1:
            self.centres: np.ndarray = np.array([0.5 * (low + high)])
            self.spacing: float = high - low
        else:
            self.centres = np.linspace(low, high, n_fields)
            self.spacing = (high - low) / (n_fields - 1)
        self.sigma: float = width * self.spacing

    def n_outputs(self, n_scalars: int) -> int:
        """Number of activations produced for ``n_scalars`` inputs."""
        return int(n_scalars) * self.n_fields

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Activations, scalar-major: ``out[i * n_fields + k]`` is field k of scalar i."""
        v = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), self.low, self.high)
        z = (v[:, None] - self.centres[None, :]) / self.sigma
        return np.exp(-0.5 * z * z).reshape(-1)


# --------------------------------------------------------------------------------------------
# Feature extractors (pure functions)
# --------------------------------------------------------------------------------------------


def _check_range_limits(range_min: float, range_max: float) -> tuple[float, float]:
    lo, hi = float(range_min), float(range_max)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"need finite range_min < range_max, got {range_min}, {range_max}")
    return lo, hi


def _rep117_ranges(r: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map readings to usable ranges per REP-117; invalid readings become +inf (ignored)."""
    out = r.copy()
    out[np.isposinf(r)] = hi           # no return within range: as far as the sensor sees
    out[np.isneginf(r)] = lo           # too close to measure
    with np.errstate(invalid="ignore"):
        out[np.isnan(r) | (np.isfinite(r) & (r < lo))] = np.inf    # invalid: ignore
        out[np.isfinite(r) & (r > hi)] = hi
    return out


def laser_scan_sectors(ranges: np.ndarray, range_min: float, range_max: float,
                       n_sectors: int, clip_range_m: float = math.inf) -> np.ndarray:
    """Normalised minimum range per angular sector, in [0, 1] (0: touching, 1: free).

    ``ranges`` is split into ``n_sectors`` contiguous parts as ``np.array_split`` does (the
    first ``len % n_sectors`` parts are one longer). REP-117: +inf -> range_max (1.0), -inf ->
    range_min (0.0), NaN and finite readings below range_min are ignored, finite readings above
    range_max count as 1.0. A sector without a valid reading is free (1.0).

    ``clip_range_m`` (metres, > range_min) normalises over ``range_min .. min(range_max,
    clip_range_m)`` instead: readings beyond it count as free (1.0), and the whole [0, 1] scale
    resolves the space near the robot, where obstacles matter (a long-range lidar otherwise
    squeezes the last metre into a few percent of the scale).
    """
    r = np.asarray(ranges, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"ranges must be 1-D, got shape {r.shape}")
    if r.size == 0:
        raise ValueError("ranges is empty")
    n = int(n_sectors)
    if n < 1 or n > r.size:
        raise ValueError(f"n_sectors must be in [1, {r.size}], got {n_sectors}")
    lo, hi = _check_range_limits(range_min, range_max)
    clip = float(clip_range_m)
    if math.isnan(clip) or clip <= lo:
        raise ValueError(f"clip_range_m must be > range_min ({lo}), got {clip_range_m}")
    usable = _rep117_ranges(r, lo, hi)
    q, extra = divmod(r.size, n)
    sizes = np.full(n, q, dtype=np.intp)
    sizes[:extra] += 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    nearest = np.minimum.reduceat(usable, starts)
    nearest[~np.isfinite(nearest)] = hi
    hi = min(hi, clip)
    return np.clip((nearest - lo) / (hi - lo), 0.0, 1.0)


def range_feature(range_value: float, min_range: float, max_range: float) -> float:
    """One range reading (sonar, IR) normalised to [0, 1] by the scan's REP-117 rules."""
    lo, hi = _check_range_limits(min_range, max_range)
    usable = float(_rep117_ranges(np.array([float(range_value)]), lo, hi)[0])
    if not math.isfinite(usable):
        return 1.0
    return float(min(1.0, max(0.0, (usable - lo) / (hi - lo))))


def _finite_vector(name: str, v, size: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size != size:
        raise ValueError(f"{name} must have {size} elements, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values: {a.tolist()}")
    return a


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rotation about z, ZYX convention) of a quaternion; need not be normalised."""
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


def _roll_pitch_from_quaternion(q: np.ndarray) -> tuple[float, float]:
    x, y, z, w = q / np.linalg.norm(q)
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(min(1.0, max(-1.0, 2.0 * (w * y - z * x))))
    return roll, pitch


def imu_features(angular_velocity: Sequence[float] | np.ndarray,
                 linear_acceleration: Sequence[float] | np.ndarray,
                 orientation: Optional[Sequence[float] | np.ndarray] = None) -> np.ndarray:
    """``[wx, wy, wz, ax, ay, az, roll, pitch]`` from an IMU sample (rad/s, m/s^2, rad).

    ``orientation`` is a quaternion (x, y, z, w). When it is None or all zeros (orientation not
    provided), roll and pitch are estimated from the gravity direction in the acceleration:
    roll = atan2(ay, az), pitch = atan2(-ax, sqrt(ay^2 + az^2)). Raises ValueError on
    non-finite input.
    """
    w = _finite_vector("angular_velocity", angular_velocity, 3)
    a = _finite_vector("linear_acceleration", linear_acceleration, 3)
    q = None if orientation is None else _finite_vector("orientation", orientation, 4)
    if q is None or not np.any(q):
        roll = math.atan2(a[1], a[2])
        pitch = math.atan2(-a[0], math.hypot(a[1], a[2]))
    else:
        roll, pitch = _roll_pitch_from_quaternion(q)
    return np.concatenate((w, a, [roll, pitch]))


def wrap_angle(angle: float) -> float:
    """Wrap an angle in radians to (-pi, pi]."""
    return math.pi - (math.pi - float(angle)) % (2.0 * math.pi)


def odometry_features(linear_x: float, angular_z: float,
                      pose_xy: Sequence[float] | np.ndarray, yaw: float,
                      goal_xy: Optional[Sequence[float] | np.ndarray] = None) -> np.ndarray:
    """``[v, w]``, plus ``[distance, bearing]`` to ``goal_xy`` when a goal is given.

    The bearing is the goal direction relative to the heading, wrapped to (-pi, pi] (0 when the
    robot is on the goal). Raises ValueError on non-finite input.
    """
    vw = _finite_vector("velocity", [linear_x, angular_z], 2)
    if goal_xy is None:
        return vw
    p = _finite_vector("pose_xy", pose_xy, 2)
    g = _finite_vector("goal_xy", goal_xy, 2)
    heading = float(_finite_vector("yaw", [yaw], 1)[0])
    dx, dy = g - p
    distance = math.hypot(dx, dy)
    bearing = wrap_angle(math.atan2(dy, dx) - heading) if distance > 0.0 else 0.0
    return np.concatenate((vw, [distance, bearing]))


def joint_features(names: Sequence[str], positions: Sequence[float] | np.ndarray,
                   velocities: Sequence[float] | np.ndarray,
                   selected: Sequence[str]) -> np.ndarray:
    """``[pos_0, vel_0, pos_1, vel_1, ...]`` for the ``selected`` joints, in that order.

    ``velocities`` may be empty (velocity 0). Raises KeyError naming a selected joint missing
    from ``names``, ValueError if positions/velocities do not match ``names`` in length.
    """
    names = list(names)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    vel = np.asarray(velocities, dtype=np.float64).reshape(-1)
    if pos.size != len(names):
        raise ValueError(f"{pos.size} positions for {len(names)} joint names")
    if vel.size not in (0, len(names)):
        raise ValueError(f"{vel.size} velocities for {len(names)} joint names")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    out = np.zeros(2 * len(selected), dtype=np.float64)
    for k, name in enumerate(selected):
        if name not in index:
            raise KeyError(f"joint {name!r} not in joint state (have {names})")
        i = index[name]
        out[2 * k] = pos[i]
        if vel.size:
            out[2 * k + 1] = vel[i]
    return out


# --------------------------------------------------------------------------------------------
# Event-camera emulation
# --------------------------------------------------------------------------------------------


def rgb_to_gray(frame: np.ndarray) -> np.ndarray:
    """Luma of an H x W x 3 RGB frame (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B), float64.

    Keeps the input's scale (0..255 for uint8). A fourth (alpha) channel is ignored.
    """
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {f.shape}")
    rgb = f[..., :3].astype(np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def _block_edges(size: int, blocks: int) -> np.ndarray:
    """Start indices of ``blocks`` contiguous, near-equal blocks over ``size`` elements."""
    return (np.arange(blocks, dtype=np.intp) * size) // blocks


class EventCameraEncoder:
    """Emulate an event camera (DVS) on a stream of grayscale frames, on a coarse grid.

    Each frame (height x width, values >= 0) is averaged over grid cells (equal blocks when the
    shape divides, otherwise near-equal blocks summed with ``np.add.reduceat``), then
    ``L = log(I + eps)`` per cell. Integer frames are scaled to [0, 1] by their dtype's maximum;
    float frames are taken as they are (typically [0, 1]). Against a per-cell reference, a
    change of ``n`` whole contrast thresholds emits one event on the cell's channel
    (``row * grid_w + col``) with value ``n`` (positive: ON, brighter; negative: OFF, darker),
    and the reference moves by ``n * contrast_threshold``. The first frame only sets the
    reference.
    """

    def __init__(self, height: int, width: int, grid_h: int, grid_w: int,
                 contrast_threshold: float = 0.2, eps: float = 1e-2) -> None:
        height, width, grid_h, grid_w = int(height), int(width), int(grid_h), int(grid_w)
        if height < 1 or width < 1:
            raise ValueError(f"frame size must be positive, got {height} x {width}")
        if not (1 <= grid_h <= height and 1 <= grid_w <= width):
            raise ValueError(f"grid {grid_h} x {grid_w} must be within 1 x 1 .. "
                             f"{height} x {width}")
        c, e = float(contrast_threshold), float(eps)
        if not (math.isfinite(c) and c > 0.0):
            raise ValueError(f"contrast_threshold must be > 0, got {contrast_threshold}")
        if not (math.isfinite(e) and e > 0.0):
            raise ValueError(f"eps must be > 0, got {eps}")
        self.height, self.width = height, width
        self.grid_h, self.grid_w = grid_h, grid_w
        self.contrast_threshold: float = c
        self.eps: float = e
        self._even = height % grid_h == 0 and width % grid_w == 0
        self._row_edges = _block_edges(height, grid_h)
        self._col_edges = _block_edges(width, grid_w)
        rows = np.diff(np.append(self._row_edges, height))
        cols = np.diff(np.append(self._col_edges, width))
        self._cell_area = np.outer(rows, cols).astype(np.float64)
        self.reference: Optional[np.ndarray] = None

    @property
    def n_channels(self) -> int:
        """One channel per grid cell."""
        return self.grid_h * self.grid_w

    def reset(self) -> None:
        """Forget the reference: the next frame only initialises it."""
        self.reference = None

    def downsample(self, frame: np.ndarray) -> np.ndarray:
        """Mean intensity per grid cell (grid_h x grid_w), after dtype scaling."""
        f = np.asarray(frame)
        if f.shape != (self.height, self.width):
            raise ValueError(f"expected a {self.height} x {self.width} grayscale frame, "
                             f"got shape {f.shape}")
        if np.issubdtype(f.dtype, np.integer):
            img = f.astype(np.float64) / float(np.iinfo(f.dtype).max)
        else:
            img = f.astype(np.float64)
        if not np.all(np.isfinite(img)) or np.any(img < 0.0):
            raise ValueError("frame values must be finite and >= 0")
        if self._even:
            bh, bw = self.height // self.grid_h, self.width // self.grid_w
            return img.reshape(self.grid_h, bh, self.grid_w, bw).mean(axis=(1, 3))
        sums = np.add.reduceat(np.add.reduceat(img, self._row_edges, axis=0),
                               self._col_edges, axis=1)
        return sums / self._cell_area

    def encode(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(channels int32, values float64)``: signed threshold-crossing counts."""
        log_i = np.log(self.downsample(frame) + self.eps).reshape(-1)
        if self.reference is None:
            self.reference = log_i
            return np.zeros(0, np.int32), np.zeros(0, np.float64)
        diff = log_i - self.reference
        counts = np.sign(diff) * np.floor(np.abs(diff) / self.contrast_threshold + _COUNT_TOL)
        channels = np.flatnonzero(counts).astype(np.int32)
        values = counts[channels].astype(np.float64)
        self.reference[channels] += values * self.contrast_threshold
        return channels, values
