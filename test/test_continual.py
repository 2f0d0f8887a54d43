"""Continual-learning scenarios: phases change the real Gymnasium envs, the frozen evaluation
leaves the learner exactly as it was, the metrics are the defined ones, the bench's rows."""

import math

import gymnasium as gym
import numpy as np
import pytest

from ant_ros.bench import continual_bench
from ant_ros.tasks import continual_ppo
from ant_ros.tasks.continual import (SCENARIOS, Agent, Exposure, PhaseEnv, adapt_steps,
                                     phase_targets, run_metrics, scenario_config)


def test_phases_change_cartpole_physics_and_wiring_and_change_back():
    env = PhaseEnv(gym.make("CartPole-v1"))
    base = env.unwrapped
    env.set_phase({"length": 1.0, "masspole": 0.2})
    assert base.length == 1.0 and base.polemass_length == pytest.approx(0.2)
    assert base.total_mass == pytest.approx(1.2)
    env.set_phase({"reversed": True})
    assert base.length == 0.5 and base.total_mass == pytest.approx(1.1) and env.reversed
    twin = gym.make("CartPole-v1")
    env.reset(seed=4)
    twin.reset(seed=4)
    for action in (0, 0, 1, 0):  # swapped: the same states as the opposite actions
        np.testing.assert_array_equal(env.step(action)[0], twin.step(1 - action)[0])
    with pytest.raises(ValueError):
        env.set_phase({"m": 2.0})
    pendulum = PhaseEnv(gym.make("Pendulum-v1"))
    pendulum.set_phase({"m": 1.4})
    assert pendulum.unwrapped.m == 1.4
    pendulum.set_phase({})
    assert pendulum.unwrapped.m == 1.0


@pytest.mark.parametrize("name, system", [("cartpole-reversed", "plain"),
                                          ("pendulum-mass", "window"),
                                          ("cartpole-physics", "consolidation")])
def test_a_frozen_evaluation_leaves_the_learner_as_it_was(name, system):
    """The same actions and, once both are settled, the same learned state as a learner that
    was never evaluated: exactly for CartPole; to rounding for continuous control (restoring
    a state recomputes the drives from the weights, and the rounding grows a little while
    learning goes on)."""
    scenario = SCENARIOS[name]
    config = scenario_config(scenario, system, 0, 1.0)
    agents = [Agent(config), Agent(config)]
    envs = [PhaseEnv(gym.make(scenario.env_id)) for _ in agents]
    actions = [[], []]
    for k, (agent, env) in enumerate(zip(agents, envs)):
        obs, _ = env.reset(seed=1)
        action = agent.step(obs)
        for step in range(300):
            if k == 1 and step == 150:
                frozen = agent.frozen_return(PhaseEnv(gym.make(scenario.env_id)), 2, seed=5)
                assert np.isfinite(frozen) and agent.learner.config.learning.learning_enabled
            obs, reward, terminated, truncated, _ = env.step(action)
            action = agent.step(obs, reward, terminated, truncated)
            if terminated or truncated:
                obs, _ = env.reset()
                action = agent.step(obs)
            actions[k].append(action)
    # the same actions (to rounding for continuous ones: restoring recomputes the drives)
    np.testing.assert_allclose(np.array(actions[1], float), np.array(actions[0], float),
                               rtol=0, atol=1e-5)
    settled = [agent.learner.state() for agent in agents]
    # what was learned and what the learner holds of the world: weights, readouts, log std,
    # normalisation statistics, the step count and the random state
    for key in ("net.weight", "net.readout", "learner.log_std", "obs.mean", "obs.m2",
                "reward.m2", "learner.steps", "learner.rng"):
        np.testing.assert_allclose(np.asarray(settled[1][key], np.float64),
                                   np.asarray(settled[0][key], np.float64), rtol=1e-4,
                                   atol=1e-6, err_msg=key)


def _exposure(phase, returns, frozen, spacing=100):
    return Exposure(phase, list(returns), [spacing * (i + 1) for i in range(len(returns))],
                    frozen)


def test_the_metrics_are_the_defined_ones():
    scenario = SCENARIOS["cartpole-reversed"]  # score = (R - 22.4) / 477.6
    good, bad = 500.0, 22.4
    exposures = [
        _exposure(0, [bad] * 10 + [good] * 10, (1.0, 0.0)),  # A learned
        _exposure(1, [bad] * 20 + [good] * 10, (0.25, 1.0)),  # B learned, A forgotten to 0.25
        _exposure(0, [good] * 12, (1.0, 0.5)),  # A back at once
    ]
    # fresh learners reach 1.0 on both phases: the targets are 0.9
    targets = phase_targets(scenario, [exposures[:2]])
    assert targets == pytest.approx((0.9, 0.9))
    metrics = run_metrics(scenario, exposures, phase_steps=5000, targets=targets)
    assert metrics["forgetting_a"] == pytest.approx(1.0 - 0.25)
    assert math.isnan(metrics["forgetting_b"])  # B has no second exposure
    # the first window with 9 of 10 good episodes begins after the 9th (A) and 19th (B)
    assert metrics["recovery_steps_first"] == pytest.approx((900 + 1900) / 2)
    assert metrics["recovery_steps_return"] == 0.0  # good from its first episode
    assert metrics["censored_first"] == 0.0
    assert math.isnan(metrics["plasticity_ratio"])  # needs 21 phases
    never = _exposure(0, [bad] * 30, (0.0, 0.0))
    assert adapt_steps(scenario, never, 0.9, 5000) == (5000, True)  # censored
    unlearned = run_metrics(scenario, [exposures[0], _exposure(1, [bad] * 30, (1.0, 0.0)),
                                       exposures[2]], phase_steps=5000, targets=targets)
    assert unlearned["censored_first"] == 0.5 and unlearned["recovery_steps_first_b"] == 5000


def test_the_bench_gives_a_row_per_scenario_and_system():
    rows = continual_bench.run(quick=True, scenarios=("cartpole-reversed",))
    ppo = ("ppo",) if continual_ppo.sb3_available() else ()
    assert [(r["scenario"], r["system"]) for r in rows] == [
        ("cartpole-reversed", s) for s in ("plain", "consolidation", "window", "detect",
                                           "recall", "reset") + ppo]
    for row in rows:
        assert {"scenario", "system", "seeds", "forgetting", "recovery_steps_first",
                "recovery_steps_return", "plasticity_ratio", "new_phase_slowdown"} <= row.keys()
        assert row["seeds"] == 2 and len(row["phase_end_scores"]) == 6
        assert 0.0 <= row["recovery_steps_first"] <= 1_500
        assert 0.0 <= row["censored_first"] <= 1.0
        assert len(row["frozen_scores"]) == 6 and len(row["frozen_scores"][0]) == 2
        detector = row["system"] in ("detect", "recall")
        assert (row["false_detections_per_100k"] is not None) == detector
    assert rows[0]["new_phase_slowdown"] in (0.0, None)  # plain against itself
    if not ppo:
        assert continual_ppo.MISSING in continual_bench.format_table(rows)


def test_the_consolidation_strength_is_recorded_and_builds_the_consolidation_config_only():
    weak, strong = (continual_bench.run(quick=True, scenarios=("cartpole-physics",),
                                        systems=("consolidation",), consolidation_strength=s)
                    for s in (0.1, 50.0))
    by_system = [{r["system"]: r for r in rows} for rows in (weak, strong)]
    assert by_system[0]["consolidation"]["consolidation_strength"] == 0.1
    assert by_system[1]["consolidation"]["consolidation_strength"] == 50.0
    for reference in ("plain", "reset"):  # the same runs whatever the strength
        assert by_system[0][reference]["phase_end_scores"] == by_system[1][reference][
            "phase_end_scores"]
        assert "consolidation_strength" not in by_system[0][reference]
    # what a run is built with (quick phases end before a consolidation window does, so the
    # quick runs cannot show the strength in their scores)
    scenario = SCENARIOS["cartpole-physics"]
    assert scenario_config(scenario, "consolidation", 0, 50.0).learning.consolidation_strength \
        == 50.0
    assert scenario_config(scenario, "plain", 0, 50.0).learning.consolidation_strength == 0.0
    with pytest.raises(ValueError, match="consolidation_strength"):
        continual_bench.run(quick=True, consolidation_strength=0.0)


def test_robot_changes_slow_the_wheels_turn_the_lidar_and_kill_a_sector():
    from ant_ros.tasks.irsim_navigation import IrSimRobot, RobotChange
    robots = [IrSimRobot(seed=2), IrSimRobot(seed=2)]
    robots[1].change = RobotChange(speed_gain=0.5)
    for robot in robots:
        for _ in range(5):
            robot.step(np.array([0.4, 0.0]))
    moved = [r.odometry().linear_x for r in robots]
    assert moved[1] == pytest.approx(moved[0] / 2)
    robot = IrSimRobot(seed=3)
    plain = robot.scan().ranges
    robot.change = RobotChange(lidar_rotation_rad=float(np.pi / 2))
    turned = robot.scan()
    shift = int(round(np.pi / 2 / turned.angle_increment))
    np.testing.assert_array_equal(turned.ranges, np.roll(plain, -shift))
    robot.change = RobotChange(dead_sector_rad=(-0.5, 0.5))
    dead = robot.scan()
    angles = dead.angle_min + dead.angle_increment * np.arange(dead.ranges.size)
    front = (angles >= -0.5) & (angles < 0.5)
    assert np.all(np.isinf(dead.ranges[front]))
    np.testing.assert_array_equal(dead.ranges[~front], plain[~front])


def test_a_navigation_scenario_runs_through_its_phases():
    from ant_ros.tasks.continual import run_scenario
    exposures = run_scenario(SCENARIOS["navigation-arena"], "plain", 0, phase_steps=150,
                             n_phases=2, eval_episodes=1)
    assert [e.phase for e in exposures] == [0, 1]
    assert all(0.0 <= score <= 1.0 for e in exposures for score in e.frozen)


def test_a_normalisation_window_follows_a_changed_world():
    """All-time statistics (Welford) barely move after a change that comes late; with a window
    the mean and spread follow it within a few windows."""
    from ant_ros.core.normalization import RunningMeanStd
    rng = np.random.default_rng(0)
    forever, windowed = RunningMeanStd(1), RunningMeanStd(1, window=500.0)
    for x in rng.normal(0.0, 1.0, 20_000):
        forever.update(np.array([x]))
        windowed.update(np.array([x]))
    np.testing.assert_allclose([forever.mean[0], windowed.mean[0]], 0.0, atol=0.15)
    for x in rng.normal(5.0, 0.1, 5_000):  # the world changed
        forever.update(np.array([x]))
        windowed.update(np.array([x]))
    assert forever.mean[0] < 1.5 and windowed.mean[0] == pytest.approx(5.0, abs=0.05)
    assert np.sqrt(windowed.var[0]) < 0.3 < np.sqrt(forever.var[0])
    assert windowed.count[0] == 500.0


def test_the_normalisation_window_is_a_learner_parameter():
    scenario = SCENARIOS["cartpole-reversed"]
    config = scenario_config(scenario, "plain", 0, 1.0)
    import dataclasses
    windowed = dataclasses.replace(config, learning=dataclasses.replace(
        config.learning, normalization_window_steps=1000.0)).validate()
    agent = Agent(windowed)
    assert agent.learner.obs_stats.window == agent.learner.reward_scaler.stats.window == 1000.0
    agent.learner.apply_config(config)  # live: back to all time
    assert np.isinf(agent.learner.obs_stats.window)
    with pytest.raises(Exception, match="normalization_window_steps"):
        dataclasses.replace(config.learning, normalization_window_steps=1.0).validate()


def test_every_system_sets_every_continual_mechanism():
    """A system is its mechanisms and nothing else, whatever the preset has on."""
    from ant_ros.tasks.continual import SYSTEM_SETTINGS
    scenario = SCENARIOS["cartpole-reversed"]
    for system, settings in SYSTEM_SETTINGS.items():
        learning = scenario_config(scenario, system, 0, 0.5).learning
        for field, value in settings.items():
            expected = 0.5 if field == "consolidation_strength" and value else value
            assert getattr(learning, field) == expected, (system, field)
    plain = scenario_config(scenario, "plain", 0, 1.0).learning
    assert not plain.change_detection and plain.consolidation_strength == 0.0


def test_the_change_detector_lets_the_learner_relearn_a_motor_wired_backwards():
    """After CartPole is learned, the motor is wired backwards: the detector reports the change
    soon after it, the policy starts again, and B is learned from the features the network
    kept, where the plain learner stays below a random policy."""
    from ant_ros.tasks.continual import run_scenario
    scenario = SCENARIOS["cartpole-reversed"]
    a, b = run_scenario(scenario, "detect", 0, phase_steps=12_000, n_phases=2,
                        eval_episodes=1)
    assert a.detections == []  # no false alarm while A is learned
    assert b.detections and b.detections[0] < 1_500
    first = [r for r, end in zip(b.returns, b.end_steps) if end < b.detections[0] + 500]
    late = b.returns[-20:]
    assert np.mean(first) < 22.4 < 3 * 22.4 < np.mean(late)  # from below random to well above
    _, plain = run_scenario(scenario, "plain", 0, phase_steps=12_000, n_phases=2,
                            eval_episodes=1)
    assert plain.detections == [] and np.mean(plain.returns[-20:]) < 22.4
