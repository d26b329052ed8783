"""References generated from the code (``docs/reference/``), each kept true by ``tests/test_reference.py``.

One module per page: :mod:`~arena.reference.scenario` (scenario keys, from the pydantic model),
:mod:`~arena.reference.wire` (the wire schema, from ``honest/schema.py``), :mod:`~arena.reference.codes` (the wire
code enums of ``honest/codes.py``), :mod:`~arena.reference.honest_behaviour` (what the honest node answers and
believes), :mod:`~arena.reference.contract` (the referee contract of ``honest/contract.py``: ``contract.md`` and
the schema ``contract.json``) and :mod:`~arena.reference.index` (the index). ``arena reference`` writes or checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from arena.reference import codes, contract, honest_behaviour, index, scenario, wire
from arena.reference.markdown import page

DOCS_DIR = "docs/reference"
"""Where the pages live, relative to the repository root."""

RENDERERS: tuple[tuple[str, Callable[[], str]], ...] = (
    (index.PATH, index.render),
    (scenario.PATH, scenario.render),
    (wire.PATH, wire.render),
    (codes.PATH, codes.render),
    (honest_behaviour.PATH, honest_behaviour.render),
    (contract.PATH, contract.render),
    (contract.JSON_PATH, contract.render_json),
)


def render_all() -> dict[str, str]:
    """``{path relative to the repository root: text}`` for every reference page (Markdown pages are normalised by
    :func:`~arena.reference.markdown.page`; a ``.json`` file is written as its renderer returns it)."""
    return {f"{DOCS_DIR}/{name}": page(fn().splitlines()) if name.endswith(".md") else fn() for name, fn in RENDERERS}


def default_dir() -> Path:
    """``docs/reference`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / DOCS_DIR


def stale(directory: Path) -> list[str]:
    """The pages under ``directory`` that are missing or differ from what the code generates (names only)."""
    out: list[str] = []
    for rel, text in render_all().items():
        path = directory / Path(rel).name
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            out.append(Path(rel).name)
    return out


def write_all(directory: Path) -> list[Path]:
    """Write every page into ``directory`` (created if need be); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in render_all().items():
        path = directory / Path(rel).name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


__all__ = ["DOCS_DIR", "RENDERERS", "default_dir", "render_all", "stale", "write_all"]
