"""``arena protocols``: the protocols a battle can run (built in, installed, loaded from ``--protocol`` files)."""

from __future__ import annotations

import json

import click

from arena.cli.errors import user_errors


def protocol_rows(files: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """One row per protocol: name, where it comes from, its leader rule and its one-line description."""
    from arena.protocols import registry

    rows = [{"name": "honest", "source": "built in", "leader_schedule": "stake",
             "about": "the reference blockchain (honest/): validators, light nodes, merchants, channels"},
            {"name": "pingpong", "source": "built in", "leader_schedule": "-",
             "about": "the course template's PingPong (simulator only; no referee verdict)"}]
    loaded = {registry.scenario_name(f): f for f in files}
    for name, where in sorted({**registry.installed(), **loaded}.items()):
        cls = registry.protocol_class(name)
        assert cls is not None
        source = f"file {where}" if name in loaded else f"entry point {where}"
        rows.append({"name": name, "source": source, "leader_schedule": cls.leader_schedule,
                     "about": cls.description or (cls.__doc__ or "").strip().split("\n")[0]})
    return rows


@click.command("protocols")
@click.option("--protocol", "files", multiple=True, type=click.Path(dir_okay=False), help="Also load a protocol file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (name, source, leader_schedule, about).")
def protocols_cmd(files: tuple[str, ...], as_json: bool) -> None:
    """List the protocols a battle can run: built in, installed (entry point group arena.protocols), or files."""
    from rich.table import Table

    from arena.cli.consoles import console

    with user_errors():
        rows = protocol_rows(files)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    t = Table(title="protocols")
    for col in ("name", "source", "leader_schedule", "about"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["source"], r["leader_schedule"], r["about"])
    console().print(t)
