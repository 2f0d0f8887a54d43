"""Many ``ant-ros train`` jobs at once (``ant-ros sweep``); ROS-free.

A sweep is tasks x settings x seeds of train jobs, the settings the cross product of the
``--grid`` fields (each job also gets the fixed ``--set`` fields). Every job runs
``python -m ant_ros.cli train ... --json`` in its own process, on a local pool or on a Ray
cluster, and its outcome is appended to ``DIR/results.jsonl`` as it finishes, one JSON line per
job. The spec is kept in ``DIR/sweep.json``; re-running the same sweep into ``DIR`` skips the jobs
already recorded ok (and the failed ones unless asked to retry them).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import fcntl
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

SPEC_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".sweep.lock"
SPEC_VERSION = 1
STDERR_TAIL_CHARS = 2000  # of a failed job's stderr, kept in its record
MAX_JOBS = 100_000  # a sweep bigger than this is a typo (0-1000000), not a plan
POLL_S = 0.2  # how often a running sweep looks for a signal asking it to stop
RAY_MISSING = ("--ray-address needs Ray, an optional extra: pip install -e '.[ray]' in the "
               "ant_ros source tree, or pip install 'ray[default]'")


class SweepError(Exception):
    """A sweep that cannot start: bad arguments, or a folder that holds another sweep."""


# --- arguments ----------------------------------------------------------------------------

def parse_seeds(text: str) -> tuple[int, ...]:
    """``0-4`` -> 0..4, ``0,2,5``, or both (``0-2,7``); order kept, repeats dropped."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        first, dash, last = part.partition("-")
        try:
            if dash and first:  # a range (a lone negative number has no first part)
                lo, hi = int(first), int(last)
                if hi < lo:
                    raise SweepError(f"seed range {part!r} runs backwards")
                if hi - lo >= MAX_JOBS:
                    raise SweepError(f"seed range {part!r} has more than {MAX_JOBS:,} seeds")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise SweepError(f"seeds: expected e.g. 0-4 or 0,2,5, got {text!r}") from None
    return tuple(dict.fromkeys(seeds))


def _field_name(name: str, text: str) -> str:
    section, dot, key = name.strip().partition(".")
    if not dot or not section or not key:
        raise SweepError(f"expected SECTION.FIELD=VALUE, got {text!r}")
    return f"{section}.{key}"


def parse_assignment(text: str) -> tuple[str, str]:
    """``section.field=value`` -> (``section.field``, ``value``), spaces stripped."""
    name, sep, value = text.partition("=")
    if not sep or not value.strip():
        raise SweepError(f"expected SECTION.FIELD=VALUE, got {text!r}")
    return _field_name(name, text), value.strip()


def parse_grid(text: str) -> tuple[str, tuple[str, ...]]:
    """``section.field=v1,v2,...`` -> (name, values). Values that are comma lists themselves
    (per-input fields) are separated by ``|`` instead: ``network.input_gain=0.5,0.5,1|1,1,1``."""
    name, sep, values = text.partition("=")
    if not sep:
        raise SweepError(f"expected SECTION.FIELD=V1,V2,..., got {text!r}")
    parts = tuple(v.strip() for v in values.split("|" if "|" in values else ","))
    if not parts or any(not v for v in parts):
        raise SweepError(f"empty value in grid {text!r}")
    if len(set(parts)) != len(parts):
        raise SweepError(f"repeated value in grid {text!r}")
    return _field_name(name, text), parts


# --- the spec and its jobs ----------------------------------------------------------------

LEARNERS = ("ant", "twin", "stream-ac")  # ``ant-ros train --learner``


def job_key(env: str, seed: int, steps: int, settings: Mapping[str, str],
            learner: str = "ant") -> str:
    """What identifies a job in the results file: env, seed, steps, settings and (when it is
    not the asynchronous learner) the learner."""
    key = [env, int(seed), int(steps), sorted(settings.items())]
    return json.dumps(key if learner == "ant" else [*key, learner])


def shown_settings(settings: Mapping[str, str],
                   grid_names: Iterable[str] | None) -> dict[str, str]:
    """The settings a label shows: the grid's fields (every field without a grid)."""
    if grid_names is None:
        return dict(settings)
    names = set(grid_names)
    return {k: v for k, v in settings.items() if k in names}


def setting_label(settings: Mapping[str, str], learner: str = "ant") -> str:
    """``a.b=1 c.d=2``, or ``preset`` for no settings; another learner's name first."""
    text = " ".join(f"{k}={v}" for k, v in settings.items())
    if learner != "ant":
        return f"{learner} {text}".rstrip()
    return text or "preset"


@dataclass(frozen=True)
class Job:
    """One ``ant-ros train`` run."""

    env: str
    seed: int
    steps: int
    settings: tuple[tuple[str, str], ...]  # every --set of the job: fixed ones, then the grid's
    learner: str = "ant"

    @property
    def settings_dict(self) -> dict[str, str]:
        return dict(self.settings)

    @property
    def key(self) -> str:
        return job_key(self.env, self.seed, self.steps, self.settings_dict, self.learner)

    def argv(self) -> list[str]:
        """The arguments of ``ant-ros train`` for this job."""
        args = ["train", "--env", self.env, "--steps", str(self.steps), "--seed",
                str(self.seed), "--json"]
        if self.learner != "ant":
            args += ["--learner", self.learner]
        for name, value in self.settings:
            args += ["--set", f"{name}={value}"]
        return args

    def label(self, grid_names: Iterable[str] | None = None) -> str:
        shown = shown_settings(self.settings_dict, grid_names)
        return f"{self.env} seed {self.seed} {setting_label(shown, self.learner)}"


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: envs x settings (fixed sets + grid cross product) x seeds."""

    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    sets: tuple[tuple[str, str], ...] = ()
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    learner: str = "ant"

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise SweepError(f"--learner must be one of {', '.join(LEARNERS)}, "
                             f"got {self.learner!r}")
        if not self.envs:
            raise SweepError("no --env given")
        if len(set(self.envs)) != len(self.envs):
            raise SweepError(f"an env is given twice: {list(self.envs)}")
        if not self.seeds:
            raise SweepError("no seeds given")
        if min(self.seeds) < 0:
            raise SweepError(f"seeds must be >= 0 (train takes no negative seed), got "
                             f"{min(self.seeds)}")
        if self.steps < 1:
            raise SweepError(f"--steps must be >= 1, got {self.steps}")
        names = [n for n, _ in self.sets] + [n for n, _ in self.grid]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise SweepError(f"a field is given more than once (--set / --grid): {repeated}")
        n_jobs = len(self.envs) * len(self.seeds) * math.prod(len(vs) for _, vs in self.grid)
        if n_jobs > MAX_JOBS:
            raise SweepError(f"{n_jobs:,} jobs: more than {MAX_JOBS:,} in one sweep")

    @classmethod
    def from_args(cls, envs: Sequence[str], seeds: str, steps: int, sets: Sequence[str] = (),
                  grids: Sequence[str] = (), learner: str = "ant") -> SweepSpec:
        """The spec from the command line's strings."""
        return cls(tuple(e.strip() for e in envs), parse_seeds(seeds), int(steps),
                   tuple(parse_assignment(s) for s in sets), tuple(parse_grid(g) for g in grids),
                   learner)

    @property
    def grid_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.grid)

    def settings(self) -> list[tuple[tuple[str, str], ...]]:
        """Every setting, the grid's cross product in the order given (the last field fastest),
        each with the fixed sets first."""
        axes = [[(name, v) for v in values] for name, values in self.grid]
        return [self.sets + combo for combo in itertools.product(*axes)]

    def jobs(self) -> list[Job]:
        """Every job, by env, then setting, then seed."""
        return [Job(env, seed, self.steps, setting, self.learner) for env in self.envs
                for setting in self.settings() for seed in self.seeds]

    def to_json(self) -> dict[str, Any]:
        """The spec file's content (``learner`` only when it is not the asynchronous learner,
        so that the spec files of earlier sweeps read the same)."""
        data = {"version": SPEC_VERSION, "envs": list(self.envs), "seeds": list(self.seeds),
                "steps": self.steps, "set": {n: v for n, v in self.sets},
                "grid": {n: list(vs) for n, vs in self.grid}}
        if self.learner != "ant":
            data["learner"] = self.learner
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSpec:
        if data.get("version") != SPEC_VERSION:
            raise SweepError(f"{SPEC_FILE}: unknown version {data.get('version')!r}")
        return cls(tuple(data["envs"]), tuple(int(s) for s in data["seeds"]), int(data["steps"]),
                   tuple((str(n), str(v)) for n, v in data["set"].items()),
                   tuple((str(n), tuple(str(v) for v in vs)) for n, vs in data["grid"].items()),
                   str(data.get("learner", "ant")))

    def differences(self, other: SweepSpec) -> list[str]:
        """What differs from ``other``, one item per field that does."""
        mine, theirs = self.to_json(), other.to_json()
        return [f"{k}: {theirs.get(k, 'ant')!r} there, {mine.get(k, 'ant')!r} here"
                for k in dict.fromkeys([*mine, *theirs]) if mine.get(k) != theirs.get(k)]

    def describe(self) -> str:
        seeds = list(self.seeds)
        seed_text = (f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 2 and seeds == list(
            range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds)))
        n, jobs = len(self.settings()), len(self.jobs())
        learner = "" if self.learner == "ant" else f" ({self.learner})"
        text = (f"{' '.join(self.envs)}{learner} x {n} setting{'s' if n > 1 else ''} x seeds "
                f"{seed_text}"
                f", {self.steps:,} steps: {jobs} job{'s' if jobs != 1 else ''}")
        if self.sets:
            text += f"; for every job {setting_label(dict(self.sets))}"
        return text


def check_settings(spec: SweepSpec) -> None:
    """Refuse, before any job runs, a field a preset does not have, a value of the wrong type
    or a field the runner sets itself (ranges are checked by each job, once sized to its env)."""
    from .core.config import ConfigError
    from .core.learner import OnlineLearner
    from .core.stream_ac import StreamACConfig
    from .tasks.direct_runner import RUNNER_FIELDS
    from .tasks.presets import preset_for

    for env in spec.envs:
        for setting in spec.settings():
            assignments = [f"{n}={v}" for n, v in setting]
            try:
                if spec.learner == "stream-ac":
                    StreamACConfig().with_overrides(assignments)
                else:
                    config = preset_for(env).with_overrides(assignments, fixed=RUNNER_FIELDS)
                    OnlineLearner.check_config(config, twin=spec.learner == "twin")
            except ConfigError as exc:
                raise SweepError(f"{env}, {setting_label(dict(setting))}: {exc}") from None


# --- the folder: spec, results file, lock -------------------------------------------------

def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None (strict JSON: no NaN in the results file)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class ResultsFile:
    """``results.jsonl``: one JSON line per finished job, each appended with one write."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line (O_APPEND, one ``write``, then fsync)."""
        line = (json.dumps(_finite(dict(record)), allow_nan=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # only if the disk fills or a signal interrupts
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

    def end_line(self) -> None:
        """End a last line cut short by a crash, so the next record starts a line of its own."""
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                whole = handle.read(1) == b"\n"
            if not whole:
                with open(self.path, "ab") as handle:
                    handle.write(b"\n")

    def read(self) -> list[dict[str, Any]]:
        """Every record, in the order written; a line that does not parse (a write cut short
        by a crash) is skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and {"env", "seed", "steps", "status"} <= record.keys():
                records.append(record)
        return records


def record_key(record: Mapping[str, Any]) -> str:
    return job_key(record["env"], record["seed"], record["steps"], record.get("settings") or {},
                   record.get("learner", "ant"))


def latest_by_key(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per job key its record: the last ok one, else the last one."""
    out: dict[str, Mapping[str, Any]] = {}
    for record in records:
        key = record_key(record)
        if record["status"] == "ok" or out.get(key, {}).get("status") != "ok":
            out[key] = record
    return out


def load_spec(out: str | os.PathLike) -> SweepSpec | None:
    path = Path(out) / SPEC_FILE
    if not path.exists():
        return None
    try:
        return SweepSpec.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SweepError(f"{path} is not a sweep spec: {exc}") from None


def prepare_folder(out: str | os.PathLike, spec: SweepSpec) -> None:
    """Create ``out`` and write the spec, or check that the spec there is this one."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    old = load_spec(out)
    if old is not None:
        # the same jobs are the same sweep, whatever the order of the --env, --set, --grid
        # and seeds (a job's key does not depend on it)
        if {job.key for job in old.jobs()} != {job.key for job in spec.jobs()}:
            raise SweepError(f"{out} holds another sweep ({'; '.join(spec.differences(old))})"
                             f": give another --out, or run the sweep of {out / SPEC_FILE}")
        return
    if (out / RESULTS_FILE).exists():
        raise SweepError(f"{out / RESULTS_FILE} exists without {SPEC_FILE}: not resuming "
                         "into results of an unknown sweep")
    tmp = out / f".{SPEC_FILE}.tmp"
    tmp.write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    os.replace(tmp, out / SPEC_FILE)


class FolderLock:
    """An exclusive lock on the sweep folder: two sweeps never write one results file."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.path = Path(out) / LOCK_FILE
        self._handle = None

    def __enter__(self) -> FolderLock:
        self._handle = open(self.path, "w")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.close()
            raise SweepError(f"another sweep is running in {self.path.parent}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()  # releases the lock


# --- running a job ------------------------------------------------------------------------

def _package_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _tail(text: str, chars: int = STDERR_TAIL_CHARS) -> str:
    return text if len(text) <= chars else "..." + text[-chars:]


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_train(argv: Sequence[str], timeout: float | None = None,
              started: Callable[[subprocess.Popen], None] | None = None) -> dict[str, Any]:
    """Run ``python -m ant_ros.cli <argv>`` (a train job with ``--json``) in its own process,
    this package first on its path; returns the outcome fields of its record: ``status``
    (``ok`` or ``failed``), ``result`` (the train JSON) or ``error``, ``returncode`` and
    ``stderr_tail``, ``wall_s`` and ``host``. ``started`` gets the process once it runs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH"))
                                        if p)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")  # one core per job
    start = time.monotonic()
    outcome: dict[str, Any] = {"host": socket.gethostname()}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ant_ros.cli", *argv], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return {**outcome, "status": "failed", "error": f"could not start: {exc}",
                "returncode": None, "stderr_tail": "", "wall_s": 0.0}
    if started is not None:
        started(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        timed_out = True
    outcome.update(returncode=proc.returncode, wall_s=time.monotonic() - start)
    if timed_out:
        return {**outcome, "status": "failed", "error": f"timed out after {timeout:g} s",
                "stderr_tail": _tail(stderr)}
    if proc.returncode != 0:
        why = _last_error_line(stderr) or "no message"
        return {**outcome, "status": "failed", "error": f"exit code {proc.returncode}: {why}",
                "stderr_tail": _tail(stderr)}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {**outcome, "status": "failed", "error": "no JSON object on stdout",
                "stderr_tail": _tail(stderr), "stdout_tail": _tail(stdout)}
    return {**outcome, "status": "ok", "result": result}


def job_record(job: Job, outcome: Mapping[str, Any]) -> dict[str, Any]:
    """The results file's line for ``job``: its key fields, then its outcome."""
    learner = {} if job.learner == "ant" else {"learner": job.learner}
    return {"env": job.env, "seed": job.seed, "steps": job.steps, "settings": job.settings_dict,
            **learner, **outcome, "finished_at": datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="seconds")}


Record = Callable[[Job, Mapping[str, Any]], None]


def run_local(jobs: Sequence[Job], workers: int, record: Record,
              timeout: float | None = None, check_stop: Callable[[], None] = lambda: None
              ) -> None:
    """Run ``jobs`` on a pool of ``workers`` processes, calling ``record`` in this thread as
    each finishes. ``check_stop`` is called every ``POLL_S`` and raises to stop the sweep. On
    any exception here (KeyboardInterrupt too) the running jobs are killed, not recorded."""
    stop = threading.Event()
    running: set[subprocess.Popen] = set()
    lock = threading.Lock()

    def started(proc: subprocess.Popen) -> None:
        with lock:
            running.add(proc)
            if stop.is_set():
                proc.kill()

    def one(job: Job) -> Mapping[str, Any] | None:
        if stop.is_set():
            return None
        try:
            return run_train(job.argv(), timeout, started)
        except Exception as exc:  # fails this job, not the sweep (its other jobs run on)
            return {"status": "failed", "error": f"could not run: {type(exc).__name__}: {exc}",
                    "returncode": None, "stderr_tail": "", "wall_s": None}
        finally:
            with lock:
                running.difference_update({p for p in running if p.poll() is not None})

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(one, job): job for job in jobs}
        pending = set(futures)
        while pending:
            check_stop()
            done, pending = concurrent.futures.wait(
                pending, timeout=POLL_S, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if outcome is not None and not stop.is_set():
                    record(futures[future], outcome)
    except BaseException:
        stop.set()
        with lock:
            for proc in running:
                proc.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(jobs: Sequence[Job], address: str, record: Record, timeout: float | None = None,
            max_in_flight: int | None = None,
            check_stop: Callable[[], None] = lambda: None) -> None:
    """Run ``jobs`` as Ray tasks (one CPU each; each task runs the train job in its own
    process on its node, where ant_ros must be installed), calling ``record`` as each
    finishes. ``address``: ``local`` starts a Ray instance on this machine, ``auto`` joins the
    one running here, else a cluster's address (e.g. ``ray://head:10001``)."""
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_train)
        queue, pending = list(jobs), {}
        limit = max_in_flight or len(queue) or 1
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop(0)
                pending[task.remote(job.argv(), timeout)] = job
            check_stop()
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in done:
                job = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the task itself failed (a node lost, ...)
                    outcome = {"status": "failed", "error": f"Ray task failed: {exc}",
                               "returncode": None, "stderr_tail": "", "wall_s": None}
                record(job, outcome)
    finally:
        ray.shutdown()


# --- a sweep ------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one ``run_sweep`` did, and the summary of the folder after it."""

    spec: SweepSpec
    ran: int  # jobs run now
    ran_failed: int  # of them, failed
    skipped_ok: int  # recorded ok before
    skipped_failed: int  # recorded failed before, not retried
    wall_s: float
    rows: list[dict[str, Any]]
    failures: list[Mapping[str, Any]]  # the folder's failed jobs, their latest record


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Termination:
    """The signal that asked the sweep to stop, if one did. Its handler only notes the signal:
    an exception raised from a handler lands wherever the main thread happens to be, which can
    be between the acquisition of two locks inside ``concurrent.futures``, leaving one held and
    the sweep hung for ever; the sweep's loop calls ``check`` between waits instead."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def note(self, signum: int, frame: object) -> None:
        self.signal_name = signal.Signals(signum).name

    def check(self) -> None:
        """Raise KeyboardInterrupt (named after the signal) if a signal asked to stop."""
        if self.signal_name is not None:
            raise KeyboardInterrupt(self.signal_name)


@contextlib.contextmanager
def _stop_on_termination() -> Iterator[_Termination]:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (``kill``, a closed terminal) stop the sweep, so its
    jobs are killed: each runs in a session of its own, out of reach of the signals sent to the
    sweep, and would run on, orphaned, holding the cores. A signal already ignored (``nohup``)
    or handled by someone else stays so; outside the main thread nothing changes."""
    termination = _Termination()
    if threading.current_thread() is not threading.main_thread():
        yield termination
        return
    previous = {}
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL,
                signal.SIGHUP: signal.SIG_DFL}
    for sig, default in defaults.items():
        if signal.getsignal(sig) is default:
            previous[sig] = signal.signal(sig, termination.note)
    try:
        yield termination
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_sweep(spec: SweepSpec, out: str | os.PathLike, workers: int | None = None,
              ray_address: str | None = None, retry_failed: bool = False,
              timeout: float | None = None,
              progress: Callable[[str], None] | None = None) -> SweepReport:
    """Run the jobs of ``spec`` not yet recorded ok in ``out`` (the failed ones too with
    ``retry_failed``), appending each outcome to ``out/results.jsonl`` as it finishes."""
    if ray_address:
        try:
            import ray  # noqa: F401  (only to fail before anything is written)
        except ImportError:
            raise SweepError(RAY_MISSING) from None
    check_settings(spec)
    Path(out).mkdir(parents=True, exist_ok=True)
    results = ResultsFile(Path(out) / RESULTS_FILE)
    start = time.monotonic()
    with FolderLock(out):  # before the spec: two sweeps starting at once never both write it
        prepare_folder(out, spec)
        results.end_line()
        known = latest_by_key(results.read())
        todo, skipped_ok, skipped_failed = [], 0, 0
        for job in spec.jobs():
            status = known.get(job.key, {}).get("status")
            if status == "ok":
                skipped_ok += 1
            elif status is not None and not retry_failed:
                skipped_failed += 1
            else:
                todo.append(job)
        counts = {"done": 0, "failed": 0}

        def record(job: Job, outcome: Mapping[str, Any]) -> None:
            results.append(job_record(job, outcome))
            counts["done"] += 1
            counts["failed"] += outcome["status"] != "ok"
            if progress is not None:
                progress(f"[{counts['done']}/{len(todo)}] {job.label(spec.grid_names)}: "
                         f"{describe_outcome(outcome)}")

        if progress is not None:
            where = (f"on Ray ({ray_address})" if ray_address else
                     f"on {_plural(min(workers or default_workers(), len(todo)), 'local process')}")
            progress(f"sweep {spec.describe()}; {skipped_ok} recorded ok, {skipped_failed} "
                     f"recorded failed{' (not retried)' if skipped_failed else ''}; "
                     + (f"running {len(todo)} {where}" if todo else "nothing to run"))
        if todo:
            with _stop_on_termination() as termination:
                if ray_address:
                    run_ray(todo, ray_address, record, timeout, workers, termination.check)
                else:
                    run_local(todo, workers or default_workers(), record, timeout,
                              termination.check)
                termination.check()  # a signal during the last job's record still stops
    records = results.read()
    latest = latest_by_key(records)
    failures = [latest[j.key] for j in spec.jobs()
                if latest.get(j.key, {}).get("status") == "failed"]
    return SweepReport(spec, counts["done"], counts["failed"], skipped_ok, skipped_failed,
                       time.monotonic() - start, summarize(records, spec), failures)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


def describe_outcome(outcome: Mapping[str, Any]) -> str:
    wall = outcome.get("wall_s")
    took = f" in {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    if outcome["status"] != "ok":
        return f"FAILED{took}: {outcome.get('error')}"
    result = outcome["result"]
    ret = result.get("mean_return_last100")
    return f"ok{took}" + (f", mean return last 100 {ret:.1f}" if isinstance(
        ret, (int, float)) and math.isfinite(ret) else "")


# --- the summary --------------------------------------------------------------------------

def spread(values: Sequence[float]) -> dict[str, float | None]:
    """Mean, sample standard deviation (None for one value), min and max of the finite values
    (all None for none)."""
    xs = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not xs:
        return {"mean": None, "std": None, "min": None, "max": None}
    mean = sum(xs) / len(xs)
    std = (math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1
           else None)
    return {"mean": mean, "std": std, "min": min(xs), "max": max(xs)}


def _mean(values: Iterable[Any]) -> float | None:
    return spread([v for v in values if v is not None])["mean"]


def summarize(records: Iterable[Mapping[str, Any]],
              spec: SweepSpec | None = None) -> list[dict[str, Any]]:
    """One row per task and setting: jobs planned (with a spec) and recorded ok / failed, the
    spread of ``mean_return_last100`` over the ok seeds, how many solved (where the env has a
    threshold), the means of ``flops_per_step`` and ``total_ratio``, and a job's mean wall time
    (its process, start-up included). The last
    ok record of a job counts, else its last one; with a spec only its jobs count."""
    latest = latest_by_key(records)
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group(env: str, settings: Mapping[str, str], learner: str) -> dict[str, Any]:
        key = (env, json.dumps([sorted(settings.items()), learner]))
        if key not in groups:
            groups[key] = {"env": env, "settings": dict(settings), "learner": learner,
                           "planned": 0, "records": []}
        return groups[key]

    if spec is not None:
        for job in spec.jobs():
            g = group(job.env, job.settings_dict, job.learner)
            g["planned"] += 1
            if job.key in latest:
                g["records"].append(latest[job.key])
    else:
        for record in latest.values():
            g = group(record["env"], record.get("settings") or {}, record.get("learner", "ant"))
            g["planned"] += 1
            g["records"].append(record)
    grid = spec.grid_names if spec is not None else None
    rows = []
    for g in groups.values():
        ok = [r["result"] for r in g["records"] if r["status"] == "ok"]
        failed = [r for r in g["records"] if r["status"] != "ok"]
        judged = [r for r in ok if ("solved_threshold" in r and r["solved_threshold"] is not None)
                  or ("solved_threshold" not in r and r.get("solved_at_step") is not None)]
        solved = [r["solved_at_step"] for r in judged if r.get("solved_at_step") is not None]
        ret = spread([r.get("mean_return_last100") for r in ok])
        shown = shown_settings(g["settings"], grid)
        rows.append({
            "env": g["env"], "setting": setting_label(shown, g["learner"]),
            "settings": g["settings"], "learner": g["learner"],
            "jobs": g["planned"], "ok": len(ok), "failed": len(failed),
            "missing": g["planned"] - len(ok) - len(failed),
            "seeds_ok": sorted(r["seed"] for r in g["records"] if r["status"] == "ok"),
            "steps": sorted({r["steps"] for r in g["records"]}),
            **{f"mean_return_last100_{k}": v for k, v in ret.items()},
            "solved": len(solved) if judged else None, "solved_of": len(judged),
            "solved_at_step_mean": _mean(solved),
            "flops_per_step_mean": _mean(r.get("flops_per_step") for r in ok),
            "total_ratio_mean": _mean(r.get("total_ratio") for r in ok),
            "wall_s_mean": _mean(r.get("wall_s") for r in g["records"] if r["status"] == "ok"),
        })
    return rows


def summary_from_folder(out: str | os.PathLike) -> tuple[SweepSpec | None, list[dict],
                                                         list[Mapping[str, Any]]]:
    """The spec (if recorded), the summary rows and the failed jobs' records of a folder."""
    path = Path(out) / RESULTS_FILE
    if not path.exists():
        raise SweepError(f"no {RESULTS_FILE} in {out}")
    spec = load_spec(out)
    records = ResultsFile(path).read()
    latest = latest_by_key(records)
    keys = [j.key for j in spec.jobs()] if spec is not None else list(latest)
    failures = [latest[k] for k in keys if latest.get(k, {}).get("status") == "failed"]
    return spec, summarize(records, spec), failures


def _num(value: float | None, fmt: str = ",.1f") -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The summary rows as a text table."""
    head = ["env", "setting", "ok", "failed", "mean return last 100", "std", "min - max",
            "solved", "flops/step", "total ratio", "wall s/job"]
    lines = [head]
    for r in rows:
        solved = "-" if r["solved"] is None else f"{r['solved']}/{r['solved_of']}" + (
            f" (mean {r['solved_at_step_mean']:,.0f})" if r["solved"] else "")
        lo, hi = r["mean_return_last100_min"], r["mean_return_last100_max"]
        ratio = r["total_ratio_mean"]
        lines.append([r["env"], r["setting"], f"{r['ok']}/{r['jobs']}", str(r["failed"]),
                      _num(r["mean_return_last100_mean"]), _num(r["mean_return_last100_std"]),
                      "-" if lo is None else f"{lo:,.1f} - {hi:,.1f}", solved,
                      _num(r["flops_per_step_mean"], ",.0f"),
                      "-" if ratio is None else f"{ratio:.2f}x", _num(r["wall_s_mean"])])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
                     for line in lines)


def curves(records: Iterable[Mapping[str, Any]], spec: SweepSpec | None = None
           ) -> dict[tuple[str, str], list[dict[str, list]]]:
    """The learning curves (``learning_curve`` of each ok job's result) by task and setting
    label; jobs recorded before results carried a curve are left out."""
    latest = latest_by_key(records)
    keys = [j.key for j in spec.jobs()] if spec is not None else list(latest)
    grid = spec.grid_names if spec is not None else None
    out: dict[tuple[str, str], list[dict[str, list]]] = {}
    for key in keys:
        record = latest.get(key)
        if not record or record["status"] != "ok" or "learning_curve" not in record["result"]:
            continue
        settings = record.get("settings") or {}
        label = setting_label(shown_settings(settings, grid), record.get("learner", "ant"))
        out.setdefault((record["env"], label), []).append(
            record["result"]["learning_curve"])
    return out


def plot_curves(records: Iterable[Mapping[str, Any]], spec: SweepSpec | None,
                path: str | os.PathLike) -> int:
    """One panel per task: per setting, the mean over seeds of the 100-episode mean return
    against steps, shaded from the lowest to the highest seed; returns the curves drawn."""
    lines = curve_lines(records, spec)
    if not lines:
        raise SweepError("no recorded job has a learning curve to plot")
    try:
        import matplotlib
    except ImportError:
        raise SweepError("--plot needs matplotlib (pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({line["env"] for line in lines})
    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for one in (line for line in lines if line["env"] == env):
            drawn, = ax.plot(one["steps"], one["mean"], label=one["label"])
            ax.fill_between(one["steps"], one["low"], one["high"], color=drawn.get_color(),
                            alpha=0.2)
        ax.set_title(env)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("mean return, last 100 episodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot write the plot {path}: {exc}") from None
    finally:
        plt.close(fig)
    return sum(line["runs"] for line in lines)


def curve_lines(records: Iterable[Mapping[str, Any]], spec: SweepSpec | None
                ) -> list[dict[str, Any]]:
    """The lines ``plot_curves`` draws: per task, setting and run length (runs of different
    lengths apart), the mean, lowest and highest of the seeds' curves at each mark."""
    lines = []
    for (env, label), runs in sorted(curves(records, spec).items()):
        by_marks: dict[tuple, list] = {}
        for run in runs:
            by_marks.setdefault(tuple(run["steps"]), []).append(run)
        for marks, same in sorted(by_marks.items(), key=lambda item: item[0][-1]):
            values = np.array([[np.nan if v is None else v for v in run["mean_return_last100"]]
                               for run in same])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a mark before any episode
                mean = np.nanmean(values, axis=0)
                low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
            length = f", {marks[-1]:,} steps" if len(by_marks) > 1 else ""
            lines.append({"env": env, "label": f"{label} ({len(same)} seeds{length})",
                          "steps": list(marks), "mean": mean, "low": low, "high": high,
                          "runs": len(same)})
    return lines


PLOT_FORMATS = (".png", ".pdf", ".svg")


def check_plot_path(path: str | os.PathLike) -> None:
    """Refuse, before anything runs, a plot path whose folder is missing or whose format
    matplotlib would not write."""
    target = Path(path)
    if target.suffix.lower() not in PLOT_FORMATS:
        raise SweepError(f"--plot needs a file name ending in {', '.join(PLOT_FORMATS)}, "
                         f"got {path}")
    if not target.parent.is_dir():
        raise SweepError(f"--plot: no folder {target.parent}")


def format_failures(failures: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """One line per failed job (the first ``limit``)."""
    lines = [f"failed: {r['env']} seed {r['seed']} "
             f"{setting_label(r.get('settings') or {}, r.get('learner', 'ant'))}: "
             f"{r.get('error')}" for r in failures[:limit]]
    if len(failures) > limit:
        lines.append(f"... and {len(failures) - limit} more failed jobs (see {RESULTS_FILE})")
    return "\n".join(lines)
