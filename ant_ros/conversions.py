"""The one boundary between ROS messages and numpy arrays.

Spike packet (format version 1): a ``sensor_msgs/PointCloud2`` with ``height = 1``,
``width = number of events`` and exactly these fields, little-endian, ``point_step = 12``:

=========  ======  =======  ===================================================
field      offset  type     meaning
=========  ======  =======  ===================================================
channel    0       UINT32   input channel id
offset_ns  4       UINT32   time of the event after ``header.stamp``, nanoseconds
value      8       FLOAT32  signed change of the channel (the delta)
=========  ======  =======  ===================================================

The field list is the version: a decoder accepts exactly this layout and refuses anything else,
and a later version changes the field list. PointCloud2 is a standard, stamped, binary message
that describes its own layout, so rosbag, Foxglove and ``ros2 topic echo`` can record, plot and
inspect packets without a custom message package, and decoding is a zero-copy numpy view.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist
from sensor_msgs.msg import PointCloud2, PointField

from .core.events import EVENT_DTYPE

SPIKE_PACKET_VERSION = 1
_SPIKE_FIELDS = (("channel", 0, PointField.UINT32), ("offset_ns", 4, PointField.UINT32),
                 ("value", 8, PointField.FLOAT32))


class PacketError(ValueError):
    """A message that is not a valid spike packet of the supported version."""


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def make_spike_packet(stamp: Time, frame_id: str, channels: np.ndarray, offsets_ns: np.ndarray,
                      values: np.ndarray) -> PointCloud2:
    """Pack events into a version-1 spike packet."""
    events = np.empty(len(channels), EVENT_DTYPE)
    events["channel"] = channels
    events["offset_ns"] = offsets_ns
    events["value"] = values
    msg = PointCloud2()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height = 1
    msg.width = int(events.size)
    msg.fields = [PointField(name=n, offset=o, datatype=t, count=1) for n, o, t in _SPIKE_FIELDS]
    msg.is_bigendian = False
    msg.point_step = EVENT_DTYPE.itemsize
    msg.row_step = EVENT_DTYPE.itemsize * msg.width
    msg.data = events.tobytes()
    msg.is_dense = True
    return msg


def read_spike_packet(msg: PointCloud2) -> np.ndarray:
    """The packet's events as a structured array viewing the message buffer (no copy).

    Raises PacketError if the layout is not spike packet version 1 or the sizes disagree.
    """
    layout = tuple((f.name, f.offset, f.datatype) for f in msg.fields)
    if layout != _SPIKE_FIELDS or any(f.count != 1 for f in msg.fields):
        raise PacketError(f"not a version-{SPIKE_PACKET_VERSION} spike packet: fields "
                          f"{[f.name for f in msg.fields]}")
    if msg.is_bigendian or msg.point_step != EVENT_DTYPE.itemsize or msg.height not in (0, 1):
        raise PacketError("spike packets are little-endian, height 1, point_step 12")
    if len(msg.data) != msg.width * EVENT_DTYPE.itemsize:
        raise PacketError(f"packet data has {len(msg.data)} bytes for {msg.width} events")
    return np.frombuffer(msg.data, dtype=EVENT_DTYPE)


def as_float_array(values) -> np.ndarray:
    """A float64 array from a message sequence field (array.array or list)."""
    return np.asarray(values, dtype=np.float64)


def twist_from_action(action: np.ndarray) -> Twist:
    """[linear x (m/s), angular z (rad/s)] as a Twist (REP-103: x forward, z up)."""
    msg = Twist()
    msg.linear.x = float(action[0])
    msg.angular.z = float(action[1])
    return msg


def action_from_twist(msg: Twist) -> np.ndarray:
    return np.array([msg.linear.x, msg.angular.z], dtype=np.float64)
