"""The asynchronous, event-driven network: neurons are touched only by events."""

from __future__ import annotations

import math

import numpy as np
from numba import typeof, types

from . import kernels as K
from .config import NetworkConfig
from .connectivity import Connectivity, build_connectivity


def compiled_entry(dispatcher, arg_types: tuple):
    """The machine code a numba dispatcher compiles for these argument types, called directly:
    it skips the dispatcher's per-call typing of every argument (a quarter of a microsecond with
    twenty arguments). A wrong dtype still raises; callers pass arrays of the right number of
    dimensions (any strides where the type's layout is ``A``)."""
    dispatcher.compile(arg_types)
    try:
        return dispatcher.overloads[arg_types].entry_point
    except (AttributeError, KeyError):  # another numba: keep the checked path
        return dispatcher


def _advance_types(state_args: tuple) -> tuple:
    events = tuple(types.Array(dtype, 1, "A") for dtype in (types.int64, types.int32,
                                                                 types.float64))
    return events + (types.int64,) + tuple(typeof(a) for a in state_args)


class AsyncNetwork:
    """Continuous-time leaky tanh units with sigma-delta events and lazily settled e-prop traces.

    ``tau dc/dt = -c + a``, ``y = tanh(c)``, ``a = b + W yhat + U xhat``. A neuron sends
    ``delta = y - yhat`` when ``|y - yhat| >= theta``; receivers add ``w * delta`` to their drive.
    Readouts ``r = V [yhat; xhat; 1]`` (``V [yhat; 1]`` without ``readout_inputs``) are kept
    up to date from the same events.
    """

    def __init__(self, config: NetworkConfig, n_readouts: int, n_signals: int,
                 rng: np.random.Generator) -> None:
        self.config = config.validate()
        n, m = config.n_hidden, config.n_channels
        self.n_hidden, self.n_channels = n, m
        conn: Connectivity = build_connectivity(config, rng)
        self.n_synapses = conn.n_synapses
        # packed state, rows named by the constants in kernels.py
        self.syn = np.stack([conn.pre, conn.post, conn.in_syn]).astype(np.int32)
        self.ptr = np.zeros((2, n + m + 1), np.int64)
        self.ptr[K.OUT_PTR] = conn.out_ptr
        self.ptr[K.IN_PTR, : n + 1] = conn.in_ptr
        self.ptr[K.IN_PTR, n + 1:] = conn.in_ptr[-1]
        self.weight = conn.weight
        self.nf = np.zeros((n, K.NEURON_F_COLS), np.float64)
        self.nf[:, K.BIAS] = rng.uniform(-config.bias_scale, config.bias_scale, n)
        self.nf[:, K.INV_TAU] = config.tick_s / rng.uniform(config.tau_min_s, config.tau_max_s, n)
        self.nf[:, K.CELL] = self.nf[:, K.BIAS]
        self.nf[:, K.THETA] = config.threshold
        self.ni = np.zeros((n, K.NEURON_I_COLS), np.int64)
        self.ni[:, K.LAST_EMIT] = K.NEVER
        self.unit = np.zeros((K.UNIT_F_ROWS, n + m), np.float64)
        self.unit[K.OUT, :n] = np.tanh(self.nf[:, K.CELL])
        self.unit[K.EPS] = self.unit[K.OUT]
        self.snap_step = np.zeros(n + m, np.int64)
        self.wheel = np.full(K.WHEEL_SLOTS + 1, -1, np.int64)
        self.misc = np.zeros(K.MISC_SIZE, np.int64)
        # readout columns: the units read (hidden, then input channels if read), then the bias
        self.n_read = n + m if config.readout_inputs else n
        self.readout = np.zeros((n_readouts, self.n_read + 1), np.float64)
        self.readout_value = np.zeros(n_readouts, np.float64)
        # e-prop learning state (see kernels.py)
        self.feedback = np.zeros((n, n_signals), np.float64)
        self.sums = np.zeros((K.SUM_ROWS, n_signals), np.float64)
        self.snaps = np.zeros((K.SUM_ROWS, n + m, n_signals), np.float64)
        self.learn_params = np.zeros(K.N_LEARN_PARAMS, np.float64)
        self.syn_f = np.zeros((K.SYN_F_ROWS, conn.n_synapses), np.float64)
        self.syn_f[K.ANCHOR] = self.weight
        self.origin_s: float | None = None
        # the state arrays are only ever changed in place, so one tuple serves every call
        self._advance_args = (self.syn, self.ptr, self.weight, self.nf, self.ni, self.unit,
                              self.snap_step, self.wheel, self.misc, self.readout,
                              self.readout_value, self.feedback, self.sums, self.snaps,
                              self.learn_params, self.syn_f)
        self.set_learning(lr=0.0, trace_steps=5.0, weight_clip=4.0)
        self.refresh()
        self._advance = compiled_entry(K.advance, _advance_types(self._advance_args))

    # -- configuration -------------------------------------------------------------------------

    def set_learning(self, lr: float, trace_steps: float, weight_clip: float,
                     consolidation: float = 0.0, anchor_steps: float = 1e4,
                     active: bool | None = None, td_trace_decay: float = 0.0) -> None:
        """Set e-prop and homeostasis parameters (live). ``td_trace_decay`` (gamma * lambda;
        0: off) makes the e-prop eligibility a TD(lambda) trace that later TD errors act on."""
        log_kappa = -1.0 / trace_steps
        filtered = float(td_trace_decay > 0.0)
        log_rho = math.log(td_trace_decay) if filtered else 0.0
        lp = self.learn_params
        if active is not None and bool(active) != self.learning_active:
            if active:
                self._rebase()  # start the sums afresh: nothing accumulated while inactive
            self.misc[K.ACTIVE] = int(active)
        if self.learning_active and (log_kappa, filtered, log_rho) != (
                lp[K.LP_LOG_KAPPA], lp[K.LP_FILTER], lp[K.LP_LOG_RHO]):
            self._rebase()  # settle what accrued under the old parameters
        if filtered != lp[K.LP_FILTER]:
            self._clear_traces()
        c = self.config
        lp[K.LP_LR], lp[K.LP_LOG_KAPPA], lp[K.LP_WCLIP] = lr, log_kappa, weight_clip
        lp[K.LP_FILTER], lp[K.LP_LOG_RHO] = filtered, log_rho
        lp[K.LP_CONS], lp[K.LP_ANCHOR] = consolidation, 1.0 / anchor_steps
        lp[K.LP_HOMEO], lp[K.LP_RATE] = c.homeostasis_rate, c.target_rate_hz * c.tick_s
        lp[K.LP_THMIN], lp[K.LP_THMAX] = c.threshold_min, c.threshold_max
        # rebase before kappa**-(steps since base) or rho**-(...) leaves double precision
        # comfort (e**18)
        self.rebase_period = max(1, int(18.0 / max(-log_kappa, -log_rho)))

    @property
    def learning_active(self) -> bool:
        return bool(self.misc[K.ACTIVE])

    def clip_weights(self, limit: float) -> None:
        """Clip every weight to +-``limit`` (as learning updates do), re-anchor consolidation
        there and recompute the drives."""
        np.clip(self.weight, -limit, limit, out=self.weight)
        self.syn_f[K.ANCHOR] = self.weight
        self.refresh()

    def set_threshold(self, threshold: float) -> None:
        """Set every neuron's threshold (live); crossings are rescheduled."""
        self.nf[:, K.THETA] = threshold
        self.refresh()

    # -- time ----------------------------------------------------------------------------------

    def tick_of(self, time_s: np.ndarray | float) -> np.ndarray:
        origin = self.origin_s if self.origin_s is not None else 0.0
        return np.floor((np.asarray(time_s) - origin) / self.config.tick_s + 0.5).astype(np.int64)

    @property
    def now_tick(self) -> int:
        return int(self.misc[K.NOW])

    @property
    def counters(self) -> np.ndarray:
        """synaptic ops, neuron updates, learning updates, hidden events, input events"""
        return self.misc[: K.N_COUNTERS]

    # -- running -------------------------------------------------------------------------------

    def process_ticks(self, ev_tick: np.ndarray, ev_channel: np.ndarray,
                      ev_value: np.ndarray, k_end: int) -> None:
        """Deliver validated, tick-sorted input events and run every threshold crossing up to and
        including tick ``k_end`` (the learner validates and quantises the events). The events are
        1-D arrays: int64 ticks, int32 channels, float64 values."""
        self._advance(ev_tick, ev_channel, ev_value, k_end, *self._advance_args)

    # -- learning ------------------------------------------------------------------------------

    def add_learning_signal(self, delta: float, gradient: np.ndarray,
                            clip: float = math.inf) -> None:
        """Close one learning step: the TD error (or 1 for a supervised error) and each
        readout's gradient ``h``; the broadcast signal ``s = delta * h`` (or, with TD(lambda)
        traces, delta and h) are clipped to +-clip."""
        if not self.learning_active:
            return
        misc, sums, lp = self.misc, self.sums, self.learn_params
        misc[K.STEP] += 1
        since_base = misc[K.STEP] - misc[K.BASE]
        decayed = math.exp(lp[K.LP_LOG_KAPPA] * since_base)
        if lp[K.LP_FILTER] == 0.0:
            signal = np.clip(delta * gradient, -clip, clip)
            sums[K.SUM] += signal
            sums[K.DECAYED] += signal * decayed
        else:
            delta = min(max(delta, -clip), clip)
            gradient = np.clip(gradient, -clip, clip)
            rho = math.exp(lp[K.LP_LOG_RHO])
            sums[K.FILTERED] *= rho
            sums[K.FILTERED] += gradient
            sums[K.FILTERED_DECAYED] *= rho
            sums[K.FILTERED_DECAYED] += gradient * decayed
            sums[K.SUM] += delta * sums[K.FILTERED]
            sums[K.DECAYED] += delta * sums[K.FILTERED_DECAYED]
            sums[K.TD_SUM] += delta * math.exp(lp[K.LP_LOG_RHO] * since_base)
        if since_base >= self.rebase_period:
            self._rebase()

    def reset_traces(self) -> None:
        """End of an episode: TD(lambda) e-prop traces start again from zero."""
        if self.learn_params[K.LP_FILTER] == 0.0:
            return
        if self.learning_active:
            self._rebase()
        self._clear_traces()

    def _clear_traces(self) -> None:
        self.syn_f[K.TRACE] = 0.0
        self.sums[K.FILTERED:K.FILTERED_DECAYED + 1] = 0.0
        self.snaps[K.FILTERED:K.FILTERED_DECAYED + 1] = 0.0

    def settle_learning(self) -> None:
        """Apply every pending e-prop weight change now (for checkpoints and tests)."""
        K.settle_all(self.now_tick, self.syn, self.weight, self.nf, self.ni, self.unit,
                     self.snap_step, self.misc, self.feedback, self.sums, self.snaps,
                     self.learn_params, self.syn_f)
        self.refresh()

    def _rebase(self) -> None:
        """Settle every synapse and restart every sum at the current step. The filtered signals
        restart too: once all synapses are settled, what they held before this step cancels
        exactly in every later use (the synapses' traces carry it), and dropping it keeps the
        differences that are used well conditioned whichever of kappa and rho decays faster."""
        self.settle_learning()
        self.misc[K.BASE] = self.misc[K.STEP]
        self.sums[:] = 0.0
        self.snaps[:] = 0.0

    def refresh(self) -> None:
        """Recompute drives and readouts exactly and reschedule every crossing."""
        K.refresh(self.now_tick, self.syn, self.weight, self.nf, self.ni, self.unit, self.wheel,
                  self.misc, self.readout, self.readout_value)

    # -- views ---------------------------------------------------------------------------------

    @property
    def out(self) -> np.ndarray:
        """Every unit's output as last sent: ``[yhat; xhat]``."""
        return self.unit[K.OUT]

    @property
    def hidden_output(self) -> np.ndarray:
        """``yhat``: each neuron's output as last sent."""
        return self.unit[K.OUT, : self.n_hidden]

    @property
    def input_value(self) -> np.ndarray:
        """``xhat``: each input channel as reconstructed from its events."""
        return self.unit[K.OUT, self.n_hidden:]

    @property
    def cell(self) -> np.ndarray:
        return self.nf[:, K.CELL]

    @property
    def bias(self) -> np.ndarray:
        return self.nf[:, K.BIAS]

    @property
    def inv_tau(self) -> np.ndarray:
        return self.nf[:, K.INV_TAU]

    @property
    def threshold(self) -> np.ndarray:
        return self.nf[:, K.THETA]

    @property
    def dense_synops_per_tick(self) -> int:
        """Synaptic ops a synchronous network with this connectivity does every tick: every
        synapse, and every readout weight except the biases."""
        return self.n_synapses + self.readout.size - self.readout.shape[0]

    def dense_weights(self, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """The current weights as dense ``W`` (N x N) and ``U`` (N x M) matrices."""
        n = self.n_hidden
        full = np.zeros((n, n + self.n_channels), dtype=dtype)
        full[self.syn[K.POST], self.syn[K.PRE]] = self.weight
        return np.ascontiguousarray(full[:, :n]), np.ascontiguousarray(full[:, n:])

    def features(self) -> np.ndarray:
        """Readout input: ``[yhat; xhat; 1]``, or ``[yhat; 1]`` without ``readout_inputs``."""
        return np.append(self.unit[K.OUT, : self.n_read], 1.0)

    # -- state for checkpoints -----------------------------------------------------------------

    STATE_FIELDS = ("syn", "ptr", "weight", "nf", "ni", "unit", "snap_step", "misc", "readout",
                    "feedback", "sums", "snaps", "learn_params", "syn_f")

    def state(self) -> dict[str, np.ndarray]:
        state = {f"net.{name}": getattr(self, name) for name in self.STATE_FIELDS}
        state["net.origin_s"] = np.array([np.nan if self.origin_s is None else self.origin_s])
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy a validated state in (shapes were checked by the caller)."""
        for name in self.STATE_FIELDS:
            getattr(self, name)[...] = state[f"net.{name}"]
        origin = float(state["net.origin_s"][0])
        self.origin_s = None if math.isnan(origin) else origin
        self.refresh()
