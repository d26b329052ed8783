"""CPU cost of the ``arena`` command's start and of the report: ``arena --help``, ``arena run`` with and without
``--no-report``, and ``arena report`` alone (issue #14, "the report off the battle's path").

Each case runs as a subprocess of the installed ``arena`` script (beside this interpreter) several times; its CPU is
user + system time of the finished child, from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after (so the
machine's other load does not count, only this process's children). Two reference lines put the figures in context:
the bare interpreter (``python -c pass``) and ``import arena`` (the public plugin API that ``arena/__init__.py``
imports eagerly, which every ``arena`` command pays).

Usage::

    .venv/bin/python benchmarks/cli_startup.py                  # 7 x --help, 3 x each run; about a minute
    .venv/bin/python benchmarks/cli_startup.py --reps 10 --run-reps 5 --scenario scenarios/quickstart.yaml

Prints one line per case (min and median CPU seconds, median wall) and, last, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARENA = Path(sys.executable).parent / "arena"


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(cmd: list[str], reps: int, before: list[str] | None = None) -> dict[str, float | int]:
    """CPU and wall seconds of ``cmd`` over ``reps`` runs (``before``: run first each time, not measured)."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(reps):
        if before is not None:
            subprocess.run(before, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c0, w0 = child_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        w1, c1 = time.perf_counter(), child_cpu()
        if proc.returncode not in (0, 1):  # 1: an expectation not met is still a finished run
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
    return {"reps": reps, "cpu_min": round(min(cpu), 3), "cpu_median": round(statistics.median(cpu), 3),
            "wall_median": round(statistics.median(wall), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7, help="repetitions of the quick cases (--help, imports)")
    ap.add_argument("--run-reps", type=int, default=3, help="repetitions of each battle and report case")
    ap.add_argument("--scenario", default="scenarios/quickstart.yaml")
    ap.add_argument("--only", nargs="+", metavar="CASE", default=None,
                    help="measure only these cases (e.g. --only 'arena --help' 'arena run'; for a tree without "
                         "--no-report)")
    args = ap.parse_args()
    if not ARENA.is_file():
        raise SystemExit(f"no arena script at {ARENA}: install the project into this interpreter's venv")
    tmp = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    run_dir = tmp / "run"
    py = sys.executable
    cases: dict[str, tuple[list[str], int, list[str] | None]] = {
        "python -c pass": ([py, "-c", "pass"], args.reps, None),
        "python -c 'import arena'": ([py, "-c", "import arena"], args.reps, None),
        "arena --help": ([str(ARENA), "--help"], args.reps, None),
        "arena run": ([str(ARENA), "run", args.scenario, "--out", str(run_dir), "--quiet"], args.run_reps,
                      ["rm", "-rf", str(run_dir)]),
        "arena run --no-report": ([str(ARENA), "run", args.scenario, "--out", str(run_dir), "--quiet",
                                   "--no-report"], args.run_reps, ["rm", "-rf", str(run_dir)]),
        "arena report": ([str(ARENA), "report", str(run_dir)], args.run_reps, None),
    }
    unknown = set(args.only or ()) - set(cases)
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; the cases are {list(cases)}")
    figures: dict[str, dict[str, float | int]] = {}
    try:
        for name, (cmd, reps, before) in cases.items():
            if args.only is not None and name not in args.only:
                continue
            figures[name] = f = measure(cmd, reps, before)
            print(f"{name:28s} CPU min {f['cpu_min']:7.3f} s  median {f['cpu_median']:7.3f} s  "
                  f"(wall median {f['wall_median']:.3f} s, {reps} runs)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary: dict[str, object] = {"scenario": args.scenario, "figures": figures}
    if "arena run" in figures and "arena run --no-report" in figures:
        run, bare = figures["arena run"]["cpu_median"], figures["arena run --no-report"]["cpu_median"]
        summary["report_share_of_run"] = share = round((run - bare) / run, 3) if run else None
        if share is not None:
            print(f"the report is {share:.1%} of `arena run`'s CPU (medians)")
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
