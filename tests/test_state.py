"""Tests for honest.state: transaction rules, channels, slashing and the supply invariant."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipv8.keyvault.keys import PrivateKey

from arena.runtime.keys import node_key
from honest.schema import (
    TX_BOND,
    TX_CHANNEL_CLOSE,
    TX_CHANNEL_DISPUTE,
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    TX_SLASH,
    TX_TRANSFER,
    BlockHeader,
    ChannelState,
    Evidence,
    Tx,
    Vote,
    account_of,
    sha256,
    sign,
)
from honest.state import LedgerState

KEYS = [node_key(11, i) for i in range(5)]
PUB = [k.pub().key_to_bin() for k in KEYS]
ACC = [account_of(p) for p in PUB]
CID = sha256(b"channel-1")


def genesis() -> LedgerState:
    return LedgerState.genesis({ACC[0]: 1000, ACC[1]: 500}, {ACC[2]: 100, ACC[3]: 50})


def tx(i: int, kind: int, to: int | bytes, amount: int, nonce: int, fee: int = 1, data: bytes = b"") -> Tx:
    receiver = to if isinstance(to, bytes) else ACC[to]
    return Tx.create(KEYS[i], kind, receiver, amount, nonce, fee, data)


def invariant(s: LedgerState) -> None:
    assert s.supply() == s.genesis_supply + s.minted - s.burned
    assert all(a.balance >= 0 and a.stake >= 0 and a.nonce >= 0 for a in s.accounts.values())


def chan_state(seq: int, ba: int, bb: int, ka: PrivateKey = KEYS[0], kb: PrivateKey = KEYS[1],
               cid: bytes = CID) -> ChannelState:
    msg = ChannelState(cid, seq, ba, bb, b"", b"").canonical()
    return ChannelState(cid, seq, ba, bb, sign(ka, msg), sign(kb, msg))


def opened(deposit: int = 300) -> LedgerState:
    s = genesis()
    assert s.apply_tx(tx(0, TX_CHANNEL_OPEN, 1, deposit, 1, data=CID + PUB[1]), proposer=ACC[4]) is None
    return s


# -- basic rules -----------------------------------------------------------------------------------------------------
def test_genesis_supply_counts_balances_and_stakes() -> None:
    s = genesis()
    assert s.genesis_supply == 1650 == s.supply()
    assert s.stakes() == {ACC[2]: 100, ACC[3]: 50}
    assert s.balance(ACC[2]) == 0 and s.stake(ACC[2]) == 100


def test_transfer_moves_amount_and_fee_goes_to_proposer() -> None:
    s = genesis()
    assert s.apply_tx(tx(0, TX_TRANSFER, 1, 100, 1, fee=3), proposer=ACC[4]) is None
    assert (s.balance(ACC[0]), s.balance(ACC[1]), s.balance(ACC[4])) == (897, 600, 3)
    assert s.nonce(ACC[0]) == 1 and s.burned == 0
    invariant(s)


def test_fee_burned_without_proposer() -> None:
    s = genesis()
    assert s.apply_tx(tx(0, TX_TRANSFER, 1, 100, 1, fee=3)) is None
    assert s.burned == 3
    invariant(s)


def test_overdraft_counts_the_fee() -> None:
    s = genesis()
    assert s.check_tx(tx(1, TX_TRANSFER, 0, 500, 1, fee=1)) == "overdraft"
    assert s.check_tx(tx(1, TX_TRANSFER, 0, 499, 1, fee=1)) is None
    assert s.check_tx(tx(4, TX_TRANSFER, 0, 1, 1, fee=0)) == "overdraft"  # unknown account


def test_replay_and_nonces() -> None:
    s = genesis()
    t = tx(0, TX_TRANSFER, 1, 10, 1)
    assert s.apply_tx(t) is None
    assert s.apply_tx(t) == "stale_nonce"  # the same transaction again: a replay
    assert s.check_tx(tx(0, TX_TRANSFER, 1, 10, 3)) == "future_nonce"
    assert s.check_tx(tx(0, TX_TRANSFER, 1, 10, 0)) == "stale_nonce"
    assert s.check_tx(tx(0, TX_TRANSFER, 1, 10, 2)) is None
    assert s.balance(ACC[0]) == 1000 - 11


def test_self_transfer_zero_amount_unknown_kind() -> None:
    s = genesis()
    assert s.check_tx(tx(0, TX_TRANSFER, 0, 10, 1)) == "self_transfer"
    assert s.check_tx(tx(0, TX_TRANSFER, 1, 0, 1)) == "zero_amount"
    assert s.check_tx(tx(0, TX_BOND, 0, 0, 1)) == "zero_amount"
    assert s.check_tx(tx(0, 99, 1, 10, 1)) == "unknown_kind"
    assert s.check_tx(tx(0, TX_SLASH, 1, 10, 1)) == "bad_amount"


def test_refused_tx_changes_nothing() -> None:
    s = genesis()
    root = s.state_root()
    assert s.apply_tx(tx(1, TX_TRANSFER, 0, 10_000, 1)) == "overdraft"
    assert s.state_root() == root


def test_bond_moves_balance_to_stake() -> None:
    s = genesis()
    assert s.apply_tx(tx(0, TX_BOND, 0, 200, 1), proposer=ACC[2]) is None
    assert s.stake(ACC[0]) == 200 and s.balance(ACC[0]) == 799
    assert s.stakes()[ACC[0]] == 200
    invariant(s)


def test_reward_mints() -> None:
    s = genesis()
    s.apply_reward(ACC[2], 10)
    assert s.minted == 10 and s.balance(ACC[2]) == 10
    invariant(s)


def test_copy_is_independent_and_root_is_deterministic() -> None:
    s = genesis()
    c = s.copy()
    assert c.state_root() == s.state_root() == genesis().state_root()
    c.apply_tx(tx(0, TX_TRANSFER, 1, 10, 1))
    assert s.balance(ACC[0]) == 1000 and c.balance(ACC[0]) == 989
    assert c.state_root() != s.state_root()


def test_root_ignores_empty_accounts_and_snapshot() -> None:
    s = genesis()
    root = s.state_root()
    s.balance(ACC[4])
    s.accounts[ACC[4]] = type(s.accounts[ACC[0]])()
    assert s.state_root() == root
    snap = s.snapshot()
    assert list(snap) == sorted(snap) and ACC[4].hex() not in snap
    assert snap[ACC[0].hex()] == {"balance": 1000, "nonce": 0, "stake": 0}
    back = LedgerState.from_snapshot(snap)
    assert back.snapshot() == snap and back.supply() == s.supply()


# -- channels --------------------------------------------------------------------------------------------------------
def test_channel_open_locks_deposit() -> None:
    s = opened()
    chan = s.channels[CID]
    assert (chan.a, chan.b, chan.deposit_a, chan.deposit_b, chan.status) == (ACC[0], ACC[1], 300, 0, "open")
    assert chan.key_a == PUB[0] and chan.key_b == PUB[1]
    assert s.balance(ACC[0]) == 699
    invariant(s)
    assert s.check_tx(tx(0, TX_CHANNEL_OPEN, 1, 10, 2, data=CID + PUB[1])) == "channel_exists"
    other = sha256(b"other")
    assert s.check_tx(tx(0, TX_CHANNEL_OPEN, 1, 10, 2, data=other + PUB[2])) == "bad_channel_key"
    assert s.check_tx(tx(0, TX_CHANNEL_OPEN, 1, 10, 2, data=other)) == "bad_channel_data"
    assert s.check_tx(tx(0, TX_CHANNEL_OPEN, 0, 10, 2, data=other + PUB[0])) == "self_channel"


def test_cooperative_close_pays_out() -> None:
    s = opened()
    st1 = chan_state(5, 120, 180)
    assert s.apply_tx(tx(1, TX_CHANNEL_CLOSE, 0, 0, 1, data=st1.to_bytes()), proposer=ACC[4]) is None
    assert s.channels[CID].status == "closed"
    assert s.balance(ACC[0]) == 699 + 120 and s.balance(ACC[1]) == 500 - 1 + 180
    invariant(s)
    assert s.check_tx(tx(0, TX_CHANNEL_CLOSE, 1, 0, 2, data=st1.to_bytes())) == "channel_not_open"


def test_close_needs_both_signatures_and_exact_balances() -> None:
    s = opened()
    msg = ChannelState(CID, 1, 100, 200, b"", b"").canonical()
    one_sig = ChannelState(CID, 1, 100, 200, sign(KEYS[0], msg), sign(KEYS[0], msg))
    assert s.check_tx(tx(0, TX_CHANNEL_CLOSE, 1, 0, 2, data=one_sig.to_bytes())) == "bad_channel_signature"
    assert s.check_tx(tx(0, TX_CHANNEL_CLOSE, 1, 0, 2, data=chan_state(1, 100, 201).to_bytes())) == \
        "bad_channel_balance"
    assert s.check_tx(tx(2, TX_CHANNEL_CLOSE, 1, 0, 1, fee=0, data=chan_state(1, 100, 200).to_bytes())) == \
        "not_a_party"
    assert s.check_tx(tx(0, TX_CHANNEL_CLOSE, 1, 0, 2, data=b"junk")) == "bad_channel_state"
    wrong = chan_state(1, 100, 200, cid=sha256(b"nope"))
    assert s.check_tx(tx(0, TX_CHANNEL_CLOSE, 1, 0, 2, data=wrong.to_bytes())) == "unknown_channel"


def test_force_close_settles_after_window() -> None:
    s = opened()
    st1 = chan_state(2, 250, 50)
    assert s.apply_tx(tx(0, TX_CHANNEL_FORCE_CLOSE, 1, 0, 2, data=st1.to_bytes()), height=7) is None
    chan = s.channels[CID]
    assert (chan.status, chan.close_height, chan.closer, chan.close_seq) == ("closing", 7, ACC[0], 2)
    invariant(s)  # still locked
    assert s.settle_channels(16, dispute_window=10) == []
    assert s.balance(ACC[1]) == 500
    assert s.settle_channels(17, dispute_window=10) == [CID]
    assert s.channels[CID].status == "closed" and s.balance(ACC[1]) == 550
    invariant(s)
    assert s.settle_channels(30, dispute_window=10) == []


def test_dispute_with_newer_state_punishes_the_cheater() -> None:
    s = opened()
    old, new = chan_state(1, 280, 20), chan_state(4, 100, 200)
    assert s.apply_tx(tx(0, TX_CHANNEL_FORCE_CLOSE, 1, 0, 2, data=old.to_bytes()), height=3) is None
    # the closer itself cannot dispute
    assert s.check_tx(tx(0, TX_CHANNEL_DISPUTE, 1, 0, 3, data=new.to_bytes())) == "not_counterparty"
    # a third party (a watchtower) may dispute for the wronged party: the penalty goes to b, not to the disputer
    assert s.check_tx(tx(2, TX_CHANNEL_DISPUTE, 1, 0, 1, fee=0, data=new.to_bytes())) is None
    b_before = s.balance(ACC[1])
    assert s.apply_tx(tx(1, TX_CHANNEL_DISPUTE, 0, 0, 1, data=new.to_bytes()), height=5) is None
    assert s.channels[CID].status == "closed"
    assert s.balance(ACC[1]) == b_before - 1 + 300  # the whole deposit
    assert s.balance(ACC[0]) == 698  # two fees, nothing back
    invariant(s)
    assert s.settle_channels(100, dispute_window=10) == []


def test_watchtower_dispute_pays_the_wronged_party_not_itself() -> None:
    s = opened()
    old, new = chan_state(1, 280, 20), chan_state(4, 100, 200)
    assert s.apply_tx(tx(0, TX_CHANNEL_FORCE_CLOSE, 1, 0, 2, data=old.to_bytes()), height=3) is None
    b_before, tower_before = s.balance(ACC[1]), s.balance(ACC[2])
    assert s.apply_tx(tx(2, TX_CHANNEL_DISPUTE, 1, 0, 1, fee=0, data=new.to_bytes()), height=5) is None
    assert s.channels[CID].status == "closed"
    assert s.balance(ACC[1]) == b_before + 300  # the whole deposit to b, the wronged party
    assert s.balance(ACC[2]) == tower_before  # the watchtower gains nothing
    invariant(s)


def test_stale_dispute_rejected() -> None:
    s = opened()
    newest, older = chan_state(4, 100, 200), chan_state(3, 150, 150)
    assert s.apply_tx(tx(1, TX_CHANNEL_FORCE_CLOSE, 0, 0, 1, data=newest.to_bytes()), height=3) is None
    assert s.check_tx(tx(0, TX_CHANNEL_DISPUTE, 1, 0, 2, data=older.to_bytes())) == "stale_dispute"
    assert s.check_tx(tx(0, TX_CHANNEL_DISPUTE, 1, 0, 2, data=newest.to_bytes())) == "stale_dispute"
    s2 = opened()
    assert s2.check_tx(tx(1, TX_CHANNEL_DISPUTE, 0, 0, 1, data=newest.to_bytes())) == "channel_not_closing"


def test_force_close_with_opening_state_by_funder() -> None:
    s = opened()
    assert s.check_tx(tx(1, TX_CHANNEL_FORCE_CLOSE, 0, 0, 1, data=CID)) == "not_a_party"
    assert s.apply_tx(tx(0, TX_CHANNEL_FORCE_CLOSE, 1, 0, 2, data=CID), height=1) is None
    assert s.settle_channels(11, 10) == [CID]
    assert s.balance(ACC[0]) == 1000 - 2
    invariant(s)


# -- slashing --------------------------------------------------------------------------------------------------------
def double_vote_evidence(k: PrivateKey, height: int = 4) -> Evidence:
    v1, v2 = Vote.create(k, height, sha256(b"x")), Vote.create(k, height, sha256(b"y"))
    return Evidence(1, v1.to_bytes(), v2.to_bytes())


def test_slash_burns_stake_and_reporter_pays_fee_only() -> None:
    s = genesis()
    ev = double_vote_evidence(KEYS[2])
    assert s.apply_tx(tx(0, TX_SLASH, 2, 0, 1, fee=2, data=ev.to_bytes()), proposer=ACC[3]) is None
    assert s.stake(ACC[2]) == 0 and s.burned == 100
    assert s.balance(ACC[0]) == 998 and s.balance(ACC[3]) == 2
    invariant(s)
    assert s.check_tx(tx(0, TX_SLASH, 2, 0, 2, data=ev.to_bytes())) == "nothing_to_slash"


def test_slash_rejects_bad_evidence() -> None:
    s = genesis()
    v1 = Vote.create(KEYS[2], 4, sha256(b"x"))
    same = Evidence(1, v1.to_bytes(), v1.to_bytes())
    other_height = Evidence(1, v1.to_bytes(), Vote.create(KEYS[2], 5, sha256(b"y")).to_bytes())
    other_voter = Evidence(1, v1.to_bytes(), Vote.create(KEYS[3], 4, sha256(b"y")).to_bytes())
    v2 = Vote.create(KEYS[2], 4, sha256(b"y"))
    forged = Evidence(1, v1.to_bytes(), Vote(v2.height, v2.block_hash, v2.voter_key, bytes(64)).to_bytes())
    for ev in (same, other_height, other_voter, forged):
        assert s.check_tx(tx(0, TX_SLASH, 2, 0, 1, data=ev.to_bytes())) == "bad_evidence"
    assert s.check_tx(tx(0, TX_SLASH, 2, 0, 1, data=b"junk")) == "bad_evidence"
    assert s.check_tx(tx(0, TX_SLASH, 4, 0, 1, data=double_vote_evidence(KEYS[4]).to_bytes())) == "nothing_to_slash"


def test_slash_on_double_proposal() -> None:
    s = genesis()

    def header(root: bytes) -> BlockHeader:
        unsigned = BlockHeader(3, 9, bytes(32), PUB[3], sha256(b""), root, b"")
        return BlockHeader(3, 9, bytes(32), PUB[3], sha256(b""), root, sign(KEYS[3], unsigned.canonical()))

    ev = Evidence(2, header(sha256(b"a")).to_bytes(), header(sha256(b"b")).to_bytes())
    assert s.apply_tx(tx(0, TX_SLASH, 3, 0, 1, data=ev.to_bytes())) is None
    assert s.stake(ACC[3]) == 0
    invariant(s)


# -- property: the supply invariant ----------------------------------------------------------------------------------
OPS = st.tuples(
    st.sampled_from(["transfer", "bond", "open", "force", "reward", "settle", "slash", "junk"]),
    st.integers(0, 4), st.integers(0, 4), st.integers(0, 1200), st.integers(-1, 2), st.integers(0, 5),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=25))
def test_supply_invariant_under_random_sequences(ops: list[tuple[str, int, int, int, int, int]]) -> None:
    s = genesis()
    height = 0
    opened_ids: list[bytes] = []
    for n, (op, i, j, amount, nonce_delta, fee) in enumerate(ops):
        height += 1
        nonce = s.nonce(ACC[i]) + 1 + nonce_delta if nonce_delta >= 0 else s.nonce(ACC[i])
        before = s.copy()
        if op == "reward":
            s.apply_reward(ACC[i], amount)
        elif op == "settle":
            s.settle_channels(height, amount % 5)
        else:
            if op == "transfer":
                t = tx(i, TX_TRANSFER, j, amount, nonce, fee)
            elif op == "bond":
                t = tx(i, TX_BOND, i, amount, nonce, fee)
            elif op == "open":
                cid = sha256(b"c%d" % n)
                t = tx(i, TX_CHANNEL_OPEN, j, amount, nonce, fee, data=cid + PUB[j])
                opened_ids.append(cid)
            elif op == "force":
                cid = opened_ids[amount % len(opened_ids)] if opened_ids else CID
                t = tx(i, TX_CHANNEL_FORCE_CLOSE, j, 0, nonce, fee, data=cid)
            elif op == "slash":
                t = tx(i, TX_SLASH, j, 0, nonce, fee, data=double_vote_evidence(KEYS[j]).to_bytes())
            else:
                t = tx(i, 9 if amount % 2 else TX_CHANNEL_DISPUTE, j, 0, nonce, fee, data=b"x")
            reason = s.check_tx(t)
            assert s.apply_tx(t, proposer=ACC[j] if fee % 2 else None, height=height) == reason
            if reason is not None:
                assert s.state_root() == before.state_root()
            else:
                assert s.nonce(ACC[i]) == before.nonce(ACC[i]) + 1
        invariant(s)


def test_copies_are_independent_both_ways() -> None:
    """Copy-on-write: changing a copy never changes the original, and changing the original never changes a copy."""
    s = opened()
    before = s.snapshot()
    c = s.copy()
    assert c.apply_tx(tx(0, TX_TRANSFER, 1, 5, s.nonce(ACC[0]) + 1)) is None
    assert s.snapshot() == before
    c_snap = c.snapshot()
    assert s.apply_tx(tx(0, TX_TRANSFER, 2, 7, s.nonce(ACC[0]) + 1)) is None
    assert c.snapshot() == c_snap
    assert c.balance(ACC[1]) == s.balance(ACC[1]) + 5
