"""The live side of the adversary capability: public facts from the battle plan, the node's own Community, and
extra UDP sockets (on the node's own IP) for Sybil identities."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ipv8.keyvault.keys import PrivateKey

from arena.plugin_api.adversary import Contact, Identity
from honest.messages import InMessage
from honest.schema import account_of

if TYPE_CHECKING:
    from arena.live.plan import Address, BattlePlan
    from arena.live.process import LiveNode


class LiveRawEndpoint:
    """A Sybil's socket: bound to the node's IP on a free port; every datagram goes to one callback."""

    def __init__(self, ip: str, receive: Callable[[Address, bytes], None], active: Callable[[], bool]) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((ip, 0))
        self._sock.setblocking(False)
        self.address: Address = (ip, self._sock.getsockname()[1])
        self._receive = receive
        self._active = active
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._read)
        self.sent = 0
        self.received = 0

    def _read(self) -> None:
        for _ in range(64):
            try:
                data, src = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.received += 1
            if self._active():
                self._receive((src[0], src[1]), data)

    def send(self, address: Address, data: bytes) -> None:
        if self._sock.fileno() < 0 or not self._active():
            return
        try:
            self._sock.sendto(data, (address[0], address[1]))
            self.sent += 1
        except OSError:
            pass

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class LiveAdversaryHost:
    """An :class:`~arena.plugin_api.adversary.AdversaryHost` for one node of a live process.

    Contacts are what the scenario and the port plan (or roster) make public: every other node's address, public
    key, account and price. The host never hands out another node's objects (other nodes may be in other processes).
    """

    def __init__(self, plan: BattlePlan, node: LiveNode, key: PrivateKey, clock: Callable[[], float],
                 active: Callable[[], bool]) -> None:
        self._plan = plan
        self._node = node
        self._clock = clock
        self._active = active
        self.seed = plan.seed
        self.index = node.index
        self.name = plan.name(node.index)
        self.key = key
        self.endpoints: list[LiveRawEndpoint] = []

    def emit(self, ev: str, **fields: Any) -> None:
        self._node.emit(ev, **fields)

    def now(self) -> float:
        return self._clock()

    def contacts(self) -> list[Contact]:
        plan = self._plan
        out = []
        for i, (_, spec) in enumerate(plan.scenario.roles()):
            if i == self.index:
                continue
            pk = plan.public_keys[i]
            out.append(Contact(plan.name(i), plan.role(i), plan.addresses[i], account_of(pk), pk,
                               int(getattr(spec, "price", 0))))
        return out

    def community(self) -> Any:
        return self._node.community

    def address(self) -> Address:
        return self._plan.addresses[self.index]

    def active(self) -> bool:
        return self._active()

    def open_endpoint(self, name: str, receive: Callable[[Address, bytes], None]) -> LiveRawEndpoint:
        ep = LiveRawEndpoint(self._node.endpoint.address[0], receive, self._active)
        self.endpoints.append(ep)
        self._node.emit("sybil_endpoint", node=self.index, name=name, address=f"{ep.address[0]}:{ep.address[1]}")
        return ep

    def identity_message(self, identity: Identity, message: InMessage) -> None:
        plugins = self._node.plugins
        if plugins is not None:
            plugins.caller.identity_message(identity, message)

    def close(self) -> None:
        for ep in self.endpoints:
            ep.close()


__all__ = ["LiveAdversaryHost", "LiveRawEndpoint"]
