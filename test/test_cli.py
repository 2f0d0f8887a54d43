"""The ``ant-ros`` command, run as a user runs it (a separate process)."""

import json
import subprocess
import sys

import pytest

TRAIN_KEYS = {"env", "steps", "seed", "solved_at_step", "solved_threshold", "mean_return_last100",
              "flops_per_step", "twin_flops_per_step", "total_ratio", "flops_by_part", "firing_share",
              "ratio_bound", "settled_share", "eprop_flops_per_settled_synapse", "twin_eprop_flops_per_synapse",
              "events_per_step", "wall_s", "wall_us_per_step",
              "stream_ac_flops_per_step", "ppo_flops_per_step", "stream_ac_ratio", "ppo_ratio"}
SPEED_KEYS = {"n_hidden", "input_activity", "async_ns_per_tick", "twin_ns_per_tick",
              "flops_per_tick", "twin_flops_per_tick", "hidden_activity", "flop_ratio",
              "time_ratio"}


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ant_ros.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=True)


def test_help_explains_each_subcommand():
    out = run_cli("--help").stdout
    for name in ("train", "sweep", "bench", "demo", "run"):
        assert name in out
    assert "--steps" in run_cli("train", "--help").stdout
    assert "--grid" in run_cli("sweep", "--help").stdout
    assert "threshold" in run_cli("bench", "core", "--help").stdout


def test_demo_output_folder_defaults_per_robot_and_is_kept_when_given():
    from ant_ros.cli import build_parser, demo_out_dir

    def out(*argv: str) -> str:
        return demo_out_dir(build_parser().parse_args(["demo", *argv]))
    assert out() == "runs/demo" and out("--robot", "irsim") == "runs/demo_irsim"
    assert out("--robot", "irsim", "--out", "runs/demo") == "runs/demo"  # as given
    assert out("--out", "elsewhere") == "elsewhere"
    assert "runs/demo_irsim" in run_cli("demo", "--help").stdout


def test_train_json_prints_one_object_with_the_documented_keys():
    out = run_cli("train", "--env", "CartPole-v1", "--steps", "3000", "--seed", "2", "--json")
    summary = json.loads(out.stdout)
    assert TRAIN_KEYS <= summary.keys()
    assert summary["env"] == "CartPole-v1" and summary["steps"] == 3000 and summary["seed"] == 2
    assert summary["solved_threshold"] == 475.0  # CartPole-v1's, from its spec
    assert 0 < summary["flops_per_step"] and 0 < summary["twin_flops_per_step"]
    assert summary["total_ratio"] == pytest.approx(
        summary["twin_flops_per_step"] / summary["flops_per_step"])
    assert sum(summary["flops_by_part"].values()) == pytest.approx(summary["flops_per_step"])
    assert summary["ratio_bound"] == pytest.approx(1 / summary["settled_share"])
    assert summary["settled_share"] == pytest.approx(summary["settled_synapses_per_step"] / (
        128 * 16 + 128))  # the preset's 128 neurons, 16 recurrent and 1 input synapse each
    # e-prop per settled synapse, and the twin's per synapse and step, by the same model
    assert 11 <= summary["eprop_flops_per_settled_synapse"] < 100
    assert 4 <= summary["twin_eprop_flops_per_synapse"] < 20


def test_train_text_output_and_continuous_env():
    out = run_cli("train", "--env", "Pendulum-v1", "--steps", "600").stdout
    assert "mean return, last 100 ep" in out and "total ratio" in out and "wall time" in out


def test_train_set_changes_the_preset_and_refuses_unknown_fields():
    frozen = json.loads(run_cli("train", "--env", "CartPole-v1", "--steps", "500", "--json",
                                "--set", "learning.learning_enabled=false",
                                "--set", "network.n_hidden=64").stdout)
    for part in ("eprop", "readout_learning", "step_size"):
        assert frozen["flops_by_part"][part] == 0
    default = json.loads(run_cli("train", "--env", "CartPole-v1", "--steps", "500",
                                 "--json").stdout)
    assert default["flops_by_part"]["eprop"] > 0
    assert frozen["twin_flops_per_step"] < default["twin_flops_per_step"]  # 64 < 128 neurons
    bad = subprocess.run([sys.executable, "-m", "ant_ros.cli", "train", "--set",
                          "network.no_such_field=1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no_such_field" in bad.stderr
    owned = subprocess.run([sys.executable, "-m", "ant_ros.cli", "train", "--set",
                            "network.n_inputs=9"], capture_output=True, text=True, timeout=120)
    assert owned.returncode == 2 and "observation" in owned.stderr  # set by the env, not ignored


def test_train_with_the_stream_ac_baseline_reports_its_counted_cost_and_curve():
    from ant_ros.core.config import ActionSpec
    from ant_ros.core.stream_ac import StreamAC

    summary = json.loads(run_cli("train", "--env", "Pendulum-v1", "--steps", "1000", "--seed",
                                 "1", "--learner", "stream-ac", "--json").stdout)
    assert summary["learner"] == "stream-ac" and summary["episodes"] == 5  # 200-step episodes
    assert sum(summary["flops_by_part"].values()) == pytest.approx(summary["flops_per_step"])
    # a step with a TD error, by formula; episode ends add a forward pass, starts lack a
    # backward one: within 1 %
    full = StreamAC(3, ActionSpec("continuous", low=(-2.0,), high=(2.0,))).flops_per_step()
    assert summary["flops_per_step"] == pytest.approx(full, rel=0.01)
    assert summary["n_params"] > 30_000 and len(summary["learning_curve"]["steps"]) == 50
    refused = subprocess.run([sys.executable, "-m", "ant_ros.cli", "train", "--learner",
                              "stream-ac", "--set", "network.threshold=0.1"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "stream-ac" in refused.stderr


def test_bench_core_json_rows():
    rows = json.loads(run_cli("bench", "core", "--quick", "--json").stdout)
    speed = [r for r in rows if r["kind"] == "speed"]
    assert {r["input_activity"] for r in speed} == {0.01, 0.05, 0.2}
    for row in speed:
        assert SPEED_KEYS <= row.keys()
        assert row["flop_ratio"] > 1.0 and row["flops_per_tick"] > 0
    sweep = [r for r in rows if r["kind"] == "convergence"]
    assert [r["threshold"] for r in sweep] == sorted((r["threshold"] for r in sweep), reverse=True)
    assert sweep[-1]["max_abs_deviation"] < sweep[0]["max_abs_deviation"]
    assert sweep[-1]["max_abs_deviation"] < 1e-4
    step = next(r for r in rows if r["kind"] == "learning_step")
    assert step["async_median_us"] > 0 and step["twin_median_us"] > 0


def test_bench_learning_json_rows():
    rows = json.loads(run_cli("bench", "learning", "--quick", "--json").stdout)
    assert {(r["task"], r["system"]) for r in rows} == {
        (task, system) for task in ("CartPole-v1", "Pendulum-v1", "irsim-navigation")
        for system in ("ant", "twin", "stream_ac", "ppo")}
    for row in rows:
        if row["task"] == "irsim-navigation" and row["system"] in ("ant", "twin"):
            assert 0.0 <= row["eval_success_rate"] <= 1.0
    for row in rows:
        assert {"task", "system", "flops_per_step", "wall_us_per_step",
                "mean_return_last100"} <= row.keys()
        assert row["flops_per_step"] > 0
    for ant in (r for r in rows if r["system"] == "ant"):
        twin = next(r for r in rows if r["system"] == "twin" and r["task"] == ant["task"])
        assert ant["total_ratio"] == pytest.approx(twin["flops_per_step"]
                                                   / ant["flops_per_step"])
        assert ant["time_ratio"] == pytest.approx(twin["wall_us_per_step"]
                                                  / ant["wall_us_per_step"])
        # the learner's estimate of the twin is what the twin counted, running the same steps
        # would give; they learn apart, so only the scale agrees
        assert 0.5 < ant["twin_estimate_flops_per_step"] / twin["flops_per_step"] < 2


def test_bench_robot_json_rows():
    rows = json.loads(run_cli("bench", "robot", "--quick", "--json").stdout)
    ant, sensor, events, decision = rows
    assert [r["system"] for r in rows] == ["ant", "twin_sensor", "twin_events", "twin_decision"]
    assert sensor["flops_per_s"] > events["flops_per_s"] > decision["flops_per_s"]
    for row in rows:
        assert row["decisions"] == 201  # 20 s at 10 Hz, and the first
        assert row["flops_per_s"] == pytest.approx(row["flops_per_decision"] * 201 / 20)
        assert 0.0 < row["cpu_share"] < 1.0
        assert 0.0 <= row["latency_ms_median"] <= row["latency_ms_p99"]
    assert ant["total_ratio_vs_twin_sensor"] == pytest.approx(sensor["flops_per_s"]
                                                              / ant["flops_per_s"])
    # the twin sees every sample only when clocked at 200 Hz: 20 network passes per decision
    assert sensor["flops_per_s"] > 3 * decision["flops_per_s"]
    # the learner's estimate of the twin at its own calls is the sensor-clocked twin's scale
    assert 0.5 < ant["twin_estimate_flops_per_s"] / sensor["flops_per_s"] < 2
    # taken in when they arrive, samples reach a command within a tick; at the decision clock
    # they wait for the next decision (on average half of its 100 ms)
    assert ant["latency_ms_median"] < 5.0 < 20.0 < decision["latency_ms_median"]


def test_bench_ros_json_rows():
    rows = json.loads(run_cli("bench", "ros", "--quick", "--json").stdout)
    assert {r["mode"] for r in rows} == {"single", "throughput", "two"}
    for row in rows:
        assert {"p50_ms", "p99_ms", "rate_hz", "events_per_s", "mode"} <= row.keys()
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["rate_hz"] > 0
        assert (row["events_per_s"] is None) == (row["mode"] == "two")
    throughput = next(r for r in rows if r["mode"] == "throughput")
    assert throughput["events_per_s"] > 0


def test_bench_demo_profile_rows():
    rows = json.loads(run_cli("bench", "demo", "--quick", "--json").stdout)
    parts = [r for r in rows if "share" in r]
    assert len(parts) == 6 and all(r["us_per_step"] >= 0 for r in parts)
    assert sum(r["share"] for r in parts) == pytest.approx(1.0, abs=0.05)


def test_bench_continual_lists_its_scenarios():
    out = run_cli("bench", "continual", "--help").stdout
    for name in ("cartpole-reversed", "pendulum-mass", "navigation-half-speed"):
        assert name in out
    bad = subprocess.run([sys.executable, "-m", "ant_ros.cli", "bench", "continual",
                          "--scenario", "mars-rover"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    zero = subprocess.run([sys.executable, "-m", "ant_ros.cli", "bench", "continual",
                           "--consolidation-strength", "0"], capture_output=True, text=True)
    assert zero.returncode == 2 and "--consolidation-strength must be" in zero.stderr


def test_train_with_the_twin_runs_through_the_same_runner_and_takes_backprop():
    summary = json.loads(run_cli(
        "train", "--env", "Pendulum-v1", "--steps", "600", "--learner", "twin", "--set",
        "network.layers=2", "--set", "learning.eprop_feedback=backprop", "--json").stdout)
    assert summary["learner"] == "twin" and summary["episodes"] == 3
    assert summary["flops_per_step"] == pytest.approx(summary["twin_flops_per_step"])
    assert sum(summary["flops_by_part"].values()) == pytest.approx(summary["flops_per_step"])
    refused = subprocess.run([sys.executable, "-m", "ant_ros.cli", "train", "--steps", "10",
                              "--set", "learning.eprop_feedback=backprop"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "synchronous twin only" in refused.stderr
