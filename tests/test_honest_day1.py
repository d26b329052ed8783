"""Course day 1 (consensus ``none``): validators apply signed transfers on arrival and must end up with one ledger.

End to end: every validator applies every honest transfer, and money is conserved. Unit level, on the validators of a
finished world: overdrafts, bad signatures, replays and wrong nonces are refused with a recorded reason and leave the
ledger untouched. Light nodes: a balance is believed only when more than ``majority`` of the validators asked agree.
"""

from __future__ import annotations

from typing import Any

import pytest
from honest_kit import at, build, events, node, result, scenario

from arena.sim.runner import run_battle
from arena.sim.world import World
from honest.node import HonestNode
from honest.schema import TX_TRANSFER, Tx
from honest.state import OVERDRAFT, STALE_NONCE

N_VAL, N_LIGHT, BALANCE, STAKE = 4, 6, 1000, 100
GENESIS_SUPPLY = N_LIGHT * BALANCE + N_VAL * STAKE
LIGHT0 = N_VAL  # index of the first light node


def finished(**over: Any) -> World:
    world = build(scenario(duration=12, workload={"rate": 5, "stop": 8}, **over))
    world.run()
    return world


def validators(world: World) -> list[HonestNode]:
    return [node(world, i) for i in range(len(world.scenario.validator_list))]


def transfer(world: World, payer: int, payee: int, amount: int, nonce: int | None = None, fee: int = 0) -> Tx:
    """A correctly signed transfer from light node ``payer`` (next nonce by validator 0's ledger by default)."""
    a, b = node(world, payer), node(world, payee)
    if nonce is None:
        nonce = node(world, 0).ledger.nonce(a.account) + 1
    return Tx.create(a.key, TX_TRANSFER, b.account, amount, nonce, fee)


def forge(tx: Tx, signature: bytes) -> Tx:
    return Tx(tx.kind, tx.sender_key, tx.receiver, tx.amount, tx.nonce, tx.fee, tx.data, signature)


# -- end to end ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fee", [0, 2])
def test_validators_agree_and_money_is_conserved(fee: int) -> None:
    sc = scenario(duration=25, workload={"rate": 6, "fee": fee, "stop": 20})
    outcome = run_battle(sc, keep_trace=True)
    res, world = outcome.result, outcome.world
    intents = events(world, "intent")
    assert len(intents) > 50
    assert res["validators_agree"] is True
    vals = validators(world)
    # every honest transfer reached and was applied by every validator, none refused
    want = {e["tx"] for e in intents}
    for v in vals:
        assert {t.hex() for t in v.applied} == want
        assert not v.rejected
        assert not any(v.held.values())
    burned = fee * len(intents)
    assert res["supply"] == GENESIS_SUPPLY - burned
    for v in vals:
        assert v.ledger.burned == burned and v.ledger.minted == 0
        assert v.ledger.supply() == GENESIS_SUPPLY - burned == v.ledger.genesis_supply - burned
    assert sum(res["balances"].values()) + sum(res["stakes"].values()) == GENESIS_SUPPLY - burned
    assert res["invariants"]["no_negative_balance"]["ok"]
    # each light node's balance moved exactly by what the intents say
    names = {e["sender"]: e["node"] for e in intents}
    expected = {node(world, i).account.hex(): BALANCE for i in range(N_VAL, N_VAL + N_LIGHT)}
    for e in intents:
        expected[e["sender"]] -= e["amount"] + e["fee"]
        expected[e["receiver"]] += e["amount"]
    assert names  # payers are light nodes
    assert {a: vals[0].ledger.balance(bytes.fromhex(a)) for a in expected} == expected


# -- unit level: a validator of a finished world -------------------------------------------------------------------
def test_overdraft_is_rejected_and_ledger_unchanged() -> None:
    world = finished()
    v = node(world, 0)
    payer = node(world, LIGHT0)
    before = v.ledger.snapshot()
    tx = transfer(world, LIGHT0, LIGHT0 + 1, v.ledger.balance(payer.account) + 1)
    assert v.accept_tx(tx, None) is False
    assert v.rejected[tx.tx_id] == OVERDRAFT
    assert tx.tx_id not in v.applied
    assert v.ledger.snapshot() == before
    refusals = [e for e in events(world, "tx_rejected") if e["tx"] == tx.tx_id.hex()]
    assert refusals and refusals[0]["reason"] == OVERDRAFT
    # the whole balance (no fee) is fine
    ok = transfer(world, LIGHT0, LIGHT0 + 1, v.ledger.balance(payer.account))
    assert v.accept_tx(ok, None) is True
    assert v.ledger.balance(payer.account) == 0


def test_bad_signature_is_rejected_and_ledger_unchanged() -> None:
    world = finished()
    v = node(world, 0)
    before = v.ledger.snapshot()
    tx = transfer(world, LIGHT0, LIGHT0 + 1, 5)
    flipped = forge(tx, bytes([tx.signature[0] ^ 0x01]) + tx.signature[1:])
    assert v.accept_tx(flipped, None) is False
    assert v.bad_signatures == 1 and flipped.tx_id not in v.rejected  # counted, not cached by id
    # signed by somebody else (a valid signature, but not by the sender's key)
    other = node(world, LIGHT0 + 2)
    v2 = node(world, 1)
    stolen = Tx.create(other.key, TX_TRANSFER, tx.receiver, tx.amount, tx.nonce, tx.fee)
    impostor = forge(tx, stolen.signature)
    assert v2.accept_tx(impostor, None) is False
    assert v2.bad_signatures == 1 and impostor.tx_id not in v2.rejected
    # truncated and empty signatures
    v3 = node(world, 2)
    assert v3.accept_tx(forge(tx, tx.signature[:-1]), None) is False
    assert v3.accept_tx(forge(tx, b""), None) is False
    assert v3.bad_signatures >= 1 and tx.tx_id not in v3.rejected
    for val in (v, v2, v3):
        assert tx.tx_id not in val.applied
        assert val.ledger.snapshot() == before


def test_forged_copy_does_not_block_the_genuine_transfer() -> None:
    world = finished()
    v = node(world, 0)
    tx = transfer(world, LIGHT0, LIGHT0 + 1, 5)
    assert v.accept_tx(forge(tx, bytes(len(tx.signature))), None) is False
    assert v.accept_tx(tx, None) is True
    assert tx.tx_id in v.applied


def test_replayed_transfer_is_debited_once() -> None:
    world = finished()
    v = node(world, 0)
    payer, payee = node(world, LIGHT0), node(world, LIGHT0 + 1)
    balance, nonce = v.ledger.balance(payer.account), v.ledger.nonce(payer.account)
    payee_balance = v.ledger.balance(payee.account)
    tx = transfer(world, LIGHT0, LIGHT0 + 1, 7)
    assert v.accept_tx(tx, None) is True
    after_first = v.ledger.snapshot()
    assert v.ledger.balance(payer.account) == balance - 7
    assert v.ledger.balance(payee.account) == payee_balance + 7
    assert v.ledger.nonce(payer.account) == nonce + 1
    assert v.accept_tx(tx, None) is False  # the replay
    assert v.rejected[tx.tx_id] == STALE_NONCE
    assert v.ledger.snapshot() == after_first


def test_replay_does_not_turn_an_applied_transfer_into_rejected() -> None:
    world = finished()
    v = node(world, 0)
    tx = transfer(world, LIGHT0, LIGHT0 + 1, 7)
    assert v.accept_tx(tx, None) is True
    assert v.tx_status(tx.tx_id)[0] == 3
    v.accept_tx(tx, None)
    assert v.tx_status(tx.tx_id)[0] == 3


def test_wrong_nonces() -> None:
    world = finished()
    v = node(world, 0)
    payer = node(world, LIGHT0)
    nonce = v.ledger.nonce(payer.account)
    assert nonce > 0, "the workload should have used this account"
    before = v.ledger.snapshot()
    # an already used nonce with new contents: a replay in disguise
    stale = transfer(world, LIGHT0, LIGHT0 + 1, 3, nonce=nonce)
    assert v.accept_tx(stale, None) is False
    assert v.rejected[stale.tx_id] == STALE_NONCE
    zero = transfer(world, LIGHT0, LIGHT0 + 1, 3, nonce=0)
    assert v.accept_tx(zero, None) is False
    assert v.rejected[zero.tx_id] == STALE_NONCE
    assert v.ledger.snapshot() == before
    # a gap: held back (not applied, not rejected) until the missing nonce arrives
    later = transfer(world, LIGHT0, LIGHT0 + 1, 4, nonce=nonce + 2)
    assert v.accept_tx(later, None) is True
    assert later.tx_id not in v.applied and later.tx_id not in v.rejected
    assert v.ledger.snapshot() == before
    gap = transfer(world, LIGHT0, LIGHT0 + 1, 5, nonce=nonce + 1)
    assert v.accept_tx(gap, None) is True
    assert {gap.tx_id, later.tx_id} <= v.applied
    assert v.ledger.nonce(payer.account) == nonce + 2
    assert v.ledger.balance(payer.account) == before[payer.account.hex()]["balance"] - 9


def test_rejected_transfer_is_not_gossiped() -> None:
    """A light node submits an overdraft: the validator acks it as refused and no other validator ever sees it."""
    world = build(scenario(duration=6, workload={"rate": 0}))
    sent: list[Tx] = []

    def submit() -> None:
        light = node(world, LIGHT0)
        tx = light.make_tx(node(world, LIGHT0 + 1).account, 10 * BALANCE, 0)
        sent.append(tx)
        assert light.submit(tx)

    at(world, 3.0, submit, index=LIGHT0)
    world.run()
    (tx,) = sent
    refused = [e for e in events(world, "tx_refused") if e["tx"] == tx.tx_id.hex()]
    assert refused and refused[0]["reason"] == OVERDRAFT and refused[0]["node"] == LIGHT0
    rejecting = [v for v in validators(world) if tx.tx_id in v.rejected]
    assert len(rejecting) == 1  # only the validator it was submitted to
    assert all(v.ledger.balance(node(world, LIGHT0).account) == BALANCE for v in validators(world))


# -- light nodes: balances by majority ------------------------------------------------------------------------------
def balance_world(n_val: int, tamper: dict[int, int], query_at: float = 14.0) -> tuple[World, list[int]]:
    """Run with ``n_val`` validators; at ``query_at`` add ``tamper[i]`` to light0's balance on validator i, then
    light0 asks ``query_validators`` (3) validators for its balance. Returns the world and the query ids."""
    world = build(scenario(validators=n_val, duration=18, workload={"rate": 5, "stop": 10}))
    qids: list[int] = []

    def tamper_and_ask() -> None:
        acct = node(world, n_val).account
        for i, delta in tamper.items():
            node(world, i).ledger.accounts[acct].balance += delta
        qids.append(node(world, n_val).query_balance())

    at(world, query_at, tamper_and_ask, index=n_val)
    world.run()
    return world, qids


def balance_events(world: World, index: int) -> list[dict[str, Any]]:
    return [e for e in events(world, "balance") if e["node"] == index and e.get("purpose", "query") == "query"]


def test_balance_accepted_when_validators_agree() -> None:
    world, (qid,) = balance_world(4, {})
    light_index = 4
    light = node(world, light_index)
    truth = node(world, 0).ledger.balance(light.account)
    assert truth != BALANCE, "the workload should have moved this balance"
    assert result(world)["validators_agree"]
    (ev,) = balance_events(world, light_index)
    assert ev["account"] == light.account.hex()
    assert ev["balance"] == truth
    assert ev["nonce"] == node(world, 0).ledger.nonce(light.account)
    assert ev["asked"] == 3 and 2 <= ev["answers"] <= 3
    assert light.known_balance == truth
    assert light.queries[qid].done


def test_one_dissenting_validator_is_outvoted() -> None:
    """3 validators, all asked: one lies (by +500), the two others agree, their value is believed."""
    world, (qid,) = balance_world(3, {2: 500})
    light = node(world, 3)
    truth = node(world, 0).ledger.balance(light.account)
    assert node(world, 1).ledger.balance(light.account) == truth
    assert node(world, 2).ledger.balance(light.account) == truth + 500
    (ev,) = balance_events(world, 3)
    assert ev["balance"] == truth
    assert ev["asked"] == 3
    assert light.known_balance == truth
    assert all(bal in (truth, truth + 500) for bal, _ in light.queries[qid].answers.values())


def test_no_value_without_a_majority() -> None:
    """3 validators, all asked: two disagree with the third and with each other: nothing is believed."""
    world, (qid,) = balance_world(3, {1: 500, 2: 700})
    light = node(world, 3)
    truth = node(world, 0).ledger.balance(light.account)
    assert balance_events(world, 3) == []
    assert light.known_balance is None
    q = light.queries[qid]
    assert not q.done
    assert q.asked == 3
    assert sorted(bal for bal, _ in q.answers.values()) == [truth, truth + 500, truth + 700]


def test_colluding_majority_is_believed() -> None:
    """The limit of the rule: two of three validators telling the same lie win (trust is in the majority)."""
    world, _ = balance_world(3, {1: 500, 2: 500})
    light = node(world, 3)
    truth = node(world, 0).ledger.balance(light.account)
    (ev,) = balance_events(world, 3)
    assert ev["balance"] == truth + 500
    assert light.known_balance == truth + 500


# -- crash and restart ---------------------------------------------------------------------------------------------
def test_restarted_validator_rejoins_the_peer_tables() -> None:
    """After a crash and restart (within peer_timeout), the node re-announces itself and is answered."""
    world = build(scenario(duration=24, events=[{"at": 8, "crash": 3}, {"at": 12, "restart": 3}],
                           workload={"stop": 20}))
    world.run()
    restarted = node(world, 3)
    assert len(restarted.peers) == len(world.nodes) - 1
    assert restarted.peers.by_role(0), "the restarted validator must know the other validators again"
    for i in range(len(world.nodes)):
        if i != 3:
            assert restarted.public_key in node(world, i).peers.peers


def test_restarted_validator_keeps_its_day1_ledger() -> None:
    world = build(scenario(duration=24, events=[{"at": 8, "crash": 3}, {"at": 12, "restart": 3}],
                           workload={"stop": 6}))
    world.run()
    assert node(world, 3).ledger.snapshot() == node(world, 0).ledger.snapshot()
    assert result(world)["validators_agree"]
