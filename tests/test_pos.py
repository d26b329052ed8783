"""Tests for honest.pos: the stake-weighted leader draw is deterministic and tracks stake."""

from __future__ import annotations

import pytest

from honest.pos import leader, slot_at
from honest.schema import sha256

VALIDATORS = [sha256(b"v%d" % i)[:20] for i in range(10)]


def test_no_stake_no_leader() -> None:
    assert leader({}, bytes(32), 1) is None
    assert leader({VALIDATORS[0]: 0}, bytes(32), 1) is None


def test_deterministic_and_ignores_zero_stake() -> None:
    stakes = {VALIDATORS[0]: 5, VALIDATORS[1]: 0, VALIDATORS[2]: 7}
    picks = [leader(stakes, sha256(b"p"), s) for s in range(200)]
    assert picks == [leader(dict(reversed(stakes.items())), sha256(b"p"), s) for s in range(200)]
    assert VALIDATORS[1] not in picks
    assert {VALIDATORS[0], VALIDATORS[2]} == set(picks)
    assert leader({VALIDATORS[3]: 1}, sha256(b"q"), 42) == VALIDATORS[3]


def test_depends_on_parent_and_slot() -> None:
    stakes = {v: 1 for v in VALIDATORS}
    by_slot = [leader(stakes, sha256(b"a"), s) for s in range(50)]
    by_parent = [leader(stakes, sha256(b"b%d" % i), 0) for i in range(50)]
    assert len(set(by_slot)) > 3 and len(set(by_parent)) > 3
    assert by_slot != [leader(stakes, sha256(b"b"), s) for s in range(50)]


def test_leader_frequency_tracks_stake() -> None:
    stakes = {v: 100 for v in VALIDATORS}
    stakes[VALIDATORS[0]] = 1000  # 10x
    stakes[VALIDATORS[1]] = 10  # 1/10x
    total = sum(stakes.values())
    counts = dict.fromkeys(VALIDATORS, 0)
    n = 10_000
    for slot in range(n):
        who = leader(stakes, sha256(b"parent-%d" % (slot % 7)), slot)
        assert who is not None
        counts[who] += 1
    for v in VALIDATORS:
        assert abs(counts[v] / n - stakes[v] / total) < 0.02, (v.hex(), counts[v])
    assert counts[VALIDATORS[1]] > 0
    assert counts[VALIDATORS[0]] > 8 * counts[VALIDATORS[2]]


@pytest.mark.parametrize(("t", "length", "slot"), [(0.0, 1.0, 0), (0.99, 1.0, 0), (1.0, 1.0, 1), (7.5, 2.5, 3),
                                                    (7.49, 2.5, 2)])
def test_slot_at(t: float, length: float, slot: int) -> None:
    assert slot_at(t, length) == slot
