"""``arena judge RUN_DIR``: judge a run again from its directory alone (or a live battle from its machines' dirs).

Exit codes as for ``arena run``: 0 blue won or no verdict, 1 red won, 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from arena.referee.checkers import Verdict, judge_run_dir

EXIT_OK, EXIT_RED_WON = 0, 1
_STYLE = {"valid": "green", "invalid": "red", "unknown": "yellow", True: "green", False: "red", None: "yellow"}


def verdict_tables(v: Verdict) -> list[Table]:
    """The verdict, stolen by kind, invariants and checks as rich tables."""
    head = Table(title="verdict", show_header=False)
    head.add_column("field")
    head.add_column("value")
    colour = {"red_won": "red", "blue_won": "blue"}.get(v.verdict, "yellow")
    head.add_row("verdict", f"[bold {colour}]{v.verdict}[/]")
    head.add_row("reason", v.reason)
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
        checks.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail)
    return [head, stolen, inv, checks]


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


@click.command("judge")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--merge", "merge", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Another machine's run directory of the same live battle (repeatable).")
@click.pass_context
def judge_cmd(ctx: click.Context, run_dir: Path, merge: tuple[Path, ...]) -> None:
    """Judge RUN_DIR again from its trace and final states; write the verdict into its result.json."""
    for d in (run_dir, *merge):
        if not (d / "trace.jsonl").is_file():
            raise click.BadParameter(f"no trace.jsonl in {d}", param_hint="RUN_DIR" if d == run_dir else "--merge")
    verdict = judge_run_dir(run_dir, merge)
    out = Console()
    for table in verdict_tables(verdict):
        out.print(table)
    write_verdict(run_dir, verdict)
    out.print(f"verdict: [bold]{verdict.verdict}[/bold]  stolen: {verdict.stolen}  run: {run_dir}")
    ctx.exit(EXIT_RED_WON if verdict.verdict == "red_won" else EXIT_OK)


__all__ = ["judge_cmd", "verdict_tables", "write_verdict"]
