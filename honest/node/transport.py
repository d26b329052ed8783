"""How messages enter and leave the honest node: the guarded packet dispatcher, sends through the hooks, drops.

Every send and receive passes the message hooks (``arena_outgoing_message`` here; ``arena_incoming_message`` in
:func:`honest.wire.checked`), and every dropped message is counted and recorded. Nothing here knows what a message
means.
"""

from __future__ import annotations

from collections.abc import Callable

from ipv8.keyvault.crypto import default_eccrypto

from .. import codec
from ..messages import Address, OutMessage, PeerInfo
from ..schema import MESSAGES, Frozen
from .base import NodeBase


class Transport(NodeBase):
    """Packet plumbing of the honest node."""

    def on_packet(self, packet: tuple[Address, bytes], warn_unknown: bool = True) -> None:
        """Guard py-ipv8's dispatcher: truncated packets and unknown ids are counted, never raised or logged."""
        data = packet[1]
        if data[:22] != self._prefix:
            return
        if len(data) < 23:
            self.count_drop("truncated", "?")
            return
        handler = self.decode_map[data[22]]
        if handler is None:
            self.count_drop("unknown_message", str(data[22]))
            return
        if data[22] in MESSAGES:
            # Our own handlers are called directly: decoding problems are counted by ``checked``, and a bug in
            # the handler's logic must surface (py-ipv8's dispatcher would only log it).
            self._touch_ipv8_peer(packet[0])
            handler(packet[0], data)
            return
        # py-ipv8's own messages (introductions, punctures) keep the node discoverable by stock peers, but their
        # handlers raise on bad input: count that as a drop instead of logging a traceback.
        self._touch_ipv8_peer(packet[0])
        try:
            handler(packet[0], data)
        except Exception:
            self.count_drop("malformed", f"ipv8:{data[22]}")

    def _touch_ipv8_peer(self, address: Address) -> None:
        """Keep py-ipv8's own liveness record of a peer it verified. The honest node keys its peers by public key
        (``PeerTable``, a dict); py-ipv8's address lookup scans its view on a cache miss, so it is asked only when
        that view is not empty (it is empty unless stock py-ipv8 discovery runs beside the honest protocol)."""
        if self.network.verified_peers:
            probable_peer = self.network.get_verified_by_address(address)
            if probable_peer:
                # py-ipv8's own clock stamps it (virtual in the simulator, the machine's live): py-ipv8 compares
                # it with its time(), never with the battle's 0-based env.now()
                probable_peer.update_clock(probable_peer.get_lamport_timestamp())

    def count_drop(self, reason: str, kind: str = "") -> None:
        self.drops[reason] += 1
        self.env.events.message_dropped(reason, kind)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.register_anonymous_task("later", fn, delay=delay)

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None:
        """Send one message (through the outgoing-message hook)."""
        if self.env.has_hook("arena_outgoing_message"):
            msg = OutMessage(type(payload).__name__, payload, address, key)
            self.env.hooks.outgoing_message(message=msg)
            if msg.drop:
                self.count_drop("plugin_out", msg.kind)
                return
            packet = self.pack_signed(msg.payload)
            self.sent[type(msg.payload).__name__] += max(0, msg.copies)
            self._transmit(msg.dst, packet, msg.delay, msg.copies)
            return
        self.sent[type(payload).__name__] += 1
        self.endpoint.send(address, self.pack_signed(payload))

    def broadcast(self, peers: list[PeerInfo], payload: Frozen) -> None:
        """Send one message to many peers, signed once (unless a hook changes it for one of them)."""
        if self.env.has_hook("arena_outgoing_message"):
            for p in peers:
                self.send_to(p.address, p.public_key, payload)
            return
        packet = self.pack_signed(payload)
        self.sent[type(payload).__name__] += len(peers)
        for p in peers:
            self.endpoint.send(p.address, packet)

    def pack_signed(self, payload: Frozen) -> bytes:
        """The bytes py-ipv8's ``ezr_pack(payload.msg_id, payload)`` makes (prefix, id, our key, payload, signature
        over all of it), with the payload packed by :func:`honest.codec.encode`."""
        packet = b"".join((self._prefix, bytes((payload.msg_id,)), len(self.public_key).to_bytes(2, "big"),
                           self.public_key, codec.encode(payload)))
        return packet + default_eccrypto.create_signature(self.key, packet)

    def _transmit(self, address: Address, packet: bytes, delay: float, copies: int) -> None:
        def go() -> None:
            for _ in range(max(0, copies)):
                self.endpoint.send(address, packet)

        if delay > 0:
            self.call_later(delay, go)
        else:
            go()
