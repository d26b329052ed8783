"""Running a battle end to end: build the world, run it, write ``trace.jsonl`` and ``result.json``, judge.

``result.json`` carries the seal of the run directory (``seal``: sha256 and size of the trace and every state
file, :mod:`arena.referee.seal`); ``arena judge`` refuses a directory that no longer matches it.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from arena.plugin_host.registry import Registry, default_registry
from arena.protocols.base import WorldProtocol, get_protocol
from arena.referee.seal import seal
from arena.scenario.model import Scenario
from arena.sim.world import World


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("ipv8-arena", "pyipv8"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def default_out_dir(scenario: Scenario, root: Path = Path("runs")) -> Path:
    """``runs/<scenario>/<timestamp>/``: the wall clock names the folder only; it never enters the run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / scenario.name / stamp
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{stamp}-{n}")
    return path


@dataclass
class RunOutcome:
    result: dict[str, Any]
    out_dir: Path | None
    world: World


def run_battle(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out_dir: Path | None = None,
    registry: Registry | None = None,
    red_enabled: bool = True,
    progress: Callable[[float], None] | None = None,
    keep_trace: bool = False,
    cache_signatures: bool = True,
    watch: Callable[[World], None] | None = None,
    report: bool = True,
    protocol: WorldProtocol | None = None,
) -> RunOutcome:
    """Run ``scenario`` once in the simulator; write the run directory (with ``report.html``) when ``out_dir`` is
    given. ``watch`` receives the world before it runs (a progress display reads its counters). ``report=False``
    skips ``report.html`` (tournaments: ``arena report RUN_DIR`` builds it later from the files). ``protocol``
    replaces the scenario's ``protocol`` (``arena run --protocol``)."""
    seed = scenario.seed if seed is None else seed
    registry = registry or default_registry()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    if protocol is None:
        protocol = get_protocol(scenario.protocol)
    world = World(scenario, protocol, registry, out_dir, seed, keep_trace=keep_trace, red_enabled=red_enabled,
                  cache_signatures=cache_signatures)
    if watch is not None:
        watch(world)
    world.trace.header(seed=seed, scenario=scenario.name, scenario_sha256=scenario.digest(), backend="sim",
                       level=scenario.trace_level, versions=package_versions(), red_enabled=red_enabled)
    protocol.prepare(world)
    started = time.perf_counter()
    world.run(progress)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": seed,
        "backend": "sim",
        "virtual_seconds": scenario.duration,
        "wall_seconds": round(wall, 3),
        "messages": world.network.stats.as_dict(),
        "trace_sha256": world.trace.sha256,
        "trace_events": world.trace.lines,
        "red_enabled": red_enabled,
        "plugin_faults": world.plugin_faults,
    }
    result.update(protocol.final_state(world))
    if out_dir is not None:
        protocol.write_states(world, out_dir)
        # the trace file is closed: its bytes are those ``trace_sha256`` hashed as they were written
        result["seal"] = seal(out_dir)
        result.update(protocol.judge(out_dir, result))
        write_result(out_dir, result)
    if out_dir is not None and report:
        try:
            from arena.report.html import write_report

            write_report(out_dir)
        except Exception as exc:  # the report is a view: never lose the run over it
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            logging.getLogger("arena.report.html").warning("report.html not written for %s: %s: %s", out_dir,
                                                      type(exc).__name__, first)
    return RunOutcome(result, out_dir, world)


def write_result(out_dir: Path, result: dict[str, Any]) -> None:
    (out_dir / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
