"""The same small tournament on the local pool (-j 2) and on a Dask LocalCluster of 2 workers (``local:2``): wall
and CPU seconds of each, and their ratio; what Dask costs over the pool on one machine.

    .venv/bin/python benchmarks/tournament_engines.py                       # 2 attacks x 2 defenses x 2 seeds
    .venv/bin/python benchmarks/tournament_engines.py --duration 120 --seeds 3

Each engine runs in a fresh child process, so its CPU figure is the whole process tree's (client, scheduler,
nannies, workers: ``RUSAGE_CHILDREN`` once they are reaped) and no import is shared. ``battle_cpu`` is the CPU
the battles themselves report; the rest is the engine's overhead (start-up, imports in the workers, messages).
Both runs must give the same trace hashes. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one(engine: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run the tournament once on ``engine`` (in this process: the child's side)."""
    from arena.experiments.engines import make_engine
    from arena.experiments.tournament import plan, run_tournament
    from arena.plugin_host.registry import default_registry

    p = plan(default_registry(), out, args.attacks.split(","), args.defenses.split(","), args.seeds,
             [("duration", args.duration), ("settle", min(10.0, args.duration / 4))])
    started = time.perf_counter()
    with make_engine(None if engine == "local" else "local:2", jobs=2) as eng:
        runs = run_tournament(p, engine=eng)
    return {"wall": time.perf_counter() - started, "battles": len(runs),
            "battle_cpu": sum(r["cpu_seconds"] for r in runs), "traces": [r["trace_sha256"] for r in runs]}


def measure(engine: str, argv: list[str], out: Path) -> dict[str, Any]:
    """The child's figures plus the CPU of its whole process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", engine, "--out", str(out), *argv],
                          check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    doc["process_wall"] = time.perf_counter() - started
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--attacks", default="eclipse,sybil")
    ap.add_argument("--defenses", default="none,peer_diversity")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--child", choices=["local", "dask"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args, Path(args.out))))
        return
    argv = ["--attacks", args.attacks, "--defenses", args.defenses, "--seeds", str(args.seeds),
            "--duration", str(args.duration)]
    with tempfile.TemporaryDirectory() as tmp:
        figures = {name: measure(name, argv, Path(tmp) / name) for name in ("local", "dask")}
    local, dask = figures["local"], figures["dask"]
    assert local["traces"] == dask["traces"], "the engine changed a battle"
    for name, f in figures.items():
        print(f"{name:5}: {f['battles']} battles, {f['wall']:.1f} s wall in run_tournament "
              f"({f['process_wall']:.1f} s with start-up), {f['cpu']:.1f} CPU s of which battles {f['battle_cpu']:.1f}")
    summary = {"battles": local["battles"], "duration": args.duration,
               "local_wall": round(local["wall"], 2), "dask_wall": round(dask["wall"], 2),
               "local_process_wall": round(local["process_wall"], 2),
               "dask_process_wall": round(dask["process_wall"], 2),
               "local_cpu": round(local["cpu"], 2), "dask_cpu": round(dask["cpu"], 2),
               "battle_cpu": round(local["battle_cpu"], 2),
               "wall_ratio": round(dask["wall"] / local["wall"], 3),
               "process_wall_ratio": round(dask["process_wall"] / local["process_wall"], 3),
               "cpu_ratio": round(dask["cpu"] / local["cpu"], 3), "same_traces": True}
    print(f"dask / local: wall {summary['wall_ratio']:.2f}x ({summary['process_wall_ratio']:.2f}x with start-up), "
          f"CPU {summary['cpu_ratio']:.2f}x")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
