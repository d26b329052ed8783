"""Gossip as in the workshop: items identified by SHA-256(kind + payload), a seen-set that suppresses duplicates
and forgets after ``message_timeout``, and forwarding of new valid items to peers.

It is built to scale with the number of validators:

* **Bounded fan-out.** Each node forwards a new item once, to ``fanout`` validator peers drawn afresh for each
  packet (0 means all of them, as in the workshop). An item therefore costs about ``validators x fanout`` sends
  however many validators there are, and reaches every validator with high probability (a node misses one with
  probability about ``exp(-fanout)``).
* **Batching.** Items wait up to ``batch_interval`` and leave as one ``Gossip`` packet, signed once for all
  recipients, so a busy node sends at most ``fanout / batch_interval`` packets a second whatever the load.
  A block does not wait: it is what the next slot's leader builds on, so it flushes the queue at once.
* **Pull repairs what push misses.** A validator that misses a block learns of it from ``ChainStatus`` or from an
  orphan child and fetches it with ``BlockRequest`` (:mod:`honest.node.sync`); a missed vote is made good by the
  votes for the blocks after it (:meth:`honest.chain.BlockTree.add_vote`); a missed transaction stays in other
  validators' mempools, and its sender hands it in again after ``RESUBMIT_AFTER``.
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
        if self._queued_bytes >= MAX_BATCH_BYTES or self.batch_interval <= 0 or item.kind == ITEM_BLOCK:
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
