"""Gossip batches stay within py-ipv8's list limit (255 payloads per list)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from honest.gossip import GossipLayer
from honest.messages import PeerInfo
from honest.schema import ITEM_VOTE, MAX_LIST_ITEMS, Gossip


class FakeEnv:
    def now(self) -> float:
        return 0.0

    def has_hook(self, name: str) -> bool:
        return False


class FakeNode:
    def __init__(self) -> None:
        self.env = FakeEnv()
        self.sent: list[bytes] = []

    def broadcast(self, peers: list[PeerInfo], payload: Any) -> None:
        self.sent.append(payload.to_bytes())  # packing is what would fail past the limit

    def call_later(self, delay: float, fn: Any) -> None:
        """Flushed explicitly by the test."""


def test_a_large_batch_is_split_into_packable_packets() -> None:
    node = FakeNode()
    peer = PeerInfo(b"k", ("127.0.0.1", 1), 0, 0.0, 0.0)
    layer = GossipLayer(node, 30.0, 0, 10.0, lambda: [peer])  # type: ignore[arg-type]
    for i in range(600):
        layer.broadcast(ITEM_VOTE, i.to_bytes(4, "big"))
    layer.flush()
    sizes = [len(Gossip.from_bytes(b).items) for b in node.sent]
    assert sum(sizes) == 600 and max(sizes) <= MAX_LIST_ITEMS
    assert layer.relayed == Counter({"vote": 600})
