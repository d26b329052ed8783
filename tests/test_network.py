"""The simulated underlay: latency, jitter, loss, duplication, ordering, bandwidth, MTU, topology and faults."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pytest
from ipv8.messaging.interfaces.endpoint import EndpointListener

from arena.runtime.trace import Trace
from arena.sim.endpoint import SimEndpoint
from arena.sim.loop import VirtualLoop
from arena.sim.network import Address, LinkSpec, Packet, SimNetwork


class Recorder(EndpointListener):
    """Remembers (virtual arrival time, source, data) of every packet its endpoint delivers."""

    def __init__(self, endpoint: SimEndpoint, loop: VirtualLoop) -> None:
        super().__init__(endpoint)
        self.loop = loop
        self.got: list[tuple[float, Address, bytes]] = []

    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        self.got.append((self.loop.time(), packet[0], packet[1]))

    @property
    def times(self) -> list[float]:
        return [t for t, _, _ in self.got]

    @property
    def data(self) -> list[bytes]:
        return [d for _, _, d in self.got]


@dataclass
class Net:
    loop: VirtualLoop
    net: SimNetwork
    eps: list[SimEndpoint]
    recs: list[Recorder]
    trace: Trace
    drops: list[tuple[str, Packet]] = field(default_factory=list)

    def send(self, a: int, b: int, data: bytes = b"x", at: float | None = None) -> None:
        if at is None:
            self.eps[a].send(self.eps[b].address, data)
        else:
            self.loop.call_at(at, self.eps[a].send, self.eps[b].address, data)

    def run(self, until: float = 100.0) -> None:
        self.loop.run_until(until)

    def trace_drops(self) -> list[str]:
        assert self.trace.kept is not None
        return [e["reason"] for e in self.trace.kept if e.get("ev") == "drop"]


_LOOPS: list[VirtualLoop] = []


@pytest.fixture(autouse=True)
def _close_loops() -> Iterator[None]:
    yield
    while _LOOPS:
        _LOOPS.pop().close()


def build(
    n: int = 2,
    link: LinkSpec | None = None,
    *,
    seed: int = 1,
    graph: nx.Graph | None = None,
    level: str = "default",
    **kwargs: Any,
) -> Net:
    loop = VirtualLoop()
    _LOOPS.append(loop)
    trace = Trace(None, level, keep=True)
    net = SimNetwork(loop, seed, trace, graph, link or LinkSpec(latency=0.25), **kwargs)
    eps = [SimEndpoint(net, (f"10.0.0.{i + 1}", 7000), i, f"node{i}") for i in range(n)]
    for ep in eps:
        loop.run_until_complete(ep.open())
    recs = []
    for ep in eps:
        rec = Recorder(ep, loop)
        ep.add_listener(rec)
        recs.append(rec)
    out = Net(loop, net, eps, recs, trace)
    net.on_drop = lambda pkt, reason: out.drops.append((reason, pkt))
    return out


def payloads(count: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(count)]


# -- latency and jitter -------------------------------------------------------------------------------------------
def test_constant_latency_gives_exact_arrival_times() -> None:
    w = build(link=LinkSpec(latency=0.25))
    w.send(0, 1, b"first")
    w.send(0, 1, b"second", at=1.5)
    w.send(1, 0, b"back", at=3.0)
    w.run()
    assert w.recs[1].got == [(0.25, w.eps[0].address, b"first"), (1.75, w.eps[0].address, b"second")]
    assert w.recs[0].got == [(3.25, w.eps[1].address, b"back")]
    assert w.net.stats.sent == 3
    assert w.net.stats.delivered == 3
    assert sum(w.net.stats.dropped.values()) == 0


def _jitter_arrivals(seed: int, dist: str = "uniform", count: int = 200) -> list[float]:
    w = build(link=LinkSpec(latency=0.1, jitter=0.05, jitter_dist=dist), seed=seed)
    for p in payloads(count):
        w.send(0, 1, p)
    w.run()
    assert len(w.recs[1].got) == count
    return sorted(w.recs[1].times)


def test_uniform_jitter_is_bounded_and_seeded() -> None:
    times = _jitter_arrivals(seed=7)
    assert all(0.1 <= t <= 0.15 for t in times)
    assert len(set(times)) > 150  # really jittered, not constant
    assert times == _jitter_arrivals(seed=7)
    assert times != _jitter_arrivals(seed=8)


@pytest.mark.parametrize("dist", ["exponential", "normal"])
def test_other_jitter_distributions_never_arrive_early(dist: str) -> None:
    times = _jitter_arrivals(seed=3, dist=dist)
    assert min(times) >= 0.1
    assert max(times) > 0.1
    assert times == _jitter_arrivals(seed=3, dist=dist)


# -- loss and duplication -----------------------------------------------------------------------------------------
def test_total_loss_drops_everything() -> None:
    w = build(link=LinkSpec(loss=1.0))
    for p in payloads(50):
        w.send(0, 1, p)
    w.run()
    assert w.recs[1].got == []
    assert w.net.stats.dropped == {"loss": 50}
    assert w.net.stats.delivered == 0
    assert w.trace_drops() == ["loss"] * 50


def _lossy_delivered(seed: int) -> list[bytes]:
    w = build(link=LinkSpec(loss=0.3), seed=seed)
    for p in payloads(1000):
        w.send(0, 1, p)
    w.run()
    assert w.net.stats.dropped["loss"] + len(w.recs[1].got) == 1000
    return w.recs[1].data


def test_partial_loss_is_roughly_the_rate_and_deterministic() -> None:
    delivered = _lossy_delivered(seed=11)
    # Binomial(1000, 0.7): mean 700, sd ~14.5; six sd either side.
    assert 613 <= len(delivered) <= 787
    assert delivered == _lossy_delivered(seed=11)
    assert delivered != _lossy_delivered(seed=12)


def test_duplicate_one_delivers_every_packet_twice() -> None:
    w = build(link=LinkSpec(latency=0.25, duplicate=1.0))
    w.send(0, 1, b"a")
    w.send(0, 1, b"b", at=1.0)
    w.run()
    assert w.recs[1].data == [b"a", b"a", b"b", b"b"]
    assert w.recs[1].times == pytest.approx([0.25, 0.25, 1.25, 1.25], abs=1e-5)
    assert w.net.stats.sent == 2
    assert w.net.stats.delivered == 4


# -- ordering -----------------------------------------------------------------------------------------------------
def _order(seed: int, reorder: bool) -> list[bytes]:
    w = build(link=LinkSpec(latency=0.01, jitter=0.5, reorder=reorder), seed=seed)
    for i, p in enumerate(payloads(30)):
        w.send(0, 1, p, at=i * 0.01)
    w.run()
    return w.recs[1].data


def test_no_reorder_keeps_fifo_per_link_under_jitter() -> None:
    for seed in range(1, 6):
        assert _order(seed, reorder=False) == payloads(30)


def test_no_reorder_keeps_fifo_with_duplicates() -> None:
    w = build(link=LinkSpec(latency=0.01, jitter=0.5, reorder=False, duplicate=0.5), seed=4)
    for i, p in enumerate(payloads(30)):
        w.send(0, 1, p, at=i * 0.01)
    w.run()
    got = w.recs[1].data
    assert len(got) > 30  # some were duplicated
    assert got == sorted(got)  # copies stay next to their original; nothing overtakes


def test_reorder_allowed_can_reorder_deterministically() -> None:
    seed = next(s for s in range(1, 20) if _order(s, reorder=True) != payloads(30))
    shuffled = _order(seed, reorder=True)
    assert sorted(shuffled) == payloads(30)  # all arrived, just not in order
    assert shuffled == _order(seed, reorder=True)


# -- bandwidth and MTU --------------------------------------------------------------------------------------------
def test_bandwidth_adds_serialisation_delay() -> None:
    w = build(link=LinkSpec(latency=0.01, bandwidth=1000.0))
    w.send(0, 1, b"a" * 1000)
    w.send(0, 1, b"b" * 1000)
    w.run()
    t1, t2 = w.recs[1].times
    assert t1 == pytest.approx(1.01)
    assert t2 - t1 == pytest.approx(1.0)


def test_bandwidth_is_per_direction() -> None:
    w = build(link=LinkSpec(latency=0.0, bandwidth=1000.0))
    w.send(0, 1, b"a" * 500)
    w.send(1, 0, b"b" * 500)
    w.run()
    assert w.recs[1].times == pytest.approx([0.5])
    assert w.recs[0].times == pytest.approx([0.5])


def test_mtu_drops_larger_packets() -> None:
    w = build(link=LinkSpec(mtu=100))
    w.send(0, 1, b"x" * 100)
    w.send(0, 1, b"y" * 101)
    w.run()
    assert w.recs[1].data == [b"x" * 100]
    assert w.net.stats.dropped == {"mtu": 1}
    assert w.trace_drops() == ["mtu"]


# -- topology, partitions, crashes --------------------------------------------------------------------------------
def test_topology_line_has_no_link_between_ends() -> None:
    w = build(3, graph=nx.path_graph(3))
    w.send(0, 2, b"far")
    w.send(0, 1, b"near")
    w.send(2, 1, b"near too")
    w.run()
    assert w.recs[2].got == []
    assert w.recs[1].data == [b"near", b"near too"]
    assert w.net.stats.dropped == {"no_link": 1}
    assert w.drops[0][0] == "no_link"
    assert w.drops[0][1].dst == w.eps[2].address
    assert w.net.neighbours(1) == [0, 2]
    assert w.net.neighbours(0) == [1]


def test_topology_change_mid_run_takes_effect_after_invalidate() -> None:
    """Whether the graph links two hosts is cached with the route; invalidate() after changing the graph."""
    graph = nx.path_graph(3)
    w = build(3, graph=graph)
    w.send(0, 2, b"before")
    w.run(1)
    graph.add_edge(0, 2)
    w.net.invalidate()
    w.send(0, 2, b"after")
    w.run(2)
    assert w.recs[2].data == [b"after"]
    assert w.net.stats.dropped == {"no_link": 1}


@pytest.mark.parametrize("prefixed", [False, True])
def test_listeners_are_called_as_py_ipv8_endpoint_calls_them(prefixed: bool) -> None:
    """Delivery calls listeners exactly as py-ipv8's ``Endpoint.notify_listeners`` would, also when one listener
    removes another while a packet is being delivered."""
    from ipv8.messaging.interfaces.endpoint import Endpoint

    def scenario(deliver: str) -> list[str]:
        w = build()
        ep = w.eps[1]
        ep.remove_listener(w.recs[1])
        got: list[str] = []

        class Named(EndpointListener):
            def __init__(self, name: str, remove: EndpointListener | None = None) -> None:
                super().__init__(ep)
                self.name, self.remove = name, remove

            def on_packet(self, packet: tuple[Address, bytes]) -> None:
                got.append(self.name)
                if self.remove is not None:
                    ep.remove_listener(self.remove)
                    self.remove = None

        prefix = b"p" * ep.prefixlen
        victim = Named("victim")
        if prefixed:
            ep.add_prefix_listener(Named("first", remove=victim), prefix)
            ep.add_prefix_listener(victim, prefix)
            ep.add_listener(Named("plain"))
        else:
            ep.add_listener(Named("first", remove=victim))
            ep.add_listener(victim)
        for data in (prefix + b"payload", b"q" * ep.prefixlen + b"other", prefix + b"again"):
            if deliver == "network":
                w.send(0, 1, data)
                w.run(w.loop.time() + 1)
            else:
                Endpoint.notify_listeners(ep, (w.eps[0].address, data))
        return got

    assert scenario("network") == scenario("py-ipv8")
    assert scenario("network")[0] == "first"


def test_no_graph_means_everyone_is_linked() -> None:
    w = build(3)
    w.send(0, 2)
    w.run()
    assert len(w.recs[2].got) == 1
    assert w.net.neighbours(0) == [1, 2]


def test_partition_drops_and_heal_restores() -> None:
    w = build(3)
    w.net.partition([[0], [1]])  # host 2 is named nowhere: it forms a third group
    w.send(0, 1, b"across")
    w.send(1, 2, b"across too")
    w.run(1)
    assert w.recs[1].got == []
    assert w.recs[2].got == []
    assert w.net.stats.dropped == {"partition": 2}
    w.net.heal()
    w.send(0, 1, b"healed")
    w.run(2)
    assert w.recs[1].data == [b"healed"]
    assert w.trace.kept is not None
    evs = [e["ev"] for e in w.trace.kept]
    assert evs == ["partition", "drop", "drop", "heal"]


def test_unnamed_hosts_share_one_side() -> None:
    w = build(3)
    w.net.partition([[0]])
    w.send(1, 2, b"same side")
    w.send(0, 2, b"other side")
    w.run()
    assert w.recs[2].data == [b"same side"]
    assert w.net.stats.dropped == {"partition": 1}


def test_partition_drops_packets_in_flight() -> None:
    w = build(link=LinkSpec(latency=1.0))
    w.send(0, 1, b"in flight")
    w.loop.call_at(0.5, w.net.partition, [[0], [1]])
    w.run()
    assert w.recs[1].got == []
    assert w.net.stats.dropped == {"partition": 1}


def test_crash_drops_and_restart_restores() -> None:
    w = build(link=LinkSpec(latency=0.25))
    w.net.set_down(1, True)
    w.send(0, 1, b"to the dead")
    w.send(1, 0, b"from the dead")
    w.run(1)
    assert w.recs[0].got == []
    assert w.recs[1].got == []
    assert w.net.stats.dropped == {"receiver_down": 1, "sender_down": 1}
    assert sorted(w.trace_drops()) == ["receiver_down", "sender_down"]
    w.net.set_down(1, False)
    w.send(0, 1, b"alive")
    w.send(1, 0, b"alive too")
    w.run(2)
    assert w.recs[1].data == [b"alive"]
    assert w.recs[0].data == [b"alive too"]


def test_crash_while_in_flight_drops_at_arrival() -> None:
    w = build(link=LinkSpec(latency=1.0))
    w.send(0, 1, b"in flight")
    w.loop.call_at(0.5, w.net.set_down, 1, True)
    w.run()
    assert w.recs[1].got == []
    assert w.net.stats.dropped == {"receiver_down": 1}


def test_closed_endpoint_receives_nothing_and_sends_nothing() -> None:
    w = build()
    w.eps[1].close()
    w.send(0, 1, b"to closed")
    w.send(1, 0, b"from closed")
    w.run()
    assert w.recs[1].got == []
    assert w.recs[0].got == []
    assert w.net.stats.sent == 1  # the closed endpoint's send never reached the network
    assert w.net.stats.dropped == {"receiver_down": 1}


# -- regions and per-link overrides -------------------------------------------------------------------------------
def test_region_latency_matrix() -> None:
    regions: Mapping[int, str] = {0: "eu", 1: "eu", 2: "us", 3: "us"}
    w = build(4, link=LinkSpec(latency=0.02), regions=regions,
              region_latency={("eu", "us"): 0.08, ("eu", "eu"): 0.005},
              link_overrides={(1, 3): LinkSpec(latency=0.5)})
    w.send(0, 1)  # eu-eu
    w.send(0, 2)  # eu-us
    w.send(2, 0)  # us-eu: the matrix is symmetric
    w.send(2, 3)  # us-us: not in the matrix, default link
    w.send(3, 1)  # override beats the matrix, in both directions
    w.run()
    assert w.recs[1].times == [0.005, 0.5]
    assert w.recs[2].times == [0.08]
    assert w.recs[0].times == [0.08]
    assert w.recs[3].times == [0.02]
    assert w.net.link(0, 2)[1] == 0.08


# -- transport hooks ----------------------------------------------------------------------------------------------
def test_outgoing_hook_can_drop_delay_copy_and_rewrite() -> None:
    w = build(link=LinkSpec(latency=0.25))

    def hook(pkt: Packet) -> None:
        if pkt.data == b"drop me":
            pkt.drop = True
        elif pkt.data == b"delay me":
            pkt.delay = 1.0
        elif pkt.data == b"copy me":
            pkt.copies = 3
        elif pkt.data == b"rewrite me":
            pkt.data = b"rewritten"
        elif pkt.data == b"vanish":
            pkt.copies = 0

    w.eps[0].outgoing = hook
    for i, data in enumerate([b"drop me", b"delay me", b"copy me", b"rewrite me", b"vanish", b"plain"]):
        w.send(0, 1, data, at=10.0 * i)
    w.run()
    assert w.recs[1].data == [b"delay me", b"copy me", b"copy me", b"copy me", b"rewritten", b"plain"]
    assert w.recs[1].times[0] == 11.25  # sent at 10, latency 0.25, plus one second from the hook
    assert w.recs[1].times[1:4] == pytest.approx([20.25] * 3, abs=1e-5)
    assert w.net.stats.dropped == {"plugin": 2}
    assert w.trace_drops() == ["plugin", "plugin"]
    assert w.eps[0].bytes_up == sum(len(d) for d in [b"delay me", b"copy me", b"rewritten", b"plain"])


def test_outgoing_hook_negative_delay_never_arrives_before_sending() -> None:
    w = build(link=LinkSpec(latency=0.25))

    def hook(pkt: Packet) -> None:
        pkt.delay = -5.0

    w.eps[0].outgoing = hook
    w.send(0, 1, b"early?", at=1.0)
    w.run()
    assert w.recs[1].times == [1.0]


def test_incoming_hook_can_drop_and_rewrite() -> None:
    w = build()

    def hook(pkt: Packet) -> None:
        if pkt.data == b"bad":
            pkt.drop = True
        else:
            pkt.data = pkt.data.upper()

    w.eps[1].incoming = hook
    w.send(0, 1, b"bad")
    w.send(0, 1, b"good")
    w.run()
    assert w.recs[1].data == [b"GOOD"]
    assert w.net.stats.dropped == {"plugin": 1}
    assert w.net.stats.delivered == 2  # the network delivered both; the node's own hook dropped one
    assert w.eps[1].bytes_down == 4


# -- routing and bookkeeping --------------------------------------------------------------------------------------
def test_unknown_address_is_no_route() -> None:
    w = build()
    w.eps[0].send(("10.9.9.9", 1), b"nobody home")
    w.run()
    assert w.net.stats.dropped == {"no_route": 1}
    assert w.trace.kept == [
        {"t": 0.0, "ev": "drop", "reason": "no_route", "src": "10.0.0.1:7000", "dst": "10.9.9.9:1", "size": 11}
    ]


def test_detached_while_in_flight_is_no_route() -> None:
    w = build()
    w.send(0, 1, b"gone")
    w.net.detach(w.eps[1])
    w.run()
    assert w.recs[1].got == []
    assert w.net.stats.dropped == {"no_route": 1}


def test_address_in_use_is_refused() -> None:
    w = build()
    with pytest.raises(ValueError, match="already in use"):
        SimEndpoint(w.net, w.eps[0].address, 5, "dup")


def test_drops_are_counted_and_traced_by_reason() -> None:
    w = build(3, link=LinkSpec(mtu=64), graph=nx.path_graph(3))
    w.send(0, 2)  # no_link
    w.send(0, 1, b"z" * 65)  # mtu
    w.eps[0].send(("10.9.9.9", 1), b"?")  # no_route
    w.send(0, 1, b"ok")
    w.run()
    stats = w.net.stats.as_dict()
    assert stats["sent"] == 4
    assert stats["delivered"] == 1
    assert stats["dropped"] == 3
    assert stats["dropped_by_reason"] == {"mtu": 1, "no_link": 1, "no_route": 1}
    assert w.trace_drops() == ["no_link", "mtu", "no_route"]
    assert w.trace.counts["drop"] == 3
    assert [r for r, _ in w.drops] == ["no_link", "mtu", "no_route"]


def test_packets_level_traces_sends_and_deliveries() -> None:
    w = build(level="packets")
    w.send(0, 1, b"hello")
    w.run()
    assert w.trace.kept == [
        {"t": 0.0, "ev": "send", "src": "10.0.0.1:7000", "dst": "10.0.0.2:7000", "size": 5},
        {"t": 0.25, "ev": "deliver", "src": "10.0.0.1:7000", "dst": "10.0.0.2:7000", "size": 5},
    ]


def test_summary_level_counts_but_does_not_trace_drops() -> None:
    w = build(link=LinkSpec(loss=1.0), level="summary")
    w.send(0, 1)
    w.run()
    assert w.net.stats.dropped == {"loss": 1}
    assert w.trace.kept == []


def test_delivery_runs_in_the_receivers_node_context() -> None:
    from arena.sim.loop import current_node

    w = build()
    seen: list[str | None] = []

    class Who(EndpointListener):
        def on_packet(self, packet: tuple[Address, bytes]) -> None:
            seen.append(current_node.get())

    w.eps[1].add_listener(Who(w.eps[1]))
    w.send(0, 1)
    w.run()
    assert seen == ["node1"]
