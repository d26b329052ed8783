"""Exit codes a student can chain with ``&&``: 0 judged whatever the verdict, 1 an unmet expectation (the scenario's
``expect:``, ``--expect``, ``--expect-all``) with one line each, 2 bad input; and every command that loads a scenario
checks it fully (plugins, teams, parameters, topology) before any battle starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from arena.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SMALL = ["--param", "duration=30", "--param", "settle=8"]  # a few seconds; red still steals
UNMET = "expectation not met: "

TINY = """\
name: tiny
seed: 9
duration: 12
settle: 3
validators: 2
light_nodes:
  - {}
  - {team: red, plugins: [{name: double_spend}]}
merchants: 1
teams: {red: {budget: {sybils: 1}}}
workload: {rate: 1, amount: [1, 20], fee: 1, purchases: 0.2}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
"""
"""A battle of a fraction of a second that blue wins (the attack fires, nothing is stolen)."""


def unmet(res: Result) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith(UNMET)]


@pytest.fixture(scope="module")
def red_win(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("exit-codes") / "run"
    res = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--quiet"])
    return res, out


# ================================================ arena run =====================================================
def test_the_quickstart_exits_0_although_red_won(red_win: tuple[Result, Path]) -> None:
    res, out = red_win
    assert res.exit_code == 0, res.output
    assert json.loads((out / "result.json").read_text())["verdict"] == "red_won"
    assert res.stdout.startswith("verdict: red_won") and not unmet(res)


def test_expect_on_the_command_line_names_the_unmet_expectation(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--json",
                                    "--expect", "blue_won"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["verdict"] == "red_won"  # stdout is still result.json alone
    (line,) = unmet(res)
    assert line.startswith(f"{UNMET}verdict: expected 'blue_won', got 'red_won'"), line


@pytest.mark.parametrize("expect, flag, lines", [
    ("{verdict: red_won, min_stolen: 1}", [], []),
    ("{verdict: blue_won, stolen: 0}", [], ["verdict: expected 'blue_won', got 'red_won'", "stolen: expected 0, got"]),
    ("{verdict: blue_won}", ["--expect", "red_won"], []),  # --expect overrides the block's verdict ...
    ("{verdict: blue_won, stolen: 0}", ["--expect", "red_won"], ["stolen: expected 0, got"]),  # ... and only that
], ids=["met", "unmet", "overridden", "overridden-but-stolen-unmet"])
def test_the_scenario_expect_block(expect: str, flag: list[str], lines: list[str], tmp_path: Path) -> None:
    scenario = tmp_path / "expecting.yaml"
    scenario.write_text(QUICKSTART.read_text() + f"expect: {expect}\n")
    res = CliRunner().invoke(main, ["run", str(scenario), *SMALL, "--out", str(tmp_path / "run"), "--quiet", *flag])
    assert res.exit_code == (1 if lines else 0), res.output
    got = unmet(res)
    assert len(got) == len(lines), got
    for line, start in zip(got, lines, strict=True):
        assert line.startswith(UNMET + start), line


def test_a_bad_expect_value_is_bad_input(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["run", str(QUICKSTART), "--expect", "red_wins", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "red_wins" in res.output
    assert not (tmp_path / "r").exists()


# ================================================ arena judge ===================================================
def test_judge_exits_0_whatever_the_verdict_and_1_on_an_unmet_expect(red_win: tuple[Result, Path]) -> None:
    _, out = red_win
    for expect, code in ((None, 0), ("red_won", 0), ("blue_won", 1)):
        res = CliRunner().invoke(main, ["judge", str(out), *(["--expect", expect] if expect else [])])
        assert res.exit_code == code, (expect, res.output)
        assert "red_won" in res.stdout
        assert len(unmet(res)) == code
    (line,) = unmet(res)
    assert line.startswith(f"{UNMET}verdict: expected 'blue_won', got 'red_won'"), line


# ================================================ arena tournament ==============================================
def test_tournament_expect_all(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    args = ["tournament", "--attacks", "double_spend", "--scenario", f"double_spend={scenario}", "--defenses", "none",
            "--seeds", "1", "-j", "1", "--no-baseline"]
    for expect, code in ((None, 0), ("blue_won", 0), ("red_won", 1)):
        out = tmp_path / f"t-{expect}"
        res = CliRunner().invoke(main, [*args, "--out", str(out), *(["--expect-all", expect] if expect else [])])
        assert res.exit_code == code, (expect, res.output)
        (run,) = json.loads((out / "tournament.json").read_text())["cells"][0]["runs"]
        assert run["verdict"] == "blue_won"
        assert len(unmet(res)) == code
    (line,) = unmet(res)
    assert line.startswith(f"{UNMET}double_spend vs none seed 1: verdict: expected 'red_won', got 'blue_won'"), line


# ================================================ help ==========================================================
@pytest.mark.parametrize("command", ["run", "judge", "live", "tournament"])
def test_help_documents_the_exit_codes(command: str) -> None:
    res = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Exit codes: 0" in text and "1 " in text and "2 bad input" in text
    assert ("--expect-all" if command == "tournament" else "--expect") in text


# ================================================ every loader checks the scenario ==============================
BAD_PLUGIN = """\
name: bad
seed: 9
duration: 12
validators: 2
light_nodes:
  - {}
  - {}
  - {}
  - {}
  - {}
  - {team: red, plugins: [{name: no_such_plugin}]}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
"""
BAD_LINE = BAD_PLUGIN.splitlines().index("  - {team: red, plugins: [{name: no_such_plugin}]}") + 1


@pytest.mark.parametrize("command", ["live", "node", "sweep", "channels", "tournament"])
def test_an_unknown_plugin_is_one_line_with_file_and_line_and_no_battle(command: str, tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(BAD_PLUGIN)
    out = tmp_path / "out"
    args = {
        "live": ["live", str(scenario)],
        "node": ["node", "--scenario", str(scenario), "--role", "validator", "--index", "0"],
        "sweep": ["sweep", str(scenario), "--seeds", "1"],
        "channels": ["channels", str(scenario), "--seeds", "1"],
        "tournament": ["tournament", "--attacks", "double_spend", "--scenario", f"double_spend={scenario}",
                       "--defenses", "none", "--seeds", "1", "-j", "1"],
    }[command]
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1, lines
    assert f"{scenario}:{BAD_LINE}: light_nodes.5.plugins.0.name: unknown plugin 'no_such_plugin'" in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()  # no battle started


# ================================================ arena live ====================================================
@pytest.mark.live
def test_live_reads_the_scenario_expect_block(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY + "expect: {min_stolen: 1000000000}\n")  # more than exists: unmet whatever happens
    out = tmp_path / "live"
    res = CliRunner().invoke(main, ["live", str(scenario), "--param", "duration=8", "--param", "settle=2",
                                    "--processes", "2", "--quiet", "--out", str(out)])
    assert res.exit_code == 1, res.output
    (line,) = unmet(res)
    assert line.startswith(f"{UNMET}stolen: expected at least 1000000000, got"), line
    assert (out / "result.json").is_file()
