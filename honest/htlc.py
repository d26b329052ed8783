"""Hash- and time-locked payments (HTLCs) as the honest node tracks them off chain.

The model, kept deliberately simple (the ledger has no HTLC transaction kind and the schema is frozen):

* An offered HTLC is **not** part of the signed channel state. The offerer *reserves* the amount out of its own side
  of the channel (it will not offer or pay it again); the receiver counts it against the offerer's side in the same
  way. Balances in signed states only ever change by a whole, settled payment.
* ``HtlcFulfill`` (the preimage travels back towards the payer) resolves an HTLC: the offerer then turns the
  reservation into a real off-chain state update paying the receiver (``ChannelUpdate`` carrying the payment hash,
  countersigned with ``ChannelUpdateAck``). Each resolution is one update in each channel of the path.
* ``HtlcFail`` or the expiry resolves it the other way: the reservation is released; no state changes, so no money
  moves and nothing can be lost.
* Expiries are virtual milliseconds and shrink by ``hop_delta`` per hop towards the payee. A relay stops waiting for
  its downstream at its own (earlier) expiry, which leaves it ``hop_delta`` to pass a late preimage upstream before
  its upstream gives up in turn.

What this model cannot enforce: once a receiver has revealed the preimage, it relies on the offerer to sign the
update that pays it. An offerer that refuses keeps the money (a relay in that position loses what it forwarded). On
chain, only fully signed states count, so pending HTLCs are not claimable there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

ZERO_HASH = bytes(32)


@dataclass(slots=True)
class Htlc:
    """One HTLC in one channel. ``outgoing``: offered by this node; ``upstream``: the incoming channel it relays."""

    channel_id: bytes
    payment_hash: bytes
    amount: int
    expiry: int  # virtual milliseconds
    outgoing: bool
    upstream: bytes | None = None  # relays: id of the channel the matching incoming HTLC is in
    payment: Payment | None = None  # the payer's own first hop
    fulfilled: bool = False  # incoming: this node revealed the preimage (awaiting the update that pays it)
    preimage: bytes = b""
    last_sent: float = 0.0


@dataclass(slots=True)
class Invoice:
    """A payment this node expects; its hash is handed to the payer out of band (like a Lightning invoice)."""

    payment_hash: bytes
    preimage: bytes
    amount: int
    created: float
    revealed: bool = False
    settled: int = 0  # amount received in signed states so far


@dataclass(slots=True)
class Payment:
    """A payment this node makes: routed attempts until one succeeds, or it gives up."""

    payment_hash: bytes
    payee: bytes
    amount: int
    started: float
    attempts: int = 0
    route: list[bytes] = field(default_factory=list)  # accounts after the payer, payee last
    sent: int = 0  # what the payer put on its first channel (amount + fees) in the current attempt
    excluded: set[tuple[bytes, bytes]] = field(default_factory=set)
    status: str = "pending"  # pending | succeeded | failed
    reason: str = ""
    finished: float | None = None

    @property
    def fee(self) -> int:
        return self.sent - self.amount if self.sent else 0


@dataclass
class PaymentStats:
    """A node's payments as payer, and the traffic it relayed (for reports and the day-3 experiment)."""

    attempted: int = 0
    succeeded: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    volume: int = 0  # amounts delivered by successful payments
    fees: int = 0  # fees paid by successful payments
    hops: int = 0  # channels used, summed over successful payments
    latency: float = 0.0  # seconds, summed over successful payments
    attempts: int = 0  # routing attempts over all payments
    relayed: int = 0  # HTLCs this node forwarded and saw fulfilled
    relayed_volume: int = 0
    fees_earned: int = 0
    received: int = 0  # payments received as payee (preimage revealed)
    unsettled: int = 0  # fulfilled HTLCs the offerer never paid (lost by this node)

    def as_dict(self) -> dict[str, object]:
        return {
            "attempted": self.attempted, "succeeded": self.succeeded,
            "failed_by_reason": dict(sorted(self.failed_by_reason.items())),
            "volume": self.volume, "fees": self.fees, "hops": self.hops, "latency": round(self.latency, 6),
            "attempts": self.attempts, "relayed": self.relayed, "relayed_volume": self.relayed_volume,
            "fees_earned": self.fees_earned, "received": self.received, "unsettled": self.unsettled,
        }


def parse_fail_reason(reason: str) -> tuple[str, tuple[bytes, bytes] | None]:
    """``"code:from_hex:to_hex"`` -> (code, the directed channel edge that failed); other text -> (text, None)."""
    parts = reason.split(":")
    if len(parts) == 3:
        try:
            u, v = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            return parts[0][:32], None
        if len(u) == 20 and len(v) == 20:
            return parts[0][:32], (u, v)
    return reason.split(":")[0][:32] or "unknown", None


def fail_reason(code: str, frm: bytes, to: bytes) -> str:
    return f"{code}:{frm.hex()}:{to.hex()}"


__all__ = ["ZERO_HASH", "Htlc", "Invoice", "Payment", "PaymentStats", "fail_reason", "parse_fail_reason"]
