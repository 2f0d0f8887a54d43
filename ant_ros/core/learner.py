"""Online actor-critic learner on the asynchronous network: one sample at a time, no replay.

Per step: the inputs are divided by ``learning.observation_scale``, normalised (running
mean/std; optional), optionally population-coded into Gaussian receptive fields
(``network.input_fields``), multiplied by ``network.input_gain``, re-encoded send-on-delta
into network events, the network runs up to the step's time, and the readouts give the critic
value ``V`` and the actor's logits (discrete) or means (continuous). Learning:

* readouts: actor-critic with eligibility traces, ``z <- gamma*lambda*z + grad``,
  ``w <- w + alpha_eff * delta * z``, with the overshoot-bounded step size of streaming RL on L2
  norms (``alpha_eff = alpha / max(1, alpha * kappa * max(|delta|, 1) * |z|_2 * |phi|_2)``),
  learned from events (``event_readout.py``) or, with consolidation, eagerly (``readout.py``);
* hidden and input weights: e-prop, a per-neuron learning signal through feedback weights
  (fixed random ones, or the readouts' own: ``eprop_feedback``) from each readout's gradient at
  the step (phase A), whose trace meets the TD error when the next observation has come
  (phase B), or a teacher's error applied at once; settled
  lazily at events (``kernels.settle_synapse``);
* with a teacher command, the actor learns by imitation (supervised) and the critic from reward;
* consolidation (synaptic intelligence, windows of steps in place of task boundaries) on the
  readout weights; the network's weights stay free to adapt.

Every operation is counted and priced (``accounting.py``), and what the synchronous twin does for
the same steps is priced alike (``cost``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import accounting as A
from . import change_detector
from . import kernels as K
from . import readout
from .config import (ActionSpec, AgentConfig, ConfigError, LearningConfig, NetworkConfig,
                     per_input)
from . import learner_kernels as LK
from .encoders import PopulationEncoder
from .events import EventBatch, InputError
from .jit import entry_for
from .network import AsyncNetwork
from .normalization import RewardScaler, RunningMeanStd
from .twin import DecisionLog, SyncNetwork, twin_counts, twin_flops

_SIGNAL_CLIP = 5.0
# consolidation (readout.py): what of the importance a window's end keeps; the damping of SI's
# normalisation by the distance a weight moved (against weights that barely moved)
CONSOLIDATION_KEEP = 0.5
CONSOLIDATION_XI = 1e-3
MEMORY_SLOTS = 16  # policies the learner can keep (``change_policy_memory`` of them are used)
# policy_memory_meta after the slots' levels: the current policy's slot, the probation's end and
# floor, policies recalled, recalls dropped at the end of their probation
_SLOT, _PROBATION_END, _PROBATION_FLOOR, _RECALLS, _RECALLS_FAILED = range(
    MEMORY_SLOTS, MEMORY_SLOTS + 5)
# kinds of Python-side work, priced by ``OnlineLearner._price_steps``
_KINDS = ("event_step", "observe", "policy", "td", "signal", "imitation", "actor_update",
          "readout_phase", "ingest", "command", "change_watch", "change_response",
          "change_memory", "consolidation_fold", "mean_limit", "feedback_refresh")
(_EVENT_STEP, _OBSERVE, _POLICY, _TD, _SIGNAL, _IMITATION, _ACTOR_UPDATE,
 _READOUT_PHASE, _INGEST, _COMMAND, _CHANGE_WATCH, _CHANGE_RESPONSE,
 _CHANGE_MEMORY, _CONSOLIDATION_FOLD, _MEAN_LIMIT, _FEEDBACK_REFRESH) = range(len(_KINDS))


# settings only the synchronous twin runs: (is it set, what it is, what the asynchronous
# learner takes instead)
_TWIN_ONLY = (
    (lambda c: c.learning.eprop_feedback == "backprop" and not c.network.feedforward,
     "eprop_feedback: backprop without network.feedforward",
     "it with network.feedforward, or random or readout feedback"),
    (lambda c: c.network.unit_norm_steps > 0.0,
     "network.unit_norm_steps (each neuron standardised by its running statistics)", "0"),
    (lambda c: c.network.layer_norm and not c.network.feedforward,
     "network.layer_norm without network.feedforward", "it with feedforward, or false"),
    (lambda c: c.learning.hidden_bound_kappa > 0.0,
     "hidden_bound_kappa (an overshoot bound of the hidden step)", "0"),
)


class OnlineLearner:
    """An asynchronous network with actor and critic readouts that learns while it acts.

    ``twin=True`` runs the same learner on the synchronous twin (``twin.SyncNetwork``): the same
    initial weights, readouts, normalisation, policy and learning rule, every neuron and synapse
    updated once per decision; the efficiency baseline.
    """

    def __init__(self, config: AgentConfig, twin: bool = False) -> None:
        self.config = config.validate()
        net_cfg = config.network
        self.n_inputs = net_cfg.n_inputs
        self.n_actions = config.action.size
        n_out = 1 + self.n_actions
        rng = np.random.default_rng(config.seed)
        self.is_twin = twin
        network = SyncNetwork if twin else AsyncNetwork
        self.net = network(net_cfg, n_readouts=n_out, n_signals=n_out, rng=rng)
        self.net.feedback[:] = rng.standard_normal(self.net.feedback.shape) / math.sqrt(n_out)
        self.random_feedback = self.net.feedback.copy()  # for ``eprop_feedback: random``
        # a live change of the feedback mode (or hidden_lr turned on) waits for the next step's
        # refresh point, where nothing is pending, so lazy learner and twin stay in step
        self.feedback_due = np.zeros(1, np.bool_)  # an array, so checkpoints keep it
        # layer norm's full gradient in the delta network: the feedback rows take it at the
        # first learning step (``AsyncNetwork.set_feedback``)
        self.feedback_due[0] = (not twin and net_cfg.layer_norm
                                and net_cfg.layer_norm_gradient == "full")
        self.rng = np.random.default_rng(rng.integers(2**63))
        self.obs_stats = RunningMeanStd(self.n_inputs)
        self.reward_scaler = RewardScaler(config.learning.gamma)
        self._set_normalization_window(config.learning.normalization_window_steps)
        self.raw_input = np.zeros(self.n_inputs, np.float64)
        r = net_cfg.input_field_range
        self.fields = (PopulationEncoder(-r, r, net_cfg.input_fields, net_cfg.input_field_width)
                       if net_cfg.input_fields else None)
        self.observation_scale = np.array(per_input(config.learning.observation_scale,
                                                    self.n_inputs), np.float64)
        self.channel_gain = np.array(net_cfg.channel_gain(), np.float64)
        # initial weights beyond weight_clip would be clipped by their first learning update
        self.net.clip_weights(config.learning.weight_clip)
        n_feat = self.net.readout.shape[1]
        n_std = self.n_actions if config.action.kind == "continuous" else 0
        self.traces = np.zeros((n_out, n_feat), np.float64)
        self.log_std = np.full(n_std, config.learning.init_log_std, np.float64)
        self.log_std_trace = np.zeros(n_std, np.float64)
        # consolidation (readout.py): importance and anchor, the window's path integral and
        # the weights at its start, the learning steps into it
        self.readout_importance = np.zeros((n_out, n_feat), np.float64)
        self.readout_anchor = np.zeros((n_out, n_feat), np.float64)
        self.readout_path = np.zeros((n_out, n_feat), np.float64)
        self.readout_start = np.zeros((n_out, n_feat), np.float64)
        self.consolidation_clock = np.zeros(1, np.float64)
        self.change_state = change_detector.new_state()  # what the change detector has seen
        # policies kept at detected changes (``respond_to_change``): per slot the actor's
        # readouts and log std, flat; and per slot the value level it had reached (NEVER:
        # empty), then the slot the current policy came from (-1: none) and, while a recalled
        # policy is on probation, the step it ends at and the value it must reach by then
        self.policy_memory = np.zeros((MEMORY_SLOTS, self.n_actions * n_feat + n_std))
        self.policy_memory_meta = np.r_[np.full(MEMORY_SLOTS, change_detector.NEVER),
                                        -1.0, change_detector.NEVER, 0.0, 0.0, 0.0]
        # the step awaiting its TD error: V(s) (NaN: none), phi(s), and per actor head the
        # log-likelihood gradient and the entropy gradient (rows), log-std gradients last
        self.pending_value = np.full(1, np.nan, np.float64)
        self.pending_features = np.zeros(n_feat, np.float64)
        self.pending_grads = np.zeros((2, self.n_actions + n_std), np.float64)
        self._signal = np.zeros(n_out, np.float64)
        self._supervised = np.zeros(n_out, np.float64)
        self._direct = np.zeros(n_out, np.float64)  # a step's direct readout change, per row
        self._event_readouts = False
        # the learner's own arithmetic outside the network, by part, and what the twin does in
        # the same steps (no send-on-delta work); the steps in the terms of the twin's cost
        self.python_flops = np.zeros(len(A.PARTS))
        self.twin_python_flops = np.zeros(len(A.PARTS))
        self.log = DecisionLog()
        self.steps = np.zeros(1, np.int64)
        self._weights_moved = False
        self._kinds = [0] * len(_KINDS)  # Python-side work done, by kind, not yet priced
        self._event_count = 0
        self._kind_flops = (np.zeros((len(_KINDS), len(A.PARTS))),) * 2  # priced at configure
        self.last_step_s = np.full(1, np.nan)  # time of the latest step (NaN: none yet)
        # the last decision's exploration (pre-squash, continuous actions), held by the commands
        # refreshed between decisions (``ingest_events``), and the actor outputs they used
        self._held_noise = np.zeros(self.n_actions if n_std else 0, np.float64)
        self._command_head = np.full(self.n_actions if n_std else 0, np.nan)
        # the arrays and compiled kernels of the per-step work (``learner_kernels.py``)
        n_ch = net_cfg.n_channels
        self._coding = LK.InputCoding(
            raw=self.raw_input, scratch=np.zeros(self.n_inputs), scale=self.observation_scale,
            count=self.obs_stats.count, mean=self.obs_stats.mean, m2=self.obs_stats.m2,
            coded=np.zeros(self.n_inputs), gain=self.channel_gain,
            network_value=self.net.input_value, ticks=np.zeros(n_ch, np.int64),
            channels=np.zeros(n_ch, np.int32), changes=np.zeros(n_ch))
        self._all_inputs = np.arange(self.n_inputs, dtype=np.int64)
        self._kernels = LK.StepKernels(self._coding, self.n_actions)
        self._grad = np.zeros(self.n_actions)  # the policy's gradients, per step
        self._entropy_grad = np.zeros(self.n_actions)
        self._probabilities = np.zeros(self.n_actions)
        self._log_p = np.zeros(self.n_actions)
        self._no_log_std = np.zeros(0)
        self._td_grad = np.zeros(self.n_actions)  # the pending step's head gradient at its TD
        # the eager readout rule's kernels (``readout.py``) for these arrays
        self._accumulate_traces = entry_for(readout.accumulate_traces, self.traces,
                                            self.pending_features, self._td_grad, 0.0)
        self._td_update = entry_for(
            readout.td_update, self.net.readout, self.net.readout_value, self.traces,
            self.pending_features, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, self.log_std,
            self.log_std_trace, self.readout_path, self.readout_importance, self.readout_anchor,
            0.0, 0.0, True)
        self.apply_config(config)

    # -- configuration -------------------------------------------------------------------------

    @staticmethod
    def check_config(config: AgentConfig, twin: bool = False) -> None:
        """Refuse (``ConfigError``) a configuration this learner, or with ``twin`` its
        synchronous twin, cannot run: the twin has no consolidation, and only the twin has
        ``hidden_bound_kappa``, ``unit_norm_steps``, ``layer_norm`` and ``eprop_feedback:
        backprop`` without ``network.feedforward`` (the fields' own ranges are
        ``AgentConfig.validate``'s)."""
        if twin and config.learning.consolidation_strength > 0.0:
            raise ConfigError("the synchronous twin has no consolidation")
        for is_set, setting, default in () if twin else _TWIN_ONLY:
            if is_set(config):
                raise ConfigError(f"{setting} is built in the synchronous twin only (ant-ros "
                                  f"train --learner twin); the asynchronous learner takes "
                                  f"{default}")

    def apply_config(self, config: AgentConfig) -> None:
        """Apply a new configuration live; its structure (``AgentConfig.structure``: sizes,
        wiring, input coding and scaling, action kind) cannot change."""
        config.validate()
        self.check_config(config, self.is_twin)
        if config.structure() != self.config.structure():
            raise ConfigError("the network's structure is fixed at start: "
                              + self.config.structure_differences(config))
        for name in ("activation", "layer_norm"):
            if not self.is_twin and (getattr(config.network, name)
                                     != getattr(self.config.network, name)):
                raise ConfigError(f"network.{name} is fixed at start in the asynchronous "
                                  "learner (the outputs it has sent, and its pending learning, "
                                  "are of the one it started with)")
        old = self.config
        self.config = config
        self.net.config = config.network
        lc = config.learning
        if self.is_twin:
            self.net.backprop = lc.eprop_feedback == "backprop"
            self.net.bound_kappa = lc.hidden_bound_kappa
            self.net.set_units(config.network.unit_norm_steps, config.network.activation,
                               config.network.layer_norm, config.network.feedforward,
                               config.network.layer_norm_gradient)
        self.net.set_learning(lr=lc.hidden_lr, weight_clip=lc.weight_clip,
                              active=lc.learning_enabled,
                              td_trace_decay=lc.gamma * lc.trace_lambda if lc.eprop_td_traces
                              else 0.0, max_lag_steps=lc.eprop_max_lag_steps)
        if config.network.threshold != old.network.threshold:
            self.net.set_threshold(config.network.threshold)
        if not self.is_twin:
            if not config.network.feedforward and self.net.backprop:
                self.net.set_backprop(False)  # before feedforward goes, which it needs
            if config.network.feedforward != self.net.feedforward:
                self.net.set_feedforward(config.network.feedforward)
            self.net.set_backprop(lc.eprop_feedback == "backprop")
        self.reward_scaler.gamma = lc.gamma
        self._set_normalization_window(lc.normalization_window_steps)
        np.clip(self.log_std, lc.min_log_std, lc.max_log_std, out=self.log_std)
        if lc.learning_enabled != old.learning.learning_enabled:
            # no TD step across the switch, and fresh traces (the network's are handled there)
            self.pending_value[0] = np.nan
            self.traces[:] = 0.0
            self.log_std_trace[:] = 0.0
        self._choose_readout_learning(old)
        if lc.eprop_feedback != old.learning.eprop_feedback or (
                lc.hidden_lr > 0.0 and old.learning.hidden_lr == 0.0):
            if lc.eprop_feedback == "random" and not self.net.learning_active:
                self.net.set_feedback(self.random_feedback)  # nothing pending: exact now
                self.feedback_due[0] = False
            else:
                self.feedback_due[0] = True  # at the next learning step, not the next interval
        if lc.consolidation_strength > 0.0 and old.learning.consolidation_strength == 0.0:
            self._start_consolidation_window(0)  # consolidate from where the weights are
        self._price_steps()

    def _choose_readout_learning(self, old: AgentConfig) -> None:
        """Readouts learn from events (``event_readout.py``) unless this is the twin or
        consolidation is on (which needs every weight every step); switching hands the traces
        over, so learning carries on where it was."""
        lc, net = self.config.learning, self.net
        event = not self.is_twin and lc.consolidation_strength == 0.0
        rho, clip = lc.gamma * lc.trace_lambda, 10.0 * lc.weight_clip
        if event and (not self._event_readouts or rho != old.learning.gamma
                      * old.learning.trace_lambda or lc.weight_clip != old.learning.weight_clip):
            traces = net.readout_traces() if self._event_readouts else self.traces
            net.set_event_readouts(traces, rho, clip)
        elif not event and self._event_readouts:
            self.traces[:] = net.readout_traces()
            net.set_event_readouts(None, rho, clip)
            # the pending step's features (a configuration changes between steps: they are the
            # features now), which the eager rule needs for its next TD step
            self.pending_features[:] = net.features()
        self._event_readouts = event

    def _set_normalization_window(self, steps: float) -> None:
        window = steps if steps > 0.0 else np.inf
        self.obs_stats.window = self.reward_scaler.stats.window = window

    def set_learning_enabled(self, enabled: bool) -> None:
        self.apply_config(dataclasses.replace(
            self.config, learning=dataclasses.replace(self.config.learning,
                                                      learning_enabled=enabled)))

    def went_backwards(self, time_s: float) -> bool:
        """Whether ``time_s`` is before the last step (by more than half a tick): a simulator
        reset, a looping bag or a resume under sim time; ``rebase_time`` then carries on."""
        last = self.last_step_s[0]
        return not math.isnan(last) and time_s < last - 0.5 * self.config.network.tick_s

    def rebase_time(self, time_s: float) -> None:
        """The clock went backwards to ``time_s``: from now on ``time_s`` is the network's
        current tick (its tick count runs on, so nothing scheduled or pending is lost) and the
        next step may be at ``time_s``. The caller ends the episode."""
        last = self.last_step_s[0]
        if math.isnan(last):
            return
        if self.net.origin_s is not None:
            self.net.origin_s += time_s - last
        self.last_step_s[0] = time_s

    # -- stepping ------------------------------------------------------------------------------

    def step_observation(self, observation, time_s: float, reward: float | None = None,
                         terminated: bool = False, truncated: bool = False,
                         teacher_action=None, deterministic: bool = False):
        """One step from a full observation vector. Returns the action, or None at an episode end.

        ``reward`` is the reward for the previous action; ``terminated``/``truncated`` mark this
        observation as the last of its episode. Bad input raises InputError, changing nothing.
        """
        obs = np.asarray(observation, dtype=np.float64)
        if obs.shape != (self.n_inputs,):
            raise InputError(f"observation must have shape ({self.n_inputs},), got {obs.shape}")
        if not np.all(np.isfinite(obs)):
            raise InputError("observation contains NaN or inf")
        self._check_step(time_s, reward, teacher_action)
        self.raw_input[:] = obs
        return self._step(time_s, reward, terminated, truncated, teacher_action, deterministic)

    def step_events(self, events: EventBatch, time_s: float, reward: float | None = None,
                    terminated: bool = False, truncated: bool = False, teacher_action=None,
                    deterministic: bool = False):
        """One step from input events (changes of the raw input channels) since the last step."""
        self._check_step(time_s, reward, teacher_action)
        self._receive_events(events, time_s)
        return self._step(time_s, reward, terminated, truncated, teacher_action, deterministic)

    def ingest_events(self, events: EventBatch, time_s: float) -> np.ndarray | None:
        """Between decisions: take input events (a sensor sample that came before the next
        decision) into the network at ``time_s``, with no decision and no learning (the
        normalisation statistics move at decisions only).

        Returns the command refreshed from the actor's outputs as they are now, with the last
        decision's exploration held, or None: discrete actions, no decision yet in the episode,
        or the actor's outputs did not move. The learning rule treats a refreshed command as
        the decision's action. On the synchronous twin every call is a full network update:
        calling it at every sensor sample clocks the twin at the sensor rate."""
        self._check_step(time_s, None, None)
        self._receive_events(events, time_s)
        net = self.net
        inputs = np.unique(events.channel).astype(np.int64)  # the raw inputs that can have moved
        ticks, channels, change, k = self._network_inputs(time_s, False, inputs)
        self._log_step(k, k, channels.size > 0, decision=False)
        net.process_ticks(ticks, channels, change, k, actor_only=True)
        self._kinds[_INGEST] += inputs.size  # inputs coded
        if self._command_head.size == 0 or math.isnan(self._command_head[0]):
            return None
        head = net.readout_value[1:]
        self._kinds[_COMMAND] += 1
        if np.array_equal(head, self._command_head):
            return None
        self._command_head[:] = head
        return self._squash(head + self._held_noise)

    def _receive_events(self, events: EventBatch, time_s: float) -> None:
        """Validate events and add them to the reconstructed raw inputs."""
        channel, times, value = events.channel, events.time_s, events.value
        receive = self._kernels.receive.get(channel.dtype)
        if (receive is None or times.dtype != np.float64 or value.dtype != np.float64
                or channel.ndim != 1 or times.ndim != 1 or value.ndim != 1
                or not channel.size == times.size == value.size):
            # not the arrays the kernel takes: as EventBatch.from_arrays makes them, or refused
            events = EventBatch.from_arrays(channel, times, value)
            channel, times, value = events.channel, events.time_s, events.value
            receive = self._kernels.receive[channel.dtype]
        latest = (time_s + 0.5 * self.config.network.tick_s if self.net.origin_s is not None
                  else math.inf)
        found = receive(channel, times, value, float(latest), self._coding)
        if found != LK.RECEIVED:
            if found == LK.LATE:
                raise InputError("events are later than the step time")
            if found == LK.OVERFLOW:
                raise InputError("input values overflowed to inf")
            events.validate(self.n_inputs)  # raises, saying what is wrong
            raise AssertionError(f"receive_events found {found} where validate found nothing")
        # the sender's send-on-delta encoding and the reconstruction here; a twin takes values
        self._kinds[_EVENT_STEP] += 1
        self._event_count += channel.size

    def _check_step(self, time_s: float, reward, teacher_action) -> None:
        if not math.isfinite(time_s):
            raise InputError("step time must be finite")
        last = self.last_step_s[0]
        if not math.isnan(last) and time_s < last - 0.5 * self.config.network.tick_s:
            raise InputError(f"step time {time_s:.9f} s is before the learner's last step "
                             f"{last:.9f} s (timestamps went backwards)")
        if reward is not None and not math.isfinite(reward):
            raise InputError("reward must be finite")
        if teacher_action is not None:
            self._teacher_target(teacher_action)  # validates

    def _network_inputs(self, time_s: float, update_stats: bool,
                        inputs: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The raw inputs as the network takes them (scaled, normalised, population-coded,
        gained): the channels that moved by the input threshold, as events for the network
        (ticks, int32 channels, changes; views of buffers that the next call overwrites), and
        the tick they take effect at. ``inputs`` (sorted, unique, int64): only these raw inputs
        can have moved (between decisions the normalisation does not move), so only their
        channels are coded."""
        net, lc, kernels, coding = self.net, self.config.learning, self._kernels, self._coding
        if net.origin_s is None:
            net.origin_s = time_s
        last = self.last_step_s[0]
        if math.isnan(last) or time_s > last:
            self.last_step_s[0] = time_s
        if inputs is None:
            inputs = self._all_inputs
        kernels.code(inputs, update_stats, lc.normalize_observations,
                     float(self.obs_stats.window), lc.observation_clip, coding)
        n_fields, values = 1, coding.coded
        if self.fields is not None:
            values = self.fields.transform(values[: inputs.size])
            n_fields = self.fields.n_fields
        threshold = 0.0 if self.is_twin else self.config.network.input_threshold
        k = max(int(net.tick_of(time_s)), net.now_tick)
        n = kernels.moved(values, inputs, n_fields, threshold, k, coding)
        return coding.ticks[:n], coding.channels[:n], coding.changes[:n], k

    def _step(self, time_s, reward, terminated, truncated, teacher_action, deterministic):
        net, lc = self.net, self.config.learning
        learning = lc.learning_enabled
        ticks, channels, change, k = self._network_inputs(time_s, update_stats=learning)
        # the inputs take effect at the step's tick; the readouts are read decision_ticks later,
        # once the network has integrated them (a neuron's state moves only as time passes)
        k_read = max(k + self.config.network.decision_ticks, net.now_tick)
        self._log_step(k, k_read, channels.size > 0)
        td_follows = (learning and reward is not None
                      and not math.isnan(self.pending_value[0]))
        net.process_ticks(ticks, channels, change, k_read, td_follows)
        if learning and lc.eprop_feedback == "random" and self.feedback_due[0]:
            self.net.set_feedback(self.random_feedback)  # where a refresh would be
            self.feedback_due[0] = False
        elif (learning and lc.eprop_feedback in ("readout", "backprop")
                and lc.hidden_lr > 0.0
                and (self.feedback_due[0]
                     or (self.steps[0] - 1) % lc.eprop_feedback_refresh_steps == 0)):
            # after the step's events, before the previous step's TD error (which still meets
            # the old B's eligibility); every pending change reaches the drives now
            self._refresh_feedback()
            self.feedback_due[0] = False
        self._kinds[_OBSERVE] += 1
        event_readouts = self._event_readouts
        features = None if event_readouts else net.features()
        values = net.readout_value

        episode_end = terminated or truncated
        if learning and lc.consolidation_strength > 0.0:
            self.consolidation_clock[0] += 1.0
            if self.consolidation_clock[0] >= lc.consolidation_window_steps:
                self._fold_consolidation()
        if td_follows:
            r = self.reward_scaler.scale(reward, episode_end) if lc.normalize_rewards else reward
            bootstrap = 0.0 if terminated else lc.gamma * values[0]
            self._learn_td(r + bootstrap - self.pending_value[0], features)
            if lc.change_detection:
                self._watch_for_change(self.pending_value[0])
        if episode_end:
            self.traces[:] = 0.0
            self.log_std_trace[:] = 0.0
            net.reset_traces()
            self.pending_value[0] = np.nan
            self._command_head[:] = np.nan
            return None

        action, grad, entropy_grad, log_std_grad = self._policy(values[1:], deterministic)
        self._kinds[_POLICY] += 1
        if learning:
            self.pending_value[0] = values[0]
            if not event_readouts:
                self.pending_features[:] = features
            self._direct[:] = 0.0
            # the network's learning signal for this step: d V / d V = 1 for the critic, and
            # the actor's log-likelihood gradient (its trace meets the next TD error), or, with
            # a teacher, the teacher's error applied now without a TD error
            signal = self._signal
            signal[0] = 1.0
            if teacher_action is None:
                if self.config.action.kind == "continuous" and (
                        lc.mean_regularization > 0.0 or lc.mean_limit > 0.0):
                    self._pull_means(values[1:], features)
                self._kernels.record_gradients(grad, entropy_grad, log_std_grad, _SIGNAL_CLIP,
                                               self.pending_grads, signal)
                net.begin_learning_step(signal)
                self.log.phase_a += 1
                self._kinds[_SIGNAL] += 1
            else:  # the actor learns from the teacher, not from its own sampled action
                self.pending_grads[:] = 0.0
                error = self._learn_imitation(self._teacher_target(teacher_action), features)
                signal[1:] = 0.0
                self._supervised[0] = 0.0
                np.clip(error, -_SIGNAL_CLIP, _SIGNAL_CLIP, out=self._supervised[1:])
                net.begin_learning_step(signal, self._supervised)
                self.log.phase_a += 1
                self.log.supervised += 1
                self._weights_moved = True
                self._kinds[_SIGNAL] += 1
            if event_readouts:
                net.begin_readout_step(self._direct)
                self._kinds[_READOUT_PHASE] += 1
        return action

    # -- policy --------------------------------------------------------------------------------

    def _policy(self, head: np.ndarray, deterministic: bool):
        """Sample an action; return it with d log pi / d head, d entropy / d head and
        d log pi / d log_std."""
        spec = self.config.action
        if spec.kind == "discrete":
            # softmax, the sampled action (inverse CDF) and the gradients: the arithmetic in
            # kernels, numpy's exp, sum, log and dot between them (``learner_kernels.py``)
            kernels, p, grad, log_p = self._kernels, self._probabilities, self._grad, self._log_p
            kernels.softmax_shift(head, p)
            np.exp(p, out=p)
            total = float(np.add.reduce(p))
            u = 0.0 if deterministic else self.rng.random()
            a = kernels.discrete_choice(p, total, u, deterministic, grad, log_p)
            np.log(log_p, out=log_p)
            entropy = -float(np.dot(p, log_p))
            kernels.entropy_gradient(p, log_p, entropy, self._entropy_grad)
            return a, grad, self._entropy_grad, self._no_log_std
        std = np.exp(self.log_std)
        noise = np.zeros_like(head) if deterministic else self.rng.standard_normal(head.size)
        self._held_noise[:] = std * noise
        self._command_head[:] = head
        action = self._squash(head + self._held_noise)
        # natural (Fisher-scaled) gradient of log pi w.r.t. the mean: (u - mu), not (u - mu)/std^2
        grad = np.clip(std * noise, -_SIGNAL_CLIP, _SIGNAL_CLIP)
        return action, grad, np.zeros_like(head), noise * noise - 1.0

    def _squash(self, u: np.ndarray) -> np.ndarray:
        """A continuous action from pre-squash values: squashed to [-1, 1], scaled to the
        bounds."""
        spec = self.config.action
        low, high = np.asarray(spec.low), np.asarray(spec.high)
        unit = np.tanh(u) if self.config.learning.action_squash == "tanh" else np.clip(u, -1, 1)
        return low + 0.5 * (unit + 1.0) * (high - low)

    def _teacher_target(self, teacher_action):
        """Validate a teacher command; return the actor's target (index or pre-squash means)."""
        spec = self.config.action
        if spec.kind == "discrete":
            if isinstance(teacher_action, (bool, np.bool_)) or not isinstance(
                    teacher_action, (int, np.integer)) or not 0 <= int(teacher_action) < spec.n:
                raise InputError(f"teacher action must be an integer in [0, {spec.n})")
            return int(teacher_action)
        target = np.asarray(teacher_action, dtype=np.float64)
        if target.shape != (len(spec.low),) or not np.all(np.isfinite(target)):
            raise InputError(f"teacher action must be {len(spec.low)} finite values")
        low, high = np.asarray(spec.low), np.asarray(spec.high)
        unit = np.clip(2.0 * (target - low) / (high - low) - 1.0, -0.995, 0.995)
        return np.arctanh(unit) if self.config.learning.action_squash == "tanh" else unit

    # -- learning ------------------------------------------------------------------------------

    def _consolidation_args(self) -> tuple:
        """The readouts' consolidation state and settings: the window's path integral,
        importance, anchor, strength, the weight clip."""
        lc = self.config.learning
        return (self.readout_path, self.readout_importance, self.readout_anchor,
                lc.consolidation_strength, lc.weight_clip * 10)

    def _fold_consolidation(self) -> None:
        """End a consolidation window (readout.py): its path integral, normalised by how far
        each weight moved in it, joins the importance (which halves first); the anchor and the
        next window start at the weights now."""
        moved = self.net.readout - self.readout_start
        self.readout_importance *= CONSOLIDATION_KEEP
        self.readout_importance += self.readout_path / (moved * moved + CONSOLIDATION_XI)
        self._start_consolidation_window(0)
        self._kinds[_CONSOLIDATION_FOLD] += 1

    def _start_consolidation_window(self, first_row: int) -> None:
        """The anchor and a new window at the readouts now (rows ``first_row`` on)."""
        rows = slice(first_row, None)
        self.readout_anchor[rows] = self.net.readout[rows]
        self.readout_start[rows] = self.net.readout[rows]
        self.readout_path[rows] = 0.0
        if first_row == 0:
            self.consolidation_clock[0] = 0.0

    def _learn_td(self, delta: float, features: np.ndarray) -> None:
        """One TD(lambda) step for the pending step, given its TD error ``delta``.

        The actor's gradient includes the entropy bonus times sign(delta), as streaming AC does.
        """
        lc = self.config.learning
        delta = min(max(delta, -10 * _SIGNAL_CLIP), 10 * _SIGNAL_CLIP)
        decay = lc.gamma * lc.trace_lambda
        head_grad, n_std = self._td_grad, self.log_std.size
        self._kernels.td_gradients(self.pending_grads, delta, lc.entropy_coef, decay, head_grad,
                                   self.log_std_trace)
        size = max(abs(delta), 1.0)
        if self._event_readouts:
            step = self.net.readout_td_step(
                head_grad, delta, lc.critic_lr, lc.actor_lr, lc.critic_bound_kappa * size,
                lc.actor_bound_kappa * size,
                float(self.log_std_trace @ self.log_std_trace) if n_std else 0.0, n_std)
            if n_std:
                self.log_std += step * self.log_std_trace
        else:
            self._accumulate_traces(self.traces, self.pending_features, head_grad, decay)
            path, importance, anchor, strength, clip = self._consolidation_args()
            self._td_update(self.net.readout, self.net.readout_value, self.traces, features,
                              float(self.pending_features @ self.pending_features), delta,
                              lc.critic_lr, lc.actor_lr, lc.critic_bound_kappa * size,
                              lc.actor_bound_kappa * size, self.log_std, self.log_std_trace,
                              path, importance, anchor, strength, clip, not self.is_twin)
        if n_std:
            np.clip(self.log_std, lc.min_log_std, lc.max_log_std, out=self.log_std)
        self.net.read_after_update()
        self._kinds[_TD] += 1
        self.net.apply_td_error(min(max(delta, -_SIGNAL_CLIP), _SIGNAL_CLIP))
        self.log.phase_b += 1
        self._weights_moved = True

    def _refresh_feedback(self) -> None:
        """``eprop_feedback: readout``: each hidden neuron's feedback from readout r becomes the
        readout's weight of it, ``B[i, r] = V[r, i] / rms_i(V[r, i]) / sqrt(R)`` (the gradient
        of readout r's value with respect to the neuron's output, scaled per readout as the
        random feedback is, so ``hidden_lr`` keeps its meaning); a readout whose weights are all
        zero (at the start, after a policy reset) keeps its random column, so the hidden layer
        learns from the first step on. Every pending e-prop change is applied with the old B
        first."""
        net = self.net
        net.settle_readouts()
        weights = net.readout[:, : net.n_hidden]
        rms = np.sqrt(np.mean(weights * weights, axis=1))
        scale = np.divide(1.0 / math.sqrt(weights.shape[0]), rms, out=np.zeros_like(rms),
                          where=rms > 0.0)
        feedback = (weights * scale[:, None]).T
        silent = rms == 0.0
        feedback[:, silent] = self.random_feedback[:, silent]
        net.set_feedback(feedback)
        self._kinds[_FEEDBACK_REFRESH] += 1

    def _watch_for_change(self, value: float) -> None:
        """Feed the change detector the critic's value of the step just learned from, respond
        to a detected change, and end a recalled policy's probation."""
        lc = self.config.learning
        self._kinds[_CHANGE_WATCH] += 1
        state, meta = self.change_state, self.policy_memory_meta
        if change_detector.update(state, value, 1.0 / lc.change_fast_steps,
                                  1.0 / lc.change_slow_steps, lc.change_threshold,
                                  lc.change_relative_drop, lc.change_warmup_steps,
                                  lc.change_refractory_steps):
            self.respond_to_change()
        elif meta[_PROBATION_END] > 0.0 and state[change_detector.STEPS] >= meta[_PROBATION_END]:
            meta[_PROBATION_END] = change_detector.NEVER
            if state[change_detector.FAST] < meta[_PROBATION_FLOOR]:
                # the recalled policy does not serve this world either: it keeps the level it
                # reached here (so it is not the first choice again), and the policy starts again
                slot = int(meta[_SLOT])
                if 0 <= slot < lc.change_policy_memory:
                    meta[slot] = state[change_detector.FAST]
                self._reset_policy()
                meta[_RECALLS_FAILED] += 1

    def respond_to_change(self) -> None:
        """What the learner does when its world got worse. With a policy memory
        (``change_policy_memory`` slots), the current policy is kept (in the slot it came
        from, else a free one, else over the one of the lowest level) and the kept policy of
        the highest level is recalled, on probation: unless the critic's fast value regains
        half the fall within ``change_recall_probation_steps``, it is dropped as below. With
        none to recall, the actor's readouts (and their values) are scaled by
        ``change_policy_shrink`` and the log std moves back towards its initial value by the
        rest: a policy that now hurts is no longer confident and is relearned quickly from the
        features the network keeps (1.0 and no memory: detect only)."""
        lc = self.config.learning
        slots = lc.change_policy_memory
        meta, state = self.policy_memory_meta, self.change_state
        if slots:
            self._kinds[_CHANGE_MEMORY] += 1
            self.net.settle_readouts()  # the policy kept is complete
            levels = meta[:slots]
            own = int(meta[_SLOT])
            if own >= slots:  # a slot beyond a smaller memory set live: not kept there
                own = -1
            if own < 0:
                empty = np.flatnonzero(levels == change_detector.NEVER)
                own = int(empty[0]) if empty.size else int(np.argmin(levels))
            self.policy_memory[own] = np.r_[self.net.readout[1:].ravel(), self.log_std]
            levels[own] = state[change_detector.BEFORE]
            others = [i for i in range(slots) if i != own and levels[i] != change_detector.NEVER]
            if others:
                best = max(others, key=lambda i: levels[i])
                self._load_policy(best)
                after = state[change_detector.FAST]
                meta[_PROBATION_END] = (state[change_detector.STEPS]
                                        + lc.change_recall_probation_steps)
                meta[_PROBATION_FLOOR] = after + 0.5 * (levels[best] - after)
                meta[_RECALLS] += 1
                return
        self._reset_policy()

    def _reset_policy(self) -> None:
        """Scale the actor's readouts by ``change_policy_shrink``; log std towards its start."""
        lc = self.config.learning
        self.policy_memory_meta[_SLOT] = -1.0
        shrink = lc.change_policy_shrink
        if shrink == 1.0:
            return
        self.net.scale_readouts(1, shrink)
        if self.log_std.size:
            self.log_std += (1.0 - shrink) * (lc.init_log_std - self.log_std)
        # consolidation restarts with the policy: anchored where it is now, its importance
        # shrunk with it (else the anchor pulls the old policy back within a few steps)
        self._start_consolidation_window(1)
        self.readout_importance[1:] *= shrink
        self._kinds[_CHANGE_RESPONSE] += 1
        self._weights_moved = True

    def _load_policy(self, slot: int) -> None:
        """Make the kept policy of ``slot`` the actor's: its readouts, their values (from the
        features now) and its log std."""
        n_std = self.log_std.size
        kept = self.policy_memory[slot]
        head = kept[: kept.size - n_std].reshape(self.n_actions, -1)
        self.net.set_readouts(1, head)
        lc = self.config.learning
        self.log_std[:] = np.clip(kept[kept.size - n_std:], lc.min_log_std, lc.max_log_std)
        # consolidation restarts with the recalled policy (not pulled back to the one replaced)
        self._start_consolidation_window(1)
        self.readout_importance[1:] = 0.0
        self.policy_memory_meta[_SLOT] = float(slot)
        self._weights_moved = True

    def change_report(self) -> dict:
        """What the change detector sees (``change_detector.report``) and the policy memory
        does: policies kept, recalled, and recalls dropped after their probation."""
        meta, slots = self.policy_memory_meta, self.config.learning.change_policy_memory
        report = change_detector.report(self.change_state)
        report.update(policies_kept=int(np.count_nonzero(meta[:slots] != change_detector.NEVER)),
                      policies_recalled=int(meta[_RECALLS]),
                      recalls_dropped=int(meta[_RECALLS_FAILED]))
        return report

    def _learn_imitation(self, target, features: np.ndarray) -> np.ndarray:
        """The actor's readouts step towards the teacher's action; returns the error."""
        lc = self.config.learning
        head = self.net.readout_value[1:]
        if self.config.action.kind == "discrete":
            p = np.exp(head - head.max())
            error = -p / p.sum()
            error[target] += 1.0
        else:
            error = np.clip(target - head, -_SIGNAL_CLIP, _SIGNAL_CLIP)
        phi2 = self.net.feature_norm2 if self._event_readouts else float(features @ features)
        alpha = lc.imitation_lr / max(1.0, lc.imitation_lr * phi2)
        self._kinds[_IMITATION] += 1
        self._add_to_actor(alpha * error, features, alpha)
        return error

    def _pull_means(self, means: np.ndarray, features: np.ndarray | None) -> None:
        """Pull the pre-squash action means towards 0 (``mean_regularization``) and back
        inside +-``mean_limit`` (by what lies beyond it), away from the squash's saturation,
        where the action no longer follows the mean and the policy gradient would let it
        drift."""
        lc = self.config.learning
        # the regularisation's change as it always was (this order of the products)
        change = (-lc.actor_lr * lc.mean_regularization * means if lc.mean_regularization > 0.0
                  else np.zeros_like(means))
        beyond = False
        if lc.mean_limit > 0.0:
            excess = means - np.clip(means, -lc.mean_limit, lc.mean_limit)
            self._kinds[_MEAN_LIMIT] += 1
            beyond = bool(np.any(excess))
            if beyond:
                change = change - lc.actor_lr * excess
        if lc.mean_regularization > 0.0 or beyond:
            self._add_to_actor(change, features, lc.actor_lr)

    def _add_to_actor(self, head_change: np.ndarray, features: np.ndarray | None,
                      step_size: float) -> None:
        """``V[1 + k] += head_change[k] * phi`` now (event readouts: at the step's phase A),
        a step of size ``step_size`` (what consolidation's importance divides by)."""
        self._kinds[_ACTOR_UPDATE] += 1
        if self._event_readouts:
            self._direct[1:] += head_change
            return
        path, importance, anchor, strength, clip = self._consolidation_args()
        readout.actor_update(self.net.readout, self.net.readout_value, features, head_change,
                             path, importance, anchor, strength, step_size, clip,
                             not self.is_twin)

    # -- accounting ----------------------------------------------------------------------------

    def _price_steps(self) -> None:
        """Flops by part of each kind of Python-side work (``_KINDS``) under the current
        configuration, for this learner and for the twin doing the same step (which takes
        values: no send-on-delta work); counted kinds are priced when folded."""
        self._fold_charges()
        c, lc = self.config, self.config.learning
        n_in, fields = self.n_inputs, c.network.input_fields
        gain = bool(np.any(self.channel_gain != 1.0))
        n_out, n_feat = self.traces.shape
        own = np.zeros((len(_KINDS), len(A.PARTS)))
        own[_EVENT_STEP, A.SENSOR_ENCODING] = A.sensor_encoding_flops(n_in)
        own[_OBSERVE, A.INPUT_CODING] = A.input_coding_flops(n_in, fields, gain, True)
        if lc.normalize_observations:
            own[_OBSERVE, A.NORMALISATION] = A.normalisation_flops(
                n_in, lc.learning_enabled, lc.normalization_window_steps > 0.0)
        # per input coded between decisions (the normalisation's statistics stay)
        own[_INGEST, A.INPUT_CODING] = A.input_coding_flops(1, fields, gain, True)
        if lc.normalize_observations:
            own[_INGEST, A.NORMALISATION] = A.normalisation_flops(1, False)
        own[_POLICY, A.POLICY] = A.policy_flops(c.action.kind, self.n_actions)
        # the means' limit (a learning step without a teacher): the clip, the excess and its
        # add to the pull, per action
        own[_MEAN_LIMIT, A.READOUT_LEARNING] = self.n_actions * (2 * A.CMP + 2 * A.ADD)
        # a feedback refresh, per readout: its weights' squares summed, the root, the scale's
        # divide, then a multiply per weight (the readouts' and the synapses' settlement and the
        # snapshots' projections are counted by the kernels)
        own[_FEEDBACK_REFRESH, A.EPROP] = n_out * (3 * self.net.n_hidden + A.SQRT + A.DIV + 1)
        # a refreshed command: the outputs' test, mean + held noise, tanh, scaling
        own[_COMMAND, A.POLICY] = self.n_actions * (A.CMP + A.ADD + A.TANH + 4)
        td_flops = (A.event_readout_td_flops(n_out, self.log_std.size) if self._event_readouts
                    else A.readout_td_flops(n_out, n_feat, self.log_std.size,
                                            lc.consolidation_strength > 0.0, True))
        for part, flops in td_flops.items():
            own[_TD, part] += flops
        own[_TD, A.READOUT_LEARNING] += 8  # the TD error, its clip and the bound's size
        if lc.normalize_rewards:
            own[_TD, A.NORMALISATION] += A.reward_scaling_flops(
                lc.normalization_window_steps > 0.0)
        own[_SIGNAL, A.EPROP] = 2 * self.n_actions  # the signal's clip
        own[_IMITATION, A.STEP_SIZE] = (2 if self._event_readouts else 2 * n_feat) + A.DIV + A.CMP
        own[_IMITATION, A.READOUT_LEARNING] = 4 * self.n_actions
        own[_ACTOR_UPDATE, A.READOUT_LEARNING] = (
            self.n_actions if self._event_readouts
            else A.actor_update_flops(self.n_actions, n_feat, True))
        own[_READOUT_PHASE, A.READOUT_LEARNING] = 3 * n_out + 3
        own[_CHANGE_WATCH, A.CHANGE_DETECTION] = change_detector.FLOPS_PER_STEP
        # the policy's readouts and values scaled (their settlement is counted by the kernels)
        own[_CHANGE_RESPONSE, A.CHANGE_DETECTION] = (self.n_actions * (n_feat + 1)
                                                     + 3 * self.log_std.size)
        if lc.consolidation_strength > 0.0:  # the actor's importance scaled (the anchor: a copy)
            own[_CHANGE_RESPONSE, A.CONSOLIDATION] = self.n_actions * n_feat
            # an actor step's path integral and pull per weight (readout.py), its 1 / alpha
            own[_ACTOR_UPDATE, A.CONSOLIDATION] = (self.n_actions * n_feat
                                                   * A.CONSOLIDATION_UPDATE_FLOPS + A.DIV + A.CMP)
            own[_OBSERVE, A.CONSOLIDATION] = 2  # the window's clock and its test
        # a window's end, per weight: moved, its square, + xi, the divide, Omega / 2 and the add
        own[_CONSOLIDATION_FOLD, A.CONSOLIDATION] = n_out * n_feat * (A.DIV + 5)
        # a policy kept and one recalled: the copies are free; the recalled readouts' values
        # (a dot product each), the slot's choice and the probation's floor
        own[_CHANGE_MEMORY, A.CHANGE_DETECTION] = (2 * self.n_actions * n_feat
                                                   + 2 * lc.change_policy_memory + 4)
        # the twin takes values (no send-on-delta work) and learns its readouts eagerly, every
        # weight, without keeping their values (it computes them at every decision)
        twin = own.copy()
        twin[_EVENT_STEP] = 0.0
        twin[_OBSERVE, A.INPUT_CODING] = A.input_coding_flops(n_in, fields, gain, False)
        twin[_INGEST, A.INPUT_CODING] = A.input_coding_flops(1, fields, gain, False)
        twin[_READOUT_PHASE] = 0.0
        twin[:, A.CONSOLIDATION] = 0.0  # the twin has no consolidation
        twin[_TD, [A.READOUT_LEARNING, A.STEP_SIZE, A.CONSOLIDATION]] = 0.0
        for part, flops in A.readout_td_flops(n_out, n_feat, self.log_std.size, False,
                                              False).items():
            twin[_TD, part] += flops
        twin[_TD, A.READOUT_LEARNING] += 8
        twin[_IMITATION, A.STEP_SIZE] = 2 * n_feat + A.DIV + A.CMP
        twin[_ACTOR_UPDATE, A.READOUT_LEARNING] = A.actor_update_flops(self.n_actions, n_feat,
                                                                      False)
        self._kind_flops = (twin if self.is_twin else own, twin)

    def _fold_charges(self) -> None:
        """Add the counted kinds of work, priced, to the accumulated flops."""
        kinds = np.array(self._kinds, np.float64)
        own, twin = self._kind_flops
        self.python_flops += kinds @ own
        self.twin_python_flops += kinds @ twin
        if not self.is_twin:
            self.python_flops[A.SENSOR_ENCODING] += self._event_count
        self._kinds[:] = [0] * len(_KINDS)
        self._event_count = 0

    def _log_step(self, k: int, k_read: int, inputs_changed: bool, decision: bool = True
                  ) -> None:
        """Record the step (or, not a ``decision``, an ingest) in the terms of the twin's cost
        (``twin.DecisionLog``)."""
        log, now = self.log, self.net.now_tick
        if self.config.network.feedforward:  # one pass, whatever the interval
            log.feedforward_passes += 1
        else:
            for start, stop in ((now, k), (max(now, k), k_read)):
                if stop - start > K.DECAY_TICKS:
                    log.long_passes += 1
                elif stop > start:
                    log.passes += 1
        log.input_drives += inputs_changed or self._weights_moved
        self._weights_moved = False
        if decision:
            log.readouts += 1
            self.steps[0] += 1
        else:
            log.actor_reads += 1

    def flops_by_part(self) -> dict[str, float]:
        """All counted arithmetic of this learner so far, by part (``accounting.PARTS``)."""
        self._fold_charges()
        return dict(zip(A.PARTS, self.net.flops_by_part() + self.python_flops))

    def twin_flops_by_part(self) -> dict[str, float]:
        """What the synchronous twin does for the same steps, by part: counted if this learner
        is the twin, else from the steps' log (the twin's cost depends only on it)."""
        if self.is_twin:
            return self.flops_by_part()
        self._fold_charges()
        net = self.net
        n_in_syn = int(np.count_nonzero(net.syn[K.PRE] >= net.n_hidden))
        counts = twin_counts(self.log, net.n_hidden, net.n_synapses - n_in_syn, n_in_syn,
                             net.readout.shape, net.td_trace_decay,
                             self.config.network.layer_bounds()[0][1],
                             self.config.network.activation == "leaky_relu",
                             self.config.learning.eprop_feedback == "backprop",
                             self.config.network.layer_norm_gradient
                             if self.config.network.layer_norm else "",
                             self.config.network.layers)
        flops = twin_flops(counts, net.n_signals, net.td_trace_decay)
        return dict(zip(A.PARTS, flops + self.twin_python_flops))

    def cost(self) -> dict:
        """Counted arithmetic per step, this learner's and the twin's for the same steps, their
        ratio, the share of neurons that fire per step, the share of synapses settled per step
        (an event of a neuron or an input settles the synapses leaving it, where the twin updates
        every synapse every step) and the ratio that share gives at equal cost per synapse
        (``ratio_bound``, 1 / settled share); and e-prop per settled synapse against the twin's
        per synapse and step, each with its share of the per-neuron and per-unit work."""
        steps = max(int(self.steps[0]), 1)
        own, twin = self.flops_by_part(), self.twin_flops_by_part()
        total, twin_total = sum(own.values()), sum(twin.values())
        out = {"flops_per_step": total / steps, "twin_flops_per_step": twin_total / steps,
               "total_ratio": twin_total / max(total, 1e-12),
               "flops_by_part": {k: v / steps for k, v in own.items()},
               "twin_flops_by_part": {k: v / steps for k, v in twin.items()},
               "energy_uj_per_step": A.energy_uj(total / steps),
               "twin_energy_uj_per_step": A.energy_uj(twin_total / steps)}
        if not self.is_twin:
            count = self.net.count
            share = K.hidden_events(count) / (steps * self.net.n_hidden)
            settled_share = count[K.C_SETTLE] / (steps * self.net.n_synapses)
            out.update(threshold_median=float(np.median(self.net.threshold)),
                       hidden_events_per_step=K.hidden_events(count) / steps,
                       input_events_per_step=count[K.C_INPUT_EVENT] / steps,
                       synaptic_events_per_step=(count[K.C_DELIVER]
                                                 + count[K.C_READOUT_DELIVER]) / steps,
                       settled_synapses_per_step=count[K.C_SETTLE] / steps,
                       settled_share=settled_share,
                       firing_share=share, ratio_bound=1.0 / max(settled_share, 1e-12),
                       eprop_flops_per_settled_synapse=own["eprop"] / max(
                           count[K.C_SETTLE], 1),
                       twin_eprop_flops_per_synapse=twin["eprop"] / (
                           steps * self.net.n_synapses))
        return out

    # -- state ---------------------------------------------------------------------------------

    MEMORY_PROBATION_END = _PROBATION_END  # index in policy_memory_meta

    LEARNER_FIELDS = ("raw_input", "traces", "log_std", "log_std_trace", "readout_importance",
                      "readout_anchor", "readout_path", "readout_start", "consolidation_clock",
                      "pending_value", "pending_features", "pending_grads",
                      "last_step_s", "python_flops", "twin_python_flops", "steps", "change_state",
                      "policy_memory", "policy_memory_meta", "random_feedback", "feedback_due")

    # arrays in which NaN is a legitimate value ("not set")
    NAN_ALLOWED = ("learner.pending_value", "net.origin_s", "learner.last_step_s")

    def state(self, settle: bool = True) -> dict[str, np.ndarray]:
        """Every array of the learner, by name (for checkpoints).

        ``settle`` first applies pending e-prop changes, so the arrays are complete.
        """
        if settle:
            self.net.settle_learning()
        self._fold_charges()
        state = self.net.state()
        for name in self.LEARNER_FIELDS:
            state[f"learner.{name}"] = getattr(self, name)
        for prefix, stats in (("obs", self.obs_stats), ("reward", self.reward_scaler.stats)):
            state[f"{prefix}.count"] = stats.count
            state[f"{prefix}.mean"] = stats.mean
            state[f"{prefix}.m2"] = stats.m2
        state["reward.return"] = self.reward_scaler.ret
        state["learner.log"] = self.log.as_array()
        state["learner.rng"] = _rng_words(self.rng.bit_generator.state)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy in a state whose names, shapes and dtypes have been checked against ``state()``."""
        rng_state = _rng_state(state["learner.rng"])
        self.net.load_state(state)
        for name in self.LEARNER_FIELDS:
            getattr(self, name)[...] = state[f"learner.{name}"]
        for prefix, stats in (("obs", self.obs_stats), ("reward", self.reward_scaler.stats)):
            stats.count[...] = state[f"{prefix}.count"]
            stats.mean[...] = state[f"{prefix}.mean"]
            stats.m2[...] = state[f"{prefix}.m2"]
        self.reward_scaler.ret[...] = state["reward.return"]
        self.log = DecisionLog(*[int(v) for v in state["learner.log"]])
        self.rng.bit_generator.state = rng_state


_WORD = (1 << 64) - 1


def _rng_words(state: dict) -> np.ndarray:
    """A PCG64 generator's state as six uint64 words: a fixed shape, whatever its values (the
    128-bit state and increment, high word first, then the buffered 32-bit half)."""
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"the learner's generator must be PCG64, not {state['bit_generator']}")
    s, inc = int(state["state"]["state"]), int(state["state"]["inc"])
    return np.array([s >> 64, s & _WORD, inc >> 64, inc & _WORD, int(state["has_uint32"]),
                     int(state["uinteger"])], np.uint64)


def _rng_state(words: np.ndarray) -> dict:
    """The PCG64 state that ``_rng_words`` stored."""
    w = [int(v) for v in words]
    return {"bit_generator": "PCG64", "state": {"state": (w[0] << 64) | w[1],
                                                "inc": (w[2] << 64) | w[3]},
            "has_uint32": w[4], "uinteger": w[5]}


def warm_up() -> None:
    """Compile (or load from the cache) every kernel now, on a throwaway learner, so that no
    callback pays for compilation."""
    for action, traces in ((ActionSpec(), False),
                           (ActionSpec(kind="continuous", low=(-1.0,), high=(1.0,)), True)):
        learner = OnlineLearner(AgentConfig(
            network=NetworkConfig(n_inputs=2, n_hidden=4, recurrent_fan_in=2),
            learning=LearningConfig(hidden_lr=1e-3, eprop_td_traces=traces), action=action))
        for step in range(4):  # learning steps, a teacher's, an episode's end
            teacher = (0 if action.kind == "discrete" else [0.5]) if step == 2 else None
            learner.step_events(EventBatch.from_arrays([0, 1], [0.02 * step] * 2, [0.5, -0.5]),
                                0.02 * step, reward=0.0 if step else None, terminated=step == 3,
                                teacher_action=teacher)
        learner.state()
