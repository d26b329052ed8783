"""py-ipv8's own tests, stock on real time against the arena oracle (issue #15, point 7): wall and CPU seconds.

Runs ``pytest --pyargs ipv8.test.test_community ipv8.test.peerdiscovery ipv8.test.dht`` as a subprocess of this
interpreter, once stock (py-ipv8's mock endpoint on asyncio's real-time loop) and once with ``-p arena.ipv8_oracle``
(the virtual-time loop and the simulated endpoint), alternating, ``--reps`` times each. CPU is user + system time of
the finished child (``resource.getrusage(RUSAGE_CHILDREN)`` before and after), so the machine's other load does not
count; wall time does include waiting for a core. The ratios are oracle / stock within this one run. The load
average is printed before and after, since wall figures mean little on a loaded machine.

Usage::

    .venv/bin/python benchmarks/ipv8_oracle.py              # 3 x each; about a minute and a half
    .venv/bin/python benchmarks/ipv8_oracle.py --reps 5

Prints one line per variant (median wall, median CPU, and CPU per wall second) and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["ipv8.test.test_community", "ipv8.test.peerdiscovery", "ipv8.test.dht"]
VARIANTS: dict[str, list[str]] = {"stock": [], "oracle": ["-p", "arena.ipv8_oracle"]}


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(extra: list[str]) -> tuple[float, float, str]:
    """One pytest run: (wall s, CPU s, its summary line); raises if a test failed."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *extra,
           "--pyargs", *MODULES]
    cpu0, t0 = child_cpu(), time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
    summary = [line for line in out.stdout.splitlines() if re.search(r"\d+ passed", line)]
    if out.returncode != 0 or not summary:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
    return wall, cpu, summary[-1].strip("= ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each variant (alternating)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
    summaries: dict[str, str] = {}
    for _ in range(args.reps):
        for variant, extra in VARIANTS.items():
            wall, cpu, summary = run_once(extra)
            walls[variant].append(wall)
            cpus[variant].append(cpu)
            summaries[variant] = summary
    load_after = os.getloadavg()
    figures: dict[str, dict[str, float | str]] = {}
    for variant in VARIANTS:
        wall, cpu = statistics.median(walls[variant]), statistics.median(cpus[variant])
        figures[variant] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "cpu_per_wall_s": round(cpu / wall, 2),
                            "tests": summaries[variant]}
        print(f"{variant:7s} wall {wall:6.2f} s  CPU {cpu:6.2f} s  ({cpu / wall:.2f} CPU s per wall s)  "
              f"[{summaries[variant]}]")
    wall_ratio = statistics.median(walls["oracle"]) / statistics.median(walls["stock"])
    cpu_ratio = statistics.median(cpus["oracle"]) / statistics.median(cpus["stock"])
    print(f"oracle / stock: wall {wall_ratio:.2f}x, CPU {cpu_ratio:.2f}x; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} CPUs)")
    print(json.dumps({"reps": args.reps, "figures": figures, "wall_ratio": round(wall_ratio, 3),
                      "cpu_ratio": round(cpu_ratio, 3), "load_before": [round(x, 2) for x in load_before],
                      "load_after": [round(x, 2) for x in load_after], "walls": walls, "cpus": cpus}))


if __name__ == "__main__":
    main()
