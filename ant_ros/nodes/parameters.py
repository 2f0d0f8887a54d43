"""Declare a frozen config dataclass as ROS parameters, and build it back from parameter values.

Each field ``f`` of a section becomes the parameter ``<section>.f`` (``f`` for the empty section)
with a ParameterDescriptor (description, range where one is known, read-only for structural
fields, or for all of a section declared read-only). A proposed change is
validated by building the new dataclass (its ``validate()`` gives the reason when refused).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from ..core.config import STRUCTURE_FIELDS
from ..tasks.parameter_files import config_from_values

DESCRIPTIONS: dict[str, str] = {
    # network
    "n_inputs": "number of input channels (the encoders' total)",
    "n_hidden": "number of hidden neurons",
    "layers": "stacked groups of hidden neurons (1: one recurrent layer); the first reads the "
              "inputs, each other the group below",
    "layer_fan_in": "synapses from the group below per neuron of a group above the first",
    "layer_scale": "scale of the weights between groups",
    "recurrent_fan_in": "recurrent synapses per hidden neuron (within its group)",
    "input_fan_in": "input channels per hidden neuron",
    "input_fields": "Gaussian receptive fields per input value (0: the value itself)",
    "input_field_range": "receptive field centres span +-this, in input units (after "
                         "observation_scale and normalisation)",
    "input_field_width": "receptive field sigma, in centre spacings",
    "input_gain": "amplitude of each input's channels (one value, or one per input): the input "
                  "is resolved input_threshold/gain finely; initial input weights are divided by "
                  "it",
    "input_wiring": "input synapses: random (input_fan_in random channels per neuron) or "
                    "field_linear (evenly spaced fields of every input, linear initial weights)",
    "readout_inputs": "the readouts read the input channels too (false: the hidden layer only)",
    "spectral_radius": "spectral radius of the recurrent weights",
    "input_scale": "scale of the input weights",
    "bias_scale": "hidden biases are uniform in [-bias_scale, bias_scale]",
    "tau_min_s": "shortest neuron time constant (s)",
    "tau_max_s": "longest neuron time constant (s)",
    "unit_norm_steps": "each neuron's cell standardised by its running mean and variance over "
                       "about this many neuron passes (one per decision with decision_ticks 0; "
                       "learnt while learning is on; 0: off); the synchronous twin's only",
    "layer_norm": "each group's cells standardised across the group at every pass (layer "
                  "normalisation without gain and bias); in the asynchronous learner with "
                  "feedforward only",
    "layer_norm_gradient": "the learning signal through layer_norm: full (its exact "
                           "gradient) or diagonal (1 / sd only, the group's mean and sd "
                           "held)",
    "feedforward": "each pass computed bottom-up, every group from the outputs the group "
                   "below has at this pass, each cell its drive (memoryless); in the "
                   "asynchronous learner each tick's events pass up through the groups "
                   "within the tick (a delta network); needs recurrent_fan_in 0 and "
                   "unit_norm_steps 0",
    "activation": "each neuron's output function: tanh, or leaky_relu (max(c, 0.01 c)); "
                  "fixed at start in the asynchronous learner",
    "tick_s": "time resolution at which events take effect (s)",
    "threshold": "output change that makes a neuron send an event",
    "input_threshold": "change of an input channel (after scaling, population code and gain) "
                       "that makes it send an event",
    "decision_ticks": "ticks the network integrates an input before the readouts are used",
    "homeostasis_rate": "rate at which thresholds adapt towards the target firing rate (0: off)",
    "target_rate_hz": "firing rate homeostasis aims for (Hz)",
    "threshold_min": "lowest threshold homeostasis may set",
    "threshold_max": "highest threshold homeostasis may set",
    "seed": "random seed of the network and the policy",
    # learning
    "gamma": "discount factor",
    "trace_lambda": "eligibility trace decay lambda",
    "actor_lr": "actor step size",
    "critic_lr": "critic step size",
    "hidden_lr": "e-prop step size of hidden and input weights (0: fixed reservoir)",
    "eprop_feedback": "what carries the readouts' errors to the hidden neurons: random (fixed "
                      "random weights) or readout (the readouts' own weights of each neuron, "
                      "refreshed every eprop_feedback_refresh_steps, scaled per readout); "
                      "backprop is the synchronous twin's only (ant-ros train --learner twin)",
    "eprop_feedback_refresh_steps": "decisions between refreshes of readout feedback (a "
                                    "refresh falling while learning is off or hidden_lr is 0 "
                                    "is skipped; switching to readout refreshes at the next "
                                    "step)",
    "eprop_td_traces": "e-prop eligibility traces decay with gamma*lambda and meet later TD "
                       "errors (false: each TD error meets its own step's eligibility)",
    "eprop_max_lag_steps": "a learned hidden or input weight change reaches its neuron's drive "
                           "when the presynaptic unit next changes, or within about twice this "
                           "many learning steps (a round-robin settlement; 0: only at changes)",
    "critic_bound_kappa": "overshoot bound kappa of the critic step",
    "actor_bound_kappa": "overshoot bound kappa of the actor step",
    "hidden_bound_kappa": "overshoot bound kappa of the hidden step (0: none); the synchronous "
                          "twin's only (ant-ros train --learner twin)",
    "mean_regularization": "pull of continuous action means towards 0",
    "mean_limit": "continuous action means (before the squash) beyond +-this are pulled back "
                  "by the excess, away from saturation (0: off)",
    "entropy_coef": "entropy bonus (exploration)",
    "init_log_std": "initial log standard deviation of continuous actions",
    "min_log_std": "lowest log standard deviation",
    "max_log_std": "highest log standard deviation",
    "action_squash": "how a continuous action sample meets the limits: tanh (smooth) or clip",
    "imitation_lr": "step size of learning from the teacher command",
    "normalize_observations": "normalise inputs by their running mean and std",
    "observation_scale": "each input is divided by this first (one value, or one per input); "
                         "matters with normalize_observations false (normalising cancels it)",
    "normalize_rewards": "scale rewards by the running std of the return",
    "observation_clip": "normalised inputs are clipped to +-this",
    "weight_clip": "hidden and input weights are clipped to +-this (initial ones too)",
    "consolidation_strength": "continual-learning consolidation strength (0: off)",
    "consolidation_window_steps": "learning steps per consolidation window (at its end the "
                                  "importance takes in the window and the anchor moves)",
    "normalization_window_steps": "observation and reward normalisation forget with this time "
                                  "constant (steps), to follow a changing world (0: all time)",
    "learning_enabled": "learn while acting (false: act only)",
}

# read-only after start: the structure (shapes, what the input weights read) and what only the
# initial random draw uses
STRUCTURAL = {name.partition(".")[2] for name in STRUCTURE_FIELDS} | {
    "spectral_radius", "layer_scale", "input_scale", "bias_scale", "tau_min_s", "tau_max_s",
    "tick_s", "seed"}

FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (0.0, 0.99), "input_threshold": (0.0, 10.0), "input_field_range": (0.01, 10.0),
    "input_field_width": (0.1, 10.0), "layer_scale": (0.0, 100.0),
    "gamma": (0.0, 0.999), "trace_lambda": (0.0, 1.0), "actor_lr": (0.0, 10.0),
    "critic_lr": (0.0, 10.0),
    "hidden_lr": (0.0, 10.0), "imitation_lr": (0.0, 10.0), "entropy_coef": (0.0, 10.0),
    "homeostasis_rate": (0.0, 10.0), "consolidation_strength": (0.0, 1e6),
    # learner node
    "watchdog_timeout_s": (0.0, 3600.0), "min_step_interval_s": (0.0, 3600.0),
    "teacher_timeout_s": (0.0, 3600.0), "checkpoint_period_s": (0.0, 1e6),
    "frame_timeout_s": (0.01, 60.0),
    "keyframe_period_s": (0.0, 3600.0),  # encoder node
}
INT_RANGES: dict[str, tuple[int, int]] = {
    "n_hidden": (1, 100_000), "n_inputs": (1, 100_000), "recurrent_fan_in": (0, 10_000),
    "layers": (1, 100_000), "layer_fan_in": (1, 10_000),
    "input_fan_in": (1, 10_000), "input_fields": (0, 64), "decision_ticks": (0, 1000),
    "eprop_max_lag_steps": (0, 1_000_000), "eprop_feedback_refresh_steps": (1, 1_000_000),
    "frame_packets": (0, 64),  # learner node
}


def descriptor(name: str, value: Any, read_only: bool, description: str) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=description, read_only=read_only)
    if isinstance(value, float) and name in FLOAT_RANGES:
        low, high = FLOAT_RANGES[name]
        desc.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    elif isinstance(value, int) and not isinstance(value, bool) and name in INT_RANGES:
        low, high = INT_RANGES[name]
        desc.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
    return desc


def parameter_name(section: str, field: str) -> str:
    """``section.field``, or ``field`` for the empty section (fields at the node's top level)."""
    return f"{section}.{field}" if section else field


def declare_config(node: Node, section: str, defaults, read_only: bool = False) -> None:
    """Declare every field of ``defaults`` (a config dataclass) as ``section.field``.

    Read-only: every field with ``read_only``, else the STRUCTURAL ones. The description is the
    one in DESCRIPTIONS, else the field's ``metadata["description"]``."""
    for f in dataclasses.fields(defaults):
        value = getattr(defaults, f.name)
        text = DESCRIPTIONS.get(f.name) or f.metadata.get("description", f.name)
        node.declare_parameter(parameter_name(section, f.name), value, descriptor(
            f.name, value, read_only or f.name in STRUCTURAL, text))


def read_config(node: Node, section: str, cls, overrides: dict[str, Any] | None = None):
    """Build ``cls`` from the node's ``section.*`` parameters, with proposed ``overrides``."""
    values = {}
    for f in dataclasses.fields(cls):
        name = parameter_name(section, f.name)
        values[f.name] = (overrides or {}).get(name, node.get_parameter(name).value)
    return config_from_values(cls, values)


def flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: parameter-file nesting to parameter names."""
    out: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nest(flat: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``: parameter names to parameter-file nesting."""
    out: dict = {}
    for key, value in flat.items():
        *path, leaf = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
