"""Spike packets (versions 1 and 2): round trip, zero-copy decoding, refusal of other layouts."""

import numpy as np
import pytest
from sensor_msgs.msg import PointField

from ant_ros.conversions import (PacketError, decode_spike_packet, make_spike_packet,
                                 read_spike_packet,
                                 seconds_to_stamp, stamp_to_seconds)


def test_round_trip_and_zero_copy_view():
    msg = make_spike_packet(seconds_to_stamp(12.25), "base_link", np.array([3, 0, 7]),
                            np.array([0, 500, 1_000_000]), np.array([0.5, -0.25, 2.0]))
    assert msg.width == 3 and msg.point_step == 12 and msg.row_step == 36 and msg.height == 1
    assert [f.name for f in msg.fields] == ["channel", "offset_ns", "value"]
    events = read_spike_packet(msg)
    assert events["channel"].tolist() == [3, 0, 7]
    assert events["offset_ns"].tolist() == [0, 500, 1_000_000]
    assert events["value"].tolist() == [0.5, -0.25, 2.0]
    assert np.shares_memory(events, np.frombuffer(msg.data, np.uint8))
    assert stamp_to_seconds(msg.header.stamp) == pytest.approx(12.25)


def test_empty_packet():
    msg = make_spike_packet(seconds_to_stamp(1.0), "", np.zeros(0), np.zeros(0), np.zeros(0))
    assert read_spike_packet(msg).size == 0


@pytest.mark.parametrize("corrupt", ["fields", "datatype", "endian", "size", "step"])
def test_other_layouts_are_refused(corrupt):
    msg = make_spike_packet(seconds_to_stamp(1.0), "", np.array([1]), np.array([0]),
                            np.array([1.0]))
    if corrupt == "fields":
        msg.fields = msg.fields[:2]
    elif corrupt == "datatype":
        msg.fields[2].datatype = PointField.FLOAT64
    elif corrupt == "endian":
        msg.is_bigendian = True
    elif corrupt == "size":
        msg.width = 2
    else:
        msg.point_step = 16
    with pytest.raises(PacketError):
        read_spike_packet(msg)


def test_version_2_packets_carry_a_sequence_number_and_keyframe_records():
    msg = make_spike_packet(seconds_to_stamp(3.0), "base_link", np.array([1]), np.array([7]),
                            np.array([0.5]), sequence=2 ** 32 + 5,
                            keyframe=(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0])))
    assert msg.width == 5  # the packet record, 3 keyframe records, 1 change
    packet = decode_spike_packet(msg)
    assert packet.sequence == 5  # modulo 2**32
    assert packet.keyframe["channel"].tolist() == [0, 1, 2]
    assert packet.keyframe["value"].tolist() == [1.0, 2.0, 3.0]
    assert packet.events["channel"].tolist() == [1] and packet.events["offset_ns"][0] == 7
    assert np.shares_memory(packet.events, np.frombuffer(msg.data, np.uint8))
    plain = decode_spike_packet(make_spike_packet(seconds_to_stamp(3.0), "", np.zeros(0),
                                                  np.zeros(0), np.zeros(0), sequence=9))
    assert plain.sequence == 9 and plain.keyframe is None and plain.events.size == 0
    v1 = decode_spike_packet(make_spike_packet(seconds_to_stamp(3.0), "", np.array([1]),
                                               np.zeros(1), np.array([1.0])))
    assert v1.sequence is None and v1.keyframe is None and v1.events.size == 1
    with pytest.raises(ValueError):
        make_spike_packet(seconds_to_stamp(3.0), "", np.zeros(0), np.zeros(0), np.zeros(0),
                          keyframe=(np.array([0]), np.array([1.0])))


@pytest.mark.parametrize("announced", [2.0, 0.5, -1.0])
def test_a_packet_record_announcing_more_records_than_it_has_is_refused(announced):
    msg = make_spike_packet(seconds_to_stamp(1.0), "", np.array([1]), np.zeros(1),
                            np.array([1.0]), sequence=0)
    data = bytearray(msg.data)
    data[8:12] = np.float32(announced).tobytes()
    msg.data = bytes(data)
    with pytest.raises(PacketError, match="keyframe records"):
        decode_spike_packet(msg)
