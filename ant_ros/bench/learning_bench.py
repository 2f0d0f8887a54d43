"""``ant-ros bench learning``: the asynchronous learner against its synchronous twin and against
what a user would pick instead, each learning the same task in this process, all priced by one
cost model (``core/accounting.py``).

Systems per task: ``ant`` (the asynchronous learner, the task's preset), ``twin`` (the same
learner on the synchronous twin: same connectivity, readouts, rule; every neuron and synapse
updated once per decision), ``stream_ac`` (stream AC(lambda), two hidden layers of 128, numpy)
and ``ppo`` (Stable-Baselines3 PPO's default arithmetic per env step, by formula: not run).
``wall_us_per_step`` is the learner's own time per env step (the environment's step excluded).
The navigation task (ir-sim, ``config/robot.yaml``, the direct runner of ``tasks/``) runs the
learner and the twin, each then evaluated on 100 new goals with learning frozen; stream AC and
PPO are priced there by formula only.
"""

from __future__ import annotations

import gymnasium as gym

from ..core.accounting import ppo_flops_per_step
from ..core.stream_ac import StreamAC
from ..tasks.direct_runner import TrainResult, action_spec_for, train, train_stream_ac
from ..tasks.irsim_navigation import navigation_agent_config, train_navigation

NAVIGATION = "irsim-navigation"
TASKS = {"CartPole-v1": 100_000, "Pendulum-v1": 100_000, NAVIGATION: 300_000}
EVAL_EPISODES = 100
N_NAVIGATION_INPUTS = 20  # config/robot.yaml: 16 scan sectors, 4 odometry features


def _row(task: str, system: str, result: TrainResult | None, flops_per_step: float,
         by_part: dict, wall_us: float | None, **extra) -> dict:
    return {"task": task, "system": system, "steps": None if result is None else result.steps,
            "flops_per_step": flops_per_step, "flops_by_part": by_part,
            "wall_us_per_step": wall_us,
            "mean_return_last100": None if result is None else result.mean_return_last100,
            "solved_at_step": None if result is None else result.solved_at_step, **extra}


def navigation_rows(steps: int, seed: int = 0, eval_episodes: int = EVAL_EPISODES
                    ) -> list[dict]:
    """The learner and its twin on the navigation task; stream AC and PPO by formula."""
    rows = []
    for name, twin in (("ant", False), ("twin", True)):
        result = train_navigation(steps, seed, twin=twin, eval_episodes=eval_episodes)
        cost = result.ops
        rows.append({"task": NAVIGATION, "system": name, "steps": steps,
                     "flops_per_step": cost["flops_per_step"],
                     "flops_by_part": cost["flops_by_part"],
                     "wall_us_per_step": result.learn_s / result.learner_steps * 1e6,
                     "mean_return_last100": None, "solved_at_step": None,
                     "success_rate_last100": result.success_rate_last100,
                     "eval_success_rate": result.summary()["eval_success_rate"]})
        if not twin:
            ant_cost = cost
    ant, twin_row = rows
    action = navigation_agent_config(None, seed, N_NAVIGATION_INPUTS).action
    sac = StreamAC(N_NAVIGATION_INPUTS, action).flops_per_step()
    ppo = ppo_flops_per_step(N_NAVIGATION_INPUTS, action)
    ant.update(total_ratio=twin_row["flops_per_step"] / ant["flops_per_step"],
               time_ratio=twin_row["wall_us_per_step"] / ant["wall_us_per_step"],
               twin_estimate_flops_per_step=ant_cost["twin_flops_per_step"],
               firing_share=ant_cost["firing_share"], ratio_bound=ant_cost["ratio_bound"],
               hidden_events_per_step=ant_cost["hidden_events_per_step"],
               settled_synapses_per_step=ant_cost["settled_synapses_per_step"],
               eprop_flops_per_settled_synapse=ant_cost["eprop_flops_per_settled_synapse"],
               twin_eprop_flops_per_synapse=ant_cost["twin_eprop_flops_per_synapse"],
               stream_ac_ratio=sac / ant["flops_per_step"],
               ppo_ratio=ppo["total"] / ant["flops_per_step"])
    rows.append(_row(NAVIGATION, "stream_ac", None, sac, {}, None,
                     note="by formula for the task's inputs and actions, not run"))
    rows.append(_row(NAVIGATION, "ppo", None, ppo["total"],
                     {k: ppo[k] for k in ("rollout", "train_passes", "optimiser")}, None,
                     parameters=ppo["params"], note="SB3 defaults by formula, not run"))
    return rows


def task_rows(task: str, steps: int, seed: int = 0) -> list[dict]:
    """Every system on one task, one run each, same seed."""
    if task == NAVIGATION:
        return navigation_rows(steps, seed, 2 if steps < 10_000 else EVAL_EPISODES)
    ant = train(task, steps, seed)
    twin = train(task, steps, seed, twin=True)
    sac = train_stream_ac(task, steps, seed)
    env = gym.make(task)
    ppo = ppo_flops_per_step(int(env.observation_space.shape[0]),
                             action_spec_for(env.action_space))
    env.close()
    ant_cost, twin_cost = ant.ops, twin.ops
    ant_us = ant.learn_s / steps * 1e6
    twin_us = twin.learn_s / steps * 1e6
    sac_flops = sac.ops["flops_per_step"]
    ant_flops = ant_cost["flops_per_step"]
    rows = [
        _row(task, "ant", ant, ant_flops, ant_cost["flops_by_part"], ant_us,
             total_ratio=twin_cost["flops_per_step"] / ant_flops,
             time_ratio=twin_us / ant_us, twin_estimate_flops_per_step=ant_cost[
                 "twin_flops_per_step"], firing_share=ant_cost["firing_share"],
             ratio_bound=ant_cost["ratio_bound"],
             hidden_events_per_step=ant_cost["hidden_events_per_step"],
             settled_synapses_per_step=ant_cost["settled_synapses_per_step"],
             eprop_flops_per_settled_synapse=ant_cost["eprop_flops_per_settled_synapse"],
             twin_eprop_flops_per_synapse=ant_cost["twin_eprop_flops_per_synapse"],
             stream_ac_ratio=sac_flops / ant_flops, ppo_ratio=ppo["total"] / ant_flops),
        _row(task, "twin", twin, twin_cost["flops_per_step"], twin_cost["flops_by_part"],
             twin_us),
        _row(task, "stream_ac", sac, sac_flops, sac.ops["flops_by_part"],
             sac.learn_s / steps * 1e6, parameters=sac.ops["n_params"]),
        _row(task, "ppo", None, ppo["total"],
             {k: ppo[k] for k in ("rollout", "train_passes", "optimiser")}, None,
             parameters=ppo["params"], note="SB3 defaults by formula, not run"),
    ]
    return rows


def run(quick: bool = False) -> list[dict]:
    """All rows; ``quick`` runs 2,000 steps per task (a smoke test, not for reporting)."""
    return [row for task, steps in TASKS.items()
            for row in task_rows(task, 2_000 if quick else steps)]


def format_table(rows: list[dict]) -> str:
    lines = ["task           system     flops/step  wall us/step  mean return  "
             "total ratio  time ratio  vs stream AC  vs PPO"]
    for r in rows:
        wall = "" if r["wall_us_per_step"] is None else f"{r['wall_us_per_step']:,.1f}"
        ret = ("" if r["mean_return_last100"] is None else f"{r['mean_return_last100']:.1f}")
        if r.get("eval_success_rate") is not None:
            ret = f"{r['eval_success_rate']:.0%} goals"
        extra = ""
        if r["system"] == "ant":
            extra = (f"{r['total_ratio']:>11.2f}x {r['time_ratio']:>10.2f}x "
                     f"{r['stream_ac_ratio']:>12.1f}x {r['ppo_ratio']:>6.1f}x")
        lines.append(f"{r['task']:<14} {r['system']:<9} {r['flops_per_step']:>11,.0f}  "
                     f"{wall:>12}  {ret:>11}  {extra}")
    lines.append("")
    for r in rows:
        if r["system"] == "ant":
            parts = ", ".join(f"{k} {v:,.0f}" for k, v in r["flops_by_part"].items() if v)
            lines.append(f"{r['task']}: neurons firing per step {r['firing_share']:.1%}, "
                         f"synapses settled per step {1 / r['ratio_bound']:.1%} (the ratio at "
                         f"equal cost per synapse {r['ratio_bound']:.1f}x); flops by part: "
                         f"{parts}")
    return "\n".join(lines)
