"""``docs/reference/codes.md``: the numeric codes inside wire messages, from the enums of :mod:`honest.codes`.

Each member's meaning is the comment beside it in ``honest/codes.py`` (read from the source, so the comment a
maintainer edits is the one the page shows); the message fields that carry each enum come from
:data:`honest.codes.WIRE_CODES`.
"""

from __future__ import annotations

import inspect
import io
import tokenize
from enum import IntEnum

from arena.reference.markdown import code, header, prose, table
from honest import codes

PATH = "codes.md"


def member_comments(enum: type[IntEnum]) -> dict[str, str]:
    """``NAME -> comment`` for the members of ``enum`` written ``NAME = value  # comment`` in its source."""
    found: dict[str, str] = {}
    line_name: dict[int, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(inspect.getsource(enum)).readline))
    for i, tok in enumerate(tokens[:-1]):
        if tok.type == tokenize.NAME and tok.string in enum.__members__ and tokens[i + 1].string == "=":
            line_name[tok.start[0]] = tok.string
        elif tok.type == tokenize.COMMENT and tok.start[0] in line_name:
            found[line_name[tok.start[0]]] = tok.string.lstrip("#").strip()
    return found


def render() -> str:
    """The page."""
    lines = header(
        "Wire codes", "honest/codes.py",
        "The numbers that travel inside messages, and what the honest node means by them. Plugins import the "
        "enums from `arena` (`from arena import TxStatus, Role`) and write `TxStatus.FINALIZED`, not `3`; an enum "
        "member equals the plain `int` a decoded message holds (`msg.status == TxStatus.FINALIZED`). A byte that "
        "names no member is not an error on the wire: each table says what the honest node does with it.")
    for enum, fields in codes.WIRE_CODES:
        comments = member_comments(enum)
        lines += [f"## {code(enum.__name__)}", "", prose(enum.__doc__), "",
                  "Carried by " + ", ".join(code(f) for f in fields) + ".", ""]
        rows = [(code(int(m)), code(f"{enum.__name__}.{m.name}"), prose(comments.get(m.name, ""))) for m in enum]
        lines += table(("value", "member", "meaning"), rows)
        lines += [UNKNOWN_VALUE[enum], ""]
    lines += ["## Labels", "",
              "Two enums have a `label`, the lower-case name other parts of the arena spell them with: "
              f"`TxStatus.FINALIZED.label == {codes.TxStatus.FINALIZED.label!r}` is the merchant's "
              "`PaymentStatus.status` (which the `arena_payment_confirmed` hook sees), and "
              f"`Role.VALIDATOR.label == {codes.Role.VALIDATOR.label!r}` is `NodeContext.role` and a scenario's "
              "role name.", ""]
    return "\n".join(lines)


UNKNOWN_VALUE: dict[type[IntEnum], str] = {
    codes.TxStatus: "Any other status byte is read as `unknown` by the merchant.",
    codes.Role: "Any other role byte in an `Announce` is read as a light node's.",
    codes.TxKind: "A transaction of any other kind is rejected (`unknown_kind`).",
    codes.ItemKind: "A gossip item of any other kind is dropped (`unknown_item`) and not forwarded.",
    codes.EvidenceKind: "A slash with any other evidence kind is rejected (`bad_evidence`).",
}
"""What the honest node does with a byte outside each enum (the test holds every enum to an entry)."""

__all__ = ["PATH", "UNKNOWN_VALUE", "member_comments", "render"]
