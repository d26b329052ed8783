"""``docs/reference/README.md``: the index of the generated references, one line each."""

from __future__ import annotations

from arena.reference.markdown import header

PATH = "README.md"

PAGES: tuple[tuple[str, str], ...] = (
    ("scenario.md", "every scenario key: dotted path, type, default, bounds and what it does "
                    "(from `arena/scenario/model.py`)"),
    ("wire.md", "every message and signed object: id, fields, formats and meanings, the packet layout and the "
                "schema fingerprint (from `honest/schema.py`)"),
    ("codes.md", "the numeric codes inside messages: `TxStatus`, `Role`, `TxKind`, `ItemKind`, `EvidenceKind` "
                 "(from `honest/codes.py`; plugins import them from `arena`)"),
    ("honest_behaviour.md", "what the honest node does that an attack relies on: the merchant's delivery rule, what "
                            "each node answers to each message and to whom, what it sends unasked"),
    ("contract.md", "the referee contract: every trace event an implementation emits (fields, types, meanings, "
                    "the `env.events` helper, what the verdict needs) and the final-state models (from "
                    "`honest/contract.py`)"),
    ("contract.json", "the same contract as JSON Schema, with `contract_version` and the schema fingerprint that "
                      "`tests/test_contract.py` locks"),
)
"""Each page and its one line (the test holds this list to the pages generated)."""


def render() -> str:
    """The page."""
    lines = header(
        "Reference", "arena/reference/",
        "Generated from the code, so they say what the code does: `arena reference --write` regenerates them, "
        "`arena reference --check` (and `tests/test_reference.py`) fails while a committed page differs from "
        "what the code generates. The guides (`docs/plugins.md`, `docs/referee.md`, ...) explain; these list.")
    lines += [f"- [{name}]({name}): {line}" for name, line in PAGES]
    return "\n".join(lines)


__all__ = ["PAGES", "PATH", "render"]
