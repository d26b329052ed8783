"""``arena tournament``: one cell per (attack, defense setting) with the right counts, replayable run directories,
the same results on one worker or two, and one-line errors for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from arena.experiments.tournament import NONE, plan, run_tournament, tournament_cmd
from arena.plugin_host.registry import default_registry


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_tournament")
def test_tiny_tournament_has_one_cell_per_pair_with_correct_counts(tiny_tournament: tuple[Result, Path]) -> None:
    """``tests/conftest.py``'s tiny tournament (sybil, eclipse x none, peer_diversity; one seed; 45 s battles, settle
    10 s), shared with ``tests/test_scoring.py``."""
    res, out = tiny_tournament
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "tournament.json").read_text())
    assert (out / "heatmap.png").stat().st_size > 1000
    pairs = [(c["attack"], c["defense"]) for c in doc["cells"]]
    assert sorted(pairs) == sorted((a, d) for a in ("sybil", "eclipse") for d in (NONE, "peer_diversity"))
    for cell in doc["cells"]:
        assert sum(cell["counts"].values()) == len(cell["runs"]) == 1
        (run,) = cell["runs"]
        assert cell["counts"][run["verdict"]] == 1
        assert cell["stolen"]["mean"] == run["stolen"]
        assert Path(run["run_dir"]) == out / "cells" / f"{cell['attack']}__{cell['defense']}" / "seed1"
        assert (Path(run["run_dir"]) / "scenario.yaml").is_file() and (Path(run["run_dir"]) / "result.json").is_file()
        assert cell["cost"]["throughput_ratio"] is not None
    cell = {(c["attack"], c["defense"]): c for c in doc["cells"]}
    assert cell[("eclipse", NONE)]["counts"]["red_won"] == 1
    assert cell[("eclipse", "peer_diversity")]["counts"]["blue_won"] == 1
    assert [b["attack"] for b in doc["baselines"]] == ["eclipse", "sybil"]
    assert "attacks stopped" in res.output  # the leaderboard was printed
    # off a terminal the per-battle lines ("[3/6] sybil vs none seed 1: ...") are progress only: left out
    assert not re.search(r"^\[\d+/\d+\]", res.output, re.M) and "battles \x1b" not in res.output


@pytest.mark.slow
def test_results_do_not_depend_on_the_worker_count_and_replay_from_the_run_dir(tmp_path: Path) -> None:
    reg = default_registry()
    params = [("duration", 15), ("settle", 3)]  # what is compared is the traces, whatever the battle's length
    one = run_tournament(plan(reg, tmp_path / "a", ["eclipse"], [NONE, "costly_identity"], 1, params,
                              baseline=False), jobs=1)
    two = run_tournament(plan(reg, tmp_path / "b", ["eclipse"], [NONE, "costly_identity"], 1, params,
                              baseline=False), jobs=2)
    assert [r["trace_sha256"] for r in one] == [r["trace_sha256"] for r in two]
    from arena.scenario.model import load_scenario
    from arena.sim.runner import run_battle

    again = run_battle(load_scenario(Path(one[0]["run_dir"]) / "scenario.yaml"), seed=1, out_dir=tmp_path / "r")
    assert again.result["trace_sha256"] == one[0]["trace_sha256"]


@pytest.mark.parametrize("args, message", [
    (["--attacks", "nope"], "unknown plugin 'nope'"),
    (["--attacks", "peer_diversity"], "is a blue plugin"),
    (["--attacks", "sybil", "--defenses", "eclipse"], "is a red plugin"),
    (["--attacks", "sybil", "--param", "duration=-1"], "duration"),
    (["--attacks", "sybil", "--scenario", "sybil"], "ATTACK=PATH"),
])
def test_bad_input_is_a_one_line_error(args: list[str], message: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(tournament_cmd, [*args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_plan_lists_every_battle_and_baseline(tmp_path: Path) -> None:
    p = plan(default_registry(), tmp_path, ["sybil", "replay"], [NONE, "costly_identity+peer_diversity"], 2)
    battles = [j for j in p.jobs if j.red]
    assert len(battles) == 2 * 2 * 2 and len(p.jobs) - len(battles) == 2 * 2
    combo = next(j for j in battles if j.defense != NONE)
    assert dict(combo.overrides)["teams.blue.plugins"] == [{"name": "costly_identity"}, {"name": "peer_diversity"}]
    assert combo.out_dir.endswith("cells/sybil__costly_identity+peer_diversity/seed1")
    default = plan(default_registry(), tmp_path, seeds=1, baseline=False)
    every = {"sybil", "eclipse", "byzantine_validator", "replay", "double_spend", "channel_fraud"}
    assert every <= set(default.attacks)
    assert default.defenses[0] == NONE and "watchtower" in default.defenses


def test_a_faulted_run_never_counts_as_a_defense_holding(tmp_path: Path) -> None:
    """Synthetic results through the same summary and aggregation as real battles (no battle is run)."""
    from rich.console import Console

    from arena.experiments.tournament import Job, Plan, aggregate, leaderboard, run_summary, write_outputs
    from arena.referee.checkers import Verdict

    fault = {"t": 3.0, "node": 7, "node_name": "merchant7", "plugin": "watchtower", "team": "blue",
             "hook": "arena_tick", "kind": "exception", "error": "KeyError: 'nope'",
             "where": ["defenses/watchtower.py:41", "defenses/watchtower.py:57"]}
    reason = "the attack fired (1 evidence events), nothing was stolen and the safety invariants hold"
    outcomes = {
        (NONE, 1): Verdict("red_won", "stolen 50 (double_spend 50)", 50, {"double_spend": 50}),
        (NONE, 2): Verdict("red_won", "stolen 50 (double_spend 50)", 50, {"double_spend": 50}),
        ("watchtower", 1): Verdict("blue_won", reason),
        ("watchtower", 2): Verdict("faulted", "blue plugin watchtower faulted ...", faults=[fault]),
        ("peer_diversity", 1): Verdict("blue_won", reason),
        ("peer_diversity", 2): Verdict("blue_won", reason),
    }
    p = Plan(["double_spend"], [NONE, "watchtower", "peer_diversity"], [1, 2], {"double_spend": "x.yaml"})
    runs = []
    for (defense, seed), v in outcomes.items():
        job = Job("double_spend", defense, seed, "x.yaml", (), str(tmp_path / defense / f"seed{seed}"))
        runs.append(run_summary(job, {"scenario": "x", "seed": seed, **v.as_result()}))
    doc = aggregate(p, runs)
    cell = {c["defense"]: c for c in doc["cells"]}
    tower = cell["watchtower"]
    assert tower["counts"] == {"red_won": 0, "faulted": 1, "blue_won": 1, "unknown": 0}
    assert tower["faulted_runs"] == 1 and tower["plugin_faults"] == 1 and tower["held"] is False
    assert tower["first_fault"]["where"][0] == "defenses/watchtower.py:41"
    assert "faulted in arena_tick at defenses/watchtower.py:57" in tower["first_fault"]["summary"]
    assert cell["peer_diversity"]["held"] is True and cell[NONE]["held"] is False

    console = Console(record=True, width=250)
    for table in leaderboard(doc):
        console.print(table)
    text = console.export_text()
    row = next(line for line in text.splitlines() if "watchtower" in line and "faulted" in line)
    assert "faulted 1/2" in row and "defenses/watchtower.py:57" in row
    ranks = text[text.index("defenses ranked"):]
    stopped = [(line.split()[1], line.split()[3]) for line in ranks.splitlines()
               if any(f" {d} " in line for d in ("watchtower", "peer_diversity", NONE))]
    # held / counted attack-seeds (the control lost on both): the faulted seed never holds
    assert stopped == [("peer_diversity", "2/2"), ("watchtower", "1/2"), (NONE, "0/2")]

    write_outputs(doc, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "tournament.json").read_text())
    run = next(r for c in written["cells"] if c["defense"] == "watchtower" for r in c["runs"] if r["seed"] == 2)
    assert run["verdict"] == "faulted" and run["plugin_faults"] == 1 and run["held"] is False
    assert run["first_fault"]["plugin"] == "watchtower" and run["first_fault"]["error"] == "KeyError: 'nope'"
    assert (tmp_path / "out" / "heatmap.png").stat().st_size > 1000
