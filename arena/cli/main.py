"""The ``arena`` command. Exit codes (:mod:`arena.cli.errors`): 0 the battle finished and was judged, whatever the
verdict; 1 an expectation (the scenario's ``expect:``, ``--expect``) was not met; 2 bad input; 3 the run crashed.

Imports stay lazy: this module imports click and nothing heavy at the top; each command imports what it needs
when it runs, and the commands of other modules are imported only when used (:class:`arena.cli.lazy.LazyGroup`),
so ``arena --help`` loads no simulator, live backend, report or plotting library (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from arena import __version__
from arena.cli.errors import EXIT_CODES_HELP, EXIT_CRASH, VERDICT_CHOICE, UserError, err_console, exit_for
from arena.cli.errors import user_errors as _user_errors
from arena.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from arena.scenario.model import Scenario
    from arena.sim.world import World

#: The commands that live in their own modules (one job per file): name -> (where, the first line of its help).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "channels": ("arena.experiments.channels:channels_cmd", "Compare channel topologies: payment success, hops, "
                 "latency, fees, liquidity depletion, busiest relay."),
    "conform": ("arena.cli.conform:conform_cmd", "Check a protocol against the arena's rules in short battles: "
                "supply, double spend, crash, wire schema."),
    "judge": ("arena.cli.judge:judge_cmd", "Judge RUN_DIR again from its trace and final states; write the verdict "
              "into its result.json."),
    "keygen": ("arena.cli.live:keygen_cmd", "Create a node's private key file (never derived from the seed) and "
               "print its public key for the roster."),
    "live": ("arena.cli.live:live_cmd", "Run a battle live: real py-ipv8 UDP endpoints on loopback, nodes in worker "
             "processes, in real time."),
    "new": ("arena.cli.scaffold:new_cmd", "Create a new attack or defense plugin with a scenario and a test."),
    "node": ("arena.cli.live:node_cmd", "Run one node of a live battle (each team starts its own nodes with its own "
             "keys and plugins)."),
    "protocols": ("arena.cli.protocols:protocols_cmd", "List the protocols a battle can run: built in, installed "
                  "(entry point group arena.protocols), or files."),
    "reference": ("arena.cli.reference:reference_cmd", "Print, write or check the references generated from the "
                  "code (scenario keys, wire schema, codes, honest behaviour, referee contract)."),
    "replay": ("arena.experiments.replay:replay_cmd", "Rerun one tournament battle from its cell id and check "
               "its trace sha256 against the recorded one."),
    "schema": ("arena.cli.schema:schema_cmd", "Print the wire schema (messages and signed objects) and its "
               "fingerprint; write or check the lock."),
    "score": ("arena.cli.score:score_cmd", "Rescore a finished tournament from its tournament.json, without "
              "rerunning a battle."),
    "sweep": ("arena.experiments.sweep:sweep_cmd", "Run a scenario under several cases and seeds; compare stake, "
              "block and reward shares per validator."),
    "tournament": ("arena.experiments.tournament:tournament_cmd", "Play every attack against every defense setting "
                   "over several seeds, in parallel; leaderboard and heatmap."),
}


def out() -> Console:
    """A console on stdout (rich is imported on first use). Made afresh for each use, never cached: whether the
    output is a terminal, and so how wide tables may be, is the stream's of the moment."""
    from arena.cli.consoles import console

    return console()


def escape(text: str) -> str:
    """``text`` with rich markup escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def user_errors() -> AbstractContextManager[None]:
    """Bad input becomes a one-line message and exit 2; a crash of the simulated world exits 3."""
    from arena.protocols.hosted import StateError
    from arena.sim.loop import SimulationError

    return _user_errors((SimulationError, StateError), "run crashed")


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
@click.version_option(__version__, prog_name="arena")
def main() -> None:
    """ipv8-arena: red-vs-blue battles on py-ipv8 blockchains, simulated or live."""


def load(path: str, params: tuple[str, ...] = ()) -> Scenario:
    from arena.scenario.model import load_scenario
    from arena.scenario.yamlsource import parse_param

    return load_scenario(path, [parse_param(p) for p in params])


class BattleProgress:
    """The progress callback of a run: virtual time, packets sent, evidence so far and a provisional status."""

    def __init__(self, prog: Progress, task: TaskID) -> None:
        self.prog, self.task = prog, task
        self.world: World | None = None

    def watch(self, world: World) -> None:
        self.world = world

    def __call__(self, t: float) -> None:
        w = self.world
        if w is None:
            self.prog.update(self.task, completed=t)
            return
        self.prog.update(self.task, completed=t, packets=w.network.stats.sent, evidence=w.trace.counts["evidence"],
                         status=battle_status(w))


def battle_status(world: World) -> str:
    """A provisional word on the battle while it runs (the verdict comes from the referee at the end)."""
    if not any(n.team == "red" for n in world.nodes):
        status = "no red team"
    elif not world.red_enabled:
        status = "baseline (red off)"
    elif world.red_active:
        status = "red active, " + ("attack fired" if world.trace.counts["evidence"] else "no evidence yet")
    else:
        status = "settling (red off)"
    faults = [what for what, on in (("partitioned", world.network.groups is not None),
                                    ("nodes down", any(not n.up for n in world.nodes))) if on]
    return ", ".join([status, *faults])


@contextmanager
def progress_bar(total: float, enabled: bool) -> Iterator[BattleProgress | None]:
    """A rich progress bar in virtual seconds, only on a terminal."""
    console = err_console()
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} virtual s"),
               TextColumn("{task.fields[packets]} packets"), TextColumn("{task.fields[evidence]} evidence"),
               TextColumn("[magenta]{task.fields[status]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as prog:
        task = prog.add_task("battle", total=total, packets=0, evidence=0, status="starting")
        yield BattleProgress(prog, task)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Run directory.")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(dir_okay=False), help="Load a plugin file.")
@click.option("--protocol", "protocol", default=None, help="Run this protocol instead of the scenario's: a "
              "file (ourchain.py), an installed name, or package.module:Class (docs/protocols.md).")
@click.option("--param", "params", multiple=True, help="Override a scenario key: validators.0.stake=500.")
@click.option("--check-determinism", is_flag=True, help="Run twice and fail on the first differing event.")
@click.option("--baseline", is_flag=True, help="Also run with the red plugins off and report the difference.")
@click.option("--quiet", is_flag=True, help="Print only the verdict line.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout.")
@click.option("--open", "open_report", is_flag=True,
              help="Print the report's path and open it in a browser (only from a terminal, never in CI).")
@click.option("--no-report", is_flag=True,
              help="Do not write report.html (scripted runs; `arena report RUN_DIR` builds it later from the files).")
@click.option("--expect", "expect", type=VERDICT_CHOICE, default=None,
              help="Exit 1 unless the verdict is this one (overrides the verdict of the scenario's expect:).")
def run(scenario: str, seed: int | None, out_dir: str | None, plugins: tuple[str, ...], protocol: str | None,
        params: tuple[str, ...], check_determinism: bool, baseline: bool, quiet: bool, as_json: bool,
        open_report: bool, no_report: bool, expect: str | None) -> None:
    """Run a battle in the deterministic simulator.

    The run directory (trace.jsonl, states/, result.json with the verdict) is complete before report.html is
    written; --no-report skips the report."""
    from arena.plugin_host.registry import default_registry
    from arena.scenario.checks import check_scenario
    from arena.sim.runner import default_out_dir, run_battle, write_result

    if open_report and no_report:
        raise UserError("--open shows report.html, which --no-report does not write: give one of them")
    console = err_console()
    with user_errors():
        sc = load(scenario, params)
        if protocol is not None:  # a file is loaded here, so that the check below knows its protocol's name
            from arena.protocols.registry import scenario_name

            sc = sc.model_copy(update={"protocol": scenario_name(protocol)})
        registry = default_registry(plugins)
        check_scenario(sc, scenario, registry)
        target = Path(out_dir) if out_dir else default_out_dir(sc)
        with progress_bar(sc.duration, not (quiet or as_json)) as prog:
            outcome = run_battle(sc, seed=seed, out_dir=target, registry=registry, progress=prog,
                                 watch=prog.watch if prog is not None else None, report=False)
        result = outcome.result  # result.json is written: the report (a view of the files) comes last
        if check_determinism:
            from arena.runtime.trace import first_difference

            again = run_battle(sc, seed=seed, out_dir=target / "replay", registry=default_registry(plugins),
                               report=False)
            diff = first_difference(target / "trace.jsonl", target / "replay" / "trace.jsonl")
            if diff is not None:
                line, a, b = diff
                console.print(f"[red]NOT deterministic[/red]: traces differ first at line {line}:\n  run 1: {a}\n"
                              f"  run 2: {b}")
                sys.exit(EXIT_CRASH)
            console.print(f"deterministic: both runs gave trace sha256 {again.result['trace_sha256']}")
        if baseline:
            from arena.referee.baseline import compare

            base = run_battle(sc, seed=seed, out_dir=target / "baseline", registry=default_registry(plugins),
                              red_enabled=False, report=False)
            result["baseline"] = compare(result, base.result)
            write_result(target, result)
    if not no_report:
        if baseline:  # first, so that the attacked run's report links to it
            write_report_or_warn(target / "baseline")
        write_report_or_warn(target)
    print_outcome(result, target, quiet, as_json, open_report)
    sys.exit(exit_for(result, sc.expect, expect))


def write_report_or_warn(target: Path) -> None:
    """Write ``target/report.html``; a failure is a warning on stderr (the run is kept whatever happens to it)."""
    from arena.report.page import write_report

    try:
        write_report(target)
    except Exception as exc:  # the report is a view: never lose the run over it
        err_console().print(f"[yellow]warning:[/yellow] report.html not written for {escape(str(target))}: "
                            f"{type(exc).__name__}: {escape(str(exc))}")


def print_outcome(result: dict[str, Any], target: Path, quiet: bool, as_json: bool, open_report: bool = False
                  ) -> None:
    """``--json``: result.json alone on stdout; ``--quiet``: one line; else the ledgers, the summary and the line."""
    from arena.report.data import REPORT_NAME

    console = err_console()

    report_path = target / REPORT_NAME
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        if open_report:
            console.print(f"report: {escape(str(report_path))}")
            open_in_browser(report_path)
        return
    verdict = result.get("verdict", "n/a")
    line = f"verdict: {verdict}  stolen: {result.get('stolen', 0)}  run: {target}"
    if quiet:
        click.echo(line + (f"  report: {report_path}" if open_report else ""))
    else:
        from arena.cli.story import print_story

        for table in [*ledger_tables(target), *summary_tables(result)]:
            out().print(table)
        print_story(out(), result.get("story"))
        out().print(f"verdict: [bold]{escape(str(verdict))}[/bold]  stolen: {result.get('stolen', 0)}  run: "
                    f"{escape(str(target))}", soft_wrap=True)
        if report_path.is_file():
            out().print(f"report: {escape(str(report_path))}", soft_wrap=True)
    if open_report:
        open_in_browser(report_path)


def open_in_browser(path: Path) -> None:
    """Open a report in the default browser, only when stdout is a terminal and not in CI."""
    if not path.is_file():
        err_console().print(f"[yellow]no report at {escape(str(path))}[/yellow]")
        return
    if sys.stdout.isatty() and not os.environ.get("CI"):
        import webbrowser

        try:
            webbrowser.open(path.resolve().as_uri())
        except Exception:  # no browser: the path was printed
            pass


FAULT_ROWS = 5


def fault_line(fault: dict[str, Any]) -> str:
    """One plugin fault in words: who, where (file:line in the plugin's own code), what."""
    where = (fault.get("where") or [""])[-1]
    node = fault.get("node_name") or fault.get("node", "?")
    return (f"{fault.get('team', '?')} plugin {fault.get('plugin', '?')} on {node}, {fault.get('hook', '?')}"
            + (f" at {where}" if where else "") + f" ({fault.get('kind', 'exception')}): {fault.get('error', '')}")


def summary_tables(result: dict[str, Any]) -> list[Table]:
    """The outcome at a glance: verdict, what was stolen, invariants, throughput, network."""
    from rich.table import Table

    tables = []
    protocol = f", protocol {result['protocol']}" if result.get("protocol") not in (None, "honest") else ""
    t = Table(title=f"{result['scenario']} (seed {result['seed']}, {result['backend']}{protocol})")
    t.add_column("metric")
    t.add_column("value", overflow="fold")
    rows: list[tuple[str, str]] = []
    if "verdict" in result:
        colour = {"red_won": "red", "blue_won": "blue", "faulted": "magenta"}.get(str(result["verdict"]), "white")
        rows.append(("verdict", f"[bold {colour}]{escape(str(result['verdict']))}[/]"))
        reason = str(result.get("verdict_reason", ""))
        if not (reason.startswith("stolen") and ";" not in reason):  # else the stolen row says it
            rows.append(("why", escape(reason)))
        by_kind = {k: v for k, v in (result.get("stolen_by_category") or result.get("stolen_by_kind") or {}).items()
                   if v}
        kinds = ", ".join(f"{k} {v}" for k, v in by_kind.items())
        rows.append(("stolen", f"{result.get('stolen', 0)}" + (f" ({kinds})" if kinds else "")))
        if result.get("honest_loss"):
            rows.append(("honest loss", str(result["honest_loss"])))
        rows.append(("evidence events", str(result.get("evidence_count", 0))))
    invariants = result.get("invariants") or {}
    if invariants:
        marks = {True: "[green]ok[/]", False: "[bold red]BROKEN[/]", None: "[dim]unknown[/]"}
        rows.append(("invariants", "  ".join(f"{k} {marks.get(v.get('ok'), '?')}" for k, v in invariants.items()
                                             if isinstance(v, dict))))
    for i, fault in enumerate((result.get("plugin_faults") or [])[:FAULT_ROWS]):
        rows.append(("plugin fault" if i == 0 else "", escape(fault_line(fault))))
    if len(result.get("plugin_faults") or []) > FAULT_ROWS:
        rows.append(("", f"... and {len(result['plugin_faults']) - FAULT_ROWS} more (result.json: plugin_faults)"))
    if "finalized_height" in result:
        rows.append(("finalised / head height", f"{result['finalized_height']} / {result.get('head_height', '?')}"))
    latency = result.get("latency") or {}
    seconds = result.get("virtual_seconds") or 0
    if latency.get("count"):
        rows.append(("honest transfers finalised", f"{latency['count']} ({latency['count'] / seconds:.2f}/s)"
                     if seconds else str(latency["count"])))
        rows.append(("finality latency p50 / p95", f"{latency['p50']:.2f} s / {latency['p95']:.2f} s"))
    for key in ("supply", "validators_agree", "forks_seen"):
        if key in result:
            rows.append((key.replace("_", " "), str(result[key])))
    msgs = result["messages"]
    dropped = f"{msgs['dropped']}"
    if msgs.get("dropped_by_reason"):
        dropped += " (" + ", ".join(f"{k} {v}" for k, v in msgs["dropped_by_reason"].items()) + ")"
    rows += [
        ("packets sent / delivered / dropped", f"{msgs['sent']} / {msgs['delivered']} / {dropped}"),
        ("virtual / wall seconds", f"{result['virtual_seconds']} / {result['wall_seconds']}"),
        ("trace sha256", result["trace_sha256"][:16] + "..."),
    ]
    for k, v in rows:
        t.add_row(k, v)
    tables.append(t)
    if "baseline" in result:
        b = Table(title="attack vs baseline (red plugins off)")
        cols = ("attacked", "baseline", "diff", "ratio")
        for col in ("metric", *cols):
            b.add_column(col, justify="left" if col == "metric" else "right")
        for k, v in result["baseline"].items():
            cells = [_short_num(v.get(c)) for c in cols] if isinstance(v, dict) else [str(v), "", "", ""]
            b.add_row(str(k), *cells)
        tables.append(b)
    return tables


def _short_num(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def ledger_tables(run_dir: Path, max_rows: int = 30) -> list[Table]:
    """Each honest validator's ledger (account, team, balance, nonce, stake), as the course's day 1 asks to print;
    validators holding identical ledgers share one table (its title names them all)."""
    from rich.table import Table

    from arena.report.data import account_names, natural_key

    states_dir = run_dir / "states"
    if not states_dir.is_dir():
        return []
    states = [json.loads(p.read_text()) for p in sorted(states_dir.glob("validator*.json"))]
    states = [s for s in states if "ledger" in s]
    if not states or len(states) > 8:
        return []
    names = {acct: (name, "red" if team != "blue" else "blue") for acct, (name, team) in account_names(run_dir).items()}
    for p in states_dir.glob("*.json"):
        st = json.loads(p.read_text())
        names.setdefault(st["account"], (st["name"], st.get("team", "")))
    groups: dict[str, list[dict[str, Any]]] = {}
    for st in sorted(states, key=lambda s: s["index"]):
        groups.setdefault(json.dumps(st.get("ledger", {}), sort_keys=True), []).append(st)
    tables = []
    for same in groups.values():
        st = same[0]
        who = ", ".join(s["name"] for s in same)
        agree = f"identical ledgers, {len(same)} of {len(states)}" if len(same) > 1 else \
            "differs from the others" if len(groups) > 1 else "the only validator"
        t = Table(title=f"{who} ledger ({agree}; finalised height {st.get('finalized_height', 0)})")
        for col in ("account", "team", "balance", "nonce", "stake"):
            t.add_column(col, justify="left" if col in ("account", "team") else "right")
        rows = sorted(st.get("ledger", {}).items(), key=lambda kv: natural_key(names.get(kv[0], ("~" + kv[0], ""))[0]))
        for acct, row in rows[:max_rows]:
            name, team = names.get(acct, (acct[:12], "red"))  # an account no node has: a Sybil
            style = "red" if team == "red" else None
            t.add_row(name, team, str(row.get("balance", 0)), str(row.get("nonce", 0)), str(row.get("stake", 0)),
                      style=style)
        tables.append(t)
    return tables


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--open", "open_report", is_flag=True, help="Open it in a browser (only from a terminal, never in CI).")
def report_cmd(run_dir: str, open_report: bool) -> None:
    """Build RUN_DIR/report.html again from the run's files and print its path."""
    from arena.report.page import write_report

    try:
        path = write_report(Path(run_dir))
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot write report.html: {exc}") from None
    click.echo(str(path))
    if open_report:
        open_in_browser(path)


@main.command("plugins")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(dir_okay=False), help="Also load a plugin file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (name, team, hooks, source, about).")
def plugins_cmd(plugins: tuple[str, ...], as_json: bool) -> None:
    """List the plugins found (entry points and files) and the hooks each implements."""
    from rich.table import Table

    from arena.plugin_host.registry import default_registry

    with user_errors():
        registry = default_registry(plugins)
    if as_json:
        rows = [{"name": i.name, "team": i.team, "hooks": list(i.hooks), "source": i.source, "about": i.doc}
                for i in sorted(registry.plugins.values(), key=lambda i: (i.team, i.name))]
        click.echo(json.dumps(rows, indent=2))
        return
    t = Table(title="plugins")
    for col in ("name", "team", "hooks", "source", "about"):
        t.add_column(col)
    for info in sorted(registry.plugins.values(), key=lambda i: (i.team, i.name)):
        t.add_row(info.name, info.team, ", ".join(info.hooks), info.source, info.doc)
    out().print(t)


if __name__ == "__main__":  # pragma: no cover
    main()
