"""Handlers in py-ipv8's ``lazy_wrapper`` style that never let bad input crash a node.

A packet that fails to decode, is truncated, carries trailing bytes or a bad signature is dropped and counted by
reason; only a packet that decoded and authenticated reaches the handler, after the incoming-message hook.
Exceptions raised by the handler's own logic are *not* swallowed: those are bugs, and the simulator reports them.

Decoding is strict: py-ipv8's serializer slices a length-prefixed field (or a nested payload) without checking that
the length stays within the packet, ignores bytes left over inside a nested payload and reads any non-zero byte as
``True``. A payload is accepted only if it is the canonical encoding (every length lies within the packet, every byte
is consumed, bools are 0 or 1), so every message has one encoding. :mod:`honest.codec` checks that while it reads
each field once, header and payload in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from ipv8.keyvault.crypto import default_eccrypto

from . import codec
from .codec import NonCanonical
from .messages import Address, InMessage

if TYPE_CHECKING:
    from .node import HonestNode

Handler = Callable[[Any, bytes, Address, Any], None]


__all__ = ["NonCanonical", "checked", "strict_decode"]


def strict_decode(serializer: Any, payload_cls: type[Any], data: bytes, offset: int = 0) -> Any:
    """Decode ``data[offset:]`` as one ``payload_cls``; raise unless it is the whole of it, canonically encoded.
    (``serializer`` is kept for callers written against py-ipv8's API; the compiled decoder needs none.)"""
    return codec.decode(payload_cls, bytes(data), offset)


def split_packet(data: bytes, verify: bool = True) -> tuple[bytes, int, int, bool]:
    """Read a signed packet's header once: (sender key, payload start, payload end, signature valid; with
    ``verify=False``, for a packet the reader signed itself, the signature is not checked and reads as valid).

    The layout is py-ipv8's ``BinMemberAuthenticationPayload`` after the 23-byte prefix: a two-byte key length,
    the key, the payload, then the signature over everything before it. Raises ``ValueError`` when the key runs
    past the end of the packet or cannot be read."""
    if len(data) < 25:
        raise NonCanonical("no room for a public key")
    key_end = 25 + int.from_bytes(data[23:25], "big")
    if key_end > len(data):
        raise NonCanonical("public key runs past the end of the packet")
    key_bin = bytes(data[25:key_end])
    ec = default_eccrypto
    public_key = ec.key_from_public_bin(key_bin)
    sig_len = ec.get_signature_length(public_key)
    valid = not verify or ec.is_valid_signature(public_key, data[:-sig_len], data[-sig_len:])
    return key_bin, key_end, len(data) - sig_len, bool(valid)


def checked(payload_cls: type[Any]) -> Callable[[Handler], Callable[[Any, Address, bytes], None]]:
    """Decode, authenticate and hook a message, then call ``handler(self, sender_key, source, payload)``."""

    def decorator(handler: Handler) -> Callable[[Any, Address, bytes], None]:
        kind = payload_cls.__name__

        @wraps(handler)
        def wrapper(self: HonestNode, source_address: Address, data: bytes) -> None:
            try:
                key, start, end, valid = split_packet(data)
                if not valid:
                    self.count_drop("bad_signature", kind)
                    return
                payload = codec.decode(payload_cls, data, start, end)
            except Exception:
                self.count_drop("malformed", kind)
                return
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
