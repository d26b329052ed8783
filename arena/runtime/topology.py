"""Deterministic networkx graph builders for the simulated underlay and payment-channel graphs.

Nodes are always the ints ``0..n-1``. Randomness comes only from the caller's int seed (passed to networkx as
``seed=``), so a scenario run is reproducible. Graphs are rebuilt in sorted node/edge order so that the same seed
yields the same edge list regardless of how networkx happened to build them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

__all__ = [
    "TOPOLOGY_KINDS",
    "build_topology",
    "busiest_node_share",
    "same_capacity_graphs",
]

TOPOLOGY_KINDS: tuple[str, ...] = (
    "complete",
    "erdos_renyi",
    "barabasi_albert",
    "bottleneck",
    "multi_bottleneck",
    "ring",
    "star",
    "line",
    "explicit",
)

_PARAMS: dict[str, frozenset[str]] = {
    "erdos_renyi": frozenset({"p"}),
    "barabasi_albert": frozenset({"m"}),
    "multi_bottleneck": frozenset({"clusters"}),
}

_ER_MAX_TRIES = 100


def _canonical(n: int, edges: Iterable[tuple[int, int]]) -> nx.Graph:
    """A plain Graph on nodes 0..n-1 with edges inserted in sorted order (stable iteration order)."""
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(sorted({(min(u, v), max(u, v)) for u, v in edges}))
    return g


def _derive_seed(seed: int, attempt: int) -> int:
    """Distinct, deterministic seeds for retries; attempt 0 uses the seed itself."""
    if attempt == 0:
        return seed
    return (seed * 0x9E3779B1 + attempt * 0x85EBCA77) % (2**63)


def _int_param(params: Mapping[str, Any], name: str, default: int, kind: str) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{kind} topology: param {name!r} must be an integer, got {value!r}")
    return value


def _complete(n: int) -> nx.Graph:
    return _canonical(n, nx.complete_graph(n).edges())


def _erdos_renyi(n: int, seed: int, params: Mapping[str, Any]) -> nx.Graph:
    p = params.get("p", 0.3)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"erdos_renyi topology: param 'p' must be a number in [0, 1], got {p!r}")
    g = nx.Graph()
    for attempt in range(_ER_MAX_TRIES):
        g = nx.gnp_random_graph(n, float(p), seed=_derive_seed(seed, attempt))
        if nx.is_connected(g):
            return _canonical(n, g.edges())
    # Too sparse to connect by chance: keep the last draw and thread a path through it.
    return _canonical(n, [*g.edges(), *((i, i + 1) for i in range(n - 1))])


def _barabasi_albert(n: int, seed: int, params: Mapping[str, Any]) -> nx.Graph:
    m = _int_param(params, "m", 2, "barabasi_albert")
    if not 1 <= m < n:
        raise ValueError(f"barabasi_albert topology needs 1 <= m < n, got m={m}, n={n}")
    return _canonical(n, nx.barabasi_albert_graph(n, m, seed=seed).edges())


def _bottleneck(n: int) -> nx.Graph:
    if n < 3:
        raise ValueError(f"bottleneck topology needs n >= 3, got {n}")
    bridge = n - 1
    half = n // 2  # ceil((n - 1) / 2): the larger half goes first when n - 1 is odd
    left, right = range(half), range(half, n - 1)
    edges = [(u, v) for side in (left, right) for u in side for v in side if u < v]
    edges += [(u, bridge) for u in range(n - 1)]
    return _canonical(n, edges)


def _split(n: int, k: int) -> list[range]:
    """Split 0..n-1 into k contiguous blocks whose sizes differ by at most one."""
    base, extra = divmod(n, k)
    blocks: list[range] = []
    start = 0
    for i in range(k):
        size = base + (1 if i < extra else 0)
        blocks.append(range(start, start + size))
        start += size
    return blocks


def _multi_bottleneck(n: int, params: Mapping[str, Any]) -> nx.Graph:
    """k complete clusters in a ring; each cluster's first node is its only gateway, so gateways are cut points."""
    k = _int_param(params, "clusters", 3, "multi_bottleneck")
    if k < 2:
        raise ValueError(f"multi_bottleneck topology needs clusters >= 2, got {k}")
    if n < 2 * k:
        raise ValueError(f"multi_bottleneck topology needs n >= 2 * clusters ({2 * k}), got n={n}")
    blocks = _split(n, k)
    edges = [(u, v) for block in blocks for u in block for v in block if u < v]
    gateways = [block[0] for block in blocks]
    edges += [(gateways[i], gateways[(i + 1) % k]) for i in range(k)]
    return _canonical(n, edges)


def _ring(n: int) -> nx.Graph:
    # nx.cycle_graph(1) has a self loop and cycle_graph(2) a single edge; below 3 nodes a ring is just a line.
    return _canonical(n, (nx.cycle_graph(n) if n >= 3 else nx.path_graph(n)).edges())


def _explicit(n: int, edges: Sequence[tuple[int, int]] | None) -> nx.Graph:
    if edges is None:
        raise ValueError("explicit topology needs an edge list")
    checked: list[tuple[int, int]] = []
    for edge in edges:
        if len(edge) != 2:
            raise ValueError(f"explicit topology: edge {edge!r} must be a pair of node indices")
        u, v = edge
        for node in (u, v):
            if isinstance(node, bool) or not isinstance(node, int):
                raise ValueError(f"explicit topology: edge {edge!r} has non-integer node {node!r}")
            if not 0 <= node < n:
                raise ValueError(f"explicit topology: edge {edge!r} has node {node} outside 0..{n - 1}")
        if u == v:
            raise ValueError(f"explicit topology: edge {edge!r} is a self loop")
        checked.append((u, v))
    return _canonical(n, checked)


def build_topology(
    kind: str,
    n: int,
    *,
    seed: int,
    params: Mapping[str, Any] | None = None,
    edges: Sequence[tuple[int, int]] | None = None,
) -> nx.Graph:
    """Build an undirected graph of ``kind`` on nodes ``0..n-1``; random kinds depend only on ``seed``."""
    if kind not in TOPOLOGY_KINDS:
        raise ValueError(f"unknown topology kind {kind!r}; valid kinds: {', '.join(TOPOLOGY_KINDS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{kind} topology needs n >= 1 nodes, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"topology seed must be an int, got {seed!r}")
    opts: dict[str, Any] = dict(params or {})
    unknown = sorted(set(opts) - _PARAMS.get(kind, frozenset()))
    if unknown:
        allowed = ", ".join(sorted(_PARAMS.get(kind, ()))) or "none"
        raise ValueError(f"{kind} topology: unknown params {', '.join(unknown)} (allowed: {allowed})")
    if edges is not None and kind != "explicit":
        raise ValueError(f"{kind} topology does not take an edge list (only 'explicit' does)")

    builders: dict[str, Callable[[], nx.Graph]] = {
        "complete": lambda: _complete(n),
        "erdos_renyi": lambda: _erdos_renyi(n, seed, opts),
        "barabasi_albert": lambda: _barabasi_albert(n, seed, opts),
        "bottleneck": lambda: _bottleneck(n),
        "multi_bottleneck": lambda: _multi_bottleneck(n, opts),
        "ring": lambda: _ring(n),
        "star": lambda: _canonical(n, nx.star_graph(n - 1).edges()),
        "line": lambda: _canonical(n, nx.path_graph(n).edges()),
        "explicit": lambda: _explicit(n, edges),
    }
    return builders[kind]()


def busiest_node_share(g: nx.Graph, paths: Iterable[Sequence[int]]) -> float:
    """Share of paths relaying through the single most-used interior node: how much one relay can see or censor."""
    path_list = [tuple(p) for p in paths]
    if not path_list:
        return 0.0
    uses: Counter[int] = Counter()
    for path in path_list:
        for node in path:
            if node not in g:
                raise ValueError(f"path {path!r} uses node {node!r} not in the graph")
        uses.update(set(path[1:-1]))
    if not uses:
        return 0.0
    return max(uses.values()) / len(path_list)


def same_capacity_graphs(n: int, total_capacity: int, seed: int) -> dict[str, nx.Graph]:
    """Graphs of different shapes on n nodes (n >= 6) with equal total ``capacity``, for fair topology comparisons.

    Capacity is spread evenly over edges in sorted order; the remainder goes one unit each to the first edges.
    """
    if isinstance(total_capacity, bool) or not isinstance(total_capacity, int) or total_capacity < 0:
        raise ValueError(f"total_capacity must be a non-negative int, got {total_capacity!r}")
    graphs: dict[str, nx.Graph] = {}
    for kind in ("complete", "barabasi_albert", "bottleneck", "multi_bottleneck"):
        g = build_topology(kind, n, seed=seed)
        ordered = sorted(g.edges())
        if not ordered:
            raise ValueError(f"{kind} graph on {n} nodes has no edges to carry capacity")
        base, extra = divmod(total_capacity, len(ordered))
        for index, (u, v) in enumerate(ordered):
            g.edges[u, v]["capacity"] = base + (1 if index < extra else 0)
        graphs[kind] = g
    return graphs
