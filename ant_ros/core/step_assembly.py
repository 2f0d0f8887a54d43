"""Which spike packets, reward and episode end make one learning step (ROS-free).

The learner node hands every packet, reward and episode end to a ``StepAssembler`` and does
what it returns: a ``StepInputs`` (take a learning step with these packets, this reward and this
episode end) or an ``IngestInputs`` (a packet between steps: into the network, no learning).

Two ways of stepping:

- **per packet** (``frame_packets = 0``): each packet steps, at most one step per
  ``min_step_interval_s`` of the node's clock; a packet that comes sooner is ingested (with
  ``ingest_between_steps``) or waits for the next step.
- **per sensor frame** (``frame_packets = n``, lockstep simulators): a frame is ``n`` packets
  with one stamp (and, with ``frame_reward``, its reward). A packet with a newer stamp closes
  the frame before it, complete or not; a frame still incomplete ``frame_timeout_s`` (monotonic
  time) after its first packet is stepped by ``poll``; a late packet of a frame already stepped
  joins the next step without opening a frame. A stamp more than ``STAMP_JUMP_S`` before the
  newest stepped frame means the sender's time went backwards (a world reset, a looping bag):
  frames are tracked afresh from it.

Times: ``now`` is the node's clock (simulated or wall) in seconds, ``wall`` a monotonic clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .events import EVENT_DTYPE, EventBatch

Packet = tuple[float, np.ndarray]  # (header stamp in s, events with EVENT_DTYPE)
STAMP_JUMP_S = 1.0  # a frame stamp this much older than the newest stepped one: time jumped


@dataclass
class StepInputs:
    """One learning step: the packets since the last step, the reward summed since then and the
    episode end (True: terminated, False: truncated, None: the episode goes on)."""

    packets: list[Packet]
    reward: float
    episode_end: bool | None
    incomplete: bool = False  # a frame stepped before all its packets (or its reward) came
    reward_missing: bool = False  # with incomplete: its reward had not come


@dataclass
class IngestInputs:
    """A packet between steps: into the network now, no learning."""

    packet: Packet


class StepAssembler:
    """Collects packets, rewards and episode ends into steps (see the module docstring)."""

    def __init__(self, frame_packets: int = 0, frame_reward: bool = True,
                 frame_timeout_s: float = 0.1, min_step_interval_s: float = 0.0,
                 ingest_between_steps: bool = True) -> None:
        # settings: plain attributes, changed live by the node
        self.frame_packets = frame_packets
        self.frame_reward = frame_reward
        self.frame_timeout_s = frame_timeout_s
        self.min_step_interval_s = min_step_interval_s
        self.ingest_between_steps = ingest_between_steps
        self.pending: list[Packet] = []
        self.reward = 0.0
        self.reward_seen = False  # a reward came since the last step
        self.episode_end: bool | None = None
        self.frame_stamp: float | None = None  # the frame being collected
        self.frame_count = 0  # its packets so far
        self.frame_since = 0.0  # monotonic time of its first packet
        self.stepped_frame_stamp = -math.inf  # the newest frame already stepped
        self.last_step_time = -math.inf  # node clock at the last step
        self.incomplete_frames = 0

    # -- inputs --------------------------------------------------------------------------------

    def add_packet(self, stamp: float, events: np.ndarray, now: float,
                   wall: float) -> list[StepInputs | IngestInputs]:
        """A spike packet arrived: what to do now, in order (nothing, one or two items)."""
        if self.frame_packets > 0:
            return self._add_frame_packet(stamp, events, now, wall)
        if now - self.last_step_time >= self.min_step_interval_s:
            self.pending.append((stamp, events))
            return [self.take(now)]
        if self.ingest_between_steps and not self.pending and self.episode_end is None:
            # (merged packets from before a live switch to ingesting, or an episode's end that
            # the next step handles: the packet joins that step)
            return [IngestInputs((stamp, events))]
        self.pending.append((stamp, events))
        return []

    def _add_frame_packet(self, stamp: float, events: np.ndarray, now: float,
                          wall: float) -> list[StepInputs | IngestInputs]:
        due = []
        collecting = self.frame_stamp is not None
        newest = max(self.stepped_frame_stamp, self.frame_stamp if collecting else -math.inf)
        if stamp < newest - STAMP_JUMP_S:  # the sender's time went backwards
            if collecting:
                due.append(self._take_incomplete(now))
            self.stepped_frame_stamp = -math.inf
        elif collecting and stamp > self.frame_stamp:
            due.append(self._take_incomplete(now))
        if self.frame_stamp is None and stamp > self.stepped_frame_stamp:
            self.frame_stamp, self.frame_since = stamp, wall
        if self.frame_stamp is not None and stamp >= self.frame_stamp:
            self.frame_count += 1
        self.pending.append((stamp, events))
        return due + self._if_frame_complete(now)

    def add_reward(self, value: float, now: float) -> list[StepInputs]:
        """A reward (finite) arrived; in frame mode it may complete the frame."""
        self.reward += value
        self.reward_seen = True
        return self._if_frame_complete(now) if self.frame_packets > 0 else []

    def end_episode(self, terminated: bool) -> None:
        """The episode ended (terminated, or truncated); the next step closes it."""
        self.episode_end = bool(terminated)

    def poll(self, now: float, wall: float) -> list[StepInputs]:
        """Periodically: a frame incomplete for ``frame_timeout_s`` is stepped."""
        if (self.frame_packets > 0 and self.frame_stamp is not None
                and wall - self.frame_since > self.frame_timeout_s):
            return [self._take_incomplete(now)]
        return []

    def settings_changed(self, now: float) -> list[StepInputs]:
        """After a live change of the settings: leaving frame mode hands what was collected to
        the next packet's step; in frame mode the frame may be complete now."""
        if self.frame_packets == 0:
            self.frame_stamp, self.frame_count = None, 0
            return []
        return self._if_frame_complete(now)

    def time_jumped(self) -> None:
        """The node's clock went backwards: the step interval and the frame tracking restart."""
        self.last_step_time = -math.inf
        self.stepped_frame_stamp = -math.inf

    def discard(self) -> None:
        """Drop what was collected (packets that cannot be used; the reward and end stay)."""
        self.pending = []
        self.frame_stamp, self.frame_count = None, 0

    # -- steps ---------------------------------------------------------------------------------

    def _if_frame_complete(self, now: float) -> list[StepInputs]:
        if (self.frame_stamp is not None and self.frame_count >= self.frame_packets
                and (self.reward_seen or not self.frame_reward)):
            return [self.take(now)]
        return []

    def _take_incomplete(self, now: float) -> StepInputs:
        self.incomplete_frames += 1
        missing = self.frame_reward and not self.reward_seen
        step = self.take(now)
        step.incomplete, step.reward_missing = True, missing
        return step

    def take(self, now: float, episode_end: bool | None = None) -> StepInputs:
        """Everything collected, as one step now (``episode_end`` overrides a pending end)."""
        end = self.episode_end if episode_end is None else episode_end
        step = StepInputs(self.pending, self.reward, end)
        self.pending, self.reward, self.reward_seen, self.episode_end = [], 0.0, False, None
        if self.frame_stamp is not None:
            self.stepped_frame_stamp = max(self.stepped_frame_stamp, self.frame_stamp)
        self.frame_stamp, self.frame_count = None, 0
        self.last_step_time = now
        return step


def event_batch(packets: list[Packet], now: float, last_step_s: float) -> EventBatch:
    """Packets' events with their times (stamp + offset); times before the last step (NaN:
    none) or after ``now`` are moved to those bounds."""
    merged = (np.concatenate([e for _, e in packets]) if packets
              else np.zeros(0, dtype=EVENT_DTYPE))
    stamps = np.repeat([s for s, _ in packets], [len(e) for _, e in packets])
    times = stamps + merged["offset_ns"] * 1e-9
    floor = now if math.isnan(last_step_s) else last_step_s
    times = np.clip(times, min(floor, now), now)
    return EventBatch.from_arrays(merged["channel"].astype(np.int64), times,
                                  merged["value"].astype(np.float64))
