"""``arena schema``: print the frozen wire schema and its fingerprint; write or check ``honest/schema.lock``.

The lock holds two lines, ``version = N`` and ``fingerprint = <hex>``. ``tests/test_schema_lock.py`` fails when the
schema drifts from it; to change the schema on purpose, bump ``SCHEMA_VERSION`` in ``honest/schema.py`` and run
``arena schema --write-lock``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

import honest
from arena.cli.consoles import console
from honest import schema

UPDATE_HINT = "bump SCHEMA_VERSION in honest/schema.py and run `arena schema --write-lock`"


def lock_path() -> Path:
    """Where the lock lives: beside ``honest/schema.py`` (installed as package data)."""
    return Path(honest.__file__).parent / "schema.lock"


def lock_text() -> str:
    """The lock file's content for the schema as it is now."""
    return f"version = {schema.SCHEMA_VERSION}\nfingerprint = {schema.fingerprint()}\n"


def read_lock(path: Path) -> tuple[int, str] | None:
    """(version, fingerprint) from a lock file; None when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    try:
        return int(fields["version"]), fields["fingerprint"]
    except (KeyError, ValueError):
        return None


def lock_problem(path: Path) -> str | None:
    """Why the lock at ``path`` does not match the schema, or None when it does."""
    locked = read_lock(path)
    if locked is None:
        return f"{path}: missing or unreadable lock; {UPDATE_HINT}"
    version, fp = locked
    now_version, now_fp = schema.SCHEMA_VERSION, schema.fingerprint()
    if fp != now_fp:
        same = " (SCHEMA_VERSION unchanged)" if version == now_version else ""
        return (f"wire schema fingerprint {now_fp} differs from the lock {fp} (version {version} locked, "
                f"{now_version} now){same}. If the change is deliberate, {UPDATE_HINT}")
    if version != now_version:
        return f"lock version {version} differs from SCHEMA_VERSION {now_version}; run `arena schema --write-lock`"
    return None


def schema_table() -> Table:
    t = Table(title=f"honest wire schema v{schema.SCHEMA_VERSION}")
    t.add_column("name")
    t.add_column("id", justify="right")
    t.add_column("fields")
    for name, mid, fields in schema.describe():
        t.add_row(name, "-" if mid is None else str(mid), ", ".join(f"{n}: {f}" for n, f in fields))
    return t


@click.command("schema")
@click.option("--write-lock", is_flag=True, help="Rewrite the lock file from the schema as it is now.")
@click.option("--check", is_flag=True, help="Exit 1 when the lock file differs from the schema.")
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Lock file to write or check (default: honest/schema.lock).")
@click.option("--quiet", is_flag=True, help="Do not print the table.")
@click.option("--json", "as_json", is_flag=True, help="Print the schema as JSON: version, fingerprint, and each type "
              "with its message id (null for signed objects) and fields.")
def schema_cmd(write_lock: bool, check: bool, lock_file: Path | None, quiet: bool, as_json: bool) -> None:
    """Print the wire schema (messages and signed objects) and its fingerprint; write or check the lock."""
    out = console()
    path = lock_file or lock_path()
    if as_json and not (write_lock or check):
        types = [{"name": name, "msg_id": mid, "fields": [{"name": n, "format": f} for n, f in fields]}
                 for name, mid, fields in schema.describe()]
        click.echo(json.dumps({"version": schema.SCHEMA_VERSION, "fingerprint": schema.fingerprint(),
                               "types": types}, indent=2))
        return
    if not quiet:
        out.print(schema_table())
    out.print(f"version = {schema.SCHEMA_VERSION}\nfingerprint = {schema.fingerprint()}", highlight=False)
    if write_lock:
        path.write_text(lock_text(), encoding="utf-8")
        out.print(f"wrote {path}", highlight=False)
    if check:
        problem = lock_problem(path)
        if problem is not None:
            console(stderr=True).print(f"[red]schema lock mismatch:[/red] {problem}", highlight=False, soft_wrap=True)
            sys.exit(1)
        out.print(f"lock {path} matches", highlight=False)


__all__ = ["UPDATE_HINT", "lock_path", "lock_problem", "lock_text", "read_lock", "schema_cmd"]
