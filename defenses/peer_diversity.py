"""Peer diversity: anchor peers, a cap per address range, and test-before-evict (Heilman et al., "Eclipse attacks
on Bitcoin's peer-to-peer network", 2015).

* Anchors: the first ``anchors`` validators admitted (the bootstrap peers) are never evicted.
* Address ranges: at most ``per_range`` peers whose IPv4 addresses share the first ``prefix`` bits (Sybils behind
  one host share its address).
* Test-before-evict: when the table is full, a peer that failed its liveness test (not heard from for
  ``stale_after`` seconds; honest peers answer pings every ``ping_interval``) is evicted first. If every peer
  passed, a newcomer from a range already present is refused (it adds no diversity); one from a new range replaces
  a peer of the most crowded range. (Refusing every newcomer would starve honest nodes at start: the honest code
  answers an ``Announce`` only when it admits the sender.)
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

from arena import NodeContext, Params, Plugin, Role, hookimpl


class PeerDiversityParams(Params):
    anchors: int = 2
    per_range: int = 2
    prefix: int = 32  # bits of an address that make a range (32: one host; the simulator gives each node its own)
    stale_after: float = 8.0


class PeerDiversity(Plugin):
    """Keep anchor peers, cap peers per address range, and evict only peers that fail a liveness test."""

    name = "peer_diversity"
    team = "blue"
    Params = PeerDiversityParams

    def __init__(self, node: NodeContext, params: PeerDiversityParams) -> None:
        super().__init__(node, params)
        self.params: PeerDiversityParams = params
        self.anchors: set[bytes] = set()
        self.refused = 0

    def _range(self, peer: Any) -> int:
        return int(ipaddress.IPv4Address(peer.ip)) >> (32 - self.params.prefix)

    @hookimpl
    def arena_admit_peer(self, node: NodeContext, peer: Any, peers: list[Any]) -> str | None:
        same = sum(1 for p in peers if self._range(p) == self._range(peer))
        if same >= self.params.per_range:
            self.refused += 1
            return f"already {same} peers in {peer.ip}/{self.params.prefix}"
        if peer.role == Role.VALIDATOR and len(self.anchors) < self.params.anchors:
            self.anchors.add(peer.public_key)
            peer.anchor = True
        return None

    @hookimpl
    def arena_choose_eviction(self, node: NodeContext, peers: list[Any], newcomer: Any) -> Any | None:
        candidates = [p for p in peers if p.public_key not in self.anchors]
        failed = [p for p in candidates if p.last_seen < node.now() - self.params.stale_after]
        if failed:
            return min(failed, key=lambda p: p.last_seen)
        crowd = Counter(self._range(p) for p in peers)
        if crowd[self._range(newcomer)] or not candidates:
            self.refused += 1
            return newcomer  # every old peer is alive and the newcomer adds no diversity: keep the old ones
        top = max(crowd[self._range(p)] for p in candidates)
        return node.rng.choice([p for p in candidates if crowd[self._range(p)] == top])

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        self.node.log("peer_diversity summary", refused=self.refused, anchors=len(self.anchors))
