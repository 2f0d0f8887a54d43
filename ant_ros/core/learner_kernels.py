"""Numba kernels of the learner's own per-step work around the network: input events in, the
input coding (scaling, normalisation, gain, the channels that moved), the discrete policy's
arithmetic and the TD step's gradients.

Each kernel does what the numpy expressions it replaced did, operation for operation and in the
same order, so the numbers are the same bit for bit; numpy's ``exp``, ``log`` and ``tanh``,
its sums of 8 terms or more and its dot products stay in numpy (their rounding differs from
libm's and from a plain loop). One call replaces a dozen small numpy calls, whose Python
overhead was most of a learning step's time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, typeof, types

from .jit import KERNEL, compiled_entry, entry_for
from .normalization import welford_update

# what ``receive_events`` finds, in the order it checks
RECEIVED, BAD_CHANNEL, BAD_VALUE, BAD_TIME, LATE, OVERFLOW = range(6)


class InputCoding(NamedTuple):
    """The arrays of the learner's input coding: per input, the raw values (reconstructed from
    events), their scale and the normalisation's running statistics; per channel, the gain and
    the network's current input value; and the buffers the moved channels are written to."""

    raw: np.ndarray           # raw input values (n_inputs)
    scratch: np.ndarray       # raw inputs with a batch's events added, before they are accepted
    scale: np.ndarray         # observation_scale per input
    count: np.ndarray         # the observation statistics (``RunningMeanStd``): count, mean, m2
    mean: np.ndarray
    m2: np.ndarray
    coded: np.ndarray         # per input: scaled and normalised (before population coding)
    gain: np.ndarray          # per channel
    network_value: np.ndarray  # per channel: the value the network has (``input_value``)
    ticks: np.ndarray         # out, per moved channel: its tick, channel (int32) and change
    channels: np.ndarray
    changes: np.ndarray


@njit(**KERNEL)
def receive_events(channel, time_s, value, latest_s, coding):
    """Check a batch of events (channels in range, finite values and times, none after
    ``latest_s``), add them to the raw inputs and check those stay finite; returns RECEIVED, or
    what was wrong, with the raw inputs unchanged."""
    raw = coding.raw
    n = raw.size
    for e in range(channel.size):
        if channel[e] < 0 or channel[e] >= n:
            return BAD_CHANNEL
    for e in range(value.size):
        if not math.isfinite(value[e]):
            return BAD_VALUE
    latest = -math.inf
    for e in range(time_s.size):
        if not math.isfinite(time_s[e]):
            return BAD_TIME
        latest = max(latest, time_s[e])
    if time_s.size and latest > latest_s:
        return LATE
    updated = coding.scratch
    for i in range(n):
        updated[i] = raw[i]
    for e in range(channel.size):  # in event order, as np.add.at
        updated[channel[e]] += value[e]
    for i in range(n):
        if not math.isfinite(updated[i]):
            return OVERFLOW
    for i in range(n):
        raw[i] = updated[i]
    return RECEIVED


@njit(**KERNEL)
def code_inputs(inputs, update_stats, normalize, window, clip, coding):
    """``coded[j]`` for input ``inputs[j]``: ``raw / scale``, normalised by the running mean and
    std (first updated with it, ``update_stats``: ``inputs`` are all inputs) and clipped to
    +-``clip``."""
    coded = coding.coded
    n = inputs.size
    for j in range(n):
        i = inputs[j]
        coded[j] = coding.raw[i] / coding.scale[i]
    if not normalize:
        return
    if update_stats:
        welford_update(coded[:n], coding.count, coding.mean, coding.m2, window)
    count = coding.count[0]
    for j in range(n):
        i = inputs[j]
        var = coding.m2[i] / count if count > 1 else 1.0
        x = (coded[j] - coding.mean[i]) / math.sqrt(var + 1e-8)
        coded[j] = min(max(x, -clip), clip)


@njit(**KERNEL)
def moved_channels(values, inputs, n_fields, threshold, tick, coding):
    """The channels of ``inputs`` (``n_fields`` each; ``values``: theirs, input-major, before
    the gain) whose gained value differs from the network's by ``threshold`` (0: at all):
    written with their change and ``tick`` to the coding's buffers; returns how many."""
    n = 0
    for j in range(inputs.size):
        for f in range(n_fields):
            ch = inputs[j] * n_fields + f
            change = values[j * n_fields + f] * coding.gain[ch] - coding.network_value[ch]
            if abs(change) >= threshold if threshold > 0.0 else change != 0.0:
                coding.ticks[n] = tick
                coding.channels[n] = ch
                coding.changes[n] = change
                n += 1
    return n


@njit(**KERNEL)
def softmax_shift(head, z):
    """``z = head - max(head)`` (numpy's ``exp`` follows, then its sum)."""
    top = head[0]
    for i in range(1, head.size):
        top = max(top, head[i])
    for i in range(head.size):
        z[i] = head[i] - top


@njit(**KERNEL)
def discrete_choice(p, total, u, deterministic, grad, floor):
    """``p /= total``; the action (the first whose cumulative probability reaches ``u``, or the
    most likely one, ``deterministic``); ``grad = d log p[a] / d head`` and ``floor =
    max(p, 1e-12)`` (numpy's ``log`` follows)."""
    n = p.size
    a = n - 1
    found = False
    cum = 0.0
    for i in range(n):
        p[i] /= total
        cum = p[i] if i == 0 else cum + p[i]
        if not found and cum >= u:
            a = i
            found = True
    if deterministic:
        a = 0
        for i in range(1, n):
            if p[i] > p[a]:
                a = i
    for i in range(n):
        grad[i] = -p[i]
        floor[i] = max(p[i], 1e-12)
    grad[a] += 1.0
    return a


@njit(**KERNEL)
def entropy_gradient(p, logp, entropy, out):
    """``out = -p * (log p + H)``: d entropy / d head."""
    for i in range(p.size):
        out[i] = -p[i] * (logp[i] + entropy)


@njit(**KERNEL)
def record_gradients(grad, entropy_grad, log_std_grad, clip, pending_grads, signal):
    """The step's gradients, kept for its TD error (``pending_grads``: log-likelihood row, then
    entropy row; the head's first, the log-stds' after), and the network's learning signal: 1
    for the critic, the actor's gradient clipped to +-``clip``."""
    n = grad.size
    for i in range(n):
        pending_grads[0, i] = grad[i]
        pending_grads[1, i] = entropy_grad[i]
        signal[1 + i] = min(max(grad[i], -clip), clip)
    for i in range(log_std_grad.size):
        pending_grads[0, n + i] = log_std_grad[i]
        pending_grads[1, n + i] = 1.0  # d entropy / d log std
    signal[0] = 1.0


@njit(**KERNEL)
def td_gradients(pending_grads, delta, entropy_coef, decay, head_grad, log_std_trace):
    """The pending step's gradients at its TD error ``delta``: log-likelihood plus the entropy
    bonus times sign(delta), as streaming AC does; the head's to ``head_grad``, the log-stds'
    into their traces (``z <- decay z + grad``)."""
    sign = 1.0 if delta > 0.0 else (-1.0 if delta < 0.0 else 0.0)  # np.sign
    bonus = entropy_coef * sign
    n = head_grad.size
    for i in range(n):
        head_grad[i] = pending_grads[0, i] + bonus * pending_grads[1, i]
    for i in range(log_std_trace.size):
        g = pending_grads[0, n + i] + bonus * pending_grads[1, n + i]
        log_std_trace[i] = log_std_trace[i] * decay + g


def _events_types(channel_dtype) -> tuple:
    return tuple(types.Array(dtype, 1, "A") for dtype in (channel_dtype, types.float64,
                                                           types.float64))


class StepKernels:
    """The kernels above as compiled entry points for one learner's arrays (``coding``, the
    policy's buffers): no per-call typing of their arguments."""

    def __init__(self, coding: InputCoding, n_actions: int) -> None:
        self.receive = {np.dtype(dtype): compiled_entry(receive_events, _events_types(nb) + (
            types.float64, typeof(coding))) for dtype, nb in ((np.int64, types.int64),
                                                                    (np.int32, types.int32))}
        inputs = np.zeros(1, np.int64)
        self.code = entry_for(code_inputs, inputs, True, True, 1.0, 1.0, coding)
        self.moved = entry_for(moved_channels, coding.coded, inputs, 1, 0.0, 0, coding)
        head = np.zeros(n_actions)
        self.softmax_shift = entry_for(softmax_shift, head, head)
        self.discrete_choice = entry_for(discrete_choice, head, 0.0, 0.0, False, head, head)
        self.entropy_gradient = entry_for(entropy_gradient, head, head, 0.0, head)
        grads = np.zeros((2, n_actions))
        self.record_gradients = entry_for(record_gradients, head, head, head, 0.0, grads, head)
        self.td_gradients = entry_for(td_gradients, grads, 0.0, 0.0, 0.0, head, head)
