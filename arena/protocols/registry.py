"""Finding the protocol a battle runs: built-in, installed (entry points), ``package.module:Class``, or a file.

- ``honest`` and ``pingpong`` are built in;
- an installed package names its protocol in the entry point group ``arena.protocols``
  (``[project.entry-points."arena.protocols"] ourchain = "ourchain.arena:OurChain"``);
- ``protocol: package.module:Class`` in a scenario imports the class from an importable module;
- ``--protocol path/to/file.py`` loads a file (its :class:`~arena.protocols.api.Protocol` subclass), like
  ``--plugin``. A protocol is the blue team's implementation under test, not a player's plugin: it may import
  py-ipv8 and anything else, and a bug in it crashes the world (exit 3, naming the node) instead of being contained.

Every failure is a :class:`ProtocolError` with one line saying what to fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from arena.protocols.api import Protocol

if TYPE_CHECKING:
    from arena.protocols.base import WorldProtocol

GROUP = "arena.protocols"
BUILTIN = ("honest", "pingpong")

#: Protocols loaded from files in this process, by name (``--protocol FILE`` makes the name usable in scenarios).
_FROM_FILES: dict[str, type[Protocol]] = {}


class ProtocolError(ValueError):
    """A protocol that cannot be found or loaded (one line)."""


def protocols_in_module(module: ModuleType) -> list[type[Protocol]]:
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, Protocol) and obj is not Protocol and obj.__module__ == module.__name__]


def load_protocol_file(path: str | Path) -> type[Protocol]:
    """The protocol class of a file (``--protocol FILE``); the file must define exactly one, or one per name."""
    p = Path(path)
    if not p.is_file():
        raise ProtocolError(f"protocol file {path}: not found")
    mod_name = f"arena_protocol_{p.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise ProtocolError(f"protocol file {path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ProtocolError(f"protocol file {path}: import failed: {type(exc).__name__}: {exc}") from None
    found = protocols_in_module(module)
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise ProtocolError(f"protocol file {path}: needs exactly one arena.Protocol subclass, found {names}")
    cls = found[0]
    _FROM_FILES[cls.name or p.stem] = cls
    return cls


def installed() -> dict[str, str]:
    """Installed protocols (entry point name -> ``module:attr``)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def known() -> list[str]:
    return sorted({*BUILTIN, *installed(), *_FROM_FILES})


def protocol_class(ref: str) -> type[Protocol] | None:
    """The public protocol class ``ref`` names (None for the built-ins, which run as world protocols)."""
    if ref in BUILTIN:
        return None
    if ref in _FROM_FILES:
        return _FROM_FILES[ref]
    if is_file_ref(ref):
        return load_protocol_file(ref)
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ProtocolError(f"protocol {ref!r}: cannot import {module_name!r}: {type(exc).__name__}: "
                                f"{exc}") from None
        return _checked(getattr(module, attr, None), ref)
    eps = [ep for ep in entry_points(group=GROUP) if ep.name == ref]
    if not eps:
        raise ProtocolError(f"unknown protocol {ref!r} (known: {', '.join(known())}); a protocol in a file is "
                            f"loaded with --protocol path/to/file.py, one in a module with protocol: module:Class")
    try:
        obj = eps[0].load()
    except Exception as exc:
        raise ProtocolError(f"entry point {ref} = {eps[0].value}: {type(exc).__name__}: {exc}") from None
    return _checked(obj, f"entry point {ref} = {eps[0].value}")


def _checked(obj: object, where: str) -> type[Protocol]:
    if not (inspect.isclass(obj) and issubclass(obj, Protocol)):
        raise ProtocolError(f"{where}: not an arena.Protocol subclass")
    return obj


def resolve(ref: str) -> WorldProtocol:
    """The world protocol that runs ``ref`` (a fresh instance for one battle)."""
    from arena.protocols.base import PingPongProtocol

    if ref == "pingpong":
        return PingPongProtocol()
    if ref == "honest":
        from arena.protocols.honest import HonestProtocol

        return HonestProtocol()
    cls = protocol_class(ref)
    assert cls is not None
    try:
        impl = cls()
    except Exception as exc:
        raise ProtocolError(f"protocol {ref!r}: {cls.__name__}() failed: {type(exc).__name__}: {exc}") from None
    from arena.protocols.hosted import HostedProtocol

    return HostedProtocol(impl, ref)


def is_file_ref(ref: str | Path) -> bool:
    """A reference to a file (``ourchain.py``, ``path/to/chain``), not a name or ``module:Class``."""
    text = str(ref)
    return isinstance(ref, Path) or text.endswith(".py") or "/" in text


def scenario_name(ref: str | Path) -> str:
    """What ``--protocol REF`` puts in the scenario's ``protocol``: a file is loaded and becomes the name of the
    protocol it defines; anything else stays as given."""
    if is_file_ref(ref):
        cls = load_protocol_file(ref)
        return cls.name or Path(ref).stem
    return str(ref)


def load_files(paths: Iterable[str | Path]) -> list[str]:
    """Load ``--protocol`` files; the names they made usable."""
    return [load_protocol_file(p).name or Path(p).stem for p in paths]


__all__ = ["GROUP", "ProtocolError", "installed", "is_file_ref", "known", "load_protocol_file", "protocol_class",
           "resolve", "scenario_name"]
