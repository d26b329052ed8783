"""The pool of transactions waiting for a block: bounded, per-sender capped, ordered by fee.

Signatures are the caller's job (check once before ``add``); the pool only orders, bounds and simulates.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .schema import Tx
from .state import LedgerState


@dataclass(slots=True, frozen=True)
class _Entry:
    tx: Tx
    sender: bytes
    arrival: int
    seq: int  # insertion counter: breaks ties between equal arrivals


class Mempool:
    """Bounded transaction pool.

    Admission (``add``), in this order:

    * ``duplicate``: the same transaction id is already pooled;
    * ``nonce_conflict``: another transaction with the same sender and nonce is pooled. The first one seen is kept
      (a double-spend attempt seen by one validator must not replace what it already relays);
    * ``sender_cap``: the sender already has ``per_sender`` transactions pooled (one account cannot fill the pool);
    * ``full``: the pool holds ``max_size`` transactions and the newcomer's fee is not strictly higher than the lowest
      fee present. Otherwise the eviction victim is the lowest-fee transaction, among equal fees the latest arrival
      (then the latest insertion): the newest cheap transaction is the likeliest spam, the oldest was relayed first.

    Eviction may leave a nonce gap in the victim's queue; its later transactions wait until the missing one is
    resubmitted (``select`` only takes consecutive nonces).
    """

    def __init__(self, max_size: int, per_sender: int) -> None:
        self.max_size = max_size
        self.per_sender = per_sender
        self._entries: dict[bytes, _Entry] = {}
        self._by_sender: dict[bytes, dict[int, bytes]] = {}  # sender -> nonce -> tx_id
        self._heap: list[tuple[int, int, int, bytes]] = []  # (fee, -arrival, -seq, tx_id); stale entries skipped
        self._seq = 0

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Tx]:
        return (e.tx for e in list(self._entries.values()))

    def get(self, tx_id: bytes) -> Tx | None:
        e = self._entries.get(tx_id)
        return e.tx if e else None

    def pending(self, sender: bytes) -> list[Tx]:
        """The sender's pooled transactions by nonce."""
        queue = self._by_sender.get(sender, {})
        return [self._entries[queue[n]].tx for n in sorted(queue)]

    def add(self, tx: Tx, arrival: int) -> str | None:
        """Pool ``tx`` (see the class docstring for the rules); returns the reason on refusal."""
        tx_id = tx.tx_id
        if tx_id in self._entries:
            return "duplicate"
        sender = tx.sender
        queue = self._by_sender.get(sender)
        if queue is not None:
            if tx.nonce in queue:
                return "nonce_conflict"
            if len(queue) >= self.per_sender:
                return "sender_cap"
        if len(self._entries) >= self.max_size:
            victim = self._cheapest()
            if victim is None or tx.fee <= victim.tx.fee:
                return "full"
            self._remove(victim.tx.tx_id)
        self._seq += 1
        entry = _Entry(tx, sender, arrival, self._seq)
        self._entries[tx_id] = entry
        self._by_sender.setdefault(sender, {})[tx.nonce] = tx_id
        heapq.heappush(self._heap, (tx.fee, -arrival, -entry.seq, tx_id))
        return None

    def select(self, state: LedgerState, limit: int, proposer: bytes | None = None, height: int = 0) -> list[Tx]:
        """Transactions that apply in this order on ``state`` (simulated on a copy), at most ``limit``.

        Each sender contributes consecutive nonces from its state nonce + 1; among senders, the one whose next
        transaction pays the highest fee goes first, then the earliest arrival. A sender whose next transaction
        does not apply contributes nothing more.
        """
        if limit <= 0 or not self._entries:
            return []
        sim = state.copy()
        ready: list[tuple[int, int, int, bytes]] = []
        for sender, queue in self._by_sender.items():
            tx_id = queue.get(sim.nonce(sender) + 1)
            if tx_id is not None:
                e = self._entries[tx_id]
                ready.append((-e.tx.fee, e.arrival, e.seq, tx_id))
        heapq.heapify(ready)
        out: list[Tx] = []
        while ready and len(out) < limit:
            _, _, _, tx_id = heapq.heappop(ready)
            e = self._entries[tx_id]
            if sim.apply_tx(e.tx, proposer, height) is not None:
                continue
            out.append(e.tx)
            nxt = self._by_sender[e.sender].get(e.tx.nonce + 1)
            if nxt is not None:
                n = self._entries[nxt]
                heapq.heappush(ready, (-n.tx.fee, n.arrival, n.seq, nxt))
        return out

    def remove_included(self, txs: Iterable[Tx]) -> None:
        """Drop included transactions, and any pooled rival with the same sender and nonce (now unusable)."""
        for tx in txs:
            self._remove(tx.tx_id)
            queue = self._by_sender.get(tx.sender)
            if queue is not None and tx.nonce in queue:
                self._remove(queue[tx.nonce])

    def prune(self, state: LedgerState) -> int:
        """Drop what can no longer apply: nonces already used, and a queue front that ``state`` refuses."""
        dropped = 0
        for sender in list(self._by_sender):
            queue = self._by_sender[sender]
            current = state.nonce(sender)
            for n in [n for n in queue if n <= current]:
                self._remove(queue[n])
                dropped += 1
            front = queue.get(current + 1)
            if front is not None and state.check_tx(self._entries[front].tx) is not None:
                self._remove(front)
                dropped += 1
        return dropped

    # -- internals -----------------------------------------------------------------------------------------------
    def _remove(self, tx_id: bytes) -> None:
        e = self._entries.pop(tx_id, None)
        if e is None:
            return
        queue = self._by_sender[e.sender]
        del queue[e.tx.nonce]
        if not queue:
            del self._by_sender[e.sender]
        if len(self._heap) > 2 * len(self._entries) + 64:
            self._heap = [h for h in self._heap if self._live(h)]
            heapq.heapify(self._heap)

    def _live(self, item: tuple[int, int, int, bytes]) -> bool:
        e = self._entries.get(item[3])
        return e is not None and e.seq == -item[2]

    def _cheapest(self) -> _Entry | None:
        """The eviction victim: lowest fee, then latest arrival, then latest insertion."""
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._entries[self._heap[0][3]] if self._heap else None
