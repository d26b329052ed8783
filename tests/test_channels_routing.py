"""Fees and source routing over the public channel graph (pure functions, no network)."""

from __future__ import annotations

import itertools
import random

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from honest.htlc import fail_reason, parse_fail_reason
from honest.routing import ChannelGraph, FeeSchedule


def acct(i: int) -> bytes:
    return bytes([i]) * 20


@given(st.integers(0, 50), st.integers(0, 100_000), st.integers(1, 10**9))
def test_forward_amount_inverts_the_fee(base: int, ppm: int, out: int) -> None:
    fees = FeeSchedule(base, ppm)
    assert fees.forward_amount(out + fees.fee(out)) == out
    # and it is the largest amount that fits
    x = fees.forward_amount(out + fees.fee(out) + 1)
    assert x + fees.fee(x) <= out + fees.fee(out) + 1 and x >= out


@given(st.integers(0, 20), st.integers(0, 50_000), st.integers(1, 10**6), st.integers(1, 8))
def test_hop_amounts_pay_each_relay_its_fee(base: int, ppm: int, amount: int, channels: int) -> None:
    fees = FeeSchedule(base, ppm)
    amounts = fees.hop_amounts(amount, channels)
    assert len(amounts) == channels and amounts[-1] == amount
    for before, after in itertools.pairwise(amounts):
        assert fees.forward_amount(before) == after


def line(n: int, capacity: int) -> ChannelGraph:
    g = ChannelGraph()
    for i in range(n - 1):
        g.add(bytes([i]) * 32, acct(i), acct(i + 1), capacity)
    return g


def test_route_needs_capacity_for_the_amount_plus_downstream_fees() -> None:
    g = line(4, 100)
    fees = FeeSchedule(1, 0)
    local = {acct(1): 100}
    # 0 -> 3 over 3 channels: the first carries amount + 2, the second amount + 1
    assert g.route(acct(0), acct(3), 98, fees=fees, local=lambda v: local.get(v, 0)) == [acct(1), acct(2), acct(3)]
    assert g.route(acct(0), acct(3), 99, fees=fees, local=lambda v: local.get(v, 0)) is None  # 101 > 100
    local[acct(1)] = 50  # what the payer itself can send is exact
    assert g.route(acct(0), acct(3), 48, fees=fees, local=lambda v: local.get(v, 0)) is not None
    assert g.route(acct(0), acct(3), 49, fees=fees, local=lambda v: local.get(v, 0)) is None


def test_route_avoids_excluded_edges_and_closed_channels() -> None:
    g = ChannelGraph()
    g.add(b"a" * 32, acct(0), acct(1), 100)
    g.add(b"b" * 32, acct(1), acct(3), 100)
    g.add(b"c" * 32, acct(0), acct(2), 100)
    g.add(b"d" * 32, acct(2), acct(3), 100)

    def route(excluded: set[tuple[bytes, bytes]]) -> list[bytes] | None:
        return g.route(acct(0), acct(3), 10, fees=FeeSchedule(), local=lambda v: 100, excluded=excluded)

    first = route(set())
    assert first is not None and len(first) == 2
    other = route({(first[0], acct(3))})
    assert other is not None and other[0] != first[0]
    assert route({(acct(1), acct(3)), (acct(2), acct(3))}) is None
    g.remove(b"b" * 32)
    assert route(set()) == [acct(2), acct(3)]
    assert g.capacity(acct(1), acct(3)) == 0 and len(g) == 3


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 40))
def test_route_is_a_shortest_path_when_capacity_is_ample(seed: int, n: int) -> None:
    nxg = nx.barabasi_albert_graph(n, 2, seed=seed)
    g = ChannelGraph()
    for k, (u, v) in enumerate(sorted(nxg.edges())):
        g.add(k.to_bytes(32, "big"), acct(u), acct(v), 1000)
    rng = random.Random(seed)
    src, dst = rng.sample(range(n), 2)
    path = g.route(acct(src), acct(dst), 5, fees=FeeSchedule(1, 0), local=lambda v: 1000, rng=rng)
    assert path is not None and path[-1] == acct(dst)
    assert len(path) == nx.shortest_path_length(nxg, src, dst)
    hops = [acct(src), *path]
    assert all(nxg.has_edge(hops[i][0], hops[i + 1][0]) for i in range(len(path)))


def test_fail_reasons_name_the_failing_edge() -> None:
    assert parse_fail_reason(fail_reason("no_liquidity", acct(1), acct(2))) == ("no_liquidity", (acct(1), acct(2)))
    assert parse_fail_reason("something odd") == ("something odd", None)
    assert parse_fail_reason("x:zz:yy") == ("x", None)
