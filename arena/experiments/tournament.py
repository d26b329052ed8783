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
* **Parallelism.** A ``concurrent.futures.ProcessPoolExecutor`` (``spawn``: nothing inherited) with one battle per
  task. A battle is a single-threaded, deterministic function of (scenario, seed), so where and in which order it
  runs changes nothing; results are sorted before anything is written. Not pytest-xdist: xdist distributes test
  items to workers and reports pass/fail, while a tournament is a command that gathers each battle's result into one
  table, needs no pytest collection, and controls its own worker count and output folder.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
from arena.plugin_host.registry import PluginError, Registry, default_registry
from arena.referee.baseline import compare
from arena.referee.checkers import VERDICTS, Verdict, describe_fault
from arena.referee.history import load_history
from arena.scenario.checks import check_scenario
from arena.scenario.model import load_scenario
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import run_battle

__all__ = ["Job", "TournamentError", "aggregate", "defense_overhead", "leaderboard", "plan", "run_summary",
           "run_tournament", "tournament_cmd", "unexpected_verdicts"]

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
         plugin_files: Sequence[str] = (), baseline: bool = True) -> Plan:
    """Check the names and scenarios (every battle's scenario is loaded and checked against the registry once) and
    list the battles to run."""
    scenarios = dict(scenarios or {})
    red = sorted(n for n, i in registry.plugins.items() if i.team == "red")
    blue = sorted(n for n, i in registry.plugins.items() if i.team == "blue")
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
    p = Plan(attacks, defenses, list(range(1, seeds + 1)), scenarios)
    common = tuple(params)
    for a in attacks:
        base = load_scenario(scenarios[a], list(common))
        check_scenario(base, scenarios[a], registry)
        existing = [u.model_dump() for u in base.teams.blue.plugins]
        for d in defenses:
            ov = common + ((("teams.blue.plugins", existing + [{"name": n} for n in defense_plugins(d)]),)
                           if d != NONE else ())
            # every setting validates before the first battle
            check_scenario(load_scenario(scenarios[a], list(ov)), scenarios[a], registry)
            for s in p.seeds:
                p.jobs.append(Job(a, d, s, scenarios[a], ov, str(out / "cells" / f"{a}__{d}" / f"seed{s}"),
                                  True, tuple(plugin_files)))
        if baseline:
            for s in p.seeds:
                p.jobs.append(Job(a, NONE, s, scenarios[a], common, str(out / "baselines" / a / f"seed{s}"),
                                  False, tuple(plugin_files)))
    return p


# ================================================ one battle ====================================================
_REGISTRIES: dict[tuple[str, ...], Registry] = {}


def run_job(job: Job) -> dict[str, Any]:
    """Run one battle into its run directory (with its ``scenario.yaml``); a compact summary of ``result.json``."""
    registry = _REGISTRIES.get(job.plugin_files)
    if registry is None:
        registry = _REGISTRIES[job.plugin_files] = default_registry(job.plugin_files)
    sc = load_scenario(job.scenario, list(job.overrides))
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.yaml").write_text(yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False))
    started, cpu = time.perf_counter(), time.process_time()
    r = run_battle(sc, seed=job.seed, out_dir=out, registry=registry, red_enabled=job.red, report=False).result
    return run_summary(job, r, wall_seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu)


def run_summary(job: Job, r: dict[str, Any], wall_seconds: float = 0.0, cpu_seconds: float = 0.0) -> dict[str, Any]:
    """A compact summary of one battle's ``result.json``: the referee's verdict fields as they are (the tournament
    defines no win of its own), cost figures, and the first plugin fault."""
    v = Verdict.from_result(r) or Verdict("unknown", "the result has no verdict")
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
    """``tournament.json``: one cell per (attack, defense setting) with verdict counts, stolen, cost; the runs."""
    base = {(r["attack"], r["seed"]): r for r in runs if not r["red"]}
    cells = []
    for a in p.attacks:
        for d in p.defenses:
            rs = sorted((r for r in runs if r["red"] and r["attack"] == a and r["defense"] == d),
                        key=lambda r: r["seed"])
            costs = [compare(r["_result"], base[(a, r["seed"])]["_result"]) for r in rs if (a, r["seed"]) in base]
            slashed = [s for r in rs for s in r["slashes"]]
            faulted = [r for r in rs if r["plugin_faults"]]
            cells.append({
                "attack": a, "defense": d, "scenario": p.scenarios[a], "seeds": [r["seed"] for r in rs],
                "counts": {v: sum(1 for r in rs if r["verdict"] == v) for v in VERDICTS},
                "held": bool(rs) and all(r["held"] for r in rs),
                "faulted_runs": len(faulted),
                "first_fault": faulted[0]["first_fault"] if faulted else None,
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
    return {"attacks": p.attacks, "defenses": p.defenses, "seeds": p.seeds, "scenarios": p.scenarios,
            "cells": cells, "baselines": baselines}


def defense_overhead(defended: dict[str, Any], undefended: dict[str, Any]) -> dict[str, Any]:
    """What a defense costs with no attack: two red-off results of one scenario and seed."""
    return compare(defended, undefended)


# ================================================ running =======================================================
def run_tournament(p: Plan, jobs: int = 1, progress: Callable[[dict[str, Any], int, int], None] | None = None
                   ) -> list[dict[str, Any]]:
    """Run every battle of the plan (``jobs`` worker processes; 1: in this process). Sorted, deterministic."""
    runs: list[dict[str, Any]] = []
    total = len(p.jobs)
    if jobs <= 1:
        for job in p.jobs:
            runs.append(run_job(job))
            if progress:
                progress(runs[-1], len(runs), total)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_job, job) for job in p.jobs]
            for fut in as_completed(futures):
                runs.append(fut.result())
                if progress:
                    progress(runs[-1], len(runs), total)
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
    """Mean stolen per cell (attacks down, defense settings across), each cell annotated with its verdicts; a cell
    with a faulted run is framed and hatched in magenta and says "faulted"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    attacks, defenses = doc["attacks"], doc["defenses"]
    cell = {(c["attack"], c["defense"]): c for c in doc["cells"]}
    grid = [[cell[(a, d)]["stolen"]["mean"] or 0.0 for d in defenses] for a in attacks]
    top = max(1.0, *(v for row in grid for v in row))
    fig, ax = plt.subplots(figsize=(max(6.0, 2.5 + 1.4 * len(defenses)), 1.8 + 0.8 * len(attacks)))
    im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=top, aspect="auto")
    for i, a in enumerate(attacks):
        for j, d in enumerate(defenses):
            c = cell[(a, d)]
            text = f"{grid[i][j]:.0f}\n{verdict_counts(c)}"
            if faulted_text(c):
                text += f"\n{faulted_text(c)}"
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#a0186e", hatch="//",
                                       lw=2.0, alpha=0.8))
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if grid[i][j] > top / 2 else "black")
    ax.set_xticks(range(len(defenses)), [d.replace("+", "+\n") for d in defenses], rotation=30, ha="right")
    ax.set_yticks(range(len(attacks)), attacks)
    ax.set_title(f"mean stolen per battle over {len(doc['seeds'])} seeds\nR/F/B/U: red won / faulted (a plugin was "
                 "disabled: says nothing) / blue won / unknown", fontsize=10)
    fig.colorbar(im, ax=ax, label="stolen (tokens)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def leaderboard(doc: dict[str, Any]) -> list[Table]:
    """The cells (verdicts, stolen, cost, notes; faulted cells say so first) and the defenses ranked by the attacks
    they held in every seed (a faulted run never holds)."""
    cells = Table(title=f"tournament: {len(doc['attacks'])} attacks x {len(doc['defenses'])} defense settings x "
                  f"{len(doc['seeds'])} seeds", caption="R/F/B/U: red won / faulted (a plugin was disabled: the "
                  "run says nothing) / blue won / unknown")
    for col in ("attack", "defense", "R/F/B/U", "stolen mean ± sd", "throughput", "latency Δ s", "notes"):
        cells.add_column(col, justify="left" if col in ("attack", "defense", "notes") else "right")
    for c in doc["cells"]:
        st, cost = c["stolen"], c["cost"]
        first = c.get("first_fault")
        faulted = [f"[magenta]{faulted_text(c)}[/] ({c['plugin_faults']} plugin faults"
                   + (f"; first: {escape(first['summary'])})" if first else ")")] if faulted_text(c) else []
        notes = ", ".join([*faulted, *(f"broke {k}" for k in c["broken"]),
                           *([f"{c['false_slashes']} false slashes"] if c["false_slashes"] else [])])
        lat = cost["latency_diff"]
        stolen = "-" if st["mean"] is None else f"{st['mean']:.0f} ± {st['sd']:.0f}"
        counts = "/".join(str(c["counts"].get(v, 0)) for v in VERDICTS)
        cells.add_row(c["attack"], c["defense"], f"[magenta]{counts} faulted[/]" if faulted else counts, stolen,
                      _pct(cost["throughput_ratio"]), "-" if lat is None else f"{lat:+.2f}", notes)
    ranks = Table(title="defenses ranked: attacks held in every seed (nothing stolen, nothing broken, no plugin "
                  "fault)")
    for col in ("defense", "attacks stopped", "faulted", "total stolen", "throughput"):
        ranks.add_column(col, justify="left" if col == "defense" else "right")
    rows = []
    for d in doc["defenses"]:
        mine = [c for c in doc["cells"] if c["defense"] == d]
        stopped = sum(1 for c in mine if c.get("held"))
        faulted_cells = sum(1 for c in mine if c.get("faulted_runs"))
        total = round(sum((c["stolen"]["mean"] or 0) * len(c["seeds"]) for c in mine))
        rows.append((d, stopped, faulted_cells, total, _mean(c["cost"]["throughput_ratio"] for c in mine)))
    # a defense whose plugin faulted ranks below one that did not, whatever was (not) stolen meanwhile
    for d, stopped, faulted_cells, total, tp in sorted(rows, key=lambda r: (-r[1], r[2], r[3], r[0])):
        ranks.add_row(d, f"{stopped}/{len(doc['attacks'])}",
                      f"[magenta]{faulted_cells}[/]" if faulted_cells else "0", str(total), _pct(tp))
    return [cells, ranks]


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
@click.option("--no-baseline", is_flag=True, help="Skip the red-off baselines (no cost columns).")
@click.option("--expect-all", "expect_all", type=VERDICT_CHOICE, default=None,
              help="Exit 1 if any battle's verdict (baselines aside) is not this one.")
@click.pass_context
def tournament_cmd(ctx: click.Context, attacks: tuple[str, ...], defenses: tuple[str, ...], seeds: int, jobs: int,
                   out_dir: str | None, params: tuple[str, ...], scenario_specs: tuple[str, ...],
                   plugins: tuple[str, ...], no_baseline: bool, expect_all: str | None) -> None:
    """Play every attack against every defense setting over several seeds, in parallel; leaderboard and heatmap."""
    out = Path(out_dir) if out_dir else Path("runs") / "tournament" / time.strftime("%Y%m%d-%H%M%S")
    try:
        scenarios = {}
        for spec in scenario_specs:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise ScenarioError(f"--scenario {spec!r}: expected ATTACK=PATH")
            scenarios[name.strip()] = path.strip()
        p = plan(default_registry(plugins), out, _split(attacks), _split(defenses), seeds,
                 [parse_param(x) for x in params], scenarios, [str(Path(f).resolve()) for f in plugins],
                 not no_baseline)
    except (ScenarioError, PluginError) as exc:
        raise TournamentError(str(exc)) from None
    console = make_console(stderr=True)
    console.print(f"{len(p.jobs)} battles ({len(p.attacks)} attacks x {len(p.defenses)} defense settings x "
                  f"{len(p.seeds)} seeds{'' if no_baseline else ' + baselines'}) on {jobs} worker(s) -> {out}")
    started = time.perf_counter()
    with progress("tournament", len(p.jobs), console=console) as bar:

        def tell(r: dict[str, Any], done: int, total: int) -> None:
            """Per battle: a line above the bar on a terminal; nothing in a log (the leaderboard says it all)."""
            what = f"{r['attack']} vs {r['defense']}" if r["red"] else f"{r['attack']} baseline"
            bar.print(f"[{done}/{total}] {escape(what)} seed {r['seed']}: {r['verdict']} stolen {r['stolen']} "
                      f"({r['wall_seconds']:.1f}s)")
            bar.advance(f"{what} seed {r['seed']}")

        runs = run_tournament(p, jobs, tell)
    doc = aggregate(p, runs)
    doc["timing"] = {"jobs": jobs, "battles": len(runs), "wall_seconds": round(time.perf_counter() - started, 2),
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


if __name__ == "__main__":  # pragma: no cover
    tournament_cmd()

