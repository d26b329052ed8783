"""Tests for honest.ledger: both stores round-trip blocks, the finalised point and the account table."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.runtime.keys import node_key
from honest.chain import GENESIS_HASH, BlockTree
from honest.ledger import LedgerStore, MemoryStore, SqliteStore
from honest.schema import TX_TRANSFER, Block, Tx, account_of
from honest.state import LedgerState

VKEYS = [node_key(41, i) for i in range(3)]
VACC = [account_of(k.pub().key_to_bin()) for k in VKEYS]
UKEY = node_key(42, 0)
UACC = account_of(UKEY.pub().key_to_bin())


def genesis() -> LedgerState:
    return LedgerState.genesis({UACC: 1000}, dict.fromkeys(VACC, 10))


def make_blocks(n: int) -> tuple[BlockTree, list[Block]]:
    t = BlockTree(genesis(), reward=2, max_block_txs=10)
    parent, blocks = GENESIS_HASH, []
    for i in range(n):
        slot = i + 1
        leader = t.leader(parent, slot)
        key = VKEYS[VACC.index(leader)] if leader else VKEYS[0]
        block = t.build(key, parent, slot, [Tx.create(UKEY, TX_TRANSFER, VACC[0], 5, i + 1, 1)])
        assert t.add(block, slot) is None
        blocks.append(block)
        parent = block.block_hash
    return t, blocks


def open_store(kind: str, tmp_path: Path) -> LedgerStore:
    return MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "ledger.db")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_empty_store(kind: str, tmp_path: Path) -> None:
    store = open_store(kind, tmp_path)
    assert store.load_blocks() == [] and store.load_finalized() is None and store.load_state() == {}
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_round_trip(kind: str, tmp_path: Path) -> None:
    tree, blocks = make_blocks(4)
    store = open_store(kind, tmp_path)
    for b in [blocks[1], blocks[0], blocks[1], blocks[2], blocks[3]]:  # a duplicate save is ignored
        store.save_block(b)
    loaded = store.load_blocks()
    assert [b.block_hash for b in loaded] == [blocks[i].block_hash for i in (1, 0, 2, 3)]
    assert [b.to_bytes() for b in loaded] == [blocks[i].to_bytes() for i in (1, 0, 2, 3)]
    store.save_finalized(blocks[1].block_hash, 2)
    store.save_finalized(blocks[2].block_hash, 3)
    assert store.load_finalized() == (blocks[2].block_hash, 3)
    state = tree.state(tree.head())
    assert state is not None
    store.save_state(state.snapshot())
    assert store.load_state() == state.snapshot()
    store.save_state({"ab": {"balance": 1, "nonce": 2, "stake": 3}})
    assert store.load_state() == {"ab": {"balance": 1, "nonce": 2, "stake": 3}}
    store.close()


def test_sqlite_reopen_and_rebuild(tmp_path: Path) -> None:
    tree, blocks = make_blocks(5)
    path = tmp_path / "node.db"
    store = SqliteStore(path)
    for b in blocks:
        store.save_block(b)
    store.save_finalized(blocks[2].block_hash, 3)
    head_state = tree.state(tree.head())
    assert head_state is not None
    store.save_state(head_state.snapshot())
    store.close()

    again = SqliteStore(path)
    loaded = again.load_blocks()
    assert [b.block_hash for b in loaded] == [b.block_hash for b in blocks]
    assert again.load_finalized() == (blocks[2].block_hash, 3)
    assert again.load_state() == head_state.snapshot()
    # blocks saved after a reopen keep the insertion order
    _, extra = make_blocks(6)
    again.save_block(extra[5])
    assert again.load_blocks()[-1].block_hash == extra[5].block_hash
    again.close()

    # a restarted node rebuilds the same tree from the stored blocks
    rebuilt = BlockTree(genesis(), reward=2, max_block_txs=10)
    for b in loaded:
        assert rebuilt.add(b, now_slot=b.header.slot) is None
    assert rebuilt.head() == tree.head()
    st = rebuilt.state(rebuilt.head())
    assert st is not None and st.state_root() == head_state.state_root()
    third = SqliteStore(path)
    assert LedgerState.from_snapshot(third.load_state()).snapshot() == head_state.snapshot()
    third.close()


def test_memory_store_survives_a_simulated_crash() -> None:
    _, blocks = make_blocks(2)
    store = MemoryStore()
    store.save_block(blocks[0])
    store.save_finalized(blocks[0].block_hash, 1)
    store.close()
    assert [b.block_hash for b in store.load_blocks()] == [blocks[0].block_hash]
    assert store.load_finalized() == (blocks[0].block_hash, 1)
    store.save_block(blocks[1])
    assert len(store.load_blocks()) == 2
