"""What a learning step costs: every arithmetic operation, by part, with one cost model for every
system compared (the asynchronous learner, its synchronous twin, a dense stream AC, PPO).

Cost model, in flops per operation (the Livermore normalisation, F. H. McMahon, "The Livermore
Fortran Kernels", LLNL UCRL-53745, 1986, also used by the HPC Challenge and Roofline papers):

=====================================  ======  ==========================================
operation                              flops   as
=====================================  ======  ==========================================
add, subtract, multiply, compare,      1       ADD, MUL, CMP
min/max, table look-up
divide, square root                    4       DIV, SQRT
exp, log                               8       EXP, LOG
tanh                                   15      ``1 - 2 / (exp(2c) + 1)``, as computed here
atanh                                  15      ``0.5 * log((1 + y) / (1 - y))``
Gaussian random number                 24      Box-Muller: log, sqrt, cos and 4 flops
=====================================  ======  ==========================================

Integer work that a synchronous implementation does not need (the timing wheel's list updates
and slot scans) is charged to the asynchronous side at 4 and 1 flops; loads and stores are not
counted on either side. Energy: flops times 2.3 pJ, one fp32 multiply-add (0.9 + 3.7 pJ,
Horowitz, ISSCC 2014, 45 nm) per two flops; memory traffic is not counted, so this is a lower
bound for both sides alike. A neuromorphic chip would pay about 23.6 pJ per synaptic event
(Davies et al., IEEE Micro 2018, Loihi).

The kernels count operations by kind (``kernels.C_*``); ``kernel_flops`` prices them. The
learner prices its own Python-side work (input coding, normalisation, readouts, policy) with the
functions below, the same ones for every system that does that work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import kernels as K

if TYPE_CHECKING:
    from .config import ActionSpec

ADD = MUL = CMP = 1
DIV = SQRT = 4
EXP = LOG = 8
TANH = EXP + DIV + 3
ATANH = LOG + DIV + 3
GAUSSIAN = LOG + SQRT + 8 + 4
PJ_PER_FLOP = 2.3

PARTS = ("sensor_encoding", "input_coding", "normalisation", "events", "neurons", "scheduling",
         "eprop", "consolidation", "homeostasis", "readout_learning", "step_size", "policy",
         "change_detection")
(SENSOR_ENCODING, INPUT_CODING, NORMALISATION, EVENTS, NEURONS, SCHEDULING, EPROP,
 CONSOLIDATION, HOMEOSTASIS, READOUT_LEARNING, STEP_SIZE, POLICY,
 CHANGE_DETECTION) = range(len(PARTS))

# flops of one settled synapse (kernels.settle_synapse): the post neuron's cache test (1),
# dw = y * (W - W0) (2), trace y * H (1), the test for a carried trace (2), w + dw and the clip
# (3), the float32 weight's move and its test (2); with a carried trace, c = trace - y * H0 (2),
# dw += c * D (2), trace += decay * c (2)
SETTLE_FLOPS = 11
SETTLE_TRACE_FLOPS = 6
# per kernel counter: (part, flops per count); NEURON_SIGNAL and STEP_A/B scale with the number of
# learning signals R and are filled in by ``kernel_flops``
_KERNEL_COSTS = {
    K.C_INPUT_EVENT: (EVENTS, ADD),
    # tanh, the change and its addition, the test against both bounds, new bounds (2 atanh + 4),
    # the pseudo-derivative 1 - y**2
    K.C_HIDDEN_EVENT: (NEURONS, TANH + 2 + 2 + 2 * ATANH + 4 + 2),
    # leaky ReLU: the output (a test, a multiply), the change and its addition, the bounds'
    # test, new bounds (two adds, two tests, two multiplies), the pseudo-derivative's test
    K.C_HIDDEN_EVENT_LEAKY: (NEURONS, 2 + 2 + 2 + 6 + 1),
    K.C_DELIVER: (EVENTS, MUL + ADD + CMP),        # + the target's dirty test
    K.C_READOUT_DELIVER: (EVENTS, MUL + ADD),
    K.C_DECAY_TABLE: (NEURONS, 2 + 1 + 1 + 3),   # interval and its tests, look-up, decay
    K.C_DECAY_EXP: (NEURONS, 2 + 1 + EXP + 2 + 3),
    K.C_NEURON_TOUCH: (NEURONS, 2),             # settled already: the interval and its test
    K.C_SCHEDULE: (SCHEDULING, 4 * CMP),
    K.C_CROSSING_SOLVE: (SCHEDULING, 2 + DIV + LOG + DIV + 2),
    K.C_WHEEL_OP: (SCHEDULING, 4),
    K.C_WHEEL_SCAN: (SCHEDULING, 1),
    K.C_HOMEOSTASIS: (HOMEOSTASIS, EXP + 6),
    K.C_SETTLE: (EPROP, SETTLE_FLOPS),
    K.C_SETTLE_TRACE: (EPROP, SETTLE_TRACE_FLOPS),
    K.C_WEIGHT_MOVE: (EPROP, 1 + MUL + ADD),     # drive += moved * y
    K.C_UNIT_FACTORS: (EPROP, 4),                # episode test, rho**n looked up, stores
    K.C_UNIT_TD: (EPROP, 4),                     # + rho**(base - k0) * (P - P0), looked up
    K.C_POWER_EXP: (EPROP, EXP + 1),             # a power beyond the table
    K.C_PENDING: (EPROP, 1),
    K.C_SWEEP_UNIT: (EPROP, 5),
    # event-driven readouts, per weight settled: c (2), change (4), trace (3), add and clip (3);
    # per feature moved: the phase test, S per row (2 each: added below), |phi|**2 (4), X (2);
    # per weight that takes its step with its value at phase A: trace (2), weight (2), clip (2)
    K.C_RO_SETTLE: (READOUT_LEARNING, 12),
    K.C_RO_MOVE: (READOUT_LEARNING, 7),
    K.C_RO_PENDING: (READOUT_LEARNING, 6),
    # per feature settled: the read and version tests, the episode test, the decayed TD sums
    # of both groups and the trace decay (looked up); a feature with nothing to settle: 2
    K.C_RO_FEATURE: (READOUT_LEARNING, 2 + 1 + 2 + 6 + 1),
    K.C_RO_FEATURE_SKIP: (READOUT_LEARNING, 2),
    K.C_RO_SWEEP: (READOUT_LEARNING, 8),        # per feature: carry both groups' TD sums
    K.C_SETTLE_SKIP: (EPROP, 2),                # the unit was settled in this phase
    K.C_SETTLE_UNIT: (EPROP, 2),                # that test
    K.C_NEURON_SNAPSHOT: (EPROP, 1),            # the neuron's cache test (its sums: stores)
    K.C_STALE_VISIT: (EPROP, 3),                # round-robin visit: the age and its test
    # ``network.feedforward``: a touched neuron that does not send, its drive against both
    # bounds (one that sends pays that in its event's price); the buckets of touched neurons
    # (integer work, as the wheel's): a neuron put in (its slot and the count) and taken out,
    # and each group's visit in a tick (its count's test, the next group)
    K.C_FF_NEURON: (NEURONS, 2 * CMP),
    K.C_FF_PUSH: (SCHEDULING, 3),
    K.C_FF_GROUP: (SCHEDULING, 2),
    # ``network.layer_norm`` in the delta network: a touched cell into its group's sums (the
    # change of c and of c**2: 6), the group's mean and sd (the mean 1, variance 3 and its
    # floor 1, a sqrt and a divide), every neuron of a touched group standardised,
    # (c - m) / sd (2; its bounds' test as above), psi times the group's 1 / sd at an event (1)
    K.C_LN_CELL: (NEURONS, 6),
    K.C_LN_GROUP: (NEURONS, 5 + SQRT + DIV),
    K.C_LN_TEST: (NEURONS, 2),
    K.C_LN_PSI: (NEURONS, MUL),
}


def kernel_flops(count: np.ndarray, n_signals: int) -> np.ndarray:
    """Flops by part (``PARTS``) for the asynchronous kernels' operation counts."""
    flops = np.zeros(len(PARTS))
    for counter, (part, cost) in _KERNEL_COSTS.items():
        flops[part] += count[counter] * cost
    r = n_signals
    flops[READOUT_LEARNING] += count[K.C_RO_MOVE] * 2 * r  # S_r += z_rj * delta, per readout
    # B[i] . F and B[i] . Q, then H_i and W_i from the snapshot: c (2), H (3), W (5)
    flops[EPROP] += count[K.C_NEURON_SIGNAL] * (4 * r + 10)
    flops[EPROP] += count[K.C_STEP_A] * 3 * r             # F = rho F + h, Q += lr g
    # backprop feedback: per synapse w psi (1) and R multiply-adds; per neuron B . F and B . Q
    flops[EPROP] += count[K.C_BACKPROP_SYNAPSE] * (1 + 2 * r)
    flops[EPROP] += count[K.C_BACKPROP_NEURON] * 4 * r
    # layer norm's full gradient: a neuron's shares (its slope: 2, u: 2, f'(u) B and u f'(u) B:
    # 2R, into the sums: 4R) and its row from the sums (u: 2, 4R); each neuron looked at in a
    # group's rows pass (its sending tick and phase tested)
    flops[EPROP] += count[K.C_LN_ROW] * (6 + 10 * r)
    flops[EPROP] += count[K.C_LN_SCAN] * 3 * CMP
    flops[EPROP] += count[K.C_STEP_B] * (2 * r + 5)        # Q += delta F, P, the learning rate
    return flops


# -- the learner's Python-side work, for every system that does it ----------------------------

def input_coding_flops(n_inputs: int, n_fields: int, gain: bool, deltas: bool) -> int:
    """Observation scaling, population fields (``(x - c) / sigma``, square, exp per field),
    per-channel gain and, for an event-driven network, the change per channel and its threshold
    test."""
    n_channels = n_inputs * max(1, n_fields)
    flops = n_inputs * DIV
    if n_fields:
        flops += n_inputs * 2 * CMP + n_channels * (ADD + DIV + 2 * MUL + EXP)
    if gain:
        flops += n_channels * MUL
    if deltas:
        flops += n_channels * (ADD + 2 * CMP)
    return flops


def sensor_encoding_flops(n_values: int) -> int:
    """A send-on-delta encoder: change, magnitude and threshold test per value."""
    return n_values * (ADD + 2 * CMP)


def normalisation_flops(n_inputs: int, update: bool, windowed: bool = False) -> int:
    """Welford update (count, delta, mean, m2) and ``clip((x - mean) / sqrt(var))``; with a
    window, the forgetting of m2 (a test, a divide, a multiply per input)."""
    flops = n_inputs * (DIV + ADD + SQRT + ADD + DIV + 2 * CMP)
    if update:
        flops += 1 + n_inputs * (ADD + DIV + ADD + ADD + MUL + ADD)
        if windowed:
            flops += CMP + DIV + n_inputs * MUL
    return flops


def reward_scaling_flops(windowed: bool = False) -> int:
    return 2 + normalisation_flops(1, update=True, windowed=windowed) + DIV + SQRT


# consolidation per readout weight updated (readout.py): the path integral's term (3), the pull
# with its cap (3), the change towards the anchor (3)
CONSOLIDATION_UPDATE_FLOPS = 9


def readout_td_flops(n_out: int, n_feat: int, n_std: int, consolidation: bool,
                     keep_values: bool) -> dict:
    """One TD(lambda) step of the readouts, every weight: traces (critic ``z = l z + phi``,
    actor ``z = l z + g phi``), the overshoot bound's norms (``|z|**2`` per group, ``|phi|**2``,
    two square roots), and each weight's update (``step * z``, add, clip, and with
    ``keep_values`` the kept readout value) -> {part: flops}."""
    traces = n_feat * 2 + (n_out - 1) * n_feat * 3 + n_std * 2
    update = n_out * n_feat * (MUL + ADD + 2 * CMP + (3 if keep_values else 0)) + n_std * 2
    bound = (n_out * n_feat + n_std) * 2 + n_feat * 2 + 2 * (SQRT + 4 + DIV)
    out = {READOUT_LEARNING: traces + update, STEP_SIZE: bound}
    if consolidation:
        out[CONSOLIDATION] = n_out * n_feat * CONSOLIDATION_UPDATE_FLOPS + 2 * (DIV + CMP)
    return out


def event_readout_td_flops(n_out: int, n_std: int) -> dict:
    """One TD step of the event-driven readouts (``event_readout.td_step``), O(rows): per row
    ``|z|**2`` (7), ``z . phi`` (3), the kept value (2), F and Q (4); the bounds (two square
    roots and steps), P per group; the log-std traces and update -> {part: flops}. The
    features' weights are settled at their events (the kernel counts)."""
    return {READOUT_LEARNING: n_out * 16 + 6 + n_std * 6,
            STEP_SIZE: 2 * (SQRT + 4 + DIV) + 4 + n_std * 2}


def actor_update_flops(n_heads: int, n_feat: int, keep_values: bool) -> int:
    """``V[1 + k] += c_k * phi`` with the clip (and the kept readout value)."""
    return n_heads * n_feat * (MUL + MUL + ADD + 2 * CMP + (3 if keep_values else 0))


def policy_flops(kind: str, n: int) -> int:
    """Action selection and the gradients the learner needs from it."""
    if kind == "discrete":
        # softmax (max, exp, sum, divide), sampling (cumsum, search), log-likelihood gradient,
        # entropy gradient (log, products, sums)
        return n * (CMP + ADD + EXP + ADD + DIV) + n * 2 + n * (LOG + 4)
    # std = exp(log_std), noise, mean + std * noise, tanh, scaling to the bounds, gradients
    return n * (EXP + GAUSSIAN + 2 + TANH + 4 + 4)


def energy_uj(flops: float) -> float:
    """Arithmetic energy in microjoules at ``PJ_PER_FLOP``."""
    return flops * PJ_PER_FLOP * 1e-6


# -- what a user would pick instead, priced by the same model ---------------------------------

def layer_norm_flops(units: int, layers: int) -> tuple[int, int]:
    """(forward, backward) flops of layer normalisation without gain and bias over ``layers``
    layers of ``units`` units in all, the same for every system: forward per unit the mean's
    add, the deviation, its square and add, the subtraction and the product by ``1 / sd``
    (6), per layer the two products by the constant ``1 / k``, the epsilon, SQRT and DIV;
    backward (``(a - mean(a) - u mean(a u)) / sd``) per unit ``a u``, two adds, two
    subtractions, ``u mean(a u)`` and the product by ``1 / sd`` (7), per layer the two means'
    products by ``1 / k``."""
    return units * 6 + layers * (3 + SQRT + DIV), units * 7 + layers * 2


def mlp_flops(sizes: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters, forward flops, backward flops) of a tanh MLP: 2 flops per weight and a
    bias add forward, 4 per weight backward (the gradients of the weight and of the input), tanh
    and its derivative ``1 - y**2`` per hidden unit."""
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    biases = sum(sizes[1:])
    units = sum(sizes[1:-1])
    return weights + biases, 2 * weights + biases + units * TANH, 4 * weights + biases + units * 3


def ppo_flops_per_step(n_inputs: int, action: "ActionSpec", hidden: tuple[int, ...] = (64, 64),
                       n_steps: int = 2048, batch_size: int = 64, n_epochs: int = 10) -> dict:
    """Stable-Baselines3 PPO's arithmetic per env step, by formula (its defaults: separate
    ``hidden`` tanh MLPs for policy and value, ``n_steps`` rollouts, ``n_epochs`` passes in
    minibatches of ``batch_size``, Adam, gradient clipping): the rollout's forward passes, then
    per sample and epoch a forward and a backward pass of both networks and the clipped loss,
    and per minibatch an Adam step (12 flops per parameter) and the gradient norm clip (3)."""
    n_out = action.size
    pi_params, pi_fwd, pi_bwd = mlp_flops((n_inputs, *hidden, n_out))
    vf_params, vf_fwd, vf_bwd = mlp_flops((n_inputs, *hidden, 1))
    params = pi_params + vf_params + (0 if action.kind == "discrete" else n_out)
    sample = policy_flops(action.kind, n_out)
    rollout = pi_fwd + vf_fwd + sample + 8                     # + GAE per step
    loss = 40 + policy_flops(action.kind, n_out)                # ratio exp, clip, value loss
    train = n_epochs * (pi_fwd + vf_fwd + pi_bwd + vf_bwd + loss)
    optimiser = n_epochs / batch_size * params * (12 + 3)
    return {"rollout": rollout, "train_passes": train, "optimiser": optimiser,
            "total": rollout + train + optimiser, "params": params}
