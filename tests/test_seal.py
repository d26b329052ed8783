"""Sealed run directories: ``result.json`` records the sha256 and size of the trace and of every state file, and
``arena judge`` refuses a directory that no longer matches (exit 2, one line naming the file; ``--force`` judges it
anyway and says so). Also: a live battle's merged directories count Sybil spend exactly as one directory does."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from arena.cli.main import main
from arena.referee.checkers import judge_run_dir
from arena.referee.history import load_history
from arena.referee.seal import is_sealed, seal, sealed_files, verify

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SHORT = ["--param", "duration=20", "--param", "settle=5"]


def judge(run: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["judge", str(run), *args], terminal_width=200)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sealed") / "run"
    res = CliRunner().invoke(main, ["run", str(QUICKSTART), *SHORT, "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def copy(sealed_run: Path, tmp_path: Path) -> Path:
    """A copy of the sealed run to attack."""
    return Path(shutil.copytree(sealed_run, tmp_path / "copy"))


def result_of(run: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((run / "result.json").read_text(encoding="utf-8"))
    return loaded


# ================================================ a sealed run ===================================================
def test_a_run_is_sealed_and_judged_again(copy: Path) -> None:
    result = result_of(copy)
    sealed = result["seal"]
    states = sorted(p.relative_to(copy).as_posix() for p in (copy / "states").glob("*.json"))
    assert states and sorted(sealed) == sorted(["trace.jsonl", *states])
    trace = (copy / "trace.jsonl").read_bytes()
    assert sealed["trace.jsonl"] == {"sha256": hashlib.sha256(trace).hexdigest(), "size": len(trace)}
    assert sealed["trace.jsonl"]["sha256"] == result["trace_sha256"], "the running hash is the file's hash"
    assert verify(copy, result) == [] and verify(copy) == []
    for _ in range(2):  # judging writes result.json, never the files the seal covers
        res = judge(copy)
        assert res.exit_code == 0, res.output
        assert res.stderr == "", res.stderr
        again = result_of(copy)
        assert again["seal"] == sealed and again["verdict"] == result["verdict"] and "forced" not in again


def cut_trace(run: Path) -> Path:
    path = run / "trace.jsonl"
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(text[: len(text) // 2]), encoding="utf-8")  # at a line boundary: every line valid
    return path


def drop_deliveries(run: Path) -> Path:
    path = run / "trace.jsonl"
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in text if '"ev":"delivery"' not in line]
    assert len(kept) < len(text), "the run has deliveries to delete"
    path.write_text("".join(kept), encoding="utf-8")
    return path


def delete_state(run: Path) -> Path:
    path = run / "states" / "merchant12.json"
    path.unlink()
    return path


def alter_state(run: Path) -> Path:
    path = run / "states" / "validator0.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(state, sort_keys=True)
    path.write_text(text.replace('"finalized_height": ', '"finalized_height": 9', 1) + "\n", encoding="utf-8")
    return path


def add_state(run: Path) -> Path:
    path = run / "states" / "validator9.json"
    shutil.copy(run / "states" / "validator0.json", path)
    return path


def corrupt_result(run: Path) -> Path:
    path = run / "result.json"
    path.write_text(path.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    return path


ATTACKS: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "trace cut at a line boundary": (cut_trace, ("truncated",)),
    "delivery lines deleted": (drop_deliveries, ("truncated", "altered")),
    "state file deleted": (delete_state, ("missing",)),
    "state file altered": (alter_state, ("altered",)),
    "state file added": (add_state, ("unexpected",)),
    "result.json corrupted": (corrupt_result, ("unreadable",)),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_damaged_run_dir_is_refused_in_one_line(copy: Path, attack: str) -> None:
    damage, words = ATTACKS[attack]
    target = damage(copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    res = judge(copy)
    assert res.exit_code == 2, res.output
    assert res.stdout == "", "nothing judged"
    (line,) = lines(res.stderr)
    assert str(target) in line and any(f"{target}: {w}" in line for w in words), line
    after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after == before, "nothing written"


def test_force_judges_an_altered_trace_and_says_so(copy: Path) -> None:
    drop_deliveries(copy)
    sealed = result_of(copy)["seal"]
    res = judge(copy, "--force")
    assert res.exit_code == 0, res.output
    written = result_of(copy)
    assert written["forced"] is True and written["verdict_reason"].startswith("forced: ")
    assert written["seal"] == sealed, "the seal is kept: the damage stays visible"
    assert any(str(copy / "trace.jsonl") in p for p in written["seal_problems"])
    assert judge(copy).exit_code == 2, "forcing once does not bless the files"


def test_force_over_a_corrupt_result_json_writes_a_fresh_one(copy: Path) -> None:
    corrupt_result(copy)
    res = judge(copy, "--force")
    assert res.exit_code == 0, res.output
    written = result_of(copy)
    assert written["forced"] is True and written["verdict_reason"].startswith("forced: ")


def test_an_unsealed_run_is_judged_with_one_warning(copy: Path) -> None:
    result = result_of(copy)
    del result["seal"]
    (copy / "result.json").write_text(json.dumps(result), encoding="utf-8")
    assert not is_sealed(result)
    res = judge(copy)
    assert res.exit_code == 0, res.output
    (line,) = lines(res.stderr)
    assert "unsealed" in line and str(copy) in line
    assert result_of(copy)["verdict"] == result["verdict"]
    # without its seal, an old run's trace still has to match the running hash its runner recorded
    drop_deliveries(copy)
    res = judge(copy)
    assert res.exit_code == 2, res.output
    (line,) = lines(res.stderr)
    assert f"{copy / 'trace.jsonl'}: altered" in line and "trace_sha256" in line


# ================================================ verify, pure ===================================================
def test_verify_names_each_problem(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "states").mkdir(parents=True)
    (run / "trace.jsonl").write_text('{"format": 1}\n{"t": 0.0, "ev": "genesis"}\n')
    (run / "states" / "a.json").write_text('{"name": "a"}\n')
    (run / "states" / "b.json").write_text('{"name": "b"}\n')
    sealed = {"seal": seal(run)}
    assert sorted(sealed["seal"]) == ["states/a.json", "states/b.json", "trace.jsonl"]
    assert verify(run, sealed) == []
    (run / "trace.jsonl").write_text('{"format": 1}\n')
    (run / "states" / "a.json").write_text('{"name": "A"}\n')  # the same size
    (run / "states" / "b.json").unlink()
    (run / "states" / "c.json").write_text("{}")
    assert verify(run, sealed) == [
        f"{run / 'states/a.json'}: altered (sha256 differs from result.json's seal)",
        f"{run / 'states/b.json'}: missing (sealed in result.json)",
        f"{run / 'trace.jsonl'}: truncated (14 of 42 sealed bytes)",
        f"{run / 'states/c.json'}: unexpected file (not in result.json's seal)",
    ]
    assert verify(run, {"seal": {"../x": {"sha256": "", "size": 0}}}) == [
        f"{run / 'result.json'}: unreadable (its seal is malformed)"]
    (run / "result.json").write_text("{")
    (problem,) = verify(run)
    assert problem.startswith(f"{run / 'result.json'}: unreadable")
    assert verify(run, {}) == [], "unsealed: nothing to check"


# ================================================ live: merged node directories ==================================
NAMES = {"validator0": "validator", "light1": "light", "light2": "light"}
TEAMS = {"validator0": "blue", "light1": "blue", "light2": "red"}
ACCOUNTS = {name: f"{i:02x}" * 32 for i, name in enumerate(NAMES)}


def genesis() -> dict[str, Any]:
    return {"t": 0.0, "ev": "genesis", "teams": TEAMS, "roles": NAMES, "accounts": ACCOUNTS,
            "stakes": {"validator0": 100}, "balances": dict.fromkeys(NAMES, 1000)}


def identity(t: float, n: int, cost: int) -> dict[str, Any]:
    return {"t": t, "ev": "identity", "node": 2, "name": f"sybil2.{n}", "account": f"{0xA0 + n:02x}" * 32,
            "cost": cost, "tries": 1}


def node_dir(path: Path, name: str, events: list[dict[str, Any]]) -> Path:
    (path / "states").mkdir(parents=True)
    header = {"format": 1, "backend": "live", "node": name, "scenario": "synthetic"}
    with (path / "trace.jsonl").open("w", encoding="utf-8") as fh:
        for record in (header, genesis(), *events):
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
    state = {"name": name, "team": TEAMS[name], "role": NAMES[name], "ledger": {}, "supply": 0}
    (path / "states" / f"{name}.json").write_text(json.dumps(state, sort_keys=True) + "\n", encoding="utf-8")
    return path


def test_merged_live_dirs_count_sybil_spend_like_one_dir(tmp_path: Path) -> None:
    """Each machine's identity events are counted once: the sum over the merged directories, the same as judging
    one directory that holds them all (the simulator's case)."""
    first = [identity(1.0, 0, 25), {"t": 2.0, "ev": "drop", "reason": "loss"}, identity(3.0, 1, 40)]
    second = [identity(1.5, 2, 35), {"t": 4.0, "ev": "msg_drop", "node": 1, "reason": "x", "kind": "Ping"}]
    a = node_dir(tmp_path / "light2", "light2", first)
    b = node_dir(tmp_path / "validator0", "validator0", second)
    merged = judge_run_dir(a, [b])
    one = judge_run_dir(node_dir(tmp_path / "one", "light2", sorted(first + second, key=lambda e: e["t"])))
    assert merged.sybil_spend == one.sybil_spend == 25 + 40 + 35
    assert merged.as_result()["red_net_gain"] == merged.stolen - 100
    assert load_history(a, [b]).sybils == load_history(tmp_path / "one").sybils
    assert len(load_history(a, [b]).sybils) == 3


def live_layout(tmp_path: Path) -> Path:
    """A live battle's run directory: the coordinator's trace, and ``nodes/<name>/`` for each node."""
    run = tmp_path / "live"
    run.mkdir()
    (run / "trace.jsonl").write_text(json.dumps({"format": 1, "backend": "live"}) + "\n" + json.dumps(genesis())
                                     + "\n", encoding="utf-8")
    node_dir(run / "nodes" / "validator0", "validator0", [])
    node_dir(run / "nodes" / "light2", "light2", [identity(1.0, 0, 25)])
    (run / "nodes" / "light2" / "live_stats.1.json").write_text("{}")  # not read by the referee: not sealed
    (run / "result.json").write_text(json.dumps({"seal": seal(run)}), encoding="utf-8")
    return run


def test_a_live_run_dir_seals_its_node_dirs(tmp_path: Path) -> None:
    run = live_layout(tmp_path)
    assert sealed_files(run) == ["trace.jsonl", "nodes/light2/trace.jsonl", "nodes/light2/states/light2.json",
                                 "nodes/validator0/trace.jsonl", "nodes/validator0/states/validator0.json"]
    merge = [arg for d in ("validator0", "light2") for arg in ("--merge", str(run / "nodes" / d))]
    res = judge(run, *merge)
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and result_of(run)["sybil_spend"] == 25
    state = run / "nodes" / "light2" / "states" / "light2.json"
    state.write_text(state.read_text().replace('"red"', '"blue"'))
    res = judge(run, *merge)
    assert res.exit_code == 2, res.output
    (line,) = lines(res.stderr)
    assert f"{state}: altered" in line


def test_a_merge_dir_outside_the_run_dir_without_a_seal_is_warned_about(tmp_path: Path) -> None:
    run = live_layout(tmp_path)
    other = node_dir(tmp_path / "elsewhere" / "light1", "light1", [])
    res = judge(run, "--merge", str(other))
    assert res.exit_code == 0, res.output
    (line,) = lines(res.stderr)
    assert "unsealed" in line and str(other) in line


@pytest.mark.live
def test_a_live_battle_is_sealed(tmp_path: Path) -> None:
    from arena.live import run_live
    from arena.scenario.model import scenario_from_dict

    sc = scenario_from_dict({
        "name": "live_seal", "seed": 3, "duration": 10, "settle": 3, "validators": 4, "light_nodes": 2,
        "merchants": 1, "workload": {"rate": 2, "amount": [1, 20], "fee": 1, "purchases": 0.3},
        "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10, "finality": "votes"}})
    outcome = run_live(sc, tmp_path / "live", processes=2)
    sealed = result_of(outcome.out_dir)["seal"]
    assert "trace.jsonl" in sealed
    for d in outcome.node_dirs:
        assert f"nodes/{d.name}/trace.jsonl" in sealed and f"nodes/{d.name}/states/{d.name}.json" in sealed
    assert verify(outcome.out_dir) == []
    merge = [arg for d in outcome.node_dirs for arg in ("--merge", str(d))]
    assert judge(outcome.out_dir, *merge).exit_code == 0
