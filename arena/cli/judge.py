"""``arena judge RUN_DIR``: judge a run again from its directory alone (or a live battle from its machines' dirs).

Exit codes as for ``arena run``: 0 judged, whatever the verdict; 1 the verdict is not the one ``--expect`` names;
2 bad input, including a run directory whose files no longer match the seal its ``result.json`` recorded
(:mod:`arena.referee.seal`): one line naming the file, nothing written. ``--force`` judges it anyway; the verdict's
reason then starts with ``forced: `` and ``result.json`` gets ``"forced": true`` and the ``seal_problems``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from arena.cli.consoles import console
from arena.cli.errors import VERDICT_CHOICE, UserError, exit_for
from arena.cli.story import print_story
from arena.referee.checkers import KIND_OF_CATEGORY, Verdict, judge_run_dir
from arena.referee.seal import ResultError, is_sealed, read_result, verify

_STYLE = {"valid": "green", "invalid": "red", "unknown": "yellow", True: "green", False: "red", None: "yellow"}
VERDICT_COLOUR = {"red_won": "red", "blue_won": "blue", "faulted": "magenta"}
#: What ``--force`` adds to ``result.json`` (and a later, unforced judgement removes).
FORCED_FIELDS = ("forced", "seal_problems")


def verdict_tables(v: Verdict) -> list[Table]:
    """The verdict, stolen by loss category, invariants, checks and plugin faults (when any) as rich tables."""
    head = Table(title="verdict", show_header=False)
    head.add_column("field")
    head.add_column("value")
    colour = VERDICT_COLOUR.get(v.verdict, "yellow")
    head.add_row("verdict", f"[bold {colour}]{v.verdict}[/]")
    head.add_row("reason", escape(v.reason))
    head.add_row("stolen", str(v.stolen))
    head.add_row("honest loss", str(v.honest_loss))
    head.add_row("evidence events", str(v.evidence_total))
    lat = v.latency
    if lat.get("count"):
        head.add_row("latency (s)", f"mean {lat['mean']}  p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}  "
                     f"({lat['count']} finalised, {lat['unconfirmed']} unconfirmed)")
    stolen = Table(title="stolen, by loss")
    stolen.add_column("loss")
    stolen.add_column("check")
    stolen.add_column("tokens", justify="right")
    for category, amount in v.stolen_by_category.items():
        stolen.add_row(category, KIND_OF_CATEGORY.get(category, ""), f"[red]{amount}[/]" if amount else "0")
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


def write_verdict(run_dir: Path, v: Verdict, base: dict[str, Any] | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Update ``result.json`` with the verdict fields and ``extra`` (create it when the run left none). ``base``:
    the result to update instead of the file's (``--force`` over a corrupt ``result.json``)."""
    path = run_dir / "result.json"
    if base is None:
        try:
            base = read_result(run_dir) or {}
        except ResultError as exc:
            raise UserError(str(exc)) from None
    result = dict(base)
    for key in FORCED_FIELDS:  # a forced verdict of an earlier judgement does not outlive this one
        result.pop(key, None)
    result.update(v.as_result())
    result.update(extra or {})
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return result


@dataclass
class SealCheck:
    """What the seals of a run directory (and of the ``--merge`` directories) say before judging."""

    result: dict[str, Any] | None = None  # RUN_DIR's result.json (None: none, or unreadable)
    problems: list[str] = field(default_factory=list)  # one line each, naming the file
    unsealed: list[Path] = field(default_factory=list)  # directories judged without a seal (old runs)

    def line(self) -> str:
        """The one line ``arena judge`` exits 2 with."""
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}; --force judges anyway"


def check_seals(run_dir: Path, merge: tuple[Path, ...] = ()) -> SealCheck:
    """Verify RUN_DIR against the seal in its ``result.json``, and each ``--merge`` directory that its seal does
    not cover (one outside RUN_DIR) against its own ``result.json``, if it has one."""
    out = SealCheck()
    root = run_dir.resolve()
    for d in (run_dir, *merge):
        if d is not run_dir and d.resolve().is_relative_to(root) and is_sealed(out.result):
            continue  # a live battle's nodes/<name>: RUN_DIR's seal covers its files
        try:
            result = read_result(d)
        except ResultError as exc:
            out.problems.append(str(exc))
            continue
        if d is run_dir:
            out.result = result
        if not is_sealed(result):
            out.unsealed.append(d)
        out.problems.extend(verify(d, result or {}))
    return out


@click.command("judge", epilog="Exit codes: 0 the run was judged, whatever the verdict; 1 --expect was given and the "
               "verdict is another one (one line); 2 bad input, or a file no longer matches the seal in result.json "
               "(one line naming it; --force judges anyway).")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--merge", "merge", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Another machine's run directory of the same live battle (repeatable).")
@click.option("--expect", "expect", type=VERDICT_CHOICE, default=None, help="Exit 1 unless the verdict is this one.")
@click.option("--force", is_flag=True, help="Judge even a run directory whose files do not match its seal (missing, "
              "truncated or altered); the verdict's reason then starts with 'forced: '.")
@click.pass_context
def judge_cmd(ctx: click.Context, run_dir: Path, merge: tuple[Path, ...], expect: str | None, force: bool) -> None:
    """Judge RUN_DIR again from its trace and final states; write the verdict into its result.json.

    First the files are checked against the seal the run recorded in result.json (sha256 and size of the trace and
    of every state file): a missing, truncated or altered file, an unexpected state file or an unreadable
    result.json exits 2 and writes nothing. A run from before seals is judged with a warning."""
    sealed = check_seals(run_dir, merge)
    if sealed.problems and not force:
        raise UserError(sealed.line())
    if sealed.unsealed:
        click.echo(f"warning: unsealed (no seal in result.json: a run from before seals; its files cannot be "
                   f"checked): {', '.join(str(d) for d in sealed.unsealed)}", err=True)
    for d in (run_dir, *merge):
        if not (d / "trace.jsonl").is_file():
            raise click.BadParameter(f"no trace.jsonl in {d}", param_hint="RUN_DIR" if d == run_dir else "--merge")
    verdict = judge_run_dir(run_dir, merge)
    extra: dict[str, Any] = {}
    base: dict[str, Any] | None = None
    if sealed.problems:  # --force
        click.echo(f"warning: judged anyway (--force): {sealed.problems[0]}", err=True)
        verdict = replace(verdict, reason=f"forced: {verdict.reason}")
        extra = {"forced": True, "seal_problems": sealed.problems}
        if sealed.result is None and (run_dir / "result.json").exists():
            base = {}  # result.json was unreadable: the verdict replaces it
    out = console()
    for table in verdict_tables(verdict):
        out.print(table)
    print_story(out, verdict.story)
    result = write_verdict(run_dir, verdict, base, extra)
    report = write_report_quietly(run_dir, merge)
    faults = f"  plugin faults: {len(verdict.faults)}" if verdict.faults else ""
    out.print(f"verdict: [bold {VERDICT_COLOUR.get(verdict.verdict, 'yellow')}]{verdict.verdict}[/]  stolen: "
              f"{verdict.stolen}{faults}  run: {escape(str(run_dir))}", soft_wrap=True)
    if report is not None:
        out.print(f"report: {escape(str(report))}", soft_wrap=True)
    ctx.exit(exit_for(result, verdict=expect))


def write_report_quietly(run_dir: Path, merge: tuple[Path, ...]) -> Path | None:
    """Rewrite report.html for the verdict just written (merged as judged); a failure is a warning, not an exit."""
    from arena.report.page import write_report

    try:
        return write_report(run_dir, merge)
    except Exception as exc:  # the report is a view: never lose the verdict over it
        click.echo(f"warning: report.html not written for {run_dir}: {type(exc).__name__}: {exc}", err=True)
        return None


__all__ = ["FORCED_FIELDS", "SealCheck", "check_seals", "fault_table", "judge_cmd", "verdict_tables",
           "write_verdict"]
