"""Closing a channel: cooperatively with the peer, or unilaterally (force close) when the peer does not answer.

* **Cooperative**: ``CloseRequest`` with the final state (``seq + 1``, same balances) signed by the initiator; the
  other side countersigns and returns it; the initiator submits ``TX_CHANNEL_CLOSE``. No answer within
  ``channel_close_timeout``: unilateral close.
* **Unilateral**: the ``arena_channel_close`` hook may choose the state to publish (default: the latest both-signed
  one); ``TX_CHANNEL_FORCE_CLOSE`` starts the dispute window (``dispute_window`` blocks), which
  :mod:`honest.channels.chain_watch` follows.

A close waits until nothing is in flight on the channel; closing drops what is still in flight.
"""

from __future__ import annotations

from ..htlc import fail_reason
from ..messages import Address
from ..schema import TX_CHANNEL_CLOSE, TX_CHANNEL_FORCE_CLOSE, ChannelState, CloseRequest
from .core import ChannelCore
from .model import CLOSING, FORCE_CLOSING, OPEN, Channel
from .signing import both_signed, peer_signed, publishable


class ChannelClosing(ChannelCore):
    """Cooperative and unilateral closes of the channel protocol."""

    def close(self, channel_id: bytes, mode: str = "cooperative") -> bool:
        """Close a channel (``cooperative`` or ``unilateral``); waits until nothing is in flight. False if not open."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.status != OPEN:
            return False
        ch.want_close = mode
        self._close_if_idle(ch)
        return True

    def _close_if_idle(self, ch: Channel) -> None:
        if ch.status != OPEN or not ch.want_close or not ch.idle:
            return
        if ch.want_close == "unilateral":
            self.force_close(ch.channel_id)
            return
        st = ch.latest
        ch.close_state = self._sign(ch, st.seq + 1, st.balance_a, st.balance_b)
        ch.close_started = ch.close_sent = self.env.now()
        ch.want_close = ""
        self._set_status(ch, CLOSING)
        self._send(ch, CloseRequest(ch.close_state))

    def on_close_request(self, key: bytes, src: Address, msg: CloseRequest) -> None:
        st = msg.state
        ch = self.channels.get(st.channel_id)
        if ch is None or key != ch.peer_key:
            return
        mine = ch.close_state
        if mine is not None and st.seq == mine.seq and st.sig_a and st.sig_b \
                and (st.balance_a, st.balance_b) == (mine.balance_a, mine.balance_b):
            # the countersigned answer to my request
            if not peer_signed(ch, st):
                return
            full = both_signed(ch, mine, st)
            ch.close_state = None
            self._append(ch, full)
            self._publish(TX_CHANNEL_CLOSE, ch.peer, 0, full.to_bytes(), "channel_close")
            return
        latest = ch.latest
        if ch.status == CLOSING and mine is None and st.seq == latest.seq:
            self._send(ch, CloseRequest(latest))  # our answer got lost
            return
        if mine is not None and st.seq == mine.seq:
            if ch.mine_a:
                return  # both asked at once: a's request wins
            ch.close_state = None
            self._set_status(ch, OPEN)
        if ch.status != OPEN or not ch.idle or st.seq != latest.seq + 1 \
                or (st.balance_a, st.balance_b) != (latest.balance_a, latest.balance_b) \
                or not peer_signed(ch, st):
            return
        if self.env.has_hook("arena_channel_sign_update"):
            vetoes = self.env.hooks.channel_sign_update(state=st)
            if vetoes:
                self.env.record("channel_refused", node=self.env.index, channel=ch.channel_id.hex(), seq=st.seq,
                                reason=f"veto:{vetoes[0]}")
                return
        full = self._countersign(ch, st)
        ch.want_close = ""
        self._set_status(ch, CLOSING)
        self._append(ch, full)
        self._send(ch, CloseRequest(full))

    def force_close(self, channel_id: bytes) -> bool:
        """Publish a state on chain without the peer (the latest, unless the ``arena_channel_close`` hook picks
        another) and start the dispute window. False if there is nothing this node can publish."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.status not in (OPEN, CLOSING):
            return False
        chosen = ch.latest
        if self.env.has_hook("arena_channel_close"):
            pick = self.env.hooks.channel_close(channel=self.view(ch), states=list(ch.states))
            if isinstance(pick, ChannelState) and publishable(ch, pick):
                chosen = pick
        if chosen.seq == 0 and not chosen.sig_a:
            if not ch.mine_a:
                return False  # the opening state gives b nothing; only a can publish it (as the bare id)
            data = ch.channel_id
        else:
            data = chosen.to_bytes()
        self._drop_htlcs(ch)
        ch.close_state = None
        ch.want_close = ""
        ch.published_seq = chosen.seq
        self._set_status(ch, FORCE_CLOSING)
        self._publish(TX_CHANNEL_FORCE_CLOSE, ch.peer, 0, data, "channel_force_close")
        return True

    def _drop_htlcs(self, ch: Channel) -> None:
        """The channel stops updating: unwind what it offered; what it owed or was owed off chain is lost."""
        for h in list(ch.htlc_out.values()):
            del ch.htlc_out[h.payment_hash]
            self._failed_out(h, fail_reason("channel_closed", self.host.account, ch.peer))
        for h in ch.htlc_in.values():
            if h.fulfilled:
                self.stats.unsettled += 1
        ch.htlc_in.clear()
        ch.ops.clear()
        ch.pending = ch.pending_op = None

    def _tick_close(self, ch: Channel, now: float) -> bool:
        """Timer of a cooperative close: resend the request; after ``channel_close_timeout`` give up and force
        close. True if it did (nothing else is to be done for the channel this tick)."""
        if ch.close_state is not None:
            if now - ch.close_started > self.cfg.channel_close_timeout:
                self.env.record("channel_close_timeout", node=self.env.index, channel=ch.channel_id.hex())
                self._set_status(ch, OPEN)
                self.force_close(ch.channel_id)
                return True
            if now - ch.close_sent >= self.cfg.channel_update_timeout:
                ch.close_sent = now
                self._send(ch, CloseRequest(ch.close_state))
        return False
