"""Signatures on channel states: the signed bytes, signing, countersigning, and checking the peer's signatures.

Every update signs or verifies a state, so this is the hot path of the channel protocol: the canonical bytes are
built without a throwaway ``ChannelState`` and the peers' parsed public keys are cached.
"""

from __future__ import annotations

import struct
from typing import Any

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from ..schema import ChannelState, sign
from .model import Channel


def canonical(channel_id: bytes, seq: int, balance_a: int, balance_b: int) -> bytes:
    """``ChannelState.canonical()`` without building a state to throw away (checked against it at import)."""
    return _CHAN_PREFIX + channel_id + struct.pack(">QQQ", seq, balance_a, balance_b)


_CHAN_PREFIX = ChannelState(bytes(32), 0, 0, 0, b"", b"").canonical()[:-56]
assert canonical(bytes(range(32)), 3, 5, 7) == ChannelState(bytes(range(32)), 3, 5, 7, b"", b"").canonical(), \
    "ChannelState.canonical changed: update canonical"

_KEYS: dict[bytes, Any] = {}  # parsed public keys of channel peers (parsing costs about as much as verifying)


def verify(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """``schema.verify`` with the peer's parsed key kept: every update checks the same few keys again."""
    key = _KEYS.get(public_key)
    if key is None:
        try:
            key = default_eccrypto.key_from_public_bin(public_key)
        except Exception:
            return False
        if len(_KEYS) >= 1 << 14:
            _KEYS.clear()
        _KEYS[public_key] = key
    try:
        return bool(default_eccrypto.is_valid_signature(key, data, signature))
    except Exception:
        return False


def sign_state(key: PrivateKey, ch: Channel, seq: int, balance_a: int, balance_b: int) -> ChannelState:
    """A state of ``ch`` signed with ``key`` (this node's side) only."""
    sig = sign(key, canonical(ch.channel_id, seq, balance_a, balance_b))
    return ChannelState(ch.channel_id, seq, balance_a, balance_b, sig if ch.mine_a else b"",
                        b"" if ch.mine_a else sig)


def countersign(key: PrivateKey, ch: Channel, st: ChannelState) -> ChannelState:
    """The peer's state ``st`` with this node's signature added on its side."""
    msg = st.canonical()
    sig = sign(key, msg)
    if ch.mine_a:
        return ChannelState(st.channel_id, st.seq, st.balance_a, st.balance_b, sig, st.sig_b)
    return ChannelState(st.channel_id, st.seq, st.balance_a, st.balance_b, st.sig_a, sig)


def peer_signed(ch: Channel, st: ChannelState) -> bool:
    """Whether ``st`` carries a valid signature of the peer."""
    return verify(ch.peer_key, st.canonical(), st.sig_b if ch.mine_a else st.sig_a)


def both_signed(ch: Channel, mine: ChannelState, theirs: ChannelState) -> ChannelState:
    """``mine`` (my signature) completed with the peer's signature from ``theirs``."""
    if (theirs.sig_a, theirs.sig_b) == ((mine.sig_a, theirs.sig_b) if ch.mine_a else (theirs.sig_a, mine.sig_b)):
        return theirs  # it already carries my signature: nothing to rebuild
    if ch.mine_a:
        return ChannelState(mine.channel_id, mine.seq, mine.balance_a, mine.balance_b, mine.sig_a, theirs.sig_b)
    return ChannelState(mine.channel_id, mine.seq, mine.balance_a, mine.balance_b, theirs.sig_a, mine.sig_b)


def publishable(ch: Channel, st: ChannelState) -> bool:
    """Whether ``st`` is a state of ``ch`` that the chain accepts: one this node holds, or signed by both parties."""
    if st.channel_id != ch.channel_id or st.balance_a + st.balance_b != ch.deposit:
        return False
    if any(s.seq == st.seq and s.to_bytes() == st.to_bytes() for s in ch.states):
        return True
    return verify(ch.key_a, st.canonical(), st.sig_a) and verify(ch.key_b, st.canonical(), st.sig_b)
