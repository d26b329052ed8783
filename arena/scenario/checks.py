"""Checks of a validated scenario against what the model alone cannot know: the plugins and the topology builders.

:func:`check_scenario` runs before a battle starts (``arena run``, scenario files collected by pytest) so that an
unknown plugin, a plugin on the wrong team, a bad plugin parameter, an unknown topology kind or a bad topology
parameter is reported like every other scenario error: one line, ``file:line: key.path: message``, instead of
surfacing mid-construction of the world.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from arena.plugin_host.registry import PluginError, Registry, default_registry
from arena.runtime.topology import TOPOLOGY_KINDS, build_topology
from arena.scenario.model import PluginUse, Scenario, TopologyModel
from arena.scenario.yamlsource import ScenarioError, YamlDoc, load_yaml, validation_problems

__all__ = ["TOPOLOGY_PROBE_NODES", "check_scenario"]

Loc = tuple[str | int, ...]

TOPOLOGY_PROBE_NODES = 64
"""Topologies are checked by building them; on more nodes than this, a graph of this many nodes is built first
(every topology valid on fewer nodes is valid on more), and the full graph only when the small one fails."""


def check_scenario(scenario: Scenario, source: YamlDoc | str | Path | None = None,
                   registry: Registry | None = None) -> None:
    """Raise :class:`ScenarioError` (with file and line) for the first problem the model cannot see.

    ``source`` is where line numbers come from: the parsed document, the scenario file's path, or None for the
    document the scenario was loaded from (``Scenario.source``). ``registry`` defaults to the installed plugins.
    """
    doc = _doc(scenario, source)
    registry = registry if registry is not None else default_registry()
    _Checker(scenario, doc, registry).run()


def _doc(scenario: Scenario, source: YamlDoc | str | Path | None) -> YamlDoc:
    if isinstance(source, YamlDoc):
        return source
    if source is not None:
        remembered = scenario.source
        if remembered is not None and remembered.path == str(source):
            return remembered  # the loaded document, overrides included
        return load_yaml(source)
    return scenario.source or YamlDoc(scenario.model_dump(mode="python"), {}, "<scenario>")


class _Checker:
    def __init__(self, scenario: Scenario, doc: YamlDoc, registry: Registry) -> None:
        self.sc = scenario
        self.doc = doc
        self.registry = registry

    def fail(self, loc: Loc, message: str) -> ScenarioError:
        return ScenarioError.at(self.doc.path, self.doc.line_for(loc), ".".join(str(p) for p in loc), message)

    def run(self) -> None:
        self.protocol()
        for team in ("red", "blue"):
            for k, use in enumerate(getattr(self.sc.teams, team).plugins):
                self.plugin(use, team, f"the {team} team", ("teams", team, "plugins", k))
        groups = (("validators", "validator", self.sc.validator_list), ("light_nodes", "light", self.sc.light_list),
                  ("merchants", "merchant", self.sc.merchant_list))
        index = 0
        for key, role, specs in groups:
            for i, spec in enumerate(specs):
                name = f"{role}{index}"
                for k, use in enumerate(spec.plugins):
                    self.plugin(use, spec.team, f"{name} (on the {spec.team} team)", (key, i, "plugins", k))
                index += 1
        self.topology(self.sc.network.topology, self.sc.node_count, ("network", "topology"), "nodes")
        if self.sc.channels.enabled:
            self.topology(self.sc.channels.topology, len(self.sc.light_list), ("channels", "topology"),
                          "light nodes")

    def protocol(self) -> None:
        """The protocol resolves (a built-in, an installed one, a ``module:Class``, or one loaded from a file)."""
        from arena.protocols.registry import ProtocolError, protocol_class

        try:
            protocol_class(self.sc.protocol)
        except ProtocolError as err:
            raise self.fail(("protocol",), str(err)) from None
        if self.sc.channels.enabled and self.sc.protocol != "honest":
            raise self.fail(("channels", "enabled"), f"the channel workload runs on the honest protocol only, not "
                            f"on {self.sc.protocol!r}")

    # -- plugins ---------------------------------------------------------------------------------------------------
    def plugin(self, use: PluginUse, team: str, where: str, loc: Loc) -> None:
        try:
            info = self.registry.get(use.name)
        except PluginError as err:
            raise self.fail((*loc, "name"), str(err)) from None
        if info.team != team:
            raise self.fail((*loc, "name"), f"plugin {use.name!r} is a {info.team} plugin, but it is listed for "
                            f"{where}")
        self.finite(use.params, (*loc, "params"))
        try:
            info.cls.Params(**use.params)
        except ValidationError as err:
            line, key, message = validation_problems(err, self.doc, (*loc, "params"))[0]
            raise ScenarioError.at(self.doc.path, line, key, f"plugin {use.name!r}: {message}") from None
        except Exception as err:  # a plugin's own validator may raise anything; it is still bad input
            raise self.fail((*loc, "params"), f"plugin {use.name!r} params: {type(err).__name__}: {err}") from None

    def finite(self, value: Any, loc: Loc) -> None:
        """NaN and infinity are refused everywhere, also inside free-form parameters."""
        for sub, item in _leaves(value, loc):
            if isinstance(item, float) and not math.isfinite(item):
                raise self.fail(sub, f"{item!r} is not a finite number (NaN and infinity are refused)")

    # -- topologies ------------------------------------------------------------------------------------------------
    def topology(self, topo: TopologyModel, n: int, loc: Loc, what: str) -> None:
        if topo.kind not in TOPOLOGY_KINDS:
            raise self.fail((*loc, "kind"), f"unknown topology kind {topo.kind!r}; valid kinds: "
                            f"{', '.join(TOPOLOGY_KINDS)}")
        self.finite(topo.params, (*loc, "params"))
        if n < 1:
            raise self.fail(loc, f"a {topo.kind} topology needs at least one node, but the scenario has no {what}")
        probe = n if topo.kind == "explicit" else min(n, TOPOLOGY_PROBE_NODES)
        error = _build_error(topo, probe, self.sc.seed)
        if error is not None and probe != n:
            error = _build_error(topo, n, self.sc.seed)
        if error is not None:
            about_n = "n=" in error or "n >=" in error
            raise self.fail(self.topology_key(topo, loc, error),
                            f"{error} (n counts the {what})" if about_n and what != "nodes" else error)

    def topology_key(self, topo: TopologyModel, loc: Loc, error: str) -> Loc:
        """The key a topology error is most likely about: a named param, the edge list, or the kind."""
        for name in topo.params:
            if repr(name) in error or f"{name}=" in error or f"{name} " in error:
                return (*loc, "params", name)
        if "edge" in error and topo.edges is not None:
            return (*loc, "edges")
        if "unknown params" in error:
            return (*loc, "params")
        return (*loc, "kind")


def _build_error(topo: TopologyModel, n: int, seed: int) -> str | None:
    try:
        build_topology(topo.kind, n, seed=seed, params=topo.params, edges=topo.edges)
    except ValueError as err:
        return str(err)
    return None


def _leaves(value: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, (*loc, key if isinstance(key, str | int) else str(key)))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, item in enumerate(value):
            yield from _leaves(item, (*loc, index))
    else:
        yield loc, value
