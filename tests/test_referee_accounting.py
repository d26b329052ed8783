"""The referee's accounting (issue 13): losses by category, whatever mechanism caused them, attributed to the red
plugins whose evidence explains them; states that disagree with their own signatures are not believed; the leader
schedule is re-run. Synthetic histories built with the ``Run`` of ``tests/test_referee.py``."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from ipv8.keyvault.crypto import default_eccrypto
from test_referee import ACCT, NAMES, PRICE, SYBIL, check, clean_run, minted_states, tx

from arena.referee.checkers import LOSS_CATEGORIES, UNATTRIBUTED, Verdict
from arena.referee.verify import GENESIS_HASH, leader, state_problem
from honest.pos import leader as pos_leader
from honest.schema import Block, Tx, Vote, account_of, public_key_of

MERCHANT = NAMES.index("merchant7")


def evidence(r: Any, plugin: str, kind: str, node: int = NAMES.index("light6")) -> None:
    r.ev("evidence", node=node, plugin=plugin, kind=kind, detail="fired")


# ================================================ unpaid goods ====================================================
def test_twenty_orders_for_one_payment_are_950_unpaid_whatever_the_merchant_did() -> None:
    r = clean_run()  # its evidence: plugin double_spend, kind double_spend
    r.block(tx("pay1", "light6", "merchant7", PRICE))  # one 50-token payment, finalised
    for order in range(20):  # ... delivered twenty times, under twenty order ids
        r.ev("delivery", node=MERCHANT, order=order, tx="pay1", buyer=ACCT["light6"], value=PRICE, amount=PRICE)
    v = r.judge()
    assert v.verdict == "red_won", v.reason
    assert v.stolen == 950
    assert v.stolen_by_category == {"unpaid_goods": 950, "forged_debit": 0, "channel_theft": 0, "minted": 0}
    assert v.stolen_by_kind["double_spend"] == 950  # the old name, for compatibility
    assert v.stolen_by_plugin == {"double_spend": 950}
    assert len(check(v, "double_spend").evidence) == 19


def test_a_payment_pays_at_most_its_amount_and_other_payments_count() -> None:
    r = clean_run()
    r.block(tx("part", "light6", "merchant7", 20), tx("gift", "light6", "merchant7", PRICE))
    r.ev("delivery", node=MERCHANT, order=1, tx="part", buyer=ACCT["light6"], value=PRICE)  # 30 short
    r.ev("delivery", node=MERCHANT, order=2, tx="never", buyer=ACCT["light6"], value=PRICE)  # paid by "gift"
    r.ev("delivery", node=MERCHANT, order=3, tx="never2", buyer=ACCT["light6"], value=PRICE)  # nothing left: 50
    assert r.judge().stolen_by_category["unpaid_goods"] == 30 + PRICE


def test_a_payment_to_someone_else_does_not_pay_the_merchant() -> None:
    r = clean_run()
    r.block(tx("else", "light6", "light5", PRICE))  # finalised, but not to the merchant
    r.ev("delivery", node=MERCHANT, order=1, tx="else", buyer=ACCT["light6"], value=PRICE)
    assert r.judge().stolen_by_category["unpaid_goods"] == PRICE


# ================================================ forged debits ===================================================
def test_forged_debit_but_fees_and_channel_funding_of_blue_nodes_are_intended() -> None:
    r = clean_run()
    fund = tx("fund", "light4", "light5", 100, fee=3, kind=2)  # a channel open, with a fee
    r.ev("intent", node=NAMES.index("light4"), tx="fund", sender=ACCT["light4"], receiver=ACCT["light5"],
         amount=100, fee=3, nonce=3, purpose="channel_open")
    r.block(fund, tx("forged", "light5", SYBIL, 40, fee=2))
    evidence(r, "key_thief", "forgery")
    v = r.judge()
    assert v.stolen_by_category["forged_debit"] == 40
    assert v.stolen_by_kind["forgery"] == 40
    assert v.honest_loss == 42
    assert [e["id"] for e in check(v, "forgery").evidence] == ["forged"]
    assert v.stolen_by_plugin == {"key_thief": 40}


# ================================================ channel theft, minted ===========================================
def test_channel_theft_keeps_its_evidence_and_is_attributed() -> None:
    r = clean_run()
    a, b = ACCT["light4"], ACCT["light6"]
    r.ev("channel_signed", node=NAMES.index("light4"), channel="c1", seq=5, a=a, b=b, balance_a=40, balance_b=60)
    r.ev("channel_settled", node=0, channel="c1", a=a, b=b, closer=b, seq=2, balance_a=10, balance_b=90,
         disputed=False, paid_a=10, paid_b=90)
    evidence(r, "stale_close", "channel_fraud")
    v = r.judge()
    assert v.stolen_by_category["channel_theft"] == 30
    assert v.stolen_by_kind["channel_fraud"] == 30
    fraud = check(v, "channel_fraud").evidence[0]
    assert fraud["gain"] == 30 and fraud["honest_state"]["seq"] == 5
    assert v.stolen_by_plugin == {"stale_close": 30}


def test_minted_with_no_plugin_explaining_it_is_unattributed() -> None:
    r = clean_run()
    v = r.judge(minted_states(r, "light6", 500))
    assert v.stolen_by_category["minted"] == 500 and v.stolen_by_kind["minting"] == 500
    assert v.stolen_by_plugin == {UNATTRIBUTED: 500}  # the run's only evidence is of kind double_spend


def test_a_loss_is_shared_among_the_plugins_that_explain_it() -> None:
    r = clean_run()
    evidence(r, "status_liar", "unpaid_goods")  # a plugin may name the category it aims at
    evidence(r, "rogue", "byzantine_validator", node=NAMES.index("validator3"))
    r.ev("delivery", node=MERCHANT, order=1, tx="none", buyer=ACCT["light6"], value=PRICE)
    v = r.judge()
    assert v.stolen == PRICE
    assert v.stolen_by_plugin == {"double_spend": 17, "rogue": 17, "status_liar": 16}
    res = v.as_result()
    assert set(res["stolen_by_category"]) == set(LOSS_CATEGORIES)
    back = Verdict.from_result(res)
    assert back is not None and back.stolen_by_plugin == v.stolen_by_plugin
    assert back.stolen_by_category == v.stolen_by_category


def test_old_results_read_back_with_categories_from_kinds() -> None:
    old = {"verdict": "red_won", "stolen": 5, "stolen_by_kind": {"double_spend": 5, "forgery": 0,
                                                                 "channel_fraud": 0, "minting": 0}}
    v = Verdict.from_result(old)
    assert v is not None and v.stolen_by_category["unpaid_goods"] == 5 and v.stolen_by_plugin == {}


# ================================================ states are rechecked ============================================
def test_a_state_that_disagrees_with_itself_is_not_believed() -> None:
    r = clean_run()
    states = r.states()
    # validator0's state shows a payment twice in its chain: the run would look paid by it
    states[0]["chain"][-1]["txs"].append(copy.deepcopy(states[0]["chain"][0]["txs"][0]))
    v = r.judge(states)
    c = check(v, "states_verified")
    assert c.status == "invalid" and "validator0" in c.detail and "twice" in c.detail
    assert v.verdict == "blue_won", v.reason  # judged on the two states that agree with themselves


@pytest.mark.parametrize("field", ["finalized_height", "height", "slot", "parent", "nonce"])
def test_each_inconsistency_is_named(field: str) -> None:
    st = clean_run().states()[0]
    if field == "finalized_height":
        st["finalized_height"] += 1
    elif field == "height":
        st["chain"][1]["height"] = 7
    elif field == "slot":
        st["chain"][1]["slot"] = st["chain"][0]["slot"]
    elif field == "parent":
        st["chain"][1]["parent"] = "11" * 32
    else:
        st["chain"][2]["txs"][0]["nonce"] = 5  # light4's second transaction, nonce 2 expected
    assert state_problem(st) is not None


KEYS = [default_eccrypto.generate_key("curve25519") for _ in range(2)]


def signed_state(txs_per_block: int = 2) -> dict[str, Any]:
    """A validator state carrying everything needed to recheck it: full headers, votes, signed transactions."""
    proposer, payer = KEYS
    chain = []
    parent = bytes(32)
    for height in (1, 2):
        txs = [Tx.create(payer, 0, b"\x07" * 20, 5, (height - 1) * txs_per_block + i + 1, 1)
               for i in range(txs_per_block)]
        block = Block.create(proposer, height, height, parent, txs, b"\x01" * 32)
        hdr = block.header
        vote = Vote.create(proposer, height, block.block_hash)
        chain.append({
            "hash": block.block_hash.hex(), "height": height, "slot": height, "proposer": hdr.proposer.hex(),
            "parent": hdr.parent.hex(), "proposer_key": hdr.proposer_key.hex(), "tx_root": hdr.tx_root.hex(),
            "state_root": hdr.state_root.hex(), "signature": hdr.signature.hex(),
            "votes": [{"voter_key": vote.voter_key.hex(), "signature": vote.signature.hex()}],
            "txs": [{"id": t.tx_id.hex(), "kind": t.kind, "sender": t.sender.hex(), "receiver": t.receiver.hex(),
                     "amount": t.amount, "fee": t.fee, "nonce": t.nonce, "sender_key": t.sender_key.hex(),
                     "data": t.data.hex(), "signature": t.signature.hex()} for t in txs]})
        parent = block.block_hash
    return {"name": "validator0", "role": "validator", "team": "blue", "chain": chain,
            "finalized": chain[-1]["hash"], "finalized_height": 2}


@pytest.mark.parametrize("tamper", ["tx_root", "tx_amount", "tx_signature", "header_signature", "vote",
                                    "proposer", "appended_tx"])
def test_signatures_and_roots_are_rechecked(tamper: str) -> None:
    st = signed_state()
    assert state_problem(st) is None
    block = st["chain"][0]
    if tamper == "tx_root":
        block["tx_root"] = "22" * 32
    elif tamper == "tx_amount":
        block["txs"][0]["amount"] = 500  # the id no longer matches (and the root is over ids)
    elif tamper == "tx_signature":
        block["txs"][0]["signature"] = block["txs"][1]["signature"]
    elif tamper == "header_signature":
        block["signature"] = st["chain"][1]["signature"]
    elif tamper == "vote":
        block["votes"][0]["signature"] = st["chain"][1]["votes"][0]["signature"]
    elif tamper == "proposer":
        block["proposer"] = account_of(public_key_of(KEYS[1])).hex()
    else:  # a red node appended a (validly signed) payment to a block it was handed
        extra = Tx.create(KEYS[1], 0, b"\x07" * 20, 5, 99, 1)
        block["txs"].append({"id": extra.tx_id.hex(), "kind": 0, "sender": extra.sender.hex(),
                             "receiver": extra.receiver.hex(), "amount": 5, "fee": 1, "nonce": 3,
                             "sender_key": extra.sender_key.hex(), "data": "", "signature": extra.signature.hex()})
    assert state_problem(st) is not None


# ================================================ the leader schedule =============================================
def test_referee_schedule_is_the_honest_schedule() -> None:
    rng = random.Random(7)
    for _ in range(200):
        stakes = {rng.randbytes(20): rng.randint(0, 50) for _ in range(rng.randint(1, 6))}
        parent, slot = rng.randbytes(32), rng.randint(0, 10**6)
        expected = pos_leader(stakes, parent, slot)
        got = leader({a.hex(): s for a, s in stakes.items()}, parent.hex(), slot)
        assert got == (expected.hex() if expected is not None else None)
    assert leader({}, GENESIS_HASH, 1) is None


def test_a_block_out_of_turn_breaks_legitimate_leaders() -> None:
    r = clean_run()
    r.block(proposer="validator1", in_turn=False)  # validator1 is staked, but this slot is not its
    v = r.judge()
    assert v.invariants["legitimate_leaders"]["ok"] is False
    assert v.verdict == "red_won" and "legitimate_leaders" in v.reason
    bad = check(v, "legitimate_leaders").evidence
    assert len(bad) == 1 and bad[0]["proposer"] == ACCT["validator1"] and bad[0]["leader"] != ACCT["validator1"]


def test_in_turn_blocks_and_bonded_stake_are_followed() -> None:
    r = clean_run()
    bond = tx("bond", "light4", "light4", 400, kind=1)
    r.ev("intent", node=NAMES.index("light4"), tx="bond", sender=ACCT["light4"], receiver=ACCT["light4"],
         amount=400, fee=1, nonce=3, purpose="bond")
    r.block(bond)
    r.schedule_stakes = {**r.stakes, "light4": 400}  # the builder picks slots by these stakes from now on
    for _ in range(4):
        r.block(proposer="light4")
    v = r.judge()
    assert v.invariants["legitimate_leaders"]["ok"] is True, v.invariants["legitimate_leaders"]


def test_a_real_state_file_is_rechecked_against_its_own_signatures(tmp_path: Path) -> None:
    """States written by a real run carry what the referee needs to recheck them (header signature, transaction
    root, each transaction's signature); a state whose transaction was altered is not believed."""
    from arena.referee.checkers import judge_run_dir
    from arena.scenario.model import load_scenario
    from arena.sim.runner import run_battle

    root = Path(__file__).resolve().parent.parent
    sc = load_scenario(root / "scenarios" / "quickstart.yaml", [("duration", 30), ("settle", 8)])
    run_battle(sc, out_dir=tmp_path, report=False)
    clean = {c.name: c for c in judge_run_dir(tmp_path).checks}["states_verified"]
    assert clean.status == "valid", clean.detail
    path = tmp_path / "states" / "validator0.json"
    state = json.loads(path.read_text())
    block = next(b for b in state["chain"] if b["txs"])
    assert {"signature", "proposer_key", "tx_root", "votes"} <= set(block) and "signature" in block["txs"][0]
    assert any(b["votes"] for b in state["chain"]), "the votes counted for finality are recorded"
    block["txs"][0]["amount"] += 1000
    path.write_text(json.dumps(state))
    check = {c.name: c for c in judge_run_dir(tmp_path).checks}["states_verified"]
    assert check.status == "invalid" and "validator0" in check.detail
