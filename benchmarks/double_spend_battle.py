"""Issue #6 figure: wall time of the double-spend battle (19 nodes) for 300 virtual seconds.

Usage: python benchmarks/double_spend_battle.py [--seconds 300] [--seed 1]
Prints wall seconds, virtual seconds per wall second, packets, and the verdict (which must still be red_won).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "day4_double_spend.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sc = load_scenario(SCENARIO, [("duration", args.seconds), ("settle", min(60.0, args.seconds / 4))])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        cpu0 = time.process_time()
        result = run_battle(sc, seed=args.seed, out_dir=Path(tmp) / "run").result
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"double-spend battle: {sc.node_count} nodes, {args.seconds:g} virtual s, seed {args.seed}")
    print(f"  wall {wall:.2f} s (CPU {cpu:.2f} s), {args.seconds / wall:.1f} virtual s per wall s "
          "(target: 300 in < 10)")
    print(f"  packets sent {result['messages']['sent']}, verdict {result['verdict']}, stolen {result['stolen']}")
    print(f"  peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
