"""The frozen wire schema of the honest protocol: every message both teams may send, with fixed ids and fields.

Course day 4: the message format must not change once the red team has it. ``schema.lock`` holds a fingerprint of
everything below (ids, names, fields, formats); ``tests/test_schema_lock.py`` fails when they drift apart. To change
the schema on purpose, bump ``SCHEMA_VERSION`` and run ``arena schema --write-lock``.

Message ids (py-ipv8 reserves 231-255 for itself):
  1-9 peering, 10-19 gossip, 20-39 transactions and queries, 40-59 consensus, 60-79 payment channels,
  80-89 commerce, 90-199 reserved for future versions.

Relayed objects (transactions, blocks, votes, channel states) carry their own signature over canonical bytes,
independent of py-ipv8's per-packet signature, so anyone can verify a relayed object. Amounts are integers.
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

SCHEMA_VERSION = 1

#: py-ipv8 packs a list of payloads with a one-byte count and each nested payload with a two-byte size: a block holds
#: at most 255 transactions in under 64 KiB, a gossip packet at most 255 items.
MAX_LIST_ITEMS = 255
MAX_NESTED_BYTES = 60_000

# -- transaction kinds ---------------------------------------------------------------------------------------------
TX_TRANSFER = 0
TX_BOND = 1  # lock ``amount`` of the sender's balance as validator stake
TX_CHANNEL_OPEN = 2  # lock ``amount`` into a channel with ``receiver``; data = channel id
TX_CHANNEL_CLOSE = 3  # cooperative close; data = ChannelState signed by both
TX_CHANNEL_FORCE_CLOSE = 4  # unilateral close; data = ChannelState signed by both; starts the dispute window
TX_CHANNEL_DISPUTE = 5  # a newer ChannelState during the window; the cheater loses the channel
TX_SLASH = 6  # data = Evidence of double signing; the offender's stake is burned
TX_KINDS = {
    TX_TRANSFER: "transfer",
    TX_BOND: "bond",
    TX_CHANNEL_OPEN: "channel_open",
    TX_CHANNEL_CLOSE: "channel_close",
    TX_CHANNEL_FORCE_CLOSE: "channel_force_close",
    TX_CHANNEL_DISPUTE: "channel_dispute",
    TX_SLASH: "slash",
}

# -- gossip item kinds ---------------------------------------------------------------------------------------------
ITEM_TX = 1
ITEM_BLOCK = 2
ITEM_VOTE = 3


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
    """A signed transaction. ``nonce`` counts the sender's transactions from 1; ``fee`` goes to the proposer."""

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
    """What light nodes follow. ``state_root`` commits to the sorted balances after applying the block."""

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
    """A header and its transactions (``tx_root`` = SHA-256 over the transactions' ids in order)."""

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
    """A validator's finality vote for a block at a height. Two votes for one height = equivocation."""

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
    """Proof of double signing: two conflicting signed votes (or headers) by one key, as raw bytes."""

    format_list = ["B", "varlenH", "varlenH"]
    names = ["what", "first", "second"]
    what: int  # 1 = two votes for one height, 2 = two headers for one slot
    first: bytes
    second: bytes


@vp_compile
class ChannelState(Frozen):
    """An off-chain channel state; valid when signed by both parties. Higher ``seq`` supersedes lower."""

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
    msg_id = 1
    format_list = ["B", "ipv4"]
    names = ["role", "address"]  # role: 0 validator, 1 light, 2 merchant; address: where to reach the sender


@vp_compile
class AskForPeers(Frozen):
    msg_id = 2
    format_list = ["I"]
    names = ["request_id"]


@vp_compile
class PeerEntry(Frozen):
    format_list = ["varlenH", "ipv4", "B"]
    names = ["public_key", "address", "role"]


@vp_compile
class Peers(Frozen):
    msg_id = 3
    format_list = ["I", [PeerEntry]]
    names = ["request_id", "peers"]


@vp_compile
class Ping(Frozen):
    msg_id = 4
    format_list = ["I"]
    names = ["nonce"]


@vp_compile
class Pong(Frozen):
    msg_id = 5
    format_list = ["I"]
    names = ["nonce"]


# -- gossip (workshop part 4) --
@vp_compile
class GossipItem(Frozen):
    """One gossiped object; its id is SHA-256(kind byte + data)."""

    format_list = ["B", "varlenI"]
    names = ["kind", "data"]

    @property
    def item_id(self) -> bytes:
        return sha256(bytes([self.kind]) + self.data)


@vp_compile
class Gossip(Frozen):
    """A batch of gossiped items (validators batch several transactions into one packet)."""

    msg_id = 10
    format_list = [[GossipItem]]
    names = ["items"]


# -- transactions and queries --
@vp_compile
class SubmitTx(Frozen):
    """A light node hands a signed transaction to a validator."""

    msg_id = 20
    format_list = [Tx]
    names = ["tx"]


@vp_compile
class TxAck(Frozen):
    msg_id = 21
    format_list = ["32s", "?", "varlenHutf8"]
    names = ["tx_id", "accepted", "reason"]


@vp_compile
class BalanceQuery(Frozen):
    msg_id = 22
    format_list = ["I", "20s"]
    names = ["query_id", "account"]


@vp_compile
class BalanceReply(Frozen):
    msg_id = 23
    format_list = ["I", "20s", "Q", "Q", "Q"]
    names = ["query_id", "account", "balance", "nonce", "height"]


@vp_compile
class TxStatusQuery(Frozen):
    msg_id = 24
    format_list = ["I", "32s"]
    names = ["query_id", "tx_id"]


@vp_compile
class TxStatusReply(Frozen):
    """status: 0 unknown, 1 pending (mempool), 2 in a block, 3 finalised, 4 rejected."""

    msg_id = 25
    format_list = ["I", "32s", "B", "Q", "Q"]
    names = ["query_id", "tx_id", "status", "height", "confirmations"]


# -- consensus --
@vp_compile
class BlockRequest(Frozen):
    msg_id = 40
    format_list = ["I", "32s"]
    names = ["request_id", "block_hash"]


@vp_compile
class BlockResponse(Frozen):
    msg_id = 41
    format_list = ["I", Block]
    names = ["request_id", "block"]


@vp_compile
class HeaderAnnounce(Frozen):
    """Validators push headers (not blocks) to light nodes."""

    msg_id = 42
    format_list = [BlockHeader]
    names = ["header"]


@vp_compile
class ChainStatus(Frozen):
    """Periodic: my head and finalised height, so a peer that is behind can ask for blocks."""

    msg_id = 43
    format_list = ["32s", "Q", "Q"]
    names = ["head", "height", "finalized_height"]


# -- payment channels --
@vp_compile
class ChannelPropose(Frozen):
    msg_id = 60
    format_list = ["32s", "Q", "Q"]
    names = ["channel_id", "deposit_a", "deposit_b"]


@vp_compile
class ChannelAccept(Frozen):
    msg_id = 61
    format_list = ["32s"]
    names = ["channel_id"]


@vp_compile
class ChannelUpdate(Frozen):
    """A proposed new state, signed by the proposer (sig_a or sig_b filled), to be countersigned."""

    msg_id = 62
    format_list = [ChannelState, "32s", "Q"]
    names = ["state", "payment_hash", "expiry"]


@vp_compile
class ChannelUpdateAck(Frozen):
    msg_id = 63
    format_list = [ChannelState]
    names = ["state"]


@vp_compile
class HtlcOffer(Frozen):
    """Multi-hop: pay ``amount`` to whoever reveals the preimage of ``payment_hash`` before ``expiry``."""

    msg_id = 64
    format_list = ["32s", "32s", "Q", "Q", "varlenH"]
    names = ["channel_id", "payment_hash", "amount", "expiry", "route"]  # route: concatenated 20-byte accounts


@vp_compile
class HtlcFulfill(Frozen):
    msg_id = 65
    format_list = ["32s", "32s", "32s"]
    names = ["channel_id", "payment_hash", "preimage"]


@vp_compile
class HtlcFail(Frozen):
    msg_id = 66
    format_list = ["32s", "32s", "varlenHutf8"]
    names = ["channel_id", "payment_hash", "reason"]


@vp_compile
class CloseRequest(Frozen):
    msg_id = 67
    format_list = [ChannelState]
    names = ["state"]


# -- commerce --
@vp_compile
class Purchase(Frozen):
    """A buyer hands a merchant the signed transaction that pays for an order."""

    msg_id = 80
    format_list = ["Q", Tx]
    names = ["order_id", "tx"]


@vp_compile
class Delivery(Frozen):
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
