"""Finding plugins: the entry-point group ``arena`` and files given with ``--plugin``.

Plugins are found the same way for built-ins and third parties: the built-in attacks and defenses are registered in
the entry-point group by this package's own metadata. Calling them is :mod:`arena.plugin_host.caller`'s job.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from arena.plugin_api import hookspecs
from arena.plugin_api.base import PROJECT, Plugin

HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("arena_")
)
"""Every hook spec's name (the caller's typed methods are checked against it by a test)."""


class PluginError(Exception):
    """A plugin could not be found or loaded (a user error: exit code 2)."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    team: str
    cls: type[Plugin]
    source: str

    @property
    def hooks(self) -> list[str]:
        return sorted(n for n in HOOK_NAMES if callable(getattr(self.cls, n, None)))

    @property
    def doc(self) -> str:
        return (inspect.getdoc(self.cls) or "").split("\n")[0]


def plugins_in_module(module: ModuleType) -> list[type[Plugin]]:
    """The Plugin subclasses defined in a module (not imported into it)."""
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Plugin) and obj is not Plugin and obj.__module__ == module.__name__ and obj.name
    ]


def load_file(path: str | Path) -> list[type[Plugin]]:
    """Import a single-file plugin (``--plugin path.py``)."""
    p = Path(path)
    if not p.is_file():
        raise PluginError(f"--plugin {path}: file not found")
    from arena.plugin_host.import_check import read_checked_source

    source = read_checked_source(p)  # the plugin rules, checked before any of its code runs ("file:line: why")
    mod_name = f"arena_plugin_{p.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise PluginError(f"--plugin {path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    from arena.plugin_host import budget

    budget.STOPWATCH.start(budget.BOUNDS.call_cpu, str(p))  # top-level code that never ends: interrupted like a hook
    try:
        exec(compile(source, str(p), "exec"), module.__dict__)  # the checked text: not the file again, nor a .pyc
    except BaseException as exc:
        raise PluginError(f"--plugin {path}: import failed: {type(exc).__name__}: {exc}") from None
    finally:
        budget.STOPWATCH.stop()
    found = plugins_in_module(module)
    if not found:
        raise PluginError(f"--plugin {path}: no Plugin subclass with a name found")
    return found


OWN_DISTRIBUTION = "ipv8-arena"  # its built-in plugins are held to the same rules by the tests


def check_entry_point(ep: EntryPoint) -> None:
    """A plugin installed by another package obeys the plugin rules like a ``--plugin`` file: every Python file of
    its top-level package is checked before any of it is imported."""
    dist = getattr(ep, "dist", None)
    if dist is None or dist.name == OWN_DISTRIBUTION:
        return
    from arena.plugin_host.import_check import read_checked_source

    top = ep.module.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise PluginError(f"entry point {ep.name} = {ep.value}: module {top!r} not found")
    origin = Path(spec.origin)
    files = sorted(origin.parent.rglob("*.py")) if spec.submodule_search_locations else [origin]
    for f in files:
        read_checked_source(f)


class Registry:
    """All plugins known to this run, by name."""

    def __init__(self) -> None:
        self.plugins: dict[str, PluginInfo] = {}

    def add(self, cls: type[Plugin], source: str) -> None:
        if cls.team not in ("red", "blue"):
            raise PluginError(f"plugin {cls.name!r} ({source}): team must be 'red' or 'blue', not {cls.team!r}")
        unknown = [n for n in dir(cls) if n.startswith("arena_") and n not in HOOK_NAMES]
        if unknown:
            raise PluginError(f"plugin {cls.name!r} ({source}): unknown hook(s) {unknown}; known: {list(HOOK_NAMES)}")
        known = self.plugins.get(cls.name)
        if known is not None and known.cls is not cls and known.source != source:
            raise PluginError(f"plugin {cls.name!r} ({source}) has the name of the plugin from {known.source}; "
                              "plugin names are unique (a file cannot replace a built-in)")
        self.plugins[cls.name] = PluginInfo(cls.name, cls.team, cls, source)

    def load_entry_points(self) -> None:
        for ep in sorted(entry_points(group=PROJECT), key=lambda e: e.name):
            check_entry_point(ep)
            try:
                obj = ep.load()
            except Exception as exc:
                raise PluginError(f"entry point {ep.name} = {ep.value}: {type(exc).__name__}: {exc}") from exc
            classes = plugins_in_module(obj) if isinstance(obj, ModuleType) else [obj]
            for cls in classes:
                self.add(cls, f"entry point {ep.value}")

    def load_files(self, paths: Iterable[str | Path]) -> None:
        for path in paths:
            for cls in load_file(path):
                self.add(cls, str(path))

    def get(self, name: str) -> PluginInfo:
        try:
            return self.plugins[name]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise PluginError(f"unknown plugin {name!r} (known: {known}); a plugin in a file is loaded with "
                              f"--plugin path/to/{name}.py") from None


def default_registry(files: Iterable[str | Path] = ()) -> Registry:
    reg = Registry()
    reg.load_entry_points()
    reg.load_files(files)
    return reg


def short_error(exc: Exception) -> str:
    """pydantic's message without its boilerplate lines."""
    text = str(exc).strip().splitlines()
    lines = [line.strip() for line in text[1:] if line.strip() and not line.strip().startswith("For further")]
    return "; ".join(lines) or (text[0] if text else type(exc).__name__)
