"""A team's protocol on battle day: ``arena live --protocol FILE`` runs the same node code over real UDP sockets.

The file is loaded by every worker process; each node sits behind the same message boundary as in the simulator
(its state carries the boundary's ``wire`` summary), and the referee judges it from the files as usual.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parent.parent
SIMPLECHAIN = ROOT / "examples" / "simplechain" / "simplechain.py"


def test_a_protocol_file_runs_live_behind_the_boundary(tmp_path: Path) -> None:
    """simplechain, a team's chain with Communities of its own: the live path is the same for every such file."""
    protocol, name = SIMPLECHAIN, "simplechain"
    out = tmp_path / "live"
    proc = subprocess.run([sys.executable, "-m", "arena.cli.main", "live", "scenarios/day4_double_spend.yaml",
                           "--protocol", str(protocol), "--param", "duration=20", "--processes", "2",
                           "--out", str(out), "--no-report", "--quiet"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] in ("red_won", "blue_won") and result["finalized_height"] > 0
    assert any(e.get("kind") == "double_spend" for e in result["evidence"]), "the attack must have fired"
    states = sorted(out.glob("nodes/*/states/*.json"))
    assert len(states) == 5 + 12 + 2  # validators, light nodes, merchants
    for path in states:
        s = json.loads(path.read_text())
        assert s["wire"]["violations"] == {} and sum(s["wire"]["sent"].values()) > 0, s["name"]
    genesis = next(json.loads(line) for line in (out / "nodes" / "validator0" / "trace.jsonl").open()
                   if '"genesis"' in line)
    assert genesis["protocol"] == name


def test_pingpong_is_refused_live_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "arena.cli.main", "live", "scenarios/pingpong.yaml", "--out",
                           str(tmp_path / "p")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "pingpong runs in the simulator only" in proc.stderr


def test_arena_node_takes_the_protocol_and_refuses_a_bad_one_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad_chain.py"
    bad.write_text("x = 1\n")
    proc = subprocess.run([sys.executable, "-m", "arena.cli.main", "node", "--scenario",
                           "scenarios/day4_double_spend.yaml", "--role", "validator", "--index", "0", "--rehearsal",
                           "--protocol", str(bad), "--out", str(tmp_path / "n")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs exactly one arena.Protocol subclass" in lines[0]
