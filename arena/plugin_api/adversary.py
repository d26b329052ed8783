"""The adversary capability: what a red plugin may do beyond what its (honest-code) node does on its own.

It can create extra identities (keys derived from the seed; each counts against the red team's budget), give an
identity its own network presence (an endpoint at this node's host that answers pings and announces, and passes
everything else it receives to the ``arena_identity_message`` hook), sign with those and its own key only, send any
schema message (or captured raw bytes) to any address its host can reach, build and adopt blocks signed by its own
key, and learn what the scenario makes public (validator and merchant addresses). It never hands out another
node's objects or keys.

:class:`Wallet` is the small capability every node's plugins get (``arena_wallet_ready``): sign a transaction from
the node's own account, recorded as the node's intent.

A backend implements :class:`AdversaryHost` (the simulator's is :class:`arena.sim.adversary_host.SimAdversaryHost`;
a live host opens UDP sockets for ``open_endpoint``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ipv8.community import Community
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer

from arena.runtime.keys import derive_key
from honest.codes import Role
from honest.contract import Recorder
from honest.messages import InMessage
from honest.schema import Announce, Block, Frozen, Ping, Pong, SubmitTx, Tx, account_of, decode

if TYPE_CHECKING:
    from honest.node import HonestNode


Address = tuple[str, int]
ROLE_CODE = {r.label: int(r) for r in Role}
MAX_RAW = 65507  # the largest UDP payload: no backend sends more in one packet


def work_of(public_key: bytes) -> int:
    """Proof of work carried by a key: leading zero bits of SHA-256(b"arena-pow" + public key) (S/Kademlia-style)."""
    digest = int.from_bytes(hashlib.sha256(b"arena-pow" + public_key).digest(), "big")
    return 256 - digest.bit_length()


class BudgetExceeded(RuntimeError):
    """The red team asked for more identities than the scenario's budget allows."""


@dataclass(frozen=True)
class Identity:
    """A key the adversary controls (its own node's, or a Sybil's)."""

    name: str
    key: PrivateKey

    @property
    def public_key(self) -> bytes:
        return bytes(self.key.pub().key_to_bin())

    @property
    def account(self) -> bytes:
        return account_of(self.public_key)


@dataclass(frozen=True)
class Contact:
    """Public knowledge about another node: where it listens and its account."""

    name: str
    role: str
    address: Address
    account: bytes
    public_key: bytes
    price: int = 0


class TeamBudget:
    """Shared by all red nodes of a world."""

    def __init__(self, sybils: int, cost: int) -> None:
        self.sybils = sybils
        self.cost = cost
        self.used = 0


class RawEndpoint(Protocol):
    """An extra socket of a red host (a Sybil's network presence)."""

    address: Address

    def send(self, address: Address, data: bytes) -> None: ...

    def close(self) -> None: ...


class AdversaryHost(Protocol):
    """What the backend (simulator or live process) provides to the adversary (and wallet) of one node."""

    seed: int
    index: int
    name: str
    key: PrivateKey

    def emit(self, ev: str, **fields: Any) -> None: ...

    def now(self) -> float: ...

    def contacts(self) -> list[Contact]: ...

    def community(self) -> Any: ...

    def address(self) -> Address: ...

    def active(self) -> bool:
        """False once red plugins are switched off (the settle period): Sybil endpoints fall silent."""
        ...

    def open_endpoint(self, name: str, receive: Callable[[Address, bytes], None]) -> RawEndpoint:
        """A new endpoint at this node's host (same IP, another port); ``receive(source, data)`` per packet."""
        ...

    def identity_message(self, identity: Identity, message: InMessage) -> None:
        """Hand a message for one of our identities to this node's plugins (``arena_identity_message``)."""
        ...


def _node(host: AdversaryHost) -> Community:
    """The host node's own Community, whatever protocol it runs."""
    c = host.community()
    if not isinstance(c, Community):
        raise RuntimeError(f"{host.name} is not running")
    return c


def _honest(host: AdversaryHost) -> HonestNode:
    """The host node's Community for what only the honest protocol has (its block tree, its channels)."""
    from honest.node import HonestNode

    c = _node(host)
    if not isinstance(c, HonestNode):
        raise RuntimeError(f"{host.name} runs {type(c).__name__}: this capability needs the honest protocol")
    return c


def _claim_nonce(c: Community, counters: dict[bytes, int], account: bytes) -> int:
    """The next nonce of the node's own account: the Community's ``next_nonce`` when it keeps one (the honest node
    does; so may a team's), else a counter of the capability's own, from 1."""
    own = getattr(c, "next_nonce", None)
    if type(own) is int:
        setattr(c, "next_nonce", own + 1)  # noqa: B010 - a team's Community, typed only as Community
        return own
    n = counters.get(account, 1)
    counters[account] = n + 1
    return n


def pack_signed(c: Community, key: PrivateKey, payload: Frozen) -> bytes:
    """``payload`` as a signed packet of ``c``'s community (py-ipv8's ``ezr_pack`` layout), signed by ``key``."""
    packet = c.get_prefix() + bytes([payload.msg_id]) + default_serializer.pack_serializable_list(
        [BinMemberAuthenticationPayload(bytes(key.pub().key_to_bin())), payload])
    return packet + default_eccrypto.create_signature(key, packet)


class Wallet:
    """The node's own account, for any plugin: sign transactions, recorded as the node's intents (never a Sybil's)."""

    def __init__(self, host: AdversaryHost) -> None:
        self._host = host
        self._events = Recorder(host.emit, host.index)
        self._nonces: dict[bytes, int] = {}

    @property
    def account(self) -> bytes:
        return account_of(bytes(self._host.key.pub().key_to_bin()))

    def sign(self, kind: int, receiver: bytes, amount: int, fee: int, data: bytes = b"",
             purpose: str = "plugin") -> Tx:
        """A transaction from this node's account with its next nonce (recorded as an ``intent``; not sent)."""
        from honest.node import HonestNode

        c = _node(self._host)
        if isinstance(c, HonestNode):
            nonce = c.next_nonce
            if c.config.consensus == "pos" and (state := c.tree.state(c.head)) is not None:
                nonce = max(nonce, state.nonce(c.account) + 1)  # validators sign rarely: follow the chain
            c.next_nonce = nonce + 1
        else:
            nonce = _claim_nonce(c, self._nonces, self.account)
        tx = Tx.create(self._host.key, kind, receiver, amount, nonce, fee, data)
        self._events.intent(tx, purpose)
        return tx

    def presign(self, kind: int, receiver: bytes, amount: int, fee: int, data: bytes = b"") -> Tx:
        """A transaction for a third party to publish later (a watchtower's dispute): signed with the nonce the node
        would use next, which is not claimed, so the transaction is void once the node signs anything else."""
        c = _node(self._host)
        own = getattr(c, "next_nonce", None)
        nonce = own if type(own) is int else self._nonces.get(self.account, 1)
        return Tx.create(self._host.key, kind, receiver, amount, nonce, fee, data)

    def submit(self, tx: Tx, purpose: str | None = None) -> bool:
        """Hand ``tx`` (ours, or one a client pre-signed) to a validator the node knows; with ``purpose``, record it
        first as an intent of its signer. False if the node knows no validator. A team's Community with a
        ``submit(tx)`` method is asked to do it; otherwise ``SubmitTx`` goes to the first validator of the
        scenario."""
        if purpose is not None:
            self._events.intent(tx, purpose)
        c = _node(self._host)
        submit = getattr(c, "submit", None)
        if callable(submit):
            return bool(submit(tx))
        validators = [k for k in self._host.contacts() if k.role == "validator"]
        if not validators:
            return False
        c.endpoint.send(validators[0].address, pack_signed(c, self._host.key, SubmitTx(tx)))
        return True


class Adversary:
    """The capability of one red node (``arena_adversary_ready``). ``meter`` counts every packet it sends against
    the sending plugin's bounds; a send that would break them is not made."""

    def __init__(self, host: AdversaryHost, budget: TeamBudget, meter: Callable[[int], bool] | None = None) -> None:
        self._host = host
        self._budget = budget
        self._meter = meter
        self.me = Identity(host.name, host.key)
        self.identities: list[Identity] = []
        self._nonces: dict[bytes, int] = {}
        self._endpoints: dict[bytes, tuple[RawEndpoint, int]] = {}  # account -> (endpoint, role code)
        self._announced: dict[tuple[bytes, Address], float] = {}

    # -- identities ----------------------------------------------------------------------------------------------
    def create_identity(self, work: int = 0) -> Identity:
        """A new key (a Sybil). With ``work`` > 0, keys are ground until one carries that many bits of proof of
        work (``work_of``); every key tried counts against the budget. Raises BudgetExceeded past the budget."""
        b = self._budget
        base = f"sybil{self._host.index}.{len(self.identities)}"
        tries = 0
        while True:
            if b.used >= b.sybils:
                raise BudgetExceeded(f"red team budget allows {b.sybils} extra identities (keys tried)")
            b.used += 1
            name = base if tries == 0 else f"{base}#{tries}"
            tries += 1
            ident = Identity(base, derive_key(self._host.seed, name))
            if work_of(ident.public_key) >= work:
                break
        self.identities.append(ident)
        self._host.emit("identity", node=self._host.index, name=base, account=ident.account.hex(), cost=b.cost,
                        tries=tries)
        return ident

    # -- network presence of identities ---------------------------------------------------------------------------
    def open_endpoint(self, identity: Identity, role: str = "light") -> Address:
        """Give ``identity`` its own address at this node's host. It answers Ping and Announce by itself (claiming
        ``role``), so it stays in the peer tables it joins; every other message it receives is passed to the
        ``arena_identity_message`` hook. Returns the address (use ``announce`` to join a peer table)."""
        if identity.account in self._endpoints:
            return self._endpoints[identity.account][0].address
        ep = self._host.open_endpoint(identity.name, lambda src, data: self._receive(identity, src, data))
        self._endpoints[identity.account] = (ep, ROLE_CODE[role])
        return ep.address

    def address_of(self, identity: Identity | None = None) -> Address:
        """Where ``identity`` is reached (its own endpoint, else this node's address)."""
        found = self._endpoints.get(identity.account) if identity is not None else None
        return found[0].address if found else self._host.address()

    def announce(self, address: Address, identity: Identity) -> None:
        """Ask the node at ``address`` to add ``identity`` (which needs an endpoint) to its peer table."""
        ep, role = self._endpoints[identity.account]
        self._announced[(identity.account, (address[0], address[1]))] = self.now()
        self.send(address, Announce(role, ep.address), identity)

    def _receive(self, identity: Identity, src: Address, data: bytes) -> None:
        """A packet for one of our identities: answer liveness checks, pass the rest to the plugins."""
        if not self._host.active():
            return
        try:
            c = self._community()
        except RuntimeError:
            return
        cls = decode(data[22]) if len(data) > 23 and data[:22] == c.get_prefix() else None
        if cls is None:
            return
        try:
            auth, _ = c.serializer.unpack_serializable(BinMemberAuthenticationPayload, data, offset=23)
            valid, rest = c._verify_signature(auth, data)
            (payload,) = c.serializer.unpack_serializable_list([cls], rest, offset=23)
        except Exception:
            return
        if not valid:
            return
        sender = bytes(auth.public_key_bin)
        if isinstance(payload, Ping):
            self.send(src, Pong(payload.nonce), identity)
            return
        if isinstance(payload, Announce):
            sent = self._announced.pop((identity.account, (src[0], src[1])), None)
            if sent is None or self.now() - sent > 15.0:
                self.send(src, Announce(self._endpoints[identity.account][1], self.address_of(identity)), identity)
            return
        self._host.identity_message(identity, InMessage(cls.__name__, payload, src, sender))

    # -- what is public --------------------------------------------------------------------------------------------
    def contacts(self, role: str | None = None) -> list[Contact]:
        """Every other node's address and account (what a scenario's participants know), optionally of one role."""
        return [c for c in self._host.contacts() if role is None or c.role == role]

    def validators(self) -> list[Contact]:
        return self.contacts("validator")

    def contact_at(self, address: Address) -> Contact | None:
        """The node listening at ``address`` (a packet's source or destination), or None: plugins think in node
        names (``contact_at(packet.src).name``), not in addresses. Our own Sybil endpoints are not contacts."""
        host, port = str(address[0]), int(address[1])
        for c in self._host.contacts():
            if (str(c.address[0]), int(c.address[1])) == (host, port):
                return c
        return None

    def name_of(self, address: Address) -> str | None:
        """The name of the node at ``address`` (``validator3``, ``light7``, ...), or None if no node listens there."""
        c = self.contact_at(address)
        return c.name if c is not None else None

    def merchants(self) -> list[Contact]:
        return self.contacts("merchant")

    @property
    def address(self) -> Address:
        return self._host.address()

    # -- acting ----------------------------------------------------------------------------------------------------
    def _community(self) -> Community:
        return _node(self._host)

    def next_nonce(self, identity: Identity | None = None) -> int:
        """Claim the next nonce of our own account (identities other than our node's start at 1 and are tracked)."""
        if identity is None or identity.account == self.me.account:
            return _claim_nonce(self._community(), self._nonces, self.me.account)
        counter = self._nonces.get(identity.account, 1)
        self._nonces[identity.account] = counter + 1
        return counter

    def sign_tx(self, kind: int, receiver: bytes, amount: int, nonce: int, fee: int, data: bytes = b"",
                identity: Identity | None = None) -> Tx:
        """A transaction signed by us or one of our identities (never anybody else)."""
        ident = identity or self.me
        return Tx.create(ident.key, kind, receiver, amount, nonce, fee, data)

    def send(self, address: Address, payload: Frozen, identity: Identity | None = None) -> None:
        """Send any schema message, signed (py-ipv8 packet signature) by us or one of our identities; from the
        identity's own endpoint when it has one."""
        ident = identity or self.me
        self.send_raw(address, pack_signed(self._community(), ident.key, payload), identity)

    def send_raw(self, address: Address, data: bytes, identity: Identity | None = None) -> None:
        """Send bytes as they are (a packet captured earlier, say), from our address or an identity's endpoint."""
        if type(data) is not bytes or len(data) > MAX_RAW:
            raise TypeError(f"send_raw needs bytes of at most {MAX_RAW} bytes, not {type(data).__name__}")
        if not (type(address) is tuple and len(address) == 2 and type(address[0]) is str
                and type(address[1]) is int and 0 < address[1] < 65536):
            raise TypeError(f"an address is a (host: str, port: int) tuple, not {address!r:.60}")
        if self._meter is not None and not self._meter(len(data)):
            return
        found = self._endpoints.get(identity.account) if identity is not None else None
        if found is not None:
            found[0].send(address, data)
        else:
            self._community().endpoint.send(address, data)

    def submit(self, tx: Tx, validator: Contact) -> None:
        self.send(validator.address, SubmitTx(tx))

    # -- blocks (a red validator) ----------------------------------------------------------------------------------
    def build_block(self, parent: bytes, slot: int, txs: list[Tx]) -> Block:
        """A block signed by our own key on ``parent`` (a block our node knows) with those of ``txs`` that apply,
        its state root computed as honest validators will check it. Nothing is sent."""
        return _honest(self._host).tree.build(self.me.key, parent, slot, txs)

    # -- payment channels (our own node's) -------------------------------------------------------------------------
    def channels(self) -> list[Any]:
        """Our node's channels as ``honest.channels.ChannelView`` (id, parties, our side, status, latest balances)."""
        cm = _honest(self._host).channels
        return [cm.view(ch) for ch in cm.channels.values()]

    def pay_channel(self, channel_id: bytes, amount: int) -> bool:
        """Pay the peer of one of our open channels directly (a signed state update)."""
        return _honest(self._host).channels.pay_channel(channel_id, amount)

    def close_channel(self, channel_id: bytes) -> bool:
        """Close one of our channels unilaterally now; ``arena_channel_close`` chooses the state we publish."""
        return _honest(self._host).channels.force_close(channel_id)

    def nonce_at(self, block: bytes) -> int:
        """Our account's nonce (transactions applied) after ``block``, as our node knows it (0 if unknown)."""
        state = _honest(self._host).tree.state(block)
        return state.nonce(self.me.account) if state is not None else 0

    def adopt_block(self, block: Block) -> bool:
        """Give our own node ``block`` as if it had arrived (it validates it and may switch head and vote); relays
        nothing. True if it was added."""
        return _honest(self._host).on_block(block, None, None)

    def now(self) -> float:
        return self._host.now()

    def info(self) -> dict[str, Any]:
        return {"node": self._host.name, "identities": len(self.identities), "budget": self._budget.sybils,
                "keys_used": self._budget.used, "endpoints": len(self._endpoints)}
