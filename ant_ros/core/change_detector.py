"""A change detector on the critic's value: the world got worse, without a task label.

When the robot's world changes so that what the policy learned now hurts (a motor wired the
other way round, a sensor turned), the return the critic predicts falls. The detector follows
the critic's value ``V`` at every TD step with two exponential means, a fast one (``fast_steps``)
and a slow one (``slow_steps``; each a plain mean of all values until that many have come, so
neither keeps weight on where it started), and the noise of ``V`` around the fast mean (an
exponential mean of ``(V - fast)**2`` over ``slow_steps``: the value's own spread, which a
change of level inflates only while the fast mean catches up). It reports a change when the
fast mean lies ``threshold`` of those standard deviations below the slow one and has lost
``relative_drop`` of the slow one's magnitude,

    (slow - fast) / sqrt(noise) > threshold   and   slow - fast > relative_drop * |slow|,

after ``warmup_steps`` and at least ``refractory_steps`` after the last change; the slow mean
then restarts at the fast one, so one drop is reported once. A value that rises (learning, a
world that got easier) is never a change. It is a one-sided test of a level shift (as CUSUM and
Page-Hinkley tests are) on a signal the learner computes anyway: ``FLOPS_PER_STEP`` per TD
step.

The state is one float64 array (``STATE_SIZE``), kept in checkpoints.
"""

from __future__ import annotations

import math

import numpy as np

FAST, SLOW, NOISE, STEPS, LAST, CHANGES, STATISTIC, BEFORE = range(8)
STATE_SIZE = 8
NEVER = -1e18  # LAST before any change (finite: checkpoints refuse non-finite state)
# by accounting.py's model: the step count and the rates (add, div 4, two max: 7), the two means
# (sub, mul, add: 3 each), the noise (5), the statistic (sub, add, sqrt 4, div 4), the relative
# test (abs, mul, compare: 3), three tests (3)
FLOPS_PER_STEP = 7 + 3 + 3 + 5 + 10 + 3 + 3


def new_state() -> np.ndarray:
    """A detector that has seen nothing."""
    state = np.zeros(STATE_SIZE, np.float64)
    state[LAST] = NEVER
    return state


def update(state: np.ndarray, value: float, fast_rate: float, slow_rate: float,
           threshold: float, relative_drop: float, warmup_steps: float,
           refractory_steps: float) -> bool:
    """Feed one TD step's critic value (rates: 1 / fast_steps, 1 / slow_steps); True if a
    change is detected at it."""
    if not math.isfinite(value):
        return False
    state[STEPS] += 1.0
    # plain means until a mean's time constant has passed (no weight left on a start value)
    first = 1.0 / state[STEPS]
    fast_rate, slow_rate = max(fast_rate, first), max(slow_rate, first)
    state[FAST] += (value - state[FAST]) * fast_rate
    state[SLOW] += (value - state[SLOW]) * slow_rate
    deviation = value - state[FAST]
    state[NOISE] += (deviation * deviation - state[NOISE]) * slow_rate
    drop = state[SLOW] - state[FAST]
    statistic = drop / math.sqrt(state[NOISE] + 1e-12)
    state[STATISTIC] = statistic
    if (state[STEPS] > warmup_steps and state[STEPS] - state[LAST] > refractory_steps
            and statistic > threshold and drop > relative_drop * abs(state[SLOW])):
        state[LAST] = state[STEPS]
        state[CHANGES] += 1.0
        state[BEFORE] = state[SLOW]  # the level the value fell from
        state[SLOW] = state[FAST]
        return True
    return False


def report(state: np.ndarray) -> dict[str, float]:
    """What the detector sees, for diagnostics."""
    steps = state[STEPS]
    return {"changes_detected": int(state[CHANGES]),
            "steps_since_change": int(steps - state[LAST]) if state[CHANGES] > 0 else None,
            "value_fast": float(state[FAST]), "value_slow": float(state[SLOW]),
            "value_drop_sd": float(state[STATISTIC]),
            "value_drop_share": float((state[SLOW] - state[FAST]) / max(abs(state[SLOW]), 1e-12))}
