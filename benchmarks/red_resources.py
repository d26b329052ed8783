"""Issue #12 figure: a red plugin cannot make the battle's memory or packet count grow without bound.

Runs the quickstart battle three ways, each in its own process so that peak RSS is its own:

* ``baseline``: as shipped;
* ``copies_bomb``: plus a red plugin that sets ``packet.copies = 10**6`` on every packet its node sends (before
  the typed hook caller this grew memory past 15 GB and was killed);
* ``flood``: plus a red plugin that sends 100,000 packets of 1 KB through the adversary capability every tick.

Both hostile plugins use only the public API. For each it prints wall and CPU seconds, peak RSS, packets sent, the
verdict and the fault that stopped the plugin; the last line is a JSON object with the ratios to the baseline.

Usage: python benchmarks/red_resources.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = {
    "copies_bomb": '''
        from __future__ import annotations

        from arena import NodeContext, Packet, Plugin, hookimpl


        class CopiesBomb(Plugin):
            """Asks for a million copies of every packet its node sends."""

            name = "copies_bomb"
            team = "red"

            @hookimpl
            def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
                packet.copies = 10**6
        ''',
    "flood": '''
        from __future__ import annotations

        from arena import Adversary, NodeContext, Plugin, hookimpl


        class Flood(Plugin):
            """Sends 100,000 packets of 1 KB to a validator every tick."""

            name = "flood"
            team = "red"

            @hookimpl
            def arena_adversary_ready(self, node: NodeContext, adversary: Adversary) -> None:
                self.adversary = adversary

            @hookimpl
            def arena_tick(self, node: NodeContext, now: float) -> None:
                target = self.adversary.validators()[0].address
                for _ in range(100_000):
                    self.adversary.send_raw(target, b"x" * 1000)
        ''',
}


def one(variant: str, seconds: float) -> dict[str, Any]:
    """Run one variant in this process (called in a child process by :func:`main`)."""
    from arena.plugin_host.registry import default_registry
    from arena.scenario.model import load_scenario
    from arena.sim.runner import run_battle

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        over: list[tuple[str, Any]] = [("duration", seconds), ("settle", min(20.0, seconds / 4))]
        if variant in PLUGINS:
            path = Path(tmp) / f"{variant}.py"
            path.write_text(textwrap.dedent(PLUGINS[variant]))
            files.append(path)
            over.append(("teams.red.plugins", [{"name": variant}]))
        sc = load_scenario(ROOT / "scenarios" / "quickstart.yaml", over)
        started, cpu0 = time.perf_counter(), time.process_time()
        result = run_battle(sc, out_dir=Path(tmp) / "run", registry=default_registry(files), report=False).result
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    faults = result.get("plugin_faults") or []
    return {"variant": variant, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "packets_sent": result["messages"]["sent"], "verdict": result["verdict"],
            "first_fault": (f"{faults[0]['plugin']} {faults[0]['kind']}: {faults[0]['error']}" if faults else None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(one(args.variant, args.seconds)))
        return
    rows = []
    for variant in ("baseline", "copies_bomb", "flood"):
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--seconds", str(args.seconds)],
                             check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        row = json.loads(out)
        rows.append(row)
        print(f"{variant:12} wall {row['wall_s']:6.2f} s  CPU {row['cpu_s']:6.2f} s  "
              f"peak {row['peak_rss_mib']:7.1f} MiB  packets {row['packets_sent']:8d}  {row['verdict']:8}  "
              f"{row['first_fault'] or ''}")
    base = rows[0]
    print(json.dumps({r["variant"]: {"rss_ratio": round(r["peak_rss_mib"] / base["peak_rss_mib"], 2),
                                     "cpu_ratio": round(r["cpu_s"] / base["cpu_s"], 2),
                                     "packets_ratio": round(r["packets_sent"] / base["packets_sent"], 2)}
                      for r in rows[1:]}))


if __name__ == "__main__":
    main()
