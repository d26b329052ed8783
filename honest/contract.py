"""The referee contract: what an implementation records for the referee to judge it, and the one-line helpers.

The referee never asks a node anything. It reads two things from a run directory, and this module defines both:

- **trace events** an implementation emits while it runs (``intent``, ``delivery``, ``finalized``, ...). Each is a
  frozen dataclass below whose fields are exactly the event's fields (after ``t``, ``ev``, which the trace adds),
  and :class:`Recorder` has one method per event, so a node writes ``env.events.intent(tx)`` and never spells an
  event by hand;
- **the final state** each node writes (``states/<name>.json``): :class:`ValidatorState` or :class:`ClientState`,
  with the finalised chain as :class:`BlockRecord` (:func:`block_record` builds one from a schema ``Block``).

``REQUIRED`` names what the verdict rests on; the other events are shown in the report but judged by nothing.
``docs/reference/contract.json`` is the schema generated from these classes and ``contract.md`` explains it
(``arena reference --write``); the lock test fails when they drift apart. To change the contract on purpose, bump
``CONTRACT_VERSION`` and regenerate. The honest protocol records through these helpers only.

This module is plain Python (no arena import) so that any implementation, the honest one included, can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .schema import Block, Tx, Vote

CONTRACT_VERSION = 1

Hex = str  # lower-case hexadecimal
Record = Callable[..., None]


# -- trace events ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Intent:
    """A node signed a transaction it wants on the chain (before sending it). The referee counts a blue intent that
    never finalises as a liveness loss, and a finalised transfer out of a blue account with no intent as forged."""

    EV: ClassVar[str] = "intent"
    node: int  #: index of the node that signed
    tx: Hex  #: transaction id
    sender: Hex  #: account paying
    receiver: Hex  #: account paid
    amount: int
    fee: int
    nonce: int
    purpose: str = "transfer"  #: transfer, purchase, channel_open, ... (free text, at most 64 characters)


@dataclass(frozen=True)
class TxAccepted:
    """A validator admitted a transaction a client submitted to it (into its mempool)."""

    EV: ClassVar[str] = "tx_accepted"
    node: int
    tx: Hex
    sender: Hex


@dataclass(frozen=True)
class TxRejected:
    """A validator refused a transaction. ``reason`` is a short code; a rejection for the sender's own fault
    (``bad_nonce``, ``insufficient_balance``, ...) excuses an intent that never finalised."""

    EV: ClassVar[str] = "tx_rejected"
    node: int
    tx: Hex
    reason: str


@dataclass(frozen=True)
class TxIncluded:
    """A proposer put a transaction into a block it proposed."""

    EV: ClassVar[str] = "tx_included"
    node: int
    tx: Hex
    block: Hex  #: hash of the block
    height: int


@dataclass(frozen=True)
class TxFinalized:
    """A block holding this transaction is final, as its proposer saw it (recorded once per transaction, by the
    proposer; the finalised chain in the states is what the verdict reads)."""

    EV: ClassVar[str] = "tx_finalized"
    node: int
    tx: Hex
    block: Hex
    height: int


@dataclass(frozen=True)
class BlockProposed:
    """A validator proposed a block (``txs``: how many transactions it holds)."""

    EV: ClassVar[str] = "propose"
    node: int
    hash: Hex
    height: int
    slot: int
    txs: int
    parent: Hex


@dataclass(frozen=True)
class BlockFinalized:
    """A validator's finalised height moved to ``height`` (block ``hash``). The report's finality chart and the
    liveness checker's timing read these."""

    EV: ClassVar[str] = "finalized"
    node: int
    height: int
    hash: Hex


@dataclass(frozen=True)
class BlockRejected:
    """A validator refused a block (``reason``: why, e.g. ``bad_signature`` or ``veto:<plugin's reason>``)."""

    EV: ClassVar[str] = "block_rejected"
    node: int
    hash: Hex
    reason: str


@dataclass(frozen=True)
class BlockWithheld:
    """A leader proposed nothing in its slot (a plugin withheld the block)."""

    EV: ClassVar[str] = "withheld"
    node: int
    slot: int


@dataclass(frozen=True)
class Equivocation:
    """A validator saw two votes of one voter for different blocks at one height."""

    EV: ClassVar[str] = "equivocation"
    node: int
    voter: Hex  #: the voter's account
    height: int


@dataclass(frozen=True)
class MessageDropped:
    """A node dropped a message it received or was about to send (``reason``: a short code; ``kind``: the message
    type). Counted in the report; a strict implementation drops what does not parse and says so here."""

    EV: ClassVar[str] = "msg_drop"
    node: int
    reason: str
    kind: str


@dataclass(frozen=True)
class Delivery:
    """A merchant handed over goods worth ``value`` for order ``order`` paid by transaction ``tx``. The referee
    checks every delivery against the finalised chain: goods without a finalised payment are a loss."""

    EV: ClassVar[str] = "delivery"
    node: int
    order: int
    tx: Hex
    buyer: Hex  #: the buyer's account
    value: int  #: worth of the goods
    amount: int  #: what the payment said it paid


@dataclass(frozen=True)
class ChannelOpen:
    """A payment channel between accounts ``a`` and ``b`` is open (its funding finalised)."""

    EV: ClassVar[str] = "channel_opened"
    node: int
    channel: Hex
    a: Hex
    b: Hex
    deposit: int  #: what ``a`` funded the channel with


@dataclass(frozen=True)
class ChannelUpdate:
    """A channel state was signed by both sides (``channel``: the channel id; ``a``, ``b``: the two accounts)."""

    EV: ClassVar[str] = "channel_signed"
    node: int
    channel: Hex
    seq: int
    a: Hex
    b: Hex
    balance_a: int
    balance_b: int


@dataclass(frozen=True)
class ChannelClose:
    """A channel closed at this node (``kind``: cooperative, unilateral or disputed)."""

    EV: ClassVar[str] = "channel_closed"
    node: int
    channel: Hex
    kind: str
    seq: int
    balance_a: int
    balance_b: int


@dataclass(frozen=True)
class ChannelSettled:
    """A validator finalised a channel's close: what each side was paid, and the state the close named. The referee
    compares it with the latest state both sides signed (``ChannelUpdate``)."""

    EV: ClassVar[str] = "channel_settled"
    node: int
    channel: Hex
    a: Hex
    b: Hex
    closer: Hex
    seq: int
    balance_a: int
    balance_b: int
    disputed: bool
    paid_a: int
    paid_b: int
    dispute_seq: int | None
    height: int


#: Every event an implementation may emit, by trace name.
EVENTS: dict[str, type] = {c.EV: c for c in (Intent, TxAccepted, TxRejected, TxIncluded, TxFinalized, BlockProposed,
                                            BlockFinalized, BlockRejected, BlockWithheld, Equivocation,
                                            MessageDropped, Delivery, ChannelOpen, ChannelUpdate, ChannelClose,
                                            ChannelSettled)}
#: What the verdict rests on (the rest is shown in the report).
REQUIRED = ("intent", "delivery", "finalized")
#: Events the arena itself writes (never an implementation): listed so the reference can say so.
ARENA_EVENTS = ("genesis", "crash", "restart", "partition", "heal", "plugin_fault", "evidence", "plugin",
                "identity", "drop", "wire_violation", "node_error")


# -- the final state -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TxRecord:
    """A transaction of the finalised chain, with what the referee needs to recheck its signature."""

    id: Hex
    kind: int  #: an honest.codes.TxKind
    sender: Hex
    receiver: Hex
    amount: int
    fee: int
    nonce: int
    sender_key: Hex
    data: Hex
    signature: Hex


@dataclass(frozen=True)
class VoteRecord:
    voter_key: Hex
    signature: Hex


@dataclass(frozen=True)
class BlockRecord:
    """A finalised block: its header (rechecked against the proposer's signature), transactions and votes."""

    hash: Hex
    height: int
    slot: int
    proposer: Hex  #: the proposer's account
    parent: Hex
    proposer_key: Hex
    tx_root: Hex
    state_root: Hex
    signature: Hex
    txs: list[TxRecord]
    votes: list[VoteRecord] = field(default_factory=list)


@dataclass(frozen=True)
class AccountRecord:
    balance: int
    nonce: int
    stake: int = 0


@dataclass(frozen=True)
class NodeState:
    """What every node writes. The referee believes a state only of a node the genesis put on the blue team."""

    name: str  #: role + index, e.g. validator0
    index: int
    role: str  #: validator, light or merchant
    team: str
    account: Hex
    up: bool  #: running when the battle ended


@dataclass(frozen=True)
class ValidatorState(NodeState):
    """A validator's view at the end: its finalised chain and the ledger after it. The referee rechecks the chain
    (signatures, heights, nonces, the leader schedule) and takes the chain most blue stake agrees on."""

    ledger: dict[Hex, AccountRecord] = field(default_factory=dict)  #: account -> balance, nonce, stake
    supply: int = 0
    minted: int = 0
    burned: int = 0
    genesis_supply: int = 0
    head: Hex = ""
    head_height: int = 0
    finalized: Hex = ""
    finalized_height: int = 0
    chain: list[BlockRecord] = field(default_factory=list)  #: heights 1..finalized_height
    forks_seen: int = 0


@dataclass(frozen=True)
class DeliveryRecord:
    order: int
    tx: Hex
    buyer: Hex
    value: int


@dataclass(frozen=True)
class ClientState(NodeState):
    """A light node's or merchant's view: what it delivered (merchants) and received."""

    delivered: list[DeliveryRecord] = field(default_factory=list)
    received_goods: int = 0


STATES: dict[str, type] = {"validator": ValidatorState, "light": ClientState, "merchant": ClientState}


def tx_record(tx: Tx) -> dict[str, Any]:
    return {"id": tx.tx_id.hex(), "kind": tx.kind, "sender": tx.sender.hex(), "receiver": tx.receiver.hex(),
            "amount": tx.amount, "fee": tx.fee, "nonce": tx.nonce, "sender_key": tx.sender_key.hex(),
            "data": tx.data.hex(), "signature": tx.signature.hex()}


def block_record(block: Block, votes: Iterable[Vote] = ()) -> dict[str, Any]:
    """A finalised schema ``Block`` (and the votes counted for it) as :class:`BlockRecord` plain data."""
    h = block.header
    return {"hash": block.block_hash.hex(), "height": h.height, "slot": h.slot, "proposer": h.proposer.hex(),
            "parent": h.parent.hex(), "proposer_key": h.proposer_key.hex(), "tx_root": h.tx_root.hex(),
            "state_root": h.state_root.hex(), "signature": h.signature.hex(),
            "txs": [tx_record(t) for t in block.txs],
            "votes": sorted(({"voter_key": v.voter_key.hex(), "signature": v.signature.hex()} for v in votes),
                            key=lambda v: v["voter_key"])}


# -- the helpers -----------------------------------------------------------------------------------------------------
class Recorder:
    """One method per event: ``env.events.intent(tx)``. Each writes exactly its dataclass's fields."""

    __slots__ = ("_node", "_record")

    def __init__(self, record: Record, node: int) -> None:
        self._record = record
        self._node = node

    def intent(self, tx: Tx, purpose: str = "transfer") -> None:
        self._record("intent", node=self._node, tx=tx.tx_id.hex(), sender=tx.sender.hex(),
                     receiver=tx.receiver.hex(), amount=tx.amount, fee=tx.fee, nonce=tx.nonce, purpose=purpose)

    def tx_accepted(self, tx: Tx) -> None:
        self._record("tx_accepted", node=self._node, tx=tx.tx_id.hex(), sender=tx.sender.hex())

    def tx_rejected(self, tx_id: bytes, reason: str) -> None:
        self._record("tx_rejected", node=self._node, tx=tx_id.hex(), reason=reason)

    def tx_included(self, tx: Tx, block: Block) -> None:
        self._record("tx_included", node=self._node, tx=tx.tx_id.hex(), block=block.block_hash.hex(),
                     height=block.header.height)

    def tx_finalized(self, tx: Tx, block: Block) -> None:
        self._record("tx_finalized", node=self._node, tx=tx.tx_id.hex(), block=block.block_hash.hex(),
                     height=block.header.height)

    def block_proposed(self, block: Block) -> None:
        h = block.header
        self._record("propose", node=self._node, hash=block.block_hash.hex(), height=h.height, slot=h.slot,
                     txs=len(block.txs), parent=h.parent.hex())

    def block_finalized(self, height: int, block_hash: bytes) -> None:
        self._record("finalized", node=self._node, height=height, hash=block_hash.hex())

    def block_rejected(self, block_hash: bytes, reason: str) -> None:
        self._record("block_rejected", node=self._node, hash=block_hash.hex(), reason=reason)

    def block_withheld(self, slot: int) -> None:
        self._record("withheld", node=self._node, slot=slot)

    def equivocation(self, voter: bytes, height: int) -> None:
        self._record("equivocation", node=self._node, voter=voter.hex(), height=height)

    def message_dropped(self, reason: str, kind: str = "") -> None:
        self._record("msg_drop", node=self._node, reason=reason, kind=kind)

    def delivery(self, order: int, tx_id: bytes, buyer: bytes, value: int, amount: int) -> None:
        self._record("delivery", node=self._node, order=order, tx=tx_id.hex(), buyer=buyer.hex(), value=value,
                     amount=amount)

    def channel_open(self, channel: bytes, a: bytes, b: bytes, deposit: int) -> None:
        self._record("channel_opened", node=self._node, channel=channel.hex(), a=a.hex(), b=b.hex(), deposit=deposit)

    def channel_update(self, channel: str, seq: int, a: str, b: str, balance_a: int, balance_b: int) -> None:
        self._record("channel_signed", node=self._node, channel=channel, seq=seq, a=a, b=b, balance_a=balance_a,
                     balance_b=balance_b)

    def channel_close(self, channel: bytes, kind: str, seq: int, balance_a: int, balance_b: int) -> None:
        self._record("channel_closed", node=self._node, channel=channel.hex(), kind=kind, seq=seq,
                     balance_a=balance_a, balance_b=balance_b)

    def channel_settled(self, channel: bytes, a: bytes, b: bytes, closer: bytes, seq: int, balance_a: int,
                        balance_b: int, disputed: bool, paid_a: int, paid_b: int, dispute_seq: int | None,
                        height: int) -> None:
        self._record("channel_settled", node=self._node, channel=channel.hex(), a=a.hex(), b=b.hex(),
                     closer=closer.hex(), seq=seq, balance_a=balance_a, balance_b=balance_b, disputed=disputed,
                     paid_a=paid_a, paid_b=paid_b, dispute_seq=dispute_seq, height=height)


def ledger_record(accounts: Sequence[tuple[bytes, int, int, int]]) -> dict[Hex, dict[str, int]]:
    """``[(account, balance, nonce, stake), ...]`` as the state's ``ledger`` (accounts with anything non-zero)."""
    return {a.hex(): {"balance": b, "nonce": n, "stake": s} for a, b, n, s in sorted(accounts) if b or n or s}
