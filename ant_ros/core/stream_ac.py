"""Stream AC(lambda), the dense baseline a user would pick instead (Elsayed, Vasan and Mahmood,
"Streaming Deep Reinforcement Learning Finally Works", 2024), in numpy, with its arithmetic
counted by the cost model of ``accounting.py``.

Actor and critic are separate MLPs, ``n_in -> 128 -> 128 -> out``, each hidden layer a linear
map, layer normalisation (no affine parameters) and leaky ReLU; sparse initialisation (90 % of
each unit's input weights zero); one sample at a time with eligibility traces
``z <- gamma lambda z + grad`` and the overshoot-bounded step size (ObGD:
``alpha / max(1, alpha kappa max(|delta|, 1) |z|_1)``); running observation normalisation and
reward scaling. The paper's hyper-parameters: alpha 1, gamma 0.99, lambda 0.8, kappa 3 (actor)
and 2 (critic), entropy 0.01.

``frozen_hidden`` is an ablation, not the paper's method: the hidden layers keep their initial
sparse random weights and only the output layers learn (random features with linear readouts
trained by the same traces and step bound), to measure what learned features are worth.
``fixed_sparsity`` is another: the hidden layers' weights that the sparse initialisation zeroed
stay zero (their gradients masked), a sparse network of the same layer sizes whose arithmetic
is counted per remaining synapse, to measure what a sparse deep learner would keep.
``layer_norm: false`` (no normalisation of the hidden layers) and ``activation: tanh`` (in place
of leaky ReLU) are two more, to measure what the paper's network needs that this package's
(tanh units, no normalisation across a layer) lacks. ``unit_norm_steps: S > 0`` (with
``layer_norm: false``) standardises each hidden unit's input by its own running mean and
variance over about S steps instead (taken as constants by the gradient): a normalisation
local to the unit, which an event-driven unit could keep. ``shared_trunk: true`` makes actor
and critic one network (its hidden layers shared, the actor's heads and the value its outputs),
each keeping its own traces over all of it and its own bounded step, as this package's readouts
share its hidden neurons. ``observation_delay: K`` feeds both networks the (normalised)
observation of K steps earlier (the episode's first standing in for those before it), the
reward and episode end as they come: how much a lag between sensing and the network costs.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import accounting as A
from .config import ActionSpec, ConfigError, parse_like, require
from .normalization import RewardScaler, RunningMeanStd

HIDDEN = (128, 128)
ACTIVATIONS = ("leaky_relu", "tanh")
_LEAK = 0.01
_EPS = 1e-5


@dataclass(frozen=True)
class StreamACConfig:
    hidden: tuple[int, ...] = HIDDEN
    lr: float = 1.0
    gamma: float = 0.99
    trace_lambda: float = 0.8
    actor_kappa: float = 3.0
    critic_kappa: float = 2.0
    entropy_coef: float = 0.01
    sparsity: float = 0.9
    frozen_hidden: bool = False
    fixed_sparsity: bool = False
    layer_norm: bool = True
    activation: str = "leaky_relu"
    unit_norm_steps: float = 0.0
    shared_trunk: bool = False
    observation_delay: int = 0

    def validate(self) -> None:
        """Raise ``ConfigError`` for values the learner cannot run with."""
        require(len(self.hidden) >= 1 and all(isinstance(n, int) and n >= 1
                                                for n in self.hidden),
                 "hidden must be one or more layer sizes >= 1")
        require(self.lr > 0.0, "lr must be > 0")
        require(0.0 <= self.gamma < 1.0, "gamma must be in [0, 1)")
        require(0.0 <= self.trace_lambda <= 1.0, "trace_lambda must be in [0, 1]")
        require(self.actor_kappa > 0.0 and self.critic_kappa > 0.0, "kappas must be > 0")
        require(self.entropy_coef >= 0.0, "entropy_coef must be >= 0")
        require(0.0 <= self.sparsity < 1.0, "sparsity must be in [0, 1)")
        require(self.activation in ACTIVATIONS,
                f"activation must be one of {'|'.join(ACTIVATIONS)}")
        require(self.unit_norm_steps == 0.0 or self.unit_norm_steps >= 1.0,
                "unit_norm_steps must be 0 (off) or >= 1")
        require(not (self.layer_norm and self.unit_norm_steps > 0.0),
                "unit_norm_steps replaces layer norm: set layer_norm false with it")
        require(isinstance(self.observation_delay, int) and not isinstance(
            self.observation_delay, bool) and 0 <= self.observation_delay <= 100,
                "observation_delay must be an integer in [0, 100]")
        require(not (self.shared_trunk and self.unit_norm_steps > 0.0),
                "shared_trunk with unit_norm_steps: the statistics would learn twice per step")

    def with_overrides(self, assignments: list[str]) -> "StreamACConfig":
        """A copy with ``stream_ac.FIELD=VALUE`` assignments applied (``hidden`` as a comma list
        of layer sizes, ``true``/``false`` for booleans), validated."""
        config = self
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            section, _, key = name.strip().partition(".")
            if not sep or section != "stream_ac":
                raise ConfigError(f"--learner stream-ac takes stream_ac.FIELD=VALUE, "
                                  f"got {assignment!r}")
            if key not in {f.name for f in dataclasses.fields(self)}:
                raise ConfigError(f"stream_ac has no field {key!r}")
            text = text.strip()
            try:
                if key == "hidden":
                    value = tuple(int(item) for item in text.strip("[]() ").split(","))
                else:
                    value = parse_like(getattr(config, key), text, name.strip())
            except ValueError:
                raise ConfigError(f"{name.strip()} needs a comma list of layer sizes, "
                                  f"got {text!r}") from None
            config = dataclasses.replace(config, **{key: value})
        config.validate()
        return config


class MLP:
    """Linear -> layer norm -> leaky ReLU per hidden layer, then a linear output; its traces.
    ``frozen_hidden``: only the output layer learns (has traces and gradients);
    ``fixed_sparsity``: the hidden layers' zeroed weights stay zero; ``layer_norm`` false: no
    normalisation; ``activation`` ``tanh``: tanh units in place of leaky ReLU;
    ``unit_norm_steps`` > 0: each unit standardised by its running statistics instead."""

    def __init__(self, sizes: tuple[int, ...], sparsity: float, rng: np.random.Generator,
                 frozen_hidden: bool = False, fixed_sparsity: bool = False,
                 layer_norm: bool = True, activation: str = "leaky_relu",
                 unit_norm_steps: float = 0.0):
        self.layer_norm = layer_norm
        self.tanh = activation == "tanh"
        self.unit_norm_steps = unit_norm_steps
        # per hidden layer, each unit's running mean and variance of its input, and the count
        self.unit_mean = [np.zeros(n) for n in sizes[1:-1]]
        self.unit_var = [np.ones(n) for n in sizes[1:-1]]
        self.unit_count = 0
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(1.0 / fan_in)  # LeCun uniform, then sparse
            w = rng.uniform(-bound, bound, (fan_out, fan_in))
            zero = max(0, min(fan_in - 1, int(round(sparsity * fan_in))))
            for row in w:
                row[rng.permutation(fan_in)[:zero]] = 0.0
            self.weights.append(w)
            self.biases.append(np.zeros(fan_out))
        # the index of the first layer that learns: the output layer alone when frozen
        self.first_trained = len(self.weights) - 1 if frozen_hidden else 0
        # per layer, the weights that may be non-zero (None: all of them)
        self.masks = [w != 0.0 if fixed_sparsity and k < len(self.weights) - 1 else None
                      for k, w in enumerate(self.weights)]
        self.traces = [np.zeros_like(p) for p in self.params]
        self.n_params = sum(p.size for p in self.params)
        # the parameters that can change: the masked weights excluded
        self.n_learning_params = self.n_params - sum(
            int(m.size - m.sum()) for m in self.masks[self.first_trained:] if m is not None)
        self.n_units = sum(sizes[1:-1])

    @property
    def params(self) -> list[np.ndarray]:
        """The learning parameters (weights and biases of the layers that learn), in order."""
        return [p for pair in zip(self.weights[self.first_trained:],
                                  self.biases[self.first_trained:]) for p in pair]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """The output and what the backward pass needs."""
        cache = []
        h = x
        if self.unit_norm_steps > 0.0:
            self.unit_count += 1
            rate = max(1.0 / (self.unit_count + 1), 1.0 / self.unit_norm_steps)
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            pre = w @ h + b
            if k == len(self.weights) - 1:
                cache.append((h, None, None))
                return pre, cache
            if self.layer_norm:
                std = math.sqrt(pre.var() + _EPS)
                norm = (pre - pre.mean()) / std
            elif self.unit_norm_steps > 0.0:
                mean, var = self.unit_mean[k], self.unit_var[k]
                moved = pre - mean
                mean += rate * moved
                var += rate * (moved * (pre - mean) - var)
                std = np.sqrt(var + _EPS)
                norm = (pre - mean) / std
            else:
                norm, std = pre, 1.0
            cache.append((h, norm, std))
            h = np.tanh(norm) if self.tanh else np.where(norm > 0, norm, _LEAK * norm)
        raise AssertionError("unreachable: the last layer returns")

    def gradients(self, cache: list, d_out: np.ndarray) -> list[np.ndarray]:
        """d(objective)/d(params) at the forward pass ``cache``, given d(objective)/d(output)."""
        grads: list[np.ndarray] = []
        d = d_out
        for k in range(len(self.weights) - 1, -1, -1):
            h_in, _, _ = cache[k]
            grad_w = np.outer(d, h_in)
            if self.masks[k] is not None:
                grad_w *= self.masks[k]
            grads[:0] = [grad_w, d.copy()]
            if k == self.first_trained:
                break
            d_h = self.weights[k].T @ d
            _, norm, std = cache[k - 1]
            if self.tanh:  # h_in is tanh(norm)
                d_norm = d_h * (1.0 - h_in * h_in)
            else:
                d_norm = np.where(norm > 0, d_h, _LEAK * d_h)
            if self.layer_norm:
                d = (d_norm - d_norm.mean() - norm * (d_norm * norm).mean()) / std
            elif self.unit_norm_steps > 0.0:  # running statistics: constants to the gradient
                d = d_norm / std
            else:
                d = d_norm
        return grads

    def step(self, grads: list[np.ndarray], decay: float, delta: float, lr: float,
             kappa: float, traces: list[np.ndarray] | None = None) -> None:
        """Traces (``traces``, else the network's own), the ObGD step size, and the update."""
        traces = self.traces if traces is None else traces
        norm = 0.0
        for z, g in zip(traces, grads):
            z *= decay
            z += g
            norm += float(np.abs(z).sum())
        bound = lr * kappa * max(abs(delta), 1.0) * norm
        step = (lr / bound if bound > 1.0 else lr) * delta
        for p, z in zip(self.params, traces):
            p += step * z

    def reset_traces(self) -> None:
        for z in self.traces:
            z[:] = 0.0

    def flops(self) -> tuple[int, int, int]:
        """(forward, backward, trace + norm + update) flops by the cost model."""
        sizes = [int(w.size if m is None else m.sum()) for w, m in zip(self.weights, self.masks)]
        mats = sum(sizes)
        units = self.n_units
        # layer norm (accounting.layer_norm_flops, as the twin's); leaky ReLU (n) or tanh
        # (TANH per unit)
        n_hidden_layers = len(self.weights[:-1])
        ln_fwd = units * (A.TANH if self.tanh else 1)
        if self.layer_norm:
            ln_fwd += A.layer_norm_flops(units, n_hidden_layers)[0]
        elif self.unit_norm_steps > 0.0:
            # running mean (3) and variance (5), the std (the epsilon, SQRT), normalise (sub,
            # DIV); the rate
            ln_fwd += units * (3 + 5 + 1 + A.SQRT + 1 + A.DIV) + 2 + A.DIV
        forward = 2 * mats + sum(b.size for b in self.biases) + ln_fwd
        # per learning weight its gradient (1: the outer product), and the input's gradient
        # (2 per weight) below every learning layer but the lowest; layer norm and leaky ReLU
        # backward per unit of the layers the gradient passes through
        trained = sizes[self.first_trained:]
        trained_mats = sum(trained)
        trained_units = sum(w.shape[0] for w in self.weights[self.first_trained:-1])
        # per unit: the activation's derivative (1 for leaky ReLU, 3 for tanh's 1 - h^2 and
        # its product), layer norm's backward (accounting.layer_norm_flops) or the division by
        # a unit's running sd
        unit_norm = self.unit_norm_steps > 0.0 and not self.layer_norm
        per_unit = (3 if self.tanh else 1) + (A.DIV if unit_norm else 0)
        backward = trained_mats + 2 * (trained_mats - trained[0]) + trained_units * per_unit
        if self.layer_norm:
            trained_layers = len(self.weights[self.first_trained:-1])
            backward += A.layer_norm_flops(trained_units, trained_layers)[1]
        update = self.n_learning_params * (2 + 2 + 2) + A.DIV + 6
        return forward, backward, update


class StreamAC:
    """Actor-critic learner, one sample at a time; ``step`` as ``OnlineLearner.step_observation``
    (observation, reward for the previous action, episode end) -> action or None. The backward
    passes of a step run once its TD error is known, through that step's stored forward passes,
    one per network (the entropy bonus's sign(delta) folded into the actor's output gradient).
    With ``shared_trunk`` ``actor`` and ``critic`` are one network whose last output is the
    value; its two forward passes per step (the value before the update, the action after it),
    two backward passes and two trace sets are counted as such. Each of the two steps is
    bounded by its own ObGD factor, so their sum on the shared weights is bounded only to twice
    one of them, and the critic's gradient is taken through activations from before the last
    step's two updates (with separate networks, one)."""

    PARTS = ("normalisation", "forward", "backward", "traces_and_update", "policy")

    def __init__(self, n_inputs: int, action: ActionSpec, seed: int = 0,
                 config: StreamACConfig = StreamACConfig()) -> None:
        self.config, self.action = config, action
        rng = np.random.default_rng(seed)
        n_out = action.n if action.kind == "discrete" else 2 * len(action.low)
        config.validate()
        ablations = (config.frozen_hidden, config.fixed_sparsity, config.layer_norm,
                     config.activation, config.unit_norm_steps)
        self.n_out = n_out
        if config.shared_trunk:
            self.actor = self.critic = MLP((n_inputs, *config.hidden, n_out + 1),
                                           config.sparsity, rng, *ablations)
        else:
            self.actor = MLP((n_inputs, *config.hidden, n_out), config.sparsity, rng,
                             *ablations)
            self.critic = MLP((n_inputs, *config.hidden, 1), config.sparsity, rng, *ablations)
        # the actor's traces: the network's own are the critic's when the two share it
        self.actor_traces = ([np.zeros_like(p) for p in self.actor.params]
                             if config.shared_trunk else self.actor.traces)
        self.rng = np.random.default_rng(rng.integers(2**63))
        self.obs_stats = RunningMeanStd(n_inputs)
        self.reward_scaler = RewardScaler(config.gamma)
        self.n_inputs = n_inputs
        self._pending: tuple | None = None  # the last step: value, caches, output gradients
        self._delayed: deque = deque()  # with observation_delay: the observations still to come
        self.flops = dict.fromkeys(self.PARTS, 0.0)
        self._costs = (self.actor.flops(), self.critic.flops())

    def step(self, observation, reward: float | None = None, terminated: bool = False,
             truncated: bool = False):
        c = self.config
        (a_fwd, a_bwd, a_upd), (c_fwd, c_bwd, c_upd) = self._costs
        x = np.asarray(observation, np.float64)
        self.obs_stats.update(x)
        x = self.obs_stats.normalize(x, 5.0)
        if c.observation_delay:  # copies, not arithmetic
            if not self._delayed:
                self._delayed.extend([x] * c.observation_delay)
            self._delayed.append(x)
            x = self._delayed.popleft()
        self.flops["normalisation"] += A.normalisation_flops(self.n_inputs, True)
        value_out, critic_cache = self.critic.forward(x)
        value = float(value_out[-1])
        self.flops["forward"] += c_fwd
        episode_end = terminated or truncated
        if reward is not None and self._pending is not None:
            r = self.reward_scaler.scale(reward, episode_end)
            old_value, old_critic, old_actor, d_logp, d_entropy = self._pending
            delta = r + (0.0 if terminated else c.gamma * value) - old_value
            sign = math.copysign(1.0, delta) if delta else 0.0
            d_actor = d_logp + c.entropy_coef * sign * d_entropy
            decay = c.gamma * c.trace_lambda
            d_value = np.ones(1)
            if c.shared_trunk:  # the value is the last output, the actor's heads the others
                d_value = np.zeros(self.n_out + 1)
                d_value[-1] = 1.0
                d_actor = np.append(d_actor, 0.0)
            # both gradients before either update (with a shared trunk, one network's)
            critic_grads = self.critic.gradients(old_critic, d_value)
            actor_grads = self.actor.gradients(old_actor, d_actor)
            self.critic.step(critic_grads, decay, delta, c.lr, c.critic_kappa)
            self.actor.step(actor_grads, decay, delta, c.lr, c.actor_kappa, self.actor_traces)
            self.flops["normalisation"] += A.reward_scaling_flops()
            self.flops["backward"] += a_bwd + c_bwd + 3 * self.n_out
            self.flops["traces_and_update"] += a_upd + c_upd + 5
        if episode_end:
            self.critic.reset_traces()
            for z in self.actor_traces:
                z[:] = 0.0
            self._pending = None
            self._delayed.clear()
            return None
        head, actor_cache = self.actor.forward(x)
        head = head[:self.n_out]
        self.flops["forward"] += a_fwd
        action, d_logp, d_entropy = self._policy(head)
        self.flops["policy"] += A.policy_flops(self.action.kind, self.action.size)
        self._pending = (value, critic_cache, actor_cache, d_logp, d_entropy)
        return action

    def _policy(self, head: np.ndarray):
        """The action, d log pi / d head and d entropy / d head."""
        spec = self.action
        if spec.kind == "discrete":
            p = np.exp(head - head.max())
            p /= p.sum()
            a = int(min(np.searchsorted(np.cumsum(p), self.rng.random()), p.size - 1))
            d_logp = -p
            d_logp[a] += 1.0
            logp = np.log(np.maximum(p, 1e-12))
            entropy = -float(p @ logp)
            return a, d_logp, -p * (logp + entropy)
        n = len(spec.low)
        mu, log_std = head[:n], np.clip(head[n:], -5.0, 2.0)
        std = np.exp(log_std)
        u = mu + std * self.rng.standard_normal(n)
        low, high = np.asarray(spec.low), np.asarray(spec.high)
        action = low + 0.5 * (np.tanh(u) + 1.0) * (high - low)
        z = (u - mu) / std
        d_logp = np.concatenate([z / std, z * z - 1.0])
        d_entropy = np.concatenate([np.zeros(n), np.ones(n)])
        return action, d_logp, d_entropy

    def flops_per_step(self) -> float:
        """The arithmetic of one learning step by the cost model (normalisation, both forward
        passes, both backward passes, traces and updates, the policy): what ``step`` counts on a
        step with a TD error."""
        (a_fwd, a_bwd, a_upd), (c_fwd, c_bwd, c_upd) = self._costs
        return (A.normalisation_flops(self.n_inputs, True) + A.reward_scaling_flops() + a_fwd
                + c_fwd + a_bwd + c_bwd + 3 * self.n_out + a_upd + c_upd + 5
                + A.policy_flops(self.action.kind, self.action.size))

    @property
    def n_params(self) -> int:
        """The parameters that learn (masked weights of ``fixed_sparsity`` excluded)."""
        if self.config.shared_trunk:
            return self.actor.n_learning_params
        return self.actor.n_learning_params + self.critic.n_learning_params

    def flops_by_part(self) -> dict[str, float]:
        return dict(self.flops)
