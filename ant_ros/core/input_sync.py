"""Keeping the learner's reconstructed inputs equal to the encoder's (ROS-free).

Spike packets carry changes: the learner rebuilds each input as the sum of its events. That is
only right if it has seen every packet since the encoder started. Version-2 packets carry a
sequence number and the encoder sends periodic keyframes (every channel of an encoder, absolute);
``InputSync`` uses both:

- a channel is **in sync** once a keyframe has set it; a gap in the sequence numbers (a lost
  packet), a first packet that does not follow anything seen (a late join, a restart, a resumed
  checkpoint, a bag played from the middle) or ``reset`` puts every channel out of sync;
- the events of a channel out of sync are dropped (its base is unknown), so its input holds
  its last value until the next keyframe, which moves it to the encoder's value: exact again
  within one keyframe period;
- a keyframe's absolute values (as they stood before its packet's changes) become changes from
  the inputs as they stand after every change accepted so far (``values``: also the changes of
  packets not yet stepped); the channels already right (their value rounds to the keyframe's
  float32) give no change, so a lossless stream is reconstructed exactly as without keyframes,
  and costs the network nothing more.

Version-1 packets (no sequence number) are applied as changes, unchecked (and count as in sync).
"""

from __future__ import annotations

import numpy as np

SEQUENCE_MODULUS = 2 ** 32


class InputSync:
    """Per-channel sync state of the reconstructed inputs (see the module docstring)."""

    def __init__(self, n_inputs: int) -> None:
        # the learner's inputs once every change accepted so far is applied
        self.values = np.zeros(n_inputs, dtype=np.float64)
        self.synced = np.zeros(n_inputs, dtype=bool)
        self.next_sequence: int | None = None
        self.gaps = 0  # sequence gaps seen (lost packets, late joins and restarts of senders)
        self.keyframes = 0
        self.dropped_events = 0  # events of channels out of sync

    def reset(self, values: np.ndarray) -> None:
        """The learner's inputs are ``values`` now, set from elsewhere (a checkpoint, a dropped
        step): out of sync until the next keyframe."""
        self.values[:] = values
        self.synced.fill(False)
        self.next_sequence = None

    def lost(self, events: np.ndarray) -> None:
        """Changes accepted here never reached the learner (a discarded packet, a refused
        step): take them back, and their channels are out of sync until the next keyframe."""
        if len(events):
            np.subtract.at(self.values, events["channel"], events["value"])
            self.synced[events["channel"]] = False

    @property
    def in_sync(self) -> bool:
        return bool(self.synced.all())

    def accept(self, events: np.ndarray, sequence: int | None,
               keyframe: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """The events to apply as changes (``events`` itself, or a new array), and whether this
        packet showed a gap. ``events`` (the packet's changes) and ``keyframe`` (its absolute
        values before them, or None) have EVENT_DTYPE, channels below ``len(values)`` and
        finite values; the caller applies every change returned, in order."""
        if sequence is None:  # trusted: nothing to check against
            self.synced.fill(True)
            self.next_sequence = None
            np.add.at(self.values, events["channel"], events["value"])
            return events, False
        gap = self.next_sequence is not None and sequence != self.next_sequence
        if gap or self.next_sequence is None:
            self.synced.fill(False)
            self.gaps += int(gap)
        self.next_sequence = (sequence + 1) % SEQUENCE_MODULUS
        parts = []
        if keyframe is not None and len(keyframe):
            self.keyframes += 1
            channels = keyframe["channel"]
            current = self.values[channels]
            # a record is float32: a value that rounds to it is right already (no change)
            wrong = current.astype(np.float32) != keyframe["value"]
            fix = keyframe[wrong].copy()
            fix["value"] = keyframe["value"][wrong].astype(np.float64) - current[wrong]
            # what the learner will hold: the float32 change added to its value
            self.values[channels[wrong]] = current[wrong] + fix["value"].astype(np.float64)
            self.synced[channels] = True
            parts.append(fix)
        keep = self.synced[events["channel"]]
        changes = events if keep.all() else events[keep]
        self.dropped_events += int(keep.size - np.count_nonzero(keep))
        np.add.at(self.values, changes["channel"], changes["value"])
        if not parts:
            return changes, gap
        return np.concatenate([*parts, changes]), gap
