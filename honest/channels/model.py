"""What a payment channel is to one of its parties: local statuses, the channel record and what hooks see of it.

Data only, so that every part of the channel protocol (opening, updates, multi-hop payments, closing, watching the
chain) and the store that keeps channels across a crash agree on one record without importing each other.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field

from ..htlc import ZERO_HASH, Htlc
from ..messages import Address
from ..schema import (
    TX_CHANNEL_CLOSE,
    TX_CHANNEL_DISPUTE,
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    ChannelState,
    Tx,
)

# local channel status
PROPOSED = "proposed"  # a: ChannelPropose sent, waiting for ChannelAccept
ACCEPTED = "accepted"  # open agreed, waiting to see TX_CHANNEL_OPEN in a block
OPEN = "open"
CLOSING = "closing"  # cooperative close under way (no more updates)
FORCE_CLOSING = "force_closing"  # this node published a force close, not yet seen in a block
WINDOW = "window"  # a force close is on chain: the dispute window runs
CLOSED_ = "closed"
FAILED = "failed"  # never opened
DONE = frozenset({CLOSED_, FAILED})

CHANNEL_TX_KINDS = frozenset({TX_CHANNEL_OPEN, TX_CHANNEL_CLOSE, TX_CHANNEL_FORCE_CLOSE, TX_CHANNEL_DISPUTE})


@dataclass(slots=True)
class Op:
    """A payment from this node to the peer waiting to become a signed state (direct, or an HTLC settlement)."""

    amount: int
    payment_hash: bytes = ZERO_HASH
    expiry: int = 0


@dataclass(frozen=True)
class ChannelView:
    """What the channel hooks see of a channel: identity, parties, this node's side, and the latest signed state."""

    channel_id: bytes
    a: bytes
    b: bytes
    key_a: bytes
    key_b: bytes
    deposit: int
    side: str  # "a" or "b": which party this node is
    status: str
    seq: int
    balance_a: int
    balance_b: int


@dataclass(frozen=True)
class ChannelCloseSeen:
    """A close of a channel the node is party to, as found in a block (``arena_channel_close_seen``)."""

    kind: str  # cooperative | force_close | dispute
    channel_id: bytes
    closer: bytes  # account that sent the transaction
    seq: int
    balance_a: int
    balance_b: int
    height: int
    tx: Tx
    state: ChannelState | None = None  # None for a force close with the bare opening state


@dataclass(eq=False)
class Channel:
    """One channel as a party holds it. ``states[0]`` is the opening state (seq 0, unsigned); the rest are signed by
    both parties, oldest first."""

    channel_id: bytes
    a: bytes
    b: bytes
    key_a: bytes
    key_b: bytes
    deposit: int
    mine_a: bool
    peer_address: Address
    status: str
    since: float
    states: list[ChannelState]
    pending: ChannelState | None = None  # my proposal, signed by me
    pending_op: Op | None = None
    pending_sent: float = 0.0
    ops: deque[Op] = field(default_factory=deque)
    htlc_out: dict[bytes, Htlc] = field(default_factory=dict)
    htlc_in: dict[bytes, Htlc] = field(default_factory=dict)
    close_state: ChannelState | None = None  # my CloseRequest, signed by me, not yet countersigned
    close_started: float = 0.0
    close_sent: float = 0.0
    want_close: str = ""  # cooperative | unilateral: asked while busy
    open_height: int | None = None
    close_height: int | None = None
    closer: bytes | None = None
    close_kind: str = ""  # cooperative | unilateral | disputed
    published_seq: int | None = None  # the seq of the force close this node published
    disputed: bool = False
    last_sent: float = 0.0

    @functools.cached_property
    def names(self) -> tuple[str, str, str]:
        """Hex of the channel id and both accounts, for trace events."""
        return self.channel_id.hex(), self.a.hex(), self.b.hex()

    @property
    def peer(self) -> bytes:
        return self.b if self.mine_a else self.a

    @property
    def peer_key(self) -> bytes:
        return self.key_b if self.mine_a else self.key_a

    @property
    def latest(self) -> ChannelState:
        return self.states[-1]

    @property
    def my_balance(self) -> int:
        st = self.states[-1]
        return st.balance_a if self.mine_a else st.balance_b

    @property
    def peer_balance(self) -> int:
        st = self.states[-1]
        return st.balance_b if self.mine_a else st.balance_a

    def mine_of(self, st: ChannelState) -> int:
        return st.balance_a if self.mine_a else st.balance_b

    @property
    def reserved(self) -> int:
        """My side's money promised but not yet in a signed state: offered HTLCs and queued payments."""
        out = sum(h.amount for h in self.htlc_out.values()) + sum(op.amount for op in self.ops)
        return out + (self.pending_op.amount if self.pending_op is not None else 0)

    @property
    def available(self) -> int:
        return self.my_balance - self.reserved

    @property
    def peer_available(self) -> int:
        return self.peer_balance - sum(h.amount for h in self.htlc_in.values())

    @property
    def idle(self) -> bool:
        return not (self.pending or self.ops or self.htlc_out or self.htlc_in)


def opening_state(cid: bytes, deposit: int) -> ChannelState:
    """The state a channel starts from (seq 0, all to the funder ``a``, signed by nobody)."""
    return ChannelState(cid, 0, deposit, 0, b"", b"")
