"""Dense synchronous reference of the same model: every neuron updated every tick with BLAS.

It is the oracle for correctness: as the threshold goes to zero the asynchronous network's
outputs converge to this one's. The efficiency baseline is the synchronous twin (``twin.py``),
which runs the same sparse connectivity instead of full matrices.
"""

from __future__ import annotations

import numpy as np

from .network import AsyncNetwork


class DenseNetwork:
    """``c <- a + (c - a) exp(-dt/tau)``, ``y = tanh(c)``, ``a = b + W y + U x`` every tick.

    One fused matrix ``[W U]`` times the feature vector ``[y; x]`` per tick, in place, so the
    baseline pays for BLAS arithmetic and little Python overhead.
    """

    def __init__(self, net: AsyncNetwork, dtype=np.float32) -> None:
        self.dtype = np.dtype(dtype)
        n, m = net.n_hidden, net.n_channels
        self.n_hidden, self.n_channels = n, m
        W, U = net.dense_weights(self.dtype)
        self.weights = np.ascontiguousarray(np.hstack([W, U]))
        self.bias = net.bias.astype(self.dtype)
        self.decay = np.exp(-net.inv_tau).astype(self.dtype)
        self.readout = net.readout.astype(self.dtype)
        self.cell = net.cell.astype(self.dtype)
        # features [y; x; 1]: y and x are views into it
        self.features = np.ones(n + m + 1, self.dtype)
        self.y = self.features[:n]
        self.x = self.features[n:n + m]
        np.tanh(self.cell, out=self.y)
        self.x[:] = net.input_value
        self.drive = self.bias + self.weights @ self.features[:n + m]
        # the readouts' input, fixed at start: [y; x; 1], or [y; 1] (hidden layer only)
        self._read = self._read_all if net.n_read == n + m else self._read_hidden
        self.readout_value = self._read()
        self._scratch = np.empty(n, self.dtype)

    def step(self, x: np.ndarray) -> np.ndarray:
        """Advance one tick with input ``x`` (already holding this tick's events)."""
        np.subtract(self.cell, self.drive, out=self._scratch)
        np.multiply(self._scratch, self.decay, out=self._scratch)
        np.add(self.drive, self._scratch, out=self.cell)
        np.tanh(self.cell, out=self.y)
        self.x[:] = x
        np.matmul(self.weights, self.features[:self.n_hidden + self.n_channels], out=self.drive)
        self.drive += self.bias
        self.readout_value = self._read()
        return self.readout_value

    def _read_all(self) -> np.ndarray:
        """Readouts of ``[y; x; 1]``."""
        return self.readout @ self.features

    def _read_hidden(self) -> np.ndarray:
        """Readouts of ``[y; 1]``: the hidden layer only."""
        return self.readout[:, :-1] @ self.y + self.readout[:, -1]
