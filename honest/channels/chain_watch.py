"""Watching the chain for a party's channels: opens confirmed, closes seen, the dispute window, disputes.

Parties follow blocks (validators see their own; light nodes fetch the blocks of announced headers, see
:mod:`honest.channels.block_fetch`). A force close by the peer with an older ``seq`` than the newest state held,
that pays this node less than that state, is answered with ``TX_CHANNEL_DISPUTE`` (the whole channel goes to the
wronged party). An older state that does not hurt this node is not punished: it is what an honest peer publishes
when the countersignature it was waiting for got lost. Every close seen calls ``arena_channel_close_seen``. The
channel graph used for routing is built from every open and close seen.
"""

from __future__ import annotations

from ..messages import Address
from ..schema import (
    TX_CHANNEL_CLOSE,
    TX_CHANNEL_DISPUTE,
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    Block,
    BlockHeader,
    BlockResponse,
    ChannelState,
    Tx,
)
from ..state import CHANNEL_ID_LEN
from .core import ChannelCore
from .model import ACCEPTED, CHANNEL_TX_KINDS, CLOSED_, DONE, OPEN, PROPOSED, WINDOW, ChannelCloseSeen


class ChainWatch(ChannelCore):
    """What a channel party does with the channel transactions of each block."""

    def on_header(self, header: BlockHeader, src: Address, key: bytes) -> None:
        """A light node heard of a block: fetch it when it has channels to watch."""
        if not self.watching:
            return
        self.blocks.on_header(header, src, key)

    def on_block_response(self, key: bytes, src: Address, msg: BlockResponse) -> None:
        """A block this light node asked for (handed to :meth:`on_chain_block` once its ancestors are)."""
        self.blocks.on_block_response(key, src, msg)

    def on_chain_block(self, block: Block) -> None:
        """Handle the channel transactions of a block (each block once, in parent-first order)."""
        h = block.block_hash
        if h in self.processed:
            return
        self.processed.add(h)
        height = block.header.height
        self.height = max(self.height, height)
        for tx in block.txs:
            if tx.kind in CHANNEL_TX_KINDS:
                self.txs.pop(tx.tx_id, None)
                try:
                    self._on_chain_tx(tx, height)
                except ValueError:
                    continue  # not decodable: a valid block cannot hold it, ignore
        window = self.cfg.dispute_window
        for ch in self.channels.values():
            if ch.status == WINDOW and ch.close_height is not None and self.height >= ch.close_height + window:
                ch.close_kind = ch.close_kind or "unilateral"
                self._set_status(ch, CLOSED_)

    def _on_chain_tx(self, tx: Tx, height: int) -> None:
        kind = tx.kind
        if kind == TX_CHANNEL_OPEN:
            cid = tx.data[:CHANNEL_ID_LEN]
            self.graph.add(cid, tx.sender, tx.receiver, tx.amount)
            ch = self.channels.get(cid)
            if ch is not None and ch.status in (PROPOSED, ACCEPTED) and tx.sender == ch.a and tx.receiver == ch.b \
                    and tx.amount == ch.deposit and tx.data[CHANNEL_ID_LEN:] == ch.key_b:
                ch.open_height = height
                self._set_status(ch, OPEN)
            return
        state: ChannelState | None
        if kind == TX_CHANNEL_FORCE_CLOSE and len(tx.data) == CHANNEL_ID_LEN:
            cid, state = tx.data, None
        else:
            state = ChannelState.from_bytes(tx.data)
            cid = state.channel_id
        if kind != TX_CHANNEL_DISPUTE:
            self.graph.remove(cid)
        ch = self.channels.get(cid)
        if ch is None or ch.status in DONE:
            return
        seq, ba, bb = (state.seq, state.balance_a, state.balance_b) if state is not None else (0, ch.deposit, 0)
        names = {TX_CHANNEL_CLOSE: "cooperative", TX_CHANNEL_FORCE_CLOSE: "force_close", TX_CHANNEL_DISPUTE: "dispute"}
        seen = ChannelCloseSeen(names[kind], cid, tx.sender, seq, ba, bb, height, tx, state)
        if self.env.has_hook("arena_channel_close_seen"):
            self.env.hooks.channel_close_seen(channel=self.view(ch), close=seen)
        me = self.host.account
        if kind == TX_CHANNEL_CLOSE:
            ch.close_kind, ch.closer, ch.close_height = "cooperative", tx.sender, height
            self._drop_htlcs(ch)
            self._set_status(ch, CLOSED_)
        elif kind == TX_CHANNEL_DISPUTE:
            ch.close_kind, ch.close_height = "disputed", height
            self._set_status(ch, CLOSED_)
        elif ch.status != WINDOW:
            ch.closer, ch.close_height = tx.sender, height
            if tx.sender != me:
                self._drop_htlcs(ch)
            self._set_status(ch, WINDOW)
            newest = ch.latest
            wronged = ch.mine_of(newest) > (ba if ch.mine_a else bb)
            if tx.sender != me and seq < newest.seq and wronged and not ch.disputed:
                ch.disputed = True
                self._save(ch)
                self.env.record("channel_dispute", node=self.env.index, channel=cid.hex(), published_seq=seq,
                                newest_seq=newest.seq)
                self._publish(TX_CHANNEL_DISPUTE, ch.peer, 0, newest.to_bytes(), "channel_dispute")
