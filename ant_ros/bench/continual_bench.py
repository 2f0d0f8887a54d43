"""``ant-ros bench continual``: what happens when the robot's world changes and changes back.

The scenarios of ``ant_ros.tasks.continual`` (by default the Gymnasium ones: CartPole with
changed physics, CartPole with the motor wired backwards, Pendulum with a heavier pendulum, and
a 20-change CartPole run for loss of plasticity; the ir-sim navigation ones, a rearranged
arena, half-speed wheels, a lidar turned 90 degrees and a dead lidar sector, with
``--scenario``), for each system in the same run:

- ``plain``: the task's preset, learning never stopped (plain continual updating; the presets
  have consolidation off);
- ``consolidation``: the same learner with consolidation on (untuned strength);
- ``window``: the same with observation and reward normalisation that forget (5,000 steps);
- ``detect``: the change detector on the critic's value (``core/change_detector.py``), the
  policy's readouts reset at a detected change;
- ``recall``: the same with a memory of policies: at a detected change the current policy is
  kept and the best kept one recalled (on probation), else reset;
- ``reset``: a new learner at every change (no transfer; the reference for recovery speed,
  and what sets the recovery targets).

- ``ppo``: SB3 PPO continuing across the changes (``ant_ros/tasks/continual_ppo.py``: RL Baselines3
  Zoo's tuned hyperparameters with constant rates), where the optional extra ``ant_ros[sb3]``
  is installed (Gymnasium scenarios only); otherwise skipped, and the table says so.

One row per scenario and system, means over seeds with their
sample standard deviations (``*_sd``): forgetting per phase, recovery steps on first exposures
and on returns with the censored shares, the plasticity ratio (20th change over the 2nd), the
slowdown of learning phase B the first time against ``plain`` (``new_phase_slowdown``), the
frozen scores after every phase and at the end. Seeds run in parallel, one per core.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..core.config import LearningConfig
from ..tasks import continual_ppo
from ..tasks.continual import (EVAL_EPISODES, NAVIGATION, SCENARIOS, SYSTEM_SETTINGS, SYSTEMS,
                               Exposure, phase_targets, run_metrics, run_scenario)

SEEDS = 5
CONSOLIDATION_STRENGTH = 0.1  # untuned (see the README)
QUICK = {"seeds": 2, "phase_steps": 1_500, "long_phase_steps": 600, "eval_episodes": 1}
METRICS = ("forgetting", "forgetting_a", "forgetting_b", "recovery_steps_first",
           "recovery_steps_return", "censored_first", "censored_return", "plasticity_ratio",
           "final_frozen_a", "final_frozen_b", "changes_detected", "detection_delay_steps",
           "false_detections_per_100k", "detection_chance")
DETECTOR_WARMUP = LearningConfig().change_warmup_steps
DETECTION_WINDOW = 5_000  # steps into a phase within which a detection counts as the change's
ALL_SYSTEMS = SYSTEMS + ("ppo",)  # the learner's systems, and SB3 PPO (optional extra)


def _one(job: tuple) -> dict:
    """One run: its exposures (returns, end steps, frozen scores), as plain data."""
    name, system, seed, phase_steps, eval_episodes, strength = job
    if system == "ppo":
        exposures = continual_ppo.run_ppo_scenario(SCENARIOS[name], seed,
                                                   phase_steps=phase_steps,
                                                   eval_episodes=eval_episodes)
    else:
        exposures = run_scenario(SCENARIOS[name], system, seed, phase_steps=phase_steps,
                                 eval_episodes=eval_episodes,
                                 consolidation_strength=strength)
    return {"scenario": name, "system": system, "seed": seed, "phase_steps": phase_steps,
            "exposures": [dataclasses.asdict(e) for e in exposures]}


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None, None
    return float(np.mean(finite)), (float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0)


def run(quick: bool = False, scenarios: tuple[str, ...] | None = None,
        jobs: int | None = None, systems: tuple[str, ...] | None = None,
        raw: list | None = None,
        consolidation_strength: float = CONSOLIDATION_STRENGTH) -> list[dict]:
    """Rows per scenario and system (default: all, ``ppo`` where SB3 is installed). ``plain``
    (the slowdown's reference) and ``reset`` (the recovery targets: what a fresh learner reaches
    in one exposure) always run; ``ppo`` only where SB3 is installed, on the Gymnasium
    scenarios. ``raw``, if given, receives every run's exposures. ``consolidation_strength``:
    the ``consolidation`` system's (a row's ``consolidation_strength``)."""
    if not (consolidation_strength > 0.0 and math.isfinite(consolidation_strength)):
        raise ValueError(f"consolidation_strength must be a finite number > 0, got "
                         f"{consolidation_strength}")
    wanted = ALL_SYSTEMS if systems is None else systems
    systems = tuple(s for s in ALL_SYSTEMS if s in wanted or s in ("plain", "reset"))
    if "ppo" in systems and not continual_ppo.sb3_available():
        systems = tuple(s for s in systems if s != "ppo")
    seeds = QUICK["seeds"] if quick else SEEDS
    eval_episodes = QUICK["eval_episodes"] if quick else EVAL_EPISODES
    # by default the Gymnasium scenarios (about an hour on two cores); the navigation ones on
    # request (--scenario): hours each at full length
    names = scenarios or tuple(n for n, sc in SCENARIOS.items() if sc.env_id != NAVIGATION)
    work = []
    for name in names:
        scenario = SCENARIOS[name]
        steps = scenario.phase_steps
        if quick:
            steps = (QUICK["long_phase_steps"] if scenario.n_phases > 6 or
                     scenario.env_id == NAVIGATION else QUICK["phase_steps"])
        work += [(name, system, seed, steps, eval_episodes, consolidation_strength)
                 for system in _systems_of(scenario, systems) for seed in range(seeds)]
    workers = jobs or min(len(work), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_one, work))
    if raw is not None:
        raw.extend(results)
    rows = []
    for name in names:
        scenario = SCENARIOS[name]
        mine = [r for r in results if r["scenario"] == name]
        runs_of = {system: [[Exposure(**e) for e in r["exposures"]] for r in mine
                            if r["system"] == system]
                   for system in _systems_of(scenario, systems)}
        targets = phase_targets(scenario, runs_of["reset"])
        phase_steps = mine[0]["phase_steps"]
        metrics_of = {system: [{**run_metrics(scenario, run, phase_steps, targets),
                                **(detection_metrics(run, phase_steps, DETECTOR_WARMUP)
                                   if SYSTEM_SETTINGS.get(system, {}).get("change_detection")
                                   else {})}
                               for run in runs] for system, runs in runs_of.items()}
        plain_b = [m["recovery_steps_first_b"] for m in metrics_of["plain"]]
        for system in runs_of:
            metrics = metrics_of[system]
            row = {"scenario": name, "system": system, "seeds": len(metrics),
                   "phases": scenario.n_phases, "phase_steps": phase_steps,
                   "target_a": targets[0], "target_b": targets[1]}
            if system == "consolidation":
                row["consolidation_strength"] = consolidation_strength
            for metric in METRICS:
                row[metric], row[f"{metric}_sd"] = _mean_sd([m.get(metric, math.nan)
                                                             for m in metrics])
            own_b = [m["recovery_steps_first_b"] for m in metrics]
            # against the same learner with the mechanisms off (none for another algorithm)
            row["new_phase_slowdown"] = (float(np.mean(own_b) / np.mean(plain_b) - 1.0)
                                         if np.mean(plain_b) > 0 and system != "ppo" else None)
            row["phase_end_scores"] = [float(np.nanmean(s)) if not all(map(math.isnan, s))
                                       else None for s in
                                       zip(*[m["phase_end_scores"] for m in metrics])]
            row["recovery_steps_by_exposure"] = np.mean(
                [m["recovery_steps_by_exposure"] for m in metrics], axis=0).round(0).tolist()
            row["frozen_scores"] = np.mean([m["frozen_scores"] for m in metrics],
                                           axis=0).round(3).tolist()
            rows.append(row)
    return rows


def _systems_of(scenario, systems: tuple[str, ...]) -> tuple[str, ...]:
    """The systems that run on ``scenario``: PPO has hyperparameters for the Gymnasium ones."""
    return tuple(s for s in systems
                 if s != "ppo" or scenario.env_id in continual_ppo.PPO_HYPERPARAMETERS)


def detection_metrics(exposures: list[Exposure], phase_steps: int,
                      warmup_steps: float) -> dict[str, float]:
    """How the change detector did in one run: the share of changes detected within
    ``DETECTION_WINDOW`` steps, the mean steps to that detection, and the other detections
    (none of a change: in the first phase, or later into a phase) per 100,000 steps at which it
    could report (after its warm-up); with a chance share beside it, the share of changes a
    detector reporting at that rate would hit in the window by luck."""
    found, delays, false = 0, [], 0
    for index, exposure in enumerate(exposures):
        early = [d for d in exposure.detections if d <= DETECTION_WINDOW]
        if index > 0 and early:
            found += 1
            delays.append(early[0])
        false += len(exposure.detections) - (1 if index > 0 and early else 0)
    changes = len(exposures) - 1
    watched = max(phase_steps * len(exposures) - warmup_steps, 1.0)
    rate = false / watched
    return {"changes_detected": found / changes if changes else math.nan,
            "detection_delay_steps": float(np.mean(delays)) if delays else math.nan,
            "false_detections_per_100k": 1e5 * rate,
            "detection_chance": 1.0 - math.exp(-rate * DETECTION_WINDOW)}


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def format_table(rows: list[dict]) -> str:
    head = (f"{'scenario':24s} {'system':14s} {'forget A':>9s} {'forget B':>9s} "
            f"{'recover first':>14s} {'cens':>5s} {'recover return':>15s} {'cens':>5s} "
            f"{'plast.':>6s} {'slowdown':>8s} {'frozen A/B':>11s} {'detected':>8s} "
            f"{'delay':>6s} {'false/100k':>10s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']:24s} {r['system']:14s} {_fmt(r['forgetting_a']):>9s} "
            f"{_fmt(r['forgetting_b']):>9s} {_fmt(r['recovery_steps_first'], 0):>14s} "
            f"{_fmt(r['censored_first']):>5s} {_fmt(r['recovery_steps_return'], 0):>15s} "
            f"{_fmt(r['censored_return']):>5s} {_fmt(r['plasticity_ratio']):>6s} "
            f"{_fmt(r['new_phase_slowdown']):>8s} "
            f"{_fmt(r['final_frozen_a'])}/{_fmt(r['final_frozen_b']):<6s} "
            f"{_fmt(r['changes_detected']):>8s} {_fmt(r['detection_delay_steps'], 0):>6s} "
            f"{_fmt(r['false_detections_per_100k']):>10s} ({_fmt(r['detection_chance'])})")
    lines.append("scores: 0 = random policy, 1 = a good one, per phase; forgetting: frozen score "
                 "lost on a phase while the other was learned; recovery: steps until the first "
                 "10-episode window at 90 % of what a fresh learner reaches in one exposure "
                 "begins (cens: share never reaching it, counted at the phase length); "
                 "detected: share of changes the change detector reported within 5,000 steps, "
                 "delay: steps to it, false: its other reports per 100,000 steps after its "
                 "warm-up (in brackets: the share of changes that rate would hit by chance); "
                 + ("ppo: SB3 PPO, RL Baselines3 Zoo's tuned hyperparameters, rates held "
                    "constant" if any(r["system"] == "ppo" for r in rows) else
                    continual_ppo.MISSING if not continual_ppo.sb3_available() else
                    "SB3 PPO: not run (not asked for with --system ppo, or only navigation "
                    "scenarios, which it has no hyperparameters for)"))
    return "\n".join(lines)
