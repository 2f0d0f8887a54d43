"""The asynchronous, event-driven network: neurons are touched only by events."""

from __future__ import annotations

import math

import numpy as np
from numba import typeof, types

from . import event_readout as er
from . import kernels as K
from .accounting import kernel_flops
from .config import ConfigError, NetworkConfig
from .connectivity import Connectivity, build_connectivity, draw_neurons
from .jit import compiled_entry, entry_for


# what settling every readout feature counts: weights settled, features settled, skipped
_RO_SETTLE_COUNTERS = (K.C_RO_SETTLE, K.C_RO_FEATURE, K.C_RO_FEATURE_SKIP)


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
        self.nf[:, K.BIAS], self.nf[:, K.INV_TAU] = draw_neurons(config, rng)
        self.nf[:, K.CELL] = self.nf[:, K.BIAS]
        self.nf[:, K.THETA] = config.threshold
        self.ni = np.zeros((n, K.NEURON_I_COLS), np.int64)
        self.ni[:, K.LAST_EMIT] = K.NEVER
        self.ni[:, K.SIG_VERSION] = -1
        for first, end in config.layer_bounds():
            self.ni[first:end, K.GROUP_FIRST] = first
            self.ni[first:end, K.GROUP_END] = end
            self.nf[first, K.GROUP_INV_K] = 1.0 / (end - first)
        self.unit = np.zeros((K.UNIT_F_ROWS, n + m), np.float64)
        leaky = config.activation == "leaky_relu"
        arg, inv_sd = self.nf[:, K.CELL].copy(), np.ones(n)
        for first, end in config.layer_bounds() if config.layer_norm else ():
            cells = arg[first:end]  # standardised across the group (``network.layer_norm``)
            inv_sd[first:end] = 1.0 / np.sqrt(cells.var() + K.LN_EPS)
            arg[first:end] = (cells - cells.mean()) * inv_sd[first:end]
        y = np.where(arg > 0.0, arg, K.LEAK * arg) if leaky else np.tanh(arg)
        slope = np.where(y > 0.0, 1.0, K.LEAK) if leaky else 1.0 - y ** 2
        # with layer norm's full gradient the slope is in the feedback row (``kernels.ln_row``)
        full = config.layer_norm and config.layer_norm_gradient == "full"
        self.unit[K.OUT, :n] = y
        self.unit[K.PSI, :n] = inv_sd if full else inv_sd * slope
        self.uint = np.zeros((K.UNIT_I_ROWS, n + m), np.int64)
        self.uint[K.U_VERSION] = self.uint[K.PENDING_CLOCK] = -1
        self.wheel = np.full(K.WHEEL_SLOTS + 1, -1, np.int64)
        self.misc = np.zeros(K.MISC_SIZE, np.int64)
        self.misc[K.CLOCK] = self.uint[K.SNAP_CLOCK] = 1  # after step 0's phase B: nothing due
        self.misc[K.FEEDFORWARD] = config.feedforward
        self.misc[K.LEAKY] = leaky  # fixed at start: structure
        self.misc[K.LAYER_NORM] = config.layer_norm  # fixed at start too
        self.misc[K.LN_FULL] = full
        self.count = np.zeros(K.N_COUNTS, np.int64)
        self._uncounted = np.zeros(K.N_COUNTS, np.int64)
        # readout columns: the units read (hidden, then input channels if read), then the bias
        self.n_read = n + m if config.readout_inputs else n
        self.readout = np.zeros((n_readouts, self.n_read + 1), np.float64)
        self.readout_value = np.zeros(n_readouts, np.float64)
        # event-driven readout learning (see event_readout.py); off until the learner turns it on
        n_feat = self.n_read + 1
        self.ro_w = np.zeros((er.RO_W_ROWS, n_readouts, n_feat), np.float64)
        self.ro_u = np.zeros((er.RO_U_ROWS, n_feat), np.float64)
        self.ro_i = np.zeros((er.RO_I_ROWS, n_feat), np.int64)
        self.ro_i[er.RPHASE] = -1
        self.ro_s = np.zeros((er.RO_S_ROWS, n_readouts), np.float64)
        self.ro_g = np.zeros(er.RO_G_SIZE, np.float64)
        self.ro_m = np.zeros(er.RO_M_SIZE, np.int64)
        self._ro_args = (self.readout, self.readout_value, self.ro_w, self.ro_u, self.ro_i,
                         self.ro_s, self.ro_g, self.ro_m)
        # e-prop learning state (see kernels.py)
        self.n_signals = n_signals
        self.feedback = np.zeros((n, n_signals), np.float64)
        # with backprop (``set_backprop``) or layer norm's full gradient: the readout feedback
        # B0; ``feedback`` is then each neuron's row from it (``kernels.refresh_rows``), and
        # ``ln_rows`` the layer norm's shares and sums (``kernels.LN_C1``, ...)
        self.feedback_base = np.zeros((n, n_signals), np.float64)
        self.ln_rows = np.zeros((K.LN_ROWS, n, n_signals), np.float64)
        self.sums = np.zeros((K.SUM_ROWS, n_signals), np.float64)
        self.glob = np.zeros(K.GLOB_SIZE, np.float64)
        self.learn_params = np.zeros(K.N_LEARN_PARAMS, np.float64)
        self.syn_f = np.zeros((K.SYN_F_ROWS, conn.n_synapses), np.float64)
        self.origin_s: float | None = None
        self._no_signal = np.zeros(n_signals, np.float64)
        # the state arrays are only ever changed in place, so one tuple serves every call
        self._advance_args = (self.syn, self.ptr, self.weight, self.nf, self.ni, self.unit,
                              self.uint, self.wheel, self.misc, self.count, self.readout,
                              self.readout_value, self.feedback, self.feedback_base,
                              self.ln_rows, self.sums, self.glob,
                              self.learn_params, self.syn_f, self.ro_w, self.ro_u, self.ro_i,
                              self.ro_s, self.ro_g, self.ro_m)
        self._advance = compiled_entry(K.advance, _advance_types(self._advance_args))
        # the learning kernels' compiled entry points, for these state arrays (as ``_advance``)
        self._begin_step = entry_for(K.begin_learning_step, self._no_signal, self._no_signal,
                                     self.misc, self.count, self.sums, self.learn_params)
        self._apply_td = entry_for(K.apply_td_error, 0.0, self.unit, self.uint, self.misc,
                                   self.count, self.sums, self.glob, self.learn_params)
        self._stale_args = (self.syn, self.ptr, self.weight, self.nf, self.ni, self.unit,
                            self.uint, self.misc, self.count, self.feedback, self.sums, self.glob,
                            self.learn_params, self.syn_f)
        self._settle_stale = entry_for(K.settle_stale, 0, 0, 0, *self._stale_args)
        self._begin_phase = entry_for(er.begin_phase, self.readout_value, self.readout_value,
                                      self.ro_s, self.ro_g, self.ro_m)
        self._td_args = (self.out, *self._ro_args, self.count, K.C_RO_PENDING, K.C_RO_SWEEP)
        self._td_step = entry_for(er.td_step, self.readout_value[1:], 0.0, 0.0, 0.0, 0.0, 0.0,
                                  0.0, 0, *self._td_args)
        self.set_learning(lr=0.0, weight_clip=4.0)
        self.refresh()

    # -- configuration -------------------------------------------------------------------------

    def set_learning(self, lr: float, weight_clip: float, active: bool | None = None,
                     td_trace_decay: float = 0.0, max_lag_steps: int = 0) -> None:
        """Set e-prop and homeostasis parameters (live). ``td_trace_decay`` is rho = gamma *
        lambda of the eligibility traces (0: each TD error meets its own step's eligibility).
        ``max_lag_steps``: units not settled for that many learning steps are settled by a
        round-robin sweep after each TD error (0: only at their events).

        Switching learning off first applies every pending change, so nothing learned before
        the switch is lost or applied with values from the frozen period; switching it on
        starts fresh traces."""
        lp = self.learn_params
        if active is not None and bool(active) != self.learning_active:
            if not active:
                self.settle_learning()
                self.misc[K.ACTIVE] = 0
            else:
                self.misc[K.ACTIVE] = 1
                self._reset_traces()
                if self.event_readouts:
                    er.restart(self.out, *self._ro_args)
        if self.learning_active and td_trace_decay != lp[K.LP_RHO]:
            self.settle_learning()  # what accrued under the old decay is applied with it
            K.rebase(self.unit, self.uint, self.misc, self.count, self.glob, lp)
        c = self.config
        self.max_lag_steps = int(max_lag_steps)
        self._stale_visits = (-(-self.unit.shape[1] // self.max_lag_steps)
                              if self.max_lag_steps > 0 else 0)
        lp[K.LP_LR], lp[K.LP_WCLIP] = lr, weight_clip
        lp[K.LP_HOMEO], lp[K.LP_RATE] = c.homeostasis_rate, c.target_rate_hz * c.tick_s
        lp[K.LP_THMIN], lp[K.LP_THMAX] = c.threshold_min, c.threshold_max
        lp[K.LP_RHO] = td_trace_decay
        lp[K.LP_LOG_RHO] = math.log(td_trace_decay) if td_trace_decay > 0.0 else 0.0
        n = np.arange(K.POWERS)
        with np.errstate(divide="ignore", over="ignore"):
            self.glob[K.G_POW:K.G_POW + K.POWERS] = np.power(td_trace_decay, n)
            negative = np.power(td_trace_decay, -n.astype(float))
        # rho = 0 has no negative powers (and never needs them: it keeps no TD sum P)
        self.glob[K.G_NEG:K.G_NEG + K.POWERS] = np.where(np.isfinite(negative), negative, 0.0)
        # restart P before rho**(STEP - BASE) falls below e**-9 (the differences it feeds stay
        # accurate to about 1e-12) and while rho**-(STEP - BASE) is still in the table
        lp[K.LP_REBASE] = (min(K.POWERS - 1, max(1, int(9.0 / -lp[K.LP_LOG_RHO])))
                           if td_trace_decay > 0.0 else 2 ** 30)

    @property
    def learning_active(self) -> bool:
        return bool(self.misc[K.ACTIVE])

    @property
    def td_trace_decay(self) -> float:
        return float(self.learn_params[K.LP_RHO])

    def clip_weights(self, limit: float) -> None:
        """Clip every weight to +-``limit`` (as learning updates do) and recompute the drives."""
        np.clip(self.weight, -limit, limit, out=self.weight)
        self.refresh()

    @property
    def feedforward(self) -> bool:
        """``network.feedforward``: memoryless cells, each tick's changes passed up through the
        groups within the tick (a delta network)."""
        return bool(self.misc[K.FEEDFORWARD])

    def set_feedforward(self, on: bool) -> None:
        """Switch ``network.feedforward`` (live): cells become their drives (or relax from
        there), crossings are rescheduled; the outputs as sent, and so learning, are kept."""
        if on and self.config.recurrent_fan_in > 0:
            raise ConfigError("feedforward needs recurrent_fan_in 0")
        if not on and (self.backprop or self.misc[K.LAYER_NORM]):
            raise ConfigError("backprop and layer_norm need feedforward in the asynchronous "
                              "network")
        self.misc[K.FEEDFORWARD] = on
        self.refresh()

    def set_threshold(self, threshold: float) -> None:
        """Set every neuron's threshold (live); crossings are rescheduled."""
        self.nf[:, K.THETA] = threshold
        self.refresh()

    # -- time ----------------------------------------------------------------------------------

    def tick_of(self, time_s: np.ndarray | float) -> np.ndarray | int:
        origin = self.origin_s if self.origin_s is not None else 0.0
        if isinstance(time_s, float):  # a float64 scalar: the same arithmetic, without arrays
            return math.floor((time_s - origin) / self.config.tick_s + 0.5)
        return np.floor((np.asarray(time_s) - origin) / self.config.tick_s + 0.5).astype(np.int64)

    @property
    def now_tick(self) -> int:
        return int(self.misc[K.NOW])

    # -- running -------------------------------------------------------------------------------

    def process_ticks(self, ev_tick: np.ndarray, ev_channel: np.ndarray,
                      ev_value: np.ndarray, k_end: int, update_follows: bool = False,
                      actor_only: bool = False) -> None:
        """Deliver validated, tick-sorted input events and run every threshold crossing up to and
        including tick ``k_end`` (the learner validates and quantises the events). The events are
        1-D arrays: int64 ticks, int32 channels, float64 values. The readout values are always
        current (``update_follows`` and ``actor_only`` matter to the twin only)."""
        self._advance(ev_tick, ev_channel, ev_value, k_end, *self._advance_args)

    # -- learning ------------------------------------------------------------------------------

    def begin_learning_step(self, gradient: np.ndarray,
                            supervised: np.ndarray | None = None) -> None:
        """Phase A of a learning step, once the network has processed the step's observation:
        each readout's gradient ``h`` (its TD(lambda) trace meets later TD errors), and
        optionally a supervised error ``g`` per readout, applied with this step's eligibility at
        the learning rate (no TD error, no trace)."""
        if not self.learning_active:
            return
        lr_g = self._no_signal if supervised is None else self.learn_params[K.LP_LR] * supervised
        self._begin_step(gradient, lr_g, self.misc, self.count, self.sums, self.learn_params)

    def apply_td_error(self, delta: float) -> None:
        """Phase B: the TD error of the step begun last, known once the next observation has
        been processed."""
        if not self.learning_active:
            return
        self._apply_td(float(self.learn_params[K.LP_LR]) * delta, self.unit, self.uint,
                       self.misc, self.count, self.sums, self.glob, self.learn_params)
        if self._stale_visits:
            self._settle_stale(int(self.misc[K.NOW]), self._stale_visits, self.max_lag_steps,
                               *self._stale_args)

    def reset_traces(self) -> None:
        """End of an episode: e-prop and readout traces start again from zero (O(N + M), no
        settling)."""
        if self.learning_active:
            self._reset_traces()
            if self.event_readouts:
                er.reset_traces(self.ro_u, self.ro_i, self.ro_s, self.ro_g, self.ro_m,
                                self.count, K.C_RO_SWEEP)

    # -- event-driven readout learning ---------------------------------------------------------

    @property
    def event_readouts(self) -> bool:
        return bool(self.ro_m[er.RM_ON])

    def set_event_readouts(self, traces: np.ndarray | None, rho: float, clip: float) -> None:
        """Let the readouts learn from events (``traces``: the eager traces to carry on from),
        or, with None, stop: settle every weight so the eager rule can take over from
        ``readout_traces()``. ``rho``: the traces' decay gamma * lambda."""
        g = self.ro_g
        if traces is None:
            if self.event_readouts and self.learning_active:
                er.settle_all(self.out, *self._ro_args, self.count, *_RO_SETTLE_COUNTERS)
            self.ro_m[er.RM_ON] = 0
            return
        g[er.RG_RHO], g[er.RG_CLIP] = rho, clip
        g[er.RG_LOG_RHO] = math.log(rho) if rho > 0.0 else 0.0
        n = np.arange(er.POWERS, dtype=np.float64)
        with np.errstate(divide="ignore", over="ignore"):
            g[er.RG_POW:er.RG_POW + er.POWERS] = np.power(rho, n)
            negative = np.power(rho, -n)
        g[er.RG_NEG:er.RG_NEG + er.POWERS] = np.where(np.isfinite(negative), negative, 0.0)
        g[er.RG_REBASE] = (min(er.POWERS - 1, max(1, int(9.0 / -g[er.RG_LOG_RHO])))
                           if rho > 0.0 else 2 ** 30)
        self.ro_m[er.RM_ON] = 1
        er.restart(self.out, *self._ro_args)
        # carry on from the given traces: z . phi and |z|**2 from them, F restarts at 0
        self.ro_w[er.RZ] = traces
        phi = self.features()
        self.ro_s[er.RSUM_S] = traces @ phi
        self.ro_s[er.RSUM_SA] = self.ro_s[er.RSUM_S]  # phi is phi(A): between steps
        self.ro_s[er.RSUM_N2] = np.einsum("rj,rj->r", traces, traces)

    def settle_readouts(self) -> None:
        """Bring every readout weight up to date (event-driven readouts: settle them, counted)."""
        if self.event_readouts and self.learning_active:
            er.settle_all(self.out, *self._ro_args, self.count, *_RO_SETTLE_COUNTERS)

    def set_readouts(self, first: int, weights: np.ndarray) -> None:
        """Replace the weights of readouts ``first..`` (and so their values, from the features
        now); event-driven readouts are settled first."""
        self.settle_readouts()
        self.readout[first:] = weights
        self.readout_value[first:] = weights @ self.features()

    def scale_readouts(self, first: int, factor: float) -> None:
        """Multiply the weights of readouts ``first..`` by ``factor`` (and so their values):
        event-driven readouts are settled first (counted), so what is scaled is complete."""
        self.settle_readouts()
        self.readout[first:] *= factor
        self.readout_value[first:] *= factor

    def readout_traces(self) -> np.ndarray:
        """The readouts' traces now (settled), as the eager rule keeps them."""
        self.settle_readouts()
        return self.ro_w[er.RZ].copy()

    def begin_readout_step(self, direct: np.ndarray) -> None:
        """Phase A for the readouts: ``direct`` per readout (``V_r += direct_r phi``, zeros for
        none)."""
        self._begin_phase(direct, self.readout_value, self.ro_s, self.ro_g, self.ro_m)

    def readout_td_step(self, actor_grad: np.ndarray, delta: float, critic_lr: float,
                        actor_lr: float, critic_bound: float, actor_bound: float,
                        extra_norm2: float, n_extra: int) -> float:
        """Phase B for the readouts (``event_readout.td_step``); returns the actor's step."""
        return self._td_step(actor_grad, delta, critic_lr, actor_lr, critic_bound, actor_bound,
                             extra_norm2, n_extra, *self._td_args)

    def read_after_update(self) -> None:
        """The readout values are kept current from events and updates: nothing to read."""

    @property
    def feature_norm2(self) -> float:
        """``|phi|**2`` of the readouts' features now (kept from events)."""
        return float(self.ro_g[er.RG_PHI2])

    def _reset_traces(self) -> None:
        K.reset_traces(self.unit, self.uint, self.misc, self.count, self.sums, self.glob,
                       self.learn_params)

    def settle_learning(self) -> None:
        """Apply every pending e-prop weight change now (checkpoints, switching learning off).
        With learning off nothing is pending, and nothing changes."""
        if not self.learning_active:
            return
        K.settle_all(self.now_tick, self.syn, self.ptr, self.weight, self.nf, self.ni,
                     self.unit, self.uint, self.misc, self.count, self.feedback, self.sums,
                     self.glob, self.learn_params, self.syn_f)
        if self.event_readouts:
            er.settle_all(self.out, *self._ro_args, self.count, *_RO_SETTLE_COUNTERS)
        self.refresh()

    def set_feedback(self, feedback: np.ndarray) -> None:
        """Replace the e-prop feedback weights B (N x n_signals) between learning steps: every
        pending change is applied with the old B first (counted), so the new B acts from now on
        only; exact, as the synchronous twin's per-step rule with the same replacement. With
        learning off nothing is pending (switching it off settled everything). With backprop
        ``feedback`` is the readout feedback B0, and every neuron's B is taken through the
        groups above from it, and with layer norm's full gradient through its group (counted:
        ``kernels.all_rows``)."""
        if self.learning_active:
            K.settle_all(self.now_tick, self.syn, self.ptr, self.weight, self.nf, self.ni,
                         self.unit, self.uint, self.misc, self.count, self.feedback, self.sums,
                         self.glob, self.learn_params, self.syn_f)
        new = np.ascontiguousarray(feedback, np.float64)
        if self.backprop or self.misc[K.LN_FULL]:
            self.feedback_base[...] = new
            new = np.empty_like(new)  # the projections are retaken below, with it
            K.all_rows(self.syn, self.ptr, self.weight, self.nf, self.ni, self.unit, self.misc,
                       new, self.feedback_base, self.ln_rows, self.count)
        K.replace_feedback(new, self.now_tick, self.nf, self.ni, self.wheel, self.misc,
                           self.count, self.feedback, self.sums)

    @property
    def backprop(self) -> bool:
        """``eprop_feedback: backprop`` (needs ``feedforward``): each neuron's feedback is
        its readout feedback plus what reaches it through the groups above, taken at each of
        its events (``kernels.refresh_rows``) and at every ``set_feedback``."""
        return bool(self.misc[K.BACKPROP])

    def set_backprop(self, on: bool) -> None:
        """Switch backprop (live, between learning steps): the feedback as it is becomes the
        readout feedback B0; the learner refreshes it at its next learning step."""
        if on and not self.feedforward:
            raise ConfigError("eprop_feedback backprop needs network.feedforward in the "
                              "asynchronous learner")
        if on and not self.backprop and not self.misc[K.LN_FULL]:
            self.feedback_base[...] = self.feedback
        self.misc[K.BACKPROP] = on

    def refresh(self) -> None:
        """Recompute drives and readouts exactly and reschedule every crossing (set-up work, at
        start, checkpoints and parameter changes: not counted). Event-driven readouts are
        settled first, so the weights the values are recomputed from are complete."""
        if self.event_readouts and self.learning_active:
            er.settle_all(self.out, *self._ro_args, self._uncounted, *_RO_SETTLE_COUNTERS)
        K.refresh(self.now_tick, self.syn, self.weight, self.nf, self.ni, self.unit, self.wheel,
                  self.misc, self._uncounted, self.readout, self.readout_value)

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

    def flops_by_part(self) -> np.ndarray:
        """Counted arithmetic so far, by part (``accounting.PARTS``)."""
        return kernel_flops(self.count, self.n_signals)

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

    STATE_FIELDS = ("syn", "ptr", "weight", "nf", "ni", "unit", "uint", "misc", "count",
                    "readout", "feedback", "feedback_base", "ln_rows", "sums", "glob",
                    "learn_params", "syn_f", "ro_w", "ro_u", "ro_i", "ro_s", "ro_g", "ro_m")

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
