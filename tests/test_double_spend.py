"""Course day 4 end to end: the double spend steals without the defense and nothing with it, over 5 seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SEEDS = [1, 2, 3, 4, 5]


def _battle(name: str, seed: int, tmp_path: Path) -> dict:
    """The first 60 s of the battle, the last 20 s settling: the red buyer tries at t=5, 13, 21, 29 and 37 (five of
    its eight attempts), and without the defense at least two of them steal, for every seed."""
    sc = load_scenario(SCENARIOS / name, [("duration", 60), ("settle", 20)])
    return run_battle(sc, seed=seed, out_dir=tmp_path / f"{name}-{seed}", report=False).result  # report.html: unread


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_double_spend_steals_without_defense(seed: int, tmp_path: Path) -> None:
    result = _battle("day4_double_spend.yaml", seed, tmp_path)
    assert result["verdict"] == "red_won", result["verdict_reason"]
    assert result["stolen"] > 0
    assert result["stolen_by_kind"]["double_spend"] == result["stolen"]
    assert any(e.get("kind") == "double_spend" for e in result["evidence"]), "the attack must have fired"
    assert all(inv["ok"] is not False for name, inv in result["invariants"].items() if name != "liveness")


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_confirmation_depth_stops_it(seed: int, tmp_path: Path) -> None:
    result = _battle("day4_double_spend_defended.yaml", seed, tmp_path)
    assert result["stolen"] == 0
    assert result["verdict"] == "blue_won", result["verdict_reason"]
    assert result["evidence"], "the attack still fired; it just stole nothing"


def test_identities_have_the_price_the_scenario_sets(tmp_path: Path) -> None:
    """The double spend's sink identity costs what ``teams.red.budget.sybil_cost`` says; the referee nets it."""
    sc = load_scenario(SCENARIOS / "day4_double_spend.yaml",
                       [("duration", 40), ("settle", 10), ("teams.red.budget.sybil_cost", 30)])
    result = run_battle(sc, seed=1, out_dir=tmp_path / "run", report=False).result
    assert result["sybil_spend"] == 30
    assert result["red_net_gain"] == result["stolen"] - 30
