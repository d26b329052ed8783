"""Payment channels (course day 3): open on chain, pay off chain, close cooperatively or unilaterally, dispute.

One :class:`ChannelManager` per node speaks the channel messages of the frozen schema:

* **Open** (single-funded, as the ledger requires): party ``a`` sends ``ChannelPropose(id, deposit, 0)``; ``b``
  answers ``ChannelAccept``; ``a`` submits ``TX_CHANNEL_OPEN`` (recorded as an intent). Both use the channel once
  they see the open in a block.
* **Pay**: the payer proposes the next state (``seq + 1``, both balances) signed by itself in a ``ChannelUpdate``;
  the payee checks that it only gains, asks the ``arena_channel_sign_update`` hook, countersigns and returns it in a
  ``ChannelUpdateAck``. Money only ever moves from the proposer to the countersigner, so a countersigner never signs
  a state that costs it. One proposal per channel is in flight; when both sides propose the same ``seq`` at once,
  party ``a``'s proposal wins and ``b`` re-proposes on top of it. An unanswered proposal is resent, never replaced
  (the peer may already hold it countersigned).
* **Multi-hop** (see :mod:`honest.htlc` for the HTLC model and :mod:`honest.routing` for routes and fees):
  ``HtlcOffer`` along a source route, ``HtlcFulfill`` back with the preimage, each hop then settles with an update;
  ``HtlcFail`` or a timeout unwinds without moving money.
* **Cooperative close**: ``CloseRequest`` with the final state (``seq + 1``, same balances) signed by the initiator;
  the other side countersigns and returns it; the initiator submits ``TX_CHANNEL_CLOSE``. No answer within
  ``channel_close_timeout``: unilateral close.
* **Unilateral close**: the ``arena_channel_close`` hook may choose the state to publish (default: the latest
  both-signed one); ``TX_CHANNEL_FORCE_CLOSE`` starts the dispute window (``dispute_window`` blocks).
* **Watching the chain**: parties follow blocks (light nodes fetch the blocks of announced headers from validators
  with ``BlockRequest``; validators see their own). A force close by the peer with an older ``seq`` than the newest
  state held, that pays this node less than that state, is answered with ``TX_CHANNEL_DISPUTE`` (the whole channel
  goes to the wronged party). An older state that does not hurt this node is not punished: it is what an honest peer
  publishes when the countersignature it was waiting for got lost. Every close seen calls
  ``arena_channel_close_seen``. The channel graph used for routing is built from every open and close seen.

Validators run a :class:`SettlementWatch`: when a close settles in a finalised block they record
``channel_settled`` (what the referee's ``channel_fraud`` check reads). Parties record ``channel_signed`` whenever
they come to hold a new state signed by both (as countersigner, or on receiving the countersignature).

Durability: channel states survive a crash through the ``ChannelStore`` (the simulator hands the restarted node the
same store); HTLCs and payments in flight at a crash are forgotten.
"""

from __future__ import annotations

import functools
import struct
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from .config import NodeConfig
from .env import NodeEnv
from .htlc import ZERO_HASH, Htlc, Invoice, Payment, PaymentStats, fail_reason, parse_fail_reason
from .messages import Address, PeerInfo
from .routing import ChannelGraph, FeeSchedule
from .schema import (
    TX_CHANNEL_CLOSE,
    TX_CHANNEL_DISPUTE,
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    Block,
    BlockHeader,
    BlockRequest,
    BlockResponse,
    ChannelAccept,
    ChannelPropose,
    ChannelState,
    ChannelUpdate,
    ChannelUpdateAck,
    CloseRequest,
    Frozen,
    HtlcFail,
    HtlcFulfill,
    HtlcOffer,
    Tx,
    account_of,
    sha256,
    sign,
)
from .state import CHANNEL_ID_LEN, CLOSED
from .wire import checked

if TYPE_CHECKING:
    from .chain import BlockTree

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
GENESIS_HASH = bytes(32)
MAX_CHANNELS = 4096
MAX_HTLCS = 256  # per channel and direction
MAX_ROUTE = 32  # accounts in an HtlcOffer route
BLOCK_RETRY = 2.0  # seconds before a wanted block is asked for again
BLOCK_TRIES = 5
TX_TRIES = 10  # submissions of one channel transaction before giving up on it
MAX_WAITING = 4096  # fetched blocks kept while their ancestors are being fetched
SETTLE_GRACE_MS = 30_000  # a revealed HTLC the offerer has not paid by expiry + this is given up (and counted)


class ChannelHost(Protocol):
    """What the manager needs from its node (``HonestNode`` provides it; benchmarks provide a stand-in)."""

    env: NodeEnv
    config: NodeConfig
    key: PrivateKey
    public_key: bytes
    account: bytes
    role: str

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None: ...

    def make_tx(self, receiver: bytes, amount: int, fee: int, kind: int = 0, data: bytes = b"") -> Tx: ...

    def submit(self, tx: Tx) -> bool: ...

    def validators(self) -> list[PeerInfo]: ...

    def count_drop(self, reason: str, kind: str = "") -> None: ...


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


class ChannelStore:
    """Where a node's channels outlive a crash. In the simulator the restarted node gets the same object, and every
    change is "written" at once (the store keeps the channel objects themselves)."""

    def __init__(self) -> None:
        self.channels: dict[bytes, Channel] = {}

    def save(self, ch: Channel) -> None:
        self.channels[ch.channel_id] = ch


def _canonical(channel_id: bytes, seq: int, balance_a: int, balance_b: int) -> bytes:
    """``ChannelState.canonical()`` without building a state to throw away (checked against it at import)."""
    return _CHAN_PREFIX + channel_id + struct.pack(">QQQ", seq, balance_a, balance_b)


_CHAN_PREFIX = ChannelState(bytes(32), 0, 0, 0, b"", b"").canonical()[:-56]
assert _canonical(bytes(range(32)), 3, 5, 7) == ChannelState(bytes(range(32)), 3, 5, 7, b"", b"").canonical(), \
    "ChannelState.canonical changed: update _canonical"

_KEYS: dict[bytes, Any] = {}  # parsed public keys of channel peers (parsing costs about as much as verifying)


def _verify(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """``schema.verify`` with the peer's parsed key kept: every update checks the same few keys again."""
    key = _KEYS.get(public_key)
    if key is None:
        try:
            key = default_eccrypto.key_from_public_bin(public_key)
        except Exception:
            return False
        if len(_KEYS) >= 1 << 14:
            _KEYS.clear()
        _KEYS[public_key] = key
    try:
        return bool(default_eccrypto.is_valid_signature(key, data, signature))
    except Exception:
        return False


def _opening(cid: bytes, deposit: int) -> ChannelState:
    return ChannelState(cid, 0, deposit, 0, b"", b"")


class ChannelManager:
    """The channel protocol of one node (see the module docstring)."""

    def __init__(self, host: ChannelHost, store: ChannelStore | None = None) -> None:
        self.host = host
        self.env = host.env
        cfg = host.config
        self.cfg = cfg
        self.fees = FeeSchedule(cfg.channel_fee_base, cfg.channel_fee_ppm)
        self.channels: dict[bytes, Channel] = {}
        self.by_peer: dict[bytes, list[bytes]] = {}
        self.graph = ChannelGraph()
        self.invoices: dict[bytes, Invoice] = {}
        self.payments: dict[bytes, Payment] = {}
        self.stats = PaymentStats()
        self.txs: dict[bytes, list[Any]] = {}  # my unconfirmed channel transactions: id -> [tx, last sent, tries]
        self.processed: set[bytes] = set()  # blocks whose channel transactions were handled
        self.waiting: dict[bytes, Block] = {}  # fetched blocks whose parent is not processed yet
        self.wanted: dict[bytes, list[Any]] = {}  # block hash -> [asked at, address, key, tries]
        self.height = 0  # highest block processed
        self.request_seq = 0
        self.store = store
        self.counts: Counter[str] = Counter()  # channel events seen by this node (opened, closed_*)
        if store is not None:
            for ch in store.channels.values():
                self._restore(ch)

    # ================================================ helpers =====================================================
    def _now_ms(self) -> int:
        return int(self.env.now() * 1000)

    def _add(self, ch: Channel) -> None:
        self.channels[ch.channel_id] = ch
        self.by_peer.setdefault(ch.peer, []).append(ch.channel_id)
        self._save(ch)

    def _save(self, ch: Channel) -> None:
        if self.store is not None:
            self.store.save(ch)

    def _restore(self, old: Channel) -> None:
        """Durable parts only: identity, signed states, my unanswered proposal, close progress."""
        ch = Channel(old.channel_id, old.a, old.b, old.key_a, old.key_b, old.deposit, old.mine_a, old.peer_address,
                     old.status, old.since, list(old.states), pending=old.pending, open_height=old.open_height,
                     close_height=old.close_height, closer=old.closer, close_kind=old.close_kind,
                     published_seq=old.published_seq, disputed=old.disputed)
        if ch.pending is not None:
            ch.pending_op = Op(self._mine(ch, ch.latest) - self._mine(ch, ch.pending))
        if ch.status == PROPOSED:
            ch.status = FAILED
        self.channels[ch.channel_id] = ch
        self.by_peer.setdefault(ch.peer, []).append(ch.channel_id)

    @staticmethod
    def _mine(ch: Channel, st: ChannelState) -> int:
        return st.balance_a if ch.mine_a else st.balance_b

    def _send(self, ch: Channel, payload: Frozen) -> None:
        self.host.send_to(ch.peer_address, ch.peer_key, payload)

    def _sign(self, ch: Channel, seq: int, balance_a: int, balance_b: int) -> ChannelState:
        """A state signed by this node only."""
        sig = sign(self.host.key, _canonical(ch.channel_id, seq, balance_a, balance_b))
        return ChannelState(ch.channel_id, seq, balance_a, balance_b, sig if ch.mine_a else b"",
                            b"" if ch.mine_a else sig)

    @staticmethod
    def _peer_sig(ch: Channel, st: ChannelState) -> bytes:
        return st.sig_b if ch.mine_a else st.sig_a

    def _peer_signed(self, ch: Channel, st: ChannelState) -> bool:
        return _verify(ch.peer_key, st.canonical(), self._peer_sig(ch, st))

    def _both(self, ch: Channel, mine: ChannelState, theirs: ChannelState) -> ChannelState:
        """``mine`` (my signature) completed with the peer's signature from ``theirs``."""
        if (theirs.sig_a, theirs.sig_b) == ((mine.sig_a, theirs.sig_b) if ch.mine_a else (theirs.sig_a, mine.sig_b)):
            return theirs  # it already carries my signature: nothing to rebuild
        if ch.mine_a:
            return ChannelState(mine.channel_id, mine.seq, mine.balance_a, mine.balance_b, mine.sig_a, theirs.sig_b)
        return ChannelState(mine.channel_id, mine.seq, mine.balance_a, mine.balance_b, theirs.sig_a, mine.sig_b)

    def _countersign(self, ch: Channel, st: ChannelState) -> ChannelState:
        msg = st.canonical()
        sig = sign(self.host.key, msg)
        if ch.mine_a:
            return ChannelState(st.channel_id, st.seq, st.balance_a, st.balance_b, sig, st.sig_b)
        return ChannelState(st.channel_id, st.seq, st.balance_a, st.balance_b, st.sig_a, sig)

    def _append(self, ch: Channel, st: ChannelState) -> None:
        """A new state signed by both: keep it and say so in the trace (the referee's ``channel_signed``)."""
        ch.states.append(st)
        self._save(ch)
        names = ch.names
        self.env.record("channel_signed", node=self.env.index, channel=names[0], seq=st.seq, a=names[1], b=names[2],
                        balance_a=st.balance_a, balance_b=st.balance_b)

    def _set_status(self, ch: Channel, status: str) -> None:
        if ch.status == status:
            return
        ch.status = status
        ch.since = self.env.now()
        self._save(ch)
        if status == OPEN:
            self.counts["opened"] += 1
            self.env.record("channel_opened", node=self.env.index, channel=ch.channel_id.hex(), a=ch.a.hex(),
                            b=ch.b.hex(), deposit=ch.deposit)
        elif status == CLOSED_:
            self.counts[f"closed_{ch.close_kind or 'unknown'}"] += 1
            st = ch.latest
            self.env.record("channel_closed", node=self.env.index, channel=ch.channel_id.hex(), kind=ch.close_kind,
                            seq=st.seq, balance_a=st.balance_a, balance_b=st.balance_b)

    def view(self, ch: Channel) -> ChannelView:
        st = ch.latest
        return ChannelView(ch.channel_id, ch.a, ch.b, ch.key_a, ch.key_b, ch.deposit, "a" if ch.mine_a else "b",
                           ch.status, st.seq, st.balance_a, st.balance_b)

    def open_channels(self, peer: bytes | None = None) -> list[Channel]:
        ids = self.by_peer.get(peer, []) if peer is not None else list(self.channels)
        return [self.channels[c] for c in ids if self.channels[c].status == OPEN]

    def _best_channel(self, peer: bytes, amount: int) -> Channel | None:
        """My open channel to ``peer`` with the most available, if it can carry ``amount``."""
        best = None
        for cid in self.by_peer.get(peer, ()):
            ch = self.channels[cid]
            if ch.status == OPEN and len(ch.htlc_out) < MAX_HTLCS and ch.available >= amount \
                    and (best is None or ch.available > best.available):
                best = ch
        return best

    def local_available(self, peer: bytes) -> int:
        return max((self.channels[c].available for c in self.by_peer.get(peer, ())
                    if self.channels[c].status == OPEN), default=0)

    @property
    def watching(self) -> bool:
        """Whether this node has channels whose fate is still decided on chain."""
        return any(ch.status not in DONE for ch in self.channels.values())

    def _publish(self, kind: int, receiver: bytes, amount: int, data: bytes, purpose: str) -> Tx:
        """Sign an on-chain channel transaction, record it as an honest intent, submit it (resent until seen)."""
        host = self.host
        fee = self.cfg.channel_tx_fee
        tx = host.make_tx(receiver, amount, fee, kind=kind, data=data)
        self.env.record("intent", node=self.env.index, tx=tx.tx_id.hex(), sender=host.account.hex(),
                        receiver=receiver.hex(), amount=amount, fee=fee, nonce=tx.nonce, purpose=purpose)
        host.submit(tx)
        self.txs[tx.tx_id] = [tx, self.env.now(), 1]
        return tx

    # ================================================ opening =====================================================
    def open_channel(self, peer_key: bytes, address: Address, deposit: int) -> bytes:
        """Propose a channel funded with ``deposit`` by this node; returns its id (usable once seen on chain)."""
        if deposit <= 0:
            raise ValueError("a channel needs a positive deposit")
        cid = self.env.rng.randbytes(CHANNEL_ID_LEN)
        now = self.env.now()
        ch = Channel(cid, self.host.account, account_of(peer_key), self.host.public_key, peer_key, deposit, True,
                     address, PROPOSED, now, [_opening(cid, deposit)], last_sent=now)
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
                     peer_address, OPEN, self.env.now(), [_opening(channel_id, deposit)], open_height=height)
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
                     ACCEPTED, self.env.now(), [_opening(cid, msg.deposit_a)])
        self._add(ch)
        self._send(ch, ChannelAccept(cid))

    def on_accept(self, key: bytes, src: Address, msg: ChannelAccept) -> None:
        ch = self.channels.get(msg.channel_id)
        if ch is None or not ch.mine_a or key != ch.key_b or ch.status != PROPOSED:
            return
        self._set_status(ch, ACCEPTED)
        self._publish(TX_CHANNEL_OPEN, ch.b, ch.deposit, ch.channel_id + ch.key_b, "channel_open")

    # ================================================ direct payments and updates =================================
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
            vetoes = self.env.call("arena_channel_sign_update", state=st)
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
        gain = self._mine(ch, st) - self._mine(ch, latest)
        if gain <= 0:
            return "not_a_payment"
        peer_after = ch.deposit - self._mine(ch, st)
        held = sum(h.amount for h in ch.htlc_in.values())
        if payment_hash != ZERO_HASH:
            h = ch.htlc_in.get(payment_hash)
            if h is None or not h.fulfilled or h.amount != gain:
                return "unknown_htlc"
            held -= h.amount
        if peer_after < held:
            return "breaks_htlc_reserve"
        if not self._peer_signed(ch, st):
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
        if not self._peer_signed(ch, st):
            self.host.count_drop("bad_channel_signature", "ChannelUpdateAck")
            return
        full = self._both(ch, mine, st)
        ch.pending = ch.pending_op = None
        self._append(ch, full)
        if ch.status == OPEN:
            self._pump(ch)

    # ================================================ multi-hop payments ==========================================
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

    # ================================================ closing =====================================================
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
            if not self._peer_signed(ch, st):
                return
            full = self._both(ch, mine, st)
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
                or not self._peer_signed(ch, st):
            return
        if self.env.has_hook("arena_channel_sign_update"):
            vetoes = self.env.call("arena_channel_sign_update", state=st)
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
            pick = self.env.first("arena_channel_close", channel=self.view(ch), states=list(ch.states))
            if isinstance(pick, ChannelState) and self._publishable(ch, pick):
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

    def _publishable(self, ch: Channel, st: ChannelState) -> bool:
        if st.channel_id != ch.channel_id or st.balance_a + st.balance_b != ch.deposit:
            return False
        if any(s.seq == st.seq and s.to_bytes() == st.to_bytes() for s in ch.states):
            return True
        return _verify(ch.key_a, st.canonical(), st.sig_a) and _verify(ch.key_b, st.canonical(), st.sig_b)

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

    # ================================================ the chain ===================================================
    def on_header(self, header: BlockHeader, src: Address, key: bytes) -> None:
        """A light node heard of a block: fetch it when it has channels to watch."""
        h = header.block_hash
        if not self.watching or h in self.processed or h in self.wanted or h in self.waiting:
            return
        self._want(h, src, key)

    def _want(self, h: bytes, src: Address, key: bytes | None) -> None:
        self.request_seq = (self.request_seq + 1) & 0xFFFFFFFF
        entry = self.wanted.get(h)
        self.wanted[h] = [self.env.now(), src, key, (entry[3] + 1) if entry else 1]
        self.host.send_to(src, key, BlockRequest(self.request_seq, h))

    def on_block_response(self, key: bytes, src: Address, msg: BlockResponse) -> None:
        block = msg.block
        h = block.block_hash
        if h not in self.wanted:
            self.host.count_drop("unrequested", "BlockResponse")
            return
        if not block.header.valid_signature() or Block.tx_root_of(block.txs) != block.header.tx_root:
            self.host.count_drop("bad_block", "BlockResponse")
            return
        del self.wanted[h]
        parent = block.header.parent
        if parent != GENESIS_HASH and parent not in self.processed:
            if len(self.waiting) >= MAX_WAITING:
                self.waiting.pop(next(iter(self.waiting)))
            self.waiting[h] = block
            if parent not in self.wanted and parent not in self.waiting:
                self._want(parent, src, key)
            return
        todo = [block]
        while todo:
            b = todo.pop()
            self.on_chain_block(b)
            bh = b.block_hash
            children = [w for w in self.waiting.values() if w.header.parent == bh]
            for c in children:
                del self.waiting[c.block_hash]
            todo.extend(children)

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
            self.env.call("arena_channel_close_seen", channel=self.view(ch), close=seen)
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

    # ================================================ timers ======================================================
    def tick(self) -> None:
        """Periodic: resend what went unanswered, expire HTLCs, give up on silent peers, resubmit transactions."""
        now = self.env.now()
        now_ms = int(now * 1000)
        cfg = self.cfg
        resend = cfg.channel_update_timeout
        for ch in list(self.channels.values()):
            status = ch.status
            if status in DONE:
                continue
            if status == PROPOSED:
                if now - ch.since > cfg.channel_open_timeout:
                    self._set_status(ch, FAILED)
                elif now - ch.last_sent >= resend:
                    ch.last_sent = now
                    self._send(ch, ChannelPropose(ch.channel_id, ch.deposit, 0))
                continue
            if ch.pending is not None and now - ch.pending_sent >= resend:
                ch.pending_sent = now
                op = ch.pending_op
                self._send(ch, ChannelUpdate(ch.pending, op.payment_hash if op else ZERO_HASH, op.expiry if op else 0))
            elif ch.pending is None and ch.ops:
                self._pump(ch)  # queued behind a proposal of the peer's that we yielded to
            if ch.close_state is not None:
                if now - ch.close_started > cfg.channel_close_timeout:
                    self.env.record("channel_close_timeout", node=self.env.index, channel=ch.channel_id.hex())
                    self._set_status(ch, OPEN)
                    self.force_close(ch.channel_id)
                    continue
                if now - ch.close_sent >= resend:
                    ch.close_sent = now
                    self._send(ch, CloseRequest(ch.close_state))
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
                elif now_ms >= h.expiry + int(cfg.htlc_margin * 1000):
                    del ch.htlc_in[h.payment_hash]
            if ch.want_close:
                self._close_if_idle(ch)
        for tx_id, entry in list(self.txs.items()):
            if now - entry[1] >= cfg.channel_resubmit:
                if entry[2] >= TX_TRIES:
                    del self.txs[tx_id]  # never made it into a block we saw: stop pestering validators
                    continue
                entry[1] = now
                entry[2] += 1
                self.host.submit(entry[0])
        for bh, want in list(self.wanted.items()):
            if now - want[0] >= BLOCK_RETRY:
                if want[3] >= BLOCK_TRIES:
                    del self.wanted[bh]
                    continue
                vals = self.host.validators()
                if vals:
                    v = self.env.rng.choice(vals)
                    want[1], want[2] = v.address, v.public_key
                self._want(bh, want[1], want[2])
        if self.waiting and not self.wanted:
            # a parent we gave up on: ask again (from any validator), or the blocks after it wait forever
            vals = self.host.validators()
            missing = {b.header.parent for b in self.waiting.values()} - set(self.waiting) - self.processed
            if vals and missing:
                v = self.env.rng.choice(vals)
                self._want(min(missing), v.address, v.public_key)

    # ================================================ reports =====================================================
    def summary(self) -> dict[str, Any]:
        """For the node's final state: its channels (latest signed states) and its payments."""
        chans = []
        for cid in sorted(self.channels):
            ch = self.channels[cid]
            st = ch.latest
            chans.append({"id": cid.hex(), "a": ch.a.hex(), "b": ch.b.hex(), "side": "a" if ch.mine_a else "b",
                          "status": ch.status, "deposit": ch.deposit, "seq": st.seq, "balance_a": st.balance_a,
                          "balance_b": st.balance_b, "close_kind": ch.close_kind})
        return {"channels": chans, "payments": self.stats.as_dict(),
                "channel_status": dict(sorted(Counter(ch.status for ch in self.channels.values()).items()))}


# ==================================================== validators ==================================================
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
            self.env.record("channel_settled", node=self.env.index, channel=cid.hex(), a=rec.a.hex(), b=rec.b.hex(),
                            closer=closer.hex(), seq=seq, balance_a=ba, balance_b=bb, disputed=disputed,
                            paid_a=rec.close_balance_a, paid_b=rec.close_balance_b,
                            dispute_seq=rec.close_seq if disputed else None, height=tree.finalized_height)

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


# ==================================================== wiring ======================================================
def _to_manager(method: str) -> Callable[[Any, bytes, Address, Any], None]:
    def handler(node: Any, key: bytes, src: Address, msg: Any) -> None:
        getattr(node.channels, method)(key, src, msg)

    handler.__name__ = method
    return handler


_HANDLERS: tuple[tuple[type[Frozen], str], ...] = (
    (ChannelPropose, "on_propose"), (ChannelAccept, "on_accept"), (ChannelUpdate, "on_update"),
    (ChannelUpdateAck, "on_update_ack"), (HtlcOffer, "on_offer"), (HtlcFulfill, "on_fulfill"),
    (HtlcFail, "on_fail"), (CloseRequest, "on_close_request"),
)


def message_handlers(node: Any) -> list[tuple[type[Frozen], Callable[[Address, bytes], None]]]:
    """The channel messages with ``checked`` handlers bound to ``node`` (which has ``.channels``)."""
    return [(cls, functools.partial(checked(cls)(_to_manager(name)), node)) for cls, name in _HANDLERS]


__all__ = ["ChannelCloseSeen", "ChannelHost", "ChannelManager", "ChannelStore", "ChannelView", "SettlementWatch",
           "message_handlers"]
