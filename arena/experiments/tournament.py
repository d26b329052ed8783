"""Tournament: every chosen attack against every defense setting over N seeds, one battle per worker process.

``arena tournament [--attacks ...] [--defenses ...] [--seeds N] [-j JOBS] [--out DIR]`` prints a leaderboard and
writes ``tournament.json`` and ``heatmap.png`` to DIR.

* **Attack -> scenario.** Each attack plugin names the battle it is played in with a class attribute
  ``scenario`` (a file name in the repository's ``scenarios/`` folder, or a path); ``--scenario ATTACK=PATH``
  overrides it, and an attack without one cannot be played. The scenario is the attack's own: it holds the red
  node(s), their parameters and budget, and whatever makes the attack win when undefended.
* **Defense settings.** ``none``, one blue plugin, or several joined by ``+`` (``peer_diversity+costly_identity``).
  Their plugins are appended to the scenario's ``teams.blue.plugins`` with default parameters: every blue node
  runs them, and each acts where its role has something to defend. Default: ``none`` and every defense alone.
* **Runs.** Seeds 1..N. Battle (attack, defense, seed) runs in ``DIR/cells/<attack>__<defense>/seed<N>`` with the
  exact scenario beside it (``scenario.yaml``): ``arena run DIR/cells/.../scenario.yaml --seed N`` replays it
  (same trace hash) and ``arena judge`` re-judges it. Per (attack, seed) a baseline runs the same scenario with the
  red team off and no defense (``DIR/baselines/<attack>/seed<N>``): a cell's cost is its honest throughput and
  latency against that no-attack baseline.
* **Verdicts.** Each battle is judged by the referee as it ends; the tournament reads the verdict back from
  ``result.json`` (:meth:`Verdict.from_result`) and defines no win of its own. A battle where a plugin faulted says
  nothing about the defense (the plugin was disabled mid-battle): its cell shows "faulted" with the count, and it
  never counts as a defense holding (:attr:`Verdict.held`).
* **Exit codes.** 0 when every battle ran and was judged, whatever the verdicts; 1 with ``--expect-all VERDICT``
  when an attack battle's verdict (baselines aside) is another one (one line per such battle); 2 bad input (every
  scenario and setting is checked, plugins and topology included, before the first battle).
* **Parallelism.** One battle per task on an engine (:mod:`arena.experiments.engines`): by default a
  ``concurrent.futures.ProcessPoolExecutor`` (``spawn``: nothing inherited); ``--cluster tcp://HOST:8786`` a Dask
  scheduler's workers, ``--cluster local:N`` a Dask LocalCluster on this machine. A task carries the resolved
  scenario and the source of every ``--plugin`` file, so a worker needs only ipv8-arena installed. A battle is a
  single-threaded, deterministic function of (scenario, seed), so where and in which order it runs changes
  nothing; results are sorted before anything is written. Not pytest-xdist: xdist distributes test
  items to workers and reports pass/fail, while a tournament is a command that gathers each battle's result into one
  table, needs no pytest collection, and controls its own worker count and output folder.
* **Resume and replay.** Each battle has a cell id (:mod:`arena.experiments.cells`: a content hash of the resolved
  scenario, its plugins' source and the seed) and is stored in ``DIR/results/<id>.json`` as it finishes;
  ``--resume DIR`` runs only the battles whose id is not there, and ``arena replay DIR ID`` reruns one and checks
  its trace hash.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml
from rich.markup import escape
from rich.table import Table

from arena.cli.consoles import console as make_console
from arena.cli.errors import EXIT_BAD_INPUT, EXIT_EXPECTATION, EXIT_OK, VERDICT_CHOICE
from arena.cli.progress import progress
from arena.experiments.cells import CellStore, WorkerMismatch, cell_id, check_cell, materialize, short
from arena.experiments.engines import Engine, EngineError, LocalEngine, make_engine
from arena.plugin_host.registry import PluginError, Registry, default_registry
from arena.protocols.registry import ProtocolError
from arena.referee.baseline import compare
from arena.referee.checkers import VERDICTS, Verdict, describe_fault
from arena.referee.history import load_history
from arena.scenario.checks import check_scenario
from arena.scenario.model import Scenario, load_scenario, scenario_from_dict
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import run_battle

__all__ = ["CONTROL_HELD", "NO_CONTROL", "PARTIAL", "Job", "TournamentError", "aggregate", "annotate_trust",
           "attack_ranking", "control_lost", "control_outcomes", "defense_overhead", "defense_ranking", "heatmap_text",
           "leaderboard", "plan", "run_faulted", "run_summary", "run_tournament", "tournament_cmd", "trust_warnings",
           "unexpected_verdicts"]

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
NONE = "none"
#: Heatmap and leaderboard letters, in the order of the referee's VERDICTS.
LETTER = {"red_won": "R", "faulted": "F", "blue_won": "B", "unknown": "U"}


class TournamentError(click.ClickException):
    """Bad input to ``arena tournament``: a one-line message and exit code 2."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Job:
    """One battle: an attack's scenario with a defense setting and a seed (``red`` False: the baseline)."""

    attack: str
    defense: str
    seed: int
    scenario: str
    overrides: tuple[tuple[str, Any], ...]
    out_dir: str
    red: bool = True
    plugin_files: tuple[str, ...] = ()
    #: the resolved scenario (canonical JSON) the battle runs, so a worker needs no scenario file; "" -> the file
    scenario_json: str = ""
    #: :func:`arena.experiments.cells.cell_id` of this battle ("" for a job made by hand: not stored)
    cell_id: str = ""
    #: (path, text) of each ``--plugin`` file: shipped with the task to workers that do not share the filesystem
    plugin_sources: tuple[tuple[str, str], ...] = ()
    #: (path, text) of the ``--protocol`` file the battles run on (the scenario's ``protocol`` names its protocol)
    protocol_sources: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str, int, bool]:
        return self.attack, self.defense, self.seed, self.red


@dataclass
class Plan:
    attacks: list[str]
    defenses: list[str]
    seeds: list[int]
    scenarios: dict[str, str]
    jobs: list[Job] = field(default_factory=list)
    #: default attacks left out, with why (their scenario needs what the battle's protocol does not have)
    skipped: dict[str, str] = field(default_factory=dict)


# ================================================ planning ======================================================
def resolve_scenario(name: str) -> Path:
    """A scenario named by an attack: a path as given, else a file in the repository's ``scenarios/``."""
    p = Path(name)
    if p.is_file():
        return p
    if (SCENARIO_DIR / name).is_file():
        return SCENARIO_DIR / name
    raise ScenarioError(f"scenario {name!r} not found (looked in . and {SCENARIO_DIR})")


def defense_plugins(setting: str) -> list[str]:
    return [] if setting == NONE else setting.split("+")


def plan(registry: Registry, out: Path, attacks: Sequence[str] = (), defenses: Sequence[str] = (), seeds: int = 3,
         params: Sequence[tuple[str, Any]] = (), scenarios: dict[str, str] | None = None,
         plugin_files: Sequence[str] = (), baseline: bool = True, protocol_files: Sequence[str] = ()) -> Plan:
    """Check the names and scenarios (every battle's scenario is loaded and checked against the registry once) and
    list the battles to run."""
    scenarios = dict(scenarios or {})
    red = sorted(n for n, i in registry.plugins.items() if i.team == "red")
    blue = sorted(n for n, i in registry.plugins.items() if i.team == "blue")
    chosen = bool(attacks)
    attacks = list(attacks) or [n for n in red if getattr(registry.get(n).cls, "scenario", None) or n in scenarios]
    defenses = list(defenses) or [NONE, *blue]
    for a in attacks:
        if registry.get(a).team != "red":
            raise PluginError(f"--attacks: {a!r} is a blue plugin")
        scenarios.setdefault(a, getattr(registry.get(a).cls, "scenario", "") or "")
        if not scenarios[a]:
            raise PluginError(f"attack {a!r} names no scenario (class attribute `scenario`); pass --scenario {a}=PATH")
        scenarios[a] = str(resolve_scenario(scenarios[a]))
    for d in defenses:
        for name in defense_plugins(d):
            if registry.get(name).team != "blue":
                raise PluginError(f"--defenses: {name!r} is a red plugin")
    protocol = dict(params).get("protocol")
    skipped: dict[str, str] = {}
    if not chosen and protocol not in (None, "honest"):  # the defaults: only the attacks the protocol can host
        for a in list(attacks):
            if load_scenario(scenarios[a], list(params)).channels.enabled:
                attacks.remove(a)
                skipped[a] = "its scenario runs the channel workload, which only the honest protocol has"
    p = Plan(attacks, defenses, list(range(1, seeds + 1)), scenarios, skipped=skipped)
    common = tuple(params)
    files = tuple(plugin_files)
    sources = tuple((f, Path(f).read_text(encoding="utf-8")) for f in files)
    protocol_sources = tuple((f, Path(f).read_text(encoding="utf-8")) for f in protocol_files)

    def job(a: str, d: str, s: int, sc: Scenario, ov: tuple[tuple[str, Any], ...], run_dir: Path, red: bool) -> Job:
        return Job(a, d, s, scenarios[a], ov, str(run_dir), red, files,
                   json.dumps(sc.model_dump(mode="json"), sort_keys=True), cell_id(sc, registry, s, red), sources,
                   protocol_sources)

    for a in attacks:
        base = load_scenario(scenarios[a], list(common))
        check_scenario(base, scenarios[a], registry)
        existing = [u.model_dump() for u in base.teams.blue.plugins]
        for d in defenses:
            ov = common + ((("teams.blue.plugins", existing + [{"name": n} for n in defense_plugins(d)]),)
                           if d != NONE else ())
            # every setting validates before the first battle
            sc = load_scenario(scenarios[a], list(ov))
            check_scenario(sc, scenarios[a], registry)
            for s in p.seeds:
                p.jobs.append(job(a, d, s, sc, ov, out / "cells" / f"{a}__{d}" / f"seed{s}", True))
        if baseline:
            for s in p.seeds:
                p.jobs.append(job(a, NONE, s, base, common, out / "baselines" / a / f"seed{s}", False))
    return p


# ================================================ one battle ====================================================
_REGISTRIES: dict[tuple[tuple[str, str], ...], Registry] = {}


def job_registry(job: Job) -> Registry:
    """The registry of a job's plugin files, loaded once per process (keyed by path and text: a long-lived Dask
    worker never runs a changed plugin under an old import)."""
    files = materialize(job.plugin_sources) if job.plugin_sources else job.plugin_files
    key = tuple(zip(files, (t for _, t in job.plugin_sources), strict=False)) or tuple((f, "") for f in files)
    registry = _REGISTRIES.get(key)
    if registry is None:
        registry = _REGISTRIES[key] = default_registry(files)
    return registry


def job_scenario(job: Job) -> Scenario:
    """The job's resolved scenario, its ``--protocol`` file loaded first (shipped source, like plugin files)."""
    if job.protocol_sources:
        from arena.protocols.registry import load_files

        load_files(materialize(job.protocol_sources))
    return (scenario_from_dict(json.loads(job.scenario_json)) if job.scenario_json
            else load_scenario(job.scenario, list(job.overrides)))


def run_job(job: Job) -> dict[str, Any]:
    """Run one battle into its run directory (with its ``scenario.yaml``); a compact summary of ``result.json``
    with the battle's ``cell_id``. The one task of every engine (it runs on a worker)."""
    registry = job_registry(job)
    sc = job_scenario(job)
    check_cell(job.cell_id, sc, registry, job.seed, job.red)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.yaml").write_text(yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False))
    started, cpu = time.perf_counter(), time.process_time()
    r = run_battle(sc, seed=job.seed, out_dir=out, registry=registry, red_enabled=job.red, report=False).result
    summary = run_summary(job, r, wall_seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu)
    summary["cell_id"] = job.cell_id
    return summary


def run_summary(job: Job, r: dict[str, Any], wall_seconds: float = 0.0, cpu_seconds: float = 0.0) -> dict[str, Any]:
    """A compact summary of one battle's ``result.json``: the referee's verdict fields as they are (the tournament
    defines no win of its own), cost figures, the first plugin fault, which teams faulted and the liveness counts
    (what ``arena score`` needs to rescore the tournament from ``tournament.json`` alone)."""
    v = Verdict.from_result(r) or Verdict("unknown", "the result has no verdict")
    live = v.invariants.get("liveness") or {}
    out = Path(job.out_dir)
    latency = r.get("latency") or {}
    plugins = "".join(f" --plugin {f}" for f in job.plugin_files)
    first = v.faults[0] if v.faults else None
    return {
        "attack": job.attack, "defense": job.defense, "seed": job.seed, "red": job.red, "run_dir": str(out),
        "verdict": v.verdict, "verdict_reason": v.reason, "stolen": v.stolen,
        "stolen_by_kind": {k: n for k, n in v.stolen_by_kind.items() if n},
        "broken": v.broken, "held": v.held, "evidence": v.evidence_total,
        "latency_mean": latency.get("mean"), "latency_p95": latency.get("p95"),
        "finalized_txs": latency.get("count", 0),
        "virtual_seconds": r.get("virtual_seconds"), "wall_seconds": round(wall_seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3), "sim_seconds": r.get("wall_seconds"),
        "packets": (r.get("messages") or {}).get("sent"), "plugin_faults": len(v.faults),
        "first_fault": None if first is None else {**first, "summary": describe_fault(first)},
        "faulted_teams": sorted({str(f.get("team") or "?") for f in v.faults}),
        "liveness": {k: x for k, x in live.items() if k != "detail"} if "intents" in live else None,
        "slashes": slashes(out) if "equivocation_slashing" in job.defense else [],
        "trace_sha256": r.get("trace_sha256"),
        "replay": f"arena run {out / 'scenario.yaml'} --seed {job.seed}{plugins}"
                  + ("" if job.red else " --baseline  (the red-off run is its baseline/)"),
        "_result": r,
    }


def slashes(run_dir: Path) -> list[dict[str, Any]]:
    """Every ``slash`` a defense logged, with the offender's name and team (a blue offender: a false positive; an
    account no node has is a red Sybil)."""
    h = load_history(run_dir)
    out = []
    for ev in h.of("plugin", team=None):
        if ev.get("event") == "slash":
            acct = str(ev.get("offender", ""))
            name = h.acct_name.get(acct) or h.sybils.get(acct) or "?"
            out.append({"t": ev["t"], "by": ev.get("node"), "offender": name,
                        "team": "red" if h.red_side(acct) else "blue"})
    return out


# ================================================ aggregation ===================================================
def _stats(xs: list[float]) -> dict[str, float | None]:
    if not xs:
        return {"mean": None, "sd": None, "min": None, "max": None}
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return {"mean": round(mean, 3), "sd": round(sd, 3), "min": min(xs), "max": max(xs)}


def _mean(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(sum(vals) / len(vals), 6) if vals else None


def aggregate(p: Plan, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``tournament.json``: one cell per (attack, defense setting) with verdict counts, stolen, cost, the runs, and
    which seeds count (:func:`annotate_trust`: only those where the attack beat the undefended control)."""
    base = {(r["attack"], r["seed"]): r for r in runs if not r["red"]}
    cells = []
    for a in p.attacks:
        for d in p.defenses:
            rs = sorted((r for r in runs if r["red"] and r["attack"] == a and r["defense"] == d),
                        key=lambda r: r["seed"])
            costs = [compare(r["_result"], base[(a, r["seed"])]["_result"]) for r in rs if (a, r["seed"]) in base]
            slashed = [s for r in rs for s in r["slashes"]]
            faulted = [r for r in rs if run_faulted(r)]
            cells.append({
                "attack": a, "defense": d, "scenario": p.scenarios[a], "seeds": [r["seed"] for r in rs],
                "counts": {v: sum(1 for r in rs if r["verdict"] == v) for v in VERDICTS},
                "held": bool(rs) and all(r["held"] for r in rs),
                "faulted_runs": len(faulted),
                "first_fault": next((r["first_fault"] for r in faulted if r.get("first_fault")), None),
                "stolen": _stats([float(r["stolen"]) for r in rs]),
                "broken": sorted({k for r in rs for k in r["broken"]}),
                "latency_mean": _mean(r["latency_mean"] for r in rs),
                "cost": {
                    "throughput_ratio": _mean(c["throughput"]["ratio"] for c in costs),
                    "latency_diff": _mean(c["latency_mean"]["diff"] for c in costs),
                    "packets_ratio": _mean(c["messages_sent"]["ratio"] for c in costs),
                },
                "slashes": len(slashed), "false_slashes": sum(1 for s in slashed if s["team"] == "blue"),
                "plugin_faults": sum(r["plugin_faults"] for r in rs),
                "runs": [{k: v for k, v in r.items() if k != "_result"} for r in rs],
            })
    baselines = [{k: v for k, v in r.items() if k != "_result"}
                 for r in sorted(base.values(), key=lambda r: (r["attack"], r["seed"]))]
    doc = {"attacks": p.attacks, "defenses": p.defenses, "seeds": p.seeds, "scenarios": p.scenarios,
           "cells": cells, "baselines": baselines}
    annotate_trust(doc)  # which seeds count (the undefended control lost), flags, faults, verdicts per seed
    return doc


def defense_overhead(defended: dict[str, Any], undefended: dict[str, Any]) -> dict[str, Any]:
    """What a defense costs with no attack: two red-off results of one scenario and seed."""
    return compare(defended, undefended)


# ================================================ running =======================================================
def cell_record(job: Job) -> dict[str, Any]:
    """What replays a battle from its stored result alone: the resolved scenario, the seed, the plugin files."""
    return {"attack": job.attack, "defense": job.defense, "seed": job.seed, "red": job.red,
            "scenario": json.loads(job.scenario_json) if job.scenario_json else None,
            "plugin_sources": [list(s) for s in job.plugin_sources],
            "protocol_sources": [list(s) for s in job.protocol_sources], "run_dir": job.out_dir}


def stored_runs(p: Plan, store: CellStore) -> dict[tuple[str, str, int, bool], dict[str, Any]]:
    """The plan's battles already in the store (same cell id: same content), labelled as this plan names them."""
    found = store.load(j.cell_id for j in p.jobs if j.cell_id)
    return {j.key: {**found[j.cell_id], "attack": j.attack, "defense": j.defense, "seed": j.seed, "red": j.red}
            for j in p.jobs if j.cell_id in found}


def run_tournament(p: Plan, jobs: int = 1, progress: Callable[[dict[str, Any], int, int], None] | None = None,
                   engine: Engine | None = None, store: CellStore | None = None,
                   done: dict[tuple[str, str, int, bool], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run the plan's battles on ``engine`` (default: ``jobs`` local processes; 1: in this process), each saved to
    ``store`` as it finishes and told to ``progress(summary, done, total)``; the battles in ``done`` (from
    :func:`stored_runs`) are not run again. Sorted, deterministic."""
    done = dict(done or {})
    todo = [j for j in p.jobs if j.key not in done]
    by_key = {j.key: j for j in todo}
    runs = list(done.values())
    engine = engine if engine is not None else LocalEngine(jobs)
    for n, r in enumerate(engine.run(run_job, todo), start=1):
        job = by_key[(r["attack"], r["defense"], r["seed"], r["red"])]
        if store is not None and job.cell_id:
            store.save(r, cell_record(job))
        runs.append(r)
        if progress:
            progress(r, n, len(todo))
    return sorted(runs, key=lambda r: (r["attack"], r["defense"], r["seed"], r["red"]))


def write_outputs(doc: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "tournament.json").write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    plot_heatmap(doc, out / "heatmap.png")


def verdict_counts(c: dict[str, Any]) -> str:
    """``R1 F0 B2 U0``: a cell's runs by verdict (red won, faulted, blue won, unknown)."""
    return " ".join(f"{LETTER[v]}{c['counts'].get(v, 0)}" for v in VERDICTS)


def faulted_text(c: dict[str, Any]) -> str:
    """``faulted 1/3``: how many of a cell's runs had a plugin fault ("" when none did)."""
    return f"faulted {c['faulted_runs']}/{len(c['runs'])}" if c.get("faulted_runs") else ""


def plot_heatmap(doc: dict[str, Any], path: Path) -> None:
    """Mean stolen per cell (attacks down, defense settings across), each cell annotated with its verdicts over the
    seeds, stolen min/mean/max and "varies" when the seeds disagree; a cell with a faulted run is framed and hatched
    in magenta with the first fault's plugin and line; a cell whose control did not lose is hatched grey and says
    it does not count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    doc = _with_trust(doc)
    attacks, defenses = doc["attacks"], doc["defenses"]
    cell = {(c["attack"], c["defense"]): c for c in doc["cells"]}
    grid = [[cell[(a, d)]["stolen"]["mean"] or 0.0 for d in defenses] for a in attacks]
    top = max(1.0, *(v for row in grid for v in row))
    fig, ax = plt.subplots(figsize=(max(6.0, 2.5 + 2.2 * len(defenses)), 2.2 + 1.3 * len(attacks)))
    im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=top, aspect="auto")
    for i, a in enumerate(attacks):
        for j, d in enumerate(defenses):
            c = cell[(a, d)]
            if c["flag"]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#777777", hatch="..",
                                       lw=1.5, alpha=0.8))
            if faulted_text(c):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#a0186e", hatch="//",
                                       lw=2.0, alpha=0.8))
            ax.text(j, i, heatmap_text(c), ha="center", va="center", fontsize=7,
                    color="white" if grid[i][j] > top / 2 else "black")
    ax.set_xticks(range(len(defenses)), [d.replace("+", "+\n") for d in defenses], rotation=30, ha="right")
    ax.set_yticks(range(len(attacks)), attacks)
    ax.set_title(f"mean stolen per battle over {len(doc['seeds'])} seeds (stolen: min / mean / max)\nfaulted: a "
                 f"plugin was disabled (the run says nothing)\n{CONTROL_HELD} / {PARTIAL}: the undefended control "
                 "did not lose on all / some seeds (those do not count)", fontsize=9)
    fig.colorbar(im, ax=ax, label="stolen (tokens)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def leaderboard(doc: dict[str, Any]) -> list[Table]:
    """The cells (verdicts per seed, stolen, which seeds count, cost, notes; faulted cells say so first), the
    defenses ranked by the share of counted attack-seeds they held, the attacks by tokens stolen over counted
    seeds, and one yellow warning per attack whose undefended control did not lose on some seed (those battles
    are out of the ranking: a defense cannot be credited for stopping an attack that did not work)."""
    doc = _with_trust(doc)
    cells = Table(title=f"tournament: {len(doc['attacks'])} attacks x {len(doc['defenses'])} defense settings x "
                  f"{len(doc['seeds'])} seeds", caption="counted: seeds where the attack beat the undefended "
                  f"control ({NONE}); faulted: a plugin was disabled, the run says nothing and never holds")
    for col in ("attack", "defense", "verdicts over seeds", "stolen min / mean / max", "counted", "throughput",
                "latency Δ s", "notes"):
        cells.add_column(col, justify="left" if col in ("attack", "defense", "verdicts over seeds", "notes")
                         else "right")
    for c in doc["cells"]:
        cost = c["cost"]
        first = c.get("first_fault")
        error = f" ({first['error']})" if first and first.get("error") else ""
        faulted = [f"[magenta]{faulted_text(c)}[/] ({c['plugin_faults']} plugin faults"
                   + (f"; first: {escape(fault_where(first) + error)})" if first else ")")] if faulted_text(c) else []
        notes = ", ".join([*faulted, *(f"broke {k}" for k in c["broken"]),
                           *([f"{c['false_slashes']} false slashes"] if c["false_slashes"] else [])])
        lat = cost["latency_diff"]
        verdicts = escape(c["verdicts"]) + (" [yellow]varies[/]" if c["varies"] else "")
        counted = f"{len(c['counted_seeds'])}/{len(c['runs'])}"
        cells.add_row(escape(c["attack"]), escape(c["defense"]),
                      f"[magenta]{verdicts}[/]" if faulted else verdicts, stolen_text(c["stolen"]),
                      f"[yellow]{counted} {c['flag']}[/]" if c["flag"] else counted,
                      _pct(cost["throughput_ratio"]), "-" if lat is None else f"{lat:+.2f}", notes)
    ranks = Table(title="defenses ranked: attacks stopped on the seeds that count (the undefended control lost): "
                  "nothing stolen, nothing broken, no plugin fault")
    for col in ("defense", "held / counted", "faulted", "stolen", "share held", "throughput", "note"):
        ranks.add_column(col, justify="left" if col in ("defense", "note") else "right")
    for r in defense_ranking(doc):
        ranks.add_row(escape(r["defense"]), f"{r['held']}/{r['counted']}",
                      f"[magenta]{r['faulted']}[/]" if r["faulted"] else "0", str(r["stolen"]), _pct(r["share"]),
                      _pct(r["throughput"]), "undefended control" if r["control"] else
                      "nothing counted" if not r["counted"] else "")
    attacks = Table(title="attacks ranked: tokens stolen from defenses on the seeds that count")
    for col in ("attack", "stolen", "not held / counted", "control stolen", "control lost on", "faulted runs"):
        attacks.add_column(col, justify="left" if col == "attack" else "right")
    for r in attack_ranking(doc):
        lost = ", ".join(map(str, r["control_lost"])) or "no seed"
        attacks.add_row(escape(r["attack"]), str(r["stolen"]), f"{r['beaten']}/{r['counted']}",
                        str(r["control_stolen"]), f"{lost} of {r['seeds']}" if r["control_lost"] else
                        f"[yellow]{lost}[/]", f"[magenta]{r['faulted']}[/]" if r["faulted"] else "0")
    warnings = Table.grid()
    warnings.add_column()
    for line in doc["warnings"]:
        warnings.add_row(f"[bold yellow]warning:[/] [yellow]{escape(line)}[/]")
    return [cells, ranks, attacks, warnings]


def unexpected_verdicts(runs: Iterable[dict[str, Any]], verdict: str) -> list[str]:
    """One line per attack battle (baselines aside) whose verdict is not ``verdict``."""
    from arena.pytest_plugin import expectation_failures  # the comparison the scenario-file tests make

    return [f"{r['attack']} vs {r['defense']} seed {r['seed']}: {problem}"
            for r in runs if r["red"] for problem in expectation_failures(r, verdict=verdict)]


def _split(values: Iterable[str]) -> list[str]:
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


@click.command("tournament", epilog="Exit codes: 0 every battle finished and was judged, whatever the verdicts; 1 "
               "--expect-all was given and a battle's verdict differs (one line each); 2 bad input. A plugin never "
               "chooses the exit code.")
@click.option("--attacks", "attacks", multiple=True, help="Attacks to play (comma-separated or repeated; default: "
              "every attack that names its scenario).")
@click.option("--defenses", "defenses", multiple=True, help="Defense settings: none, a defense, or a+b "
              "(default: none and every defense alone).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds 1..N per cell.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores",
              help="Worker processes (1: run in this process).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default runs/tournament/<time>).")
@click.option("--param", "params", multiple=True, help="Override a key in every scenario: duration=300.")
@click.option("--scenario", "scenario_specs", multiple=True, help="ATTACK=PATH: play an attack in another scenario.")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(dir_okay=False), help="Load a plugin file.")
@click.option("--protocol", "protocol", default=None, help="Play every battle on this protocol instead of the "
              "scenarios': a file (ourchain.py), an installed name, or package.module:Class (docs/protocols.md).")
@click.option("--no-baseline", is_flag=True, help="Skip the red-off baselines (no cost columns).")
@click.option("--expect-all", "expect_all", type=VERDICT_CHOICE, default=None,
              help="Exit 1 if any battle's verdict (baselines aside) is not this one.")
@click.option("--cluster", default=None, metavar="ADDRESS", help="Run the battles on Dask: tcp://HOST:8786 (a "
              "scheduler) or local:N (a LocalCluster of N workers on 127.0.0.1); needs "
              "pip install 'ipv8-arena[cluster]'. -j is then unused.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Continue the tournament in DIR: battles whose cell id is in DIR/results/ are not run again "
              "(give the same options; more seeds, attacks or defenses run only the new battles).")
@click.pass_context
def tournament_cmd(ctx: click.Context, attacks: tuple[str, ...], defenses: tuple[str, ...], seeds: int, jobs: int,
                   out_dir: str | None, params: tuple[str, ...], scenario_specs: tuple[str, ...],
                   plugins: tuple[str, ...], protocol: str | None, no_baseline: bool, expect_all: str | None,
                   cluster: str | None, resume_dir: str | None) -> None:
    """Play every attack against every defense setting over several seeds, in parallel; leaderboard and heatmap."""
    if resume_dir is not None:
        if out_dir is not None and Path(out_dir).resolve() != Path(resume_dir).resolve():
            raise TournamentError(f"--resume {resume_dir} writes into {resume_dir}: drop --out {out_dir}")
        if not Path(resume_dir).is_dir():
            raise TournamentError(f"--resume {resume_dir}: no such tournament folder")
        out_dir = resume_dir
    out = Path(out_dir) if out_dir else Path("runs") / "tournament" / time.strftime("%Y%m%d-%H%M%S")
    try:
        scenarios = {}
        for spec in scenario_specs:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise ScenarioError(f"--scenario {spec!r}: expected ATTACK=PATH")
            scenarios[name.strip()] = path.strip()
        overrides = [parse_param(x) for x in params]
        protocol_files: list[str] = []
        if protocol is not None:
            from arena.protocols.registry import is_file_ref, scenario_name

            overrides.append(("protocol", scenario_name(protocol)))
            protocol_files = [str(Path(protocol).resolve())] if is_file_ref(protocol) else []
        p = plan(default_registry(plugins), out, _split(attacks), _split(defenses), seeds, overrides, scenarios,
                 [str(Path(f).resolve()) for f in plugins], not no_baseline, protocol_files)
    except (ScenarioError, PluginError, ProtocolError) as exc:
        raise TournamentError(str(exc)) from None
    store = CellStore(out)
    done = stored_runs(p, store) if resume_dir is not None else {}
    console = make_console(stderr=True)
    try:
        engine = make_engine(cluster, jobs)
    except EngineError as exc:
        raise TournamentError(str(exc)) from None
    for a, why in p.skipped.items():
        console.print(f"[yellow]note:[/yellow] {escape(a)} left out: {escape(why)} (name it in --attacks to see why)")
    with engine:
        console.print(f"{len(p.jobs)} battles ({len(p.attacks)} attacks x {len(p.defenses)} defense settings x "
                      f"{len(p.seeds)} seeds{'' if no_baseline else ' + baselines'}) on {engine.describe} -> {out}"
                      + (f"; {len(done)} already done in {store.dir}" if resume_dir is not None else ""))
        started = time.perf_counter()
        runs = _run_with_bar(p, engine, store, done, console)
    doc = aggregate(p, runs)
    doc["timing"] = {"jobs": jobs, "engine": engine.describe if cluster is None else f"dask {cluster}",
                     "battles": len(runs), "ran": len(runs) - len(done), "reused": len(done),
                     "wall_seconds": round(time.perf_counter() - started, 2),
                     "battle_seconds": round(sum(r["wall_seconds"] for r in runs), 2)}
    write_outputs(doc, out)
    for table in leaderboard(doc):
        make_console().print(table)
    click.echo(f"wrote {out / 'tournament.json'} and {out / 'heatmap.png'} "
               f"({doc['timing']['wall_seconds']:.0f}s wall for {doc['timing']['battle_seconds']:.0f}s of battles)")
    problems = unexpected_verdicts(runs, expect_all) if expect_all is not None else []
    for line in problems:
        click.echo(f"expectation not met: {line}", err=True)
    ctx.exit(EXIT_EXPECTATION if problems else EXIT_OK)


def _run_with_bar(p: Plan, engine: Engine, store: CellStore, done: dict[tuple[str, str, int, bool], dict[str, Any]],
                  console: Any) -> list[dict[str, Any]]:
    """The battles not yet done, with a line per battle above the bar as it finishes (on a terminal)."""
    with progress("tournament", len(p.jobs) - len(done), console=console) as bar:

        def tell(r: dict[str, Any], n: int, total: int) -> None:
            """Per battle: a line above the bar on a terminal; nothing in a log (the leaderboard says it all)."""
            what = f"{r['attack']} vs {r['defense']}" if r["red"] else f"{r['attack']} baseline"
            bar.print(f"[{n}/{total}] {escape(what)} seed {r['seed']}: {r['verdict']} stolen {r['stolen']} "
                      f"({r['wall_seconds']:.1f}s, cell {short(r['cell_id'])})")
            bar.advance(f"{what} seed {r['seed']}")

        try:
            return run_tournament(p, engine=engine, progress=tell, store=store, done=done)
        except WorkerMismatch as exc:  # the battles finished so far are stored: --resume goes on after the fix
            raise TournamentError(str(exc)) from None


# ================================================ trusting the results ==========================================
#: Cell flags: the attack beat the undefended control on no seed of the cell, on some only, or no control was played.
CONTROL_HELD, PARTIAL, NO_CONTROL = "control_held", "partial", "no_control"


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def control_lost(run: Mapping[str, Any]) -> bool:
    """The undefended control lost this run: the referee said ``red_won`` and something was stolen. Only then does
    the seed show that the attack works, so only then can a defense be credited for stopping it there."""
    return run.get("verdict") == "red_won" and (_number(run.get("stolen")) or 0.0) > 0


def control_outcomes(doc: Mapping[str, Any]) -> dict[tuple[str, int], bool]:
    """(attack, seed) -> did the attack beat the undefended control (defense ``none``) on that seed, for every
    control run in a ``tournament.json`` value. The one rule both the leaderboard and ``arena score`` apply: a cell
    (attack, defense) counts a seed only where this is True. Pure; malformed cells and runs are skipped, and a seed
    with two control runs counts as lost only if both lost."""
    out: dict[tuple[str, int], bool] = {}
    cells = doc.get("cells") if isinstance(doc, Mapping) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, Mapping) or cell.get("defense") != NONE or not isinstance(cell.get("attack"), str):
            continue
        runs = cell.get("runs")
        for run in runs if isinstance(runs, list) else []:
            seed = run.get("seed") if isinstance(run, Mapping) else None
            if isinstance(seed, int) and not isinstance(seed, bool):
                key = (cell["attack"], seed)
                out[key] = out.get(key, True) and control_lost(run)
    return out


def run_faulted(run: Mapping[str, Any]) -> bool:
    """A plugin faulted in this battle (either team, or the verdict says so): it was disabled mid-battle, so the
    run is shown as a fault and never as a defense holding."""
    return run.get("verdict") == "faulted" or bool(_number(run.get("plugin_faults")))


def verdict_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """``red_won x2, blue_won x1``: a cell's verdicts over its seeds, in the referee's order of verdicts."""
    n = {v: sum(1 for r in runs if r.get("verdict") == v) for v in VERDICTS}
    other = sum(1 for r in runs if r.get("verdict") not in VERDICTS)
    return ", ".join([*(f"{v} x{k}" for v, k in n.items() if k), *([f"other x{other}"] if other else [])]) or "-"


def stolen_text(st: Mapping[str, Any]) -> str:
    """Stolen over a cell's seeds: ``0 / 33.3 / 50`` (min / mean / max), one number when they agree."""
    lo, mean, hi = (_number(st.get(k)) for k in ("min", "mean", "max"))
    if lo is None or mean is None or hi is None:
        return "-"
    return f"{lo:g}" if lo == hi else f"{lo:g} / {round(mean, 1):g} / {hi:g}"


def fault_where(fault: Mapping[str, Any] | None) -> str:
    """``double_spend at attacks/double_spend.py:41``: the faulting plugin and its own line (deepest frame)."""
    if not isinstance(fault, Mapping):
        return ""
    where = fault.get("where")
    at = f" at {where[-1]}" if isinstance(where, list) and where else ""
    team = f"{fault['team']} " if fault.get("team") else ""
    return f"{team}{fault.get('plugin', '?')}{at}"


def heatmap_text(c: Mapping[str, Any]) -> str:
    """A heatmap cell's annotation: stolen min/mean/max, the verdicts over the seeds ("varies" when they differ),
    the flag and how many seeds count, and the faults with the first one's plugin and line."""
    lines = [f"stolen {stolen_text(c['stolen'])}", str(c["verdicts"]).replace(", ", "\n")]
    if c["varies"]:
        lines.append("varies")
    if c["flag"]:
        lines.append(f"{c['flag']}: {len(c['counted_seeds'])}/{len(c['runs'])} seeds count")
    if c.get("faulted_runs"):
        lines.append(f"faulted {c['faulted_runs']}/{len(c['runs'])}")
        if c.get("first_fault"):
            lines.append(fault_where(c["first_fault"]).replace(" at ", "\nat "))  # two short lines fit a cell
    return "\n".join(lines)


def annotate_trust(doc: dict[str, Any]) -> None:
    """Add to each cell what makes it trustworthy: ``control_lost_seeds`` (seeds where its attack beat the control),
    ``counted_seeds`` (its seeds among them), ``counted_held``/``counted_stolen`` over those, ``flag``
    (:data:`CONTROL_HELD`, :data:`PARTIAL`, :data:`NO_CONTROL` or None), ``faulted_seeds``, ``verdicts`` (per
    seed, as text) and ``varies``; and ``warnings`` to the document (:func:`trust_warnings`)."""
    control = control_outcomes(doc)
    for c in doc["cells"]:
        runs = sorted(c["runs"], key=lambda r: r["seed"])
        lost = sorted(s for (a, s), won in control.items() if a == c["attack"] and won)
        counted = [r for r in runs if control.get((c["attack"], r["seed"]))]
        has_control = any(a == c["attack"] for a, _ in control)
        c["control_lost_seeds"] = lost
        c["counted_seeds"] = [r["seed"] for r in counted]
        c["counted_held"] = sum(1 for r in counted if r["held"] and not run_faulted(r))
        c["counted_stolen"] = sum(int(_number(r["stolen"]) or 0) for r in counted)
        c["flag"] = (NO_CONTROL if not has_control else CONTROL_HELD if not counted
                     else PARTIAL if len(counted) < len(runs) else None)
        c["faulted_seeds"] = [r["seed"] for r in runs if run_faulted(r)]
        c["verdicts"] = verdict_text(runs)
        c["varies"] = len({r.get("verdict") for r in runs}) > 1
    doc["warnings"] = trust_warnings(doc)


def trust_warnings(doc: Mapping[str, Any]) -> list[str]:
    """One line per attack with seeds that do not count (its undefended control did not lose there): which seeds,
    the control's verdict on each, and that those battles are out of the ranking."""
    control = {(c["attack"], r["seed"]): r for c in doc["cells"] if c["defense"] == NONE for r in c["runs"]}
    lines = []
    for a in doc["attacks"]:
        seeds = sorted({r["seed"] for c in doc["cells"] if c["attack"] == a for r in c["runs"]})
        if not any(k[0] == a for k in control):
            lines.append(f"{a}: no undefended control (defense {NONE}) was played, so nothing shows the attack works:"
                         f" its cells are flagged {NO_CONTROL} and left out of the ranking (add --defenses {NONE})")
            continue
        bad = [s for s in seeds if not control_lost(control.get((a, s), {}))]
        if not bad:
            continue
        why = ", ".join(f"seed {s} ({control[(a, s)]['verdict']}, stolen {control[(a, s)]['stolen']})"
                        if (a, s) in control else f"seed {s} (no control run)" for s in bad)
        scope = "any seed" if len(bad) == len(seeds) else f"{len(bad)} of {len(seeds)} seeds"
        lines.append(f"{a} did not beat the undefended control on {scope}: {why}; its battles on "
                     f"{'those seeds' if len(bad) > 1 else 'that seed'} are left out of the ranking"
                     + (f" (cells flagged {CONTROL_HELD}: is red active long enough?)" if len(bad) == len(seeds)
                        else f" (cells flagged {PARTIAL})"))
    return lines


def defense_ranking(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Defense settings ranked by the share of counted attack-seeds they held (nothing stolen, nothing broken, no
    plugin fault), then fewer faulted counted battles, then less stolen; a setting with nothing counted is last."""
    rows = []
    for d in doc["defenses"]:
        mine = [c for c in doc["cells"] if c["defense"] == d]
        counted = sum(len(c["counted_seeds"]) for c in mine)
        held = sum(c["counted_held"] for c in mine)
        faulted = sum(1 for c in mine for s in c["counted_seeds"] if s in c["faulted_seeds"])
        rows.append({"defense": d, "held": held, "counted": counted, "share": held / counted if counted else None,
                     "faulted": faulted, "stolen": sum(c["counted_stolen"] for c in mine),
                     "throughput": _mean(c["cost"]["throughput_ratio"] for c in mine), "control": d == NONE})
    return sorted(rows, key=lambda r: (r["share"] is None, -(r["share"] or 0.0), r["faulted"], r["stolen"],
                                       r["defense"]))


def attack_ranking(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Attacks ranked by tokens stolen from real defenses over counted seeds, then from the control over them."""
    rows = []
    for a in doc["attacks"]:
        mine = [c for c in doc["cells"] if c["attack"] == a]
        defended = [c for c in mine if c["defense"] != NONE]
        rows.append({"attack": a, "stolen": sum(c["counted_stolen"] for c in defended),
                     "control_stolen": sum(c["counted_stolen"] for c in mine if c["defense"] == NONE),
                     "beaten": sum(len(c["counted_seeds"]) - c["counted_held"] for c in defended),
                     "counted": sum(len(c["counted_seeds"]) for c in defended),
                     "control_lost": next((c["control_lost_seeds"] for c in mine), []),
                     "seeds": len({r["seed"] for c in mine for r in c["runs"]}),
                     "faulted": sum(c["faulted_runs"] for c in mine)})
    return sorted(rows, key=lambda r: (-r["stolen"], -r["control_stolen"], r["attack"]))


def _with_trust(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with :func:`annotate_trust`'s fields (a copy when a document written before them lacks them)."""
    if all("counted_seeds" in c for c in doc["cells"]) and "warnings" in doc:
        return doc
    doc = copy.deepcopy(doc)
    annotate_trust(doc)
    return doc


if __name__ == "__main__":  # pragma: no cover
    tournament_cmd()

