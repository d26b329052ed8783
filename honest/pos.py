"""Proof-of-stake leader election: a stake-weighted draw seeded by the parent block hash and the slot.

Every validator computes the same leader from data in the chain (no randomness of its own, no wall clock), and a
validator's share of slots tracks its share of stake.
"""

from __future__ import annotations

from collections.abc import Mapping

from .schema import sha256


def draw(parent_hash: bytes, slot: int) -> int:
    """The slot's random number: SHA-256 of the parent hash and the 8-byte big-endian slot."""
    return int.from_bytes(sha256(parent_hash + slot.to_bytes(8, "big")), "big")


def leader(stakes: Mapping[bytes, int], parent_hash: bytes, slot: int) -> bytes | None:
    """The account that may propose at ``slot`` on top of ``parent_hash``; None when nobody has stake.

    ``r = draw % total_stake``, then walk the accounts in sorted order: the first whose cumulative stake exceeds
    ``r`` wins. Non-positive stakes are ignored.
    """
    total = sum(s for s in stakes.values() if s > 0)
    if total <= 0:
        return None
    r = draw(parent_hash, slot) % total
    acc = 0
    for acct in sorted(stakes):
        s = stakes[acct]
        if s <= 0:
            continue
        acc += s
        if r < acc:
            return acct
    raise AssertionError("unreachable: r < total")


def slot_at(t: float, slot_length: float) -> int:
    """The slot containing time ``t`` (simulated or loop time, never the wall clock)."""
    return int(t // slot_length)
