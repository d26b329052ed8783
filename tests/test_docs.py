"""docs/plugins.md documents every hook exactly, every schema message, and its worked example works."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from arena.plugin_api import hookspecs
from arena.plugin_api.base import Plugin
from arena.plugin_host.registry import HOOK_NAMES, load_file
from honest.schema import MESSAGES, OBJECTS

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def expected_signature(name: str) -> str:
    """``def name(param: annotation, ...) -> return`` from the spec (annotations are strings: postponed)."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_signature_is_documented(doc: str, name: str) -> None:
    assert f"def {name}(" in doc
    assert expected_signature(name) in doc, f"docs/plugins.md lacks the exact line: {expected_signature(name)}"


def test_every_message_is_documented(doc: str) -> None:
    missing = [cls.__name__ for cls in [*MESSAGES.values(), *OBJECTS] if f"`{cls.__name__}`" not in doc]
    assert not missing, f"schema types missing from docs/plugins.md: {missing}"


def example(doc: str) -> str:
    m = re.search(r"<!-- example:drop_blocks -->\s*```python\n(.*?)```\s*<!-- /example -->", doc, re.S)
    assert m, "no <!-- example:drop_blocks --> python block in docs/plugins.md"
    return m.group(1)


def test_worked_example_is_a_plugin(doc: str, tmp_path: Path) -> None:
    path = tmp_path / "drop_blocks_example.py"
    path.write_text(example(doc), encoding="utf-8")
    (cls,) = load_file(path)
    assert issubclass(cls, Plugin) and cls is not Plugin
    assert cls.name == "drop_blocks" and cls.team == "red"
    assert "arena_outgoing_message" in dir(cls)
