"""One node's plugins, put together the same way for the simulator and the live backend.

Both backends ask this module which plugins a node runs (:func:`plugin_uses`), build its hook caller with each
plugin's own context and random stream, the adversary capability (red nodes) and the wallet
(:func:`assemble_plugins`), wire the transport hooks onto its endpoint (:func:`wire_transport`) and start them
(:meth:`NodePlugins.start`). What differs between backends is only what they pass in: the clock, the trace, the
adversary host and the red switch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from arena.plugin_api.adversary import Adversary, AdversaryHost, TeamBudget, Wallet
from arena.plugin_api.base import NodeContext, Plugin
from arena.plugin_api.packet import Packet
from arena.plugin_host.budget import PluginTimeout
from arena.plugin_host.caller import HookCaller
from arena.plugin_host.faults import Fault
from arena.plugin_host.registry import Registry, short_error
from arena.runtime.rng import stream
from arena.scenario.model import Scenario
from arena.scenario.yamlsource import ScenarioError

Use = tuple[str, dict[str, Any]]


class TransportEndpoint(Protocol):
    """What :func:`wire_transport` needs of an endpoint (both backends' endpoints have it)."""

    outgoing: Callable[[Packet], None] | None
    incoming: Callable[[Packet], None] | None


def plugin_uses(scenario: Scenario, index: int, red_enabled: bool = True, extra: Iterable[str] = ()) -> list[Use]:
    """The plugins node ``index`` runs: its team's, then its own, then ``extra`` ones with default parameters (a
    red node runs none when red is disabled, as in a baseline)."""
    _, spec = scenario.roles()[index]
    if spec.team == "red" and not red_enabled:
        return []
    team = scenario.teams.red if spec.team == "red" else scenario.teams.blue
    uses: list[Use] = [(u.name, dict(u.params)) for u in [*team.plugins, *spec.plugins]]
    named = {name for name, _ in uses}
    uses += [(name, {}) for name in extra if name not in named]
    return uses


@dataclass
class NodePlugins:
    """One node's assembled plugins: the caller honest code and the endpoint use, and the capabilities."""

    caller: HookCaller
    context: NodeContext
    adversary: Adversary | None = None
    wallet: Wallet | None = None
    faults: list[Fault] = field(default_factory=list)

    def start(self) -> None:
        """The start-up hooks, in order: node started, adversary capability (red), wallet."""
        self.caller.node_start()
        if self.adversary is not None:
            self.caller.adversary_ready(self.adversary)
        if self.wallet is not None:
            self.caller.wallet_ready(self.wallet)


def plugin_context(base: NodeContext, plugin_name: str, seed: int,
                   charge: Callable[[int], bool] | None = None) -> NodeContext:
    """A plugin's own copy of its node's context, sealed: its name on trace events, its own seeded random stream,
    its trace events counted against its bounds by ``charge``."""
    ctx = NodeContext(base.index, base.role, base.team, base._clock, base._emit,
                      stream(seed, f"plugin:{base.index}:{plugin_name}"), base.account, base.adversary)
    ctx.plugin = plugin_name
    ctx.seal(charge)
    return ctx


def assemble_plugins(*, registry: Registry, uses: list[Use], base: NodeContext, name: str, seed: int,
                     host: AdversaryHost, red_budget: TeamBudget | None, red_active: Callable[[], bool],
                     record_fault: Callable[[Fault], None], mtu: int) -> NodePlugins | None:
    """Build node ``base.index``'s plugins (None when it runs none). Each plugin must be of the node's team and its
    parameters must satisfy its model; either failure is a scenario error naming the plugin."""
    if not uses:
        return None
    team = base.team
    faults: list[Fault] = []

    def on_fault(fault: Fault) -> None:
        faults.append(fault)
        record_fault(fault)

    caller = HookCaller(base.index, name, base._clock, red_active if team == "red" else (lambda: True), on_fault,
                        mtu=mtu, context=base)
    adversary = None
    if team == "red" and red_budget is not None:
        adversary = base.adversary = Adversary(host, red_budget, meter=caller.charge_send)
    for plugin_name, params in uses:
        info = registry.get(plugin_name)
        if info.team != team:
            raise ScenarioError(f"plugin {plugin_name!r} is a {info.team} plugin but {name} is on the {team} team")
        cls = info.cls
        p, exc = caller.build(cls, cls.Params, **params)
        if exc is not None and type(exc) is not PluginTimeout and isinstance(exc, Exception):
            raise ScenarioError(f"plugin {plugin_name!r} params: {short_error(exc)}") from exc
        if exc is None:
            ctx = plugin_context(base, plugin_name, seed, caller.charge_event)
            plugin, exc = caller.build(cls, cls, ctx, p)
            if exc is None and not isinstance(plugin, Plugin):
                exc = TypeError(f"{cls.__name__}() did not make a Plugin")
        if exc is not None:  # the plugin's own code failed while it was being built: a fault, not a crash
            caller.construction_fault(cls, "__init__" if p is not None else "Params", exc)
            continue
        caller.register(plugin, info.name, info.team)
    base.seal()
    return NodePlugins(caller, base, adversary, Wallet(host), faults)


def wire_transport(endpoint: TransportEndpoint, caller: HookCaller) -> None:
    """Route the endpoint's packets through the transport hooks (only when some plugin implements them)."""
    if caller.implements("arena_outgoing_packet"):
        endpoint.outgoing = caller.outgoing_packet
    if caller.implements("arena_incoming_packet"):
        endpoint.incoming = caller.incoming_packet


__all__ = ["NodePlugins", "assemble_plugins", "plugin_context", "plugin_uses", "wire_transport"]
