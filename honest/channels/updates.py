"""Paying over an open channel: signed state updates, one in flight per channel.

The payer proposes the next state (``seq + 1``, both balances) signed by itself in a ``ChannelUpdate``; the payee
checks that it only gains, asks the ``arena_channel_sign_update`` hook, countersigns and returns it in a
``ChannelUpdateAck``. Money only ever moves from the proposer to the countersigner, so a countersigner never signs
a state that costs it. When both sides propose the same ``seq`` at once, party ``a``'s proposal wins and ``b``
re-proposes on top of it. An unanswered proposal is resent, never replaced (the peer may already hold it
countersigned). Settling a fulfilled HTLC is such an update too (it carries the payment hash).
"""

from __future__ import annotations

from ..htlc import ZERO_HASH
from ..messages import Address
from ..schema import ChannelState, ChannelUpdate, ChannelUpdateAck
from .core import ChannelCore
from .model import CLOSING, OPEN, Channel, Op
from .signing import both_signed, peer_signed


class ChannelUpdates(ChannelCore):
    """Direct payments and the update/acknowledge exchange of the channel protocol."""

    def pay_channel(self, channel_id: bytes, amount: int) -> bool:
        """Pay the peer of an open channel directly (one signed update). False if it cannot carry ``amount``."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.status != OPEN or amount <= 0 or ch.available < amount:
            return False
        ch.ops.append(Op(amount))
        self._pump(ch)
        return True

    def _pump(self, ch: Channel) -> None:
        """Propose the next queued payment if nothing is in flight."""
        if ch.pending is not None or not ch.ops or ch.status != OPEN:
            return
        op = ch.ops.popleft()
        st = ch.latest
        if ch.mine_a:
            ba, bb = st.balance_a - op.amount, st.balance_b + op.amount
        else:
            ba, bb = st.balance_a + op.amount, st.balance_b - op.amount
        ch.pending = self._sign(ch, st.seq + 1, ba, bb)
        ch.pending_op = op
        ch.pending_sent = self.env.now()
        self._save(ch)
        self._send(ch, ChannelUpdate(ch.pending, op.payment_hash, op.expiry))

    def on_update(self, key: bytes, src: Address, msg: ChannelUpdate) -> None:
        st = msg.state
        ch = self.channels.get(st.channel_id)
        if ch is None or key != ch.peer_key:
            self.host.count_drop("unknown_channel", "ChannelUpdate")
            return
        latest = ch.latest
        if st.seq == latest.seq and latest.seq > 0 and (st.balance_a, st.balance_b) == \
                (latest.balance_a, latest.balance_b):
            self._send(ch, ChannelUpdateAck(latest))  # our ack got lost
            return
        if st.seq != latest.seq + 1:
            return
        if ch.status == CLOSING and ch.close_state is not None:
            # the peer pays us while we asked to close: drop our request (re-asked when idle), take the payment
            ch.close_state = None
            ch.want_close = ch.want_close or "cooperative"
            self._set_status(ch, OPEN)
        if ch.status != OPEN:
            return
        if ch.pending is not None and ch.pending.seq == st.seq:
            if ch.mine_a:
                return  # a's proposal wins; b re-proposes on top of it
            if ch.pending_op is not None:
                ch.ops.appendleft(ch.pending_op)
            ch.pending = ch.pending_op = None
        reason = self._check_incoming(ch, st, msg.payment_hash)
        if reason is None and self.env.has_hook("arena_channel_sign_update"):
            vetoes = self.env.hooks.channel_sign_update(state=st)
            if vetoes:
                reason = f"veto:{vetoes[0]}"
        if reason is not None:
            self.env.record("channel_refused", node=self.env.index, channel=ch.channel_id.hex(), seq=st.seq,
                            reason=reason)
            return
        full = self._countersign(ch, st)
        h = ch.htlc_in.pop(msg.payment_hash, None) if msg.payment_hash != ZERO_HASH else None
        if h is not None:
            inv = self.invoices.get(h.payment_hash)
            if inv is not None and h.upstream is None:
                inv.settled += h.amount
        self._append(ch, full)
        self._send(ch, ChannelUpdateAck(full))
        self._pump(ch)

    def _check_incoming(self, ch: Channel, st: ChannelState, payment_hash: bytes) -> str | None:
        """Why this node must not countersign ``st`` (the peer's proposal), or None."""
        if st.balance_a + st.balance_b != ch.deposit:
            return "bad_total"
        latest = ch.latest
        gain = ch.mine_of(st) - ch.mine_of(latest)
        if gain <= 0:
            return "not_a_payment"
        peer_after = ch.deposit - ch.mine_of(st)
        held = sum(h.amount for h in ch.htlc_in.values())
        if payment_hash != ZERO_HASH:
            h = ch.htlc_in.get(payment_hash)
            if h is None or not h.fulfilled or h.amount != gain:
                return "unknown_htlc"
            held -= h.amount
        if peer_after < held:
            return "breaks_htlc_reserve"
        if not peer_signed(ch, st):
            return "bad_signature"
        return None

    def on_update_ack(self, key: bytes, src: Address, msg: ChannelUpdateAck) -> None:
        st = msg.state
        ch = self.channels.get(st.channel_id)
        if ch is None or key != ch.peer_key:
            return
        mine = ch.pending
        if mine is None or st.seq != mine.seq or (st.balance_a, st.balance_b) != (mine.balance_a, mine.balance_b):
            return
        if not peer_signed(ch, st):
            self.host.count_drop("bad_channel_signature", "ChannelUpdateAck")
            return
        full = both_signed(ch, mine, st)
        ch.pending = ch.pending_op = None
        self._append(ch, full)
        if ch.status == OPEN:
            self._pump(ch)

    def _tick_update(self, ch: Channel, now: float) -> None:
        """Timer of an open channel's updates: resend an unanswered proposal, or propose what waited behind one."""
        if ch.pending is not None and now - ch.pending_sent >= self.cfg.channel_update_timeout:
            ch.pending_sent = now
            op = ch.pending_op
            self._send(ch, ChannelUpdate(ch.pending, op.payment_hash if op else ZERO_HASH, op.expiry if op else 0))
        elif ch.pending is None and ch.ops:
            self._pump(ch)  # queued behind a proposal of the peer's that we yielded to
