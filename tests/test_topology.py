"""Tests for arena.runtime.topology: node set, connectivity, determinism and the bottleneck shapes attacks rely on."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.runtime.topology import TOPOLOGY_KINDS, build_topology, busiest_node_share, same_capacity_graphs

GENERATED = [k for k in TOPOLOGY_KINDS if k != "explicit"]
RANDOM_KINDS = ("erdos_renyi", "barabasi_albert")


def _edges(g: nx.Graph) -> list[tuple[int, int]]:
    return list(g.edges())


@pytest.mark.parametrize("kind", GENERATED)
@pytest.mark.parametrize("n", [6, 7, 20])
def test_each_kind_has_n_nodes_and_is_connected(kind: str, n: int) -> None:
    g = build_topology(kind, n, seed=1)
    assert sorted(g.nodes()) == list(range(n))
    assert nx.is_connected(g)
    assert nx.number_of_selfloops(g) == 0


@pytest.mark.parametrize("kind", ["complete", "erdos_renyi", "ring", "star", "line"])
def test_tiny_graphs(kind: str) -> None:
    for n in (1, 2, 3):
        g = build_topology(kind, n, seed=0)
        assert sorted(g.nodes()) == list(range(n))
        assert nx.is_connected(g)
        assert nx.number_of_selfloops(g) == 0


def test_shapes() -> None:
    assert build_topology("complete", 5, seed=0).number_of_edges() == 10
    assert sorted(build_topology("star", 5, seed=0).degree())[0] == (0, 4)
    assert _edges(build_topology("line", 4, seed=0)) == [(0, 1), (1, 2), (2, 3)]
    assert build_topology("ring", 5, seed=0).number_of_edges() == 5


@pytest.mark.parametrize("kind", GENERATED)
def test_same_seed_same_edges(kind: str) -> None:
    assert _edges(build_topology(kind, 30, seed=7)) == _edges(build_topology(kind, 30, seed=7))


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_different_seed_differs(kind: str) -> None:
    assert _edges(build_topology(kind, 30, seed=1)) != _edges(build_topology(kind, 30, seed=2))


def test_erdos_renyi_sparse_still_connected() -> None:
    g = build_topology("erdos_renyi", 25, seed=3, params={"p": 0.0})
    assert nx.is_connected(g)
    assert _edges(g) == [(i, i + 1) for i in range(24)]
    dense = build_topology("erdos_renyi", 25, seed=3, params={"p": 1.0})
    assert dense.number_of_edges() == 25 * 24 // 2


def test_barabasi_albert_param_m() -> None:
    g = build_topology("barabasi_albert", 20, seed=1, params={"m": 3})
    assert g.number_of_edges() == 3 * (20 - 3)
    with pytest.raises(ValueError, match="1 <= m < n"):
        build_topology("barabasi_albert", 3, seed=1, params={"m": 3})


@pytest.mark.parametrize("n", [3, 8, 9, 21])
def test_bottleneck_bridge_disconnects(n: int) -> None:
    g = build_topology("bottleneck", n, seed=0)
    bridge = n - 1
    assert g.degree(bridge) == n - 1
    h = g.copy()
    h.remove_node(bridge)
    parts = sorted(len(c) for c in nx.connected_components(h))
    assert len(parts) == 2
    assert parts[1] - parts[0] <= 1
    assert list(nx.articulation_points(g)) == [bridge]


@pytest.mark.parametrize(("n", "clusters"), [(9, 3), (10, 3), (12, 4), (4, 2), (30, 5)])
def test_multi_bottleneck(n: int, clusters: int) -> None:
    g = build_topology("multi_bottleneck", n, seed=0, params={"clusters": clusters})
    cut_points = set(nx.articulation_points(g))
    assert len(cut_points) + len(list(nx.bridges(g))) >= clusters
    assert len(cut_points) >= clusters
    for node in cut_points:
        h = g.copy()
        h.remove_node(node)
        assert not nx.is_connected(h)


def test_multi_bottleneck_default_and_limits() -> None:
    assert len(set(nx.articulation_points(build_topology("multi_bottleneck", 9, seed=0)))) == 3
    with pytest.raises(ValueError, match="n >= 2 \\* clusters"):
        build_topology("multi_bottleneck", 5, seed=0)
    with pytest.raises(ValueError, match="clusters >= 2"):
        build_topology("multi_bottleneck", 5, seed=0, params={"clusters": 1})


def test_explicit() -> None:
    g = build_topology("explicit", 5, seed=0, edges=[(0, 1), (1, 2), (2, 0)])
    assert sorted(g.nodes()) == list(range(5))
    assert _edges(g) == [(0, 1), (0, 2), (1, 2)]
    assert not nx.is_connected(g)  # allowed: nodes 3 and 4 are isolated


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        ([(0, 5)], "outside 0..4"),
        ([(-1, 2)], "outside 0..4"),
        ([(2, 2)], "self loop"),
        ([(0, "1")], "non-integer"),
        (None, "needs an edge list"),
    ],
)
def test_explicit_bad_edges(edges: list[tuple[int, int]] | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_topology("explicit", 5, seed=0, edges=edges)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="valid kinds: complete, erdos_renyi"):
        build_topology("mesh", 5, seed=0)
    with pytest.raises(ValueError, match="n >= 1"):
        build_topology("complete", 0, seed=0)
    with pytest.raises(ValueError, match="unknown params q"):
        build_topology("erdos_renyi", 5, seed=0, params={"q": 0.1})
    with pytest.raises(ValueError, match="'p' must be a number"):
        build_topology("erdos_renyi", 5, seed=0, params={"p": 2})
    with pytest.raises(ValueError, match="does not take an edge list"):
        build_topology("ring", 5, seed=0, edges=[(0, 1)])


def test_busiest_node_share() -> None:
    g = build_topology("star", 5, seed=0)
    assert busiest_node_share(g, []) == 0.0
    assert busiest_node_share(g, [(1, 0, 2), (3, 0, 4), (1, 0)]) == pytest.approx(2 / 3)
    assert busiest_node_share(g, [(1, 0), (0, 2)]) == 0.0
    line = build_topology("line", 5, seed=0)
    assert busiest_node_share(line, iter([(0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4)])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="not in the graph"):
        busiest_node_share(g, [(0, 9)])


@pytest.mark.parametrize("total", [0, 1, 100, 1_000_003])
def test_same_capacity_graphs_sum_exactly(total: int) -> None:
    graphs = same_capacity_graphs(12, total, seed=4)
    assert set(graphs) == {"complete", "barabasi_albert", "bottleneck", "multi_bottleneck"}
    for g in graphs.values():
        caps = [c for _, _, c in g.edges(data="capacity")]
        assert all(isinstance(c, int) for c in caps)
        assert sum(caps) == total
        assert max(caps) - min(caps) <= 1
        ordered = [g.edges[e]["capacity"] for e in sorted(g.edges())]
        assert ordered == sorted(ordered, reverse=True)  # remainder on the first edges


@settings(max_examples=60, deadline=None)
@given(n=st.integers(6, 40), total=st.integers(0, 10**9), seed=st.integers(0, 2**32))
def test_same_capacity_graphs_property(n: int, total: int, seed: int) -> None:
    for g in same_capacity_graphs(n, total, seed).values():
        assert sorted(g.nodes()) == list(range(n))
        assert nx.is_connected(g)
        assert sum(c for _, _, c in g.edges(data="capacity")) == total
