"""The stake sweep (course day 2): shares per validator, the ``arena sweep`` command, its outputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.experiments.sweep import default_stake_cases, parse_case, run_sweep, sweep_cmd
from arena.scenario.yamlsource import ScenarioError

TINY = """\
name: tiny_stake
seed: 3
duration: 20
validators:
  - {stake: 100}
  - {stake: 100}
  - {stake: 100}
light_nodes: 3
genesis_balance: 1000
workload: {rate: 2, amount: [1, 10], fee: 1}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
network:
  topology: {kind: complete}
  link: {latency: 0.02}
"""

FIELDS = {"case", "seed", "validator", "stake_share", "block_share", "reward_share", "latency"}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_default_cases() -> None:
    cases = default_stake_cases(5, 100)
    assert cases == {"equal": [], "one_10x": [("validators.0.stake", 1000)],
                     "one_tenth": [("validators.0.stake", 10)]}


def test_parse_case() -> None:
    assert parse_case("big:validators.0.stake=1000,consensus.slot=2") == (
        "big", [("validators.0.stake", 1000), ("consensus.slot", 2)])
    assert parse_case("plain") == ("plain", [])
    with pytest.raises(ScenarioError):
        parse_case(":validators.0.stake=1")


def test_run_sweep_shares(tiny: Path) -> None:
    cases = [[], [("validators.0.stake", 1000)]]
    rows = run_sweep(str(tiny), cases, [3], None)
    assert len(rows) == 2 * 3
    for row in rows:
        assert FIELDS <= set(row)
    for case in ("case0", "case1"):
        case_rows = [r for r in rows if r["case"] == case]
        assert sum(r["block_share"] for r in case_rows) == pytest.approx(1.0)
        assert sum(r["stake_share"] for r in case_rows) == pytest.approx(1.0)
        assert sum(r["reward_share"] for r in case_rows) == pytest.approx(1.0)
        assert case_rows[0]["latency"] is not None and case_rows[0]["latency"] > 0
    big = {r["validator"]: r for r in rows if r["case"] == "case1"}
    assert big["validator0"]["stake_share"] == pytest.approx(1000 / 1200)
    others = [r["block_share"] for name, r in big.items() if name != "validator0"]
    assert big["validator0"]["block_share"] > max(others)
    assert big["validator0"]["reward_share"] > max(r["reward_share"] for n, r in big.items() if n != "validator0")


def test_cli_writes_json_and_png(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(sweep_cmd, [str(tiny), "--seeds", "1", "--out", str(out),
                                         "--case", "equal:", "--case", "big:validators.0.stake=1000"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "sweep.json").read_text())
    assert set(doc["cases"]) == {"equal", "big"}
    assert {r["case"] for r in doc["rows"]} == {"equal", "big"}
    big = doc["cases"]["big"]["validators"]
    assert big["validator0"]["block_share"] > big["validator1"]["block_share"]
    png = out / "stake_vs_blocks.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "validator0" in res.output


def test_cli_default_cases(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "default"
    res = CliRunner().invoke(sweep_cmd, [str(tiny), "--seeds", "1", "--out", str(out), "--param", "duration=8"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "sweep.json").read_text())
    assert list(doc["cases"]) == ["equal", "one_10x", "one_tenth"]
    assert doc["cases"]["one_tenth"]["validators"]["validator0"]["stake_share"] == pytest.approx(10 / 210)


@pytest.mark.parametrize("args", [
    ["--param", "validators.9.stake=5"],
    ["--param", "nonsense"],
    ["--param", "no_such_key=1"],
    ["--case", "bad:validators.0.stake=-5"],
])
def test_cli_bad_input_exits_2(tiny: Path, tmp_path: Path, args: list[str]) -> None:
    res = CliRunner().invoke(sweep_cmd, [str(tiny), "--seeds", "1", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2, res.output
    assert "Error" in res.output
    assert not (tmp_path / "x" / "sweep.json").exists()
