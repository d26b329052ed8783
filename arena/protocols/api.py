"""The protocol API: how a team's own blockchain (its own py-ipv8 Communities) runs in the arena.

A protocol is a class with a ``name`` and three methods the arena calls on every node:

- :meth:`Protocol.create_node` builds the node's Community from a :class:`NodeSetup` (its key, endpoint, the
  validators to contact first, the genesis, the scenario's numbers and ``env``, the one object that gives the time,
  the seeded random stream, the referee contract's event helpers and every plugin hook);
- :meth:`Protocol.pay` (and, for purchases, :meth:`Protocol.buy`) is how the arena's workload asks a node to pay;
- :meth:`Protocol.node_state` is what the node writes for the referee at the end (the contract's
  ``ValidatorState`` / ``ClientState``, :mod:`honest.contract`).

The arena does the rest the same way for every protocol: keys, addresses and the network, genesis, the seeded
workload, crashes and restarts, plugins, the message and packet hooks at the endpoint, the trace and the verdict.
Nothing here depends on the backend: the simulator hands the same :class:`NodeSetup` a live process would.
``docs/protocols.md`` is the guide; ``arena new protocol NAME`` writes a minimal one that passes ``arena conform``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from ipv8.community import Community
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.interfaces.endpoint import Endpoint

from honest.config import NodeConfig
from honest.env import NodeEnv
from honest.schema import account_of

Address = tuple[str, int]


@dataclass(frozen=True)
class Genesis:
    """The battle's genesis, by account (20-byte ``account_of(public key)``): balances, validator stakes, names.
    Read-only views, shared by every node: no node can change what another node was told."""

    balances: Mapping[bytes, int]
    stakes: Mapping[bytes, int]
    names: Mapping[bytes, str]

    @classmethod
    def of(cls, balances: Mapping[bytes, int], stakes: Mapping[bytes, int], names: Mapping[bytes, str]) -> Genesis:
        return cls(MappingProxyType(dict(balances)), MappingProxyType(dict(stakes)), MappingProxyType(dict(names)))

    @property
    def supply(self) -> int:
        return sum(self.balances.values()) + sum(self.stakes.values())


@dataclass
class NodeSetup:
    """Everything one node of a protocol is given (the same in the simulator and in a live process).

    ``durable`` is the node's disk: a dict the protocol may keep anything in, kept across a crash and restart of
    this node (and only this node). ``restarted`` is True when the node is being created again after a crash.
    """

    index: int
    name: str  #: role + index: validator0, light5, merchant12
    role: str  #: validator, light or merchant
    team: str  #: blue or red
    key: PrivateKey  #: the node's own key (py-ipv8 ``Peer(key)`` is the node's identity)
    endpoint: Endpoint  #: open already; the arena's message and packet hooks sit on it
    address: Address  #: where the endpoint listens
    bootstrap: list[Address]  #: validators (or topology neighbours) to introduce itself to first
    genesis: Genesis
    config: NodeConfig  #: the scenario's numbers: slot, finality depth, fan-out, peer limit, the merchant's price
    env: NodeEnv  #: time, random stream, ``env.events`` (referee contract) and ``env.hooks`` (plugin hooks)
    durable: dict[str, Any] = field(default_factory=dict)
    restarted: bool = False

    @property
    def account(self) -> bytes:
        return account_of(bytes(self.key.pub().key_to_bin()))

    def names_hex(self) -> dict[str, str]:
        """Account (hex) to node name, for every node of the genesis."""
        return {a.hex(): n for a, n in self.genesis.names.items()}


class Protocol:
    """Base class of a team's implementation. Override :meth:`create_node` and :meth:`node_state`; the defaults of
    :meth:`pay` and :meth:`buy` call ``community.pay(receiver, amount, fee)`` and
    ``community.buy(merchant_address, merchant_account, price, fee)`` when the Community has them."""

    #: the name scenarios use (``protocol: NAME``); ``package.module:Class`` works without one
    name: ClassVar[str] = ""
    #: one line for ``arena protocols``
    description: ClassVar[str] = ""
    #: who may propose a block at a slot: ``"stake"``: ``honest.pos.leader`` (the stake-weighted draw of the
    #: reference chain), which the referee re-runs over the canonical chain; ``"own"``: a rule of the protocol's
    #: own, which the referee cannot recheck (its ``legitimate_leaders`` check is then ``unknown``)
    leader_schedule: ClassVar[Literal["stake", "own"]] = "own"

    def create_node(self, node: NodeSetup) -> Community:
        """Build and start the node's Community (it may register tasks; the arena unloads it at the end)."""
        raise NotImplementedError(f"{type(self).__name__}.create_node")

    def pay(self, community: Community, receiver: bytes, amount: int, fee: int) -> None:
        """The workload: this node pays ``amount`` to account ``receiver``. Record the intent (``env.events.intent``)
        before sending the transaction."""
        pay = getattr(community, "pay", None)
        if pay is None:
            raise NotImplementedError(f"{type(self).__name__}.pay (or a pay() method on the Community)")
        pay(receiver, amount, fee)

    def buy(self, community: Community, merchant: Address, merchant_account: bytes, price: int, fee: int) -> None:
        """The workload: this node buys goods worth ``price`` from the merchant at ``merchant`` (the ``Purchase``
        message of the wire schema). Protocols without merchants never get this call."""
        buy = getattr(community, "buy", None)
        if buy is None:
            raise NotImplementedError(f"{type(self).__name__}.buy (or a buy() method on the Community)")
        buy(merchant, merchant_account, price, fee)

    def node_state(self, community: Community, node: NodeSetup) -> dict[str, Any]:
        """The node's final state for ``states/<name>.json``: the contract's ``ValidatorState`` (validators) or
        ``ClientState`` fields, as plain JSON data (``honest.contract.block_record`` builds a chain entry)."""
        raise NotImplementedError(f"{type(self).__name__}.node_state")


__all__ = ["Address", "Genesis", "NodeSetup", "Protocol"]
