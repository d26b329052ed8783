"""The referee on hand-built histories (no simulation): each kind of theft with a known amount, the invariants,
plugin faults, the undecidable cases, run directories, merging live machines' directories, baseline comparison and
the CLI."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.cli.judge import judge_cmd
from arena.referee.baseline import compare
from arena.referee.checkers import STOLEN_KINDS, VERDICTS, Verdict, judge, judge_run_dir
from arena.referee.history import History, load_history
from honest.pos import leader as pos_leader

BLUE_VALIDATORS = ["validator0", "validator1", "validator2"]
NAMES = [*BLUE_VALIDATORS, "validator3", "light4", "light5", "light6", "merchant7"]
TEAMS = {n: "red" if n in ("validator3", "light6") else "blue" for n in NAMES}
ROLES = {n: n.rstrip("0123456789") for n in NAMES}
ACCT = {n: f"{i:02x}" * 20 for i, n in enumerate(NAMES)}
SYBIL = "ee" * 20
REWARD = 10
PRICE = 50


GENESIS = "00" * 32


def block_hash(height: int, salt: str = "") -> str:
    return hashlib.sha256(f"block {height}{salt}".encode()).hexdigest()


def tx(txid: str, sender: str, receiver: str, amount: int, fee: int = 1, nonce: int = 1, kind: int = 0
       ) -> dict[str, Any]:
    s = ACCT.get(sender, sender)
    r = ACCT.get(receiver, receiver)
    return {"id": txid, "kind": kind, "sender": s, "receiver": r, "amount": amount, "fee": fee, "nonce": nonce}


class Run:
    """A small battle written by hand: genesis, a chain of blocks, intents, finality, and the validators' states."""

    def __init__(self, teams: dict[str, str] | None = None) -> None:
        self.teams = dict(teams or TEAMS)
        self.balances = {n: 1000 for n in NAMES if n.startswith("light")}
        self.stakes = {n: 100 for n in NAMES if n.startswith("validator")}
        self.header: dict[str, Any] = {"format": 1, "seed": 1, "scenario": "hand", "backend": "sim",
                                       "red_enabled": True}
        self.genesis_extra: dict[str, Any] = {}
        self.blocks: list[dict[str, Any]] = []
        self.nonces: dict[str, int] = {}
        self.schedule_stakes: dict[str, int] | None = None  # stakes the leader schedule uses (None: genesis)
        self.events: list[dict[str, Any]] = []
        self.t = 1.0

    # -- building ---------------------------------------------------------------------------------------------------
    def ev(self, ev: str, t: float | None = None, **fields: Any) -> dict[str, Any]:
        e = {"t": self.t if t is None else t, "ev": ev, **fields}
        self.events.append(e)
        return e

    def pay(self, txid: str, sender: str, receiver: str, amount: int, fee: int = 1, purpose: str = "transfer"
            ) -> dict[str, Any]:
        """An honest intent (recorded by the sender) that gets into the next block."""
        t = tx(txid, sender, receiver, amount, fee)
        self.ev("intent", node=NAMES.index(sender), tx=txid, sender=t["sender"], receiver=t["receiver"],
                amount=amount, fee=fee, nonce=1, purpose=purpose)
        return t

    def block(self, *txs: dict[str, Any], proposer: str = "validator0", finalize_after: float = 0.5,
              in_turn: bool = True) -> None:
        """A block by ``proposer`` in the first later slot it leads (``in_turn=False``: the first it does not)."""
        height = len(self.blocks) + 1
        h = block_hash(height)
        parent = self.blocks[-1]["hash"] if self.blocks else GENESIS
        slot = (self.blocks[-1]["slot"] if self.blocks else 0) + 1
        acct = ACCT.get(proposer, proposer)
        sched = self.stakes if self.schedule_stakes is None else self.schedule_stakes
        stakes = {bytes.fromhex(ACCT[n]): s for n, s in sched.items()}
        if proposer in sched or not in_turn:
            while (pos_leader(stakes, bytes.fromhex(parent), slot) == bytes.fromhex(acct)) != in_turn:
                slot += 1
        for t in txs:  # each sender's nonces count up along the chain
            t["nonce"] = self.nonces[t["sender"]] = self.nonces.get(t["sender"], 0) + 1
        self.blocks.append({"hash": h, "height": height, "slot": slot, "proposer": acct, "txs": list(txs)})
        self.t += finalize_after
        self.ev("finalized", node=0, height=height, hash=h)
        self.t += 0.5

    def evidence(self, node: int = 6) -> None:
        self.ev("evidence", node=node, plugin="double_spend", kind="double_spend", detail="sent two payments")

    def fault(self, node: str = "light6", plugin: str = "double_spend", hook: str = "arena_tick",
              error: str = "KeyError: 'nope'", where: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        """A plugin fault as the hook caller records it (``fields``: other or more fields)."""
        f: dict[str, Any] = {"node": NAMES.index(node), "node_name": node, "plugin": plugin,
                             "team": self.teams[node], "hook": hook, "kind": "exception", "error": error,
                             "where": ["attacks/double_spend.py:41", "attacks/double_spend.py:57"]
                             if where is None else where}
        f.update(fields)
        return self.ev("plugin_fault", **f)

    # -- outputs --------------------------------------------------------------------------------------------------
    def genesis(self) -> dict[str, Any]:
        return {"t": 0.0, "ev": "genesis", "accounts": dict(ACCT), "balances": dict(self.balances),
                "stakes": dict(self.stakes), "teams": self.teams, "roles": dict(ROLES), "reward": REWARD,
                "mode": "pos", **self.genesis_extra}

    def all_events(self) -> list[dict[str, Any]]:
        return [self.genesis(), *sorted(self.events, key=lambda e: e["t"])]

    def ledger(self, blocks: list[dict[str, Any]]) -> tuple[dict[str, dict[str, int]], int]:
        led: dict[str, dict[str, int]] = {}

        def row(a: str) -> dict[str, int]:
            return led.setdefault(a, {"balance": 0, "nonce": 0, "stake": 0})

        for n, amount in self.balances.items():
            row(ACCT[n])["balance"] += amount
        for n, stake in self.stakes.items():
            row(ACCT[n])["stake"] += stake
        for b in blocks:
            for t in b["txs"]:
                row(t["sender"])["balance"] -= t["amount"] + t["fee"]
                row(t["sender"])["nonce"] += 1
                row(t["receiver"])["balance"] += t["amount"]
                row(b["proposer"])["balance"] += t["fee"]
            row(b["proposer"])["balance"] += REWARD
        return led, sum(r["balance"] + r["stake"] for r in led.values())

    def state(self, name: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        blocks = self.blocks if blocks is None else blocks
        ledger, supply = self.ledger(blocks)
        genesis_supply = sum(self.balances.values()) + sum(self.stakes.values())
        top: dict[str, Any] = blocks[-1] if blocks else {"hash": "00", "height": 0}
        return {"name": name, "index": NAMES.index(name), "role": "validator", "team": self.teams[name],
                "account": ACCT[name], "up": True, "head": top["hash"], "head_height": top["height"],
                "finalized": top["hash"], "finalized_height": top["height"], "ledger": ledger, "supply": supply,
                "minted": REWARD * len(blocks), "burned": 0, "genesis_supply": genesis_supply, "forks_seen": 0,
                "chain": copy.deepcopy(blocks)}

    def states(self) -> list[dict[str, Any]]:
        return [self.state(n) for n in NAMES if n.startswith("validator")]

    def judge(self, states: list[dict[str, Any]] | None = None) -> Verdict:
        return judge(self.header, self.all_events(), self.states() if states is None else states)


def clean_run() -> Run:
    """Three honest transfers in three blocks; the red team's attack fired and achieved nothing."""
    r = Run()
    r.evidence()
    r.block(r.pay("aa01", "light4", "light5", 10))
    r.block(r.pay("aa02", "light5", "light4", 20), proposer="validator1")
    r.block(r.pay("aa03", "light4", "merchant7", PRICE, purpose="purchase"), proposer="validator3")
    return r


def minted_states(r: Run, name: str, amount: int) -> list[dict[str, Any]]:
    """The run's validator states with ``amount`` tokens minted into ``name``'s balance on every one of them."""
    states = r.states()
    for s in states:
        s["ledger"][ACCT[name]]["balance"] += amount
        s["supply"] += amount
        s["minted"] += amount
    return states


def check(v: Verdict, name: str) -> Any:
    return next(c for c in v.checks if c.name == name)


# ================================================ verdicts ========================================================
def test_clean_run_blue_won_with_all_kinds_zero_and_latency() -> None:
    v = clean_run().judge()
    assert v.verdict == "blue_won", v.reason
    assert v.stolen == 0 and v.honest_loss == 0
    assert v.stolen_by_kind == dict.fromkeys(STOLEN_KINDS, 0)
    assert all(v.invariants[k]["ok"] is True for k in ("supply", "no_negative_balance",
                                                        "finalized_prefix_agreement", "legitimate_leaders"))
    assert v.invariants["liveness"]["ok"] is None  # no max_delay: no judgement
    assert v.latency["count"] == 3 and v.latency["unconfirmed"] == 0
    assert v.latency["mean"] == pytest.approx(0.5) and v.latency["max"] == pytest.approx(0.5)
    assert len(v.evidence) == 1
    res = v.as_result()
    assert set(res) >= {"verdict", "verdict_reason", "stolen", "stolen_by_kind", "honest_loss", "invariants",
                        "evidence", "checks", "latency"}
    json.dumps(res)  # JSON-ready


def test_double_spend_counts_only_unpaid_deliveries_to_red_or_unknown_buyers() -> None:
    r = clean_run()
    r.block(tx("aa04", "light6", "merchant7", PRICE))  # the red buyer's own payment
    m = NAMES.index("merchant7")
    r.ev("delivery", node=m, order=1, tx="dd01", buyer=ACCT["light6"], value=PRICE, amount=PRICE)  # unpaid, red
    r.ev("delivery", node=m, order=1, tx="dd01", buyer=ACCT["light6"], value=PRICE, amount=PRICE)  # same, once
    r.ev("delivery", node=m, order=2, tx="dd02", buyer=SYBIL, value=PRICE, amount=PRICE)  # unpaid, Sybil
    r.ev("delivery", node=m, order=3, tx="aa04", buyer=ACCT["light6"], value=PRICE, amount=PRICE)  # paid on chain
    r.ev("delivery", node=m, order=4, tx="dd04", buyer=ACCT["light4"], value=PRICE, amount=PRICE)  # blue buyer
    r.ev("delivery", node=NAMES.index("light6"), order=5, tx="dd05", buyer=ACCT["light6"], value=999)  # red node
    v = r.judge()
    assert v.verdict == "red_won"
    assert v.stolen_by_kind["double_spend"] == 2 * PRICE
    assert v.stolen == 2 * PRICE and v.honest_loss == 0
    assert {e["tx"] for e in check(v, "double_spend").evidence} == {"dd01", "dd02"}


def test_double_spend_zero_when_payment_is_finalised() -> None:
    r = clean_run()
    r.block(tx("aa04", "light6", "merchant7", PRICE))
    r.ev("delivery", node=NAMES.index("merchant7"), order=1, tx="aa04", buyer=ACCT["light6"], value=PRICE)
    v = r.judge()
    assert v.verdict == "blue_won" and v.stolen_by_kind["double_spend"] == 0


def test_forgery_counts_debits_no_blue_node_intended() -> None:
    r = clean_run()
    r.block(tx("ff01", "light4", "light6", 30, fee=1), tx("ff02", "light5", "light4", 5, fee=1))
    v = r.judge()
    assert v.verdict == "red_won"
    assert v.stolen_by_kind["forgery"] == 30  # only the debit paid to red counts as stolen
    assert v.honest_loss == 31 + 6  # but both forged debits (amount + fee) are blue losses
    assert {e["id"] for e in check(v, "forgery").evidence} == {"ff01", "ff02"}


def test_red_intents_do_not_make_a_forgery_honest() -> None:
    r = clean_run()
    forged = tx("ff01", "light4", "light6", 30)
    r.ev("intent", node=NAMES.index("light6"), tx="ff01", sender=ACCT["light4"], receiver=ACCT["light6"],
         amount=30, fee=1, nonce=2, purpose="transfer")
    r.block(forged)
    assert r.judge().stolen_by_kind["forgery"] == 30


def channel_events(r: Run, settled_seq: int, paid_a: int, paid_b: int, closer: str = "light6",
                   disputed: bool = False) -> None:
    a, b = ACCT["light4"], ACCT["light6"]
    r.ev("channel_signed", node=NAMES.index("light4"), channel="c1", seq=2, a=a, b=b, balance_a=90, balance_b=10)
    r.ev("channel_signed", node=NAMES.index("light4"), channel="c1", seq=5, a=a, b=b, balance_a=40, balance_b=60)
    r.ev("channel_signed", node=NAMES.index("light6"), channel="c1", seq=9, a=a, b=b, balance_a=0, balance_b=100)
    r.ev("channel_settled", node=0, channel="c1", a=a, b=b, closer=ACCT[closer], seq=settled_seq,
         balance_a=paid_a, balance_b=paid_b, disputed=disputed, paid_a=paid_a, paid_b=paid_b)


def test_channel_fraud_red_closer_on_outdated_state() -> None:
    r = clean_run()
    channel_events(r, settled_seq=2, paid_a=10, paid_b=90)  # the honest party signed seq 5 (b: 60)
    v = r.judge()
    assert v.verdict == "red_won"
    assert v.stolen_by_kind["channel_fraud"] == 30  # 90 paid - 60 in the latest honest-signed state
    assert v.honest_loss == 30


@pytest.mark.parametrize(("seq", "paid_a", "paid_b", "closer", "disputed"), [
    (5, 40, 60, "light6", False),  # settled on the latest honest state
    (2, 100, 0, "light6", True),  # disputed: the honest party took the channel
    (2, 10, 90, "light4", False),  # the blue party closed (its own choice)
])
def test_channel_fraud_zero(seq: int, paid_a: int, paid_b: int, closer: str, disputed: bool) -> None:
    r = clean_run()
    channel_events(r, seq, paid_a, paid_b, closer, disputed)
    v = r.judge()
    assert v.stolen_by_kind["channel_fraud"] == 0 and v.verdict == "blue_won", v.reason


def test_minting_counts_money_beyond_rewards() -> None:
    r = clean_run()
    states = r.states()
    for s in states:
        s["ledger"][ACCT["light6"]]["balance"] += 500
        s["supply"] += 500
        s["minted"] += 500  # the nodes' counters agree with themselves: only the reward schedule shows it
    v = r.judge(states)
    assert v.verdict == "red_won"
    assert v.stolen_by_kind["minting"] == 500
    assert v.invariants["supply"]["ok"] is True
    assert "red team gained at least" in check(v, "minting").detail


def test_minting_counted_even_when_blue_holds_the_excess() -> None:
    r = clean_run()
    v = r.judge(minted_states(r, "light5", 70))
    assert v.stolen_by_kind["minting"] == 70
    assert "counted anyway" in check(v, "minting").detail


@pytest.mark.parametrize("broken", ["negative", "conflict", "leader", "supply"])
def test_safety_invariant_violations_mean_red_won(broken: str) -> None:
    r = clean_run()
    states = r.states()
    if broken == "negative":
        for s in states:
            s["ledger"][ACCT["light5"]]["balance"] = -5
    elif broken == "conflict":
        other = copy.deepcopy(r.blocks)
        other[-1]["hash"] = block_hash(len(other), "fork")
        states[1], states[2] = r.state("validator1", other), r.state("validator2", other)
    elif broken == "leader":
        r.block(proposer="light6")
        states = r.states()
    else:
        states[0]["supply"] += 1
    v = r.judge(states)
    expected = {"negative": "no_negative_balance", "conflict": "finalized_prefix_agreement",
                "leader": "legitimate_leaders", "supply": "supply"}[broken]
    assert v.invariants[expected]["ok"] is False
    assert v.verdict == "red_won" and expected in v.reason


def test_liveness_with_max_delay() -> None:
    r = clean_run()
    r.genesis_extra = {"max_delay": 2.0, "duration": 100.0}
    r.pay("aa10", "light4", "light5", 1)  # never finalised, long before the end: a violation
    assert r.judge().verdict == "red_won"
    r2 = clean_run()
    r2.genesis_extra = {"max_delay": 2.0, "duration": r2.t + 1.0}
    r2.pay("aa10", "light4", "light5", 1)  # too recent to judge
    r2.ev("tx_rejected", node=0, tx="aa10", reason="overdraft")
    v = r2.judge()
    assert v.invariants["liveness"]["ok"] is True and v.verdict == "blue_won"
    assert v.latency["unconfirmed"] == 1


# ================================================ plugin faults ===================================================
RED_FAULT = "red plugin double_spend faulted in arena_tick at attacks/double_spend.py:57 (KeyError: 'nope')"


def test_red_fault_without_theft_is_faulted_not_blue_won() -> None:
    r = clean_run()
    ev = r.fault()
    v = r.judge()
    assert v.verdict == "faulted", v.reason
    assert v.reason == f"{RED_FAULT}; it was disabled, so this battle says nothing about the defense"
    assert v.faults == [{k: val for k, val in ev.items() if k != "ev"}]
    assert v.as_result()["plugin_faults"] == v.faults  # result.json's key, the same dicts as the trace event's
    assert check(v, "plugin_faults").status == "invalid"
    assert not v.held


def test_red_fault_with_theft_is_still_red_won() -> None:
    r = forged_run()
    r.fault()
    v = r.judge()
    assert v.verdict == "red_won" and v.stolen == 30 + PRICE
    assert "1 plugin faults" in v.reason and "attacks/double_spend.py:57" in v.reason
    r2 = clean_run()
    r2.fault()
    states = r2.states()
    states[0]["supply"] += 1  # a broken safety invariant, nothing stolen
    v2 = r2.judge(states)
    assert v2.verdict == "red_won" and "supply" in v2.reason and "plugin faults" in v2.reason


def test_blue_fault_without_theft_is_faulted() -> None:
    r = clean_run()
    r.fault("merchant7", plugin="watchtower", hook="arena_incoming_message", kind="bad_return",
            error="bad return: expected None or InMessage, got int", where=["defenses/watchtower.py:12"])
    r.fault("light6")
    v = r.judge()
    assert v.verdict == "faulted"
    assert v.reason.startswith("blue plugin watchtower faulted in arena_incoming_message at "
                               "defenses/watchtower.py:12 (bad return: expected None or InMessage, got int) +1 more;")
    assert [f["team"] for f in v.faults] == ["blue", "red"]


def test_no_fault_leaves_verdicts_unchanged() -> None:
    v = clean_run().judge()
    assert v.verdict == "blue_won" and v.faults == [] and v.as_result()["plugin_faults"] == []
    assert check(v, "plugin_faults").status == "valid"
    assert v.held
    assert forged_run().judge().verdict == "red_won"
    r = clean_run()
    r.events = [e for e in r.events if e["ev"] != "evidence"]
    assert r.judge().verdict == "unknown"
    assert set(VERDICTS) == {"red_won", "blue_won", "faulted", "unknown"}


def test_old_fault_events_get_their_team_from_the_genesis_event() -> None:
    r = clean_run()
    old = r.fault()
    for key in ("node_name", "team", "kind", "where"):  # an old run: node, plugin, hook and error only
        del old[key]
    r.genesis_extra = {"plugins": {"light6": ["double_spend"], "merchant7": ["watchtower"]}}
    r.ev("plugin_fault", plugin="watchtower", hook="arena_tick", error="ValueError: x")  # no node at all
    v = r.judge()
    assert v.verdict == "faulted"
    first, second = v.faults
    assert (first["node_name"], first["team"], first["kind"], first["where"]) == ("light6", "red", "exception", [])
    assert v.reason.startswith("red plugin double_spend faulted in arena_tick (KeyError: 'nope') +1 more;")
    assert (second["node_name"], second["team"]) == ("", "blue")  # the only node the genesis lists it on is blue


def test_verdict_reads_back_from_result_json() -> None:
    r = forged_run()
    r.fault()
    v = r.judge()
    back = Verdict.from_result(json.loads(json.dumps(v.as_result())))
    assert back is not None and back.as_result() == json.loads(json.dumps(v.as_result()))
    assert back.broken == v.broken and back.faults == v.faults
    assert Verdict.from_result({"scenario": "pingpong"}) is None


# ================================================ undecidable ======================================================
def test_attack_never_fired_is_unknown() -> None:
    r = clean_run()
    r.events = [e for e in r.events if e["ev"] != "evidence"]
    v = r.judge()
    assert v.verdict == "unknown" and "never fired" in v.reason


def test_no_red_team_is_unknown() -> None:
    r = Run(teams=dict.fromkeys(NAMES, "blue"))
    r.block(r.pay("aa01", "light4", "light5", 10))
    v = r.judge()
    assert v.verdict == "unknown" and v.reason == "no red team"


def test_baseline_run_is_unknown() -> None:
    r = clean_run()
    r.header["red_enabled"] = False
    r.events = [e for e in r.events if e["ev"] != "evidence"]
    assert "baseline" in r.judge().reason


def test_no_honest_validator_is_unknown() -> None:
    r = clean_run()
    red_only = [s for s in r.states() if s["team"] == "red"]
    v = r.judge(red_only)
    assert v.verdict == "unknown" and "no honest validator state" in v.reason
    assert r.judge([]).verdict == "unknown"


def test_malformed_state_is_not_believed_and_never_an_exception() -> None:
    r = clean_run()
    states = r.states()
    states[0]["chain"] = [None]
    v = r.judge(states)  # judged on the two other honest validators; the check says why one was left out
    assert v.verdict == "blue_won", v.reason
    assert check(v, "states_verified").status == "invalid" and "validator0" in check(v, "states_verified").detail
    for s in states:
        s["chain"] = [None]
    assert r.judge(states).verdict == "unknown"
    assert judge({}, [{"ev": "genesis", "teams": 5}], [{"name": 1}]).verdict == "unknown"


def test_day1_mode_cannot_match_payments() -> None:
    r = clean_run()
    r.ev("delivery", node=NAMES.index("merchant7"), order=1, tx="dd01", buyer=ACCT["light6"], value=PRICE)
    states = [r.state(n, []) for n in NAMES if n.startswith("validator")]
    for s in states:
        del s["chain"]
        s["applied"] = 3
    v = r.judge(states)
    assert v.verdict == "unknown" and "cannot decide" in v.reason
    assert check(v, "double_spend").status == "unknown"


def test_red_states_are_never_trusted() -> None:
    r = clean_run()
    states = r.states()
    liar = r.state("validator3", [*r.blocks, {"hash": "evil", "height": 4, "slot": 4, "proposer": ACCT["light6"],
                                              "txs": [tx("ff01", "light4", "light6", 500)]}])
    liar["team"] = "blue"  # claims to be blue; the genesis event says otherwise
    liar["finalized_height"] = 99
    v = r.judge([*states, liar])
    assert v.verdict == "blue_won" and v.stolen == 0


# ================================================ run directories =================================================
def write_dir(path: Path, header: dict[str, Any], events: list[dict[str, Any]], states: list[dict[str, Any]]
              ) -> Path:
    (path / "states").mkdir(parents=True)
    lines = [json.dumps(header), *(json.dumps(e) for e in events)]
    (path / "trace.jsonl").write_text("\n".join(lines) + "\n")
    for s in states:
        (path / "states" / f"{s['name']}.json").write_text(json.dumps(s))
    return path


def forged_run() -> Run:
    r = clean_run()
    r.block(tx("ff01", "light4", "light6", 30))
    r.ev("delivery", node=NAMES.index("merchant7"), order=1, tx="dd01", buyer=ACCT["light6"], value=PRICE)
    return r


def test_judge_run_dir_matches_judge(tmp_path: Path) -> None:
    r = forged_run()
    d = write_dir(tmp_path / "run", r.header, r.all_events(), r.states())
    from_dir = judge_run_dir(d)
    assert from_dir.as_result() == r.judge().as_result()
    assert from_dir.stolen == 30 + PRICE
    missing = judge_run_dir(tmp_path / "nowhere")
    assert missing.verdict == "unknown" and missing.reason.startswith("referee error")


def test_history_is_one_derivation_of_the_run_dir(tmp_path: Path) -> None:
    r = forged_run()
    d = write_dir(tmp_path / "run", r.header, r.all_events(), r.states())
    h = load_history(d)
    assert isinstance(h, History) and h.problems == [] and h.path == d
    direct = History(r.header, r.all_events(), r.states())
    assert h.teams == direct.teams and h.canon == direct.canon and h.faults == direct.faults
    assert h.counts == direct.counts


def test_damaged_files_are_never_judged(tmp_path: Path) -> None:
    """A cut trace could hide a theft: unknown, not blue_won, and the reason says why."""
    r = clean_run()
    d = write_dir(tmp_path / "cut", r.header, r.all_events(), r.states())
    with (d / "trace.jsonl").open("a") as fh:
        fh.write('{"t": 99.0, "ev": "deliv')
    v = judge_run_dir(d)
    assert v.verdict == "unknown" and "1 unreadable lines" in v.reason and "damaged" in v.reason
    (d / "trace.jsonl").write_text((d / "trace.jsonl").read_text().rsplit("\n", 1)[0] + "\n")
    assert judge_run_dir(d).verdict == "blue_won"
    (d / "states" / "validator1.json").write_text("{")
    assert judge_run_dir(d).verdict == "unknown"


def test_merge_dirs_ignores_red_states_and_keeps_first_blue(tmp_path: Path) -> None:
    r = forged_run()
    events = r.all_events()
    states = r.states()
    genesis, rest = events[0], events[1:]
    half = len(rest) // 2
    a = write_dir(tmp_path / "a", r.header, [genesis, *rest[:half]], states[:2])
    tampered = r.state("validator0", r.blocks[:1])  # an older view of validator0: must not override
    red = r.state("validator3", [])
    red["ledger"][ACCT["light6"]] = {"balance": 10**9, "nonce": 0, "stake": 0}
    red["supply"] += 10**9
    b = write_dir(tmp_path / "b", r.header, [genesis, *rest[half:]], [tampered, states[2], red])
    merged = judge_run_dir(a, [b])
    assert merged.as_result() == r.judge(states[:3]).as_result()
    assert merged.stolen_by_kind["minting"] == 0


# ================================================ baseline and CLI ================================================
def test_compare() -> None:
    attacked = {"stolen": 150, "virtual_seconds": 100, "latency": {"count": 50, "mean": 2.0},
                "messages": {"sent": 3000}}
    baseline = {"stolen": 0, "virtual_seconds": 100, "latency": {"count": 100, "mean": 0.5},
                "messages": {"sent": 1000}}
    c = compare(attacked, baseline)
    assert c["stolen"] == {"attacked": 150, "baseline": 0, "diff": 150, "ratio": None}
    assert c["throughput"] == {"attacked": 0.5, "baseline": 1, "diff": -0.5, "ratio": 0.5}
    assert c["latency_mean"]["diff"] == 1.5 and c["latency_mean"]["ratio"] == 4
    assert c["messages_sent"]["ratio"] == 3
    empty = compare({}, {})
    assert empty["throughput"]["ratio"] is None and empty["latency_mean"]["diff"] is None


def test_cli_judge_writes_result_and_exit_codes(tmp_path: Path) -> None:
    r = forged_run()
    d = write_dir(tmp_path / "run", r.header, r.all_events(), r.states())
    (d / "result.json").write_text(json.dumps({"scenario": "hand", "verdict": "stale"}))
    res = CliRunner().invoke(judge_cmd, [str(d)])
    assert res.exit_code == 0, res.output  # judged: 0 whatever the verdict
    assert "red_won" in res.output
    written = json.loads((d / "result.json").read_text())
    assert written["scenario"] == "hand" and written["verdict"] == "red_won" and written["stolen"] == 30 + PRICE

    c = clean_run()
    d2 = write_dir(tmp_path / "clean", c.header, c.all_events(), c.states())
    res = CliRunner().invoke(judge_cmd, [str(d2)])
    assert res.exit_code == 0, res.output
    assert json.loads((d2 / "result.json").read_text())["verdict"] == "blue_won"

    f = clean_run()
    f.fault()
    d3 = write_dir(tmp_path / "faulted", f.header, f.all_events(), f.states())
    res = CliRunner().invoke(judge_cmd, [str(d3)], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "faulted" in res.output and "attacks/double_spend.py:57" in res.output and "KeyError" in res.output
    assert json.loads((d3 / "result.json").read_text())["plugin_faults"][0]["hook"] == "arena_tick"

    assert CliRunner().invoke(judge_cmd, [str(tmp_path / "nowhere")]).exit_code == 2
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(judge_cmd, [str(tmp_path / "empty")]).exit_code == 2
    assert CliRunner().invoke(judge_cmd, [str(d), "--merge", str(tmp_path / "empty")]).exit_code == 2
