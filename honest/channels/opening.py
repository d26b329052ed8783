"""Opening a channel: propose, accept, fund on chain (single-funded, as the ledger requires).

Party ``a`` sends ``ChannelPropose(id, deposit, 0)``; ``b`` answers ``ChannelAccept``; ``a`` submits
``TX_CHANNEL_OPEN`` (recorded as an intent). Both use the channel once they see the open in a block (see
:mod:`honest.channels.chain_watch`). ``adopt_channel`` takes up a channel already open, for tools and benchmarks.
"""

from __future__ import annotations

from ..messages import Address
from ..schema import TX_CHANNEL_OPEN, ChannelAccept, ChannelPropose, account_of
from ..state import CHANNEL_ID_LEN
from .core import ChannelCore
from .model import ACCEPTED, FAILED, OPEN, PROPOSED, Channel, opening_state

MAX_CHANNELS = 4096


class ChannelOpening(ChannelCore):
    """The opening handshake of the channel protocol."""

    def open_channel(self, peer_key: bytes, address: Address, deposit: int) -> bytes:
        """Propose a channel funded with ``deposit`` by this node; returns its id (usable once seen on chain)."""
        if deposit <= 0:
            raise ValueError("a channel needs a positive deposit")
        cid = self.env.rng.randbytes(CHANNEL_ID_LEN)
        now = self.env.now()
        ch = Channel(cid, self.host.account, account_of(peer_key), self.host.public_key, peer_key, deposit, True,
                     address, PROPOSED, now, [opening_state(cid, deposit)], last_sent=now)
        self._add(ch)
        self._send(ch, ChannelPropose(cid, deposit, 0))
        return cid

    def adopt_channel(self, channel_id: bytes, key_a: bytes, key_b: bytes, deposit: int, peer_address: Address,
                      height: int = 0) -> Channel:
        """Take up a channel already open on chain (tools and benchmarks that set up channels without a chain)."""
        me = self.host.public_key
        if me not in (key_a, key_b):
            raise ValueError("this node is not a party of the channel")
        ch = Channel(channel_id, account_of(key_a), account_of(key_b), key_a, key_b, deposit, me == key_a,
                     peer_address, OPEN, self.env.now(), [opening_state(channel_id, deposit)], open_height=height)
        self._add(ch)
        self.counts["opened"] += 1
        self.graph.add(channel_id, ch.a, ch.b, deposit)
        return ch

    def on_propose(self, key: bytes, src: Address, msg: ChannelPropose) -> None:
        cid = msg.channel_id
        ch = self.channels.get(cid)
        if ch is not None:
            if not ch.mine_a and ch.key_a == key and ch.deposit == msg.deposit_a and ch.status == ACCEPTED:
                self._send(ch, ChannelAccept(cid))  # our accept got lost
            return
        if msg.deposit_a <= 0 or msg.deposit_b != 0 or key == self.host.public_key \
                or len(self.channels) >= MAX_CHANNELS:
            self.host.count_drop("bad_channel_propose", "ChannelPropose")
            return
        ch = Channel(cid, account_of(key), self.host.account, key, self.host.public_key, msg.deposit_a, False, src,
                     ACCEPTED, self.env.now(), [opening_state(cid, msg.deposit_a)])
        self._add(ch)
        self._send(ch, ChannelAccept(cid))

    def on_accept(self, key: bytes, src: Address, msg: ChannelAccept) -> None:
        ch = self.channels.get(msg.channel_id)
        if ch is None or not ch.mine_a or key != ch.key_b or ch.status != PROPOSED:
            return
        self._set_status(ch, ACCEPTED)
        self._publish(TX_CHANNEL_OPEN, ch.b, ch.deposit, ch.channel_id + ch.key_b, "channel_open")

    def _tick_proposal(self, ch: Channel, now: float) -> None:
        """Timer of a proposed channel: give up after ``channel_open_timeout``, else resend an unanswered propose."""
        if now - ch.since > self.cfg.channel_open_timeout:
            self._set_status(ch, FAILED)
        elif now - ch.last_sent >= self.cfg.channel_update_timeout:
            ch.last_sent = now
            self._send(ch, ChannelPropose(ch.channel_id, ch.deposit, 0))
