"""``arena new protocol NAME``: the generated chain passes ``arena conform``, runs its own scenario and its own test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli.scaffold import new_cmd, new_protocol
from arena.reference import contract as contract_page
from arena.scenario.model import load_scenario
from honest import contract

ARENA = [sys.executable, "-c", "from arena.cli.main import main; main()"]
NAME = "my_chain"


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return new_protocol(NAME, tmp_path_factory.mktemp("scaffold-protocol"))


def test_the_files_and_the_scenario(scaffold: list[Path]) -> None:
    assert [p.name for p in scaffold] == [f"{NAME}.py", f"scenario_{NAME}.yaml", f"test_{NAME}.py"]
    source = scaffold[0].read_text(encoding="utf-8")
    assert "class MyChain(Protocol)" in source and 'name = "my_chain"' in source
    assert "env.events.intent" in source and "durable" in source
    scenario = load_scenario(scaffold[1])
    assert scenario.protocol == NAME and scenario.name == NAME
    assert any(n.team == "red" for _, n in scenario.roles()), "no red node: the verdict would be unknown"
    assert "arena_battle" in scaffold[2].read_text(encoding="utf-8")


@pytest.mark.slow  # the whole kit's battles
def test_the_generated_protocol_passes_arena_conform(scaffold: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "conform"
    proc = subprocess.run([*ARENA, "conform", str(scaffold[0]), "--json", "--out", str(out)], capture_output=True,
                          text=True, timeout=600, cwd=scaffold[0].parent, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and all(c["passed"] for c in report["checks"]), report
    # what it recorded keeps the referee contract, strictly (the arena's own msg_drop events included)
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert runs
    seen: set[str] = set()
    for run in runs:
        for line in (run / "trace.jsonl").read_text(encoding="utf-8").splitlines():
            ev = json.loads(line)
            cls = contract.EVENTS.get(ev.get("ev", ""))
            if cls is not None:
                contract_page.event_adapter(cls).validate_json(
                    json.dumps({k: v for k, v in ev.items() if k not in ("t", "ev")}))
                seen.add(ev["ev"])
        for state in (run / "states").glob("*.json"):
            role = json.loads(state.read_text(encoding="utf-8"))["role"]
            contract_page.state_adapter(contract.STATES[role]).validate_json(state.read_text(encoding="utf-8"))
    assert set(contract.REQUIRED) <= seen


@pytest.mark.slow  # a child pytest running a battle
def test_the_generated_test_passes(scaffold: list[Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(scaffold[2])],
                          cwd=scaffold[0].parent, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


@pytest.mark.parametrize("bad", ["my-chain", "2fast", "class", "", "honest", "pingpong"])
def test_bad_names_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="protocol name"):
        new_protocol(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / f"test_{NAME}.py").write_text("keep me\n")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        new_protocol(NAME, tmp_path)
    assert (tmp_path / f"test_{NAME}.py").read_text() == "keep me\n"
    assert not (tmp_path / f"{NAME}.py").exists()


def test_click_command(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(new_cmd, ["protocol", "ourchain", "--dir", str(tmp_path / "chain")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "chain" / "ourchain.py").is_file()
    assert "arena conform" in res.output
    again = runner.invoke(new_cmd, ["protocol", "ourchain", "--dir", str(tmp_path / "chain")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    bad = runner.invoke(new_cmd, ["protocol", "not-ok", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "identifier" in bad.output
