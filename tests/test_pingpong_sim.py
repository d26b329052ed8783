"""A real py-ipv8 Community (the PingPong example) on the simulator: who pings whom, and what the topology drops."""

from __future__ import annotations

from typing import Any

from arena.plugin_host.registry import Registry
from arena.protocols.base import PingPongProtocol
from arena.protocols.pingpong import Ping, Pong
from arena.scenario.model import Scenario, scenario_from_dict
from arena.sim.network import Packet
from arena.sim.runner import run_battle
from arena.sim.world import World

PING_IDS = {Ping.msg_id, Pong.msg_id}


def pingpong(name: str, nodes: int, topology: str, **extra: Any) -> Scenario:
    return scenario_from_dict({
        "name": name,
        "protocol": "pingpong",
        "duration": 20,
        "validators": nodes,
        "light_nodes": 0,
        "network": {"topology": {"kind": topology}, "link": {"latency": 0.05, "jitter": 0.01}},
        **extra,
    })


def ping_sources(kept: list[dict[str, Any]]) -> dict[int, set[str]]:
    """Receiving node index -> addresses it got pings from (from the trace's ``ping`` events)."""
    out: dict[int, set[str]] = {}
    for e in kept:
        if e.get("ev") == "ping":
            out.setdefault(e["node"], set()).add(e["src"])
    return out


def test_complete_graph_every_node_pings_every_other() -> None:
    outcome = run_battle(pingpong("complete4", 4, "complete"), keep_trace=True)
    world = outcome.world
    assert world.loop.time() == 20.0
    addr = {n.index: "{}:{}".format(*n.endpoint.address) for n in world.nodes}
    kept = world.trace.kept
    assert kept is not None
    sources = ping_sources(kept)
    for node in world.nodes:
        community: Any = node.community
        assert community.pings_received > 0
        assert community.pongs_received > 0
        assert sources[node.index] == {addr[j] for j in range(4) if j != node.index}
    stats = outcome.result["messages"]
    assert stats["dropped"] == 0
    assert stats["delivered"] > 4 * 3 * 9  # ~10 ping rounds of 12 pings, plus pongs and introductions
    assert outcome.result["pings_received"] == {n.name: n.community.pings_received  # type: ignore[union-attr]
                                                for n in world.nodes}


def _run_ring(**extra: Any) -> tuple[World, list[tuple[str, Packet]]]:
    scenario = pingpong("ring5", 5, "ring", **extra)
    protocol = PingPongProtocol()
    world = World(scenario, protocol, Registry(), keep_trace=True)
    drops: list[tuple[str, Packet]] = []
    world.network.on_drop = lambda pkt, reason: drops.append((reason, pkt))
    protocol.prepare(world)
    world.run()
    return world, drops


def test_ring_pings_only_neighbours() -> None:
    world, drops = _run_ring()
    addr = {n.index: "{}:{}".format(*n.endpoint.address) for n in world.nodes}
    assert world.trace.kept is not None
    sources = ping_sources(world.trace.kept)
    for node in world.nodes:
        assert node.community is not None
        assert node.community.pings_received > 0  # type: ignore[attr-defined]
        expected = {addr[(node.index - 1) % 5], addr[(node.index + 1) % 5]}
        assert sources[node.index] == expected
        assert len(node.community.get_peers()) == 2
    assert drops == []


def test_ring_restart_introductions_hit_missing_links_but_pings_never_do() -> None:
    # A restarted node is introduced to non-neighbours; their punctures are dropped with ``no_link``.
    world, drops = _run_ring(events=[{"at": 5, "crash": 2}, {"at": 10, "restart": 2}])
    reasons = {reason for reason, _ in drops}
    assert "no_link" in reasons
    assert "receiver_down" in reasons  # pings to the crashed node while it was down
    for reason, pkt in drops:
        msg_id = pkt.data[22]
        if reason == "no_link":
            assert msg_id not in PING_IDS
            src, dst = world.network.host_of[pkt.src], world.network.host_of[pkt.dst]
            assert not world.graph.has_edge(src, dst)
    assert world.network.stats.dropped["no_link"] == sum(1 for r, _ in drops if r == "no_link")
    node2: Any = world.nodes[2].community
    assert node2.pings_received > 0  # pinged again after the restart
