"""``arena new attack|defense|protocol NAME``: a working plugin or protocol, a small scenario and a test to start from.

The files come from ``arena/cli/templates/`` (``string.Template`` with ``$name``, ``$cls``, ``$title``, ``$kind``).
``arena new protocol NAME`` writes a team's own blockchain (an ``arena.Protocol`` with its py-ipv8 Communities) that
passes ``arena conform NAME.py``. Nothing is ever overwritten: an existing file is an error.
"""

from __future__ import annotations

import keyword
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Literal

import click

Kind = Literal["attack", "defense"]
KINDS: tuple[Kind, ...] = ("attack", "defense")
#: ``arena new protocol NAME``: template -> the file it becomes (``{name}`` filled in).
PROTOCOL_FILES = (("protocol.py.tmpl", "{name}.py"), ("scenario_protocol.yaml.tmpl", "scenario_{name}.yaml"),
                  ("test_protocol.py.tmpl", "test_{name}.py"))


def _class_name(name: str) -> str:
    cls = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    return cls if cls and cls[0].isalpha() else f"Plugin{cls}"


def _template(filename: str) -> Template:
    return Template(files("arena.cli").joinpath("templates", filename).read_text(encoding="utf-8"))


def check_name(name: str, what: str = "plugin") -> None:
    """A plugin or protocol name becomes a module, a file and a scenario key: it must be a plain Python
    identifier."""
    example = "my_chain" if what == "protocol" else "my_attack"
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ValueError(f"{what} name {name!r} is not a valid Python identifier (use letters, digits and _, "
                         f"not starting with a digit, e.g. {example!r})")


def _write(targets: dict[Path, str], values: dict[str, str]) -> list[Path]:
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise ValueError(f"refusing to overwrite existing file(s): {', '.join(existing)}")
    rendered = {path: _template(tmpl).substitute(values) for path, tmpl in targets.items()}
    for path in rendered:
        path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in rendered.items():
        path.write_text(text, encoding="utf-8")
    return list(rendered)


def new_plugin(kind: Literal["attack", "defense"], name: str, dest: Path) -> list[Path]:
    """Write ``<name>.py``, ``scenario_<name>.yaml`` and ``test_<name>.py`` into ``dest``; return their paths."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    check_name(name)
    dest = Path(dest)
    targets = {
        dest / f"{name}.py": f"{kind}.py.tmpl",
        dest / f"scenario_{name}.yaml": f"scenario_{kind}.yaml.tmpl",
        dest / f"test_{name}.py": "test_plugin.py.tmpl",
    }
    values = {"name": name, "cls": _class_name(name), "title": name.replace("_", " ").capitalize(), "kind": kind}
    return _write(targets, values)


def new_protocol(name: str, dest: Path) -> list[Path]:
    """Write ``<name>.py`` (a protocol that passes ``arena conform``), ``scenario_<name>.yaml`` (``protocol:
    <name>``) and ``test_<name>.py`` into ``dest``; return their paths."""
    check_name(name, "protocol")
    if name in ("honest", "pingpong"):
        raise ValueError(f"protocol name {name!r} is a built-in protocol's: choose another")
    dest = Path(dest)
    targets = {dest / out.format(name=name): tmpl for tmpl, out in PROTOCOL_FILES}
    values = {"name": name, "cls": _class_name(name), "title": name.replace("_", " ").capitalize(),
              "kind": "protocol"}
    return _write(targets, values)


@click.group("new")
def new_cmd() -> None:
    """Create a new attack or defense plugin with a scenario and a test.

    `arena new protocol NAME` writes a team's own blockchain instead (docs/protocols.md)."""


def _create(kind: Kind, name: str, directory: Path) -> None:
    try:
        paths = new_plugin(kind, name, directory)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for p in paths:
        click.echo(f"created {p}")
    plugin, scenario, test = paths
    click.echo(f"\nnext: arena run {scenario} --plugin {plugin}\n      pytest {test}")


_dir_option = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                           show_default=True, help="Where to write the files.")


@new_cmd.command("attack")
@click.argument("name")
@_dir_option
def new_attack(name: str, directory: Path) -> None:
    """A red plugin NAME.py, scenario_NAME.yaml and test_NAME.py."""
    _create("attack", name, directory)


@new_cmd.command("defense")
@click.argument("name")
@_dir_option
def new_defense(name: str, directory: Path) -> None:
    """A blue plugin NAME.py, scenario_NAME.yaml and test_NAME.py."""
    _create("defense", name, directory)


@new_cmd.command("protocol")
@click.argument("name")
@_dir_option
def new_protocol_cmd(name: str, directory: Path) -> None:
    """A team's own blockchain NAME.py (passes `arena conform`), scenario_NAME.yaml and test_NAME.py."""
    try:
        paths = new_protocol(name, directory)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for p in paths:
        click.echo(f"created {p}")
    protocol, scenario, test = paths
    click.echo(f"\nnext: arena conform {protocol}\n      arena run {scenario} --protocol {protocol}\n"
               f"      pytest {test}")
