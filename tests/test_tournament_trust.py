"""Results that can be trusted (issue #17): a defense is credited only on seeds where the attack beat the undefended
control, faults show as faults, each cell shows how its verdict varies over the seeds, and a shorter battle keeps
red active for at least half of it.

The tournament documents are made by the tournament's own :func:`run_summary` and :func:`aggregate` from
hand-written verdicts (no battle runs), except one slow test that plays the issue's command, small."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from arena.cli.main import main
from arena.experiments.tournament import (
    CONTROL_HELD,
    NO_CONTROL,
    NONE,
    PARTIAL,
    Job,
    Plan,
    aggregate,
    control_outcomes,
    defense_ranking,
    heatmap_text,
    leaderboard,
    run_summary,
    tournament_cmd,
    write_outputs,
)
from arena.referee.checkers import Verdict
from arena.scenario.model import load_scenario
from arena.scenario.yamlsource import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
HELD = "the attack fired (1 evidence events), nothing was stolen and the safety invariants hold"
RED_FAULT = {"t": 3.0, "node": 11, "node_name": "light11", "plugin": "double_spend", "team": "red",
             "hook": "arena_tick", "kind": "exception", "error": "KeyError: 'nope'",
             "where": ["attacks/double_spend.py:41", "attacks/double_spend.py:57"]}


def won(stolen: int) -> Verdict:
    return Verdict("red_won", f"stolen {stolen}", stolen, {"double_spend": stolen})


def held() -> Verdict:
    return Verdict("blue_won", HELD)


def red_faulted() -> Verdict:
    return Verdict("faulted", "red plugin double_spend faulted", faults=[RED_FAULT])


def tournament(outcomes: dict[tuple[str, str, int], Verdict], tmp_path: Path) -> dict[str, Any]:
    """``tournament.json`` (through JSON, as written) of the given battles, no baselines."""
    attacks = list(dict.fromkeys(a for a, _, _ in outcomes))
    defenses = list(dict.fromkeys(d for _, d, _ in outcomes))
    seeds = sorted({s for _, _, s in outcomes})
    p = Plan(attacks, defenses, seeds, dict.fromkeys(attacks, "x.yaml"))
    runs = [run_summary(Job(a, d, s, "x.yaml", (), str(tmp_path / f"{a}__{d}" / f"seed{s}")),
                        {"scenario": "x", "seed": s, **v.as_result()})
            for (a, d, s), v in outcomes.items()]
    return json.loads(json.dumps(aggregate(p, runs), default=str))


def printed(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=300)
    for table in leaderboard(doc):
        console.print(table)
    return console.export_text()


def ranks(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {r["defense"]: (r["held"], r["counted"]) for r in defense_ranking(doc)}


def cells(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["attack"], c["defense"]): c for c in doc["cells"]}


# ================================================ the control ===================================================
def test_a_cell_whose_control_held_is_flagged_out_of_the_ranking_and_warned_about(tmp_path: Path) -> None:
    """The issue's evidence: every cell blue_won, the control included. Nothing shows the attack works, so no
    defense is credited for stopping it and "none" is not ranked as stopping every attack."""
    doc = tournament({("sybil", NONE, 1): held(), ("sybil", "light_client_quorum", 1): held(),
                      ("double_spend", NONE, 1): won(150), ("double_spend", "light_client_quorum", 1): held()},
                     tmp_path)
    c = cells(doc)
    for d in (NONE, "light_client_quorum"):
        assert c[("sybil", d)]["flag"] == CONTROL_HELD
        assert c[("sybil", d)]["counted_seeds"] == [] and c[("sybil", d)]["control_lost_seeds"] == []
        assert c[("sybil", d)]["runs"]  # kept in tournament.json
    assert c[("double_spend", "light_client_quorum")]["flag"] is None
    assert control_outcomes(doc) == {("sybil", 1): False, ("double_spend", 1): True}
    # only double_spend counts: the quorum held it (1/1); none held nothing of what counts (0/1)
    assert ranks(doc) == {"light_client_quorum": (1, 1), NONE: (0, 1)}
    text = printed(doc)
    warning = next(line for line in text.splitlines() if line.startswith("warning:"))
    assert "sybil did not beat the undefended control on any seed" in warning and "seed 1 (blue_won" in warning
    assert "left out of the ranking" in warning
    assert not any("double_spend" in line for line in text.splitlines() if line.startswith("warning:"))
    assert doc["warnings"] == [warning.removeprefix("warning: ").strip()]


def test_only_the_seeds_where_the_control_lost_count(tmp_path: Path) -> None:
    outcomes = {("double_spend", NONE, 1): won(100), ("double_spend", NONE, 2): held(),
                ("double_spend", NONE, 3): won(50),
                ("double_spend", "confirmation_depth", 1): held(), ("double_spend", "confirmation_depth", 2): held(),
                ("double_spend", "confirmation_depth", 3): won(50),
                # a control that "won" without stealing anything (a broken invariant) shows no theft to stop
                ("replay", NONE, 1): Verdict("red_won", "broke supply"), ("replay", NONE, 2): won(10),
                ("replay", NONE, 3): won(10), ("replay", "confirmation_depth", 1): held(),
                ("replay", "confirmation_depth", 2): held(), ("replay", "confirmation_depth", 3): held()}
    doc = tournament(outcomes, tmp_path)
    depth = cells(doc)[("double_spend", "confirmation_depth")]
    assert depth["control_lost_seeds"] == [1, 3] and depth["counted_seeds"] == [1, 3]
    assert depth["flag"] == PARTIAL and depth["counted_held"] == 1 and depth["counted_stolen"] == 50
    assert cells(doc)[("replay", "confirmation_depth")]["counted_seeds"] == [2, 3]
    # seed 2 of double_spend and seed 1 of replay are held but not counted: 1 + 2 of 2 + 2
    assert ranks(doc)["confirmation_depth"] == (3, 4)
    assert ranks(doc)[NONE] == (0, 4)
    lines = [line for line in printed(doc).splitlines() if line.startswith("warning:")]
    assert len(lines) == 2
    assert "double_spend did not beat the undefended control on 1 of 3 seeds: seed 2 (blue_won, stolen 0)" in lines[0]
    assert "replay did not beat the undefended control on 1 of 3 seeds: seed 1 (red_won, stolen 0)" in lines[1]


def test_without_a_control_nothing_is_ranked_and_the_warning_says_why(tmp_path: Path) -> None:
    doc = tournament({("double_spend", "confirmation_depth", 1): held()}, tmp_path)
    (cell,) = doc["cells"]
    assert cell["flag"] == NO_CONTROL and cell["counted_seeds"] == []
    assert ranks(doc) == {"confirmation_depth": (0, 0)}
    assert "add --defenses none" in doc["warnings"][0]
    assert [r["defense"] for r in defense_ranking(doc)] == ["confirmation_depth"]


def test_control_outcomes_reads_a_hostile_document_without_raising() -> None:
    doc: Any = {"cells": [7, {"defense": NONE}, {"attack": "a", "defense": NONE, "runs": [
        "x", {"seed": True, "verdict": "red_won", "stolen": 5}, {"seed": 1, "verdict": "red_won", "stolen": "5"},
        {"seed": 2, "verdict": "red_won", "stolen": 5}, {"seed": 3, "verdict": "red_won", "stolen": 5},
        {"seed": 3, "verdict": "blue_won", "stolen": 0}]},
        {"attack": "a", "defense": "d", "runs": [{"seed": 4, "verdict": "red_won", "stolen": 5}]}]}
    assert control_outcomes(doc) == {("a", 1): False, ("a", 2): True, ("a", 3): False}
    assert control_outcomes({"cells": "nope"}) == {} == control_outcomes({})


# ================================================ faults ========================================================
def test_red_plugin_faults_show_as_faults_and_never_as_held(tmp_path: Path) -> None:
    bare_fault = Verdict("faulted", "faulted, its fault record lost")  # the verdict alone says so
    doc = tournament({("double_spend", NONE, 1): won(100), ("double_spend", NONE, 2): won(100),
                      ("double_spend", NONE, 3): won(100),
                      ("double_spend", "confirmation_depth", 1): red_faulted(),
                      ("double_spend", "confirmation_depth", 2): held(),
                      ("double_spend", "confirmation_depth", 3): bare_fault}, tmp_path)
    depth = cells(doc)[("double_spend", "confirmation_depth")]
    assert depth["faulted_runs"] == 2 and depth["faulted_seeds"] == [1, 3]
    assert depth["first_fault"]["plugin"] == "double_spend"
    assert depth["counted_seeds"] == [1, 2, 3] and depth["counted_held"] == 1
    assert ranks(doc)["confirmation_depth"] == (1, 3)
    assert next(r for r in defense_ranking(doc) if r["defense"] == "confirmation_depth")["faulted"] == 2
    row = next(line for line in printed(doc).splitlines() if "confirmation_depth" in line and "faulted" in line)
    assert "faulted 2/3" in row and "red double_spend at attacks/double_spend.py:57" in row
    assert "faulted x2, blue_won x1" in row
    note = heatmap_text(depth)
    assert "faulted 2/3" in note and "attacks/double_spend.py:57" in note
    write_outputs(doc, tmp_path / "out")
    assert (tmp_path / "out" / "heatmap.png").stat().st_size > 1000


# ================================================ verdicts over seeds ==========================================
def test_each_cell_says_how_its_verdict_varies_over_the_seeds(tmp_path: Path) -> None:
    doc = tournament({("double_spend", NONE, 1): won(50), ("double_spend", NONE, 2): won(50),
                      ("double_spend", NONE, 3): won(50),
                      ("double_spend", "confirmation_depth", 1): won(50),
                      ("double_spend", "confirmation_depth", 2): held(),
                      ("double_spend", "confirmation_depth", 3): won(50)}, tmp_path)
    c = cells(doc)
    depth, control = c[("double_spend", "confirmation_depth")], c[("double_spend", NONE)]
    assert depth["verdicts"] == "red_won x2, blue_won x1" and depth["varies"] is True
    assert control["verdicts"] == "red_won x3" and control["varies"] is False
    rows = [line for line in printed(doc).splitlines() if line.startswith("│ double_spend")]
    depth_row = next(line for line in rows if "confirmation_depth" in line)
    assert "red_won x2, blue_won x1 varies" in depth_row and "0 / 33.3 / 50" in depth_row
    control_row = next(line for line in rows if " none " in line)
    assert "varies" not in control_row and "red_won x3" in control_row
    note = heatmap_text(depth)
    assert note.splitlines()[:4] == ["stolen 0 / 33.3 / 50", "red_won x2", "blue_won x1", "varies"]
    assert "varies" not in heatmap_text(control)


# ================================================ duration overrides ===========================================
def test_a_shorter_duration_scales_settle_and_keeps_red_active_for_most_of_the_battle() -> None:
    whole = load_scenario(SCENARIOS / "day4_double_spend.yaml")
    short = load_scenario(SCENARIOS / "day4_double_spend.yaml", [("duration", 40)])
    assert (whole.duration, whole.settle) == (120, 30)
    assert (short.duration, short.settle) == (40, 10)
    assert short.duration - short.settle >= short.duration / 2
    sybil = load_scenario(SCENARIOS / "attack_sybil.yaml", [("duration", 40)])
    assert sybil.settle == pytest.approx(20 * 40 / 120, abs=1e-3)
    # a settle given beside the duration is taken as it is
    assert load_scenario(SCENARIOS / "day4_double_spend.yaml", [("duration", 40), ("settle", 15)]).settle == 15
    # a longer battle settles longer too
    assert load_scenario(SCENARIOS / "day4_double_spend.yaml", [("duration", 240)]).settle == 60


@pytest.mark.parametrize("overrides, key", [
    ([("settle", 70)], "settle"),
    ([("duration", 40), ("settle", 30)], "settle"),
])
def test_an_override_leaving_red_active_for_less_than_half_is_refused(overrides: list[tuple[str, Any]],
                                                                     key: str) -> None:
    with pytest.raises(ScenarioError, match=rf"^--param {key}=\d+: red would be active for"):
        load_scenario(SCENARIOS / "day4_double_spend.yaml", overrides)
    # exactly half is enough; and a battle without a red team has no red activity to protect
    assert load_scenario(SCENARIOS / "day4_double_spend.yaml", [("settle", 60)]).settle == 60
    assert load_scenario(SCENARIOS / "day1_transfers.yaml", [("settle", 50)]).settle == 50


@pytest.mark.parametrize("command", [
    ["run", str(SCENARIOS / "day4_double_spend.yaml"), "--param", "duration=40", "--param", "settle=30"],
    ["tournament", "--attacks", "double_spend", "--defenses", "none", "--param", "settle=70"],
])
def test_arena_run_and_tournament_refuse_it_with_exit_2_and_one_line(command: list[str], tmp_path: Path) -> None:
    res = CliRunner().invoke(main, [*command, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--param settle=" in lines[0] and "at least half" in lines[0], res.output
    assert not (tmp_path / "out").exists()  # refused before any battle


# ================================================ end to end ===================================================
@pytest.mark.slow
def test_the_issues_short_tournament_has_a_control_that_red_wins(tmp_path: Path) -> None:
    """``--param duration=40`` used to keep settle at 30 s: red was active for 10 s, the control blue_won and the
    leaderboard ranked "none" as stopping every attack."""
    out = tmp_path / "t"
    res = CliRunner().invoke(tournament_cmd, ["--attacks", "double_spend", "--defenses", "none,confirmation_depth",
                                              "--seeds", "1", "-j", "2", "--param", "duration=40", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "tournament.json").read_text())
    control = cells(doc)[("double_spend", NONE)]
    (run,) = control["runs"]
    assert run["verdict"] == "red_won" and run["stolen"] > 0
    assert control["flag"] is None and control["counted_seeds"] == [1] and doc["warnings"] == []
    played = json.loads(json.dumps(load_scenario(Path(run["run_dir"]) / "scenario.yaml").model_dump()))
    assert (played["duration"], played["settle"]) == (40, 10)
    none = next(r for r in defense_ranking(doc) if r["defense"] == NONE)
    assert (none["held"], none["counted"]) == (0, 1)
    ranked = res.output[res.output.index("defenses ranked"):]
    assert next(line for line in ranked.splitlines() if line.startswith("│ none ")).split()[3] == "0/1"
    assert "warning:" not in res.output
