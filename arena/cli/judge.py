"""``arena judge RUN_DIR``: judge a run again from its directory alone (or a live battle from its machines' dirs).

Exit codes as for ``arena run``: 0 judged, whatever the verdict; 1 the verdict is not the one ``--expect`` names;
2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from arena.cli.errors import VERDICT_CHOICE, exit_for
from arena.referee.checkers import Verdict, judge_run_dir

_STYLE = {"valid": "green", "invalid": "red", "unknown": "yellow", True: "green", False: "red", None: "yellow"}
VERDICT_COLOUR = {"red_won": "red", "blue_won": "blue", "faulted": "magenta"}


def verdict_tables(v: Verdict) -> list[Table]:
    """The verdict, stolen by kind, invariants, checks and plugin faults (when any) as rich tables."""
    head = Table(title="verdict", show_header=False)
    head.add_column("field")
    head.add_column("value")
    colour = VERDICT_COLOUR.get(v.verdict, "yellow")
    head.add_row("verdict", f"[bold {colour}]{v.verdict}[/]")
    head.add_row("reason", escape(v.reason))
    head.add_row("stolen", str(v.stolen))
    head.add_row("honest loss", str(v.honest_loss))
    head.add_row("attack evidence", str(len(v.evidence)))
    lat = v.latency
    if lat.get("count"):
        head.add_row("latency (s)", f"mean {lat['mean']}  p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}  "
                     f"({lat['count']} finalised, {lat['unconfirmed']} unconfirmed)")
    stolen = Table(title="stolen by kind")
    stolen.add_column("kind")
    stolen.add_column("tokens", justify="right")
    for kind, amount in v.stolen_by_kind.items():
        stolen.add_row(kind, f"[red]{amount}[/]" if amount else "0")
    inv = Table(title="invariants")
    for col in ("invariant", "ok", "detail"):
        inv.add_column(col)
    for name, row in v.invariants.items():
        ok = row.get("ok")
        inv.add_row(name, f"[{_STYLE[ok]}]{'unknown' if ok is None else ok}[/]", str(row.get("detail", "")))
    checks = Table(title="checks")
    for col in ("check", "status", "detail"):
        checks.add_column(col)
    for c in v.checks:
        checks.add_row(c.name, f"[{_STYLE.get(c.status, 'yellow')}]{c.status}[/]", escape(c.detail))
    tables = [head, stolen, inv, checks]
    if v.faults:
        tables.append(fault_table(v.faults))
    return tables


def fault_table(faults: list[dict[str, Any]]) -> Table:
    """One row per plugin fault: who, which hook, where in the plugin's own file, and the error."""
    t = Table(title=f"plugin faults ({len(faults)}: each plugin was disabled on its node)", title_style="magenta")
    for col in ("t", "node", "team", "plugin", "hook", "kind", "file:line", "error"):
        t.add_column(col, overflow="fold")
    for f in faults:
        at = f.get("t")
        cells = [f"{at:.2f}" if isinstance(at, (int, float)) else "", f.get("node_name") or f.get("node", ""),
                 f.get("team") or "?", f.get("plugin", "?"), f.get("hook", "?"), f.get("kind", ""),
                 " → ".join(str(w) for w in f.get("where") or []) or "-", f.get("error", "")]
        t.add_row(*(escape(str(c)) for c in cells[:-1]), f"[magenta]{escape(str(cells[-1]))}[/]")
    return t


def write_verdict(run_dir: Path, v: Verdict) -> dict[str, Any]:
    """Update ``result.json`` with the verdict fields (create it when the run left none)."""
    path = run_dir / "result.json"
    result: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(loaded, dict):
            result = loaded
    result.update(v.as_result())
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return result


@click.command("judge", epilog="Exit codes: 0 the run was judged, whatever the verdict; 1 --expect was given and the "
               "verdict is another one (one line); 2 bad input.")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--merge", "merge", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Another machine's run directory of the same live battle (repeatable).")
@click.option("--expect", "expect", type=VERDICT_CHOICE, default=None, help="Exit 1 unless the verdict is this one.")
@click.pass_context
def judge_cmd(ctx: click.Context, run_dir: Path, merge: tuple[Path, ...], expect: str | None) -> None:
    """Judge RUN_DIR again from its trace and final states; write the verdict into its result.json."""
    for d in (run_dir, *merge):
        if not (d / "trace.jsonl").is_file():
            raise click.BadParameter(f"no trace.jsonl in {d}", param_hint="RUN_DIR" if d == run_dir else "--merge")
    verdict = judge_run_dir(run_dir, merge)
    out = Console()
    for table in verdict_tables(verdict):
        out.print(table)
    result = write_verdict(run_dir, verdict)
    faults = f"  plugin faults: {len(verdict.faults)}" if verdict.faults else ""
    out.print(f"verdict: [bold {VERDICT_COLOUR.get(verdict.verdict, 'yellow')}]{verdict.verdict}[/]  stolen: "
              f"{verdict.stolen}{faults}  run: {escape(str(run_dir))}", soft_wrap=True)
    ctx.exit(exit_for(result, verdict=expect))


__all__ = ["fault_table", "judge_cmd", "verdict_tables", "write_verdict"]
