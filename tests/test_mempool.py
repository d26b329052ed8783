"""Tests for honest.mempool: admission rules, fee ordering, eviction and pruning."""

from __future__ import annotations

from arena.runtime.keys import node_key
from honest.mempool import Mempool
from honest.schema import TX_TRANSFER, Tx, account_of
from honest.state import LedgerState

KEYS = [node_key(21, i) for i in range(6)]
ACC = [account_of(k.pub().key_to_bin()) for k in KEYS]


def tx(i: int, nonce: int, fee: int, amount: int = 10, to: int = 5) -> Tx:
    return Tx.create(KEYS[i], TX_TRANSFER, ACC[to], amount, nonce, fee)


def state() -> LedgerState:
    return LedgerState.genesis({ACC[i]: 1000 for i in range(5)}, {})


def test_duplicate_and_nonce_conflict() -> None:
    m = Mempool(10, 5)
    first = tx(0, 1, 1)
    assert m.add(first, 0) is None
    assert m.add(first, 1) == "duplicate"
    assert m.add(tx(0, 1, 50, amount=99), 2) == "nonce_conflict"  # a double spend: the first one stays
    assert len(m) == 1 and first.tx_id in m and m.get(first.tx_id) == first


def test_per_sender_cap() -> None:
    m = Mempool(100, 3)
    for n in range(1, 4):
        assert m.add(tx(0, n, 1), n) is None
    assert m.add(tx(0, 4, 100), 4) == "sender_cap"
    assert m.add(tx(1, 1, 1), 5) is None


def test_full_pool_evicts_lowest_fee_latest_arrival() -> None:
    m = Mempool(3, 5)
    early, late, rich = tx(0, 1, 2), tx(1, 1, 2), tx(2, 1, 9)
    assert m.add(early, 0) is None
    assert m.add(rich, 1) is None
    assert m.add(late, 2) is None
    assert m.add(tx(3, 1, 2), 3) == "full"  # not strictly higher than the lowest fee
    assert m.add(tx(3, 1, 1), 3) == "full"
    newcomer = tx(3, 1, 3)
    assert m.add(newcomer, 4) is None
    assert late.tx_id not in m and early.tx_id in m and rich.tx_id in m and newcomer.tx_id in m
    assert len(m) == 3
    assert m.add(tx(4, 1, 3), 5) is None  # evicts early (fee 2), the last of the cheapest
    assert early.tx_id not in m and len(m) == 3


def test_select_orders_by_fee_and_keeps_nonces_consecutive() -> None:
    m = Mempool(100, 10)
    a1, a2 = tx(0, 1, 1), tx(0, 2, 50)  # a's second tx pays a lot but must wait for its first
    b1 = tx(1, 1, 5)
    c1, c2 = tx(2, 1, 5), tx(2, 2, 4)  # same fee as b: earlier arrival first
    for i, t in enumerate([a2, a1, c1, b1, c2]):
        assert m.add(t, i if t is not b1 else 10) is None
    assert m.select(state(), 10) == [c1, b1, c2, a1, a2]
    assert m.select(state(), 2) == [c1, b1]
    assert len(m) == 5  # select does not remove


def test_select_skips_gaps_and_unaffordable() -> None:
    m = Mempool(100, 10)
    gap = tx(0, 2, 9)
    poor1, poor2 = tx(1, 1, 1, amount=990), tx(1, 2, 1, amount=100)
    ok = tx(2, 1, 1)
    for i, t in enumerate([gap, poor1, poor2, ok]):
        m.add(t, i)
    assert m.select(state(), 10) == [poor1, ok]


def test_select_starts_at_state_nonce() -> None:
    s = state()
    used = tx(0, 1, 1)
    s.apply_tx(used)
    m = Mempool(100, 10)
    m.add(used, 0)
    nxt = tx(0, 2, 1)
    m.add(nxt, 1)
    assert m.select(s, 10) == [nxt]


def test_prune_after_block() -> None:
    s = state()
    m = Mempool(100, 10)
    a1, a2, a3 = tx(0, 1, 1), tx(0, 2, 1), tx(0, 3, 1)
    b1 = tx(1, 1, 1, amount=900)
    c1 = tx(2, 1, 1)
    for i, t in enumerate([a1, a2, a3, b1, c1]):
        m.add(t, i)
    # a block includes a1, a2 and a rival b transaction that drains b
    rival = tx(1, 1, 1, amount=999 - 1, to=4)
    for t in (a1, a2):
        assert s.apply_tx(t) is None
    assert s.apply_tx(rival) is None
    assert m.prune(s) == 3  # a1, a2 (stale nonces), b1 (stale nonce after the rival)
    assert a3.tx_id in m and c1.tx_id in m and len(m) == 2
    # c can no longer afford its front transaction
    assert s.apply_tx(tx(2, 1, 0, amount=1000)) is None
    c2 = tx(2, 2, 0)
    assert m.prune(s) == 1 and c1.tx_id not in m
    m.add(c2, 9)
    assert m.prune(s) == 1 and len(m) == 1


def test_remove_included_drops_rivals() -> None:
    m = Mempool(100, 10)
    mine = tx(0, 1, 1)
    m.add(mine, 0)
    m.add(tx(1, 1, 1), 1)
    rival = tx(0, 1, 2, amount=11)
    m.remove_included([rival])
    assert mine.tx_id not in m and len(m) == 1
    m.remove_included([tx(1, 1, 1)])
    assert len(m) == 0


def test_eviction_heap_stays_bounded() -> None:
    m = Mempool(5, 1000)
    for n in range(1, 400):
        m.add(tx(0, n, n), n)
    assert len(m) == 5
    assert sorted(t.fee for t in m) == [395, 396, 397, 398, 399]
    assert len(m._heap) <= 2 * len(m) + 65
