"""``ant-ros bench demo``: where the time of an env step goes in the demo graph (cProfile).

cProfile slows Python code by about 2x, so the shares matter more than the absolute times; the
run's own steps per second without the profiler come from ``ant-ros demo``.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile

from .. import demo

PARTS = (  # (name, file, function); the node times include the parts nested in them
    ("learner core (network, TD, e-prop, policy)", "core/learner.py", "_step"),
    ("learner node (decode, batch, publish)", "nodes/learner_node.py", "_on_spikes"),
    ("encoder node (features, send-on-delta, packet)", "nodes/encoder_node.py", "callback"),
    ("bridge node (publish obs, reward, clock)", "nodes/bridge_node.py", "step"),
    ("Gymnasium env step", "gymnasium/envs", "step"),
)


def run(quick: bool = False, env_id: str = "CartPole-v1") -> list[dict]:
    steps = 2_000 if quick else 20_000
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as out:
        profiler.enable()
        summary = demo.run(env_id, steps, 0, out)
        profiler.disable()
    stats = pstats.Stats(profiler).stats

    def cumulative(path: str, function: str) -> float:
        return sum(v[3] for k, v in stats.items() if path in k[0] and k[2] == function)

    core, node, encoder, bridge, env = (cumulative(path, fn) for _, path, fn in PARTS)
    total = summary["wall_s"]  # the stepping loop (no set-up, no plotting)
    exclusive = (core, node - core, encoder, bridge - env, env,
                 total - node - encoder - bridge)
    names = [name for name, *_ in PARTS] + ["executor and DDS transport (rest)"]
    rows = [{"part": name, "us_per_step": sec / steps * 1e6, "share": sec / total}
            for name, sec in zip(names, exclusive)]
    rows.append({"part": "env steps per second under the profiler",
                 "value": summary["steps_per_s"]})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["part of an env step (demo graph, cProfile)          us/step   share"]
    for r in rows:
        if "share" in r:
            lines.append(f"{r['part']:<50} {r['us_per_step']:8.1f}  {r['share']:6.1%}")
        else:
            lines.append(f"{r['part']}: {r['value']:,.0f}")
    return "\n".join(lines)
