"""How every ``arena`` command turns outcomes into exit codes: one place, so all commands agree.

* 0 (:data:`EXIT_OK`): the battle finished and was judged, whatever the verdict (``red_won``, ``blue_won``,
  ``faulted``, ``unknown``), so ``arena run ... && next`` goes on;
* 1 (:data:`EXIT_EXPECTATION`): an expectation was not met: the scenario's ``expect:`` block or ``--expect
  VERDICT`` (``--expect-all`` for a tournament); one line per unmet expectation on stderr;
* 2 (:data:`EXIT_BAD_INPUT`): bad input (a one-line message naming the file, line and key);
* 3 (:data:`EXIT_CRASH`): the battle crashed (the message names the node or the process).

A plugin never chooses the exit code: whatever it raises is a fault of that plugin (verdict ``faulted``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from arena.scenario.model import ExpectModel

    console: Console  # the stderr console (err_console()), made when first imported

EXIT_OK, EXIT_EXPECTATION, EXIT_BAD_INPUT, EXIT_CRASH = 0, 1, 2, 3

EXIT_CODES_HELP = ("Exit codes: 0 the battle finished and was judged, whatever the verdict; 1 an expectation was "
                   "not met (the scenario's expect: block or --expect), one line each; 2 bad input; 3 the battle "
                   "crashed. A plugin never chooses the exit code.")
"""The epilog of every battle command's ``--help``."""


class VerdictChoice(click.Choice):
    """The referee's verdicts (:data:`arena.referee.checkers.VERDICTS`) as a click choice, read only when a command
    parses or shows its ``--expect``: declaring the option imports nothing of the referee."""

    def __init__(self) -> None:  # click.Choice's own __init__ would fix the choices now
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        from arena.referee.checkers import VERDICTS

        return VERDICTS

    @choices.setter
    def choices(self, value: tuple[str, ...]) -> None:  # the verdicts are the referee's, not the caller's
        pass


VERDICT_CHOICE = VerdictChoice()
"""The values of ``--expect`` (the referee's verdicts)."""


def err_console() -> Console:
    """A console on stderr for warnings and errors (rich is imported on first use; made afresh, like ``out``)."""
    from arena.cli.consoles import console

    return console(stderr=True)


def __getattr__(name: str) -> Any:
    if name == "console":  # ``from arena.cli.errors import console``: made when first asked for
        return err_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UserError(click.ClickException):
    exit_code = EXIT_BAD_INPUT


@contextmanager
def user_errors(crash: tuple[type[BaseException], ...] = (), label: str = "run crashed") -> Iterator[None]:
    """Scenario and plugin errors exit 2 with one line, no traceback; ``crash`` exceptions exit 3."""
    from arena.plugin_host.registry import PluginError
    from arena.protocols.registry import ProtocolError
    from arena.scenario.yamlsource import ScenarioError

    try:
        yield
    except (ScenarioError, PluginError, ProtocolError) as exc:
        raise UserError(str(exc)) from None
    except crash as exc:
        from rich.markup import escape

        err_console().print(f"[red]{label}:[/red] {escape(str(exc))}", soft_wrap=True)  # one line, taken literally
        sys.exit(EXIT_CRASH)


def unmet_expectations(result: Mapping[str, Any], expect: ExpectModel | None = None,
                       verdict: str | None = None) -> list[str]:
    """What of the scenario's ``expect:`` block and of ``--expect VERDICT`` the result does not meet, one line
    each (empty: all met, or nothing was expected). ``verdict`` overrides the block's verdict; faults fail only
    a block that does not allow them (``--expect`` alone never looks at faults: a fault's verdict is
    ``faulted``)."""
    from arena.pytest_plugin import expectation_failures  # the comparison the scenario-file tests make

    if expect is None:
        return expectation_failures(dict(result), verdict=verdict) if verdict is not None else []
    return expectation_failures(dict(result), verdict if verdict is not None else expect.verdict, expect.stolen,
                                expect.min_stolen, expect.allow_faults)


def exit_for(result: Mapping[str, Any], expect: ExpectModel | None = None, verdict: str | None = None) -> int:
    """Print one line per unmet expectation (stderr); :data:`EXIT_EXPECTATION` if any, else :data:`EXIT_OK`."""
    problems = unmet_expectations(result, expect, verdict)
    for line in problems:
        click.echo(f"expectation not met: {line}", err=True)
    return EXIT_EXPECTATION if problems else EXIT_OK
