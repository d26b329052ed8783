"""Multi-hop payments: invoices, routed HTLC offers, forwarding with fees, fulfilment and failure back.

``HtlcOffer`` travels along a source route, ``HtlcFulfill`` comes back with the preimage, and each hop then settles
with a channel update (:mod:`honest.channels.updates`); ``HtlcFail`` or a timeout unwinds without moving money. The
HTLC model itself is :mod:`honest.htlc`; routes and fees are :mod:`honest.routing`.
"""

from __future__ import annotations

from ..htlc import ZERO_HASH, Htlc, Invoice, Payment, fail_reason, parse_fail_reason
from ..messages import Address
from ..schema import HtlcFail, HtlcFulfill, HtlcOffer, sha256
from .core import MAX_HTLCS, ChannelCore
from .model import OPEN, Channel, Op

MAX_ROUTE = 32  # accounts in an HtlcOffer route
SETTLE_GRACE_MS = 30_000  # a revealed HTLC the offerer has not paid by expiry + this is given up (and counted)


class MultiHop(ChannelCore):
    """Paying and relaying over routes of channels with HTLCs."""

    def create_invoice(self, amount: int) -> bytes:
        """A payment hash for ``amount`` to hand to the payer out of band; this node keeps the preimage."""
        preimage = self.env.rng.randbytes(32)
        h = sha256(preimage)
        self.invoices[h] = Invoice(h, preimage, amount, self.env.now())
        return h

    def pay(self, payee: bytes, amount: int, payment_hash: bytes) -> Payment:
        """Pay ``amount`` to ``payee`` over a route of channels, retrying other routes after a failure."""
        p = Payment(payment_hash, payee, amount, self.env.now())
        self.stats.attempted += 1
        if payee == self.host.account or amount <= 0 or payment_hash in self.payments:
            self._finish(p, False, "bad_payment")
            return p
        self.payments[payment_hash] = p
        self._attempt(p)
        return p

    def _attempt(self, p: Payment) -> None:
        me = self.host.account
        cfg = self.cfg
        while p.attempts < cfg.payment_attempts:
            route = self.graph.route(me, p.payee, p.amount, fees=self.fees, local=self.local_available,
                                     excluded=p.excluded, rng=self.env.rng, max_hops=cfg.max_route_hops)
            if route is None:
                self._finish(p, False, p.reason or "no_route")
                return
            amounts = self.fees.hop_amounts(p.amount, len(route))
            ch = self._best_channel(route[0], amounts[0])
            if ch is None:  # the graph and my channels disagree (a channel not usable yet): route around it
                p.excluded.add((me, route[0]))
                continue
            p.attempts += 1
            self.stats.attempts += 1
            now_ms = self._now_ms()
            final = now_ms + int(cfg.htlc_final_delta * 1000)
            expiry = final + (len(route) - 1) * int(cfg.htlc_hop_delta * 1000)
            p.route, p.sent = route, amounts[0]
            ch.htlc_out[p.payment_hash] = Htlc(ch.channel_id, p.payment_hash, amounts[0], expiry, True, payment=p)
            self._send(ch, HtlcOffer(ch.channel_id, p.payment_hash, amounts[0], expiry, b"".join(route)))
            return
        self._finish(p, False, p.reason or "no_route")

    def _finish(self, p: Payment, ok: bool, reason: str = "") -> None:
        now = self.env.now()
        p.status = "succeeded" if ok else "failed"
        p.reason = "" if ok else reason
        p.finished = now
        s = self.stats
        if ok:
            s.succeeded += 1
            s.volume += p.amount
            s.fees += p.fee
            s.hops += len(p.route)
            s.latency += now - p.started
        else:
            s.failed_by_reason[reason] += 1
        self.payments.pop(p.payment_hash, None)
        self.env.record("payment", node=self.env.index, payee=p.payee.hex(), amount=p.amount, ok=ok,
                        reason=p.reason, hops=len(p.route) if ok else 0, fee=p.fee if ok else 0,
                        latency=round(now - p.started, 6), attempts=p.attempts,
                        path=[self.host.account.hex(), *(a.hex() for a in p.route)] if ok else [])

    def on_offer(self, key: bytes, src: Address, msg: HtlcOffer) -> None:
        ch = self.channels.get(msg.channel_id)
        if ch is None or key != ch.peer_key:
            self.host.count_drop("unknown_channel", "HtlcOffer")
            return
        h = msg.payment_hash
        route = msg.route
        me = self.host.account
        if not route or len(route) % 20 or len(route) > 20 * MAX_ROUTE or route[:20] != me or h == ZERO_HASH \
                or h in ch.htlc_in or msg.amount <= 0:
            self.host.count_drop("bad_htlc_offer", "HtlcOffer")
            return
        if ch.status != OPEN or len(ch.htlc_in) >= MAX_HTLCS or ch.peer_available < msg.amount:
            self._send(ch, HtlcFail(ch.channel_id, h, fail_reason("channel_unavailable", ch.peer, me)))
            return
        hin = Htlc(ch.channel_id, h, msg.amount, msg.expiry, False)
        ch.htlc_in[h] = hin
        now_ms = self._now_ms()
        margin = int(self.cfg.htlc_margin * 1000)
        if len(route) == 20:  # I am the payee
            inv = self.invoices.get(h)
            if inv is None or inv.revealed:
                self._fail_in(ch, hin, fail_reason("unknown_invoice", ch.peer, me))
            elif msg.amount < inv.amount:
                self._fail_in(ch, hin, fail_reason("amount_too_low", ch.peer, me))
            elif msg.expiry < now_ms + margin:
                self._fail_in(ch, hin, fail_reason("expiry_too_soon", ch.peer, me))
            else:
                inv.revealed = True
                hin.fulfilled, hin.preimage, hin.last_sent = True, inv.preimage, self.env.now()
                self.stats.received += 1
                self._send(ch, HtlcFulfill(ch.channel_id, h, inv.preimage))
            return
        nxt = route[20:40]
        out = self.fees.forward_amount(msg.amount)
        out_expiry = msg.expiry - int(self.cfg.htlc_hop_delta * 1000)
        if out <= 0:
            self._fail_in(ch, hin, fail_reason("fee_too_low", ch.peer, me))
            return
        if out_expiry < now_ms + margin:
            self._fail_in(ch, hin, fail_reason("expiry_too_soon", ch.peer, me))
            return
        och = self._best_channel(nxt, out)
        if och is None or h in och.htlc_out:
            code = "no_liquidity" if self.open_channels(nxt) else "no_channel"
            self._fail_in(ch, hin, fail_reason(code, me, nxt))
            return
        och.htlc_out[h] = Htlc(och.channel_id, h, out, out_expiry, True, upstream=ch.channel_id)
        self._send(och, HtlcOffer(och.channel_id, h, out, out_expiry, route[20:]))

    def _fail_in(self, ch: Channel, hin: Htlc, reason: str) -> None:
        ch.htlc_in.pop(hin.payment_hash, None)
        self._send(ch, HtlcFail(ch.channel_id, hin.payment_hash, reason))

    def on_fulfill(self, key: bytes, src: Address, msg: HtlcFulfill) -> None:
        ch = self.channels.get(msg.channel_id)
        if ch is None or key != ch.peer_key:
            return
        h = ch.htlc_out.get(msg.payment_hash)
        if h is None or sha256(msg.preimage) != msg.payment_hash:
            return  # already settled (a resend), or a wrong preimage
        del ch.htlc_out[msg.payment_hash]
        ch.ops.append(Op(h.amount, h.payment_hash, h.expiry))  # the reservation becomes a queued payment
        self._pump(ch)
        if h.upstream is not None:
            up = self.channels.get(h.upstream)
            hin = up.htlc_in.get(h.payment_hash) if up is not None else None
            if up is not None and hin is not None:
                hin.fulfilled, hin.preimage, hin.last_sent = True, msg.preimage, self.env.now()
                self.stats.relayed += 1
                self.stats.relayed_volume += h.amount
                self.stats.fees_earned += hin.amount - h.amount
                self._send(up, HtlcFulfill(up.channel_id, h.payment_hash, msg.preimage))
        elif h.payment is not None and h.payment.status == "pending":
            self._finish(h.payment, True)

    def on_fail(self, key: bytes, src: Address, msg: HtlcFail) -> None:
        ch = self.channels.get(msg.channel_id)
        if ch is None or key != ch.peer_key:
            return
        h = ch.htlc_out.pop(msg.payment_hash, None)
        if h is not None:
            self._failed_out(h, msg.reason[:200])

    def _failed_out(self, h: Htlc, reason: str) -> None:
        """An HTLC this node offered is resolved without payment: unwind upstream, or let the payer try again."""
        if h.upstream is not None:
            up = self.channels.get(h.upstream)
            hin = up.htlc_in.get(h.payment_hash) if up is not None else None
            if up is not None and hin is not None and not hin.fulfilled:
                self._fail_in(up, hin, reason)
            return
        p = h.payment
        if p is None or p.status != "pending":
            return
        code, edge = parse_fail_reason(reason)
        p.reason = code
        if edge is not None:
            p.excluded.add(edge)
        else:
            p.excluded.add((self.host.account, p.route[0]))
        self._attempt(p)

    def _tick_htlcs(self, ch: Channel, now: float, now_ms: int) -> None:
        """Timers of a channel's HTLCs: expire offered ones; resend a fulfil until paid, give up after a grace."""
        for h in list(ch.htlc_out.values()):
            if now_ms >= h.expiry:
                del ch.htlc_out[h.payment_hash]
                self._failed_out(h, fail_reason("timeout", self.host.account, ch.peer))
        for h in list(ch.htlc_in.values()):
            if h.fulfilled:
                if now_ms >= h.expiry + SETTLE_GRACE_MS:
                    del ch.htlc_in[h.payment_hash]
                    self.stats.unsettled += 1
                elif now_ms < h.expiry:  # every tick: a fulfil lost near the expiry costs whoever revealed
                    h.last_sent = now
                    self._send(ch, HtlcFulfill(ch.channel_id, h.payment_hash, h.preimage))
            elif now_ms >= h.expiry + int(self.cfg.htlc_margin * 1000):
                del ch.htlc_in[h.payment_hash]
