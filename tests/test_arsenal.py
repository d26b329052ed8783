"""Issue #7's arsenal: every attack wins in its own scenario without a defense (with evidence), every defense stops
the attack it targets (stolen 0) at a measured cost, replay is the negative control, and an attack that never fires
leaves the verdict ``unknown``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arena.experiments.tournament import defense_overhead
from arena.plugin_api.adversary import Adversary, BudgetExceeded, TeamBudget, work_of
from arena.plugin_host.registry import default_registry
from arena.runtime.keys import derive_key
from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ATTACKS = {  # attack -> the kind of theft the referee scores
    "sybil": "double_spend",
    "eclipse": "double_spend",
    "byzantine_validator": "double_spend",
    "channel_fraud": "channel_fraud",
}
COST_SECONDS = 30  # how much of a battle a defense's cost is measured on (see the defense test)
#: The attacks that win well within the first 40 s of their 120 s battle (settle scaled to 10 s): there undefended,
#: they steal 100 (sybil), 150 (eclipse: the victim saw only red in 81% of 16 probes) and 100 (byzantine_validator),
#: twice the 50 asked or more (at 60 s: 150, 200, 150), and every defense shown against them still stops them (stolen
#: 0, evidence, blue_won). Their battles, with and without the defense, run those 40 s. The channel fraud steals
#: nothing in 60 s and the replays (from t=40) reach only 11 transfers: those and the watchtower run the whole battle.
SECONDS = {"attack_sybil": 40, "attack_eclipse": 40, "attack_byzantine_validator": 40}
DEFENSES = {  # defense -> the attack scenario it is shown against
    "costly_identity": "attack_sybil",
    "light_client_quorum": "attack_sybil",
    "peer_diversity": "attack_eclipse",
    "equivocation_slashing": "attack_byzantine_validator",
    "watchtower": "attack_channel_fraud",
}


def battle(name: str, tmp_path: Path, seed: int = 1, red: bool = True, **overrides: Any) -> dict[str, Any]:
    sc = load_scenario(SCENARIOS / f"{name}.yaml", list(overrides.items()))
    out = tmp_path / f"{name}-{seed}-{'red' if red else 'off'}"
    result = run_battle(sc, seed=seed, out_dir=out, red_enabled=red).result
    result["run_dir"] = str(out)
    return result


_RUNS: dict[tuple[Any, ...], dict[str, Any]] = {}


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, Any]]:
    """``battle``, run once per worker process: several tests read the same battle (a simulated battle is
    deterministic, so the second run would be the first again). Each test gets its own copy of the result; the run
    directory is shared and only read. Tests that share a battle are in one xdist group (``tests/conftest.py``),
    so they run on the same worker."""
    root = tmp_path_factory.mktemp("arsenal")

    def run(name: str, seed: int = 1, red: bool = True, **overrides: Any) -> dict[str, Any]:
        key = (name, seed, red, *sorted(overrides.items()))
        if key not in _RUNS:
            _RUNS[key] = battle(name, root / str(len(_RUNS)), seed, red, **overrides)
        return copy.deepcopy(_RUNS[key])

    return run


def run_attack(runs: Callable[..., dict[str, Any]], name: str, attack: str | None = None) -> dict[str, Any]:
    """The battle ``name`` (of attack scenario ``attack``, itself by default) with red on, over ``SECONDS``."""
    seconds = SECONDS.get(attack or name)
    return runs(name, duration=seconds) if seconds else runs(name)


def trace_events(result: dict[str, Any], ev: str) -> list[dict[str, Any]]:
    with open(Path(result["run_dir"]) / "trace.jsonl", encoding="utf-8") as fh:
        return [e for e in map(json.loads, fh) if e.get("ev") == ev]


def test_every_attack_names_a_scenario_that_exists() -> None:
    reg = default_registry()
    for name in [*ATTACKS, "replay", "double_spend"]:
        scenario = getattr(reg.get(name).cls, "scenario", None)
        assert scenario and (SCENARIOS / scenario).is_file(), name
    assert {*DEFENSES, "confirmation_depth"} <= {n for n, i in reg.plugins.items() if i.team == "blue"}


def shared(*values: str, group: str) -> Any:
    """Parameters whose battles other tests read too (see ``runs``): in the xdist group ``group``."""
    return [pytest.param(v, marks=pytest.mark.xdist_group(group)) for v in values]


@pytest.mark.slow
@pytest.mark.parametrize("attack", [*shared("eclipse", group="arsenal_eclipse"),
                                    *sorted(set(ATTACKS) - {"eclipse"})])
def test_attack_wins_undefended_with_evidence(attack: str, runs: Callable[..., dict[str, Any]]) -> None:
    result = run_attack(runs, f"attack_{attack}")
    assert result["plugin_faults"] == []
    assert result["verdict"] == "red_won", result["verdict_reason"]
    assert result["stolen"] >= 50
    assert result["stolen_by_kind"][ATTACKS[attack]] == result["stolen"]
    assert any(e["kind"] == attack and e["plugin"] == attack for e in result["evidence"])


@pytest.mark.slow
@pytest.mark.xdist_group("arsenal_eclipse")
def test_eclipse_evidence_is_the_share_of_time_the_victim_saw_only_red(runs: Callable[..., dict[str, Any]]) -> None:
    result = run_attack(runs, "attack_eclipse")
    share = [e for e in result["evidence"] if "share" in e]
    assert share and share[-1]["share"] >= 0.5 and share[-1]["probes"] >= 10


@pytest.mark.slow
def test_replay_fires_and_the_nonces_stop_it(runs: Callable[..., dict[str, Any]]) -> None:
    result = runs("attack_replay")
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert result["stolen"] == 0
    summary = [e for e in result["evidence"] if e["kind"] == "replay" and e.get("txs")]
    assert summary and summary[-1]["txs"] > 20 and summary[-1]["packets"] > 20
    stale = [e for e in trace_events(result, "tx_rejected") if e["reason"] == "stale_nonce"]
    assert len(stale) > 20, "replayed transfers reached validators and were refused by their nonces"


@pytest.mark.slow
@pytest.mark.parametrize("defense", [
    *shared("costly_identity", "light_client_quorum", group="arsenal_sybil"),  # both against attack_sybil
    *shared("equivocation_slashing", group="arsenal_slashing"),
    *sorted(set(DEFENSES) - {"costly_identity", "light_client_quorum", "equivocation_slashing"})])
def test_defense_stops_its_attack_and_reports_its_cost(defense: str, runs: Callable[..., dict[str, Any]],
                                                       record_property: Any) -> None:
    result = run_attack(runs, f"defense_{defense}", DEFENSES[defense])
    assert result["plugin_faults"] == []
    assert result["stolen"] == 0, result["stolen_by_kind"]
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert result["evidence"], "the attack still fired"
    # the cost of the defense alone: the same battle with the red team off, with and without it, over its first
    # COST_SECONDS (honest traffic only, the same all through: over the whole 120 s the figures are alike, a
    # throughput ratio within 1.0 +- 0.15 and a latency difference within +- 0.03 s, far inside the bounds below;
    # over 30 s or 60 s every defense here shows a ratio of 1 and a difference within +- 0.011 s)
    cost = defense_overhead(runs(f"defense_{defense}", red=False, duration=COST_SECONDS),
                            runs(DEFENSES[defense], red=False, duration=COST_SECONDS))
    record_property("throughput_ratio", cost["throughput"]["ratio"])
    record_property("latency_diff", cost["latency_mean"]["diff"])
    assert cost["throughput"]["ratio"] is not None and cost["throughput"]["ratio"] > 0.8
    assert cost["latency_mean"]["diff"] is not None and cost["latency_mean"]["diff"] < 1.0


@pytest.mark.slow
@pytest.mark.xdist_group("arsenal_slashing")
def test_slashing_burns_only_the_equivocator(runs: Callable[..., dict[str, Any]]) -> None:
    result = run_attack(runs, "defense_equivocation_slashing", "attack_byzantine_validator")
    slashes = [e for e in trace_events(result, "plugin") if e.get("event") == "slash"]
    red = {e["account"] for e in trace_events(result, "identity")} | {
        acct for name, acct in trace_events(result, "genesis")[0]["accounts"].items() if name == "validator0"}
    assert slashes and all(s["offender"] in red for s in slashes), "no false positives"
    assert "validator0" not in result["stakes"], "its stake was burned"


@pytest.mark.slow
def test_an_attack_that_never_fires_is_unknown(tmp_path: Path) -> None:
    result = battle("attack_sybil", tmp_path, duration=40, settle=10,
                    **{"light_nodes.9.plugins": [{"name": "sybil", "params": {"start": 1000}}]})
    assert result["evidence"] == []
    assert result["verdict"] == "unknown"
    assert "never fired" in result["verdict_reason"]


class _Host:
    """Just enough of an AdversaryHost to make identities."""

    seed, index, name = 1, 3, "light3"
    key = derive_key(1, "node:3")

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, ev: str, **fields: Any) -> None:
        self.events.append((ev, fields))


def test_proof_of_work_identities_cost_budget() -> None:
    host = _Host()
    adv = Adversary(host, TeamBudget(sybils=64, cost=0))  # type: ignore[arg-type]
    cheap = adv.create_identity()
    assert adv._budget.used == 1
    worked = adv.create_identity(work=3)
    assert work_of(worked.public_key) >= 3
    assert host.events[-1][1]["tries"] == adv._budget.used - 1 >= 1
    assert cheap.account != worked.account
    with pytest.raises(BudgetExceeded):
        adv.create_identity(work=12)  # ~4096 keys expected: far beyond what is left of the budget


def test_a_plugin_names_the_node_behind_an_address() -> None:
    """Plugins see names, not addresses: ``name_of`` / ``contact_at`` map a packet's address to the node there."""
    from arena.plugin_api.adversary import Contact

    class Known(_Host):
        def contacts(self) -> list[Contact]:
            return [Contact("validator0", "validator", ("127.0.0.1", 9000), b"a" * 20, b"k0"),
                    Contact("merchant0", "merchant", ("127.0.0.2", 9001), b"b" * 20, b"k1", 50)]

    adv = Adversary(Known(), TeamBudget(sybils=0, cost=0))  # type: ignore[arg-type]
    assert adv.name_of(("127.0.0.2", 9001)) == "merchant0"
    assert adv.name_of(("127.0.0.1", 9000)) == "validator0"
    contact = adv.contact_at(("127.0.0.2", 9001))
    assert contact is not None and contact.price == 50
    assert adv.name_of(("127.0.0.1", 9001)) is None  # same host, nobody on that port
    assert adv.contact_at(("10.0.0.1", 1)) is None
