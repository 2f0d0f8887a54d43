"""Sensor encoders: send-on-delta, population coding, feature extractors, event camera."""

import math

import numpy as np
import pytest

from ant_ros.core.encoders import (
    EventCameraEncoder,
    PopulationEncoder,
    SendOnDeltaEncoder,
    imu_features,
    joint_features,
    laser_scan_sectors,
    odometry_features,
    range_feature,
    rgb_to_gray,
    wrap_angle,
    yaw_from_quaternion,
)

INF = math.inf
NAN = math.nan


def _quat_from_rpy(roll, pitch, yaw):
    """Quaternion (x, y, z, w) of ZYX Euler angles (as tf2's setRPY)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy)


# ---- SendOnDeltaEncoder --------------------------------------------------------------------

def test_send_on_delta_first_emission_and_thresholds():
    enc = SendOnDeltaEncoder(3, thresholds=[0.5, 0.25, 1.0])   # binary-exact values below
    assert np.all(np.isnan(enc.sent))
    ch, d = enc.encode(np.array([0.25, 0.0, -3.0]), 0.0)
    # First time: every non-zero channel, delta = value, even below the threshold.
    assert ch.dtype == np.int32 and d.dtype == np.float64
    assert ch.tolist() == [0, 2]
    np.testing.assert_allclose(d, [0.25, -3.0])
    assert math.isnan(enc.sent[1])                      # a zero value is not "sent"
    ch, d = enc.encode(np.array([0.5, 0.125, -2.5]), 0.1)
    # ch0 moved 0.25 < 0.5: no; ch1 first non-zero: yes; ch2 moved 0.5 < 1.0: no.
    assert ch.tolist() == [1]
    np.testing.assert_allclose(d, [0.125])
    ch, d = enc.encode(np.array([0.75, 0.375, -2.0]), 0.2)
    # ch0 0.5 >= 0.5, ch1 0.25 >= 0.25 and ch2 1.0 >= 1.0: thresholds are inclusive.
    assert ch.tolist() == [0, 1, 2]
    np.testing.assert_allclose(d, [0.5, 0.25, 1.0])
    np.testing.assert_allclose(enc.sent, [0.75, 0.375, -2.0])


def test_send_on_delta_scalar_threshold_deltas_sum_to_value():
    enc = SendOnDeltaEncoder(2, thresholds=0.3)
    total = np.zeros(2)
    values = [[1.0, 0.0], [1.2, 0.4], [1.4, 0.45], [0.9, -1.0]]
    for t, v in enumerate(values):
        ch, d = enc.encode(np.array(v), float(t))
        np.add.at(total, ch, d)
    np.testing.assert_allclose(total, enc.sent)
    np.testing.assert_allclose(enc.sent, [0.9, -1.0])


def test_send_on_delta_zero_threshold_does_not_repeat():
    enc = SendOnDeltaEncoder(2, thresholds=0.0)
    enc.encode(np.array([1.0, 2.0]), 0.0)
    ch, _ = enc.encode(np.array([1.0, 2.5]), 1.0)
    assert ch.tolist() == [1]


def test_send_on_delta_rate_limit_accumulates_pending_change():
    enc = SendOnDeltaEncoder(2, thresholds=0.5, max_rate_hz=10.0)   # one event / 0.1 s
    ch, d = enc.encode(np.array([1.0, 1.0]), 0.0)
    assert ch.tolist() == [0, 1]
    ch, d = enc.encode(np.array([2.0, 1.0]), 0.05)                 # ch0 too soon
    assert ch.size == 0
    ch, d = enc.encode(np.array([2.2, 1.0]), 0.08)                 # still too soon
    assert ch.size == 0
    ch, d = enc.encode(np.array([2.3, 1.0]), 0.1)                  # allowed: full delta
    assert ch.tolist() == [0]
    np.testing.assert_allclose(d, [1.3])
    # Pending change delivered even if it fell below the threshold meanwhile.
    enc.encode(np.array([3.0, 1.0]), 0.15)
    ch, d = enc.encode(np.array([2.5, 1.0]), 0.2)
    assert ch.tolist() == [0]
    np.testing.assert_allclose(d, [0.2])
    # Exactly one period later despite float rounding (0.3 - 0.2 < 0.1 in binary).
    ch, _ = enc.encode(np.array([5.0, 1.0]), 0.3)
    assert ch.tolist() == [0]


@pytest.mark.parametrize("rate", [0.0, -1.0, math.inf])
def test_send_on_delta_unlimited_rate(rate):
    enc = SendOnDeltaEncoder(1, thresholds=0.1, max_rate_hz=rate)
    for k in range(5):
        ch, _ = enc.encode(np.array([float(k + 1)]), 0.0)
        assert ch.tolist() == [0]


def test_send_on_delta_skips_and_counts_non_finite():
    enc = SendOnDeltaEncoder(4, thresholds=0.1)
    ch, d = enc.encode(np.array([NAN, 1.0, INF, -INF]), 0.0)
    assert ch.tolist() == [1] and enc.last_skipped == 3
    assert np.all(np.isfinite(d))
    assert math.isnan(enc.sent[0]) and math.isnan(enc.sent[2])
    ch, d = enc.encode(np.array([0.5, NAN, 2.0, 1.0]), 1.0)
    assert enc.last_skipped == 1
    assert ch.tolist() == [0, 2, 3]
    np.testing.assert_allclose(d, [0.5, 2.0, 1.0])
    assert enc.sent[1] == 1.0                           # kept while the reading was NaN
    ch, d = enc.encode(np.array([0.5, 1.5, 2.0, 1.0]), 2.0)
    assert enc.last_skipped == 0 and ch.tolist() == [1]
    np.testing.assert_allclose(d, [0.5])


def test_send_on_delta_rejects_bad_input():
    with pytest.raises(ValueError):
        SendOnDeltaEncoder(3, thresholds=[0.1, 0.2])
    with pytest.raises(ValueError):
        SendOnDeltaEncoder(2, thresholds=-0.1)
    enc = SendOnDeltaEncoder(2)
    with pytest.raises(ValueError):
        enc.encode(np.zeros(3), 0.0)
    with pytest.raises(ValueError):
        enc.encode(np.zeros(2), NAN)


# ---- PopulationEncoder ---------------------------------------------------------------------

def test_population_peak_at_matching_field():
    pop = PopulationEncoder(-1.0, 1.0, 5)               # centres -1, -0.5, 0, 0.5, 1
    np.testing.assert_allclose(pop.centres, [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert pop.sigma == pytest.approx(0.5)
    out = pop.transform(np.array([0.5, -1.0, 7.0]))
    assert out.shape == (15,)
    fields = out.reshape(3, 5)
    assert fields.argmax(axis=1).tolist() == [3, 0, 4]  # 7.0 is clipped to 1.0
    assert fields[0, 3] == pytest.approx(1.0)
    assert fields[0, 2] == pytest.approx(math.exp(-0.5))  # one sigma away
    assert fields[0, 0] == pytest.approx(math.exp(-0.5 * 9))
    assert np.all((out > 0) & (out <= 1))


def test_population_width_is_sigma_in_centre_spacings():
    wide = PopulationEncoder(-1.0, 1.0, 5, width=2.0)
    assert wide.spacing == pytest.approx(0.5) and wide.sigma == pytest.approx(1.0)
    assert wide.transform(np.array([0.5]))[1] == pytest.approx(math.exp(-0.5))  # 2 centres off
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="width"):
            PopulationEncoder(-1.0, 1.0, 5, width=bad)


def test_population_feeds_send_on_delta_and_validates():
    pop = PopulationEncoder(0.0, 1.0, 3)
    enc = SendOnDeltaEncoder(pop.n_outputs(2), thresholds=0.05)
    ch, _ = enc.encode(pop.transform(np.array([0.0, 1.0])), 0.0)
    assert ch.size == 6
    with pytest.raises(ValueError):
        PopulationEncoder(1.0, 1.0, 3)
    with pytest.raises(ValueError):
        PopulationEncoder(0.0, 1.0, 0)


# ---- laser_scan_sectors / range_feature ----------------------------------------------------

def test_scan_sectors_min_per_sector_normalised():
    ranges = np.array([5.0, 2.0, 10.0, 10.0, 0.5, 8.0])
    out = laser_scan_sectors(ranges, 0.5, 10.5, 3)
    np.testing.assert_allclose(out, [0.15, 0.95, 0.0])


def test_scan_sectors_uneven_split_like_array_split():
    ranges = np.array([1.0, 9.0, 9.0, 2.0, 9.0, 3.0, 9.0])   # split 3 / 2 / 2
    out = laser_scan_sectors(ranges, 0.0, 10.0, 3)
    np.testing.assert_allclose(out, [0.1, 0.2, 0.3])


def test_scan_sectors_rep117_special_values():
    ranges = np.array([
        NAN, 4.0,       # NaN ignored
        INF, INF,       # no return: range_max -> 1.0
        -INF, 6.0,      # too close: range_min -> 0.0
        0.05, 8.0,      # finite below range_min: invalid, ignored
        25.0, 30.0,     # finite above range_max: 1.0
        NAN, 0.01,      # nothing valid: free
    ])
    out = laser_scan_sectors(ranges, 0.1, 10.1, 6)
    np.testing.assert_allclose(out, [0.39, 1.0, 0.0, 0.79, 1.0, 1.0])
    assert np.all((out >= 0.0) & (out <= 1.0))


def test_scan_sectors_clip_range_resolves_the_near_space():
    ranges = np.array([0.5, 2.0, 3.0, 8.0, INF, 1.0])
    out = laser_scan_sectors(ranges, 0.0, 10.0, 6, clip_range_m=2.0)
    np.testing.assert_allclose(out, [0.25, 1.0, 1.0, 1.0, 1.0, 0.5])  # beyond 2 m: free
    # a clip beyond the sensor's range changes nothing
    np.testing.assert_allclose(laser_scan_sectors(ranges, 0.0, 10.0, 6, clip_range_m=20.0),
                               laser_scan_sectors(ranges, 0.0, 10.0, 6))
    for bad in (0.0, -1.0, NAN):
        with pytest.raises(ValueError):
            laser_scan_sectors(ranges, 0.0, 10.0, 6, clip_range_m=bad)


@pytest.mark.parametrize("ranges, lo, hi, n", [
    ([], 0.1, 10.0, 1),
    ([1.0, 2.0], 0.1, 10.0, 0),
    ([1.0, 2.0], 0.1, 10.0, 3),
    ([1.0, 2.0], 5.0, 5.0, 1),
    ([1.0, 2.0], 6.0, 5.0, 1),
    ([1.0, 2.0], 0.1, INF, 1),
    ([1.0, 2.0], NAN, 10.0, 1),
])
def test_scan_sectors_errors(ranges, lo, hi, n):
    with pytest.raises(ValueError):
        laser_scan_sectors(np.array(ranges, dtype=float), lo, hi, n)


def test_range_feature_rep117():
    assert range_feature(1.0, 0.0, 4.0) == pytest.approx(0.25)
    assert range_feature(INF, 0.2, 4.0) == 1.0
    assert range_feature(-INF, 0.2, 4.0) == 0.0
    assert range_feature(NAN, 0.2, 4.0) == 1.0
    assert range_feature(0.1, 0.2, 4.0) == 1.0          # below min: invalid, treated as free
    assert range_feature(9.0, 0.2, 4.0) == 1.0
    assert range_feature(0.2, 0.2, 4.0) == 0.0
    with pytest.raises(ValueError):
        range_feature(1.0, 4.0, 0.2)


# ---- imu / odometry / joints ---------------------------------------------------------------

def test_imu_roll_pitch_from_quaternion():
    q = _quat_from_rpy(0.3, -0.2, 1.1)
    out = imu_features([0.1, 0.2, 0.3], [1.0, 2.0, 9.0], q)
    assert out.shape == (8,)
    np.testing.assert_allclose(out[:6], [0.1, 0.2, 0.3, 1.0, 2.0, 9.0])
    np.testing.assert_allclose(out[6:], [0.3, -0.2], atol=1e-12)
    # A non-normalised quaternion gives the same angles.
    out2 = imu_features([0, 0, 0], [0, 0, 9.81], 3.0 * np.array(q))
    np.testing.assert_allclose(out2[6:], [0.3, -0.2], atol=1e-12)


@pytest.mark.parametrize("orientation", [None, (0.0, 0.0, 0.0, 0.0)])
def test_imu_roll_pitch_from_gravity(orientation):
    g = 9.81
    roll, pitch = 0.2, -0.4
    # Specific force of a static IMU tilted by roll then pitch (REP-103: +z up reads +g).
    acc = [-g * math.sin(pitch), g * math.cos(pitch) * math.sin(roll),
           g * math.cos(pitch) * math.cos(roll)]
    out = imu_features([0, 0, 0], acc, orientation)
    np.testing.assert_allclose(out[6:], [roll, pitch], atol=1e-12)
    flat = imu_features([0, 0, 0], [0, 0, g], orientation)
    np.testing.assert_allclose(flat[6:], [0.0, 0.0], atol=1e-12)


def test_imu_rejects_non_finite():
    with pytest.raises(ValueError):
        imu_features([0, NAN, 0], [0, 0, 9.8], None)
    with pytest.raises(ValueError):
        imu_features([0, 0, 0], [0, 0, INF], None)
    with pytest.raises(ValueError):
        imu_features([0, 0, 0], [0, 0, 9.8], [0, 0, NAN, 1])


def test_yaw_from_quaternion():
    for yaw in (0.0, 0.7, -2.5, math.pi / 2):
        q = _quat_from_rpy(0.0, 0.0, yaw)
        assert yaw_from_quaternion(*q) == pytest.approx(yaw)
    assert yaw_from_quaternion(*_quat_from_rpy(0.1, 0.2, 1.3)) == pytest.approx(1.3)
    assert wrap_angle(math.pi) == pytest.approx(math.pi)
    assert wrap_angle(-math.pi) == pytest.approx(math.pi)
    assert wrap_angle(3 * math.pi / 2) == pytest.approx(-math.pi / 2)


def test_odometry_features_goal_distance_and_bearing():
    np.testing.assert_allclose(odometry_features(0.5, -0.1, (1.0, 2.0), 0.3), [0.5, -0.1])
    out = odometry_features(0.2, 0.0, (1.0, 1.0), 0.0, (4.0, 5.0))
    np.testing.assert_allclose(out, [0.2, 0.0, 5.0, math.atan2(4.0, 3.0)])
    # Goal straight ahead while facing +y.
    out = odometry_features(0.0, 0.0, (0.0, 0.0), math.pi / 2, (0.0, 2.0))
    np.testing.assert_allclose(out[2:], [2.0, 0.0], atol=1e-12)


def test_odometry_bearing_wraps_around():
    # Heading 170 deg, goal at -170 deg: the goal is 20 deg to the left, not 340 to the right.
    h = math.radians(170.0)
    goal = (math.cos(math.radians(-170.0)), math.sin(math.radians(-170.0)))
    out = odometry_features(0.0, 0.0, (0.0, 0.0), h, goal)
    assert out[3] == pytest.approx(math.radians(20.0))
    out = odometry_features(0.0, 0.0, (0.0, 0.0), -h, (goal[0], -goal[1]))
    assert out[3] == pytest.approx(math.radians(-20.0))
    # Directly behind: +pi, never -pi.
    out = odometry_features(0.0, 0.0, (0.0, 0.0), 0.0, (-3.0, 0.0))
    assert out[3] == pytest.approx(math.pi)
    assert odometry_features(0.0, 0.0, (1.0, 1.0), 2.0, (1.0, 1.0))[3] == 0.0


def test_joint_features_selection_and_errors():
    names = ["wheel_left", "arm", "wheel_right"]
    out = joint_features(names, [0.1, 0.2, 0.3], [1.0, 2.0, 3.0], ["wheel_right", "arm"])
    np.testing.assert_allclose(out, [0.3, 3.0, 0.2, 2.0])
    out = joint_features(names, [0.1, 0.2, 0.3], [], ["wheel_left"])
    np.testing.assert_allclose(out, [0.1, 0.0])
    with pytest.raises(KeyError, match="gripper"):
        joint_features(names, [0.1, 0.2, 0.3], [], ["arm", "gripper"])
    with pytest.raises(ValueError):
        joint_features(names, [0.1, 0.2], [], ["arm"])
    with pytest.raises(ValueError):
        joint_features(names, [0.1, 0.2, 0.3], [1.0], ["arm"])


# ---- EventCameraEncoder / rgb_to_gray ------------------------------------------------------

def test_event_camera_on_off_and_unchanged():
    cam = EventCameraEncoder(8, 8, 4, 4, contrast_threshold=0.2, eps=1e-2)
    frame = np.full((8, 8), 0.2)
    ch, v = cam.encode(frame)
    assert ch.size == 0 and v.size == 0                  # first frame only initialises
    ch, v = cam.encode(frame.copy())
    assert ch.size == 0                                  # unchanged: nothing
    brighter = frame.copy()
    brighter[2:4, 4:6] = 0.4                             # grid cell (1, 2) -> channel 6
    ch, v = cam.encode(brighter)
    assert ch.dtype == np.int32 and v.dtype == np.float64
    assert ch.tolist() == [6]
    n_on = math.floor(math.log(0.41 / 0.21) / 0.2)
    assert v.tolist() == [float(n_on)] and n_on == 3
    darker = brighter.copy()
    darker[6:8, 0:2] = 0.05                              # cell (3, 0) -> channel 12
    ch, v = cam.encode(darker)
    assert ch.tolist() == [12]
    assert v[0] < 0 and v[0] == -math.floor(math.log(0.21 / 0.06) / 0.2)
    # Residual below one threshold is remembered: returning to 0.2 gives ON on 12, OFF on 6.
    ch, v = cam.encode(frame)
    assert ch.tolist() == [6, 12] and v[0] < 0 < v[1]


def test_event_camera_uint8_uneven_grid_and_shape_error():
    cam = EventCameraEncoder(5, 7, 2, 3, contrast_threshold=0.1)
    assert cam.n_channels == 6
    frame = np.full((5, 7), 100, dtype=np.uint8)
    np.testing.assert_allclose(cam.downsample(frame), np.full((2, 3), 100 / 255))
    cam.encode(frame)
    frame2 = frame.copy()
    frame2[:2, :2] = 200                                  # the whole of cell (0, 0)
    ch, v = cam.encode(frame2)
    assert ch.tolist() == [0] and v[0] > 0
    with pytest.raises(ValueError):
        cam.encode(np.zeros((7, 5), np.uint8))
    with pytest.raises(ValueError):
        cam.encode(np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(ValueError):
        EventCameraEncoder(4, 4, 5, 2)


def test_rgb_to_gray_bt601():
    img = np.zeros((2, 2, 3), dtype=np.uint8)
    img[0, 0] = (255, 0, 0)
    img[0, 1] = (0, 255, 0)
    img[1, 0] = (0, 0, 255)
    img[1, 1] = (255, 255, 255)
    gray = rgb_to_gray(img)
    assert gray.shape == (2, 2) and gray.dtype == np.float64
    np.testing.assert_allclose(gray, [[0.299 * 255, 0.587 * 255], [0.114 * 255, 255.0]])
    with pytest.raises(ValueError):
        rgb_to_gray(np.zeros((2, 2), np.uint8))
