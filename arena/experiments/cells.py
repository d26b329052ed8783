"""Cell ids and the per-battle results store: what makes a tournament resumable and each battle replayable.

A battle's **cell id** is the sha256 of the canonical JSON (sorted keys, no spaces) of::

    {"v": 1, "scenario": <Scenario.digest(): sha256 of the resolved scenario after overrides>,
     "plugins": {<name>: <sha256 of the plugin's source file>, ... for every plugin the scenario names},
     "seed": <seed>, "red": <false for a baseline>,
     "engine": <sha256 of the arena's and the honest protocol's own source, and py-ipv8's version>,
     "protocol": <sha256 of a team protocol's source file; only when the battle runs one (--protocol)>}

so a result is reused only for the very battle that gave it: change the scenario, a parameter, a plugin's source
(built-in ones too: found through the registry), a team protocol's source, the seed, or the code that runs and
judges battles, and the id changes (a worker with another version of ipv8-arena computes another id, and refuses
the battle). The output folder, the engine that schedules battles and the worker are not part of it: they change
nothing in a battle.

Each finished battle is written at once to ``DIR/results/<cell id>.json`` (its summary, ``result.json`` and what
replays it), so a crash loses no finished battle and ``--resume DIR`` runs only the ids that are missing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from arena.plugin_host.registry import PluginError, PluginInfo, Registry
from arena.scenario.model import Scenario

__all__ = ["RESULTS", "CellError", "CellStore", "WorkerMismatch", "cell_id", "check_cell", "engine_digest",
           "materialize", "plugin_digests", "plugins_used", "short"]

RESULTS = "results"
SHORT = 12  # hex digits shown for an id (like a short git hash; any unique prefix is accepted)


class CellError(Exception):
    """No stored cell, or several, match an id given on the command line (exit 2)."""


def short(cell: str) -> str:
    return cell[:SHORT]


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def plugins_used(data: Any) -> list[str]:
    """Every plugin name the scenario's data lists (teams' and nodes' ``plugins``), sorted, once each."""
    found: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "plugins" and isinstance(v, list):
                    found.update(str(u["name"]) for u in v if isinstance(u, dict) and "name" in u)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)
    return sorted(found)


def plugin_file(info: PluginInfo) -> Path:
    """The file a plugin class was loaded from (an entry point's module or a ``--plugin`` file)."""
    module = sys.modules.get(info.cls.__module__)
    path = getattr(module, "__file__", None) or inspect.getfile(info.cls)
    return Path(path)


def plugin_digests(registry: Registry, names: Iterable[str]) -> dict[str, str]:
    """name -> sha256 of the plugin's source file, for each name."""
    out = {}
    for name in names:
        path = plugin_file(registry.get(name))
        try:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise PluginError(f"plugin {name!r}: cannot read its source {path}: {exc}") from None
    return out


@functools.cache
def engine_digest() -> str:
    """sha256 over every source file of ``arena`` and ``honest`` (path and bytes) and py-ipv8's version: the code
    that runs and judges a battle."""
    import arena
    import honest

    h = hashlib.sha256(importlib.metadata.version("pyipv8").encode())
    for package in (arena, honest):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            h.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def protocol_digest(ref: str) -> str:
    """sha256 of the source file of a team's protocol ("" for a built-in, which the engine digest covers)."""
    from arena.protocols.registry import protocol_class

    cls = protocol_class(ref)
    if cls is None:
        return ""
    source = inspect.getsourcefile(cls)
    return hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else ""


def cell_id(scenario: Scenario, registry: Registry, seed: int, red: bool = True) -> str:
    """The content hash naming one battle (see the module docstring for exactly what it covers)."""
    plugins = plugin_digests(registry, plugins_used(scenario.model_dump(mode="json")))
    doc = {"v": 1, "scenario": scenario.digest(), "plugins": plugins, "seed": seed, "red": red,
           "engine": engine_digest()}
    protocol = protocol_digest(scenario.protocol)
    if protocol:
        doc["protocol"] = protocol
    return hashlib.sha256(canonical(doc)).hexdigest()


class WorkerMismatch(Exception):
    """A worker would run another battle than the client planned: its built-in plugins differ (another version of
    ipv8-arena). Raised before the battle runs, so nothing wrong is stored."""


def check_cell(expected: str, scenario: Scenario, registry: Registry, seed: int, red: bool) -> None:
    """Raise :class:`WorkerMismatch` unless this process computes the planned cell id for the battle."""
    here = cell_id(scenario, registry, seed, red)
    if expected and here != expected:
        import socket

        raise WorkerMismatch(f"cell {short(expected)} is {short(here)} on {socket.gethostname()}: its plugin sources "
                             "differ from the client's; install the same ipv8-arena on every machine")


def materialize(sources: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The paths to load ``--plugin`` files from on this machine: the original path where it holds the same text
    (every local run), else a copy of the shipped source in a per-content cache folder (a worker that does not
    share the client's filesystem)."""
    paths = []
    for path, text in sources:
        p = Path(path)
        try:
            if p.is_file() and p.read_text(encoding="utf-8") == text:
                paths.append(path)
                continue
        except (OSError, UnicodeDecodeError):
            pass
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        target = Path(tempfile.gettempdir()) / "arena-plugins" / digest / p.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        paths.append(str(target))
    return tuple(paths)


class CellStore:
    """``DIR/results/<cell id>.json``: one file per finished battle, written atomically as it arrives."""

    def __init__(self, out: Path) -> None:
        self.dir = out / RESULTS

    def path(self, cell: str) -> Path:
        return self.dir / f"{cell}.json"

    def save(self, summary: dict[str, Any], record: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.path(summary["cell_id"])
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"summary": summary, "cell": record}, indent=1, sort_keys=True, default=str))
        tmp.replace(target)

    def load(self, cells: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored summaries of the given ids (a missing or unreadable file: not done)."""
        done = {}
        for cell in cells:
            try:
                doc = json.loads(self.path(cell).read_text())
            except (OSError, ValueError):
                continue
            summary = doc.get("summary") if isinstance(doc, dict) else None
            if isinstance(summary, dict) and summary.get("cell_id") == cell:
                done[cell] = summary
        return done

    def find(self, prefix: str) -> dict[str, Any]:
        """The stored document of the one cell whose id starts with ``prefix``."""
        matches = sorted(self.dir.glob(f"{prefix}*.json")) if prefix and self.dir.is_dir() else []
        if len(matches) != 1:
            what = "no cell" if not matches else f"{len(matches)} cells"
            raise CellError(f"{what} in {self.dir} with an id starting {prefix!r}"
                              + ("" if matches else " (ids are in tournament.json: runs[].cell_id)"))
        doc: dict[str, Any] = json.loads(matches[0].read_text())
        return doc
