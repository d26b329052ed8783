"""``arena new attack NAME`` / ``arena new defense NAME``: a working plugin, a small scenario and a test to start from.

The files come from ``arena/cli/templates/`` (``string.Template`` with ``$name``, ``$cls``, ``$title``, ``$kind``).
Nothing is ever overwritten: an existing file is an error.
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


def _class_name(name: str) -> str:
    cls = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    return cls if cls and cls[0].isalpha() else f"Plugin{cls}"


def _template(filename: str) -> Template:
    return Template(files("arena.cli").joinpath("templates", filename).read_text(encoding="utf-8"))


def check_name(name: str) -> None:
    """A plugin name becomes a module, a file and a scenario key: it must be a plain Python identifier."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ValueError(f"plugin name {name!r} is not a valid Python identifier (use letters, digits and _, "
                         "not starting with a digit, e.g. 'my_attack')")


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
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise ValueError(f"refusing to overwrite existing file(s): {', '.join(existing)}")
    values = {"name": name, "cls": _class_name(name), "title": name.replace("_", " ").capitalize(), "kind": kind}
    rendered = {path: _template(tmpl).substitute(values) for path, tmpl in targets.items()}
    dest.mkdir(parents=True, exist_ok=True)
    for path, text in rendered.items():
        path.write_text(text, encoding="utf-8")
    return list(rendered)


@click.group("new")
def new_cmd() -> None:
    """Create a new attack or defense plugin with a scenario and a test."""


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
