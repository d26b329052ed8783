"""What a world runs on its nodes: a world protocol builds each node's Community and reports the final state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipv8.community import Community
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena.protocols.pingpong import PingPongCommunity, PingPongSettings

if TYPE_CHECKING:
    from arena.sim.world import NodeRuntime, World


class WorldProtocol:
    """How a world runs a protocol on its nodes (the simulator's side). Teams write an
    :class:`arena.protocols.api.Protocol` instead, which :class:`~arena.protocols.hosted.HostedProtocol` runs; the
    honest protocol and PingPong are world protocols of their own. Override :meth:`create`; the rest are optional."""

    name = "base"

    def create(self, world: World, node: NodeRuntime) -> Community:
        raise NotImplementedError

    def prepare(self, world: World) -> None:
        """Before the run starts: attach the scenario's plugins to their nodes."""
        world.attach_scenario_plugins()

    def after_start(self, world: World) -> None:
        """All nodes exist: introduce them, start workloads."""

    def on_crash(self, world: World, node: NodeRuntime) -> None:
        """``node`` crashed."""

    def on_restart(self, world: World, node: NodeRuntime) -> None:
        """``node`` was created again after a crash."""

    def final_state(self, world: World) -> dict[str, Any]:
        """Fields for ``result.json`` (balances, supply, ...)."""
        return {}

    def write_states(self, world: World, out_dir: Path) -> None:
        """Write each node's final state beside the trace (what the referee reads)."""

    def judge(self, out_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
        """Verdict fields for ``result.json``, computed from the run directory only."""
        return {}


class PingPongProtocol(WorldProtocol):
    """Every node pings its topology neighbours (the course template's example)."""

    name = "pingpong"

    def create(self, world: World, node: NodeRuntime) -> Community:
        settings = PingPongSettings(my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(),
                                    max_peers=world.scenario.peering.peer_limit)
        settings.record = lambda ev, **f: world.emit(ev, node=node.index, **f)
        community = PingPongCommunity(settings)
        community.started()
        return community

    def after_start(self, world: World) -> None:
        for node in world.nodes:
            assert node.community is not None
            for other in world.network.neighbours(node.index):
                world.in_node(node, node.community.walk_to, world.nodes[other].endpoint.address)

    def on_restart(self, world: World, node: NodeRuntime) -> None:
        assert node.community is not None
        for other in world.network.neighbours(node.index):
            node.community.walk_to(world.nodes[other].endpoint.address)

    def final_state(self, world: World) -> dict[str, Any]:
        return {
            "pings_received": {n.name: getattr(n.community, "pings_received", 0) for n in world.nodes},
        }


def get_protocol(name: str) -> WorldProtocol:
    """The world protocol for a scenario's ``protocol`` (:func:`arena.protocols.registry.resolve`)."""
    from arena.protocols.registry import resolve

    return resolve(name)
