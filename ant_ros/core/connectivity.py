"""Sparse random connectivity with fixed fan-in, stored as synapse lists plus CSR indices.

Presynaptic units share one index space: hidden neurons ``0..N-1``, input channels ``N..N+M-1``.
Every synapse ``s`` has ``pre[s]``, ``post[s]`` and ``weight[s]``. Synapses are sorted by
presynaptic unit, so those leaving unit ``p`` are ``out_ptr[p]:out_ptr[p + 1]`` (contiguous, for
fast event delivery); ``in_ptr``/``in_syn`` list those entering each hidden neuron (used to settle
traces when the neuron itself has an event).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import NetworkConfig


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
    """Random sparse recurrent and input weights; recurrent part scaled to the spectral radius."""
    n, m = config.n_hidden, config.n_channels
    pres, posts, weights = [], [], []
    k = config.recurrent_fan_in
    if k > 0:
        rec_pre = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n)])
        rec_w = rng.standard_normal((n, k)) / np.sqrt(k)
        dense = np.zeros((n, n))
        dense[np.repeat(np.arange(n), k), rec_pre.ravel()] = rec_w.ravel()
        radius = float(np.max(np.abs(np.linalg.eigvals(dense)))) if n > 1 else abs(dense[0, 0])
        if radius > 0:
            rec_w *= config.spectral_radius / radius
        pres.append(rec_pre.ravel())
        posts.append(np.repeat(np.arange(n), k))
        weights.append(rec_w.ravel())
    ki = config.input_fan_in
    in_pre = np.stack([rng.choice(m, size=ki, replace=False) for _ in range(n)]) + n
    in_w = rng.standard_normal((n, ki)) * config.input_scale / np.sqrt(ki)
    pres.append(in_pre.ravel())
    posts.append(np.repeat(np.arange(n), ki))
    weights.append(in_w.ravel())

    pre = np.concatenate(pres).astype(np.int32)
    by_pre = np.argsort(pre, kind="stable")
    pre = pre[by_pre]
    post = np.concatenate(posts).astype(np.int32)[by_pre]
    weight = np.concatenate(weights).astype(np.float32)[by_pre]
    out_ptr, _ = _csr(pre, n + m)
    in_ptr, in_syn = _csr(post, n)
    return Connectivity(n, m, pre, post, weight, out_ptr, in_ptr, in_syn)


def _csr(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable").astype(np.int32)
    counts = np.bincount(keys, minlength=n_keys)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order
