"""What message hooks see: a schema payload on its way out or in, with knobs to drop, delay or copy it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Address = tuple[str, int]


@dataclass
class OutMessage:
    """A message the node is about to send. Replace ``payload`` (same type), or set drop / delay / copies."""

    kind: str
    payload: Any
    dst: Address
    dst_key: bytes | None
    drop: bool = False
    delay: float = 0.0
    copies: int = 1


@dataclass
class InMessage:
    """A decoded, authenticated message. ``sender`` is the public key that signed the packet."""

    kind: str
    payload: Any
    src: Address
    sender: bytes
    drop: bool = False


@dataclass
class PeerInfo:
    """A peer-table entry (what peering hooks see)."""

    public_key: bytes
    address: Address
    role: int  # an honest.codes.Role: 0 validator, 1 light, 2 merchant (as the peer claimed)
    added_at: float
    last_seen: float
    anchor: bool = False

    @property
    def ip(self) -> str:
        return self.address[0]


@dataclass
class PaymentStatus:
    """A merchant's view of a payment: what validators said about it."""

    order_id: int
    tx_id: bytes
    amount: int
    buyer: bytes
    status: str  # an honest.codes.TxStatus label: unknown | pending | included | finalized | rejected
    confirmations: int
    answers: int
    since: float
