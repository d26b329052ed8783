"""The seal of a run directory: the sha256 and size of every file the referee reads, kept in ``result.json``.

A red team that can write to a run directory can try to change the verdict by changing its files (cutting the
trace at a line boundary, deleting ``delivery`` lines, removing or editing a state file). The runner seals the
files it wrote (``result["seal"] = seal(out_dir)``) and ``arena judge`` refuses a directory whose files no longer
match (:func:`verify`).

What the seal covers (:func:`sealed_files`), as keys relative to the run directory in POSIX form:

* ``trace.jsonl`` and ``states/*.json`` (a simulated run, and a live battle's coordinator);
* ``nodes/<name>/trace.jsonl`` and ``nodes/<name>/states/*.json`` (each node directory of a live battle).

Every value is ``{"sha256": <hex digest of the file's bytes>, "size": <bytes>}``. Reports, logs, stats,
``ledger.sqlite`` and ``result.json`` itself are not covered: the referee does not read them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The key of the seal in ``result.json``.
SEAL_KEY = "seal"
RESULT_FILE = "result.json"
TRACE_FILE = "trace.jsonl"
_CHUNK = 1 << 20


def sealed_files(run_dir: Path | str) -> list[str]:
    """The keys (POSIX paths relative to ``run_dir``) of the files a seal of ``run_dir`` covers that exist now."""
    root = Path(run_dir)
    found: list[Path] = []
    for base in (root, *sorted(p for p in (root / "nodes").glob("*") if p.is_dir())):
        trace = base / TRACE_FILE
        if trace.is_file():
            found.append(trace)
        found.extend(p for p in sorted((base / "states").glob("*.json")) if p.is_file())
    return [p.relative_to(root).as_posix() for p in found]


def file_digest(path: Path) -> dict[str, Any]:
    """``{"sha256": ..., "size": ...}`` of one file's bytes."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return {"sha256": h.hexdigest(), "size": size}


def seal(run_dir: Path | str) -> dict[str, dict[str, Any]]:
    """The seal of ``run_dir``: key (see :func:`sealed_files`) -> ``{"sha256", "size"}`` of the file's bytes."""
    root = Path(run_dir)
    return {key: file_digest(root / key) for key in sealed_files(root)}


class ResultError(ValueError):
    """``result.json`` cannot be read as a JSON object (the message is one line naming the file)."""


def read_result(run_dir: Path | str) -> dict[str, Any] | None:
    """``run_dir/result.json`` as a dict; None when there is none; :class:`ResultError` when it is unreadable."""
    path = Path(run_dir) / RESULT_FILE
    if not path.exists():
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultError(f"{path}: unreadable ({first})") from None
    if not isinstance(loaded, dict):
        raise ResultError(f"{path}: unreadable (not a JSON object)")
    return loaded


def verify(run_dir: Path | str, result: Mapping[str, Any] | None = None) -> list[str]:
    """What is wrong with ``run_dir`` against the seal in ``result`` (read from ``run_dir/result.json`` when None),
    one line each, naming the file: ``<run_dir>/<key>: <problem>``. Empty: every sealed file is there, unchanged,
    and no covered file was added.

    Problems: result.json unreadable, the seal malformed, a file missing, truncated (smaller than sealed), altered
    (another size or sha256), or an unexpected file (a trace or state file the seal does not list). An unsealed
    result (no ``seal`` key: a run from before seals, see :func:`is_sealed`) is checked only against the trace's
    running hash ``trace_sha256`` when it has one."""
    root = Path(run_dir)
    if result is None:
        try:
            result = read_result(root)
        except ResultError as exc:
            return [str(exc)]
        if result is None:
            return []
    if SEAL_KEY not in result:
        return _unsealed_trace(root, result.get("trace_sha256"))
    sealed = result[SEAL_KEY]
    if not isinstance(sealed, Mapping) or not all(_entry_ok(k, v) for k, v in sealed.items()):
        return [f"{root / RESULT_FILE}: unreadable (its seal is malformed)"]
    problems = []
    for key in sorted(sealed):
        entry = sealed[key]
        path = root / key
        if not path.is_file():
            problems.append(f"{path}: missing (sealed in {RESULT_FILE})")
            continue
        try:
            now = file_digest(path)
        except OSError as exc:
            problems.append(f"{path}: unreadable ({type(exc).__name__})")
            continue
        if now["size"] < entry["size"]:
            problems.append(f"{path}: truncated ({now['size']} of {entry['size']} sealed bytes)")
        elif now["size"] != entry["size"]:
            problems.append(f"{path}: altered ({now['size']} bytes, {entry['size']} sealed)")
        elif now["sha256"] != entry["sha256"]:
            problems.append(f"{path}: altered (sha256 differs from {RESULT_FILE}'s seal)")
    for key in sealed_files(root):
        if key not in sealed:
            problems.append(f"{root / key}: unexpected file (not in {RESULT_FILE}'s seal)")
    return problems


def is_sealed(result: Mapping[str, Any] | None) -> bool:
    """Whether a ``result.json`` carries a seal (runs written before seals existed do not)."""
    return result is not None and SEAL_KEY in result


def _unsealed_trace(root: Path, recorded: Any) -> list[str]:
    """An old run's trace against the running sha256 its runner recorded (the hash of the file's bytes)."""
    path = root / TRACE_FILE
    if not isinstance(recorded, str) or not path.is_file():
        return []
    try:
        now = file_digest(path)["sha256"]
    except OSError as exc:
        return [f"{path}: unreadable ({type(exc).__name__})"]
    return [] if now == recorded else [f"{path}: altered (sha256 differs from {RESULT_FILE}'s trace_sha256)"]


def _entry_ok(key: Any, entry: Any) -> bool:
    if not isinstance(key, str) or not key or key.startswith("/") or ".." in Path(key).parts:
        return False
    return (isinstance(entry, Mapping) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int) and not isinstance(entry.get("size"), bool))


__all__ = ["SEAL_KEY", "ResultError", "file_digest", "is_sealed", "read_result", "seal", "sealed_files", "verify"]
