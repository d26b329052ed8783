"""``arena reference``: print, write or check the references generated from the code (``docs/reference/``).

``--write`` regenerates every page; ``--check`` exits 1 naming each page that is missing or differs from what the
code generates (``tests/test_reference.py`` makes the same check); with neither it prints the index. ``--dir``
points at another copy of ``docs/reference`` (the tests check a tampered copy this way).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from arena.cli.errors import EXIT_EXPECTATION, UserError

WRITE_HINT = "run `arena reference --write`"


@click.command("reference")
@click.option("--check", is_flag=True, help="Exit 1 naming each page that differs from what the code generates.")
@click.option("--write", is_flag=True, help="Regenerate every page from the code.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The reference directory to write or check (default: docs/reference of this checkout).")
def reference_cmd(check: bool, write: bool, directory: Path | None) -> None:
    """Print, write or check the references generated from the code (scenario keys, wire schema, codes, honest
    behaviour, referee contract)."""
    from arena import reference
    from arena.cli.consoles import console

    if check and write:
        raise UserError("--check and --write exclude each other: write the pages, then check them")
    target = directory or reference.default_dir()
    out = console()
    if write:
        for path in reference.write_all(target):
            out.print(f"wrote {path}", highlight=False, markup=False)
        return
    if check:
        stale = reference.stale(target)
        if stale:
            err = console(stderr=True)
            for name in stale:
                err.print(f"stale reference: {target / name} differs from what the code generates; {WRITE_HINT}",
                          highlight=False, markup=False, soft_wrap=True)
            sys.exit(EXIT_EXPECTATION)
        out.print(f"{target}: every reference page matches the code", highlight=False, markup=False)
        return
    pages = reference.render_all()
    click.echo(pages[f"{reference.DOCS_DIR}/{reference.index.PATH}"], nl=False)


__all__ = ["WRITE_HINT", "reference_cmd"]
