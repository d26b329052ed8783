"""``arena score TOURNAMENT_JSON [--scoring stolen|ctf] [--json]``: rescore a finished tournament from its file.

The file is read as hostile input: missing, unreadable, not JSON or not of a tournament's shape, it exits 2 with one
line naming the file (and the key). What could not be scored goes to stderr in yellow, one warning a line, so
``--json`` keeps stdout a JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from arena.cli.errors import EXIT_OK, UserError, err_console
from arena.experiments.scoring import SCORINGS, Scoreboard, TournamentFormatError, score

if TYPE_CHECKING:
    from rich.table import Table


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



def _pts(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f}"


def tables(board: Scoreboard) -> list[Table]:
    """The attack and defense rankings as rich tables (names escaped: they come from the file)."""
    from rich.markup import escape
    from rich.table import Table

    def table(title: str, caption: str, cols: tuple[str, ...], left: tuple[int, ...]) -> Table:
        t = Table(title=title, caption=escape(caption))
        for i, col in enumerate(cols):
            t.add_column(col, justify="left" if i in left else "right")
        return t

    def faulted(n: int) -> str:
        return f"[magenta]{n}[/]" if n else "0"

    ctf = board.scoring == "ctf"
    seeds = f"{board.seeds} seed{'s' * (board.seeds != 1)}"
    if ctf:
        atk = table(f"attacks (ctf scoring, {seeds})", board.formula["attacks"],
                    ("#", "attack", "attack pts", "thefts / counted", "stolen", "control stolen", "faulted"), (1,))
        for a in board.attacks:
            atk.add_row(str(a.rank), escape(a.name), _pts(a.attack), f"{a.thefts}/{a.battles}", str(a.stolen),
                        str(a.control_stolen), faulted(a.faulted))
        dfn = table(f"defenses (ctf scoring, {seeds})", board.formula["defenses"],
                    ("#", "defense", "total", "defense pts", "availability pts", "stops / counted",
                     "service by seed", "stolen", "faulted", "note"), (1, 6, 9))
        for d in board.defenses:
            by_seed = " ".join("?" if v is None else f"{100 * v:.0f}%" for v in d.service_by_seed.values())
            dfn.add_row(str(d.rank), escape(d.name), _pts(d.total), _pts(d.defense), _pts(d.availability),
                        "-" if d.control else f"{d.stops}/{d.battles}", by_seed, str(d.stolen), faulted(d.faulted),
                        "control (NOP team: thefts from it earn nothing)" if d.control else "")
        return [atk, dfn]
    atk = table(f"attacks (stolen scoring, {seeds})", board.formula["attacks"],
                ("#", "attack", "stolen", "not held / counted", "control stolen", "faulted"), (1,))
    for a in board.attacks:
        atk.add_row(str(a.rank), escape(a.name), str(a.stolen), f"{a.thefts}/{a.battles}", str(a.control_stolen),
                    faulted(a.faulted))
    dfn = table(f"defenses (stolen scoring, {seeds})", board.formula["defenses"],
                ("#", "defense", "held / counted", "faulted", "stolen", "share held", "note"), (1, 6))
    for d in board.defenses:
        dfn.add_row(str(d.rank), escape(d.name), f"{d.stops}/{d.battles}", faulted(d.faulted), str(d.stolen),
                    "-" if d.total is None else f"{100 * d.total:.0f}%",
                    "undefended control" if d.control else "nothing counted" if not d.battles else "")
    return [atk, dfn]


__all__ = ["read_tournament", "score_cmd"]
