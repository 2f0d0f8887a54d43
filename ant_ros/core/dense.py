"""Dense synchronous reference of the same model: every neuron updated every tick with BLAS.

It is the baseline for speed and op counts and the oracle for correctness: as the threshold goes
to zero the asynchronous network's outputs converge to this one's.
"""

from __future__ import annotations

import numpy as np

from .network import AsyncNetwork


class DenseNetwork:
    """``c <- a + (c - a) exp(-dt/tau)``, ``y = tanh(c)``, ``a = b + W y + U x`` every tick."""

    def __init__(self, net: AsyncNetwork, dtype=np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self.W, self.U = net.dense_weights(self.dtype)
        self.bias = net.bias.astype(self.dtype)
        self.decay = np.exp(-net.inv_tau).astype(self.dtype)
        self.readout = net.readout.astype(self.dtype)
        self.n_hidden, self.n_inputs = net.n_hidden, net.n_inputs
        self.cell = net.cell.astype(self.dtype)
        self.y = np.tanh(self.cell)
        self.x = net.input_value.astype(self.dtype)
        self.drive = self.bias + self.W @ self.y + self.U @ self.x
        self.features = np.concatenate([self.y, self.x, np.ones(1, self.dtype)])
        self.readout_value = self.readout @ self.features
        self.now_tick = net.now_tick
        # what a synchronous network with the same connectivity does each tick
        self.synops_per_tick = net.n_synapses + self.readout.size - self.readout.shape[0]
        self.ticks = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        """Advance one tick with input ``x`` (already holding this tick's events)."""
        self.cell = self.drive + (self.cell - self.drive) * self.decay
        np.tanh(self.cell, out=self.y)
        self.x[:] = x
        self.drive = self.bias + self.W @ self.y + self.U @ self.x
        n = self.n_hidden
        self.features[:n] = self.y
        self.features[n:n + self.n_inputs] = self.x
        self.readout_value = self.readout @ self.features
        self.now_tick += 1
        self.ticks += 1
        return self.readout_value

    @property
    def synops(self) -> int:
        return self.ticks * self.synops_per_tick
