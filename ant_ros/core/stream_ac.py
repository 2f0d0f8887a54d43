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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import accounting as A
from .config import ActionSpec
from .normalization import RewardScaler, RunningMeanStd

HIDDEN = (128, 128)
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


class MLP:
    """Linear -> layer norm -> leaky ReLU per hidden layer, then a linear output; its traces."""

    def __init__(self, sizes: tuple[int, ...], sparsity: float, rng: np.random.Generator):
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(1.0 / fan_in)  # LeCun uniform, then sparse
            w = rng.uniform(-bound, bound, (fan_out, fan_in))
            zero = max(0, min(fan_in - 1, int(round(sparsity * fan_in))))
            for row in w:
                row[rng.permutation(fan_in)[:zero]] = 0.0
            self.weights.append(w)
            self.biases.append(np.zeros(fan_out))
        self.traces = [np.zeros_like(p) for p in self.params]
        self.n_params = sum(p.size for p in self.params)
        self.n_units = sum(sizes[1:-1])

    @property
    def params(self) -> list[np.ndarray]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """The output and what the backward pass needs."""
        cache = []
        h = x
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            pre = w @ h + b
            if k == len(self.weights) - 1:
                cache.append((h, None, None))
                return pre, cache
            mean = pre.mean()
            std = math.sqrt(pre.var() + _EPS)
            norm = (pre - mean) / std
            cache.append((h, norm, std))
            h = np.where(norm > 0, norm, _LEAK * norm)
        raise AssertionError("unreachable: the last layer returns")

    def gradients(self, cache: list, d_out: np.ndarray) -> list[np.ndarray]:
        """d(objective)/d(params) at the forward pass ``cache``, given d(objective)/d(output)."""
        grads: list[np.ndarray] = []
        d = d_out
        for k in range(len(self.weights) - 1, -1, -1):
            h_in, _, _ = cache[k]
            grads[:0] = [np.outer(d, h_in), d.copy()]
            if k == 0:
                break
            d_h = self.weights[k].T @ d
            _, norm, std = cache[k - 1]
            d_norm = np.where(norm > 0, d_h, _LEAK * d_h)
            d = (d_norm - d_norm.mean() - norm * (d_norm * norm).mean()) / std
        return grads

    def step(self, grads: list[np.ndarray], decay: float, delta: float, lr: float,
             kappa: float) -> None:
        """Traces, the ObGD step size, and the update."""
        norm = 0.0
        for z, g in zip(self.traces, grads):
            z *= decay
            z += g
            norm += float(np.abs(z).sum())
        bound = lr * kappa * max(abs(delta), 1.0) * norm
        step = (lr / bound if bound > 1.0 else lr) * delta
        for p, z in zip(self.params, self.traces):
            p += step * z

    def reset_traces(self) -> None:
        for z in self.traces:
            z[:] = 0.0

    def flops(self) -> tuple[int, int, int]:
        """(forward, backward, trace + norm + update) flops by the cost model."""
        mats = sum(w.size for w in self.weights)
        units = self.n_units
        # layer norm: mean (n + DIV), variance (3n + DIV), sqrt, normalise (2n); leaky ReLU (n)
        ln_fwd = units * (1 + 3 + 2 + 1) + len(self.weights[:-1]) * (2 * A.DIV + A.SQRT)
        forward = 2 * mats + sum(b.size for b in self.biases) + ln_fwd
        # per weight its gradient (1: the outer product), and the input's gradient (2 per weight)
        # below every layer but the first; layer norm and leaky ReLU backward per unit
        backward = mats + 2 * (mats - self.weights[0].size) + units * 10
        update = self.n_params * (2 + 2 + 2) + A.DIV + 6
        return forward, backward, update


class StreamAC:
    """Actor-critic learner, one sample at a time; ``step`` as ``OnlineLearner.step_observation``
    (observation, reward for the previous action, episode end) -> action or None. The backward
    passes of a step run once its TD error is known, through that step's stored forward passes,
    one per network (the entropy bonus's sign(delta) folded into the actor's output gradient)."""

    PARTS = ("normalisation", "forward", "backward", "traces_and_update", "policy")

    def __init__(self, n_inputs: int, action: ActionSpec, seed: int = 0,
                 config: StreamACConfig = StreamACConfig()) -> None:
        self.config, self.action = config, action
        rng = np.random.default_rng(seed)
        n_out = action.n if action.kind == "discrete" else 2 * len(action.low)
        self.actor = MLP((n_inputs, *config.hidden, n_out), config.sparsity, rng)
        self.critic = MLP((n_inputs, *config.hidden, 1), config.sparsity, rng)
        self.rng = np.random.default_rng(rng.integers(2**63))
        self.obs_stats = RunningMeanStd(n_inputs)
        self.reward_scaler = RewardScaler(config.gamma)
        self.n_inputs = n_inputs
        self._pending: tuple | None = None  # the last step: value, caches, output gradients
        self.flops = dict.fromkeys(self.PARTS, 0.0)
        self._costs = (self.actor.flops(), self.critic.flops())

    def step(self, observation, reward: float | None = None, terminated: bool = False,
             truncated: bool = False):
        c = self.config
        (a_fwd, a_bwd, a_upd), (c_fwd, c_bwd, c_upd) = self._costs
        x = np.asarray(observation, np.float64)
        self.obs_stats.update(x)
        x = self.obs_stats.normalize(x, 5.0)
        self.flops["normalisation"] += A.normalisation_flops(self.n_inputs, True)
        value_out, critic_cache = self.critic.forward(x)
        value = float(value_out[0])
        self.flops["forward"] += c_fwd
        episode_end = terminated or truncated
        if reward is not None and self._pending is not None:
            r = self.reward_scaler.scale(reward, episode_end)
            old_value, old_critic, old_actor, d_logp, d_entropy = self._pending
            delta = r + (0.0 if terminated else c.gamma * value) - old_value
            sign = math.copysign(1.0, delta) if delta else 0.0
            d_actor = d_logp + c.entropy_coef * sign * d_entropy
            decay = c.gamma * c.trace_lambda
            self.critic.step(self.critic.gradients(old_critic, np.ones(1)), decay, delta, c.lr,
                             c.critic_kappa)
            self.actor.step(self.actor.gradients(old_actor, d_actor), decay, delta, c.lr,
                            c.actor_kappa)
            self.flops["normalisation"] += A.reward_scaling_flops()
            self.flops["backward"] += a_bwd + c_bwd + 3 * d_actor.size
            self.flops["traces_and_update"] += a_upd + c_upd + 5
        if episode_end:
            self.actor.reset_traces()
            self.critic.reset_traces()
            self._pending = None
            return None
        head, actor_cache = self.actor.forward(x)
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
                + c_fwd + a_bwd + c_bwd + 3 * self.action.size + a_upd + c_upd + 5
                + A.policy_flops(self.action.kind, self.action.size))

    @property
    def n_params(self) -> int:
        return self.actor.n_params + self.critic.n_params

    def flops_by_part(self) -> dict[str, float]:
        return dict(self.flops)
