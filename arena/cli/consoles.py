"""The rich consoles every command prints through.

On a terminal a console takes the terminal's width. Piped or redirected, rich would assume 80 columns and cut table
cells to fit (``byzantine_v…``); here it is made wide enough that no name is ever cut, unless ``COLUMNS`` says
otherwise. Rich itself is imported only when a console is made (``arena --help`` stays cheap).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 400  # columns of a console that is not a terminal (tables take only the width they need)


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never cuts a table when its output is not a terminal.

    "Not a terminal" is asked of the stream itself: rich's own test also says yes to a pipe when ``FORCE_COLOR`` or
    ``TTY_COMPATIBLE`` is set (as CI systems often do), and then sizes it to 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        terminal = bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        terminal = False
    made = Console(stderr=stderr)
    if terminal or os.environ.get("COLUMNS"):
        return made
    return Console(stderr=stderr, width=max(made.width, PIPED_WIDTH))
