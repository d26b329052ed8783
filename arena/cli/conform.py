"""``arena conform PROTOCOL``: the conformance kit (:mod:`arena.conform`) on a team's own implementation.

Exit codes: 0 every check passed; 1 a check failed (the table says which, with its evidence); 2 a bad protocol
reference (one line).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import click

from arena.cli.errors import EXIT_EXPECTATION, EXIT_OK, err_console, user_errors

HELP_EPILOG = ("Exit codes: 0 every check passed; 1 a check failed; 2 a bad protocol reference. PROTOCOL is what "
               "--protocol takes: a file (ourchain.py), an installed name, package.module:Class, or honest.")


@click.command("conform", epilog=HELP_EPILOG)
@click.argument("protocol")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Keep the battles' run directories here (default: a temporary directory, removed afterwards).")
@click.option("--seed", type=int, default=None, help="Override the battles' seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead of the table.")
def conform_cmd(protocol: str, out_dir: str | None, seed: int | None, as_json: bool) -> None:
    """Check a protocol against the arena's rules in short battles: supply, double spend, crash, wire schema."""
    from arena.cli.consoles import console
    from arena.conform import conform, protocol_factory
    from arena.conform.table import table

    with user_errors():
        protocol_factory(protocol)  # a bad reference exits 2 before any battle runs
    err = err_console()

    def note(battle: str) -> None:
        if not as_json:
            err.print(f"[dim]battle {battle} ...[/dim]")

    if out_dir is not None:
        results = conform(protocol, Path(out_dir), seed, note)
    else:
        with tempfile.TemporaryDirectory(prefix="arena-conform-") as tmp:
            results = conform(protocol, Path(tmp), seed, note)
    if as_json:
        click.echo(json.dumps({"protocol": protocol, "passed": all(r.passed for r in results),
                               "checks": [asdict(r) for r in results]}, indent=2))
    else:
        console().print(table(protocol, results))
    sys.exit(EXIT_OK if all(r.passed for r in results) else EXIT_EXPECTATION)
