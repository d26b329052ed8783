"""The simulated world of one run: loop, network, trace, and the nodes with their plugins.

The world knows nothing about blockchains: a *protocol* (see :mod:`arena.protocols.base`) builds each node's
Community and reads its final state. Everything random comes from streams of the run's seed, and every callback
of a node runs in that node's context, so a failure names the node.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipv8.community import Community
from ipv8.keyvault.keys import PrivateKey

from arena.plugin_api.adversary import TeamBudget
from arena.plugin_api.base import NodeContext
from arena.plugin_host.faults import Fault
from arena.plugin_host.registry import Registry
from arena.runtime.assembly import NodePlugins, assemble_plugins, plugin_uses, wire_transport
from arena.runtime.keys import node_key
from arena.runtime.rng import Streams
from arena.runtime.topology import build_topology
from arena.runtime.trace import Trace
from arena.scenario.model import Scenario
from arena.scenario.yamlsource import ScenarioError
from arena.sim.adversary_host import SimAdversaryHost
from arena.sim.endpoint import SimEndpoint
from arena.sim.ipv8_patches import VerifyCache, virtual_ipv8
from arena.sim.loop import SimulationError, VirtualLoop
from arena.sim.network import Address, LinkSpec, SimNetwork
from honest.env import NodeHooks, NoHooks

if TYPE_CHECKING:
    from arena.protocols.base import WorldProtocol

PORT = 7000
NO_HOOKS = NoHooks()


def node_address(index: int) -> Address:
    """Each simulated host has its own loopback-range address (never opened as a socket)."""
    return (f"127.1.{index // 250}.{index % 250 + 1}", PORT)


@dataclass
class NodeRuntime:
    """One node of the world: identity, team, endpoint, Community, and its plugins."""

    index: int
    role: str
    team: str
    key: PrivateKey
    endpoint: SimEndpoint
    context: NodeContext
    plugins: NodePlugins | None = None
    community: Community | None = None
    up: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}"

    @property
    def hooks(self) -> NodeHooks:
        """What honest code calls: the node's hook caller, or a no-op one when it runs no plugin."""
        return self.plugins.caller if self.plugins is not None else NO_HOOKS

    @property
    def plugin_names(self) -> list[str]:
        return self.plugins.caller.names if self.plugins is not None else []


class World:
    def __init__(self, scenario: Scenario, protocol: WorldProtocol, registry: Registry | None = None,
                 out_dir: Path | None = None, seed: int | None = None, keep_trace: bool = False,
                 red_enabled: bool = True, cache_signatures: bool = True) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.protocol = protocol
        self.registry = registry or Registry()
        self.red_enabled = red_enabled
        self.cache_signatures = cache_signatures
        self.loop = VirtualLoop()
        self.streams = Streams(self.seed)
        self.trace = Trace(out_dir / "trace.jsonl" if out_dir else None, scenario.trace_level, keep=keep_trace)
        self.plugin_faults: list[dict[str, Any]] = []
        self.verify_cache: VerifyCache | None = None
        n = scenario.node_count
        topo = scenario.network.topology
        try:
            graph = build_topology(topo.kind, n, seed=self.seed, params=topo.params, edges=topo.edges)
        except ValueError as exc:
            raise ScenarioError(f"network.topology: {exc}") from exc
        self.graph = graph
        link = LinkSpec(**scenario.network.link.model_dump())
        overrides = {(o.a, o.b): LinkSpec(**o.model_dump(exclude={"a", "b"})) for o in scenario.network.links}
        region_latency = {tuple(k.split("-", 1)): v for k, v in scenario.network.region_latency.items()}
        self.network = SimNetwork(self.loop, self.seed, self.trace, graph, link, scenario.network.regions,
                                  region_latency, overrides)  # type: ignore[arg-type]
        budget = scenario.teams.red.budget
        self.red_budget = TeamBudget(budget.sybils, budget.sybil_cost)
        self.nodes: list[NodeRuntime] = []
        for index, (role, spec) in enumerate(scenario.roles()):
            self.nodes.append(self._make_node(index, role, spec.team))

    # -- construction --------------------------------------------------------------------------------------------
    def _make_node(self, index: int, role: str, team: str) -> NodeRuntime:
        key = node_key(self.seed, index)
        endpoint = SimEndpoint(self.network, node_address(index), index, f"{role}{index}")
        ctx = NodeContext(index, role, team, self.loop.time, self.emit, self.streams.get(f"plugin:{index}"))
        return NodeRuntime(index, role, team, key, endpoint, ctx)

    def attach_plugins(self, node: NodeRuntime, uses: list[tuple[str, dict[str, Any]]]) -> None:
        """Assemble the named plugins for ``node`` (:mod:`arena.runtime.assembly`, as the live backend does)."""
        node.plugins = assemble_plugins(
            registry=self.registry, uses=uses, base=node.context, name=node.name, seed=self.seed,
            host=SimAdversaryHost(self, node), red_budget=self.red_budget if node.team == "red" else None,
            red_active=lambda: self.red_active and node.up, record_fault=self._plugin_fault,
            mtu=self.scenario.network.link.mtu)
        if node.plugins is not None:
            wire_transport(node.endpoint, node.plugins.caller)

    def attach_scenario_plugins(self) -> None:
        """Each node's team-wide and own plugins; red plugins only when red is enabled (not in a baseline)."""
        for node in self.nodes:
            self.attach_plugins(node, plugin_uses(self.scenario, node.index, self.red_enabled))

    def _plugin_fault(self, fault: Fault) -> None:
        record = fault.as_dict()
        self.plugin_faults.append(record)
        self.emit("plugin_fault", **{k: v for k, v in record.items() if k != "t"})

    # -- running ---------------------------------------------------------------------------------------------------
    @property
    def red_active(self) -> bool:
        """Red plugins act until the settle period starts (and not at all in a baseline run)."""
        return self.red_enabled and self.loop.time() < self.scenario.duration - self.scenario.settle

    def emit(self, ev: str, **fields: Any) -> None:
        self.trace.emit(self.loop.time(), ev, **fields)

    def in_node(self, node: NodeRuntime, fn: Callable[..., Any], *args: Any) -> Any:
        return node.endpoint.context.run(fn, *args)

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Build, start, run for the scenario's duration, stop. Raises SimulationError naming a failed node."""
        with self.running():
            end = self.scenario.duration
            step = max(1.0, end / 100)
            t = 0.0
            while t < end:
                t = min(end, t + step)
                self.loop.run_until(t)
                if progress is not None:
                    progress(t)

    @contextmanager
    def running(self) -> Iterator[World]:
        """The world started and paused at t=0 (advance it with ``loop.run_until(t)``); stopped, unloaded and
        closed on leaving. :meth:`run` is this plus the clock; tests and the fuzz campaign act between steps."""
        asyncio.set_event_loop(self.loop)
        epoch, loop_time = self.scenario.epoch, self.loop.time

        def wall_clock() -> float:
            """What py-ipv8's time.time() reads: the scenario's epoch plus virtual time (loop.time() stays 0-based)."""
            return epoch + loop_time()

        try:
            with virtual_ipv8(wall_clock, random.Random(f"{self.seed}:ipv8"),
                              self.cache_signatures) as cache:
                self.verify_cache = cache
                self.loop.run_until_complete(self._start())
                self._schedule_events()
                self._schedule_ticks()
                yield self
                self._stop()
        finally:
            self.loop.close()
            asyncio.set_event_loop(None)
            self.trace.close()

    async def _start(self) -> None:
        for node in self.nodes:
            await node.endpoint.open()
        for node in self.nodes:
            self.in_node(node, self._create, node)
        self.protocol.after_start(self)
        for node in self.nodes:
            if node.plugins is not None:
                self.in_node(node, node.plugins.start)

    def _create(self, node: NodeRuntime) -> None:
        node.community = self.protocol.create(self, node)
        # LAN discovery reads the host's interfaces every 10 s in an executor: meaningless here.
        if node.community.is_pending_task_active("discover_lan_addresses"):
            node.community.cancel_pending_task("discover_lan_addresses")
        node.community.my_estimated_lan = node.endpoint.address
        node.community.my_estimated_wan = node.endpoint.address

    def _schedule_events(self) -> None:
        for ev in sorted(self.scenario.events, key=lambda e: e.at):
            if ev.partition is not None:
                groups = ev.partition
                self.loop.call_at(ev.at, self.network.partition, groups)
            elif ev.heal:
                self.loop.call_at(ev.at, self.network.heal)
            elif ev.crash is not None:
                self.loop.call_at(ev.at, self.crash, ev.crash)
            elif ev.restart is not None:
                self.loop.call_at(ev.at, self.restart, ev.restart)

    def _schedule_ticks(self) -> None:
        tick = self.scenario.tick
        for node in self.nodes:
            if node.plugins is not None and node.plugins.caller.implements("arena_tick"):
                self.loop.call_at(tick, self._tick, node, context=node.endpoint.context)

    def _tick(self, node: NodeRuntime) -> None:
        if node.up and node.plugins is not None:  # the caller applies the red switch
            node.plugins.caller.tick(self.loop.time())
        self.loop.call_at(self.loop.time() + self.scenario.tick, self._tick, node, context=node.endpoint.context)

    def crash(self, index: int) -> None:
        """Stop a node abruptly: its endpoint closes, its tasks are cancelled; durable state is kept."""
        node = self.nodes[index]
        if not node.up:
            return
        node.up = False
        self.network.set_down(index, True)
        node.endpoint.close()
        if node.community is not None:
            self.protocol.on_crash(self, node)
            self.loop.create_task(node.community.unload(), context=node.endpoint.context)
        self.emit("crash", node=index)

    def restart(self, index: int) -> None:
        """Start a crashed node again with the same key (and whatever durable state the protocol keeps)."""
        node = self.nodes[index]
        if node.up:
            return
        node.up = True
        self.network.set_down(index, False)
        self.loop.create_task(node.endpoint.open(), context=node.endpoint.context)
        node.endpoint._open = True
        self.in_node(node, self._create, node)
        self.protocol.on_restart(self, node)
        self.emit("restart", node=index)

    def _stop(self) -> None:
        for node in self.nodes:
            if node.up and node.plugins is not None:
                self.in_node(node, node.plugins.caller.node_stop)

        async def unload_all() -> None:
            for node in self.nodes:
                if node.community is not None and node.up:
                    await node.community.unload()

        self.loop.run_until_complete(unload_all())
        self.loop.raise_failures()


__all__ = ["NodeRuntime", "SimulationError", "World", "node_address"]
