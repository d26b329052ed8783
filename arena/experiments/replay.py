"""``arena replay DIR CELL_ID``: rerun one stored tournament battle from its cell id and check that it is the
same battle (same trace sha256): the determinism a resumable, distributed tournament rests on.

The battle is rebuilt from ``DIR/results/<id>.json`` alone (the resolved scenario, the seed, the red switch and
the source of each ``--plugin`` file), so it replays on any machine with ipv8-arena installed, also one that never
saw the worker's run directory. Before it runs, the cell id is computed again: a built-in plugin whose source has
changed since makes it another battle, and the replay refuses (exit 2) instead of reporting a false difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from arena.cli.errors import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_OK
from arena.experiments.cells import CellError, CellStore, cell_id, short
from arena.experiments.tournament import Job, job_registry, job_scenario, run_job
from arena.plugin_host.registry import PluginError
from arena.scenario.yamlsource import ScenarioError

__all__ = ["ReplayError", "replay_cell", "replay_cmd"]


class ReplayError(click.ClickException):
    """Bad input to ``arena replay``: a one-line message and exit code 2."""

    exit_code = EXIT_BAD_INPUT


def replay_cell(tournament: Path, prefix: str, out: Path | None = None) -> tuple[dict[str, object], str, str]:
    """Rerun the stored battle whose id starts with ``prefix`` into ``out`` (default
    ``DIR/replays/<short id>``); (the new summary, the recorded trace sha256, the full cell id)."""
    doc = CellStore(tournament).find(prefix)
    rec, old = doc["cell"], doc["summary"]
    cell = str(old["cell_id"])
    if rec.get("scenario") is None:
        raise CellError(f"cell {short(cell)}: no resolved scenario stored; it cannot be replayed from its id")
    sources = tuple((str(p), str(t)) for p, t in rec.get("plugin_sources", []))
    protocol = tuple((str(p), str(t)) for p, t in rec.get("protocol_sources", []))
    target = out if out is not None else tournament / "replays" / short(cell)
    job = Job(str(rec["attack"]), str(rec["defense"]), int(rec["seed"]), "<stored>", (), str(target),
              bool(rec["red"]), tuple(p for p, _ in sources), json.dumps(rec["scenario"], sort_keys=True), cell,
              sources, protocol)
    now = cell_id(job_scenario(job), job_registry(job), job.seed, job.red)
    if now != cell:
        raise CellError(f"cell {short(cell)} is now {short(now)}: a plugin's source changed since it ran, so this "
                        "would be another battle")
    return run_job(job), str(old.get("trace_sha256")), cell


@click.command("replay", epilog="Exit codes: 0 the replay gave the recorded trace sha256; 2 bad input (no such "
               "cell, or its content changed); 3 the trace differs (not deterministic).")
@click.argument("tournament", type=click.Path(file_okay=False, exists=True))
@click.argument("cell")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default DIR/replays/<short id>).")
@click.pass_context
def replay_cmd(ctx: click.Context, tournament: str, cell: str, out_dir: str | None) -> None:
    """Rerun one tournament battle from its cell id and check its trace sha256 against the recorded one.

    TOURNAMENT is the tournament's folder (its results/ holds the battles); CELL is an id from its tournament.json,
    or any unique prefix of one."""
    try:
        summary, recorded, full = replay_cell(Path(tournament), cell, Path(out_dir) if out_dir else None)
    except (CellError, ScenarioError, PluginError) as exc:
        raise ReplayError(str(exc)) from None
    what = f"{summary['attack']} vs {summary['defense']}" if summary["red"] else f"{summary['attack']} baseline"
    click.echo(f"cell {short(full)}: {what} seed {summary['seed']}: {summary['verdict']} stolen {summary['stolen']}"
               f" -> {summary['run_dir']}")
    if summary["trace_sha256"] != recorded:
        click.echo(f"NOT deterministic: trace sha256 {summary['trace_sha256']}, recorded {recorded}", err=True)
        ctx.exit(EXIT_CRASH)
    click.echo(f"deterministic: trace sha256 {recorded} as recorded")
    ctx.exit(EXIT_OK)
