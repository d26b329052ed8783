"""Gossip as in the workshop: items identified by SHA-256(kind + payload), a seen-set that suppresses duplicates
and forgets after ``message_timeout``, and forwarding of new valid items to peers (all, or a fan-out).

Outgoing items are batched for ``batch_interval`` seconds and sent as one ``Gossip`` packet, signed once for all
recipients: gossip cost is dominated by signatures, and batching is what keeps packets per transfer low.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from .messages import PeerInfo
from .schema import ITEM_BLOCK, ITEM_TX, ITEM_VOTE, MAX_LIST_ITEMS, Gossip, GossipItem

if TYPE_CHECKING:
    from .node import HonestNode

MAX_BATCH_BYTES = 48_000
KIND_NAMES = {ITEM_TX: "tx", ITEM_BLOCK: "block", ITEM_VOTE: "vote"}


class GossipLayer:
    def __init__(self, node: HonestNode, timeout: float, fanout: int, batch_interval: float,
                 targets: Callable[[], list[PeerInfo]]) -> None:
        self.node = node
        self.timeout = timeout
        self.fanout = fanout
        self.batch_interval = batch_interval
        self.targets = targets
        self.seen: dict[bytes, float] = {}
        self.duplicates = 0
        self.relayed: Counter[str] = Counter()  # gossip items sent, by kind (tx, block, vote), times recipients
        self.expired = 0
        self._queue: list[GossipItem] = []
        self._queued_bytes = 0
        self._flush_scheduled = False

    def is_new(self, item_id: bytes) -> bool:
        return item_id not in self.seen

    def mark(self, item_id: bytes) -> None:
        self.seen[item_id] = self.node.env.now()

    def expire(self) -> None:
        """Forget items seen longer than ``timeout`` ago (a replay after that is stopped by the ledger's nonces)."""
        cutoff = self.node.env.now() - self.timeout
        old = [k for k, t in self.seen.items() if t < cutoff]
        for k in old:
            del self.seen[k]
        self.expired += len(old)

    def receive(self, item: GossipItem) -> bool:
        """True if the item is new (and is now marked seen); counts a suppressed duplicate otherwise."""
        iid = item.item_id
        if iid in self.seen:
            self.duplicates += 1
            return False
        self.seen[iid] = self.node.env.now()
        return True

    def broadcast(self, kind: int, data: bytes) -> None:
        item = GossipItem(kind, data)
        self.seen.setdefault(item.item_id, self.node.env.now())
        self.forward(item)

    def forward(self, item: GossipItem) -> None:
        self._queue.append(item)
        self._queued_bytes += len(item.data) + 8
        if self._queued_bytes >= MAX_BATCH_BYTES or self.batch_interval <= 0:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.node.call_later(self.batch_interval, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._queue:
            return
        items, self._queue, self._queued_bytes = self._queue, [], 0
        peers = self.targets()
        if self.node.env.has_hook("arena_select_peers"):
            chosen = self.node.env.hooks.select_peers(purpose="gossip", peers=peers)
            if chosen is not None:
                peers = list(chosen)
        elif self.fanout and len(peers) > self.fanout:
            peers = self.node.env.rng.sample(peers, self.fanout)
        if not peers:
            return
        for start in range(0, len(items), MAX_LIST_ITEMS):  # py-ipv8 lists hold at most 255 payloads
            chunk = items[start:start + MAX_LIST_ITEMS]
            self.node.broadcast(peers, Gossip(chunk))
            for item in chunk:
                self.relayed[KIND_NAMES.get(item.kind, str(item.kind))] += len(peers)
