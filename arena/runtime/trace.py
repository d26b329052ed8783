"""The append-only history of a run (``trace.jsonl``): written as it happens, hashed as it is written.

The referee and the report read only this file and the final states, never the live objects, so a run can be
judged again later (``arena judge``) and a live battle is judged like a simulated one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TRACE_FORMAT = 1

#: What each level records. ``packets`` adds every sent and delivered packet; ``default`` keeps drops, faults,
#: protocol and plugin events; ``summary`` keeps faults, protocol and plugin events only.
LEVELS = ("summary", "default", "packets")


class Trace:
    """Writes events as JSON lines with their virtual time; keeps a running SHA-256 of every byte written."""

    def __init__(self, path: Path | None, level: str = "default", keep: bool = False) -> None:
        if level not in LEVELS:
            raise ValueError(f"trace level must be one of {LEVELS}, not {level!r}")
        self.level = level
        self.packets = level == "packets"
        self.drops = level != "summary"
        self.path = path
        self._file: IO[str] | None = path.open("w", encoding="utf-8") if path else None
        self._hash = hashlib.sha256()
        self.kept: list[dict[str, Any]] | None = [] if keep else None
        self.counts: Counter[str] = Counter()
        self.lines = 0

    def header(self, **fields: Any) -> None:
        self._write({"format": TRACE_FORMAT, **fields})

    def emit(self, t: float, ev: str, **fields: Any) -> None:
        """Record one event at virtual time ``t`` (rounded to the microsecond so the text is stable)."""
        self.counts[ev] += 1
        self._write({"t": round(t, 6), "ev": ev, **fields})

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=_default) + "\n"
        self._hash.update(line.encode())
        self.lines += 1
        if self._file is not None:
            self._file.write(line)
        if self.kept is not None:
            self.kept.append(record)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable in a trace: {type(obj).__name__}")


def read_trace(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The header and an iterator over the events of a trace file."""
    fh = path.open("r", encoding="utf-8")
    header = json.loads(fh.readline() or "{}")

    def events() -> Iterator[dict[str, Any]]:
        with fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    return header, events()


def first_difference(a: Path, b: Path) -> tuple[int, str, str] | None:
    """The first line (1-based) where two traces differ, with both lines; None when identical."""
    with a.open(encoding="utf-8") as fa, b.open(encoding="utf-8") as fb:
        n = 0
        while True:
            n += 1
            la, lb = fa.readline(), fb.readline()
            if la != lb:
                return n, la.rstrip("\n"), lb.rstrip("\n")
            if not la:
                return None
