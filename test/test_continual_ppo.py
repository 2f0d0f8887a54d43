"""SB3 PPO continuing across a scenario's changes (``ant-ros bench continual``'s ``ppo``): the
phase schedule over the env copies without SB3, the PPO run where the extra is installed."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from ant_ros.bench import continual_bench
from ant_ros.tasks import continual_ppo
from ant_ros.tasks.continual import SCENARIOS, PhaseEnv
from ant_ros.tasks.continual_ppo import _Schedule, _ScheduledEnv


def test_the_schedule_switches_every_copy_and_cuts_the_episodes_a_change_interrupts():
    """Two CartPole copies stepped in turn as a vector env steps them: the phase changes when
    their steps together reach its length, on both copies at once; an episode a change
    interrupts ends at its next step (truncated) and is not scored; the frozen evaluation runs
    at every phase's end; steps after the last phase are not recorded."""
    scenario = SCENARIOS["cartpole-reversed"]
    evaluations = []
    schedule = _Schedule(scenario, phase_steps=300, n_phases=3,
                         evaluate=lambda: evaluations.append(schedule.index) or (0.5, 0.25))
    envs = [_ScheduledEnv(PhaseEnv(gym.make("CartPole-v1")), schedule) for _ in range(2)]
    for k, env in enumerate(envs):
        env.reset(seed=k)
    cut = 0
    rng = np.random.default_rng(0)
    while not schedule.done:
        for env in envs:
            phase = env.episode_phase
            _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            if schedule.index != phase and not schedule.done:
                assert all(e.env.reversed == (schedule.index % 2 == 1) for e in envs)
            if terminated or truncated:
                cut += truncated and not terminated
                env.reset()
    assert evaluations == [0, 1, 2]
    assert [e.phase for e in schedule.exposures] == [0, 1, 0]
    assert all(e.frozen == (0.5, 0.25) for e in schedule.exposures)
    for exposure in schedule.exposures:
        assert exposure.returns and len(exposure.returns) == len(exposure.end_steps)
        assert all(0 < s <= 300 for s in exposure.end_steps)
        assert exposure.end_steps == sorted(exposure.end_steps)
    assert cut >= 2  # at least the copy mid-episode at each change
    recorded = sum(len(e.returns) for e in schedule.exposures)
    for env in envs:  # after the last phase: nothing more is recorded
        env.reset()
        for _ in range(20):
            env.step(0)
    assert sum(len(e.returns) for e in schedule.exposures) == recorded


def test_the_bench_table_says_when_ppo_was_not_run():
    text = continual_bench.format_table([])
    if continual_ppo.sb3_available():
        assert "not asked for" in text
    else:
        assert continual_ppo.MISSING in text


def test_ppo_learns_through_the_phases_and_is_evaluated_frozen_after_each():
    """Where SB3 is installed: PPO with the zoo's CartPole-v1 hyperparameters through two
    phases of the backwards motor; CartPole's episodes lengthen as it learns phase A."""
    pytest.importorskip("stable_baselines3")
    exposures = continual_ppo.run_ppo_scenario(SCENARIOS["cartpole-reversed"], seed=0,
                                               phase_steps=6_000, n_phases=2, eval_episodes=2)
    assert [e.phase for e in exposures] == [0, 1]
    for exposure in exposures:
        assert all(math.isfinite(v) for v in exposure.frozen)
        assert all(0 < s <= 6_000 for s in exposure.end_steps)
    first = exposures[0].returns
    assert np.mean(first[-10:]) > 2 * np.mean(first[:10])  # it learned A
    assert exposures[0].frozen[0] > 0.1
