"""``arena tournament``: one cell per (attack, defense setting) with the right counts, replayable run directories,
the same results on one worker or two, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.experiments.tournament import NONE, plan, run_tournament, tournament_cmd
from arena.plugin_host.registry import default_registry

SHORT = ["--param", "duration=45", "--param", "settle=10"]


@pytest.mark.slow
def test_tiny_tournament_has_one_cell_per_pair_with_correct_counts(tmp_path: Path) -> None:
    out = tmp_path / "t"
    res = CliRunner().invoke(tournament_cmd, ["--attacks", "sybil,eclipse", "--defenses", "none",
                                              "--defenses", "peer_diversity", "--seeds", "1", "-j", "2",
                                              "--out", str(out), *SHORT])
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


@pytest.mark.slow
def test_results_do_not_depend_on_the_worker_count_and_replay_from_the_run_dir(tmp_path: Path) -> None:
    reg = default_registry()
    params = [("duration", 30), ("settle", 5)]
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
