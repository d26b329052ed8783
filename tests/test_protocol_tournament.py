"""A tournament on a team's protocol: ``arena tournament --protocol FILE`` plays every battle on it.

The protocol's source travels with each battle (like ``--plugin`` files, for workers on other machines) and is part
of the cell id, so a resumed tournament never reuses a battle of another version of the team's chain, and a stored
battle replays from its record alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arena.experiments.cells import cell_id
from arena.experiments.replay import replay_cell
from arena.experiments.tournament import Job, job_registry, job_scenario, plan
from arena.plugin_host.registry import default_registry
from arena.protocols.registry import scenario_name

ROOT = Path(__file__).resolve().parent.parent
SIMPLECHAIN = ROOT / "examples" / "simplechain" / "simplechain.py"


def small_plan(out: Path, protocol: Path | None) -> list[Job]:
    params: list[tuple[str, Any]] = [("duration", 20)]
    files: list[str] = []
    if protocol is not None:
        params.append(("protocol", scenario_name(protocol)))
        files = [str(protocol)]
    return plan(default_registry(), out, ["double_spend"], ["none"], 1, params, baseline=False,
                protocol_files=files).jobs


def test_battles_carry_the_protocol_and_its_source_names_the_cell(tmp_path: Path) -> None:
    (job,) = small_plan(tmp_path / "a", SIMPLECHAIN)
    (honest,) = small_plan(tmp_path / "b", None)
    assert job.protocol_sources == ((str(SIMPLECHAIN), SIMPLECHAIN.read_text()),)
    assert json.loads(job.scenario_json)["protocol"] == "simplechain"
    assert job.cell_id != honest.cell_id and honest.protocol_sources == ()
    changed = tmp_path / "simplechain.py"  # the same chain, one comment more: another battle
    changed.write_text(SIMPLECHAIN.read_text() + "\n# v2\n")
    (job2,) = small_plan(tmp_path / "c", changed)
    assert job2.cell_id != job.cell_id
    assert cell_id(job_scenario(job2), job_registry(job2), job2.seed, job2.red) == job2.cell_id


@pytest.mark.slow  # a tournament and a replay through the CLI
def test_a_tournament_on_a_team_protocol_runs_and_replays(tmp_path: Path) -> None:
    out = tmp_path / "t"
    proc = subprocess.run([sys.executable, "-m", "arena.cli.main", "tournament", "--protocol", str(SIMPLECHAIN),
                           "--attacks", "double_spend", "--defenses", "none,confirmation_depth", "--seeds", "1",
                           "--param", "duration=30", "-j", "1", "--no-baseline", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "tournament.json").read_text())
    runs = {r["defense"]: r for cell in doc["cells"] for r in cell["runs"]}
    assert runs["none"]["verdict"] == "red_won" and runs["confirmation_depth"]["verdict"] == "blue_won"
    state = next((out / "cells" / "double_spend__none" / "seed1" / "states").glob("validator0.json"))
    assert "wire" in json.loads(state.read_text())  # the team's protocol ran, behind the boundary
    summary, recorded, _ = replay_cell(out, runs["none"]["cell_id"][:12], tmp_path / "replay")
    assert summary["trace_sha256"] == recorded


def test_default_attacks_a_team_protocol_cannot_host_are_left_out_with_a_reason(tmp_path: Path) -> None:
    params: list[tuple[str, Any]] = [("duration", 20), ("protocol", scenario_name(SIMPLECHAIN))]
    p = plan(default_registry(), tmp_path, [], ["none"], 1, params, baseline=False, protocol_files=[str(SIMPLECHAIN)])
    assert "channel_fraud" not in p.attacks and "double_spend" in p.attacks
    assert "channel workload" in p.skipped["channel_fraud"]
    honest = plan(default_registry(), tmp_path / "h", [], ["none"], 1, [("duration", 20)], baseline=False)
    assert "channel_fraud" in honest.attacks and honest.skipped == {}
