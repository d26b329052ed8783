"""How every ``arena`` command turns failures into exit codes: one place, so all commands agree.

0 finished (blue won or no verdict), 1 red won, 2 bad input (a one-line message naming where), 3 the battle
crashed (the message names the node or the process).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console

from arena.plugin_host.registry import PluginError
from arena.scenario.yamlsource import ScenarioError

EXIT_OK, EXIT_RED_WON, EXIT_BAD_INPUT, EXIT_CRASH = 0, 1, 2, 3

console = Console(stderr=True)


class UserError(click.ClickException):
    exit_code = EXIT_BAD_INPUT


@contextmanager
def user_errors(crash: tuple[type[BaseException], ...] = (), label: str = "run crashed") -> Iterator[None]:
    """Scenario and plugin errors exit 2 with one line, no traceback; ``crash`` exceptions exit 3."""
    try:
        yield
    except (ScenarioError, PluginError) as exc:
        raise UserError(str(exc)) from None
    except crash as exc:
        console.print(f"[red]{label}:[/red] {exc}")
        sys.exit(EXIT_CRASH)
