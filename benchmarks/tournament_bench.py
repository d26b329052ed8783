"""Tournament benchmark: 6 attacks x 7 defense settings x 3 seeds (battles of ~20 nodes, 300 virtual s), with -j1
and -j2; total time, speedup, and what a battle's time goes to.

    .venv/bin/python benchmarks/tournament_bench.py                      # the full benchmark (long on one core)
    .venv/bin/python benchmarks/tournament_bench.py --duration 60 --seeds 1   # a quick look

Both runs must produce identical results (trace hashes): the worker count may change the time, never the outcome.
Targets: -j2 under 10 minutes, speedup >= 1.7x. ``cpu_seconds`` per battle is the contention-free figure (wall
time suffers when other work shares the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from arena.experiments.tournament import aggregate, plan, run_tournament, write_outputs
from arena.plugin_host.registry import default_registry

ATTACKS = ["double_spend", "sybil", "eclipse", "byzantine_validator", "replay", "channel_fraud"]
DEFENSES = ["none", "confirmation_depth", "equivocation_slashing", "peer_diversity", "costly_identity",
            "light_client_quorum", "watchtower"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--jobs", default="1,2", help="worker counts to compare, comma-separated")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--defenses", default=",".join(DEFENSES))
    ap.add_argument("--out", default="runs/tournament_bench")
    args = ap.parse_args()
    reg = default_registry()
    attacks, defenses = args.attacks.split(","), args.defenses.split(",")
    report: dict[str, Any] = {"attacks": attacks, "defenses": defenses, "seeds": args.seeds,
                              "duration": args.duration, "cores": os.cpu_count(), "runs": {}}
    shas: dict[int, list[str]] = {}
    outcomes: dict[int, list[tuple[str, int]]] = {}
    for jobs in [int(j) for j in args.jobs.split(",")]:
        out = Path(args.out) / f"j{jobs}"
        p = plan(reg, out, attacks, defenses, args.seeds, [("duration", args.duration)])
        started = time.perf_counter()
        runs = run_tournament(p, jobs)
        wall = time.perf_counter() - started
        doc = aggregate(p, runs)
        doc["timing"] = {"jobs": jobs, "wall_seconds": round(wall, 2)}
        write_outputs(doc, out)
        shas[jobs] = [r["trace_sha256"] for r in runs]
        outcomes[jobs] = [(r["verdict"], r["stolen"]) for r in runs]
        by_scenario: dict[str, list[float]] = {}
        for r in runs:
            by_scenario.setdefault(r["attack"], []).append(r["cpu_seconds"])
        report["runs"][jobs] = {
            "battles": len(runs), "wall_seconds": round(wall, 2),
            "battle_wall_sum": round(sum(r["wall_seconds"] for r in runs), 2),
            "battle_cpu_sum": round(sum(r["cpu_seconds"] for r in runs), 2),
            "simulation_share": round(sum(r["sim_seconds"] for r in runs) / sum(r["wall_seconds"] for r in runs), 3),
            "cpu_per_battle_by_attack": {a: round(statistics.mean(v), 2) for a, v in sorted(by_scenario.items())},
        }
        print(f"-j{jobs}: {len(runs)} battles in {wall:.1f} s wall "
              f"(battles' own wall {report['runs'][jobs]['battle_wall_sum']:.0f} s, "
              f"CPU {report['runs'][jobs]['battle_cpu_sum']:.0f} s)", flush=True)
    counts = sorted(report["runs"])
    if len(counts) > 1:
        a, b = counts[0], counts[-1]
        report["speedup"] = round(report["runs"][a]["wall_seconds"] / report["runs"][b]["wall_seconds"], 2)
        report["identical_results"] = shas[a] == shas[b]
        report["identical_verdicts"] = outcomes[a] == outcomes[b]
        print(f"speedup -j{a} -> -j{b}: {report['speedup']}x (target >= 1.7); identical traces: "
              f"{report['identical_results']}, identical verdicts and stolen: {report['identical_verdicts']} (traces "
              "differ only if the code changed between the two runs)")
    for jobs, r in report["runs"].items():
        print(f"-j{jobs}: time in the simulation itself {100 * r['simulation_share']:.0f}% (the rest: building the "
              f"world, states, referee, report.html); CPU s per battle: {r['cpu_per_battle_by_attack']}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
