"""Tests for honest.chain: block validation reasons, fork choice, vote and depth finality, bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from ipv8.keyvault.keys import PrivateKey

from arena.runtime.keys import node_key
from honest.chain import GENESIS_HASH, KEEP_STATES, KEEP_VOTES, BlockTree, TxSignatureCache
from honest.schema import (
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    TX_SLASH,
    TX_TRANSFER,
    Block,
    BlockHeader,
    Tx,
    Vote,
    account_of,
    sha256,
)
from honest.state import LedgerState

VKEYS = [node_key(31, i) for i in range(4)]
VACC = [account_of(k.pub().key_to_bin()) for k in VKEYS]
BY_ACC = dict(zip(VACC, VKEYS, strict=True))
UKEYS = [node_key(32, i) for i in range(3)]
UACC = [account_of(k.pub().key_to_bin()) for k in UKEYS]
G = GENESIS_HASH
REWARD = 5


def tree(finality: str = "votes", max_block_txs: int = 10, depth: int = 3, dispute_window: int = 10) -> BlockTree:
    genesis = LedgerState.genesis({u: 1000 for u in UACC}, dict.fromkeys(VACC, 100))
    return BlockTree(genesis, reward=REWARD, max_block_txs=max_block_txs, finality=finality, depth=depth,
                     dispute_window=dispute_window)


def pay(i: int, nonce: int, amount: int = 10, fee: int = 1, to: bytes | None = None) -> Tx:
    return Tx.create(UKEYS[i], TX_TRANSFER, to or UACC[(i + 1) % 3], amount, nonce, fee)


def leader_key(t: BlockTree, parent: bytes, slot: int) -> PrivateKey:
    who = t.leader(parent, slot)
    assert who is not None
    return BY_ACC[who]


def extend(t: BlockTree, parent: bytes, txs: Sequence[Tx] = (), slot: int | None = None) -> bytes:
    """Build and add a block on ``parent`` (at the next slot unless given); returns its hash."""
    slot = slot if slot is not None else (t.slot_of(parent) or 0) + 1
    block = t.build(leader_key(t, parent, slot), parent, slot, list(txs))
    assert t.add(block, now_slot=slot) is None
    return block.block_hash


def extend_n(t: BlockTree, parent: bytes, n: int, slot: int | None = None) -> list[bytes]:
    out = []
    for _ in range(n):
        parent = extend(t, parent, slot=slot)
        slot = None
        out.append(parent)
    return out


def non_leader_key(t: BlockTree, parent: bytes, slot: int) -> PrivateKey:
    return next(k for a, k in BY_ACC.items() if a != t.leader(parent, slot))


def vote_all(t: BlockTree, h: bytes, voters: Sequence[int]) -> list[str | None]:
    height = t.height_of(h)
    assert height is not None
    return [t.add_vote(Vote.create(VKEYS[i], height, h)) for i in voters]


# -- validation ------------------------------------------------------------------------------------------------------
def test_valid_block_applies_fees_reward_and_updates_head() -> None:
    t = tree()
    t1 = pay(0, 1, amount=100, fee=3)
    h = extend(t, G, [t1])
    block = t.block(h)
    assert block is not None and block.txs == (t1,)
    proposer = block.header.proposer
    st = t.state(h)
    assert st is not None
    assert st.balance(UACC[0]) == 897 and st.balance(UACC[1]) == 1100
    assert st.balance(proposer) == 3 + REWARD and st.minted == REWARD
    assert st.supply() == st.genesis_supply + st.minted - st.burned
    assert t.head() == h and t.height_of(h) == 1
    assert t.add(block, now_slot=5) == "duplicate"
    assert [hd.block_hash for hd in t.heads()] == [h]


def test_build_skips_txs_that_do_not_apply_and_respects_the_limit() -> None:
    t = tree(max_block_txs=2)
    good, replay, later = pay(0, 1), pay(0, 1), pay(1, 1)
    overdraft = pay(2, 1, amount=5000)
    block = t.build(leader_key(t, G, 1), G, 1, [good, replay, overdraft, later, pay(1, 2)])
    assert block.txs == (good, later)
    assert t.add(block, 1) is None


def test_rejections_in_order() -> None:
    t = tree(max_block_txs=2)
    slot = 1
    k = leader_key(t, G, slot)
    good = t.build(k, G, slot, [pay(0, 1)])
    root = good.header.state_root
    assert t.validate(Block.create(k, 1, slot, sha256(b"nowhere"), [], root), 1) == "unknown_parent"
    assert t.validate(Block.create(k, 2, slot, G, [], root), 1) == "bad_height"
    assert t.validate(Block.create(k, 1, 0, G, [], root), 1) == "bad_slot"
    assert t.validate(Block.create(k, 1, 3, G, [], root), 1) == "bad_slot"  # too far in the future
    h = good.header
    forged = BlockHeader(h.height, h.slot, h.parent, h.proposer_key, h.tx_root, h.state_root, bytes(64))
    assert t.validate(Block(forged, good.txs), 1) == "bad_proposer_signature"
    assert t.validate(Block.create(non_leader_key(t, G, slot), 1, slot, G, [], root), 1) == "wrong_leader"
    assert t.validate(Block(good.header, [*good.txs, pay(1, 1)]), 1) == "bad_tx_root"
    assert t.validate(Block.create(k, 1, slot, G, [pay(0, 1), pay(1, 1), pay(2, 1)], root), 1) == "too_many_txs"
    bad = pay(1, 1)
    bad_sig = Tx(bad.kind, bad.sender_key, bad.receiver, bad.amount, bad.nonce, bad.fee, bad.data, bytes(64))
    assert t.validate(Block.create(k, 1, slot, G, [bad_sig], root), 1) == "bad_tx_signature"
    assert t.validate(Block.create(k, 1, slot, G, [pay(2, 1, amount=5000)], root), 1) == "invalid_tx:overdraft"
    assert t.validate(Block.create(k, 1, slot, G, [pay(2, 2)], root), 1) == "invalid_tx:future_nonce"
    assert t.validate(Block.create(k, 1, slot, G, [pay(0, 1)], sha256(b"wrong")), 1) == "bad_state_root"
    assert t.validate(good, 1) is None
    assert not t.has(good.block_hash)  # validate does not insert
    assert t.add(good, 1) is None and t.has(good.block_hash)


def test_custom_tx_verifier_is_used() -> None:
    genesis = LedgerState.genesis({u: 1000 for u in UACC}, dict.fromkeys(VACC, 100))
    t = BlockTree(genesis, reward=1, max_block_txs=5, verify_tx=lambda tx: tx.amount != 13)
    k = leader_key(t, G, 1)
    good = t.build(k, G, 1, [pay(0, 1, amount=13)])
    assert good.txs == ()  # build skips what the verifier refuses
    assert t.validate(Block.create(k, 1, 1, G, [pay(0, 1, amount=13)], bytes(32)), 1) == "bad_tx_signature"


def test_signature_cache_keys_on_the_signature_too() -> None:
    cache = TxSignatureCache(limit=2)
    good = pay(0, 1)
    forged = Tx(good.kind, good.sender_key, good.receiver, good.amount, good.nonce, good.fee, good.data, bytes(64))
    assert forged.tx_id == good.tx_id
    assert cache(good) and cache(good) and not cache(forged)
    assert cache(pay(1, 1)) and cache(pay(2, 1)) and len(cache._ok) == 2
    t = BlockTree(LedgerState.genesis({u: 1000 for u in UACC}, dict.fromkeys(VACC, 100)), reward=1,
                  max_block_txs=5, verify_tx=cache)
    assert t.verify_tx is cache


# -- fork choice -----------------------------------------------------------------------------------------------------
def test_fork_resolves_to_longer_branch() -> None:
    t = tree()
    a1 = extend(t, G, slot=1)
    b1 = extend(t, G, slot=2)
    assert t.head() == a1  # equal height: the earlier arrival
    assert {hd.block_hash for hd in t.heads()} == {a1, b1}
    b2 = extend(t, b1)
    assert t.head() == b2
    assert t.forks_seen() == 1
    assert [b.block_hash for b in t.chain()] == [b1, b2]
    assert list(t.ancestors(b2)) == [b2, b1, G]
    assert t.is_ancestor(b1, b2) and t.is_ancestor(G, b2) and t.is_ancestor(b2, b2)
    assert not t.is_ancestor(a1, b2) and not t.is_ancestor(b2, b1)
    assert sum(t.blocks_by_proposer().values()) == 2


def test_orphaned_tx_is_not_confirmed() -> None:
    t = tree()
    p = pay(0, 1)
    a1 = extend(t, G, [p], slot=1)
    assert t.confirmations(p.tx_id) == (1, 1) and t.tx_status(p.tx_id) == "included"
    a2 = extend(t, a1)
    assert t.confirmations(p.tx_id) == (1, 2)
    b_chain = extend_n(t, G, 3, slot=5)
    assert t.head() == b_chain[-1]
    assert t.confirmations(p.tx_id) is None and t.tx_status(p.tx_id) == "unknown"
    assert t.confirmations(p.tx_id, head=a2) == (1, 2)
    assert t.forks_seen() == 2


def test_preferred_head_override_until_higher_block() -> None:
    t = tree()
    a = extend_n(t, G, 2, slot=1)
    b1 = extend(t, G, slot=9)
    t.set_preferred_head(b1)
    assert t.head() == b1
    t.set_preferred_head(sha256(b"unknown"))
    assert t.head() == b1
    extend(t, a[-1])  # height 3 > 1
    assert t.head() != b1 and t.height_of(t.head()) == 3


# -- vote finality ---------------------------------------------------------------------------------------------------
def test_finality_needs_more_than_two_thirds() -> None:
    t = tree()
    p = pay(0, 1)
    h1 = extend(t, G, [p])
    h2 = extend(t, h1)
    assert vote_all(t, h2, [0, 1]) == [None, None]
    assert t.finalized == G and t.vote_weight(h2) == 200
    assert vote_all(t, h2, [2]) == [None]
    assert t.finalized == h2 and t.finalized_height == 2
    assert t.tx_status(p.tx_id) == "finalized"
    # votes for an ancestor of the finalised block change nothing
    assert vote_all(t, h1, [0, 1, 2, 3]) == [None] * 4
    assert t.finalized == h2


def test_exactly_two_thirds_is_not_enough() -> None:
    genesis = LedgerState.genesis({}, dict.fromkeys(VACC[:3], 100))
    t = BlockTree(genesis, reward=1, max_block_txs=5)
    h = extend(t, G)
    vote_all(t, h, [0, 1])
    assert t.finalized == G
    vote_all(t, h, [2])
    assert t.finalized == h


def test_vote_rejections() -> None:
    t = tree()
    h = extend(t, G)
    v = Vote.create(VKEYS[0], 1, h)
    assert t.add_vote(v) is None
    assert t.add_vote(v) == "duplicate_vote"
    forged = Vote(1, h, VKEYS[1].pub().key_to_bin(), bytes(64))
    assert t.add_vote(forged) == "bad_vote_signature"
    assert t.add_vote(Vote.create(UKEYS[0], 1, h)) == "not_a_validator"
    assert t.add_vote(Vote.create(VKEYS[1], 2, sha256(b"later"))) == "unknown_block"
    assert t.add_vote(Vote.create(VKEYS[1], 7, h)) == "bad_vote_height"
    assert t.evidence == []


def test_equivocation_produces_slashable_evidence() -> None:
    t = tree()
    a1 = extend(t, G, slot=1)
    b1 = extend(t, G, slot=2)
    assert t.add_vote(Vote.create(VKEYS[3], 1, a1)) is None
    assert t.add_vote(Vote.create(VKEYS[3], 1, b1)) == "equivocation"
    assert t.add_vote(Vote.create(VKEYS[3], 1, sha256(b"third"))) == "equivocation"  # even for an unknown block
    assert len(t.evidence) == 1
    ev = t.evidence[0]
    assert Vote.from_bytes(ev.first).block_hash == a1 and Vote.from_bytes(ev.second).block_hash == b1
    # the evidence slashes the equivocator on chain
    slash = Tx.create(UKEYS[0], TX_SLASH, VACC[3], 0, 1, 1, ev.to_bytes())
    h = extend(t, a1, [slash])
    st = t.state(h)
    assert st is not None and st.stake(VACC[3]) == 0 and st.burned == 100


def test_finalized_block_never_reverted() -> None:
    t = tree()
    b_chain = extend_n(t, G, 3, slot=10)  # the longer branch arrives first
    a1 = extend(t, G, slot=1)
    assert t.head() == b_chain[-1]
    vote_all(t, a1, [0, 1, 2])
    assert t.finalized == a1
    assert t.head() == a1  # fork choice is restricted to descendants of the finalised block
    slot = (t.slot_of(b_chain[-1]) or 0) + 1
    longer = t.build(leader_key(t, b_chain[-1], slot), b_chain[-1], slot, [])
    assert t.add(longer, slot) == "conflicts_finalized"
    # votes for the conflicting branch never finalise it
    vote_all(t, b_chain[-1], [0, 1, 2, 3])
    assert t.finalized == a1
    a2 = extend(t, a1)
    assert t.head() == a2 and t.finalized == a1


def test_finality_drops_post_states_far_below_it() -> None:
    """Every validator used to keep a ledger state per block for ever (gigabytes at 1,000 nodes): finality now
    drops those more than KEEP_STATES below it; blocks stay, and so do their stakes (``leader`` still answers)."""
    t = tree()
    chain = extend_n(t, G, KEEP_STATES + 6)
    side = extend(t, chain[0], slot=500)
    late = t.build(leader_key(t, chain[1], 600), chain[1], 600, [])  # built before pruning, added after
    fin = chain[-2]
    vote_all(t, fin, [0, 1, 2])
    assert t.finalized == fin  # finalising pruned on its own
    fh = t.finalized_height
    assert t.state(G) is None and t.state(chain[1]) is None and t.state(side) is None
    assert all(t.state(h) is not None for h in chain if (t.height_of(h) or 0) >= fh - KEEP_STATES)
    assert t.leader(chain[1], 601) is not None  # stakes outlive the states
    # a block on a pruned parent cannot be validated: it conflicts with finality anyway
    assert t.add(late, 600) == "conflicts_finalized"
    with pytest.raises(ValueError):
        t.build(leader_key(t, chain[2], 601), chain[1], 601, [])
    assert t.block(chain[1]) is not None and len(t.chain()) == len(chain)


# -- depth finality --------------------------------------------------------------------------------------------------
def test_depth_finality() -> None:
    t = tree(finality="depth", depth=2)
    chain = extend_n(t, G, 2)
    assert t.finalized == G
    chain += extend_n(t, chain[-1], 3)
    assert t.finalized == chain[2] and t.finalized_height == 3
    side = t.build(leader_key(t, chain[0], 40), chain[0], 40, [])
    assert t.add(side, 40) == "conflicts_finalized"
    vote_all(t, chain[-1], [0, 1, 2, 3])  # votes are ignored in depth mode
    assert t.finalized == chain[2]


def test_invalid_finality_mode() -> None:
    with pytest.raises(ValueError):
        tree(finality="magic")


# -- channels through blocks -----------------------------------------------------------------------------------------
def test_channel_settles_when_the_window_expires() -> None:
    t = tree(dispute_window=3)
    cid = sha256(b"chan")
    open_tx = Tx.create(UKEYS[0], TX_CHANNEL_OPEN, UACC[1], 200, 1, 0, cid + UKEYS[1].pub().key_to_bin())
    h = extend(t, G, [open_tx])
    h = extend(t, h, [Tx.create(UKEYS[0], TX_CHANNEL_FORCE_CLOSE, UACC[1], 0, 2, 0, cid)])  # closes at height 2
    for _ in range(2):
        h = extend(t, h)
        st = t.state(h)
        assert st is not None and st.channels[cid].status == "closing"
    h = extend(t, h)  # height 5 = 2 + 3
    st = t.state(h)
    assert st is not None and st.channels[cid].status == "closed" and st.balance(UACC[0]) == 1000


# -- scale -----------------------------------------------------------------------------------------------------------
def test_long_chain_with_votes_stays_consistent() -> None:
    t = tree()
    h = G
    nonces = [0, 0, 0]
    for n in range(120):
        txs = []
        for i in range(3):
            nonces[i] += 1
            txs.append(pay(i, nonces[i], amount=1))
        h = extend(t, h, txs)
        if n % 3 == 0:
            vote_all(t, h, [0, 1, 2])
            t.prune()
    assert t.height_of(t.head()) == 120 and t.finalized_height == 118
    assert len(t.chain()) == 120 and t.forks_seen() == 0
    st = t.state(t.head())
    assert st is not None and st.nonce(UACC[0]) == 120
    assert st.supply() == st.genesis_supply + 120 * REWARD


# -- wire limits ------------------------------------------------------------------------------------------------------
def test_blocks_never_exceed_what_py_ipv8_can_pack() -> None:
    """py-ipv8 lists hold at most 255 payloads: a block is capped there however large max_block_txs is."""
    from honest.schema import MAX_LIST_ITEMS

    t = tree(max_block_txs=1000)
    assert t.max_block_txs == MAX_LIST_ITEMS
    txs = [pay(i % 3, 1 + i // 3, amount=1) for i in range(300)]
    slot = 1
    block = t.build(leader_key(t, G, slot), G, slot, txs)
    assert len(block.txs) == MAX_LIST_ITEMS
    assert Block.from_bytes(block.to_bytes()).block_hash == block.block_hash


def fork_at_one() -> tuple[BlockTree, bytes, bytes, bytes]:
    """Two blocks at height 1 (A, B) and B's child at height 2."""
    t = tree()
    a1 = extend(t, G, slot=1)
    b1 = extend(t, G, slot=2)
    b2 = extend(t, b1)
    return t, a1, b1, b2


def test_a_voter_supports_one_block_per_height_and_its_own_vote_outranks_an_implied_one() -> None:
    """Validators 0 and 1 voted for A at height 1, then (after a reorg) for B's child at height 2; this node got the
    height-2 votes first. Before: their later votes counted for B at height 1 as well, so with validator 2's vote
    for B this node finalised B while a node that saw the height-1 votes (0, 1, 3 for A) finalised A."""
    t, a1, b1, b2 = fork_at_one()
    vote_all(t, b2, [0, 1])  # imply support for b1 at height 1
    assert t.vote_weight(b1) == 200
    vote_all(t, a1, [0, 1])  # their own height-1 votes were for a1: the implied support for b1 is withdrawn
    assert t.vote_weight(b1) == 0 and t.vote_weight(a1) == 200
    vote_all(t, b1, [2])
    assert t.finalized == G  # b1 has one voter, not three
    vote_all(t, a1, [3])
    assert t.finalized == a1  # the same block the other view finalises


def test_a_voter_already_counted_at_a_height_adds_nothing_there_from_a_later_vote() -> None:
    t, a1, b1, b2 = fork_at_one()
    vote_all(t, a1, [0, 1])
    vote_all(t, b2, [0, 1, 3])  # 0 and 1 already support a1 at height 1: only 3 adds to b1 there
    assert t.vote_weight(b1) == 100 and t.vote_weight(a1) == 200 and t.vote_weight(b2) == 300


def test_vote_bookkeeping_stays_bounded_below_finality() -> None:
    """Votes (and who supported what) far below the finalised block are dropped, so a long battle's memory does not
    grow with every vote ever seen; an equivocation there is still caught when both votes come."""
    t = tree()
    chain = extend_n(t, G, 3 * KEEP_VOTES)
    for h in chain:
        vote_all(t, h, [0, 1, 2])
    assert t.finalized == chain[-1]
    heights = {t.height_of(h) for h in t.counted_votes()}
    assert len(heights) <= KEEP_VOTES + KEEP_VOTES // 2
    assert min(h for h in heights if h is not None) >= t.finalized_height - KEEP_VOTES - KEEP_VOTES // 2
    old = chain[5]
    assert t.add_vote(Vote.create(VKEYS[3], 6, old)) is None  # a late vote far below finality: harmless
    assert t.add_vote(Vote.create(VKEYS[3], 6, chain[6])) == "equivocation"
