"""``arena score TOURNAMENT_JSON [--scoring stolen|ctf] [--json]``: rescore a finished tournament from its file.

The file is read as hostile input: missing, unreadable, not JSON or not of a tournament's shape, it exits 2 with one
line naming the file (and the key). What could not be scored goes to stderr in yellow, one warning a line, so
``--json`` keeps stdout a JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from arena.cli.errors import EXIT_OK, UserError, err_console
from arena.experiments.scoring import SCORINGS, TournamentFormatError, score, tables


def read_tournament(path: Path) -> Any:
    """The JSON value in ``path``; :class:`UserError` (exit 2, one line naming the file) when it has none."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise UserError(f"{path}: not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        raise UserError(f"{path}: not valid JSON: {' '.join(str(exc).split())}") from None


@click.command("score", epilog="Exit codes: 0 scored (warnings on stderr); 2 bad input (the message names the file "
               "and the key).")
@click.argument("tournament_json", metavar="TOURNAMENT_JSON")
@click.option("--scoring", type=click.Choice(SCORINGS), default="stolen", show_default=True,
              help="stolen: tokens stolen and attacks held, as the tournament's leaderboard; ctf: attack, defense "
              "and availability points, as attack-defense CTFs score (docs/tournament.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the scoreboard as JSON.")
@click.pass_context
def score_cmd(ctx: click.Context, tournament_json: str, scoring: str, as_json: bool) -> None:
    """Rescore a finished tournament from its tournament.json, without rerunning a battle.

    Every number comes from the file alone: the battles' stolen tokens, verdicts, plugin faults and honest-service
    counts that `arena tournament` records for each run.
    """
    path = Path(tournament_json)
    doc = read_tournament(path)
    try:
        board = score(doc, scoring)
    except TournamentFormatError as exc:
        raise UserError(f"{path}: {exc}") from None
    if as_json:
        click.echo(json.dumps(board.as_dict(), indent=2, sort_keys=True))
    else:
        from arena.cli.consoles import console

        out = console()
        for table in tables(board):
            out.print(table)
    err = err_console()
    for line in board.warnings:
        err.print(f"warning: {line}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    ctx.exit(EXIT_OK)


__all__ = ["read_tournament", "score_cmd"]
