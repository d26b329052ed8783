"""Whole battles against a red team that attacks the game itself: every hook raises, exits, answers garbage or
mutates its arguments, on red and blue nodes alike (``tests/red_plugins/hostile.py``).

Every such battle must end with a verdict (never a crash of the world), name the plugin and a file:line of its own
code, and exit with a code the plugin did not choose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from honest_kit import hostile_base

from arena.cli.main import main
from arena.plugin_host.registry import HOOK_NAMES, Registry, default_registry
from arena.scenario.model import Scenario, scenario_from_dict
from arena.sim.runner import run_battle

RED_PLUGINS = Path(__file__).parent / "red_plugins"
sys.path.insert(0, str(RED_PLUGINS))
import hostile  # noqa: E402

HOSTILE_PATH = str(RED_PLUGINS / "hostile.py")
MUTABLE_ARGS = {"arena_outgoing_packet", "arena_incoming_packet", "arena_outgoing_message", "arena_incoming_message",
                "arena_identity_message", "arena_validate_block", "arena_propose_block"}
VERDICTS = {"red_won", "blue_won", "unknown", "faulted"}
#: How long each hook's battle runs. A plugin that faults is switched off on its node, so a battle's faults are all
#: recorded once every hostile plugin has been called in its hook: in the longer battles these replaced (15 s, 30 s
#: for the channel closes) by t=1.25 for most hooks, 5.0 for ``arena_propose_block`` (the red validator's later
#: slot), 7.6 for ``arena_channel_sign_update`` (the first channel payments, from about t=4.9), 13.1 for the channel
#: closes (the red light node closes its channels at t=12, the close is seen from about t=13); ``arena_node_stop``
#: runs at the end whatever the duration. ``arena_payment_confirmed`` and ``arena_select_peers`` follow the workload,
#: whose schedule depends on the duration (it stops at ``duration - settle``): by 2.2 and 3.3 in their battles here.
#: Each duration has red act (until ``duration - settle``, hostile_base's settle being 6 s) 1.3 s or more past that,
#: then the world runs on for the whole settle. For every hook and mode its battle here records the same faults
#: (plugin, node, kind, file:line: only some times differ), verdict and nodes calling the hook as the longer one did
#: (checked when this was written).
DURATIONS = {"arena_payment_confirmed": 11, "arena_select_peers": 12, "arena_propose_block": 13,
             "arena_channel_sign_update": 15, "arena_channel_close": 22, "arena_channel_close_seen": 22}


def battle_duration(hook: str) -> float:
    return DURATIONS.get(hook, 9)


def hostile_scenario(hook: str, mode: str, duration: float = 30) -> dict[str, Any]:
    """The hostile plugin (red) and its blue twin misbehaving in ``hook``, in the small battle where every hook
    fires."""
    params = {"hook": hook, "mode": mode}
    return hostile_base(f"hostile_{hook}_{mode}", [{"name": "hostile", "params": params}], duration,
                        blue_plugins=[{"name": "hostile_blue", "params": params}])


def registry() -> Registry:
    reg = default_registry()
    reg.add(hostile.Hostile, HOSTILE_PATH)
    reg.add(hostile.HostileBlue, HOSTILE_PATH)
    return reg


def battle(sc: Scenario, out: Path) -> dict[str, Any]:
    return run_battle(sc, out_dir=out, registry=registry(), report=False).result


def assert_named(result: dict[str, Any], hook: str) -> None:
    faults = [f for f in result["plugin_faults"] if f["hook"] == hook]
    assert faults, f"no fault recorded for {hook}: {result['plugin_faults']}"
    for f in faults:
        assert f["plugin"] in ("hostile", "hostile_blue")
        path, line = f["where"][-1].rsplit(":", 1)
        assert path.endswith("red_plugins/hostile.py") and int(line) > 0, f
    assert result["verdict"] in ("faulted", "red_won"), result["verdict_reason"]
    if result["verdict"] == "faulted":
        assert "hostile" in result["verdict_reason"] and "hostile.py:" in result["verdict_reason"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["raise", "exit", "garbage", "mutate"])
@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_misbehaving_still_ends_in_a_named_verdict(hook: str, mode: str, tmp_path: Path) -> None:
    sc = scenario_from_dict(hostile_scenario(hook, mode, battle_duration(hook)))
    result = battle(sc, tmp_path)  # a crash of the world raises here
    assert result["verdict"] in VERDICTS
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["verdict"] == result["verdict"]
    if mode == "mutate" and hook not in MUTABLE_ARGS:
        # Nothing it is handed can be changed (lists are its own copies, schema objects are frozen): no fault.
        assert [f for f in result["plugin_faults"] if f["hook"] == hook] == []
        return
    assert_named(result, hook)


RECURSIVE = """
from __future__ import annotations

from arena import NodeContext, Plugin, hookimpl


def deeper(n: int) -> int:
    return deeper(n + 1) + 1


class Recursive(Plugin):
    \"\"\"Recurses without end in one hook (allowed by the import check: only running it shows the fault).\"\"\"

    name = "hostile"
    team = "red"

    @hookimpl
    def arena_fork_choice(self, node: NodeContext, heads: list) -> bytes | None:
        return deeper(0)
"""
LINE = RECURSIVE.splitlines().index("        return deeper(0)") + 1  # the hook's line
DEEP = RECURSIVE.splitlines().index("    return deeper(n + 1) + 1") + 1  # where the recursion ran out


def test_the_plugin_does_not_choose_the_exit_code(tmp_path: Path) -> None:
    """A RecursionError in a hook run through the CLI: the battle finishes, the plugin and its line are named,
    and the exit code is the verdict's (0 for ``faulted``), not the plugin's."""
    plugin = tmp_path / "recursive.py"
    plugin.write_text(RECURSIVE)
    sc = hostile_scenario("arena_fork_choice", "none", duration=20)
    sc["teams"] = {"red": {"plugins": [{"name": "hostile"}]}}
    sc_file = tmp_path / "hostile.yaml"
    sc_file.write_text(yaml.safe_dump(sc))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(sc_file), "--plugin", str(plugin), "--out", str(out)])
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] == "faulted", result["verdict_reason"]
    assert res.exit_code == 0, res.output
    flat = "".join(ch for ch in res.output if not ch.isspace() and ch not in "│┃")  # table cells fold long paths
    assert f"recursive.py:{DEEP}" in flat, res.output
    fault = result["plugin_faults"][0]
    assert (fault["plugin"], fault["hook"], fault["kind"]) == ("hostile", "arena_fork_choice", "exception")
    assert fault["where"][0].endswith(f"recursive.py:{LINE}") and fault["where"][-1].endswith(f"recursive.py:{DEEP}")
    assert "RecursionError" in fault["error"]
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()[1:]]
    assert any(ev.get("ev") == "plugin_fault" and ev.get("hook") == "arena_fork_choice" for ev in trace)


def test_a_plugin_file_that_would_exit_is_refused_before_it_runs(tmp_path: Path) -> None:
    plugin = tmp_path / "exits.py"
    plugin.write_text(RECURSIVE.replace("return deeper(0)", "raise SystemExit(1)"))
    sc_file = tmp_path / "hostile.yaml"
    sc = hostile_scenario("arena_tick", "none", duration=10)
    sc["teams"] = {"red": {"plugins": [{"name": "hostile"}]}}
    sc_file.write_text(yaml.safe_dump(sc))
    res = CliRunner().invoke(main, ["run", str(sc_file), "--plugin", str(plugin), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert f"exits.py:{LINE}" in res.output and "SystemExit" in res.output and len(res.output.splitlines()) == 1
    assert not (tmp_path / "run" / "result.json").exists()


def test_a_copies_bomb_is_a_named_fault_not_a_memory_bomb(tmp_path: Path) -> None:
    result = battle(scenario_from_dict(hostile_scenario("arena_outgoing_packet", "mutate", duration=15)), tmp_path)
    faults = [f for f in result["plugin_faults"] if f["hook"] == "arena_outgoing_packet"]
    assert faults and all(f["kind"] == "bad_mutation" and "packet." in f["error"] for f in faults)
    assert result["messages"]["sent"] < 10**5


@pytest.mark.slow
def test_a_flooding_red_plugin_is_stopped_by_its_packet_budget(tmp_path: Path) -> None:
    result = battle(scenario_from_dict(hostile_scenario("arena_tick", "flood", duration=15)), tmp_path)
    faults = [f for f in result["plugin_faults"] if f["plugin"] == "hostile"]
    assert faults and faults[0]["kind"] == "budget" and "packets" in faults[0]["error"]
    assert result["verdict"] == "faulted"
