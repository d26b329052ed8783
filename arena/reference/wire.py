"""``docs/reference/wire.md``: every message and signed object of the frozen wire schema, from ``honest/schema.py``.

Ids, field names and formats come from :func:`honest.schema.describe` (what the lock fingerprints); what a type is for
is the first paragraph of its docstring, and what each field means is the docstring's ``field: meaning`` line, so a
field added without a meaning fails the reference test.
"""

from __future__ import annotations

import re

from ipv8.community import Community

from arena.reference.markdown import code, header, prose, table
from honest import schema
from honest.codes import WIRE_CODES
from honest.node.settings import COMMUNITY_ID

PATH = "wire.md"

FORMATS: dict[str, str] = {
    "B": "unsigned byte",
    "I": "unsigned 32-bit integer, big-endian",
    "Q": "unsigned 64-bit integer, big-endian",
    "?": "bool: one byte, 0 or 1 (any other byte is refused)",
    "20s": "exactly 20 bytes",
    "32s": "exactly 32 bytes",
    "varlenH": "bytes after a 2-byte big-endian length",
    "varlenI": "bytes after a 4-byte big-endian length",
    "varlenHutf8": "UTF-8 text after a 2-byte big-endian length",
    "ipv4": "an address: 4 bytes of IPv4 address, then a 2-byte port",
    "Object": "a nested object (one of the signed objects below) after a 2-byte big-endian size",
    "[Object]": f"a list: a 1-byte count (at most {schema.MAX_LIST_ITEMS}), then each object after a 2-byte size",
}
"""What each py-ipv8 format string means on the wire (every format the schema uses must be here)."""

_NOTE = re.compile(r"^\s*(\w+): (.+)$")


def format_key(fmt: str) -> str:
    """The legend entry of a format string: itself, or ``Object`` / ``[Object]`` for nested types."""
    if fmt in FORMATS:
        return fmt
    return "[Object]" if fmt.startswith("[") else "Object"


def summary(cls: type[schema.Frozen]) -> str:
    """The first paragraph of a type's own docstring."""
    doc = cls.__dict__.get("__doc__") or ""
    return prose(doc.strip().split("\n\n")[0])


def field_notes(cls: type[schema.Frozen]) -> dict[str, str]:
    """``field -> meaning`` from the ``field: meaning`` lines after the first paragraph of the type's docstring."""
    doc = cls.__dict__.get("__doc__") or ""
    notes: dict[str, str] = {}
    for line in doc.strip().split("\n\n", 1)[-1].splitlines():
        m = _NOTE.match(line)
        if m and m.group(1) in cls.names:
            notes[m.group(1)] = prose(m.group(2))
    return notes


def _code_links() -> dict[str, str]:
    """``Type.field -> enum name`` for every field that carries a code of :mod:`honest.codes`."""
    return {carrier: enum.__name__ for enum, carriers in WIRE_CODES for carrier in carriers}


def _anchor(name: str) -> str:
    return name.lower()


def _format_cell(fmt: str) -> str:
    """A format string, linked to its object's section when it names a nested object."""
    inner = fmt.strip("[]")
    if format_key(fmt) in ("Object", "[Object]"):
        return f"[{code(fmt)}](#{_anchor(inner)})"
    return code(fmt)


def render() -> str:
    """The page."""
    prefix = b"\x00" + Community.version + COMMUNITY_ID
    lines = header(
        "Wire schema", "honest/schema.py",
        f"Schema version {schema.SCHEMA_VERSION}, fingerprint {code(schema.fingerprint())} (`arena schema --check` "
        "compares it with `honest/schema.lock`). The schema is frozen: both teams send exactly these messages, and "
        "the honest node refuses any packet that is not the one canonical encoding of one of them (a length past "
        "the end, bytes left over, a bool that is not 0 or 1). What the honest node answers to each message, and to "
        "whom, is in [honest_behaviour.md](honest_behaviour.md); the numeric codes inside messages are in "
        "[codes.md](codes.md).")
    lines += [
        "## Packets", "",
        "Every message travels in one signed py-ipv8 packet: the 22-byte community prefix "
        f"{code(prefix.hex())} (a zero byte, py-ipv8's community version {code(Community.version.hex())} and the "
        "honest protocol's 20-byte community id), one byte of message id, a 2-byte length and the sender's public "
        "key, the payload, and the sender's signature over everything before it. The key that signed the packet is "
        "who the message is from (hooks see it as `InMessage.sender`); a packet whose signature does not verify is "
        "dropped. Ids 231-255 are py-ipv8's own messages.", "",
        "## Formats", "",
    ]
    lines += table(("format", "on the wire"), [(code(k), v) for k, v in FORMATS.items()])
    links = _code_links()
    lines += ["## Messages", ""]
    rows = [(code(mid), f"[{code(name)}](#{_anchor(name)})", summary(schema.MESSAGES[mid]))
            for name, mid, _ in schema.describe() if mid is not None]
    lines += table(("id", "message", "what it is for"), rows)
    for title, want_message in (("Message fields", True), ("Signed and nested objects", False)):
        lines += [f"## {title}", ""]
        for name, mid, fields in schema.describe():
            if (mid is not None) != want_message:
                continue
            cls = schema.MESSAGES[mid] if mid is not None else next(c for c in schema.OBJECTS if c.__name__ == name)
            notes = field_notes(cls)
            ident = f"Message id {mid}." if mid is not None else "An object inside messages."
            lines += [f"### {code(name)}", "", f"{ident} {summary(cls)}", ""]
            frows = []
            for fname, fmt in fields:
                meaning = notes.get(fname, "")
                enum = links.get(f"{name}.{fname}")
                if enum is not None:
                    meaning += f" ([values](codes.md#{_anchor(enum)}))"
                frows.append((code(fname), _format_cell(fmt), FORMATS[format_key(fmt)], meaning))
            lines += table(("field", "format", "on the wire", "meaning"), frows)
    return "\n".join(lines)


__all__ = ["FORMATS", "PATH", "field_notes", "format_key", "render", "summary"]
