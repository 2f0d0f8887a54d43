"""``ant-ros sweep``: the grid, job keys, the results file and the summary; real sweeps run as
a user runs them (a separate process, real train jobs), resumed, with failing jobs."""

import contextlib
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from ant_ros import sweep
from ant_ros.sweep import (FolderLock, ResultsFile, SweepError, SweepSpec, job_key, parse_grid,
                           parse_seeds, summarize)

# CartPole-v1 learns; NoSuch-v0 is no env, so its jobs fail (in the job, not before the sweep)
MIXED = ["--env", "CartPole-v1", "--env", "NoSuch-v0", "--seeds", "0-1", "--steps", "300",
         "--grid", "network.threshold=0.05,0.1", "--jobs", "2"]


def sweep_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ant_ros.cli", "sweep", *args],
                          capture_output=True, text=True, timeout=timeout)


def lines(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The mixed sweep, run once: 4 CartPole-v1 jobs that learn, 4 that fail."""
    out = tmp_path_factory.mktemp("sweep") / "mixed"
    return out, sweep_cli(*MIXED, "--out", str(out))


def test_seeds_and_grids_parse():
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0,2,5") == (0, 2, 5) and parse_seeds("0-2,7,2") == (0, 1, 2, 7)
    for bad in ("4-0", "a", "0-x", ""):
        with pytest.raises(SweepError):
            parse_seeds(bad)
    assert parse_grid("network.threshold=0.05, 0.1") == ("network.threshold", ("0.05", "0.1"))
    # per-input values are comma lists: then | separates the grid's values
    assert parse_grid("network.input_gain=0.5,0.5,1|1,1,1") == (
        "network.input_gain", ("0.5,0.5,1", "1,1,1"))
    for bad in ("network.threshold", "threshold=1,2", "network.threshold=1,,2",
                "network.threshold=1,1"):
        with pytest.raises(SweepError):
            parse_grid(bad)


def test_settings_are_the_cross_product_and_keys_identify_jobs():
    spec = SweepSpec.from_args(["CartPole-v1", "Pendulum-v1"], "0-2", 500,
                               ["learning.actor_lr=1e-3"],
                               ["network.threshold=0.05,0.1", "network.n_hidden=32,64,128"])
    settings = spec.settings()
    assert len(settings) == 6 and len(set(settings)) == 6
    assert settings[0] == (("learning.actor_lr", "1e-3"), ("network.threshold", "0.05"),
                           ("network.n_hidden", "32"))  # fixed first; the last grid fastest
    assert settings[1][2] == ("network.n_hidden", "64")
    jobs = spec.jobs()
    assert len(jobs) == 2 * 6 * 3 and len({j.key for j in jobs}) == len(jobs)
    job = jobs[0]
    assert job.argv() == ["train", "--env", "CartPole-v1", "--steps", "500", "--seed", "0",
                          "--json", "--set", "learning.actor_lr=1e-3", "--set",
                          "network.threshold=0.05", "--set", "network.n_hidden=32"]
    # a key does not depend on the order of the settings
    assert job.key == job_key("CartPole-v1", 0, 500, dict(reversed(job.settings)))
    assert job.key != job_key("CartPole-v1", 1, 500, job.settings_dict)
    assert SweepSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    other = SweepSpec.from_args(["CartPole-v1", "Pendulum-v1"], "0-3", 500,
                                ["learning.actor_lr=1e-3"],
                                ["network.threshold=0.05,0.1", "network.n_hidden=32,64,128"])
    assert [d.split(":")[0] for d in other.differences(spec)] == ["seeds"]
    assert len(SweepSpec.from_args(["CartPole-v1"], "0", 10).settings()) == 1  # the preset


def test_a_field_given_twice_or_an_empty_axis_is_refused():
    for sets, grids in ((["network.threshold=0.1"], ["network.threshold=0.05,0.1"]),
                        ([], ["network.threshold=1,2", "network.threshold=3"]),
                        (["network.threshold=1", "network.threshold=2"], [])):
        with pytest.raises(SweepError, match="more than once"):
            SweepSpec.from_args(["CartPole-v1"], "0", 10, sets, grids)
    with pytest.raises(SweepError):
        SweepSpec.from_args([], "0", 10)
    with pytest.raises(SweepError):
        SweepSpec.from_args(["CartPole-v1", "CartPole-v1"], "0", 10)


def test_negative_seeds_and_huge_sweeps_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SweepError, match=">= 0"):  # train refuses them in every job
        SweepSpec.from_args(["CartPole-v1"], "-1,0", 10)
    with pytest.raises(SweepError, match="more than"):  # a typo, refused at once, not built
        parse_seeds("0-1000000000000")
    with pytest.raises(SweepError, match="jobs: more than"):
        SweepSpec.from_args(["CartPole-v1"], "0-999", 10, [],
                            ["network.threshold=" + ",".join(str(i) for i in range(1, 1002))])
    assert len(SweepSpec.from_args(["CartPole-v1"], f"0-{sweep.MAX_JOBS - 1}", 10).seeds) == (
        sweep.MAX_JOBS)
    run = sweep_cli("--env", "CartPole-v1", "--seeds", "-1", "--steps", "100", "--out",
                    str(tmp_path / "neg"))
    assert run.returncode == 2 and ">= 0" in run.stderr and not (tmp_path / "neg").exists()


def test_results_file_appends_lines_and_survives_a_torn_last_line(tmp_path):
    results = ResultsFile(tmp_path / "results.jsonl")
    record = {"env": "E", "seed": 0, "steps": 1, "settings": {}, "status": "ok",
              "result": {"mean_return_last100": math.nan}}
    results.append(record)
    assert json.loads(results.path.read_text())["result"]["mean_return_last100"] is None
    with open(results.path, "a") as handle:
        handle.write('{"env": "E", "seed": 1, "st')  # a write a crash cut short
    assert len(results.read()) == 1
    results.end_line()
    results.append({**record, "seed": 2})
    assert [r["seed"] for r in results.read()] == [0, 2]


def test_summary_statistics_per_task_and_setting():
    spec = SweepSpec.from_args(["CartPole-v1", "MountainCarContinuous-v0"], "0-2", 100, [],
                               ["network.threshold=0.05,0.1"])

    def rec(env, seed, threshold, status="ok", **result):
        return {"env": env, "seed": seed, "steps": 100, "status": status, "wall_s": 2.0,
                "settings": {"network.threshold": threshold},
                **({"result": result} if status == "ok" else {"error": "boom"})}
    records = [
        rec("CartPole-v1", 0, "0.05", mean_return_last100=10.0, solved_threshold=475.0,
            solved_at_step=None, flops_per_step=100.0, total_ratio=2.0),
        rec("CartPole-v1", 1, "0.05", "failed"),  # then retried: the ok record counts
        rec("CartPole-v1", 1, "0.05", mean_return_last100=30.0, solved_threshold=475.0,
            solved_at_step=80, flops_per_step=300.0, total_ratio=4.0),
        rec("CartPole-v1", 2, "0.05", "failed"),
        rec("CartPole-v1", 0, "0.1", mean_return_last100=None, solved_threshold=475.0,
            solved_at_step=None),  # no episode ended: no return
        rec("MountainCarContinuous-v0", 0, "0.05", mean_return_last100=-5.0,
            solved_threshold=None, solved_at_step=None),
        rec("Elsewhere-v0", 0, "0.05", mean_return_last100=1.0),  # not in the spec
    ]
    rows = summarize(records, spec)
    assert [(r["env"], r["setting"]) for r in rows] == [
        (env, f"network.threshold={t}") for env in spec.envs for t in ("0.05", "0.1")]
    a = rows[0]
    assert (a["jobs"], a["ok"], a["failed"], a["missing"], a["seeds_ok"]) == (3, 2, 1, 0, [0, 1])
    assert a["mean_return_last100_mean"] == 20.0
    assert a["mean_return_last100_std"] == pytest.approx(math.sqrt(200))  # sample std
    assert (a["mean_return_last100_min"], a["mean_return_last100_max"]) == (10.0, 30.0)
    assert (a["solved"], a["solved_of"], a["solved_at_step_mean"]) == (1, 2, 80)
    assert (a["flops_per_step_mean"], a["total_ratio_mean"], a["wall_s_mean"]) == (
        200.0, 3.0, 2.0)
    b = rows[1]
    assert (b["ok"], b["missing"], b["mean_return_last100_mean"], b["solved"]) == (1, 2, None, 0)
    assert b["mean_return_last100_std"] is None
    c = rows[2]  # an env without a threshold: no solved count
    assert c["solved"] is None and c["mean_return_last100_std"] is None
    assert rows[3]["ok"] == 0 and rows[3]["flops_per_step_mean"] is None
    table = sweep.format_table(rows)
    assert "1/2 (mean 80)" in table and "10.0 - 30.0" in table and "3.00x" in table
    # without a spec: every recorded job, grouped as recorded
    assert [(r["env"], r["jobs"]) for r in summarize(records)] == [
        ("CartPole-v1", 3), ("CartPole-v1", 1), ("MountainCarContinuous-v0", 1),
        ("Elsewhere-v0", 1)]


def test_a_folder_takes_one_sweep_at_a_time(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(SweepError, match="another sweep"):
            with FolderLock(tmp_path):
                pass
    with FolderLock(tmp_path):
        pass  # released


def test_an_error_running_one_job_fails_that_job_only(monkeypatch):
    def run_train(argv, timeout=None, started=None):
        if argv[argv.index("--seed") + 1] == "1":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return {"status": "ok", "result": {}}
    monkeypatch.setattr(sweep, "run_train", run_train)
    recorded = {}
    jobs = SweepSpec.from_args(["CartPole-v1"], "0-2", 10).jobs()
    sweep.run_local(jobs, 2, lambda job, outcome: recorded.update({job.seed: outcome}))
    assert sorted(recorded) == [0, 1, 2]
    assert [recorded[s]["status"] for s in (0, 1, 2)] == ["ok", "failed", "ok"]
    assert "UnicodeDecodeError" in recorded[1]["error"]


def test_a_sweep_refused_by_the_lock_writes_nothing(tmp_path):
    out = tmp_path / "new"
    out.mkdir()
    spec = SweepSpec.from_args(["CartPole-v1"], "0", 10)
    with FolderLock(out):  # another sweep, starting in the same new folder
        with pytest.raises(SweepError, match="another sweep is running"):
            sweep.run_sweep(spec, out)
    assert not (out / "sweep.json").exists() and not (out / "results.jsonl").exists()


def test_a_real_sweep_records_every_job_and_failures_do_not_stop_it(mixed):
    out, run = mixed
    assert run.returncode == 1, run.stderr  # some jobs failed
    records = lines(out)
    assert len(records) == 8
    assert json.loads((out / "sweep.json").read_text())["grid"] == {
        "network.threshold": ["0.05", "0.1"]}
    ok = [r for r in records if r["status"] == "ok"]
    assert sorted((r["seed"], r["settings"]["network.threshold"]) for r in ok) == [
        (0, "0.05"), (0, "0.1"), (1, "0.05"), (1, "0.1")]
    for r in ok:
        assert r["env"] == "CartPole-v1" and r["steps"] == 300 and r["wall_s"] > 0
        result = r["result"]  # the train JSON of that job
        assert (result["env"], result["seed"], result["steps"]) == ("CartPole-v1", r["seed"], 300)
        assert result["flops_per_step"] > 0 and result["solved_threshold"] == 475.0
    # the seed reaches the job: the two seeds' runs differ
    assert len({json.dumps(r["result"]["flops_by_part"]) for r in ok}) == 4
    for r in (r for r in records if r["status"] == "failed"):
        assert r["env"] == "NoSuch-v0" and r["returncode"] == 1
        assert "NoSuch" in r["error"] and "Traceback" in r["stderr_tail"]
    table = run.stdout
    assert "CartPole-v1  network.threshold=0.05" in table and "0/2" in table  # none solved
    assert "failed: NoSuch-v0 seed 0" in table and "8 jobs run (4 failed)" in table
    assert "[8/8]" in run.stderr  # progress, one line per finished job


def test_resume_skips_recorded_jobs_and_retries_failed_ones_when_asked(mixed, tmp_path):
    out = tmp_path / "mixed"
    shutil.copytree(mixed[0], out)
    again = sweep_cli(*MIXED, "--out", str(out))
    assert again.returncode == 1
    assert len(lines(out)) == 8  # nothing ran again
    assert "0 jobs run" in again.stdout and "4 already recorded ok" in again.stdout
    assert "4 recorded failed and not retried (--retry-failed" in again.stdout
    retry = sweep_cli(*MIXED, "--out", str(out), "--retry-failed")
    records = lines(out)
    assert len(records) == 12 and {r["env"] for r in records[8:]} == {"NoSuch-v0"}
    assert retry.returncode == 1 and "4 jobs run (4 failed), 4 already recorded ok" in retry.stdout


def test_summary_of_a_folder_runs_nothing(mixed):
    out, _ = mixed
    before = (out / "results.jsonl").read_text()
    run = sweep_cli("--summary", str(out), "--json")
    rows = json.loads(run.stdout)
    assert run.returncode == 1  # the folder has failed jobs
    assert [(r["env"], r["ok"], r["failed"]) for r in rows] == [
        ("CartPole-v1", 2, 0), ("CartPole-v1", 2, 0), ("NoSuch-v0", 0, 2), ("NoSuch-v0", 0, 2)]
    for row in rows[:2]:
        assert row["mean_return_last100_min"] <= row["mean_return_last100_mean"] <= row[
            "mean_return_last100_max"]
        assert row["solved"] == 0 and row["solved_of"] == 2 and row["total_ratio_mean"] > 0
    assert (out / "results.jsonl").read_text() == before
    text = sweep_cli("--summary", str(out)).stdout
    assert text.startswith("sweep: CartPole-v1 NoSuch-v0 x 2 settings x seeds 0,1, 300 steps")
    refused = sweep_cli("--summary", str(out), "--env", "CartPole-v1")
    assert refused.returncode == 2 and "--summary" in refused.stderr


def test_a_folder_of_another_sweep_is_refused(mixed, tmp_path):
    out = tmp_path / "mixed"
    shutil.copytree(mixed[0], out)
    before = (out / "results.jsonl").read_text()
    for change in (["--steps", "400"], ["--seeds", "0-2"], ["--set", "network.n_hidden=64"]):
        args = list(MIXED)
        if change[0] in args:
            args[args.index(change[0]) + 1] = change[1]
        else:
            args += change
        run = sweep_cli(*args, "--out", str(out))
        assert run.returncode == 2 and "holds another sweep" in run.stderr, change
        assert change[0].strip("-") in run.stderr
    assert (out / "results.jsonl").read_text() == before


def test_the_same_sweep_in_another_order_resumes(tmp_path):
    spec = SweepSpec.from_args(["CartPole-v1", "Pendulum-v1"], "0-2", 100,
                               ["network.threshold=0.1", "learning.actor_lr=1e-3"],
                               ["network.n_hidden=16,32", "learning.gamma=0.9,0.99"])
    sweep.prepare_folder(tmp_path, spec)
    shuffled = SweepSpec.from_args(["Pendulum-v1", "CartPole-v1"], "2,0,1", 100,
                                   ["learning.actor_lr=1e-3", "network.threshold=0.1"],
                                   ["learning.gamma=0.99,0.9", "network.n_hidden=32,16"])
    sweep.prepare_folder(tmp_path, shuffled)  # the same jobs: not refused
    assert sweep.load_spec(tmp_path) == spec  # the spec kept as first given
    for other in (SweepSpec.from_args(["CartPole-v1", "Pendulum-v1"], "0-2", 100,
                                      ["network.threshold=0.1"],
                                      ["network.n_hidden=16,32", "learning.gamma=0.9,0.99"]),
                  SweepSpec.from_args(["CartPole-v1", "Pendulum-v1"], "0-2", 100,
                                      ["network.threshold=0.1", "learning.actor_lr=1e-3"],
                                      ["network.n_hidden=16", "learning.gamma=0.9,0.99"])):
        with pytest.raises(SweepError, match=r"holds another sweep \((set|grid): "):
            sweep.prepare_folder(tmp_path, other)  # refused, and the message says why


def test_bad_fields_are_refused_before_any_job_and_bad_values_fail_their_job(tmp_path):
    for grid, why in (("network.no_such_field=1,2", "no field 'no_such_field'"),
                      ("network.threshold=a,b", "needs a float"),
                      ("network.seed=1,2", "use --seed")):
        run = sweep_cli("--env", "CartPole-v1", "--seeds", "0", "--steps", "100", "--grid",
                        grid, "--out", str(tmp_path / "refused"))
        assert run.returncode == 2 and why in run.stderr
        assert not (tmp_path / "refused").exists()
    # a value the preset parses but the runner refuses (a range): that job fails, not the sweep
    out = tmp_path / "range"
    run = sweep_cli("--env", "CartPole-v1", "--seeds", "0", "--steps", "300", "--grid",
                    "network.n_hidden=16,0", "--jobs", "1", "--out", str(out))
    assert run.returncode == 1
    ok, bad = lines(out)
    assert ok["status"] == "ok" and ok["settings"] == {"network.n_hidden": "16"}
    assert bad["status"] == "failed" and bad["returncode"] == 2
    assert "n_hidden must be >= 1" in bad["error"]


def test_a_job_over_its_timeout_is_killed_and_recorded(tmp_path):
    out = tmp_path / "slow"  # a million steps never finish within a second
    run = sweep_cli("--env", "CartPole-v1", "--seeds", "0", "--steps", "1000000", "--timeout",
                    "1", "--out", str(out))
    assert run.returncode == 1
    (record,) = lines(out)
    assert record["status"] == "failed" and record["error"] == "timed out after 1 s"


def _children(pid: int) -> list[int]:
    """The child processes of ``pid``, of all its threads (the sweep starts jobs in threads)."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(p) for p in handle.read().split()]
        except FileNotFoundError:  # a thread that ended
            pass
    return children


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"  # a zombie is gone too
    except FileNotFoundError:
        return True


def _long_sweep(out: os.PathLike, hangup: signal.Handlers) -> subprocess.Popen:
    """A sweep of one long job, started with SIGHUP's disposition ``hangup`` whatever this
    process has (a test run under ``nohup`` or a CI runner ignores it, and children inherit
    that), and SIGINT's the default (a shell's background job ignores it)."""
    argv = [sys.executable, "-m", "ant_ros.cli", "sweep", "--env", "CartPole-v1", "--seeds",
            "0", "--steps", "1000000", "--out", str(out)]
    # set in a launcher that then execs the sweep (same pid): no preexec_fn in a threaded test
    launcher = (f"import os, signal, sys; signal.signal(signal.SIGHUP, signal.{hangup.name}); "
                "signal.signal(signal.SIGINT, signal.SIG_DFL); "  # a background job ignores it
                f"os.execv(sys.executable, {argv!r})")
    return subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _first_job(proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    jobs: list[int] = []
    while not jobs and time.monotonic() < deadline:
        time.sleep(0.05)
        jobs = _children(proc.pid)
    (job,) = jobs  # the train job, in a session of its own
    return job


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_sweep_killed_by_a_signal_kills_its_jobs(tmp_path, sig):
    proc = _long_sweep(tmp_path / "killed", signal.SIG_DFL)
    jobs: list[int] = []
    try:
        job = _first_job(proc)
        jobs = [job]
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        assert proc.returncode == 130  # as Ctrl-C
        deadline = time.monotonic() + 10
        while not _gone(job) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(job), "the job runs on, orphaned"
    finally:
        proc.kill()
        proc.communicate()
        for job in jobs:  # never leave one behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(job, signal.SIGKILL)
    assert not (tmp_path / "killed" / "results.jsonl").exists()  # a killed job is no record


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stopping_signal_is_noted_and_raised_only_where_the_sweep_checks(sig):
    """The handler must not raise: an exception from it lands wherever the main thread is,
    possibly between two lock acquisitions in concurrent.futures, and hangs the sweep."""
    before = signal.getsignal(sig)  # under nohup or in a background job: ignored
    signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    try:
        _check_noted_and_raised_at_check(sig)
    finally:
        signal.signal(sig, before)


def _check_noted_and_raised_at_check(sig: signal.Signals) -> None:
    default = signal.getsignal(sig)
    with sweep._stop_on_termination() as termination:
        termination.check()  # nothing yet
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # the handler runs here, in the main thread, and returns
        lock = threading.Lock()
        with lock:  # code in the middle of anything carries on
            pass
        with pytest.raises(KeyboardInterrupt, match=signal.Signals(sig).name):
            termination.check()
    assert signal.getsignal(sig) is default  # restored


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="needs Linux /proc")
def test_a_sweep_started_with_hangups_ignored_runs_on_after_one(tmp_path):
    proc = _long_sweep(tmp_path / "nohup", signal.SIG_IGN)  # as under nohup
    jobs: list[int] = []
    try:
        jobs = [_first_job(proc)]
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None and not _gone(jobs[0])  # sweep and job run on
        proc.send_signal(signal.SIGTERM)  # which still stops both
        proc.communicate(timeout=30)
        assert proc.returncode == 130
    finally:
        proc.kill()
        proc.communicate()
        for job in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(job, signal.SIGKILL)


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed")
def test_ray_address_without_ray_says_how_to_get_it(tmp_path):
    run = sweep_cli("--env", "CartPole-v1", "--seeds", "0", "--steps", "100", "--ray-address",
                    "local", "--out", str(tmp_path / "ray"))
    assert run.returncode == 2 and "pip install -e '.[ray]'" in run.stderr
    assert not (tmp_path / "ray").exists()  # refused before anything is written


def test_a_sweep_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    run = sweep_cli("--env", "CartPole-v1", "--seeds", "0-1", "--steps", "300",
                    "--ray-address", "local", "--jobs", "2", "--out", str(out))
    assert run.returncode == 0, run.stderr
    records = lines(out)
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert all(r["status"] == "ok" and r["result"]["steps"] == 300 for r in records)
    again = sweep_cli("--env", "CartPole-v1", "--seeds", "0-1", "--steps", "300",
                      "--ray-address", "local", "--out", str(out))
    assert again.returncode == 0 and len(lines(out)) == 2  # resumed: nothing ran again


def test_the_learning_curves_of_a_folder_are_drawn(mixed, tmp_path):
    out, _ = mixed
    for r in (r for r in lines(out) if r["status"] == "ok"):
        curve = r["result"]["learning_curve"]
        assert len(curve["steps"]) == 50 and curve["steps"][-1] == 300
        assert curve["mean_return_last100"][-1] == pytest.approx(
            r["result"]["mean_return_last100"])
    by_group = sweep.curves(lines(out), sweep.load_spec(out))
    assert sorted(by_group) == [("CartPole-v1", "network.threshold=0.05"),
                                ("CartPole-v1", "network.threshold=0.1")]
    assert all(len(runs) == 2 for runs in by_group.values())
    png = tmp_path / "curves.png"
    run = sweep_cli("--summary", str(out), "--plot", str(png))
    assert "4 learning curves drawn" in run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_path_that_cannot_be_written_is_refused_before_anything_runs(mixed, tmp_path):
    out, _ = mixed
    for bad, why in ((tmp_path / "curves.txt", "--plot needs a file name ending in"),
                     (tmp_path / "no" / "curves.png", "--plot: no folder")):
        run = sweep_cli("--summary", str(out), "--plot", str(bad))
        assert run.returncode == 2 and why in run.stderr and run.stdout == ""
    fresh = tmp_path / "fresh"
    refused = sweep_cli("--env", "CartPole-v1", "--seeds", "0", "--steps", "300", "--out",
                        str(fresh), "--plot", str(tmp_path / "curves.txt"))
    assert refused.returncode == 2 and not fresh.exists()  # no job ran, nothing was written


def test_a_folder_without_curves_still_reports_and_says_why_there_is_no_plot(tmp_path):
    out = tmp_path / "failing"
    run = sweep_cli("--env", "NoSuch-v0", "--seeds", "0", "--steps", "100", "--out", str(out),
                    "--plot", str(tmp_path / "curves.png"))
    assert run.returncode == 1  # the job failed: the sweep's own exit status
    assert "failed: NoSuch-v0 seed 0" in run.stdout  # the report is printed
    assert "no plot: no recorded job has a learning curve" in run.stderr


def test_runs_of_different_lengths_are_drawn_as_separate_lines(tmp_path):
    def record(seed, steps):
        marks = [steps // 2, steps]
        return {"env": "CartPole-v1", "seed": seed, "steps": steps, "settings": {},
                "status": "ok", "result": {"learning_curve": {
                    "steps": marks, "mean_return_last100": [None, float(seed)]}}}

    records = [record(0, 300), record(1, 300), record(2, 600)]
    lines = sweep.curve_lines(records, None)
    assert [(line["label"], line["steps"], line["runs"]) for line in lines] == [
        ("preset (2 seeds, 300 steps)", [150, 300], 2), ("preset (1 seeds, 600 steps)",
                                                          [300, 600], 1)]
    assert lines[0]["mean"][-1] == 0.5 and lines[0]["high"][-1] == 1.0
    assert sweep.plot_curves(records, None, tmp_path / "c.png") == 3
    assert (tmp_path / "c.png").stat().st_size > 0


def test_a_sweep_of_the_stream_ac_baseline_runs_its_jobs_with_its_settings(tmp_path):
    out = tmp_path / "sac"
    run = sweep_cli("--env", "Pendulum-v1", "--seeds", "0", "--steps", "400", "--learner",
                    "stream-ac", "--grid", "stream_ac.frozen_hidden=false,true", "--jobs", "2",
                    "--out", str(out))
    assert run.returncode == 0, run.stderr
    records = lines(out)
    assert len(records) == 2 and {r["learner"] for r in records} == {"stream-ac"}
    by_setting = {r["settings"]["stream_ac.frozen_hidden"]: r["result"] for r in records}
    assert {k: v["learner"] for k, v in by_setting.items()} == {"false": "stream-ac",
                                                                "true": "stream-ac"}
    assert by_setting["true"]["stream_ac_config"]["frozen_hidden"] is True
    assert by_setting["true"]["n_params"] < by_setting["false"]["n_params"] / 10
    assert json.loads((out / "sweep.json").read_text())["learner"] == "stream-ac"
    assert "stream-ac stream_ac.frozen_hidden=true" in run.stdout
    # the same grid for the asynchronous learner is another sweep, with other job keys
    spec = sweep.load_spec(out)
    assert spec.learner == "stream-ac" and SweepSpec.from_json(spec.to_json()) == spec
    ant = SweepSpec.from_args(["Pendulum-v1"], "0", 400, (), ["network.threshold=0.1,0.2"])
    assert "learner" not in ant.to_json() and ant.jobs()[0].learner == "ant"
    assert job_key("E", 0, 1, {}) != job_key("E", 0, 1, {}, "stream-ac")
    refused = sweep_cli("--env", "Pendulum-v1", "--seeds", "0", "--learner", "stream-ac",
                        "--set", "network.threshold=0.1", "--out", str(tmp_path / "bad"))
    assert refused.returncode == 2 and "stream_ac.FIELD" in refused.stderr
    assert not (tmp_path / "bad" / "results.jsonl").exists()


def test_a_sweep_refuses_the_twins_own_settings_for_the_asynchronous_learner(tmp_path):
    refused = sweep_cli("--env", "Pendulum-v1", "--seeds", "0", "--grid",
                        "learning.eprop_feedback=readout,backprop", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "synchronous twin only" in refused.stderr
    assert not (tmp_path / "x" / "results.jsonl").exists()
    twin = SweepSpec.from_args(["Pendulum-v1"], "0", 400, (),
                               ["learning.eprop_feedback=backprop"], "twin")
    sweep.check_settings(twin)  # the twin takes it
    bounded = ["learning.hidden_bound_kappa=2"]
    sweep.check_settings(SweepSpec.from_args(["Pendulum-v1"], "0", 400, bounded, (), "twin"))
    with pytest.raises(sweep.SweepError, match="hidden_bound_kappa .*synchronous twin only"):
        sweep.check_settings(SweepSpec.from_args(["Pendulum-v1"], "0", 400, bounded, ()))
    no_consolidation = SweepSpec.from_args(["Pendulum-v1"], "0", 400,
                                           ["learning.consolidation_strength=1"], (), "twin")
    with pytest.raises(sweep.SweepError, match="no consolidation"):
        sweep.check_settings(no_consolidation)
    argv = twin.jobs()[0].argv()
    assert argv[argv.index("--learner") + 1] == "twin"
