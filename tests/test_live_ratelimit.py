"""The live ingress guard limits per source IP, not per IP and port: a flooder that takes a fresh source port (or a
fresh unknown IP) for every packet is held to the one global budget of unknown sources, a known IP to its own
bucket, and honest traffic from a known peer still gets through. The guard's clock is driven by the test, so what
is asserted is an exact count of packets, whatever the machine's speed."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from typing import Any

import pytest
from ipv8.messaging.interfaces.endpoint import EndpointListener

from arena.live.endpoint import GuardSettings, LiveEndpoint

GUARD = GuardSettings(peer_rate=40.0, peer_burst=30.0, unknown_rate=50.0, unknown_burst=20.0)


class Clock:
    """The guard's clock, moved only by the test (no refill happens behind its back)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Counted(EndpointListener):
    """A py-ipv8 endpoint listener that counts what the guard let through, by source IP."""

    def __init__(self, endpoint: LiveEndpoint) -> None:
        super().__init__(endpoint)
        self.by_ip: Counter[str] = Counter()

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        self.by_ip[packet[0][0]] += 1


def _endpoint(known: list[tuple[str, int]]) -> tuple[LiveEndpoint, Clock]:
    ep = LiveEndpoint("127.0.0.1", 0, GUARD)
    clock = Clock()
    ep.clock = clock
    ep.set_known(known)
    return ep, clock


# ================================================ the rule, without sockets =======================================
def test_buckets_are_per_ip_sized_by_the_nodes_on_it_and_unknown_ips_share_one() -> None:
    # two plan nodes on 127.0.0.2 (one machine, two nodes), one on 127.0.0.3
    ep, clock = _endpoint([("127.0.0.2", 7000), ("127.0.0.2", 7001), ("127.0.0.3", 7002)])
    data = b"x" * 10

    def accepted(ips: list[str], ports: range) -> int:
        return sum(ep._admit((ip, port), data) is None for ip in ips for port in ports)

    # a fresh port per packet from a known IP: that IP's bucket, 2 nodes x burst
    assert accepted(["127.0.0.2"], range(20_000, 20_100)) == 2 * 30
    # the other known IP is not touched by its neighbour's flood
    assert accepted(["127.0.0.3"], range(7002, 7003)) == 1
    # a hundred unknown IPs with a hundred ports each: one global budget for all of them
    unknown = [f"127.0.1.{k}" for k in range(100)]
    assert accepted(unknown, range(30_000, 30_100)) == 20
    clock.t += 1.0  # one second later: rate x 1 s more, no more
    assert accepted(unknown, range(40_000, 40_100)) == 20  # min(burst, 50 x 1 s) refilled
    clock.t += 0.1
    assert accepted(unknown, range(50_000, 50_100)) == 5
    assert accepted(["127.0.0.3"], range(1, 100)) == 30  # its own bucket, refilled to its burst meanwhile
    assert ep._admit(("127.0.0.3", 7002), b"x" * (GUARD.max_packet + 1)) == "oversize"


def test_a_known_ip_is_never_charged_for_unknown_traffic() -> None:
    ep, _ = _endpoint([("127.0.0.2", 7000)])
    for port in range(1000, 1500):
        ep._admit(("127.0.0.9", port), b"x")
    assert all(ep._admit(("127.0.0.2", 7000), b"x") is None for _ in range(30))
    assert ep._admit(("127.0.0.2", 7000), b"x") == "rate_limited"


# ================================================ real sockets, a fresh port per packet ============================
def _send_from_fresh_sockets(ip: str, target: tuple[str, int], count: int) -> int:
    """``count`` datagrams to ``target``, each from a new socket bound to ``ip`` port 0 (a new source port)."""
    ports = set()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ip, 0))
            ports.add(s.getsockname()[1])
            s.sendto(b"flood" * 20, target)
        finally:
            s.close()
    return len(ports)


@pytest.mark.live
def test_a_flooder_with_a_fresh_source_port_per_packet_is_held_to_the_global_budget() -> None:
    async def go() -> None:
        honest = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        honest.bind(("127.0.0.2", 0))
        ep, clock = _endpoint([honest.getsockname(), ("127.0.0.4", 7004)])
        counted = Counted(ep)
        ep.add_listener(counted)
        await ep.open()
        target = ep.get_address()
        try:
            expected = 0
            fresh_ports = 0

            async def settle(total: int) -> None:
                deadline = time.monotonic() + 20  # only a guard against a hang: the assertions count packets
                while ep.stats.received < total and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)

            for ip in ("127.0.0.3", "127.0.0.5", "127.0.0.3"):  # unknown IPs, 100 packets each in chunks
                for _ in range(4):
                    fresh_ports += _send_from_fresh_sockets(ip, target, 25)
                    expected += 25
                    await settle(expected)
            for _ in range(25):  # the honest, known peer: one socket, its own bucket
                honest.sendto(b"honest", target)
            expected += 25
            # a red node's known IP spraying fresh ports: only its own bucket (one node there)
            for _ in range(4):
                _send_from_fresh_sockets("127.0.0.4", target, 25)
                expected += 25
                await settle(expected)
            await settle(expected)
            assert ep.stats.received == expected, (ep.stats.received, expected)
            assert fresh_ports >= 200, "the flood really came from many source ports"
            flood_unknown = counted.by_ip["127.0.0.3"] + counted.by_ip["127.0.0.5"]
            assert flood_unknown == GUARD.unknown_burst  # 300 packets from 2 IPs and ~300 ports: one budget
            assert counted.by_ip["127.0.0.2"] == 25  # every honest packet
            assert counted.by_ip["127.0.0.4"] == GUARD.peer_burst
            dropped = ep.stats.dropped or Counter()
            assert dropped["rate_limited"] == 300 - GUARD.unknown_burst + 100 - GUARD.peer_burst
            assert ep.stats.delivered == expected - dropped["rate_limited"]
            # a second later, the unknown budget has refilled by rate x 1 s (capped at its burst), no more
            clock.t += 1.0
            before = counted.by_ip["127.0.0.3"]
            for _ in range(2):
                _send_from_fresh_sockets("127.0.0.3", target, 25)
                expected += 25
                await settle(expected)
            assert counted.by_ip["127.0.0.3"] - before == min(GUARD.unknown_burst, GUARD.unknown_rate * 1.0)
        finally:
            honest.close()
            ep.close()

    asyncio.run(go())
