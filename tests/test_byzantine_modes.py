"""Issue #13, point 8: ``byzantine_validator`` beyond equivocation. Each mode fires (evidence) and is either refused
by the honest validators (the bad block or transaction is in no honest validator's chain, and each of them recorded
a ``block_rejected`` with the rule that caught it) or counted by the referee (verdict or a broken invariant).

Battles are short versions of ``scenarios/attack_byzantine_validator.yaml`` (validator0 red, 20% of the stake)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from arena.plugin_host.import_check import check_plugin_source
from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle
from attacks.byzantine_validator import ByzantineValidatorParams

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "attack_byzantine_validator.yaml"
HONEST_VALIDATORS = (1, 2, 3, 4)


def plugin(mode: str, **params: Any) -> list[dict[str, Any]]:
    return [{"name": "byzantine_validator", "params": {"mode": mode, **params}}]


def battle(tmp_path: Path, mode: str, *, duration: int = 30, extra: list[tuple[str, Any]] | None = None,
           **params: Any) -> dict[str, Any]:
    overrides: list[tuple[str, Any]] = [("duration", duration), ("settle", 10),
                                        ("validators.0.plugins", plugin(mode, **params)), *(extra or [])]
    out = tmp_path / mode
    result = run_battle(load_scenario(SCENARIO, overrides), seed=1, out_dir=out).result
    result["run_dir"] = str(out)
    return result


def events(result: dict[str, Any], ev: str) -> list[dict[str, Any]]:
    with open(Path(result["run_dir"]) / "trace.jsonl", encoding="utf-8") as fh:
        return [e for e in map(json.loads, fh) if e.get("ev") == ev]


def state(result: dict[str, Any], name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(result["run_dir"]) / "states" / f"{name}.json").read_text())
    return data


def honest_chains(result: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    for i in HONEST_VALIDATORS:
        yield state(result, f"validator{i}")["chain"]


def evidence(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found = [e for e in result["evidence"] if e["kind"] == kind and e["plugin"] == "byzantine_validator"]
    assert found, f"no {kind} evidence: the mode never fired"
    return found


def assert_refused(result: dict[str, Any], bad_blocks: dict[str, str]) -> None:
    """Every honest validator rejected each block (hash -> expected reason) and no honest chain holds one."""
    rejected = {(e["node"], e["hash"]): e["reason"] for e in events(result, "block_rejected")}
    for block, reason in bad_blocks.items():
        for i in HONEST_VALIDATORS:
            assert rejected.get((i, block)) == reason, (i, block, rejected.get((i, block)))
    for chain in honest_chains(result):
        assert not {b["hash"] for b in chain} & set(bad_blocks)
    assert result["plugin_faults"] == []
    assert result["stolen"] == 0, result["stolen_by_kind"]
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert all(inv["ok"] is not False for inv in result["invariants"].values()), result["invariants"]


def check(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in result["checks"] if c["name"] == name)
    return found


def chain_tx_ids(chain: list[dict[str, Any]]) -> set[str]:
    return {t["id"] for b in chain for t in b["txs"]}


# -- fast ------------------------------------------------------------------------------------------------------------
def test_modes_are_parameters_and_the_default_is_equivocation() -> None:
    assert ByzantineValidatorParams().mode == "equivocate"
    for mode in ("equivocate", "mint", "overspend", "out_of_turn", "withhold_votes", "censor"):
        assert ByzantineValidatorParams(mode=mode).mode == mode
    with pytest.raises(ValidationError):
        ByzantineValidatorParams(mode="steal_everything")  # type: ignore[arg-type]
    path = ROOT / "attacks" / "byzantine_validator.py"
    assert check_plugin_source(path.read_text(encoding="utf-8"), str(path)) == []


def test_every_mode_loads_in_the_scenario() -> None:
    for mode in ("mint", "overspend", "out_of_turn", "withhold_votes", "censor"):
        sc = load_scenario(SCENARIO, [("validators.0.plugins", plugin(mode, victim=5))])
        assert sc is not None


# -- battles ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_mint_is_refused_by_the_state_root_and_the_transaction_rules(tmp_path: Path) -> None:
    result = battle(tmp_path, "mint", duration=50, attempts=4)  # red is active 5-40 s: it leads several slots
    fired = evidence(result, "byzantine_mint")
    assert {e["via"] for e in fired} == {"reward", "tx"}
    assert_refused(result, {e["block"]: "bad_state_root" if e["via"] == "reward" else "invalid_tx:unknown_kind"
                            for e in fired})
    minted_txs = {e["mint_tx"] for e in fired if e["mint_tx"]}
    for chain in honest_chains(result):
        assert not chain_tx_ids(chain) & minted_txs
    assert check(result, "minting")["status"] == "valid"
    assert state(result, "validator1")["minted"] == 10 * len(state(result, "validator1")["chain"])  # the rule only


@pytest.mark.slow
def test_overspend_is_refused_as_an_overdraft_and_buys_nothing(tmp_path: Path) -> None:
    result = battle(tmp_path, "overspend", duration=50, attempts=4)
    fired = evidence(result, "byzantine_overspend")
    assert len(fired) >= 2  # one per slot it leads after t = 5
    assert_refused(result, {e["block"]: "invalid_tx:overdraft" for e in fired})
    spent = {e["overspend_tx"] for e in fired}
    for chain in honest_chains(result):
        assert not chain_tx_ids(chain) & spent
    assert not [d for d in events(result, "delivery") if d["tx"] in spent], "goods shipped on the overspend"


@pytest.mark.slow
def test_out_of_turn_blocks_are_refused_as_wrong_leader(tmp_path: Path) -> None:
    result = battle(tmp_path, "out_of_turn", attempts=5)
    fired = evidence(result, "byzantine_out_of_turn")
    assert len(fired) == 5
    assert_refused(result, {e["block"]: "wrong_leader" for e in fired})
    assert result["invariants"]["legitimate_leaders"]["ok"] is True


@pytest.mark.slow
def test_withheld_votes_of_a_minority_do_not_stop_finality(tmp_path: Path) -> None:
    result = battle(tmp_path, "withhold_votes", extra=[("referee", {"max_delay": 15})])
    final = [e for e in evidence(result, "byzantine_withhold_votes") if e.get("final")]
    assert final and final[-1]["withheld"] >= 10
    assert result["plugin_faults"] == []
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert result["invariants"]["liveness"]["ok"] is True  # 80% of the stake still finalises
    assert min(state(result, f"validator{i}")["finalized_height"] for i in HONEST_VALIDATORS) >= 15


@pytest.mark.slow
def test_withheld_votes_of_more_than_a_third_are_counted_as_a_liveness_failure(tmp_path: Path) -> None:
    red = plugin("withhold_votes", start=3.0)
    result = battle(tmp_path, "withhold_votes", start=3.0,
                    extra=[("validators.1", {"team": "red", "plugins": red}), ("referee", {"max_delay": 10})])
    assert result["plugin_faults"] == []
    assert result["invariants"]["liveness"]["ok"] is False, result["invariants"]["liveness"]
    assert result["verdict"] == "red_won", result["verdict_reason"]
    # 60% of the stake is short of two thirds: nothing finalises from the start until the red plugins are
    # switched off for the settle period (t = 20), when the red validators vote again and the backlog finalises
    stalled = [e for e in events(result, "finalized") if e["node"] in (2, 3, 4) and 5.0 < e["t"] < 19.9]
    assert stalled == []


@pytest.mark.slow
def test_censorship_of_one_victim_is_routed_around(tmp_path: Path) -> None:
    victim = 5
    result = battle(tmp_path, "censor", duration=40, victim=victim, start=0.0,
                    extra=[("workload", {"rate": 4, "amount": [1, 20], "fee": 1, "purchases": 0.1}),
                           ("referee", {"max_delay": 15})])
    final = [e for e in evidence(result, "byzantine_censor") if e.get("final")]
    assert final and final[-1]["dropped"] >= 1 and final[-1]["victim"] == f"light{victim}"
    account = final[-1]["victim_account"]
    red = state(result, "validator0")["account"]
    intents = {e["tx"] for e in events(result, "intent") if e["node"] == victim}
    assert intents
    for chain in honest_chains(result):
        own = [t for b in chain if b["proposer"] == red for t in b["txs"]]
        assert own and not [t for t in own if t["sender"] == account], "the censor included a victim tx"
        included = chain_tx_ids(chain) & intents
        assert len(included) >= len(intents) - 2, "the honest validators include the victim's transactions"
    assert result["plugin_faults"] == []
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert result["invariants"]["liveness"]["ok"] is True
