"""``ant-ros bench continual``: what happens when the robot's world changes and changes back.

The scenarios of ``ant_ros.tasks.continual`` (by default the Gymnasium ones: CartPole with
changed physics, CartPole with the motor wired backwards, Pendulum with a heavier pendulum, and
a 20-change CartPole run for loss of plasticity; the ir-sim navigation ones, a rearranged arena,
half-speed wheels, a lidar turned 90 degrees and a dead lidar sector, with ``--scenario``), for
each system in the same run: ``plain`` (the task's preset, learning never
stopped: plain continual updating; the presets have consolidation off), ``consolidation`` (the
same learner with consolidation on), ``window`` (the same with observation and reward
normalisation that forget, a 5,000-step window) and ``reset`` (a new learner at every change: no transfer,
the reference for recovery speed). SB3 PPO continuing across changes is not run: it needs torch
(not a dependency of the package); the table says so.

One row per scenario and system, means over seeds with their standard deviations (``*_sd``):
forgetting (normalised scores), recovery steps on first exposures and on returns, the
plasticity ratio (20th change over the 2nd), the slowdown of learning a new phase against
``plain`` (``new_phase_slowdown``: recovery steps on phase B's first exposure, ratio - 1), the
frozen scores at the end. Seeds run in parallel, one per core.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..tasks.continual import NAVIGATION, SCENARIOS, SYSTEMS, run_metrics, run_scenario

SEEDS = 5
EVAL_EPISODES = 5
CONSOLIDATION_STRENGTH = 1.0
QUICK = {"seeds": 2, "phase_steps": 1_500, "long_phase_steps": 600, "eval_episodes": 1}
METRICS = ("forgetting", "phases_learned", "recovery_steps_first", "recovery_steps_return", "plasticity_ratio",
           "final_frozen_a", "final_frozen_b")


def _one(job: tuple) -> dict:
    name, system, seed, phase_steps, eval_episodes = job
    scenario = SCENARIOS[name]
    exposures = run_scenario(scenario, system, seed, phase_steps=phase_steps,
                             eval_episodes=eval_episodes,
                             consolidation_strength=CONSOLIDATION_STRENGTH)
    return {"scenario": name, "system": system, "seed": seed,
            **run_metrics(scenario, exposures, phase_steps)}


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None, None
    return float(np.mean(finite)), float(np.std(finite))


def run(quick: bool = False, scenarios: tuple[str, ...] | None = None,
        jobs: int | None = None, systems: tuple[str, ...] = SYSTEMS) -> list[dict]:
    """Rows per scenario and system; ``plain`` always runs (the slowdown's reference)."""
    systems = tuple(s for s in SYSTEMS if s in systems or s == "plain")
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
        work += [(name, system, seed, steps, eval_episodes)
                 for system in systems for seed in range(seeds)]
    workers = jobs or min(len(work), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_one, work))
    rows = []
    for name in names:
        scenario = SCENARIOS[name]
        plain_b = [r["recovery_steps_first_b"] for r in results
                   if r["scenario"] == name and r["system"] == "plain"]
        for system in systems:
            runs = [r for r in results if r["scenario"] == name and r["system"] == system]
            row = {"scenario": name, "system": system, "seeds": len(runs),
                   "phases": scenario.n_phases,
                   "phase_steps": work[[w[0] for w in work].index(name)][3]}
            for metric in METRICS:
                row[metric], row[f"{metric}_sd"] = _mean_sd([r[metric] for r in runs])
            own_b = [r["recovery_steps_first_b"] for r in runs]
            row["new_phase_slowdown"] = (float(np.nanmean(own_b) / np.nanmean(plain_b) - 1.0)
                                         if _finite(own_b) and _finite(plain_b) else None)
            row["phase_end_scores"] = [float(np.mean(s)) for s in
                                       zip(*[r["phase_end_scores"] for r in runs])]
            rows.append(row)
    return rows


def _finite(values: list[float]) -> bool:
    return any(not math.isnan(v) for v in values)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def format_table(rows: list[dict]) -> str:
    head = (f"{'scenario':24s} {'system':14s} {'forget':>13s} {'learned':>7s} "
            f"{'recover first':>15s} "
            f"{'recover return':>15s} {'plasticity':>10s} {'slowdown':>8s} {'frozen A/B':>11s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']:24s} {r['system']:14s} "
            f"{_fmt(r['forgetting']):>6s}+-{_fmt(r['forgetting_sd']):<5s} "
            f"{_fmt(r['phases_learned'], 1):>7s} "
            f"{_fmt(r['recovery_steps_first'], 0):>15s} {_fmt(r['recovery_steps_return'], 0):>15s} "
            f"{_fmt(r['plasticity_ratio']):>10s} {_fmt(r['new_phase_slowdown']):>8s} "
            f"{_fmt(r['final_frozen_a'])}/{_fmt(r['final_frozen_b'])}")
    lines.append("scores: 0 = random policy, 1 = best; forgetting: frozen score lost on a phase "
                 "while the other was learned; learned: phases (of 2) whose first exposure "
                 "ended at a score >= 0.2; recovery: steps to 90 % of the phase's first level "
                 "(moving mean of 10 episodes), learned phases only; SB3 PPO: not run (needs "
                 "torch)")
    return "\n".join(lines)
