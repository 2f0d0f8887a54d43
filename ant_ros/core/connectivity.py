"""Sparse random connectivity with fixed fan-in, stored as synapse lists plus CSR indices.

Presynaptic units share one index space: hidden neurons ``0..N-1``, input channels ``N..N+M-1``.
Every synapse ``s`` has ``pre[s]``, ``post[s]`` and ``weight[s]``. Synapses are sorted by
presynaptic unit, so those leaving unit ``p`` are ``out_ptr[p]:out_ptr[p + 1]`` (contiguous, for
fast event delivery); ``in_ptr``/``in_syn`` list those entering each hidden neuron (no kernel
walks them since e-prop is settled at presynaptic events only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import NetworkConfig
from .encoders import PopulationEncoder


@dataclass
class Connectivity:
    n_hidden: int
    n_inputs: int
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    out_ptr: np.ndarray
    in_ptr: np.ndarray
    in_syn: np.ndarray

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)


def build_connectivity(config: NetworkConfig, rng: np.random.Generator) -> Connectivity:
    """Sparse recurrent, inter-layer and input weights: the recurrent part within each group of
    ``config.layer_bounds()`` (each group's block scaled to the spectral radius), each group
    above the first reading ``layer_fan_in`` neurons of the group below, the first group's
    inputs wired as ``config.input_wiring`` says."""
    n, m = config.n_hidden, config.n_channels
    bounds = config.layer_bounds()
    pres, posts, weights = [], [], []
    k = config.recurrent_fan_in
    if k > 0:
        rec_pre = np.concatenate([
            np.stack([first + rng.choice(end - first, size=k, replace=False)
                      for _ in range(first, end)]) for first, end in bounds])
        rec_w = rng.standard_normal((n, k)) / np.sqrt(k)
        for first, end in bounds:  # each group's own recurrent block to the spectral radius
            size = end - first
            block = np.zeros((size, size))
            block[np.repeat(np.arange(size), k), rec_pre[first:end].ravel() - first] = (
                rec_w[first:end].ravel())
            radius = (float(np.max(np.abs(np.linalg.eigvals(block)))) if size > 1
                      else abs(block[0, 0]))
            if radius > 0:
                rec_w[first:end] *= config.spectral_radius / radius
        pres.append(rec_pre.ravel())
        posts.append(np.repeat(np.arange(n), k))
        weights.append(rec_w.ravel())
    kl = config.layer_fan_in
    for (below_first, below_end), (first, end) in zip(bounds[:-1], bounds[1:]):
        layer_pre = np.stack([below_first + rng.choice(below_end - below_first, size=kl,
                                                       replace=False)
                              for _ in range(first, end)])
        pres.append(layer_pre.ravel())
        posts.append(np.repeat(np.arange(first, end), kl))
        weights.append((rng.standard_normal(layer_pre.shape) * config.layer_scale
                        / np.sqrt(kl)).ravel())
    n_first = bounds[0][1]
    in_channel, in_w = (_field_linear_inputs(config, n_first, rng)
                        if config.input_wiring == "field_linear"
                        else _random_inputs(config, n_first, rng))
    in_w = in_w / np.asarray(config.channel_gain())[in_channel]  # the same initial drive
    pres.append(in_channel.ravel() + n)
    posts.append(np.repeat(np.arange(n_first), in_channel.shape[1]))
    weights.append(in_w.ravel())

    pre = np.concatenate(pres).astype(np.int32)
    by_pre = np.argsort(pre, kind="stable")
    pre = pre[by_pre]
    post = np.concatenate(posts).astype(np.int32)[by_pre]
    weight = np.concatenate(weights).astype(np.float32)[by_pre]
    out_ptr, _ = _csr(pre, n + m)
    in_ptr, in_syn = _csr(post, n)
    return Connectivity(n, m, pre, post, weight, out_ptr, in_ptr, in_syn)


def draw_neurons(config: NetworkConfig, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's bias and inverse time constant in ticks (``tick_s / tau``), drawn after the
    synapses, so the asynchronous network and its synchronous twin start alike."""
    n = config.n_hidden
    bias = rng.uniform(-config.bias_scale, config.bias_scale, n)
    inv_tau = config.tick_s / rng.uniform(config.tau_min_s, config.tau_max_s, n)
    return bias, inv_tau


def _random_inputs(config: NetworkConfig, n: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``input_fan_in`` distinct random channels for each of the first ``n`` neurons (rows),
    Gaussian weights."""
    m, ki = config.n_channels, config.input_fan_in
    channel = np.stack([rng.choice(m, size=ki, replace=False) for _ in range(n)])
    return channel, rng.standard_normal((n, ki)) * config.input_scale / np.sqrt(ki)


def _field_linear_inputs(config: NetworkConfig, n: int, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Each of the first ``n`` neurons reads ``f = input_fan_in / n_inputs`` evenly spaced fields
    of every input, from a random offset, with weights that make its drive a linear function of
    the inputs.

    Gaussian fields of width sigma at spacing d sum, weighted by their centres, to
    ``x * sqrt(2 pi) sigma / d``; every ``s``-th field (``s = K / f``) to ``1/s`` of that. So the
    weight ``g * c_k * s * d / (sqrt(2 pi) sigma)`` on field k gives a drive of about ``g * x``,
    with ``g ~ N(0, input_scale**2 / n_inputs)`` per neuron and input, away from the ends of the
    field range (before the division by the channel gain and the learner's weight clip).
    """
    n_in, n_fields = config.n_inputs, config.input_fields
    per_input = config.input_fan_in // n_in
    code = PopulationEncoder(-config.input_field_range, config.input_field_range, n_fields,
                             config.input_field_width)
    stride = n_fields / per_input
    first = np.floor(np.arange(per_input) * stride).astype(np.int64)
    offset = rng.integers(0, n_fields - first[-1], size=(n, n_in))
    field = offset[:, :, None] + first[None, None, :]                    # (n, inputs, f)
    gain = rng.standard_normal((n, n_in)) * config.input_scale / np.sqrt(n_in)
    per_unit = stride * code.spacing / (np.sqrt(2.0 * np.pi) * code.sigma)
    weight = gain[:, :, None] * code.centres[field] * per_unit
    channel = np.arange(n_in)[None, :, None] * n_fields + field
    return channel.reshape(n, -1), weight.reshape(n, -1)


def _csr(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable").astype(np.int32)
    counts = np.bincount(keys, minlength=n_keys)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order
