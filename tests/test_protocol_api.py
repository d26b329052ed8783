"""The protocol API: a team's implementation found three ways, run like the honest one, judged by the same referee.

``tests/protocols/honest_api.py`` is the reference honest node run through the public API only (as a team's own
Community would be), so its battles must give the built-in protocol's verdict; what differs is that the arena's
message boundary now stands between it and the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from arena.plugin_host.registry import default_registry
from arena.protocols import registry as protocols
from arena.protocols.honest import HonestProtocol
from arena.protocols.hosted import HostedProtocol
from arena.scenario.checks import check_scenario
from arena.scenario.model import load_scenario
from arena.scenario.yamlsource import ScenarioError
from arena.sim.runner import run_battle

ROOT = Path(__file__).resolve().parent.parent
HONEST_API = Path(__file__).parent / "protocols" / "honest_api.py"
RED_PLUGINS = Path(__file__).parent / "red_plugins"
DOUBLE_SPEND = ROOT / "scenarios" / "day4_double_spend.yaml"
ARENA = [sys.executable, "-m", "arena.cli.main"]


def subclass(cls: str, name: str, body: str) -> str:
    """A protocol file: the honest node through the API with ``body`` changed (a team's variant of it)."""
    return (f"from arena.conform.honest_api import HonestViaApi\n\n\nclass {cls}(HonestViaApi):\n"
            f"    name = {name!r}\n\n{body}")


def short(path: Path = DOUBLE_SPEND, **over: Any) -> Any:
    """The double-spend battle cut to 40 virtual seconds (its first attempts fall inside: start 5, interval 8)."""
    return load_scenario(path, [("duration", 40), *over.items()])


# -- finding a protocol ----------------------------------------------------------------------------------------------
def test_the_built_ins_and_a_file_resolve() -> None:
    assert isinstance(protocols.resolve("honest"), HonestProtocol)
    hosted = protocols.resolve(str(HONEST_API))
    assert isinstance(hosted, HostedProtocol) and hosted.name == "honest_api"
    assert "honest_api" in protocols.known()  # a loaded file's name is usable in scenarios from now on
    assert isinstance(protocols.resolve("honest_api"), HostedProtocol)


def test_module_colon_class_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "team_chain.py").write_text(subclass("TeamChain", "team_chain", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    hosted = protocols.resolve("team_chain:TeamChain")
    assert isinstance(hosted, HostedProtocol) and type(hosted.impl).__name__ == "TeamChain"
    with pytest.raises(protocols.ProtocolError, match=r"not an arena\.Protocol subclass"):
        protocols.resolve("team_chain:nothing_here")


def test_an_entry_point_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "installed_chain.py").write_text(subclass("OurChain", "ourchain", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint("ourchain", "installed_chain:OurChain", protocols.GROUP)
    monkeypatch.setattr(protocols, "entry_points", lambda group: [ep] if group == protocols.GROUP else [])
    assert protocols.installed() == {"ourchain": "installed_chain:OurChain"}
    hosted = protocols.resolve("ourchain")
    assert isinstance(hosted, HostedProtocol) and type(hosted.impl).__name__ == "OurChain"


def test_an_unknown_protocol_is_a_scenario_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nduration: 10\nprotocol: no_such_chain\n")
    sc = load_scenario(path)
    with pytest.raises(ScenarioError) as err:
        check_scenario(sc, path, default_registry())
    text = str(err.value)
    assert f"{path}:3" in text and "protocol" in text and "unknown protocol 'no_such_chain'" in text


@pytest.mark.parametrize("body, message", [
    ("x = 1\n", "needs exactly one arena.Protocol subclass, found none"),
    ("raise RuntimeError('boom')\n", "import failed: RuntimeError: boom"),
])
def test_a_bad_protocol_file_is_one_line_and_exit_2(body: str, message: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad_chain.py"
    bad.write_text(body)
    proc = subprocess.run([*ARENA, "run", str(DOUBLE_SPEND), "--protocol", str(bad), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


# -- running it --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The short double-spend battle on the built-in honest protocol and on the same node through the API."""
    out = {}
    for label, protocol in (("builtin", None), ("api", protocols.resolve(str(HONEST_API)))):
        target = tmp_path_factory.mktemp(label)
        # 24 s: the second attempt (t=13) steals on this seed, and red stays active until 18
        res = run_battle(short(duration=24), out_dir=target, protocol=protocol, report=False).result
        out[label] = {"result": res, "dir": target}
    return out


def test_the_api_path_gives_the_built_in_verdict(both: dict[str, dict[str, Any]]) -> None:
    a, b = both["builtin"]["result"], both["api"]["result"]
    assert a["verdict"] == "red_won" and a["stolen"] > 0
    assert (b["verdict"], b["stolen"], b["stolen_by_category"]) == (a["verdict"], a["stolen"], a["stolen_by_category"])
    assert b["finalized_height"] == a["finalized_height"] > 0
    assert [loss["sentence"] for loss in b["story"]["losses"]] == [loss["sentence"] for loss in a["story"]["losses"]]
    assert b["protocol"] == "honest_api"


def test_states_carry_the_arena_identity_and_a_clean_wire(both: dict[str, dict[str, Any]]) -> None:
    states = sorted((both["api"]["dir"] / "states").glob("*.json"))
    assert states
    for path in states:
        s = json.loads(path.read_text())
        assert path.stem == s["name"] and s["up"] is True
        assert s["wire"]["violations"] == {}, s["name"]
        assert sum(s["wire"]["sent"].values()) > 0
    trace = (both["api"]["dir"] / "trace.jsonl").read_text()
    assert '"wire_violation"' not in trace
    genesis = json.loads(next(line for line in trace.splitlines() if '"genesis"' in line))
    assert genesis["protocol"] == "honest_api" and genesis["contract"] >= 1


def test_a_protocol_cannot_lie_about_who_a_node_is(tmp_path: Path) -> None:
    liar = tmp_path / "liar_chain.py"
    liar.write_text(subclass("Liar", "liar_chain", "    def node_state(self, community, node):\n"
                             "        s = super().node_state(community, node)\n"
                             "        s.update(team='blue', name='validator0', up=True)\n        return s\n"))
    # 24 s: the second attempt (t=13) steals on this seed, and red stays active until 18
    res = run_battle(short(duration=24), out_dir=tmp_path / "r", protocol=protocols.resolve(str(liar)),
                     report=False).result
    red = json.loads((tmp_path / "r" / "states" / "light16.json").read_text())
    assert (red["team"], red["name"]) == ("red", "light16")
    assert res["verdict"] == "red_won"  # the lie changed nothing the referee believes


def test_a_state_that_is_not_json_crashes_the_run_with_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "setstate_chain.py"
    bad.write_text(subclass("SetState", "setstate_chain", "    def node_state(self, community, node):\n"
                            "        return {'ledger': {1, 2}}\n"))
    proc = subprocess.run([*ARENA, "run", str(DOUBLE_SPEND), "--protocol", str(bad), "--param", "duration=8",
                           "--out", str(tmp_path / "r"), "--no-report", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 3, proc.stderr
    assert "run crashed" in proc.stderr and "node_state: not JSON data" in proc.stderr


# -- the message boundary ----------------------------------------------------------------------------------------------
def test_unparseable_packets_are_dropped_at_the_boundary_before_the_implementation(tmp_path: Path) -> None:
    """A red prober sends every validator truncated, unknown, badly signed and malformed packets; each is counted
    as a drop by the boundary, and none reaches the honest node behind it (its own drop counters stay clean)."""
    sc = short(duration=12, **{"light_nodes.11.plugins": [{"name": "boundary_prober"}]})  # 3 rounds: t=3, 5, 7
    registry = default_registry([RED_PLUGINS / "boundary_prober.py"])
    res = run_battle(sc, out_dir=tmp_path, registry=registry, protocol=protocols.resolve(str(HONEST_API)),
                     report=False).result
    assert res["plugin_faults"] == []
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()[1:]]
    probes = [e for e in events if e["ev"] == "evidence" and e.get("kind") == "probe"]
    assert len(probes) == 3
    validators = probes[0]["validators"]
    reasons = ("truncated", "unknown_message", "bad_signature", "malformed")
    drops = [e for e in events if e["ev"] == "msg_drop" and e.get("reason") in reasons]
    for reason in reasons:
        assert sum(1 for e in drops if e["reason"] == reason) == 3 * validators, reason
    for path in (tmp_path / "states").glob("validator*.json"):
        s = json.loads(path.read_text())
        assert not set(s["drops"]) & set(reasons), (s["name"], s["drops"])  # the node never saw them
        assert sum(s["wire"]["dropped"].get(r, 0) for r in reasons) == 3 * len(reasons)


def test_message_hooks_act_on_a_hosted_protocol(tmp_path: Path) -> None:
    """The hostile plugin's bad message mutations are caught by the same caller checks behind the boundary: a named
    fault, not a crash."""
    sc = short(**{"light_nodes.11.plugins": [{"name": "hostile", "params": {"hook": "arena_outgoing_message",
                                                                           "mode": "mutate"}}],
                  "duration": 20})
    registry = default_registry()
    sys.path.insert(0, str(RED_PLUGINS))
    import hostile  # it can SystemExit, so the file check refuses it: added by hand, as test_hostile_battles does

    registry.add(hostile.Hostile, str(RED_PLUGINS / "hostile.py"))
    res = run_battle(sc, out_dir=tmp_path, registry=registry, protocol=protocols.resolve(str(HONEST_API)),
                     report=False).result
    faults = res["plugin_faults"]
    assert faults and faults[0]["plugin"] == "hostile" and faults[0]["hook"] == "arena_outgoing_message"
    assert res["verdict"] == "faulted"


def test_the_channel_workload_is_refused_on_another_protocol(tmp_path: Path) -> None:
    protocols.resolve(str(HONEST_API))  # makes the name known
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nduration: 10\nprotocol: honest_api\nchannels:\n  enabled: true\n")
    with pytest.raises(ScenarioError, match="channel workload runs on the honest protocol only"):
        check_scenario(load_scenario(path), path, default_registry())


@pytest.mark.parametrize("method, body", [
    ("create_node", "    def create_node(self, node):\n        raise RuntimeError('our chain is not ready')\n"),
    ("pay", "    def pay(self, community, receiver, amount, fee):\n        raise ValueError('no funds')\n"),
    ("node_state", "    def node_state(self, community, node):\n        raise KeyError('ledger')\n"),
])
def test_a_bug_in_the_implementation_is_exit_3_naming_its_line(method: str, body: str, tmp_path: Path) -> None:
    """The implementation under test is not a contained plugin: its bug ends the run, with the method, the
    implementation's own file:line and (where there is one) the node, never a traceback."""
    bad = tmp_path / f"bug_{method}.py"
    bad.write_text(subclass("Buggy", f"bug_{method}", body))
    proc = subprocess.run([*ARENA, "run", str(DOUBLE_SPEND), "--protocol", str(bad), "--param", "duration=8",
                           "--out", str(tmp_path / "r"), "--no-report", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and f"Buggy.{method}" in proc.stderr, proc.stderr
    assert f"{bad}:" in proc.stderr and "(node " in proc.stderr, proc.stderr


def test_the_declared_leader_rule_decides_whether_the_referee_reruns_it(both: dict[str, dict[str, Any]],
                                                                       tmp_path: Path) -> None:
    """``leader_schedule = "stake"``: the referee re-runs honest.pos.leader over the canonical chain; ``"own"``: it
    cannot, so the check is unknown (never a false "invalid" against a chain with another rule)."""
    stake = both["api"]["result"]["invariants"]["legitimate_leaders"]
    assert stake["ok"] is True and "re-run over" in stake["detail"]
    own_file = tmp_path / "own_leaders.py"
    own_file.write_text(subclass("OwnLeaders", "own_leaders", "    leader_schedule = 'own'\n"))
    res = run_battle(short(duration=12), out_dir=tmp_path / "r", protocol=protocols.resolve(str(own_file)),
                     report=False).result
    own = res["invariants"]["legitimate_leaders"]
    assert own["ok"] is None and "rule of its own" in own["detail"]
    assert res["verdict"] in ("red_won", "blue_won")  # an unknown leader check does not stop the judgement


def test_the_arena_tells_plugins_the_genesis_once_on_a_team_protocol(tmp_path: Path) -> None:
    """A team's protocol need not call arena_genesis: the arena does when the node is made; the honest node through
    the API also calls it itself, and that second call is not delivered."""
    from arena import NodeContext, Plugin, hookimpl

    seen: list[tuple[int, int, int]] = []

    class GenesisCounter(Plugin):
        name = "genesis_counter"
        team = "blue"

        @hookimpl
        def arena_genesis(self, node: NodeContext, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
            seen.append((node.index, sum(stakes.values()), sum(balances.values())))

    registry = default_registry()
    registry.add(GenesisCounter, "tests/test_protocol_api.py")
    sc = short(duration=6, **{"teams.blue.plugins": [{"name": "genesis_counter"}]})
    run_battle(sc, registry=registry, protocol=protocols.resolve(str(HONEST_API)))
    blue = [i for i, (_, spec) in enumerate(sc.roles()) if spec.team == "blue"]
    assert sorted(i for i, _, _ in seen) == blue  # once per blue node
    stake = sum(getattr(spec, "stake", 0) for _, spec in sc.roles())
    assert {(s, b) for _, s, b in seen} == {(stake, 11 * 1000 + 1000)}


def test_message_hooks_see_each_message_of_a_team_protocol_once(tmp_path: Path) -> None:
    """The boundary calls the message hooks; the honest node through the API would call them too, and that second
    call is not made: a plugin counting outgoing messages counts what the boundary counted, no more."""
    from arena import NodeContext, OutMessage, Plugin, hookimpl

    counts: dict[int, int] = {}

    class OutCounter(Plugin):
        name = "out_counter"
        team = "blue"

        @hookimpl
        def arena_outgoing_message(self, node: NodeContext, message: OutMessage) -> None:
            counts[node.index] = counts.get(node.index, 0) + 1

    registry = default_registry()
    registry.add(OutCounter, "tests/test_protocol_api.py")
    sc = short(duration=8, **{"teams.blue.plugins": [{"name": "out_counter"}]})
    run_battle(sc, out_dir=tmp_path, registry=registry, protocol=protocols.resolve(str(HONEST_API)), report=False)
    wire = json.loads((tmp_path / "states" / "validator0.json").read_text())["wire"]
    assert counts[0] == sum(wire["sent"].values()) > 0


def test_the_pytest_fixture_runs_a_team_protocol(arena_battle: Any) -> None:
    result = arena_battle(short(duration=8), protocol=HONEST_API)
    assert result["protocol"] == "honest_api" and result["verdict"] in ("red_won", "blue_won")
    assert json.loads((Path(result["run_dir"]) / "states" / "validator0.json").read_text())["wire"]["violations"] == {}


def test_arena_protocols_lists_built_ins_installed_and_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from arena.cli.main import main

    (tmp_path / "installed_chain2.py").write_text(subclass("Installed", "installed2", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint("installed2", "installed_chain2:Installed", protocols.GROUP)
    monkeypatch.setattr(protocols, "entry_points", lambda group: [ep] if group == protocols.GROUP else [])
    simple = ROOT / "examples" / "simplechain" / "simplechain.py"
    res = CliRunner().invoke(main, ["protocols", "--json", "--protocol", str(simple)])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(rows) == {"honest", "pingpong", "simplechain", "installed2"}
    assert rows["simplechain"]["source"] == f"file {simple}" and rows["simplechain"]["leader_schedule"] == "stake"
    assert rows["installed2"]["source"] == "entry point installed_chain2:Installed"


def test_a_crafted_message_that_breaks_a_team_handler_is_recorded_not_a_crash(tmp_path: Path) -> None:
    """Red finds a bug in the team's merchant: a well-formed Purchase its handler cannot take. The world goes on;
    the node's error is in the trace with the implementation's own line, and in the state's wire summary."""
    fragile = Path(__file__).parent / "protocols" / "fragile_merchant.py"
    sc = short(duration=12, **{"light_nodes.11.plugins": [{"name": "crafted_purchase"}]})
    registry = default_registry([RED_PLUGINS / "crafted_purchase.py"])
    res = run_battle(sc, out_dir=tmp_path, registry=registry, protocol=protocols.resolve(str(fragile)),
                     report=False).result
    assert res["plugin_faults"] == [] and res["verdict"] in ("red_won", "blue_won")
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()[1:]]
    errors = [e for e in events if e["ev"] == "node_error"]
    merchants = {f"merchant{i}" for i in (17, 18)}
    assert {f"merchant{e['node']}" for e in errors} == merchants
    assert all("OverflowError: order id 2147483648" in e["error"] and "fragile_merchant.py:" in e["where"]
               for e in errors)
    for name in merchants:
        assert json.loads((tmp_path / "states" / f"{name}.json").read_text())["wire"]["handler_errors"] == 1


def test_the_report_and_the_summary_name_the_protocol(both: dict[str, dict[str, Any]]) -> None:
    from arena.cli.main import summary_tables
    from arena.report.page import build_report

    assert "protocol honest_api · " in build_report(both["api"]["dir"])
    assert "protocol honest · " in build_report(both["builtin"]["dir"])
    assert str(summary_tables(both["api"]["result"])[0].title).endswith("sim, protocol honest_api)")
    assert "protocol" not in str(summary_tables(both["builtin"]["result"])[0].title)


def test_a_replaced_outgoing_payload_is_signed_again_and_accepted(tmp_path: Path) -> None:
    """A blue plugin replaces every Ping its validator sends on a team's protocol: the boundary packs and signs the
    new payload with the node's key, so receivers accept it (no bad-signature drop anywhere) and see the new nonce."""
    from arena import InMessage, NodeContext, OutMessage, Plugin, hookimpl
    from honest.schema import Ping

    replaced: list[int] = []
    seen: list[int] = []

    class Renonce(Plugin):
        name = "renonce"
        team = "blue"

        @hookimpl
        def arena_outgoing_message(self, node: NodeContext, message: OutMessage) -> None:
            if node.index == 0 and isinstance(message.payload, Ping):
                message.payload = Ping(message.payload.nonce ^ 0x5A5A5A5A)
                replaced.append(message.payload.nonce)

        @hookimpl
        def arena_incoming_message(self, node: NodeContext, message: InMessage) -> None:
            if isinstance(message.payload, Ping):
                seen.append(message.payload.nonce)

    registry = default_registry()
    registry.add(Renonce, "tests/test_protocol_api.py")
    sc = short(duration=12, **{"teams.blue.plugins": [{"name": "renonce"}]})
    run_battle(sc, out_dir=tmp_path, registry=registry, protocol=protocols.resolve(str(HONEST_API)), report=False)
    assert replaced and set(replaced) & set(seen)  # the replaced pings arrived, as replaced
    for path in (tmp_path / "states").glob("*.json"):
        assert "bad_signature" not in json.loads(path.read_text())["wire"]["dropped"], path.stem
