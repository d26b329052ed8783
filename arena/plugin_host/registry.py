"""Finding plugins and calling them per node, with faults contained.

Plugins are found the same way for built-ins and third parties: the entry-point group ``arena`` (the built-in
attacks and defenses are registered there by this package's own metadata) and files given with ``--plugin``.
Each node gets a :class:`NodeHooks`: one pluggy manager holding that node's plugin instances. A plugin whose hook
raises is disabled for the rest of the battle and reported by name; the battle goes on.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from arena.plugin_api import hookspecs
from arena.plugin_api.base import PROJECT, NodeContext, Plugin

HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("arena_")
)


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
    mod_name = f"arena_plugin_{p.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise PluginError(f"--plugin {path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PluginError(f"--plugin {path}: import failed: {type(exc).__name__}: {exc}") from exc
    found = plugins_in_module(module)
    if not found:
        raise PluginError(f"--plugin {path}: no Plugin subclass with a name found")
    return found


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
        self.plugins[cls.name] = PluginInfo(cls.name, cls.team, cls, source)

    def load_entry_points(self) -> None:
        for ep in sorted(entry_points(group=PROJECT), key=lambda e: e.name):
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


class NodeHooks:
    """The plugin instances of one node, called with containment.

    ``has(name)`` is a cheap test so that the honest node's hot paths skip hooks nobody implements.
    """

    def __init__(self, on_fault: Callable[[str, str, BaseException], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.instances: list[Plugin] = []
        self._impl: dict[str, list[Any]] = {}
        self.disabled: set[str] = set()
        self.on_fault = on_fault

    def register(self, plugin: Plugin) -> None:
        self.pm.register(plugin, name=f"{plugin.name}@{id(plugin)}")
        self.pm.check_pending()
        self.instances.append(plugin)
        self._refresh()

    def _refresh(self) -> None:
        self._impl = {}
        for name in HOOK_NAMES:
            impls = [i for i in reversed(getattr(self.pm.hook, name).get_hookimpls())
                     if getattr(i.plugin, "name", "") not in self.disabled]
            if impls:
                self._impl[name] = impls

    def has(self, name: str) -> bool:
        return name in self._impl

    def call(self, name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation (most recently registered first); collect non-None results."""
        out: list[Any] = []
        for impl in self._impl.get(name, ()):
            res = self._call_impl(name, impl, kwargs)
            if res is not None:
                out.append(res)
        return out

    def first(self, name: str, **kwargs: Any) -> Any:
        """``firstresult`` semantics: the first non-None answer."""
        for impl in self._impl.get(name, ()):
            res = self._call_impl(name, impl, kwargs)
            if res is not None:
                return res
        return None

    def _call_impl(self, name: str, impl: Any, kwargs: dict[str, Any]) -> Any:
        plugin_name = getattr(impl.plugin, "name", "?")
        if plugin_name in self.disabled:
            return None
        own = getattr(impl.plugin, "node", None)
        if isinstance(own, NodeContext):
            kwargs = {**kwargs, "node": own}  # each plugin sees its own context (its name on trace events)
        try:
            return impl.function(*[kwargs[a] for a in impl.argnames])
        except Exception as exc:
            self.disabled.add(plugin_name)
            self._refresh()
            if self.on_fault is not None:
                self.on_fault(plugin_name, name, exc)
            return None


EMPTY_HOOKS: NodeHooks | None = None


def no_hooks() -> NodeHooks:
    """A shared, empty NodeHooks for nodes without plugins (cheap: ``has`` is always False)."""
    global EMPTY_HOOKS
    if EMPTY_HOOKS is None:
        EMPTY_HOOKS = NodeHooks()
    return EMPTY_HOOKS


def register_plugins(hooks: NodeHooks, registry: Registry, uses: Iterable[tuple[str, dict[str, Any]]],
                     base: NodeContext, team: str, node_name: str) -> None:
    """Instantiate the named plugins of one node into ``hooks`` (both backends): each must be of the node's team,
    and its parameters must satisfy its model; either failure is a scenario error naming the plugin."""
    from arena.scenario.yamlsource import ScenarioError

    for name, params in uses:
        info = registry.get(name)
        if info.team != team:
            raise ScenarioError(f"plugin {name!r} is a {info.team} plugin but {node_name} is on the {team} team")
        try:
            p = info.cls.Params(**params)
        except Exception as exc:
            raise ScenarioError(f"plugin {name!r} params: {_short_error(exc)}") from exc
        hooks.register(info.cls(make_context(base, name), p))


def _short_error(exc: Exception) -> str:
    """pydantic's message without its boilerplate lines."""
    text = str(exc).strip().splitlines()
    lines = [line.strip() for line in text[1:] if line.strip() and not line.strip().startswith("For further")]
    return "; ".join(lines) or (text[0] if text else type(exc).__name__)


def make_context(base: NodeContext, plugin_name: str) -> NodeContext:
    """A per-plugin copy of a node's context (its own name for trace events)."""
    ctx = NodeContext(base.index, base.role, base.team, base._clock, base._emit, base.rng, base.account,
                      base.adversary)
    ctx.plugin = plugin_name
    return ctx
