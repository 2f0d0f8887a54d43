"""Frozen configuration objects for the network and the learner.

Nodes turn ROS parameters into these objects and hand them to the core; a parameter change builds
a new object (``dataclasses.replace``), which the learner applies live where that makes sense.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping


INPUT_WIRINGS = ("random", "field_linear")

# fields that fix array shapes or what the input weights were built to read: they cannot change
# in a running learner (``AgentConfig.structure``)
STRUCTURE_FIELDS = (
    "network.n_inputs", "network.n_hidden", "network.layers", "network.layer_fan_in",
    "network.recurrent_fan_in", "network.input_fan_in",
    "network.input_fields", "network.input_field_range", "network.input_field_width",
    "network.input_gain", "network.input_wiring", "network.readout_inputs",
    "learning.observation_scale", "learning.normalize_observations")


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent."""


@dataclass(frozen=True)
class NetworkConfig:
    """Structure and dynamics of the asynchronous network.

    Times are in seconds; ``tick_s`` is the time resolution at which events take effect.
    ``n_inputs`` counts the learner's input values; with ``input_fields = K > 0`` each value
    (after ``observation_scale`` and, if on, normalisation) is population-coded into K Gaussian
    receptive fields whose centres span ``[-input_field_range, input_field_range]`` with a width
    (sigma) of ``input_field_width`` centre spacings, so the network has
    ``n_channels = K * n_inputs`` input channels and a small change of a value moves only the few
    fields near it.

    ``input_gain`` (one value for every input, or one per input) is the amplitude of an input's
    channels: they send an event when they have moved by ``input_threshold``, so the input is
    resolved ``input_threshold / gain`` finely. The initial input weights are divided by it (the
    initial drive stays the same, up to ``weight_clip``); as e-prop changes a weight in
    proportion to its channel's value, the input's share of the drive learns ``gain**2`` as
    fast.

    ``input_wiring`` picks the input synapses: ``random`` draws ``input_fan_in`` channels per
    neuron with Gaussian weights; ``field_linear`` (needs ``input_fields``) lets every neuron
    read ``f = input_fan_in / n_inputs`` fields of every input, at ``floor(j * K / f)`` from a
    random offset, weighted so that its drive starts as a random linear function of the inputs
    (``g_i * x_i`` summed, ``g_i`` Gaussian with variance ``input_scale**2 / n_inputs``), carried
    by sparse field events. The sum is close to linear away from the ends of the field range
    while the stride ``K / f`` is at most about twice ``input_field_width`` (wider strides give a
    bumpy random input layer), and as far as ``weight_clip`` leaves the weights.
    ``readout_inputs`` false lets the readouts read the hidden layer only.
    ``unit_norm_steps = S > 0`` standardises each neuron's cell by its own running mean and
    variance over about S neuron passes (one per decision with ``decision_ticks: 0`` and no
    samples between decisions; learnt only while learning is on) before the ``tanh`` (local to
    the neuron), ``layer_norm: true`` standardises the cells across each group instead, at every
    pass (``(c - mean) / sd`` of the group's cells, as layer normalisation without gain and
    bias; not local to the neuron; ``layer_norm_gradient: diagonal`` takes the learning signal
    through ``1 / sd`` only, as if the group's mean and sd did not move with the cell, where
    ``full`` is the exact gradient), ``activation: leaky_relu`` puts ``max(u, 0.01 u)`` in the
    place of ``tanh`` (unit norm: the synchronous twin only; layer norm: in the asynchronous
    network with ``feedforward`` only; the activation: fixed at start there). ``feedforward: true``
    computes each pass bottom-up, every group from the outputs the group below has at this pass
    (the first from this pass's inputs), each cell its drive (memoryless: ``tau`` has no effect),
    as a feed-forward network computes its layers (needs ``recurrent_fan_in: 0`` and no
    ``unit_norm_steps``); in the asynchronous network a tick's events pass up through the groups
    within the tick, each touched neuron sending when its output has moved by its threshold (a
    delta network).

    ``layers = L > 1`` stacks the hidden neurons in L groups (``n_hidden // L`` each, the first
    ``n_hidden % L`` one more): the first reads the input channels, each other group reads
    ``layer_fan_in`` random neurons of the group below, with Gaussian weights of standard
    deviation ``layer_scale / sqrt(layer_fan_in)``; ``recurrent_fan_in`` synapses per neuron
    stay within its group. A group's events reach only the group above, so the forward pass stays
    proportional to change; every group learns by e-prop from the same random feedback of the
    readouts' errors (direct feedback alignment), and the readouts read every group.
    """

    n_inputs: int = 4
    n_hidden: int = 128
    layers: int = 1
    layer_fan_in: int = 16
    layer_scale: float = 1.0
    recurrent_fan_in: int = 16
    input_fan_in: int = 1
    input_fields: int = 0
    input_field_range: float = 2.0
    input_field_width: float = 1.0
    input_gain: tuple[float, ...] = (1.0,)
    input_wiring: str = "random"
    readout_inputs: bool = True
    spectral_radius: float = 0.8
    input_scale: float = 1.0
    bias_scale: float = 1.0
    tau_min_s: float = 0.02
    tau_max_s: float = 0.08
    unit_norm_steps: float = 0.0
    layer_norm: bool = False
    layer_norm_gradient: str = "full"
    feedforward: bool = False
    activation: str = "tanh"
    tick_s: float = 0.02
    threshold: float = 0.2
    input_threshold: float = 0.1
    decision_ticks: int = 0
    homeostasis_rate: float = 0.02
    target_rate_hz: float = 2.0
    threshold_min: float = 1e-3
    threshold_max: float = 0.6
    seed: int = 0

    def __post_init__(self) -> None:
        _coerce_float_tuples(self)

    def validate(self) -> "NetworkConfig":
        require(self.n_inputs >= 1, "n_inputs must be >= 1")
        require(self.n_hidden >= 1, "n_hidden must be >= 1")
        require(1 <= self.layers <= self.n_hidden, "layers must be in [1, n_hidden]")
        group = self.n_hidden // self.layers
        require(0 <= self.recurrent_fan_in <= group,
                "recurrent_fan_in must be in [0, n_hidden // layers]")
        if self.layers > 1:
            require(1 <= self.layer_fan_in <= group,
                    "layer_fan_in must be in [1, n_hidden // layers]")
        require(0.0 < self.layer_scale < 100.0, "layer_scale must be in (0, 100)")
        require(0 <= self.input_fields <= 64, "input_fields must be in [0, 64]")
        require(0.01 <= self.input_field_range <= 10.0,
                "input_field_range must be in [0.01, 10]")
        require(0.1 <= self.input_field_width <= 10.0,
                "input_field_width must be in [0.1, 10] centre spacings")
        _require_per_input(self.input_gain, self.n_inputs, "input_gain")
        require(self.input_wiring in INPUT_WIRINGS,
                f"input_wiring must be one of {'|'.join(INPUT_WIRINGS)}")
        require(1 <= self.input_fan_in <= self.n_channels,
                "input_fan_in must be in [1, n_channels] (n_inputs times input_fields)")
        if self.input_wiring == "field_linear":
            require(self.input_fields >= 2, "input_wiring field_linear needs input_fields >= 2")
            require(self.input_fan_in % self.n_inputs == 0,
                    "input_wiring field_linear needs input_fan_in to be a multiple of n_inputs "
                    "(the same number of fields from every input)")
        require(0.0 <= self.spectral_radius < 10.0, "spectral_radius must be in [0, 10)")
        require(self.input_scale > 0.0, "input_scale must be > 0")
        require(self.bias_scale >= 0.0, "bias_scale must be >= 0")
        require(self.tick_s > 0.0, "tick_s must be > 0")
        require(0.0 < self.tau_min_s <= self.tau_max_s, "need 0 < tau_min_s <= tau_max_s")
        require(self.unit_norm_steps == 0.0 or 1.0 <= self.unit_norm_steps < math.inf,
                "unit_norm_steps must be 0 (off) or finite and >= 1")
        require(self.activation in ("tanh", "leaky_relu"), "activation must be tanh|leaky_relu")
        require(self.layer_norm_gradient in ("full", "diagonal"),
                "layer_norm_gradient must be full|diagonal")
        require(not (self.layer_norm and self.unit_norm_steps > 0.0),
                "unit_norm_steps and layer_norm are two normalisations: set one of them")
        require(not self.feedforward or (self.recurrent_fan_in == 0
                                         and self.unit_norm_steps == 0.0),
                "feedforward needs recurrent_fan_in 0 and unit_norm_steps 0 (a pass computes "
                "each group once, from the group below)")
        require(0.0 <= self.threshold < 1.0, "threshold must be in [0, 1)")
        require(0.0 <= self.input_threshold < 10.0, "input_threshold must be in [0, 10)")
        require(0 <= self.decision_ticks <= 1000, "decision_ticks must be in [0, 1000]")
        require(self.homeostasis_rate >= 0.0, "homeostasis_rate must be >= 0")
        require(self.target_rate_hz > 0.0, "target_rate_hz must be > 0")
        require(0.0 < self.threshold_min <= self.threshold_max < 1.0,
                "need 0 < threshold_min <= threshold_max < 1")
        return self

    def layer_bounds(self) -> tuple[tuple[int, int], ...]:
        """``(first, end)`` of each hidden group, bottom (the one that reads the inputs) first."""
        group, extra = divmod(self.n_hidden, self.layers)
        starts = [k * group + min(k, extra) for k in range(self.layers + 1)]
        return tuple(zip(starts[:-1], starts[1:]))

    @property
    def n_channels(self) -> int:
        """Input channels of the network: one per input, or ``input_fields`` per input."""
        return self.n_inputs * max(1, self.input_fields)

    def channel_gain(self) -> tuple[float, ...]:
        """``input_gain`` per input channel (each input's gain repeated over its fields)."""
        return tuple(g for g in per_input(self.input_gain, self.n_inputs)
                     for _ in range(max(1, self.input_fields)))


@dataclass(frozen=True)
class LearningConfig:
    """Online actor-critic with eligibility traces, e-prop on the network, consolidation."""

    gamma: float = 0.99
    trace_lambda: float = 0.95
    actor_lr: float = 0.002
    critic_lr: float = 0.001
    hidden_lr: float = 0.0001
    eprop_feedback: str = "random"
    eprop_feedback_refresh_steps: int = 1000
    eprop_td_traces: bool = False
    eprop_max_lag_steps: int = 64
    critic_bound_kappa: float = 2.0
    actor_bound_kappa: float = 2.0
    hidden_bound_kappa: float = 0.0
    mean_regularization: float = 0.0
    mean_limit: float = 0.0
    entropy_coef: float = 0.005
    init_log_std: float = 0.0
    min_log_std: float = -3.0
    max_log_std: float = 1.0
    action_squash: str = "tanh"
    imitation_lr: float = 0.05
    normalize_observations: bool = True
    observation_scale: tuple[float, ...] = (1.0,)
    normalize_rewards: bool = True
    observation_clip: float = 5.0
    weight_clip: float = 4.0
    consolidation_strength: float = 0.0
    consolidation_window_steps: float = 10000.0
    normalization_window_steps: float = 0.0
    change_detection: bool = False
    change_fast_steps: float = 200.0
    change_slow_steps: float = 5000.0
    change_threshold: float = 2.0
    change_relative_drop: float = 0.5
    change_warmup_steps: float = 5000.0
    change_refractory_steps: float = 5000.0
    change_policy_shrink: float = 0.0
    change_policy_memory: int = 0
    change_recall_probation_steps: float = 3000.0
    learning_enabled: bool = True

    def __post_init__(self) -> None:
        _coerce_float_tuples(self)

    def validate(self) -> "LearningConfig":
        require(0.0 <= self.gamma < 1.0, "gamma must be in [0, 1)")
        require(0.0 <= self.trace_lambda <= 1.0, "trace_lambda must be in [0, 1]")
        for name in ("actor_lr", "critic_lr", "hidden_lr", "imitation_lr"):
            value = getattr(self, name)
            require(0.0 <= value <= 10.0, f"{name} must be in [0, 10]")
        require(self.eprop_feedback in ("random", "readout", "backprop"),
                "eprop_feedback must be random|readout|backprop")
        require(1 <= self.eprop_feedback_refresh_steps <= 1_000_000,
                "eprop_feedback_refresh_steps must be in [1, 1000000]")
        require(0 <= self.eprop_max_lag_steps <= 1_000_000,
                "eprop_max_lag_steps must be in [0, 1000000]")
        require(self.critic_bound_kappa > 0.0, "critic_bound_kappa must be > 0")
        require(self.actor_bound_kappa > 0.0, "actor_bound_kappa must be > 0")
        require(self.hidden_bound_kappa >= 0.0, "hidden_bound_kappa must be >= 0 (0: no bound)")
        require(self.mean_regularization >= 0.0, "mean_regularization must be >= 0")
        require(0.0 <= self.mean_limit < 100.0, "mean_limit must be in [0, 100) (0: off)")
        require(self.entropy_coef >= 0.0, "entropy_coef must be >= 0")
        require(self.action_squash in ("tanh", "clip"), "action_squash must be tanh|clip")
        require(self.min_log_std <= self.init_log_std <= self.max_log_std,
                "need min_log_std <= init_log_std <= max_log_std")
        require(self.observation_clip > 0.0, "observation_clip must be > 0")
        _require_per_input(self.observation_scale, None, "observation_scale")
        require(self.weight_clip > 0.0, "weight_clip must be > 0")
        require(self.consolidation_strength >= 0.0, "consolidation_strength must be >= 0")
        require(self.consolidation_window_steps >= 1.0, "consolidation_window_steps must be >= 1")
        require(self.normalization_window_steps == 0.0 or self.normalization_window_steps >= 2.0,
                "normalization_window_steps must be 0 (all time) or >= 2")
        require(1.0 <= self.change_fast_steps < self.change_slow_steps,
                "need 1 <= change_fast_steps < change_slow_steps")
        require(self.change_threshold > 0.0, "change_threshold must be > 0")
        require(self.change_relative_drop >= 0.0, "change_relative_drop must be >= 0")
        require(self.change_warmup_steps >= 0.0 and self.change_refractory_steps >= 0.0,
                "change_warmup_steps and change_refractory_steps must be >= 0")
        require(0.0 <= self.change_policy_shrink <= 1.0, "change_policy_shrink must be in [0, 1]")
        require(0 <= self.change_policy_memory <= 16, "change_policy_memory must be in [0, 16]")
        require(self.change_recall_probation_steps >= 1.0,
                "change_recall_probation_steps must be >= 1")
        return self


@dataclass(frozen=True)
class ActionSpec:
    """What the learner outputs: ``n`` discrete actions, or ``len(low)`` bounded continuous ones."""

    kind: str = "discrete"
    n: int = 2
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        """Number of actor readouts: one logit per discrete action, one mean per dimension."""
        return self.n if self.kind == "discrete" else len(self.low)

    def validate(self) -> "ActionSpec":
        require(self.kind in ("discrete", "continuous"), "action kind must be discrete|continuous")
        if self.kind == "discrete":
            require(self.n >= 2, "a discrete action space needs n >= 2")
        else:
            require(len(self.low) >= 1 and len(self.low) == len(self.high),
                    "continuous actions need low and high of equal, non-zero length")
            for lo, hi in zip(self.low, self.high):
                require(math.isfinite(lo) and math.isfinite(hi) and lo < hi,
                        "continuous action limits must be finite with low < high")
        return self


@dataclass(frozen=True)
class AgentConfig:
    """Everything that defines a learner; stored in checkpoints."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    action: ActionSpec = field(default_factory=ActionSpec)
    seed: int = 0

    def validate(self) -> "AgentConfig":
        self.network.validate()
        self.learning.validate()
        self.action.validate()
        _require_per_input(self.learning.observation_scale, self.network.n_inputs,
                           "observation_scale")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AgentConfig":
        try:
            raw: dict[str, Any] = json.loads(text)
            action = dict(raw["action"])
            action["low"] = tuple(action.get("low", ()))
            action["high"] = tuple(action.get("high", ()))
            return cls(network=NetworkConfig(**raw["network"]),
                       learning=LearningConfig(**raw["learning"]),
                       action=ActionSpec(**action), seed=int(raw["seed"])).validate()
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"not a valid agent configuration: {exc}") from exc

    def with_overrides(self, assignments: list[str],
                       fixed: Mapping[str, str] | None = None) -> "AgentConfig":
        """A copy with ``section.field=value`` assignments applied (network and learning only).

        Values are parsed by the field's current type (``true``/``false`` for booleans, a comma
        list such as ``1,1,8`` for per-input fields); an unknown field, one in ``fixed``
        (name -> why the caller sets it itself) or a value of the wrong type is a ConfigError.
        The result is not validated here: the runner validates it once it has sized it to the
        environment.
        """
        config, fixed = self, fixed or {}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            name = name.strip()
            section, _, key = name.partition(".")
            if not sep or section not in ("network", "learning"):
                raise ConfigError(f"expected network.FIELD=VALUE or learning.FIELD=VALUE, "
                                  f"got {assignment!r}")
            part = getattr(config, section)
            if key not in {f.name for f in dataclasses.fields(part)}:
                raise ConfigError(f"{section} has no field {key!r}")
            if name in fixed:
                raise ConfigError(f"{name} cannot be set: {fixed[name]}")
            value = parse_like(getattr(part, key), text.strip(), name)
            config = dataclasses.replace(
                config, **{section: dataclasses.replace(part, **{key: value})})
        return config

    def structure(self) -> dict[str, Any]:
        """What cannot change live (``STRUCTURE_FIELDS`` and the action space): array shapes,
        and what the input weights were built to read. Per-input values are compared as one per
        input; the field code's range and width only where there are fields."""
        n = self.network
        out: dict[str, Any] = {}
        for name in STRUCTURE_FIELDS:
            section, _, key = name.partition(".")
            value = getattr(getattr(self, section), key)
            out[name] = per_input(value, n.n_inputs) if isinstance(value, tuple) else value
        if not n.input_fields:
            del out["network.input_field_range"], out["network.input_field_width"]
        if n.layers == 1:
            del out["network.layer_fan_in"]  # no synapses between groups
        out["action.kind"], out["action.size"] = self.action.kind, self.action.size
        return out

    def structure_differences(self, other: "AgentConfig") -> str:
        """The structural fields in which ``other`` differs, as ``name: ours -> theirs``."""
        ours, theirs = self.structure(), other.structure()
        return ", ".join(f"{name}: {ours.get(name)} -> {theirs.get(name)}"
                         for name in sorted(ours.keys() | theirs.keys())
                         if ours.get(name) != theirs.get(name))


def parse_like(current: Any, text: str, name: str) -> Any:
    """``text`` parsed as the type of ``current`` (bool, int, float, str, or a tuple of floats
    written ``1,1,8`` or ``[1, 1, 8]``)."""
    try:
        if isinstance(current, tuple):
            return tuple(float(item) for item in text.strip("[]() ").split(","))
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        return text
    except ValueError:
        kind = "comma list of numbers" if isinstance(current, tuple) else type(current).__name__
        raise ConfigError(f"{name} needs a {kind}, got {text!r}") from None


def _coerce_float_tuples(config) -> None:
    """Per-input fields (tuples of floats by default) given as lists or tuples of ints, floats or
    numpy scalars (as a JSON checkpoint gives them) become tuples of floats; what cannot (a bool,
    a string, a number too large for a float, another container) is left for ``validate`` to
    refuse."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not isinstance(f.default, tuple) or not isinstance(value, (list, tuple)):
            continue
        try:
            if any(isinstance(v, (bool, str, bytes)) for v in value):
                raise TypeError
            object.__setattr__(config, f.name, tuple(float(v) for v in value))
        except (TypeError, ValueError, OverflowError):
            pass


def per_input(values: tuple[float, ...], n_inputs: int) -> tuple[float, ...]:
    """A per-input field (one value for every input, or one per input) as ``n_inputs`` values."""
    return tuple(values) * n_inputs if len(values) == 1 else tuple(values)


def _require_per_input(values: tuple, n_inputs: int | None, name: str) -> None:
    """``values`` is one positive, finite number for every input, or one per input."""
    require(isinstance(values, tuple) and len(values) >= 1,
            f"{name} must be a list of numbers: one for every input, or one per input")
    require(all(type(v) is float and math.isfinite(v) and v > 0 for v in values),
            f"{name} values must be finite numbers > 0, got {values}")
    if n_inputs is not None:
        require(len(values) in (1, n_inputs),
                f"{name} needs 1 or n_inputs ({n_inputs}) values, got {len(values)}")


def require(condition: bool, reason: str) -> None:
    """Raise ``ConfigError(reason)`` unless ``condition``."""
    if not condition:
        raise ConfigError(reason)
