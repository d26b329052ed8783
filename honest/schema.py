"""The frozen wire schema of the honest protocol: every message both teams may send, with fixed ids and fields.

Course day 4: the message format must not change once the red team has it. ``schema.lock`` holds a fingerprint of
everything below (ids, names, fields, formats); ``tests/test_schema_lock.py`` fails when they drift apart. To change
the schema on purpose, bump ``SCHEMA_VERSION`` and run ``arena schema --write-lock``.

Message ids (py-ipv8 reserves 231-255 for itself):
  1-9 peering, 10-19 gossip, 20-39 transactions and queries, 40-59 consensus, 60-79 payment channels,
  80-89 commerce, 90-199 reserved for future versions.

Relayed objects (transactions, blocks, votes, channel states) carry their own signature over canonical bytes,
independent of py-ipv8's per-packet signature, so anyone can verify a relayed object. Amounts are integers.

Each type's docstring says what it is for and, one line per field, what the field means; the numeric codes inside
messages (statuses, roles, kinds) are the enums of :mod:`honest.codes`. ``docs/reference/wire.md`` is generated from
both (``arena reference --write``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any, ClassVar

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile

from . import codec
from .codes import ItemKind, TxKind

SCHEMA_VERSION = 1

#: py-ipv8 packs a list of payloads with a one-byte count and each nested payload with a two-byte size: a block holds
#: at most 255 transactions in under 64 KiB, a gossip packet at most 255 items.
MAX_LIST_ITEMS = 255
MAX_NESTED_BYTES = 60_000

# -- transaction kinds (plain ints; :class:`honest.codes.TxKind` names and explains them) ---------------------------
TX_TRANSFER = int(TxKind.TRANSFER)
TX_BOND = int(TxKind.BOND)
TX_CHANNEL_OPEN = int(TxKind.CHANNEL_OPEN)
TX_CHANNEL_CLOSE = int(TxKind.CHANNEL_CLOSE)
TX_CHANNEL_FORCE_CLOSE = int(TxKind.CHANNEL_FORCE_CLOSE)
TX_CHANNEL_DISPUTE = int(TxKind.CHANNEL_DISPUTE)
TX_SLASH = int(TxKind.SLASH)
TX_KINDS = {int(k): k.name.lower() for k in TxKind}

# -- gossip item kinds (:class:`honest.codes.ItemKind`) ------------------------------------------------------------
ITEM_TX = int(ItemKind.TX)
ITEM_BLOCK = int(ItemKind.BLOCK)
ITEM_VOTE = int(ItemKind.VOTE)


def account_of(public_key_bin: bytes) -> bytes:
    """An account id: SHA-1 of the public key (py-ipv8's ``mid``), 20 bytes."""
    return hashlib.sha1(public_key_bin).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def public_key_of(key: PrivateKey) -> bytes:
    """The serialised public key of ``key``, computed once per key object (deriving it costs a curve operation)."""
    cached = getattr(key, "_arena_public_bin", None)
    if cached is None:
        cached = bytes(key.pub().key_to_bin())
        try:
            key._arena_public_bin = cached  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return cached


def sign(key: PrivateKey, data: bytes) -> bytes:
    return bytes(default_eccrypto.create_signature(key, data))


def verify(public_key_bin: bytes, data: bytes, signature: bytes) -> bool:
    """Check a signature; any malformed key or signature is simply invalid."""
    try:
        key = default_eccrypto.key_from_public_bin(public_key_bin)
        return bool(default_eccrypto.is_valid_signature(key, data, signature))
    except Exception:
        return False


class Frozen(VariablePayload):
    """A payload whose fields cannot be reassigned once set, and whose lists are tuples: a received message is
    evidence, not a scratchpad, and one decoded object may be seen by several nodes' code."""

    msg_id: ClassVar[int] = 0
    format_list: ClassVar[list[Any]]
    names: ClassVar[list[str]]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__ or (name not in self.names and hasattr(type(self), name)):
            raise AttributeError(f"{type(self).__name__}.{name} is immutable; build a new one")
        object.__setattr__(self, name, tuple(value) if type(value) is list else value)

    def to_bytes(self) -> bytes:
        return codec.encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        """Strict: the whole of ``data``, and its one canonical encoding (py-ipv8 lets a length run past the end
        and ignores slack inside a nested object; the object must re-encode to exactly ``data``)."""
        return codec.decode(cls, bytes(data))


# ======================================= signed objects (relayed, verifiable) =====================================
@vp_compile
class Tx(Frozen):
    """A signed transaction. ``nonce`` counts the sender's transactions from 1; ``fee`` goes to the proposer.

    kind: a ``TxKind`` code: what the transaction does
    sender_key: the sender's public key (its account is the SHA-1 of this key)
    receiver: the 20-byte account paid (the channel peer for an open, the offender for a slash)
    amount: tokens moved or locked (transfer, bond, channel open); must be 0 for the other kinds
    nonce: the sender's transaction count, from 1; each nonce applies once, in order
    fee: tokens for the proposer of the including block (burned in consensus ``none``)
    data: what the kind needs: channel id and peer key, a ChannelState, an Evidence; empty for a transfer
    signature: the sender's signature over ``canonical()`` (every field but this one)
    """

    format_list = ["B", "varlenH", "20s", "Q", "Q", "Q", "varlenH", "varlenH"]
    names = ["kind", "sender_key", "receiver", "amount", "nonce", "fee", "data", "signature"]
    kind: int
    sender_key: bytes
    receiver: bytes
    amount: int
    nonce: int
    fee: int
    data: bytes
    signature: bytes

    def canonical(self) -> bytes:
        return (b"arena-tx\x01" + struct.pack(">BH", self.kind, len(self.sender_key)) + self.sender_key
                + self.receiver + struct.pack(">QQQH", self.amount, self.nonce, self.fee, len(self.data)) + self.data)

    @property
    def tx_id(self) -> bytes:
        return sha256(self.canonical())

    @property
    def sender(self) -> bytes:
        return account_of(self.sender_key)

    def valid_signature(self) -> bool:
        return verify(self.sender_key, self.canonical(), self.signature)

    @classmethod
    def create(cls, key: PrivateKey, kind: int, receiver: bytes, amount: int, nonce: int, fee: int,
               data: bytes = b"") -> Tx:
        unsigned = cls(kind, public_key_of(key), receiver, amount, nonce, fee, data, b"")
        return cls(kind, unsigned.sender_key, receiver, amount, nonce, fee, data, sign(key, unsigned.canonical()))


@vp_compile
class BlockHeader(Frozen):
    """What light nodes follow. ``state_root`` commits to the sorted balances after applying the block.

    height: blocks since genesis (genesis is height 0, hash 32 zero bytes)
    slot: the slot it was proposed in (virtual time // ``consensus.slot``); at least ``height``
    parent: the parent block's hash
    proposer_key: the proposer's public key; it must be the slot's stake-weighted leader on ``parent``
    tx_root: SHA-256 over the ids of the block's transactions, in order
    state_root: the commitment to the ledger state after applying the block
    signature: the proposer's signature over ``canonical()``
    """

    format_list = ["Q", "Q", "32s", "varlenH", "32s", "32s", "varlenH"]
    names = ["height", "slot", "parent", "proposer_key", "tx_root", "state_root", "signature"]
    height: int
    slot: int
    parent: bytes
    proposer_key: bytes
    tx_root: bytes
    state_root: bytes
    signature: bytes

    def canonical(self) -> bytes:
        return (b"arena-block\x01" + struct.pack(">QQ", self.height, self.slot) + self.parent
                + struct.pack(">H", len(self.proposer_key)) + self.proposer_key + self.tx_root + self.state_root)

    @property
    def block_hash(self) -> bytes:
        return sha256(self.canonical())

    @property
    def proposer(self) -> bytes:
        return account_of(self.proposer_key)

    def valid_signature(self) -> bool:
        return verify(self.proposer_key, self.canonical(), self.signature)


@vp_compile
class Block(Frozen):
    """A header and its transactions (``tx_root`` = SHA-256 over the transactions' ids in order).

    header: the signed BlockHeader (the block's hash is the header's)
    txs: the transactions, applied in this order (at most ``consensus.max_block_txs``)
    """

    format_list = [BlockHeader, [Tx]]
    names = ["header", "txs"]
    header: BlockHeader
    txs: tuple[Tx, ...]  # a list given to the constructor is stored as a tuple (see Frozen)

    @property
    def block_hash(self) -> bytes:
        return self.header.block_hash

    @staticmethod
    def tx_root_of(txs: Sequence[Tx]) -> bytes:
        return sha256(b"".join(t.tx_id for t in txs))

    @classmethod
    def create(cls, key: PrivateKey, height: int, slot: int, parent: bytes, txs: Sequence[Tx],
               state_root: bytes) -> Block:
        pk = public_key_of(key)
        unsigned = BlockHeader(height, slot, parent, pk, cls.tx_root_of(txs), state_root, b"")
        header = BlockHeader(height, slot, parent, pk, unsigned.tx_root, state_root, sign(key, unsigned.canonical()))
        return cls(header, list(txs))


@vp_compile
class Vote(Frozen):
    """A validator's finality vote for a block at a height. Two votes for one height = equivocation.

    height: the height of the block voted for
    block_hash: the block voted for
    voter_key: the voter's public key (a validator staked in the finalised state)
    signature: the voter's signature over ``canonical()``
    """

    format_list = ["Q", "32s", "varlenH", "varlenH"]
    names = ["height", "block_hash", "voter_key", "signature"]
    height: int
    block_hash: bytes
    voter_key: bytes
    signature: bytes

    def canonical(self) -> bytes:
        return b"arena-vote\x01" + struct.pack(">Q", self.height) + self.block_hash + self.voter_key

    @property
    def voter(self) -> bytes:
        return account_of(self.voter_key)

    def valid_signature(self) -> bool:
        return verify(self.voter_key, self.canonical(), self.signature)

    @classmethod
    def create(cls, key: PrivateKey, height: int, block_hash: bytes) -> Vote:
        pk = public_key_of(key)
        unsigned = cls(height, block_hash, pk, b"")
        return cls(height, block_hash, pk, sign(key, unsigned.canonical()))


@vp_compile
class Evidence(Frozen):
    """Proof of double signing: two conflicting signed votes (or headers) by one key, as raw bytes.

    what: an ``EvidenceKind`` code: two votes for one height, or two headers for one slot
    first: one encoded Vote or BlockHeader
    second: the other, by the same key for the same height or slot, with a different block hash
    """

    format_list = ["B", "varlenH", "varlenH"]
    names = ["what", "first", "second"]
    what: int  # an EvidenceKind
    first: bytes
    second: bytes


@vp_compile
class ChannelState(Frozen):
    """An off-chain channel state; valid when signed by both parties. Higher ``seq`` supersedes lower.

    channel_id: the channel (chosen by the funder at open)
    seq: the state's number; the opening state is 0, each update adds 1
    balance_a: what the funder (party a) gets when this state settles
    balance_b: what party b gets; balance_a + balance_b is always the deposit
    sig_a: party a's signature over ``canonical()`` (empty while unsigned)
    sig_b: party b's signature over ``canonical()`` (empty while unsigned)
    """

    format_list = ["32s", "Q", "Q", "Q", "varlenH", "varlenH"]
    names = ["channel_id", "seq", "balance_a", "balance_b", "sig_a", "sig_b"]
    channel_id: bytes
    seq: int
    balance_a: int
    balance_b: int
    sig_a: bytes
    sig_b: bytes

    def canonical(self) -> bytes:
        return b"arena-chan\x01" + self.channel_id + struct.pack(">QQQ", self.seq, self.balance_a, self.balance_b)


# ============================================ messages (py-ipv8 payloads) =========================================
# -- peering (workshop part 3) --
@vp_compile
class Announce(Frozen):
    """A node introduces itself; the receiver admits it to its peer table and answers in kind.

    role: a ``Role`` code: what the sender claims to be (nobody checks the claim)
    address: where to reach the sender; must be the address the packet came from
    """

    msg_id = 1
    format_list = ["B", "ipv4"]
    names = ["role", "address"]


@vp_compile
class AskForPeers(Frozen):
    """Ask a node for some of its peers (answered with ``Peers``).

    request_id: echoed in the answer
    """

    msg_id = 2
    format_list = ["I"]
    names = ["request_id"]


@vp_compile
class PeerEntry(Frozen):
    """One peer in a ``Peers`` answer.

    public_key: the peer's public key
    address: where the answering node reaches it
    role: a ``Role`` code: what the peer claimed to be
    """

    format_list = ["varlenH", "ipv4", "B"]
    names = ["public_key", "address", "role"]


@vp_compile
class Peers(Frozen):
    """The answer to ``AskForPeers``: some of the sender's peers.

    request_id: the ``AskForPeers`` request id, echoed
    peers: PeerEntry items (the asker itself left out)
    """

    msg_id = 3
    format_list = ["I", [PeerEntry]]
    names = ["request_id", "peers"]


@vp_compile
class Ping(Frozen):
    """Are you there? (answered with ``Pong``; any message counts as a sign of life).

    nonce: echoed in the Pong
    """

    msg_id = 4
    format_list = ["I"]
    names = ["nonce"]


@vp_compile
class Pong(Frozen):
    """The answer to ``Ping``.

    nonce: the Ping's nonce, echoed
    """

    msg_id = 5
    format_list = ["I"]
    names = ["nonce"]


# -- gossip (workshop part 4) --
@vp_compile
class GossipItem(Frozen):
    """One gossiped object; its id is SHA-256(kind byte + data).

    kind: an ``ItemKind`` code: what ``data`` holds
    data: the encoded Tx, Block or Vote
    """

    format_list = ["B", "varlenI"]
    names = ["kind", "data"]

    @property
    def item_id(self) -> bytes:
        return sha256(bytes([self.kind]) + self.data)


@vp_compile
class Gossip(Frozen):
    """A batch of gossiped items (validators batch several transactions into one packet).

    items: up to 255 GossipItems
    """

    msg_id = 10
    format_list = [[GossipItem]]
    names = ["items"]


# -- transactions and queries --
@vp_compile
class SubmitTx(Frozen):
    """A light node hands a signed transaction to a validator.

    tx: the signed transaction
    """

    msg_id = 20
    format_list = [Tx]
    names = ["tx"]


@vp_compile
class TxAck(Frozen):
    """A validator refuses a submitted transaction (an accepted one gets no answer).

    tx_id: the transaction's id (SHA-256 of its canonical bytes)
    accepted: whether it was accepted (false whenever the honest validator sends one)
    reason: why not: a ledger or mempool rule (``overdraft``, ``stale_nonce``, ...) or ``veto:<plugin reason>``
    """

    msg_id = 21
    format_list = ["32s", "?", "varlenHutf8"]
    names = ["tx_id", "accepted", "reason"]


@vp_compile
class BalanceQuery(Frozen):
    """Ask a validator for an account's balance and nonce (answered with ``BalanceReply``).

    query_id: echoed in the answer
    account: the 20-byte account asked about
    """

    msg_id = 22
    format_list = ["I", "20s"]
    names = ["query_id", "account"]


@vp_compile
class BalanceReply(Frozen):
    """A validator's answer to ``BalanceQuery``, from the state at its head.

    query_id: the query's id, echoed
    account: the account, echoed
    balance: its balance in tokens
    nonce: the last nonce it used (0: none yet)
    height: the height of the head the answer was read from (0 in consensus ``none``)
    """

    msg_id = 23
    format_list = ["I", "20s", "Q", "Q", "Q"]
    names = ["query_id", "account", "balance", "nonce", "height"]


@vp_compile
class TxStatusQuery(Frozen):
    """Ask a validator what it knows about a transaction (answered with ``TxStatusReply``).

    query_id: echoed in the answer
    tx_id: the transaction asked about
    """

    msg_id = 24
    format_list = ["I", "32s"]
    names = ["query_id", "tx_id"]


@vp_compile
class TxStatusReply(Frozen):
    """A validator's answer to ``TxStatusQuery``: what it knows about one transaction.

    query_id: the query's id, echoed
    tx_id: the transaction, echoed
    status: a ``TxStatus`` code: 0 unknown, 1 pending (mempool), 2 in a block, 3 finalised, 4 rejected
    height: the height of the block holding it (0 when not in a block)
    confirmations: blocks from that block to the validator's head, both counted (1 = in the head block)
    """

    msg_id = 25
    format_list = ["I", "32s", "B", "Q", "Q"]
    names = ["query_id", "tx_id", "status", "height", "confirmations"]


# -- consensus --
@vp_compile
class BlockRequest(Frozen):
    """Ask for a block by hash (answered with ``BlockResponse`` when the node has it).

    request_id: echoed in the answer
    block_hash: the block wanted
    """

    msg_id = 40
    format_list = ["I", "32s"]
    names = ["request_id", "block_hash"]


@vp_compile
class BlockResponse(Frozen):
    """The answer to ``BlockRequest``: the whole block.

    request_id: the request's id, echoed
    block: the block asked for
    """

    msg_id = 41
    format_list = ["I", Block]
    names = ["request_id", "block"]


@vp_compile
class HeaderAnnounce(Frozen):
    """Validators push headers (not blocks) to light nodes.

    header: the signed header of the validator's new head block
    """

    msg_id = 42
    format_list = [BlockHeader]
    names = ["header"]


@vp_compile
class ChainStatus(Frozen):
    """Periodic: my head and finalised height, so a peer that is behind can ask for blocks.

    head: the hash of the sender's head block
    height: its height
    finalized_height: the height of the sender's last finalised block
    """

    msg_id = 43
    format_list = ["32s", "Q", "Q"]
    names = ["head", "height", "finalized_height"]


# -- payment channels --
@vp_compile
class ChannelPropose(Frozen):
    """The funder proposes a channel (answered with ``ChannelAccept``).

    channel_id: a fresh 32-byte id chosen by the funder
    deposit_a: what the funder locks (above 0)
    deposit_b: what the other party locks; channels are single-funded, so 0
    """

    msg_id = 60
    format_list = ["32s", "Q", "Q"]
    names = ["channel_id", "deposit_a", "deposit_b"]


@vp_compile
class ChannelAccept(Frozen):
    """The other party accepts a proposed channel; the funder then publishes the open on chain.

    channel_id: the channel accepted
    """

    msg_id = 61
    format_list = ["32s"]
    names = ["channel_id"]


@vp_compile
class ChannelUpdate(Frozen):
    """A proposed new state, signed by the proposer (sig_a or sig_b filled), to be countersigned.

    state: the next state (``seq`` one higher), signed by the proposer
    payment_hash: the HTLC it adds or settles (32 zero bytes: a plain update)
    expiry: the HTLC's expiry in milliseconds of virtual time (0: none)
    """

    msg_id = 62
    format_list = [ChannelState, "32s", "Q"]
    names = ["state", "payment_hash", "expiry"]


@vp_compile
class ChannelUpdateAck(Frozen):
    """The countersignature: the same state, now signed by both.

    state: the proposed state with the acknowledging party's signature added
    """

    msg_id = 63
    format_list = [ChannelState]
    names = ["state"]


@vp_compile
class HtlcOffer(Frozen):
    """Multi-hop: pay ``amount`` to whoever reveals the preimage of ``payment_hash`` before ``expiry``.

    channel_id: the channel the HTLC is offered on
    payment_hash: SHA-256 of the secret the payee reveals
    amount: tokens offered (the next hop gets this minus the relay's fee)
    expiry: milliseconds of virtual time after which the offer lapses
    route: concatenated 20-byte accounts, the receiver of this offer first, the payee last
    """

    msg_id = 64
    format_list = ["32s", "32s", "Q", "Q", "varlenH"]
    names = ["channel_id", "payment_hash", "amount", "expiry", "route"]


@vp_compile
class HtlcFulfill(Frozen):
    """Reveal the preimage: the offerer owes the HTLC's amount.

    channel_id: the channel the HTLC was offered on
    payment_hash: the HTLC
    preimage: the secret whose SHA-256 is ``payment_hash``
    """

    msg_id = 65
    format_list = ["32s", "32s", "32s"]
    names = ["channel_id", "payment_hash", "preimage"]


@vp_compile
class HtlcFail(Frozen):
    """An HTLC will not be fulfilled: the offerer gets its reservation back and may try another route.

    channel_id: the channel the HTLC was offered on
    payment_hash: the HTLC
    reason: ``code:from_account_hex:to_account_hex``, naming the channel edge that failed
    """

    msg_id = 66
    format_list = ["32s", "32s", "varlenHutf8"]
    names = ["channel_id", "payment_hash", "reason"]


@vp_compile
class CloseRequest(Frozen):
    """Ask the peer to countersign a final state, which either side then publishes as a cooperative close.

    state: the final state (``seq`` one higher, same balances), signed by the requester or by both
    """

    msg_id = 67
    format_list = [ChannelState]
    names = ["state"]


# -- commerce --
@vp_compile
class Purchase(Frozen):
    """A buyer hands a merchant the signed transaction that pays for an order.

    order_id: the buyer's number for the order (one payment pays one order)
    tx: the signed transfer to the merchant, at least the merchant's price
    """

    msg_id = 80
    format_list = ["Q", Tx]
    names = ["order_id", "tx"]


@vp_compile
class Delivery(Frozen):
    """The merchant handed over the goods for an order.

    order_id: the buyer's order id, echoed
    value: the value of the goods delivered (the merchant's price)
    """

    msg_id = 81
    format_list = ["Q", "Q"]
    names = ["order_id", "value"]


#: Every message type, by id (the lock fingerprints this and the object types).
MESSAGES: dict[int, type[Frozen]] = {
    cls.msg_id: cls
    for cls in (Announce, AskForPeers, Peers, Ping, Pong, Gossip, SubmitTx, TxAck, BalanceQuery, BalanceReply,
                TxStatusQuery, TxStatusReply, BlockRequest, BlockResponse, HeaderAnnounce, ChainStatus,
                ChannelPropose, ChannelAccept, ChannelUpdate, ChannelUpdateAck, HtlcOffer, HtlcFulfill, HtlcFail,
                CloseRequest, Purchase, Delivery)
}
OBJECTS: tuple[type[Frozen], ...] = (Tx, BlockHeader, Block, Vote, Evidence, ChannelState, PeerEntry, GossipItem)


def _fmt(f: Any) -> str:
    if isinstance(f, list):
        return "[" + ",".join(_fmt(x) for x in f) + "]"
    if isinstance(f, type):
        return f.__name__
    return str(f)


def describe() -> list[tuple[str, int | None, list[tuple[str, str]]]]:
    """(name, msg id or None for objects, [(field, format)]) for every type, in a fixed order."""
    rows: list[tuple[str, int | None, list[tuple[str, str]]]] = []
    for mid in sorted(MESSAGES):
        cls = MESSAGES[mid]
        rows.append((cls.__name__, mid, list(zip(cls.names, map(_fmt, cls.format_list), strict=True))))
    for cls in OBJECTS:
        rows.append((cls.__name__, None, list(zip(cls.names, map(_fmt, cls.format_list), strict=True))))
    return rows


def fingerprint() -> str:
    """SHA-256 over the canonical description of the schema (and its version)."""
    text = f"version={SCHEMA_VERSION}\n" + "\n".join(
        f"{name}|{mid}|" + ",".join(f"{n}:{f}" for n, f in fields) for name, mid, fields in describe()
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _schema_types() -> list[type[Frozen]]:
    out: list[type[Frozen]] = []
    todo = list(Frozen.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


for _cls in _schema_types():  # construction without a ``__setattr__`` call per field
    codec.fast_init(_cls)


def decode(msg_id: int) -> type[Frozen] | None:
    return MESSAGES.get(msg_id)
