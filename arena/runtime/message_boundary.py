"""The message hooks for any implementation, at the endpoint: every packet is read as a wire-schema message there.

The honest node calls ``arena_outgoing_message`` / ``arena_incoming_message`` itself. A team's own protocol does
not have to: the arena puts this boundary on its endpoint, so the same hooks act on it with the same semantics.

- **out**: a packet that decodes as a schema message (``honest/schema.py``, py-ipv8's signed-packet layout) goes
  through ``arena_outgoing_message``; a replaced payload is packed and signed again with the node's own key, and
  drop, delay and copies apply to the packet. A packet that does not decode is sent as it is and counted as a wire
  violation (``arena conform`` fails on any).
- **in**: ``arena_incoming_packet`` first, then the packet must decode strictly and carry a valid signature, or it
  is dropped and counted before the Community sees it (it changes no state); then ``arena_incoming_message``.
  py-ipv8's own messages (ids 231-255: introductions, punctures) pass untouched.
- **handlers**: a message that decodes but makes one of the Community's handlers raise (a crafted block, say) is a
  finding, not a crash: :func:`guard_handlers` records it as a ``node_error`` event (the handler's own file:line)
  and counts it in the ``wire`` summary, where py-ipv8 would only have logged a traceback.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from ipv8.community import Community
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from arena.plugin_api.packet import Packet
from honest import codec
from honest.contract import Recorder
from honest.messages import InMessage, OutMessage
from honest.schema import MESSAGES
from honest.wire import split_packet

#: py-ipv8 reserves message ids 231-255 for itself (introduction requests and responses, punctures, ...).
IPV8_RESERVED = 231
PREFIX = 22  # bytes of community prefix before the message id
#: Wire violations recorded one by one in the trace per node (the rest are counted only).
VIOLATIONS_RECORDED = 20


class MessageBoundary:
    """One node's boundary. ``record`` writes trace events as the node (``msg_drop``, ``wire_violation``)."""

    def __init__(self, node: int, key: PrivateKey, hooks: Any, record: Callable[..., None]) -> None:
        self.node = node
        self._key = key
        self._key_bin = bytes(key.pub().key_to_bin())
        self.hooks = hooks
        self._record = record
        self._events = Recorder(record, node)
        self.sent: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.handler_errors = 0

    # -- out -----------------------------------------------------------------------------------------------------
    def outgoing(self, pkt: Packet) -> None:
        data = pkt.data
        decoded = self._decode(data, verify=False)  # our own packet: its signature is ours
        if isinstance(decoded, str):
            self._violation(decoded, data)
        elif decoded is not None:
            payload, _key = decoded
            kind = type(payload).__name__
            if self.hooks.has("arena_outgoing_message"):
                msg = OutMessage(kind, payload, pkt.dst, None)
                self.hooks.outgoing_message(message=msg)
                if msg.drop:
                    pkt.drop = True
                    self._drop("plugin_out", kind)
                    return
                if msg.payload is not payload:
                    pkt.data = self._pack(data[:PREFIX], msg.payload)
                pkt.delay, pkt.copies = max(pkt.delay, msg.delay), msg.copies
            self.sent[kind] += max(0, pkt.copies)
        if self.hooks.has("arena_outgoing_packet"):
            self.hooks.outgoing_packet(pkt)

    def _pack(self, prefix: bytes, payload: Any) -> bytes:
        packet = b"".join((prefix, bytes((payload.msg_id,)), len(self._key_bin).to_bytes(2, "big"), self._key_bin,
                           codec.encode(payload)))
        return packet + default_eccrypto.create_signature(self._key, packet)

    def _violation(self, reason: str, data: bytes) -> None:
        self.violations[reason] += 1
        if sum(self.violations.values()) <= VIOLATIONS_RECORDED:
            self._record("wire_violation", node=self.node, reason=reason,
                         msg_id=data[PREFIX] if len(data) > PREFIX else None, size=len(data))

    # -- in ------------------------------------------------------------------------------------------------------
    def incoming(self, pkt: Packet) -> None:
        if self.hooks.has("arena_incoming_packet"):
            self.hooks.incoming_packet(pkt)
            if pkt.drop:
                return
        decoded = self._decode(pkt.data)
        if decoded is None:
            return
        if isinstance(decoded, str):
            pkt.drop = True
            self._drop(decoded, str(pkt.data[PREFIX]) if len(pkt.data) > PREFIX else "?")
            return
        payload, key = decoded
        if self.hooks.has("arena_incoming_message"):
            msg = InMessage(type(payload).__name__, payload, pkt.src, key)
            self.hooks.incoming_message(message=msg)
            if msg.drop:
                pkt.drop = True
                self._drop("plugin", msg.kind)

    def _drop(self, reason: str, kind: str) -> None:
        self.dropped[reason] += 1
        self._events.message_dropped(reason, kind)

    # -- reading -------------------------------------------------------------------------------------------------
    @staticmethod
    def _decode(data: bytes, verify: bool = True) -> tuple[Any, bytes] | str | None:
        """(payload, sender key) of a schema message; None for py-ipv8's own messages; else why it is not one."""
        if len(data) <= PREFIX:
            return "truncated"
        msg_id = data[PREFIX]
        if msg_id >= IPV8_RESERVED:
            return None
        cls = MESSAGES.get(msg_id)
        if cls is None:
            return "unknown_message"
        try:
            key, start, end, valid = split_packet(data, verify)
        except Exception:
            return "malformed"
        if not valid:
            return "bad_signature"
        try:
            payload = codec.decode(cls, data, start, end)
        except Exception:
            return "malformed"
        return payload, key

    def handler_error(self, exc: BaseException) -> None:
        """One of the Community's handlers raised on a message: recorded (the first few), counted."""
        self.handler_errors += 1
        if self.handler_errors <= VIOLATIONS_RECORDED:
            self._record("node_error", node=self.node, error=f"{type(exc).__name__}: {exc}"[:200], where=where(exc))

    def summary(self) -> dict[str, Any]:
        """What the node's state file carries under ``wire`` (``arena conform`` reads it)."""
        return {"sent": dict(sorted(self.sent.items())), "violations": dict(sorted(self.violations.items())),
                "dropped": dict(sorted(self.dropped.items())), "handler_errors": self.handler_errors}


def where(exc: BaseException) -> str:
    """The innermost ``file:line`` of a failure that is not the arena's own code (``""`` when there is none)."""
    for frame in traceback.extract_tb(exc.__traceback__)[::-1]:
        if "/arena/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno}"
    return ""


def guard_handlers(community: Community, on_error: Callable[[BaseException], None]) -> None:
    """Wrap every message handler of ``community`` (py-ipv8's ``decode_map``) so that an exception is handed to
    ``on_error`` instead of py-ipv8's log. The node goes on, as a real one would after a bad packet."""
    table = community.decode_map
    for msg_id, handler in enumerate(table):
        if handler is not None:
            table[msg_id] = _guarded(handler, on_error)


def _guarded(handler: Callable[..., Any], on_error: Callable[[BaseException], None]) -> Callable[..., Any]:
    def guarded(source: Any, data: bytes) -> Any:
        try:
            return handler(source, data)
        except Exception as exc:
            on_error(exc)
            return None

    return guarded


__all__ = ["MessageBoundary", "guard_handlers", "where"]
