"""On an honest validator: which channel closes settled in the finalised chain, and how.

When a close settles in a finalised block the validator records ``channel_settled`` (what the referee's
``channel_fraud`` check reads), and it counts opens and closes of the finalised chain (``result.json``'s
``channels``). Channel parties do not run this; it reads the validator's block tree only.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..env import NodeEnv
from ..schema import TX_CHANNEL_CLOSE, TX_CHANNEL_FORCE_CLOSE, TX_CHANNEL_OPEN, Block, ChannelState, Tx
from ..state import CHANNEL_ID_LEN, CLOSED
from .model import CHANNEL_TX_KINDS

if TYPE_CHECKING:
    from ..chain import BlockTree


class SettlementWatch:
    """On an honest validator: record ``channel_settled`` when a channel close settles in a finalised block, and count
    opens and closes of the finalised chain (``result.json``'s ``channels``)."""

    def __init__(self, env: NodeEnv, tree: BlockTree) -> None:
        self.env = env
        self.tree = tree
        self.done = tree.genesis_hash
        self.force: dict[bytes, tuple[int, int, int, bytes]] = {}  # cid -> published (seq, a, b, closer)
        self.disputed: dict[bytes, bytes] = {}  # cid -> disputer
        self.cooperative: set[bytes] = set()
        self.settled: set[bytes] = set()
        self.counts: Counter[str] = Counter()

    def on_finality(self) -> None:
        tree = self.tree
        fin = tree.finalized
        if fin == self.done:
            return
        fresh: list[Block] = []
        for h in tree.ancestors(fin):
            if h == self.done:
                break
            b = tree.block(h)
            if b is not None:
                fresh.append(b)
        self.done = fin
        touched: set[bytes] = set()
        for b in reversed(fresh):
            for tx in b.txs:
                if tx.kind in CHANNEL_TX_KINDS:
                    try:
                        touched.add(self._note(tx))
                    except ValueError:
                        continue
        state = tree.state(fin)
        if state is None:
            return
        for cid in sorted(touched | (set(self.force) - self.settled)):
            rec = state.channels.get(cid)
            if cid in self.settled or rec is None or rec.status != CLOSED:
                continue
            self.settled.add(cid)
            disputed = cid in self.disputed
            if disputed:
                seq, ba, bb, closer = self.force.get(cid, (rec.close_seq, rec.close_balance_a, rec.close_balance_b,
                                                           rec.closer or bytes(20)))
                self.counts["disputed"] += 1
            else:
                seq, ba, bb = rec.close_seq, rec.close_balance_a, rec.close_balance_b
                closer = rec.closer or bytes(20)
                self.counts["closed_cooperatively" if cid in self.cooperative else "closed_unilaterally"] += 1
            self.env.events.channel_settled(cid, rec.a, rec.b, closer, seq, ba, bb, disputed, rec.close_balance_a,
                                            rec.close_balance_b, rec.close_seq if disputed else None,
                                            tree.finalized_height)

    def _note(self, tx: Tx) -> bytes:
        if tx.kind == TX_CHANNEL_OPEN:
            self.counts["open"] += 1
            return tx.data[:CHANNEL_ID_LEN]
        if tx.kind == TX_CHANNEL_FORCE_CLOSE and len(tx.data) == CHANNEL_ID_LEN:
            state = self.tree.state(self.tree.finalized)
            rec = state.channels.get(tx.data) if state is not None else None
            deposit = rec.deposit_a + rec.deposit_b if rec is not None else 0
            self.force.setdefault(tx.data, (0, deposit, 0, tx.sender))
            return tx.data
        st = ChannelState.from_bytes(tx.data)
        cid = st.channel_id
        if tx.kind == TX_CHANNEL_CLOSE:
            self.cooperative.add(cid)
        elif tx.kind == TX_CHANNEL_FORCE_CLOSE:
            self.force.setdefault(cid, (st.seq, st.balance_a, st.balance_b, tx.sender))
        else:
            self.disputed[cid] = tx.sender
        return cid

    def summary(self) -> dict[str, int]:
        c = self.counts
        opened = c["open"]
        ended = c["closed_cooperatively"] + c["closed_unilaterally"] + c["disputed"]
        return {"open": opened, "closed_cooperatively": c["closed_cooperatively"],
                "closed_unilaterally": c["closed_unilaterally"], "disputed": c["disputed"],
                "closing": len(set(self.force) - self.settled), "open_at_end": max(0, opened - ended)}
