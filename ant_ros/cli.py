"""The ``ant-ros`` command."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import signal
import sys
from pathlib import Path


def _single_blas_thread() -> None:
    """Measure on one core: idle OpenBLAS threads would spin on the other one."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _train(args: argparse.Namespace) -> int:
    from .core.config import ConfigError
    from .tasks.direct_runner import RUNNER_FIELDS, terminal_progress, train, train_stream_ac
    from .tasks.presets import preset_for

    progress = None if args.json else terminal_progress(args.steps)
    try:
        if args.learner == "stream-ac":
            from .core.stream_ac import StreamACConfig
            stream_config = StreamACConfig().with_overrides(args.set)
            result = train_stream_ac(args.env, args.steps, args.seed, progress=progress,
                                     config=stream_config)
        else:
            config = preset_for(args.env).with_overrides(args.set, fixed=RUNNER_FIELDS)
            result = train(args.env, args.steps, args.seed, config, progress=progress,
                           twin=args.learner == "twin")
    except ConfigError as exc:
        print(f"ant-ros train: {exc}", file=sys.stderr)
        return 2
    summary = result.summary()
    if args.json:
        from . import __version__
        print(json.dumps({**summary, "ant_ros_version": __version__}))
        return 0
    solved = summary["solved_at_step"]
    print(f"env                       {summary['env']} (seed {summary['seed']})")
    print(f"steps                     {summary['steps']:,} ({summary['episodes']} episodes)")
    print(f"solved at step            {'not solved' if solved is None else f'{solved:,}'}")
    print(f"mean return, last 100 ep  {summary['mean_return_last100']:.1f}")
    if args.learner == "stream-ac":
        print(f"learner                   dense stream AC(lambda), {summary['n_params']:,} "
              f"parameters: {summary['flops_per_step']:,.0f} flops per step")
    elif args.learner == "twin":
        print(f"learner                   synchronous twin: {summary['flops_per_step']:,.0f} "
              f"flops per step (stream AC(lambda) {summary['stream_ac_flops_per_step']:,.0f})")
    else:
        _print_ant_costs(summary)
    print(f"wall time                 {summary['wall_s']:.1f} s "
          f"({summary['steps_per_s']:,.0f} steps/s)")
    return 0


def _print_ant_costs(summary: dict) -> None:
    """The asynchronous learner's counted cost against the twin and the alternatives."""
    print(f"flops per step            {summary['flops_per_step']:,.0f} (synchronous twin "
          f"{summary['twin_flops_per_step']:,.0f}): total ratio {summary['total_ratio']:.1f}x")
    print(f"neurons firing per step   {summary['firing_share']:.1%}; synapses settled per step "
          f"{summary['settled_share']:.1%} (ratio at equal cost per synapse "
          f"{summary['ratio_bound']:.1f}x); events per step {summary['events_per_step']:.1f}")
    parts = ", ".join(f"{k} {v:,.0f}" for k, v in summary["flops_by_part"].items() if v)
    print(f"flops per step by part    {parts}")
    print(f"instead (same cost model) stream AC(lambda) {summary['stream_ac_flops_per_step']:,.0f} "
          f"flops per step ({summary['stream_ac_ratio']:.0f}x), SB3 PPO "
          f"{summary['ppo_flops_per_step']:,.0f} ({summary['ppo_ratio']:.0f}x)")
    print(f"energy estimate           {summary['energy_uj_per_step']:.2f} uJ per step "
          f"(twin {summary['twin_energy_uj_per_step']:.2f} uJ; CPU arithmetic)")


def _sweep(args: argparse.Namespace) -> int:
    from . import sweep

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if args.plot:
            sweep.check_plot_path(args.plot)
        if args.summary is not None:
            given = [f"--{n.replace('_', '-')}" for n in ("env", "seeds", "grid", "set", "out",
                                                          "jobs", "ray_address", "timeout")
                     if getattr(args, n)] + (["--retry-failed"] if args.retry_failed else [])
            if given:
                raise sweep.SweepError(f"--summary reads a results file; it takes no "
                                       f"{', '.join(given)}")
            spec, rows, failures = sweep.summary_from_folder(args.summary)
            wall = None
            out = args.summary
        else:
            missing = [f"--{n}" for n in ("env", "seeds", "out") if not getattr(args, n)]
            if missing:
                raise sweep.SweepError(f"{', '.join(missing)} required (or --summary DIR)")
            if args.jobs is not None and args.jobs < 1:
                raise sweep.SweepError("--jobs must be >= 1")
            spec = sweep.SweepSpec.from_args(args.env, args.seeds, args.steps, args.set,
                                             args.grid, args.learner)
            report = sweep.run_sweep(spec, args.out, workers=args.jobs,
                                     ray_address=args.ray_address,
                                     retry_failed=args.retry_failed, timeout=args.timeout,
                                     progress=say)
            rows, failures, wall = report.rows, report.failures, report.wall_s
            out = args.out
    except sweep.SweepError as exc:
        print(f"ant-ros sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("ant-ros sweep: interrupted; the jobs recorded so far are kept, the same command "
            "resumes")
        return 130
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        if spec is not None:
            print(f"sweep: {spec.describe()}")
        print(sweep.format_table(rows))
        if failures:
            print(sweep.format_failures(failures))
        if args.summary is None:
            print(f"this run: {report.ran} jobs run ({report.ran_failed} failed), "
                  f"{report.skipped_ok} already recorded ok"
                  + (f", {report.skipped_failed} recorded failed and not retried "
                     "(--retry-failed runs them again)" if report.skipped_failed else "")
                  + f"; wall time {wall:.1f} s")
    incomplete = failures or any(r["missing"] for r in rows)
    plot_failed = False
    if args.plot:  # after the report, which a plot that cannot be drawn must not hide
        try:
            drawn = sweep.plot_curves(sweep.ResultsFile(Path(out) / sweep.RESULTS_FILE).read(),
                                      spec, args.plot)
            say(f"ant-ros sweep: {drawn} learning curves drawn in {args.plot}")
        except sweep.SweepError as exc:
            say(f"ant-ros sweep: no plot: {exc}")
            plot_failed = True
    return 1 if incomplete or plot_failed else 0


# bench name -> (module, help, description, --quick help)
BENCHES = {
    "core": ("core_bench", "asynchronous network vs its synchronous twin, same streams",
             "Asynchronous network vs its synchronous twin (same sparse connectivity, every "
             "neuron and synapse once per tick) at N = 128, 512, 2048 and input activity 1, 5, "
             "20 %: time and counted flops per tick, their ratios and the deviation at the "
             "timed threshold; the deviation from the dense reference as the threshold goes to "
             "0; and the time and flops of a full learning step, learner and twin.",
             "short streams, N=128 only (a smoke test, not for reporting)"),
    "learning": ("learning_bench", "learner vs synchronous twin, stream AC and PPO, by task",
                 "The asynchronous learner, its synchronous twin (same connectivity and rule, "
                 "updated once per decision) and stream AC(lambda) each learn CartPole-v1 and "
                 "Pendulum-v1 for 100k steps in this process; SB3 PPO's arithmetic by formula. "
                 "Per system: counted flops per step by part (one cost model), the learner's "
                 "wall time per step, the learning result, and the ratios.",
                 "2,000 steps per task (a smoke test, not for reporting)"),
    "robot": ("robot_bench", "the robot regime: sensors at 20/50/200 Hz, decisions at 10 Hz",
              "The learner drives and learns navigation on the ir-sim robot with lidar (20 Hz), "
              "odometry (50 Hz) and IMU (200 Hz) samples taken into the network as they arrive, "
              "deciding at 10 Hz; against its synchronous twin clocked at the fastest sensor "
              "(200 Hz) and at the decisions (10 Hz). Per system: counted flops per second and "
              "per decision, CPU share of one core, latency from a sensor sample to the command.",
              "20 s of robot time per system (a smoke test, not for reporting)"),
    "ros": ("ros_bench", "LaserScan -> cmd_vel latency through the ROS graph",
            "From a LaserScan publish to the resulting cmd_vel (N=512, learning on): p50/p99 "
            "latency in one process and in two processes, and the input events per second the "
            "learner keeps up with.", "few samples (a smoke test)"),
    "continual": ("continual_bench", "forgetting, recovery and plasticity when the world "
                  "changes and changes back",
                  "Scenarios whose world changes and changes back (CartPole with a longer, "
                  "heavier pole; CartPole with the motor wired backwards; Pendulum with a "
                  "heavier pendulum; 20 changes of the backwards motor), learning never "
                  "stopped, no task label: forgetting, recovery steps (first exposures and "
                  "returns), plasticity at the 20th change, change detection, for plain "
                  "continual updating, consolidation, normalisation that forgets, the change "
                  "detector with a policy reset or with a policy memory, and a learner reset at "
                  "every change; 5 seeds each.",
                  "short phases, 2 seeds (a smoke test, not for reporting)"),
    "demo": ("demo_bench", "where an env step's time goes in the demo",
             "Profile the demo graph (bridge, encoder, learner) with cProfile and print each "
             "part's time per env step and share.", "2,000 steps instead of 20,000"),
}


def _bench(args: argparse.Namespace) -> int:
    bench = importlib.import_module(f"ant_ros.bench.{BENCHES[args.bench][0]}")
    options = {"scenarios": tuple(args.scenario)} if getattr(args, "scenario", None) else {}
    if getattr(args, "system", None):
        options["systems"] = tuple(args.system)
    raw: list = []
    if getattr(args, "raw", None):
        options["raw"] = raw
    if getattr(args, "consolidation_strength", None) is not None:
        if not (args.consolidation_strength > 0 and math.isfinite(args.consolidation_strength)):
            print("ant-ros bench continual: --consolidation-strength must be a number > 0",
                  file=sys.stderr)
            return 2
        options["consolidation_strength"] = args.consolidation_strength
    rows = bench.run(quick=args.quick, **options)
    if raw:
        with open(args.raw, "w", encoding="utf-8") as f:
            json.dump(raw, f)
    print(json.dumps(rows, indent=1) if args.json else bench.format_table(rows))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .nodes.in_process import run

    run(args.config, use_sim_time=args.use_sim_time, namespace=args.namespace)
    return 0


DEMO_KEYS = ("env", "steps", "seed", "solved_at_step", "mean_return_last100", "episodes",
             "steps_per_s", "total_ratio", "plot", "summary")
DEMO_OUT = {"gym": "runs/demo", "irsim": "runs/demo_irsim"}  # --out when not given, per --robot


def demo_out_dir(args: argparse.Namespace) -> str:
    """The demo's output folder: ``--out`` as given, else the default of the ``--robot``."""
    return args.out if args.out is not None else DEMO_OUT[args.robot]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run
    from .tasks.direct_runner import terminal_progress

    if not args.json:
        graph = ("navigation on the ir-sim robot (robot -> encoder, reward -> learner -> "
                 "robot" if args.robot == "irsim" else
                 f"{args.env} (bridge -> encoder -> learner -> bridge")
        print(f"Learning {graph}, lockstep) from scratch, online, through the ROS graph, "
              f"{args.steps:,} steps, seed {args.seed}.")
    progress = None if args.json else terminal_progress(args.steps)
    if args.robot == "irsim":
        from .demo import run_irsim, run_irsim_continual

        # SIGTERM (timeout, systemd, a launch file) ends the demo as Ctrl-C does: its graphs are
        # shut down and the continual demo's baseline process is stopped
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))

        if args.continual:
            summary = run_irsim_continual(args.steps, args.seed, demo_out_dir(args),
                                          progress=progress, eval_episodes=args.eval_episodes,
                                          baseline=args.baseline)
        else:
            summary = run_irsim(args.steps, args.seed, demo_out_dir(args), progress=progress,
                                eval_episodes=args.eval_episodes)
        result = {k: summary[k] for k in ("env", "steps", "seed", "episodes", "goals_reached",
                                          "collisions", "timeouts", "success_rate_last100",
                                          "eval_episodes", "eval_goals_reached",
                                          "eval_collisions", "eval_timeouts",
                                          "eval_success_rate", "steps_per_s", "total_ratio",
                                          "robot_steps", "learner_steps", "incomplete_frames",
                                          "stall_nudges", "changes", "phases",
                                          "changes_detected", "plot", "summary")}
        if "baseline" in summary:
            result["baseline"] = {k: v for k, v in summary["baseline"].items()
                                  if k != "outcomes"}
        print(json.dumps(result) if args.json else "\n".join(
            f"{k:<28}{v}" for k, v in result.items()))
        return 0
    summary = run(args.env, args.steps, args.seed, demo_out_dir(args), progress=progress,
                  record=args.record)
    result = {k: summary[k] for k in DEMO_KEYS + (("recording",) if args.record else ())}
    if args.json:
        print(json.dumps(result))
        return 0
    solved = result["solved_at_step"]
    rows = [("env", result["env"]), ("steps", f"{result['steps']:,} ({result['episodes']} "
                                              "episodes)"),
            ("solved at step", "not solved" if solved is None else f"{solved:,}"),
            ("mean return, last 100 ep", f"{result['mean_return_last100']:.1f}"),
            ("env steps per second", f"{result['steps_per_s']:,.0f}"),
            ("total ratio (twin / async)", f"{result['total_ratio']:.1f}x"),
            ("learning curve", result["plot"]), ("summary", result["summary"])]
    if args.record:
        rows.append(("recording (MCAP)", result["recording"]))
    for name, value in rows:
        print(f"{name:<28}{value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ant-ros", description="Online learning with an asynchronous event-driven network.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="learn online on a Gymnasium env, without ROS",
                           description="Learn online on a Gymnasium environment with the "
                           "direct runner (no ROS); prints steps to threshold, the mean return "
                           "of the last 100 episodes, op counts and wall time.")
    train.add_argument("--env", default="CartPole-v1", help="Gymnasium env id")
    train.add_argument("--steps", type=int, default=100_000, help="environment steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="change one field of the env's preset configuration, e.g. "
                       "network.threshold=0.05 or learning.actor_lr=1e-3; per-input fields "
                       "take a comma list, e.g. network.input_gain=0.5,0.5,1 (repeatable); "
                       "with --learner stream-ac, stream_ac.FIELD=VALUE, e.g. "
                       "stream_ac.hidden=64,64 or stream_ac.frozen_hidden=true")
    train.add_argument("--learner", choices=("ant", "twin", "stream-ac"), default="ant",
                       help="ant: the asynchronous learner (default); twin: its synchronous "
                       "twin (same model, wiring and rule, every neuron and synapse each "
                       "step; also takes learning.eprop_feedback=backprop); stream-ac: the "
                       "dense stream AC(lambda) baseline (2 x 128, numpy) through the same "
                       "runner")
    train.set_defaults(func=_train)

    sweep = sub.add_parser("sweep", help="many train runs: tasks x settings x seeds, in parallel",
                           description="Run ant-ros train for every env x setting x seed, one "
                           "process per job on a local pool (or on a Ray cluster), appending "
                           "each job's outcome to OUT/results.jsonl as it finishes; print a "
                           "summary per env and setting. Re-running the same command resumes: "
                           "jobs recorded ok are skipped, failed ones too unless "
                           "--retry-failed.")
    sweep.add_argument("--env", action="append", metavar="ID",
                       help="Gymnasium env id (repeatable)")
    sweep.add_argument("--seeds", help="e.g. 0-4, 0,2,5 or 0-2,7")
    sweep.add_argument("--steps", type=int, default=100_000, help="environment steps per job")
    sweep.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="a field for every job, as in train --set (repeatable)")
    sweep.add_argument("--grid", action="append", default=[],
                       metavar="SECTION.FIELD=V1,V2,...",
                       help="values to try (repeatable: the settings are the cross product); "
                       "values that are comma lists are separated by |, e.g. "
                       "'network.input_gain=0.5,0.5,1|1,1,1'")
    sweep.add_argument("--learner", choices=("ant", "twin", "stream-ac"), default="ant",
                       help="the learner of every job (ant-ros train --learner); with stream-ac "
                       "--set and --grid take stream_ac.FIELD=VALUE")
    sweep.add_argument("--out", metavar="DIR", help="folder of sweep.json and results.jsonl")
    sweep.add_argument("--jobs", type=int, metavar="K",
                       help="jobs at once (default: this machine's cores; with --ray-address: "
                       "as many as the cluster takes)")
    sweep.add_argument("--ray-address", metavar="ADDR",
                       help="run the jobs on Ray (the optional extra ant_ros[ray]): 'local' "
                       "starts Ray here, 'auto' joins a running instance, else a cluster "
                       "address such as ray://head:10001")
    sweep.add_argument("--retry-failed", action="store_true",
                       help="run again the jobs recorded failed")
    sweep.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="a job still running after this long is killed and recorded failed")
    sweep.add_argument("--summary", metavar="DIR",
                       help="only print the summary of DIR's results (runs nothing)")
    sweep.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    sweep.add_argument("--plot", metavar="PNG",
                       help="also draw the learning curves (mean over seeds, min-max shaded), "
                            "one panel per env")
    sweep.set_defaults(func=_sweep)

    bench = sub.add_parser("bench", help="benchmarks that print measured figures",
                           description="Benchmarks; each prints its figures.")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name, (_, short, text, quick) in BENCHES.items():
        one = bench_sub.add_parser(name, help=short, description=text)
        one.add_argument("--json", action="store_true", help="print a JSON list of rows")
        one.add_argument("--quick", action="store_true", help=quick)
        if name == "continual":
            from .tasks.continual import SCENARIOS
            one.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                             help="run only this scenario (repeatable; default: the Gymnasium "
                             "ones; the navigation ones take hours at full length)")
            from .bench.continual_bench import ALL_SYSTEMS
            one.add_argument("--system", action="append", choices=ALL_SYSTEMS,
                             help="run this system (repeatable; default: all, ppo where the "
                             "extra ant_ros[sb3] is installed; plain and reset always run: they "
                             "are the references)")
            one.add_argument("--consolidation-strength", type=float, metavar="S",
                             help="the consolidation system's strength (default 0.1)")
            one.add_argument("--raw", metavar="FILE",
                             help="also write every run's exposures (returns, detections, "
                             "frozen scores) to FILE as JSON")
        one.set_defaults(func=_bench)

    run = sub.add_parser("run", help="the encoder and learner nodes in one process",
                         description="Run ant_encoder and ant_learner in one process with one "
                         "executor, configured by a ROS parameter file (e.g. config/robot.yaml)"
                         ", for users without ROS launch and for speed.")
    run.add_argument("config", help="ROS 2 parameter file (YAML)")
    run.add_argument("--use-sim-time", action="store_true", help="use /clock")
    run.add_argument("--namespace", default="", help="namespace of the nodes and topics")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="the main demo: learn CartPole online through ROS",
                          description="The full ROS graph in one process (Gymnasium bridge in "
                          "lockstep, encoder, learner) learns from scratch, online; prints a "
                          "results table and writes a learning-curve plot and a JSON summary.")
    demo.add_argument("--env", default="CartPole-v1", help="Gymnasium env id")
    demo.add_argument("--steps", type=int, default=100_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", help=f"output folder (plot, summary); default "
                      f"{DEMO_OUT['gym']}, or {DEMO_OUT['irsim']} with --robot irsim")
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.add_argument("--record", action="store_true",
                      help="record every message to OUT/demo.mcap (ros2 bag, Foxglove)")
    demo.add_argument("--eval-episodes", type=int, default=100,
                      help="--robot irsim: after learning, episodes with learning frozen and "
                      "greedy actions, each to a new random goal (the evaluation)")
    demo.add_argument("--continual", action="store_true",
                      help="--robot irsim: the robot changes while it learns (half-speed "
                      "wheels, the lidar turned, a dead lidar sector, each followed by the "
                      "robot as built), through its node parameters; the learner has the change "
                      "detector and policy memory on, and a baseline graph with them off runs "
                      "beside it (namespace /baseline, a second process); the plot shows both "
                      "and marks the changes")
    demo.add_argument("--no-baseline", dest="baseline", action="store_false",
                      help="--continual: run the learner only, not the baseline beside it")
    demo.add_argument("--robot", choices=("gym", "irsim"), default="gym",
                      help="gym: a Gymnasium env through the bridge; irsim: navigation with "
                      "the ir-sim mobile robot (lidar, odometry, goals)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    _single_blas_thread()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
