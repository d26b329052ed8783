"""The adversary capability: what a red plugin may do beyond what its (honest-code) node does on its own.

It can create extra identities (keys derived from the seed; each counts against the red team's budget), sign with
those and its own key only, send any schema message to any address its host can reach, and learn what the
scenario makes public (validator and merchant addresses). It never hands out another node's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer

from honest.schema import Frozen, SubmitTx, Tx, account_of

from .keys import derive_key

if TYPE_CHECKING:
    from honest.node import HonestNode

    from .world import NodeRuntime, World

Address = tuple[str, int]


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


class AdversaryHost(Protocol):
    """What the backend (simulator or live process) provides to the adversary of one red node."""

    seed: int
    index: int
    name: str
    key: PrivateKey

    def emit(self, ev: str, **fields: Any) -> None: ...

    def now(self) -> float: ...

    def contacts(self) -> list[Contact]: ...

    def community(self) -> Any: ...

    def address(self) -> Address: ...


class SimAdversaryHost:
    """The simulator's side of the capability: reads the world's public facts, never hands out node objects."""

    def __init__(self, world: World, node: NodeRuntime) -> None:
        self._world = world
        self._node = node
        self.seed = world.seed
        self.index = node.index
        self.name = node.name
        self.key = node.key

    def emit(self, ev: str, **fields: Any) -> None:
        self._world.emit(ev, **fields)

    def now(self) -> float:
        return self._world.loop.time()

    def contacts(self) -> list[Contact]:
        out = []
        roles = self._world.scenario.roles()
        for n in self._world.nodes:
            if n is self._node:
                continue
            pk = bytes(n.key.pub().key_to_bin())
            out.append(Contact(n.name, n.role, n.endpoint.address, account_of(pk), pk,
                               getattr(roles[n.index][1], "price", 0)))
        return out

    def community(self) -> Any:
        return self._node.community

    def address(self) -> Address:
        return self._node.endpoint.address


class Adversary:
    def __init__(self, host: AdversaryHost, budget: TeamBudget) -> None:
        self._host = host
        self._budget = budget
        self.me = Identity(host.name, host.key)
        self.identities: list[Identity] = []
        self._nonces: dict[bytes, int] = {}

    # -- identities ----------------------------------------------------------------------------------------------
    def create_identity(self) -> Identity:
        """A new key (a Sybil). Raises BudgetExceeded past the red team's budget."""
        b = self._budget
        if b.used >= b.sybils:
            raise BudgetExceeded(f"red team budget allows {b.sybils} extra identities")
        b.used += 1
        name = f"sybil{self._host.index}.{len(self.identities)}"
        ident = Identity(name, derive_key(self._host.seed, name))
        self.identities.append(ident)
        self._host.emit("identity", node=self._host.index, name=name, account=ident.account.hex(), cost=b.cost)
        return ident

    # -- what is public --------------------------------------------------------------------------------------------
    def contacts(self, role: str | None = None) -> list[Contact]:
        """Every other node's address and account (what a scenario's participants know), optionally of one role."""
        return [c for c in self._host.contacts() if role is None or c.role == role]

    def validators(self) -> list[Contact]:
        return self.contacts("validator")

    def merchants(self) -> list[Contact]:
        return self.contacts("merchant")

    @property
    def address(self) -> Address:
        return self._host.address()

    # -- acting ----------------------------------------------------------------------------------------------------
    def _community(self) -> HonestNode:
        from honest.node import HonestNode

        c = self._host.community()
        if not isinstance(c, HonestNode):
            raise RuntimeError("the adversary's node is not running")
        return c

    def next_nonce(self, identity: Identity | None = None) -> int:
        """Claim the next nonce of our own account (identities other than our node's start at 1 and are tracked)."""
        if identity is None or identity.account == self.me.account:
            c = self._community()
            n = c.next_nonce
            c.next_nonce += 1
            return n
        counter = self._nonces.get(identity.account, 1)
        self._nonces[identity.account] = counter + 1
        return counter

    def sign_tx(self, kind: int, receiver: bytes, amount: int, nonce: int, fee: int, data: bytes = b"",
                identity: Identity | None = None) -> Tx:
        """A transaction signed by us or one of our identities (never anybody else)."""
        ident = identity or self.me
        return Tx.create(ident.key, kind, receiver, amount, nonce, fee, data)

    def send(self, address: Address, payload: Frozen, identity: Identity | None = None) -> None:
        """Send any schema message, signed (py-ipv8 packet signature) by us or one of our identities."""
        c = self._community()
        ident = identity or self.me
        packet = c.get_prefix() + bytes([payload.msg_id]) + default_serializer.pack_serializable_list(
            [BinMemberAuthenticationPayload(ident.public_key), payload])
        packet += default_eccrypto.create_signature(ident.key, packet)
        c.endpoint.send(address, packet)

    def submit(self, tx: Tx, validator: Contact) -> None:
        self.send(validator.address, SubmitTx(tx))

    def now(self) -> float:
        return self._host.now()

    def info(self) -> dict[str, Any]:
        return {"node": self._host.name, "identities": len(self.identities), "budget": self._budget.sybils}
