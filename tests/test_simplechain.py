"""The simplechain example (examples/simplechain/): a second implementation runs in battles, and the undefended
day-4 double spend beats it, while the blue defense (through its ``payment_confirmed`` hook) stops it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.cli.main import main
from arena.plugin_host.registry import default_registry
from arena.protocols.registry import resolve
from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "simplechain"
PROTOCOL = str(EXAMPLE / "simplechain.py")


def arena_run(scenario: Path, out: Path) -> dict[str, Any]:
    res = CliRunner().invoke(main, ["run", str(scenario), "--protocol", PROTOCOL, "--out", str(out), "--no-report",
                                    "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    result: dict[str, Any] = json.loads(res.stdout)
    return result


def test_the_example_battle_runs(tmp_path: Path) -> None:
    sc = load_scenario(EXAMPLE / "battle.yaml")
    outcome = run_battle(sc, out_dir=tmp_path, registry=default_registry(), report=False,
                         protocol=resolve(PROTOCOL))
    r = outcome.result
    assert r["protocol"] == "simplechain"
    assert r["validators_agree"] is True
    assert all(v["ok"] is True for v in r["invariants"].values()), r["invariants"]
    assert r["finalized_height"] > 30  # 60 slots of 1 s, 3-deep finality
    assert r["invariants"]["liveness"]["finalised"] > 100
    assert r["stolen"] == 0
    merchant = json.loads((tmp_path / "states" / "merchant12.json").read_text())
    assert merchant["delivered"]  # purchases were paid and delivered
    for state in (tmp_path / "states").glob("*.json"):
        assert json.loads(state.read_text())["wire"]["violations"] == {}


def test_the_undefended_double_spend_is_a_red_win(tmp_path: Path) -> None:
    r = arena_run(ROOT / "scenarios" / "day4_double_spend.yaml", tmp_path)
    assert r["verdict"] == "red_won"
    assert r["stolen"] > 0 and r["stolen_by_category"]["unpaid_goods"] == r["stolen"]
    assert r["plugin_faults"] == []
    assert r["stolen_by_plugin"] == {"double_spend": r["stolen"]}


@pytest.mark.slow  # a full double-spend battle
def test_the_confirmation_defense_acts_on_it_through_its_hook(tmp_path: Path) -> None:
    r = arena_run(ROOT / "scenarios" / "day4_double_spend_defended.yaml", tmp_path)
    assert r["verdict"] == "blue_won", r["verdict_reason"]
    assert r["stolen"] == 0 and r["plugin_faults"] == []
    trace = (tmp_path / "trace.jsonl").read_text()
    assert trace.count('"ev":"delivery"') + trace.count('"ev": "delivery"') > 0  # it still sells, once final
