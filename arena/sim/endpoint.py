"""A py-ipv8 ``Endpoint`` whose packets travel through :class:`SimNetwork` instead of a socket."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from ipv8.messaging.interfaces.endpoint import Endpoint

from arena.sim.network import Address, Packet, SimNetwork, new_context

PacketHook = Callable[[Packet], None]


class SimEndpoint(Endpoint):
    """One host's socket in the simulator. Transport hooks (``outgoing``/``incoming``) see every packet."""

    def __init__(self, network: SimNetwork, address: Address, host: int, node: str) -> None:
        super().__init__()
        self.network = network
        self.address: Address = address
        self.host = host
        self.node = node
        self.context: contextvars.Context = new_context(node)
        self._open = False
        self.outgoing: PacketHook | None = None
        self.incoming: PacketHook | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        network.attach(self, host)

    def assert_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"endpoint of {self.node} is not open")

    def is_open(self) -> bool:
        return self._open

    def get_address(self) -> Address:
        return self.address

    async def open(self) -> bool:
        self._open = True
        return True

    def close(self) -> None:
        self._open = False

    def reset_byte_counters(self) -> None:
        self.bytes_up = 0
        self.bytes_down = 0

    def send(self, socket_address: Address, packet: bytes) -> None:
        if not self._open:
            return
        dst = (socket_address[0], socket_address[1])
        if self.outgoing is None:
            self.bytes_up += len(packet)
            self.network.send_raw(self.address, dst, packet)
            return
        pkt = Packet(self.address, dst, packet)
        self.outgoing(pkt)
        if pkt.drop or pkt.copies < 1:
            self.network._drop(pkt, "plugin")
            return
        self.bytes_up += len(pkt.data)
        self.network.transmit(pkt)

    def receive(self, source: Address, data: bytes) -> None:
        """Called by the network at arrival time (in this node's context). The listeners are called as
        :meth:`notify_listeners` calls them (inlined: this runs once per delivered packet)."""
        if self.incoming is not None:
            pkt = Packet(source, self.address, data)
            self.incoming(pkt)
            if pkt.drop:
                self.network._drop(pkt, "plugin")
                return
            data = pkt.data
        self.bytes_down += len(data)
        packet = (source, data)
        prefix = data[:self.prefixlen]
        for listener in self._prefix_map.get(prefix, self._listeners):
            # A listener removed, or the endpoint closed, by an earlier listener does not get the packet
            # (``remove_listener`` replaces ``_prefix_map``: read it again each time).
            if self._open and (prefix in self._prefix_map or listener in self._listeners):
                listener.on_packet(packet)

    def notify_listeners(self, packet: tuple[Address, bytes]) -> None:
        """As :meth:`Endpoint.notify_listeners` (and its ``_deliver_later`` check), without two calls per packet."""
        prefix = packet[1][:self.prefixlen]
        for listener in self._prefix_map.get(prefix, self._listeners):
            # A listener removed, or the endpoint closed, by an earlier listener does not get the packet.
            if self._open and (prefix in self._prefix_map or listener in self._listeners):
                listener.on_packet(packet)
