"""Live keys for a real battle never derive from the published seed: ``arena keygen`` makes a key file (0600) that no
seed reproduces, ``arena node`` without ``--rehearsal`` refuses to start without one (exit 2, one line) or with a plan
in which any node keeps its seed-derived key, and rehearsals still use the seed keys (so they stay reproducible)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from arena.cli.main import main
from arena.live.plan import BattlePlan
from arena.live.process import LiveNode, LiveProcess, ProcessSpec
from arena.runtime.keys import KeyFileError, is_seed_key, node_key, read_key_file, write_key_file
from arena.scenario.model import scenario_from_dict
from arena.scenario.yamlsource import ScenarioError

SCENARIO = ("name: keys\nseed: 11\nduration: 10\nsettle: 2\nvalidators: 2\nlight_nodes: 2\n"
            "consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}\n")
NAMES = [("validator", 0), ("validator", 1), ("light", 2), ("light", 3)]


def arena(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(SCENARIO)
    return path


def test_keygen_writes_an_owner_only_key_no_seed_gives(tmp_path: Path) -> None:
    key_file = tmp_path / "team" / "light2.key"
    r = arena("keygen", "--out", str(key_file))
    assert r.exit_code == 0, r.output
    public = bytes.fromhex(r.output.strip())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_key_file(key_file)
    assert bytes(key.pub().key_to_bin()) == public
    assert not any(is_seed_key(11, i, public) for i in range(4))
    assert public != bytes(node_key(11, 2).pub().key_to_bin())
    again = arena("keygen", "--out", str(key_file))  # never overwritten: the old key would be lost
    assert again.exit_code == 2 and "exists" in again.output
    assert read_key_file(key_file).key_to_bin() == key.key_to_bin()
    with pytest.raises(KeyFileError, match="exists"):
        write_key_file(key_file, key)


def test_a_real_battle_node_without_a_key_file_refuses_with_one_line(scenario: Path, tmp_path: Path) -> None:
    base = ["node", "--scenario", str(scenario), "--role", "light", "--index", "2", "--out", str(tmp_path / "n")]
    r = arena(*base)
    assert r.exit_code == 2
    assert len(lines(r)) == 1 and "not a rehearsal" in r.output and "arena keygen" in r.output, r.output
    missing = arena(*base, "--key", str(tmp_path / "nope.key"))
    assert missing.exit_code == 2 and len(lines(missing)) == 1 and "does not exist" in missing.output
    assert not (tmp_path / "nope.key").exists(), "a key nobody put in the roster is not created at start"
    assert not (tmp_path / "n" / "trace.jsonl").exists(), "nothing ran"


def test_a_real_battle_node_refuses_a_roster_that_leaves_seed_keys(scenario: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "light2.key"
    public = arena("keygen", "--out", str(key_file)).output.strip()
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps({"nodes": {"light2": {"address": "127.0.0.4:7002", "public_key": public}}}))
    r = arena("node", "--scenario", str(scenario), "--role", "light", "--index", "2", "--key", str(key_file),
              "--roster", str(roster), "--out", str(tmp_path / "n"))
    assert r.exit_code == 2 and len(lines(r)) == 1, r.output
    assert "seed-derived" in r.output and "validator0" in r.output and "light2" not in r.output
    assert not (tmp_path / "n" / "trace.jsonl").exists()


def test_the_roster_entry_of_a_generated_key_is_not_the_seed_key(scenario: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "light2.key"
    r = arena("node", "--scenario", str(scenario), "--role", "light", "--index", "2", "--key", str(key_file),
              "--keygen", "--listen", "127.0.0.4:7002")
    assert r.exit_code == 0, r.output
    entry = json.loads(r.output.strip().splitlines()[-1])["light2"]
    assert entry["address"] == "127.0.0.4:7002"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = bytes.fromhex(entry["public_key"])
    assert public == bytes(read_key_file(key_file).pub().key_to_bin())
    assert public != bytes(node_key(11, 2).pub().key_to_bin()) and not is_seed_key(11, 2, public)


def test_rehearsals_keep_the_seed_keys(scenario: Path, tmp_path: Path) -> None:
    sc = scenario_from_dict({"name": "keys", "seed": 11, "validators": 2, "light_nodes": 2})
    plan = BattlePlan.build(sc, base_port=7000)
    assert all(plan.public_keys[i] == bytes(node_key(11, i).pub().key_to_bin()) for i in range(4))
    r = arena("node", "--scenario", str(scenario), "--role", "light", "--index", "2", "--rehearsal", "--keygen")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["light2"]["public_key"] == plan.public_keys[2].hex()
    # the process itself refuses a seed key outside a rehearsal (a hand-written spec cannot skip the CLI's check)
    proc = LiveProcess(ProcessSpec(plan, [2], tmp_path / "p", 0.0, rehearsal=False))
    with pytest.raises(ScenarioError, match="not a rehearsal"):
        LiveNode(proc, 2)
    node = LiveNode(LiveProcess(ProcessSpec(plan, [2], tmp_path / "q", 0.0)), 2)
    try:
        assert bytes(node.key.pub().key_to_bin()) == plan.public_keys[2]
    finally:
        node.trace.close()
        node.store.close()


def test_spec_round_trip_keeps_rehearsal_and_link_emulation(tmp_path: Path) -> None:
    sc = scenario_from_dict({"name": "keys", "seed": 11, "validators": 2, "light_nodes": 2})
    spec = ProcessSpec(BattlePlan.build(sc, base_port=7000), [0], tmp_path, rehearsal=False, emulate_links=True)
    back = ProcessSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert back.rehearsal is False and back.emulate_links is True
    assert ProcessSpec.from_json({**spec.to_json(), "rehearsal": True}).rehearsal is True
