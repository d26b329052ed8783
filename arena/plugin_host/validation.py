"""What a hook may answer and how it may change its arguments, checked after every plugin call.

A wrong answer or a bad change is a fault of that plugin, never a crash of the node that asked: the answer is
ignored and the argument is put back as it was before the plugin's call. Each check returns a reason (a fault) or
None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from arena.plugin_api.packet import Packet
from arena.plugin_host.budget import BOUNDS
from honest.messages import InMessage, OutMessage
from honest.schema import Block, Frozen, Vote

WITHHOLD = "withhold"
REASON_CHARS = 200

ReturnCheck = Callable[[Any, Mapping[str, Any]], str | None]


def _none(value: Any, args: Mapping[str, Any]) -> str | None:
    return None if value is None else f"returned {_kind(value)}; this hook returns nothing"


def _reason(value: Any, args: Mapping[str, Any]) -> str | None:
    if value is None or (type(value) is str and 0 < len(value) <= REASON_CHARS):
        return None
    return f"returned {_kind(value)}; expected a reason (a str of 1 to {REASON_CHARS} characters) or None"


def _of(cls: type[Any], withhold: bool) -> ReturnCheck:
    def check(value: Any, args: Mapping[str, Any]) -> str | None:
        if value is None or type(value) is cls or (withhold and type(value) is str and value == WITHHOLD):
            return None
        extra = ', "withhold"' if withhold else ""
        return f"returned {_kind(value)}; expected a {cls.__name__}{extra} or None"
    return check


def _bool(value: Any, args: Mapping[str, Any]) -> str | None:
    return None if value is None or type(value) is bool else f"returned {_kind(value)}; expected True, False or None"


def _head_hash(value: Any, args: Mapping[str, Any]) -> str | None:
    if value is None:
        return None
    if type(value) is not bytes:
        return f"returned {_kind(value)}; expected the block hash (bytes) of one of the heads, or None"
    if all(getattr(h, "block_hash", None) != value for h in args["heads"]):
        return "returned a block hash that is not one of the candidate heads"
    return None


def _one_of(*names: str) -> ReturnCheck:
    def check(value: Any, args: Mapping[str, Any]) -> str | None:
        if value is None:
            return None
        for name in names:
            arg = args[name]
            pool = arg if isinstance(arg, list) else [arg]
            if any(value is x for x in pool):
                return None
        return f"returned {_kind(value)}; expected one of the objects in {' or '.join(names)}, or None"
    return check


def _subset(name: str) -> ReturnCheck:
    def check(value: Any, args: Mapping[str, Any]) -> str | None:
        if value is None:
            return None
        if type(value) is not list:
            return f"returned {_kind(value)}; expected a list of entries of {name}, or None"
        pool = {id(x) for x in args[name]}
        if len({id(x) for x in value}) != len(value) or any(id(x) not in pool for x in value):
            return f"returned a list that is not a subset of {name} (entries must be the objects given, once each)"
        return None
    return check


RETURNS: dict[str, ReturnCheck] = {
    "arena_node_start": _none,
    "arena_node_stop": _none,
    "arena_tick": _none,
    "arena_adversary_ready": _none,
    "arena_wallet_ready": _none,
    "arena_genesis": _none,
    "arena_identity_message": _none,
    "arena_outgoing_packet": _none,
    "arena_incoming_packet": _none,
    "arena_outgoing_message": _none,
    "arena_incoming_message": _none,
    "arena_validate_transfer": _reason,
    "arena_validate_block": _reason,
    "arena_propose_block": _of(Block, withhold=True),
    "arena_cast_vote": _of(Vote, withhold=True),
    "arena_fork_choice": _head_hash,
    "arena_payment_confirmed": _bool,
    "arena_admit_peer": _reason,
    "arena_choose_eviction": _one_of("peers", "newcomer"),
    "arena_select_peers": _subset("peers"),
    "arena_channel_sign_update": _reason,
    "arena_channel_close": _one_of("states"),
    "arena_channel_close_seen": _none,
}
"""Every hook's answer check (a test keeps it in step with the hook specs)."""


def _kind(value: Any) -> str:
    return f"a {type(value).__name__}" if value is not None else "None"


# -- argument changes --------------------------------------------------------------------------------------------
def _delay_ok(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and 0 <= v <= BOUNDS.max_delay


def _copies_ok(v: Any) -> bool:
    return type(v) is int and 0 <= v <= BOUNDS.max_copies


def packet_snapshot(p: Packet) -> tuple[Any, ...]:
    return (p.src, p.dst, p.data, p.drop, p.delay, p.copies)


def restore_packet(p: Packet, snap: tuple[Any, ...]) -> None:
    p.src, p.dst, p.data, p.drop, p.delay, p.copies = snap


def check_packet(p: Packet, snap: tuple[Any, ...], mtu: int) -> str | None:
    if p.src != snap[0] or p.dst != snap[1]:
        return "changed packet.src or packet.dst (a transport hook may change data, drop, delay and copies only)"
    if type(p.data) is not bytes:
        return f"set packet.data to {_kind(p.data)}; it must be bytes"
    if len(p.data) > mtu:
        return f"set packet.data to {len(p.data)} bytes, over the MTU of {mtu}"
    if type(p.drop) is not bool:
        return f"set packet.drop to {_kind(p.drop)}; it must be a bool"
    if not _delay_ok(p.delay):
        return f"set packet.delay to {p.delay!r}; it must be a number from 0 to {BOUNDS.max_delay:g} seconds"
    if not _copies_ok(p.copies):
        return f"set packet.copies to {p.copies!r}; it must be a whole number from 0 to {BOUNDS.max_copies}"
    return None


def message_snapshot(m: OutMessage | InMessage) -> tuple[Any, ...]:
    if isinstance(m, OutMessage):
        return (m.kind, m.dst, m.dst_key, m.payload, m.drop, m.delay, m.copies)
    return (m.kind, m.src, m.sender, m.payload, m.drop)


def restore_message(m: OutMessage | InMessage, snap: tuple[Any, ...]) -> None:
    if isinstance(m, OutMessage):
        m.kind, m.dst, m.dst_key, m.payload, m.drop, m.delay, m.copies = snap
    else:
        m.kind, m.src, m.sender, m.payload, m.drop = snap


def check_message(m: OutMessage | InMessage, snap: tuple[Any, ...]) -> str | None:
    fixed = 3
    now = (m.kind, m.dst, m.dst_key) if isinstance(m, OutMessage) else (m.kind, m.src, m.sender)
    if now != snap[:fixed]:
        return "changed the message's kind, address or key (a message hook may change payload and drop only, " \
               "and delay and copies on the way out)"
    old = snap[fixed]
    if type(m.payload) is not type(old) or not isinstance(m.payload, Frozen):
        return f"set message.payload to {_kind(m.payload)}; it must be a {type(old).__name__} (a schema payload " \
               "of the message's own type)"
    if type(m.drop) is not bool:
        return f"set message.drop to {_kind(m.drop)}; it must be a bool"
    if isinstance(m, OutMessage):
        if not _delay_ok(m.delay):
            return f"set message.delay to {m.delay!r}; it must be a number from 0 to {BOUNDS.max_delay:g} seconds"
        if not _copies_ok(m.copies):
            return f"set message.copies to {m.copies!r}; it must be a whole number from 0 to {BOUNDS.max_copies}"
    return None


__all__ = ["RETURNS", "check_message", "check_packet", "message_snapshot", "packet_snapshot", "restore_message",
           "restore_packet"]
