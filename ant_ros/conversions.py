"""The one boundary between ROS messages and numpy arrays.

Spike packet (format version 2): a ``sensor_msgs/PointCloud2`` with ``height = 1``,
``width = number of records`` and exactly these fields, little-endian, ``point_step = 12``:

=========  ======  =======  ===================================================
field      offset  type     meaning
=========  ======  =======  ===================================================
channel    0       UINT32   input channel id
offset_ns  4       UINT32   time of the event after ``header.stamp``, nanoseconds
value      8       FLOAT32  signed change of the channel (the delta)
=========  ======  =======  ===================================================

Version 2 leads every packet with a **packet record**: ``channel = 0xFFFFFFFF``,
``offset_ns`` = the packet's sequence number (counting the sender's packets, modulo 2**32) and
``value`` = K, the number of **keyframe records** that follow it (0 in most packets). Keyframe
records carry channels' absolute values as they stood before this packet (offset 0); the records
after them are the packet's changes, as in every packet. A receiver that sees a gap in the
sequence numbers (a packet lost, or it joined late or restarted) knows its reconstructed inputs
may be wrong and is exact again at the next keyframe (``ant_ros.core.input_sync``); one that
never lost anything finds every keyframe value equal to its own, so keyframes change nothing.

Version 1 is the same without the packet record: its events are deltas with no way to detect a
loss; receivers still accept it (and trust it). A packet is version 2 if its first record is a
packet record; channel 0xFFFFFFFF is never an input.

The field list is fixed: a decoder refuses any other layout. PointCloud2 is a standard, stamped,
binary message that describes its own layout, so rosbag, Foxglove and ``ros2 topic echo`` can
record, plot and inspect packets without a custom message package, and decoding is a zero-copy
numpy view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist
from sensor_msgs.msg import PointCloud2, PointField

from .core.events import EVENT_DTYPE

SPIKE_PACKET_VERSION = 2
PACKET_RECORD_CHANNEL = 0xFFFFFFFF
_SPIKE_FIELDS = (("channel", 0, PointField.UINT32), ("offset_ns", 4, PointField.UINT32),
                 ("value", 8, PointField.FLOAT32))


class PacketError(ValueError):
    """A message that is not a valid spike packet of the supported version."""


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


@dataclass
class SpikePacket:
    """A decoded spike packet: its changes (a view of the message buffer), its sequence number
    (None: a version-1 packet) and its keyframe records (absolute values before the changes;
    None: not a keyframe)."""

    events: np.ndarray
    sequence: int | None
    keyframe: np.ndarray | None


def make_spike_packet(stamp: Time, frame_id: str, channels: np.ndarray, offsets_ns: np.ndarray,
                      values: np.ndarray, sequence: int | None = None,
                      keyframe: tuple[np.ndarray, np.ndarray] | None = None) -> PointCloud2:
    """Pack changes into a spike packet: version 2 with a sequence number (and optionally a
    keyframe: channels and their absolute values before the changes), else version 1."""
    n_key = 0 if keyframe is None else len(keyframe[0])
    if sequence is None and keyframe is not None:
        raise ValueError("a version-1 packet (no sequence number) cannot carry a keyframe")
    lead = 0 if sequence is None else 1 + n_key
    events = np.zeros(len(channels) + lead, EVENT_DTYPE)
    if sequence is not None:
        events[0] = (PACKET_RECORD_CHANNEL, int(sequence) & 0xFFFFFFFF, float(n_key))
    if n_key:
        events["channel"][1:lead], events["value"][1:lead] = keyframe
    events["channel"][lead:] = channels
    events["offset_ns"][lead:] = offsets_ns
    events["value"][lead:] = values
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


def decode_spike_packet(msg: PointCloud2) -> SpikePacket:
    """The packet's events as a structured array viewing the message buffer (no copy), with its
    sequence number and keyframe flag.

    Raises PacketError if the layout is not that of spike packets or the sizes disagree.
    """
    layout = tuple((f.name, f.offset, f.datatype) for f in msg.fields)
    if layout != _SPIKE_FIELDS or any(f.count != 1 for f in msg.fields):
        raise PacketError(f"not a spike packet: fields {[f.name for f in msg.fields]}")
    if msg.is_bigendian or msg.point_step != EVENT_DTYPE.itemsize or msg.height not in (0, 1):
        raise PacketError("spike packets are little-endian, height 1, point_step 12")
    if len(msg.data) != msg.width * EVENT_DTYPE.itemsize:
        raise PacketError(f"packet data has {len(msg.data)} bytes for {msg.width} records")
    records = np.frombuffer(msg.data, dtype=EVENT_DTYPE)
    if records.size == 0 or records["channel"][0] != PACKET_RECORD_CHANNEL:
        return SpikePacket(records, None, None)
    n_key = float(records["value"][0])
    if not (n_key.is_integer() and 0 <= n_key < records.size):
        raise PacketError(f"packet record announces {n_key} keyframe records in a packet of "
                          f"{records.size} records")
    end = 1 + int(n_key)
    return SpikePacket(records[end:], int(records["offset_ns"][0]),
                       records[1:end] if end > 1 else None)


def read_spike_packet(msg: PointCloud2) -> np.ndarray:
    """The packet's events (either version), as ``decode_spike_packet`` reads them."""
    return decode_spike_packet(msg).events


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
