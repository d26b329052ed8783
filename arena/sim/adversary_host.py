"""The simulator's side of the adversary capability: public facts of the world, Sybil endpoints on the node's host.

It never hands a plugin another node's objects: contacts are built from public keys and addresses only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arena.plugin_api.adversary import Address, Contact, Identity, RawEndpoint
from arena.sim.endpoint import SimEndpoint
from arena.sim.network import SimNetwork
from honest.messages import InMessage
from honest.schema import account_of

if TYPE_CHECKING:
    from arena.sim.world import NodeRuntime, World


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

    def active(self) -> bool:
        return self._node.up and (self._node.team != "red" or self._world.red_active)

    def open_endpoint(self, name: str, receive: Callable[[Address, bytes], None]) -> RawEndpoint:
        network = self._world.network
        ip, port = self._node.endpoint.address
        while (ip, port) in network.endpoints:
            port += 1
        return SybilEndpoint(network, (ip, port), self._node.index, name, receive)

    def identity_message(self, identity: Identity, message: InMessage) -> None:
        plugins = self._node.plugins
        if plugins is not None:
            self._node.endpoint.context.run(plugins.caller.identity_message, identity, message)


class SybilEndpoint(SimEndpoint):
    """A Sybil's socket in the simulator: every packet goes to one callback (no py-ipv8 listeners)."""

    def __init__(self, network: SimNetwork, address: Address, host: int, name: str,
                 receive: Callable[[Address, bytes], None]) -> None:
        super().__init__(network, address, host, name)
        self._receive = receive
        self._open = True

    def receive(self, source: Address, data: bytes) -> None:
        if self._open:
            self.bytes_down += len(data)
            self._receive(source, data)
