"""The one progress bar of every command that takes more than a few seconds (sweeps, topology comparisons,
tournaments, the start-up and run of a live battle).

The bar is drawn on stderr, and only when stderr is a terminal: piped, redirected or under CI the commands print
their results and nothing per item, so a log holds the answer and not hundreds of redraws. A command asks for a
:class:`Bar` and calls it whatever the output is; off a terminal it is a no-op. ``arena run``'s bar (virtual time,
packets, evidence) lives in :mod:`arena.cli.main`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["Advance", "Bar", "batch_progress", "progress"]

Advance = Callable[[str], None]
"""``advance(text)``: one more item done; ``text`` says which (shown beside the bar)."""


class Bar:
    """One task of a rich progress display, or nothing (``prog is None``: not a terminal).

    ``restart`` turns the same line into the next phase (live: processes started, nodes ready, battle seconds), so
    a multi-phase start-up is one bar, not a stack of finished ones. Every change is drawn at once: they come a few
    a second at most (a battle done, a clock tick), and a phase must not pass unseen between two auto-refreshes."""

    def __init__(self, prog: Progress | None = None, task: TaskID | None = None) -> None:
        self.prog, self.task = prog, task

    @property
    def drawn(self) -> bool:
        """Whether anything is shown (callers skip work that only feeds the bar)."""
        return self.prog is not None

    def advance(self, text: str = "") -> None:
        """One more item done."""
        if self.prog is not None and self.task is not None:
            self.prog.update(self.task, advance=1, item=_plain(text), refresh=True)

    def update(self, completed: float, text: str = "") -> None:
        """``completed`` of the total done (a clock, a count)."""
        if self.prog is not None and self.task is not None:
            self.prog.update(self.task, completed=completed, item=_plain(text), refresh=True)

    def restart(self, description: str, total: float, unit: str) -> None:
        """Start a new phase on the same line: a new description, total and unit, nothing done yet."""
        if self.prog is not None and self.task is not None:
            self.prog.reset(self.task, total=total, description=description, unit=unit, item="")
            self.prog.refresh()

    def print(self, text: str) -> None:
        """A line above the bar (only on a terminal: off one, per-item lines are progress and are left out)."""
        if self.prog is not None:
            self.prog.console.print(text, soft_wrap=True, highlight=False)


def _plain(text: str) -> str:
    """``text`` shown as it is (the bar's columns are rich markup: a ``[`` in a name must not become a style)."""
    from rich.markup import escape

    return escape(text)


def _terminal(console: Console | None) -> Console | None:
    """The console to draw on, or None when the bar must stay quiet."""
    if console is None:
        from arena.cli.consoles import console as make_console

        console = make_console(stderr=True)
    return console if console.is_terminal else None


@contextmanager
def progress(description: str, total: float, unit: str = "battles", console: Console | None = None,
             enabled: bool = True) -> Iterator[Bar]:
    """A bar of ``total`` ``unit`` on stderr while the block runs (``console`` for tests), erased at the end;
    nothing when ``enabled`` is false (``--quiet``, ``--json``) or stderr is not a terminal."""
    drawn = _terminal(console) if enabled else None
    if drawn is None:
        yield Bar()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
               TimeElapsedColumn(), TextColumn("[dim]{task.fields[item]}"))
    with Progress(*columns, console=drawn, transient=True) as prog:
        yield Bar(prog, prog.add_task(description, total=total, unit=unit, item=""))


@contextmanager
def batch_progress(description: str, total: int, unit: str = "battles",
                   console: Console | None = None) -> Iterator[Advance]:
    """``total`` items one after the other: yields ``advance(text)``, to call once per finished item."""
    with progress(description, total, unit, console) as bar:
        yield bar.advance
