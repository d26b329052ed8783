"""Handlers in py-ipv8's ``lazy_wrapper`` style that never let bad input crash a node.

A packet that fails to decode, is truncated, carries trailing bytes or a bad signature is dropped and counted by
reason; only a packet that decoded and authenticated reaches the handler, after the incoming-message hook.
Exceptions raised by the handler's own logic are *not* swallowed: those are bugs, and the simulator reports them.

Decoding is strict: py-ipv8's serializer slices a length-prefixed field (or a nested payload) without checking that
the length stays within the packet, ignores bytes left over inside a nested payload and reads any non-zero byte as
``True``. A payload is accepted only if it re-encodes to exactly the bytes it was decoded from, so every message
has one encoding: every length lies within the packet and every byte is consumed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload

from .messages import Address, InMessage

if TYPE_CHECKING:
    from .node import HonestNode

Handler = Callable[[Any, bytes, Address, Any], None]


class NonCanonical(ValueError):
    """The bytes decode, but not from their one canonical encoding (a length past the end, slack, a loose bool)."""


def strict_decode(serializer: Any, payload_cls: type[Any], data: bytes, offset: int = 0) -> Any:
    """Decode ``data[offset:]`` as one ``payload_cls``; raise unless it is the whole of it, canonically encoded."""
    (payload,) = serializer.unpack_serializable_list([payload_cls], data, offset=offset)
    if bytes(serializer.pack_serializable(payload)) != bytes(data[offset:]):
        raise NonCanonical(f"{payload_cls.__name__}: not the canonical encoding")
    return payload


def checked(payload_cls: type[Any]) -> Callable[[Handler], Callable[[Any, Address, bytes], None]]:
    """Decode, authenticate and hook a message, then call ``handler(self, sender_key, source, payload)``."""

    def decorator(handler: Handler) -> Callable[[Any, Address, bytes], None]:
        kind = payload_cls.__name__

        @wraps(handler)
        def wrapper(self: HonestNode, source_address: Address, data: bytes) -> None:
            try:
                auth, auth_end = self.serializer.unpack_serializable(BinMemberAuthenticationPayload, data, offset=23)
                if auth_end > len(data):
                    raise NonCanonical("public key runs past the end of the packet")
                valid, remainder = self._verify_signature(auth, data)
                if not valid:
                    self.count_drop("bad_signature", kind)
                    return
                payload = strict_decode(self.serializer, payload_cls, remainder, offset=23)
            except Exception:
                self.count_drop("malformed", kind)
                return
            key = bytes(auth.public_key_bin)
            if self.env.has_hook("arena_incoming_message"):
                msg = InMessage(kind, payload, source_address, key)
                self.env.hooks.incoming_message(message=msg)
                if msg.drop:
                    self.count_drop("plugin", kind)
                    return
                payload = msg.payload
            self.peers.seen(key)
            handler(self, key, source_address, payload)

        return wrapper

    return decorator
