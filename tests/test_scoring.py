"""``arena score``: the ``stolen`` and ``ctf`` scorings of a finished tournament, from ``tournament.json`` alone.

The documents are made by the tournament's own :func:`run_summary` and :func:`aggregate` from hand-written verdicts
with known numbers (no battle runs), except one slow test that plays a tiny real tournament and scores its file."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.text import Text
from test_referee import clean_run

from arena.cli.main import main
from arena.cli.score import tables
from arena.experiments import scoring
from arena.experiments.scoring import Scoreboard, TournamentFormatError, score
from arena.experiments.tournament import NONE, Job, Plan, aggregate, control_outcomes, leaderboard, run_summary
from arena.referee.checkers import LIVENESS_COUNTS, Verdict


@dataclass(frozen=True)
class Outcome:
    """One battle's outcome: tokens stolen, honest intents finalised (in time) of those judged, who faulted."""

    stolen: int = 0
    served: int = 10
    judged: int = 10
    fault: str | None = None  # "red" or "blue"
    max_delay: float | None = None


def fault(team: str) -> dict[str, Any]:
    plugin, where = ("double_spend", "attacks/double_spend.py:57") if team == "red" else \
        ("watchtower", "defenses/watchtower.py:41")
    return {"t": 3.0, "node": 7, "node_name": "n7", "plugin": plugin, "team": team, "hook": "arena_tick",
            "kind": "exception", "error": "KeyError: 'nope'", "where": [where]}


def result(o: Outcome) -> dict[str, Any]:
    """A ``result.json`` as the referee writes it, with the liveness invariant's counts."""
    timed = o.max_delay is not None
    live: dict[str, Any] = {"intents": o.judged, "finalised": o.served, "own_fault": 0, "judged": o.judged,
                            "max_delay": o.max_delay, "too_recent": 0 if timed else None,
                            "late": 0 if timed else None, "stuck": o.judged - o.served if timed else None,
                            "on_time": o.served if timed else None}
    live = {"ok": (o.served == o.judged) if timed else None, "detail": "hand-made", **live}
    broken = live["ok"] is False
    faults = [fault(o.fault)] if o.fault else []
    verdict = "red_won" if o.stolen or broken else "faulted" if faults else "blue_won"
    v = Verdict(verdict, "hand-made", o.stolen, {"double_spend": o.stolen}, invariants={"liveness": live},
                faults=faults)
    return {"scenario": "x", **v.as_result()}


def tournament(outcomes: dict[tuple[str, str, int], Outcome], attacks: list[str], defenses: list[str]
               ) -> dict[str, Any]:
    """``tournament.json`` (as written: through JSON) of the given battles, no baselines."""
    seeds = sorted({s for _, _, s in outcomes})
    p = Plan(attacks, defenses, seeds, dict.fromkeys(attacks, "x.yaml"))
    runs = [run_summary(Job(a, d, s, "x.yaml", (), f"/nowhere/{a}__{d}/seed{s}"), result(o))
            for (a, d, s), o in outcomes.items()]
    return json.loads(json.dumps(aggregate(p, runs), default=str))


def by_name(board: Scoreboard) -> tuple[dict[str, scoring.AttackScore], dict[str, scoring.DefenseScore]]:
    return {a.name: a for a in board.attacks}, {d.name: d for d in board.defenses}


# the worked example of docs/tournament.md
EXAMPLE = {
    ("x", NONE, 1): Outcome(50), ("y", NONE, 1): Outcome(30), ("z", NONE, 1): Outcome(0),
    ("x", "A", 1): Outcome(20, 9), ("y", "A", 1): Outcome(10, 9), ("z", "A", 1): Outcome(0, 9),
    ("x", "B", 1): Outcome(40), ("y", "B", 1): Outcome(0, 8), ("z", "B", 1): Outcome(5),
}


def example() -> dict[str, Any]:
    return tournament(EXAMPLE, ["x", "y", "z"], [NONE, "A", "B"])


# ================================================ the ctf scoring ===============================================
def test_the_worked_example_of_the_docs() -> None:
    board = score(example(), "ctf")
    atk, dfn = by_name(board)
    assert [(a.name, a.attack) for a in board.attacks] == [("x", 3.5), ("y", 1.5), ("z", 0.0)]
    assert [(d.name, d.total) for d in board.defenses] == [("B", 7.2), (NONE, 6.0), ("A", 5.4)]
    assert (dfn["B"].defense, dfn["B"].availability, dfn["B"].stops) == (1.6, 5.6, 1)
    assert dfn["A"].defense == 0.0 and dfn["A"].service_by_seed == {1: 0.9}
    assert atk["z"].battles == 0 and atk["x"].battles == 2 and (atk["x"].stolen, atk["x"].control_stolen) == (60, 50)
    assert any(w.startswith("z seed 1: the undefended control did not lose") for w in board.warnings)
    assert any("finalised at all" in w for w in board.warnings)  # no max_delay: said so
    doc = (Path(__file__).resolve().parents[1] / "docs" / "tournament.md").read_text(encoding="utf-8")
    for line in ("| x | 3.5 |", "| B | 1.6 | 5.6 | 7.2 |", "| A | 0 | 5.4 | 5.4 |"):
        assert line in doc, line
    assert [d.name for d in score(example(), "stolen").defenses] == ["B", "A", NONE]  # as the page says


def test_the_attack_bonus_shrinks_when_more_attacks_beat_the_same_defense() -> None:
    alone = {("x", NONE, 1): Outcome(50), ("y", NONE, 1): Outcome(50), ("x", "A", 1): Outcome(20),
             ("y", "A", 1): Outcome(0)}
    shared = {**alone, ("y", "A", 1): Outcome(10)}
    three = {**shared, ("w", NONE, 1): Outcome(50), ("w", "A", 1): Outcome(5)}
    x_alone = by_name(score(tournament(alone, ["x", "y"], [NONE, "A"]), "ctf"))[0]["x"]
    x_shared = by_name(score(tournament(shared, ["x", "y"], [NONE, "A"]), "ctf"))[0]["x"]
    x_three = by_name(score(tournament(three, ["w", "x", "y"], [NONE, "A"]), "ctf"))[0]["x"]
    assert (x_alone.attack, x_shared.attack) == (2.0, 1.5)
    assert x_three.attack == pytest.approx(1 + 1 / 3)
    assert x_alone.thefts == x_shared.thefts == x_three.thefts == 1  # one theft each time, worth less


def test_stopping_everything_by_halting_the_chain_loses_to_keeping_service() -> None:
    outcomes = {("x", NONE, 1): Outcome(50), ("y", NONE, 1): Outcome(50),
                ("x", "halt", 1): Outcome(0, served=0), ("y", "halt", 1): Outcome(0, served=0),
                ("x", "keep", 1): Outcome(20), ("y", "keep", 1): Outcome(0)}
    doc = tournament(outcomes, ["x", "y"], [NONE, "halt", "keep"])
    board = score(doc, "ctf")
    _, dfn = by_name(board)
    assert dfn["halt"].stops == 2 and dfn["halt"].defense == 0.0 and dfn["halt"].availability == 0.0
    assert dfn["halt"].total == 0.0
    assert dfn["keep"].defense == 1.5  # y stopped by two defenses: (1 + 1/2) x full service
    assert [d.name for d in board.defenses] == ["keep", NONE, "halt"]  # halting ranks below doing nothing
    assert score(doc, "stolen").defenses[0].name == "halt"  # what the stolen scoring rewards


def test_with_a_max_delay_only_transfers_finalised_in_time_count() -> None:
    outcomes = {("x", NONE, 1): Outcome(50, max_delay=30.0), ("x", "slow", 1): Outcome(0, 7, max_delay=30.0)}
    board = score(tournament(outcomes, ["x"], [NONE, "slow"]), "ctf")
    _, dfn = by_name(board)
    assert dfn["slow"].availability == pytest.approx(2 * 0.7)
    assert dfn["slow"].stops == 0  # liveness broken: red won, nothing was stopped
    assert not any("finalised at all" in w for w in board.warnings)


def test_cells_whose_control_did_not_lose_are_excluded_and_warned_about() -> None:
    board = score(example(), "ctf")
    atk, dfn = by_name(board)
    assert atk["z"].attack == 0.0 and atk["z"].thefts == 0 and atk["z"].stolen == 0  # its 5 from B do not count
    assert dfn["A"].stops == 0  # "held" against z, whose control shows z does not work on seed 1
    line = "z seed 1: the undefended control did not lose, so its 2 defended battles do not count"
    assert line in board.warnings and line in score(example(), "stolen").warnings
    no_control = {k: v for k, v in EXAMPLE.items() if k[1] != NONE}
    board = score(tournament(no_control, ["x", "y", "z"], ["A", "B"]), "ctf")
    assert all(a.attack == 0 for a in board.attacks) and all(d.defense == 0 for d in board.defenses)
    assert any("no undefended control" in w for w in board.warnings)


def test_faulted_runs_score_nothing_for_the_faulting_side_and_are_listed() -> None:
    outcomes = {("x", NONE, 1): Outcome(50), ("y", NONE, 1): Outcome(50),
                ("x", "A", 1): Outcome(30, fault="red"), ("y", "A", 1): Outcome(10),
                ("x", "B", 1): Outcome(0, fault="blue"), ("y", "B", 1): Outcome(0)}
    board = score(tournament(outcomes, ["x", "y"], [NONE, "A", "B"]), "ctf")
    atk, dfn = by_name(board)
    assert atk["x"].attack == 0.0 and atk["x"].stolen == 30  # stole 30, but its plugin faulted
    assert atk["y"].attack == 2.0  # the only theft credited against A: 1 + 1/1
    assert dfn["B"].defense == 2.0 and dfn["B"].stops == 1 and dfn["B"].faulted == 1
    assert dfn["B"].availability == 2.0  # the faulted battle's service earns nothing
    assert dfn["A"].availability == 4.0  # a red fault costs the defense nothing
    lines = [w for w in board.warnings if "plugin faulted" in w]
    assert lines == ["x vs A seed 1: red plugin faulted (red plugin double_spend faulted in arena_tick at "
                     "attacks/double_spend.py:57 (KeyError: 'nope')): scores nothing for the attack",
                     "x vs B seed 1: blue plugin faulted (blue plugin watchtower faulted in arena_tick at "
                     "defenses/watchtower.py:41 (KeyError: 'nope')): scores nothing for the defense"]


# ================================================ the stolen scoring ============================================
def plain(cells: Any) -> list[str]:
    return [Text.from_markup(str(c)).plain for c in cells]


MIXED = {("x", NONE, 1): Outcome(50), ("x", NONE, 2): Outcome(50), ("x", "A", 1): Outcome(0),
         ("x", "A", 2): Outcome(0, fault="blue"), ("x", "B", 1): Outcome(0), ("x", "B", 2): Outcome(0),
         ("y", NONE, 1): Outcome(7), ("y", NONE, 2): Outcome(0), ("y", "A", 1): Outcome(3), ("y", "A", 2): Outcome(0),
         ("y", "B", 1): Outcome(0), ("y", "B", 2): Outcome(9), ("w", NONE, 1): Outcome(0), ("w", "A", 1): Outcome(4),
         ("w", NONE, 2): Outcome(0), ("w", "A", 2): Outcome(0), ("w", "B", 1): Outcome(0), ("w", "B", 2): Outcome(0)}


@pytest.mark.parametrize("make", [example, lambda: tournament(MIXED, ["w", "x", "y"], [NONE, "A", "B"])])
def test_the_stolen_scoring_agrees_with_the_leaderboard(make: Any) -> None:
    doc = make()
    board = score(doc, "stolen")
    _, ranks, attacks, _ = leaderboard(copy.deepcopy(doc))
    name, held, faulted, stolen, share = (plain(c.cells) for c in ranks.columns[:5])
    assert name == [d.name for d in board.defenses]
    assert held == [f"{d.stops}/{d.battles}" for d in board.defenses]
    assert faulted == [str(d.faulted) for d in board.defenses]
    assert stolen == [str(d.stolen) for d in board.defenses]
    assert share == ["-" if d.total is None else f"{100 * d.total:.0f}%" for d in board.defenses]
    name, stolen, beaten, control = (plain(c.cells) for c in attacks.columns[:4])
    faulted = plain(attacks.columns[5].cells)
    assert name == [a.name for a in board.attacks]
    assert stolen == [str(a.stolen) for a in board.attacks]
    assert beaten == [f"{a.thefts}/{a.battles}" for a in board.attacks]
    assert control == [str(a.control_stolen) for a in board.attacks]
    assert faulted == [str(a.faulted) for a in board.attacks]


@pytest.mark.parametrize("make", [example, lambda: tournament(MIXED, ["w", "x", "y"], [NONE, "A", "B"])])
def test_both_scorings_apply_the_tournaments_control_rule(make: Any) -> None:
    doc = make()
    lost = {k for k, v in control_outcomes(doc).items() if v}
    runs = [(c["attack"], c["defense"], r["seed"]) for c in doc["cells"] for r in c["runs"]]
    counted = [k for k in runs if (k[0], k[2]) in lost and k[1] != NONE]
    for how in scoring.SCORINGS:
        assert sum(a.battles for a in score(doc, how).attacks) == len(counted)


# ================================================ files, old and hostile ========================================
def test_rescoring_is_deterministic_whatever_the_order_of_cells_and_runs(tmp_path: Path) -> None:
    doc = example()
    shuffled = copy.deepcopy(doc)
    rng = random.Random(7)
    rng.shuffle(shuffled["cells"])
    for c in shuffled["cells"]:
        rng.shuffle(c["runs"])
    for how in scoring.SCORINGS:
        assert score(doc, how) == score(doc, how) == score(shuffled, how)
    path = tmp_path / "tournament.json"
    path.write_text(json.dumps(doc))
    first, again = (CliRunner().invoke(main, ["score", str(path), "--scoring", "ctf", "--json"]) for _ in "12")
    assert first.exit_code == again.exit_code == 0, first.output
    assert first.stdout == again.stdout and json.loads(first.stdout) == score(doc, "ctf").as_dict()


def test_the_cli_prints_both_rankings_and_warnings_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "tournament.json"
    path.write_text(json.dumps(example()))
    res = CliRunner().invoke(main, ["score", str(path), "--scoring", "ctf"])
    assert res.exit_code == 0, res.output
    assert "attacks (ctf scoring" in res.stdout and "defenses (ctf scoring" in res.stdout
    assert "warning: z seed 1: the undefended control did not lose" in res.stderr
    assert "warning" not in res.stdout


def test_an_older_tournament_json_says_which_parts_are_unknown() -> None:
    doc = example()
    for c in doc["cells"]:
        for r in c["runs"]:
            del r["liveness"], r["faulted_teams"]
    board = score(doc, "ctf")
    _, dfn = by_name(board)
    assert board.unknown == ["availability"] and all(d.availability is None for d in board.defenses)
    assert dfn["B"].defense == 2.0  # not weighted by a service nobody recorded
    assert any("9 runs lack `liveness`" in w for w in board.warnings)
    assert any(w.startswith("availability unknown") for w in board.warnings)
    assert [a.attack for a in board.attacks] == [3.5, 1.5, 0.0]  # the attack part is still known
    assert score(doc, "stolen").unknown == []


def test_the_liveness_invariant_carries_its_counts_and_keeps_its_text() -> None:
    r = clean_run()
    live = r.judge().invariants["liveness"]
    assert live["ok"] is None and live["detail"] == ("3 honest intents: 3 finalised, 0 not finalised in the "
                                                     "canonical chain (0 of them refused for the sender's own "
                                                     "fault); no referee.max_delay, so no liveness judgement")
    assert {k: live[k] for k in LIVENESS_COUNTS} == {"intents": 3, "finalised": 3, "own_fault": 0, "judged": 3,
                                                     "max_delay": None, "too_recent": None, "late": None,
                                                     "stuck": None, "on_time": None}
    r.genesis_extra = {"max_delay": 2.0, "duration": 100.0}
    r.pay("aa10", "light4", "light5", 1)  # never finalised, long before the end
    r.pay("aa11", "light5", "light4", 1)  # refused for the sender's own fault
    r.ev("tx_rejected", node=0, tx="aa11", reason="overdraft")
    live = r.judge().invariants["liveness"]
    assert live["ok"] is False and live["detail"].endswith("max_delay 2s: 0 finalised late, 1 not finalised within it")
    assert {k: live[k] for k in LIVENESS_COUNTS} == {"intents": 5, "finalised": 3, "own_fault": 1, "judged": 4,
                                                     "max_delay": 2.0, "too_recent": 0, "late": 0, "stuck": 1,
                                                     "on_time": 3}


def run_score(tmp_path: Path, content: bytes | str) -> Result:
    path = tmp_path / "tournament.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return CliRunner().invoke(main, ["score", str(path), "--scoring", "ctf"])


@pytest.mark.parametrize("content, says", [
    (b"{\"cells\": [", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b"[]", "(top level): expected an object"),
    (b"{\"attacks\": [], \"defenses\": []}", "cells: missing"),
    (b"{\"attacks\": [\"x\"], \"defenses\": [\"none\"], \"cells\": [{\"attack\": \"y\"}]}",
     "cells[0].attack: 'y' is not in attacks"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path, content: bytes, says: str) -> None:
    res = run_score(tmp_path, content)
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert str(tmp_path / "tournament.json") in line and says in line


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["score", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "nope.json: cannot read it" in res.stderr


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=25)
SHAPED = st.fixed_dictionaries({"attacks": JSON, "defenses": JSON, "cells": JSON})


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (its keys and indexes from the top)."""
    out = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for k, v in items:
        out += paths(v, (*prefix, k))
    return out


FAULTED = {("x", NONE, 1): Outcome(50, max_delay=5.0), ("x", "A", 1): Outcome(30, fault="red", max_delay=5.0),
           ("x", "B", 1): Outcome(0, fault="blue", max_delay=5.0)}


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A real tournament document (faults, a max_delay, no max_delay) with one value anywhere in it replaced by any
    JSON value, or removed."""
    doc = draw(st.sampled_from([example, lambda: tournament(FAULTED, ["x"], [NONE, "A", "B"])]))()
    where = draw(st.sampled_from(paths(doc)[1:]))
    parent = doc
    for k in where[:-1]:
        parent = parent[k]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(JSON)
    return doc


# 150 documents a run (was 300; the suite's CPU budget, issue #16), not derandomized: other ones every run
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, SHAPED, mutated()), st.sampled_from(scoring.SCORINGS))
def test_hostile_documents_never_raise_anything_but_a_format_error(doc: Any, how: str) -> None:
    try:
        board = score(doc, how)
    except TournamentFormatError as exc:
        assert exc.key and "\n" not in str(exc)
    else:
        json.dumps(board.as_dict())  # a scoreboard is always printable
        tables(board)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(SHAPED, mutated()))
def test_hostile_files_exit_0_or_2_with_one_line(tmp_path: Path, doc: Any) -> None:
    res = run_score(tmp_path, json.dumps(doc))
    try:
        score(doc, "ctf")
        valid = True
    except TournamentFormatError:
        valid = False
    assert res.exit_code == (0 if valid else 2), res.output
    if not valid:
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith(f"Error: {tmp_path / 'tournament.json'}: ")


# ================================================ end to end ====================================================
@pytest.mark.slow
@pytest.mark.xdist_group("tiny_tournament")
def test_a_tiny_real_tournament_is_rescored_from_its_file(tiny_tournament: tuple[Result, Path]) -> None:
    """``tests/conftest.py``'s tiny tournament (sybil, eclipse x none, peer_diversity; one seed; 45 s battles, settle
    10 s), shared with ``tests/test_tournament.py``."""
    res, out = tiny_tournament
    assert res.exit_code == 0, res.output
    path = out / "tournament.json"
    doc = json.loads(path.read_text())
    for cell in doc["cells"]:
        (run,) = cell["runs"]
        assert run["liveness"]["intents"] > 0 and run["liveness"]["judged"] <= run["liveness"]["intents"]
        assert run["faulted_teams"] == []
    scored = CliRunner().invoke(main, ["score", str(path), "--scoring", "ctf", "--json"])
    assert scored.exit_code == 0, scored.output
    board = json.loads(scored.stdout)
    assert [a["name"] for a in board["attacks"]] != [] and board["unknown"] == []
    dfn = {d["name"]: d for d in board["defenses"]}
    assert set(dfn) == {NONE, "peer_diversity"}
    cell = {(c["attack"], c["defense"]): c for c in doc["cells"]}
    assert cell[("eclipse", NONE)]["counts"]["red_won"] == 1  # the control lost ...
    assert cell[("eclipse", "peer_diversity")]["counts"]["blue_won"] == 1  # ... and the defense stopped it
    assert dfn["peer_diversity"]["stops"] >= 1 and dfn["peer_diversity"]["defense"] > 0
    assert 0 < dfn[NONE]["availability"] <= 2 * 2  # two battles of at most full service
    assert board == score(doc, "ctf").as_dict()
    stolen = CliRunner().invoke(main, ["score", str(path)])
    assert stolen.exit_code == 0 and "defenses (stolen scoring" in stolen.stdout
