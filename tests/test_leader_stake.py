"""Course day 2: a validator's share of leader slots tracks its share of stake (10x more, 10x less)."""

from __future__ import annotations

import hashlib

from honest.pos import leader

SLOTS = 20_000
STAKES = [1000, 100, 100, 100, 10]
ACCOUNTS = [hashlib.sha256(b"validator%d" % i).digest()[:20] for i in range(len(STAKES))]


def test_leader_share_tracks_stake_share() -> None:
    stakes = dict(zip(ACCOUNTS, STAKES, strict=True))
    total = sum(STAKES)
    counts = dict.fromkeys(ACCOUNTS, 0)
    for i in range(SLOTS):
        parent = hashlib.sha256(str(i).encode()).digest()
        winner = leader(stakes, parent, i)
        assert winner is not None
        counts[winner] += 1
    assert sum(counts.values()) == SLOTS
    for acct, stake in stakes.items():
        share = counts[acct] / SLOTS
        assert abs(share - stake / total) < 0.02, (stake, share)
    big = counts[ACCOUNTS[0]] / SLOTS
    assert 0.74 < big < 0.79  # 1000 / 1310 = 0.763
    assert counts[ACCOUNTS[4]] > 0  # the 1/10x validator still leads now and then
