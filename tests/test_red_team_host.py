"""Red-team tests of the plugin host: a losing red team attacks the game, not the chain.

Every attack is written against the public plugin API only. A few of ``tests/red_plugins/redteam.py``'s modes are
refused by the load-time check (tested); the tests register its class directly to show that the runtime holds
without the check. Tests of what is contained assert the containment property; the one known hole (no per-plugin
memory bound) states the correct expectation and is marked ``xfail(strict=True, reason="hole: ...")``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from honest_kit import hostile_base

from arena import NodeContext
from arena.plugin_host.budget import Bounds
from arena.plugin_host.caller import HookCaller
from arena.plugin_host.faults import Fault
from arena.plugin_host.import_check import check_plugin_source
from arena.plugin_host.registry import PluginError, default_registry, load_file
from arena.runtime.assembly import plugin_context
from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle

TESTS = Path(__file__).parent
RED_PLUGINS = TESTS / "red_plugins"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(RED_PLUGINS))
import redteam  # noqa: E402

REDTEAM_PATH = str(RED_PLUGINS / "redteam.py")
VERDICTS = {"red_won", "blue_won", "unknown", "faulted"}


def scenario(mode: str, duration: float = 15, sybils: int = 2, **params: Any) -> dict[str, Any]:
    """The red team running ``redteam`` in one mode, in the small battle where every hook fires."""
    return hostile_base(f"redteam_{mode}", [{"name": "redteam", "params": {"mode": mode, **params}}], duration, sybils)


def battle(mode: str, out: Path, **kw: Any) -> dict[str, Any]:
    reg = default_registry()
    reg.add(redteam.RedTeam, REDTEAM_PATH)
    redteam.SEEN.clear()
    return run_battle(scenario_from_dict(scenario(mode, **kw)), out_dir=out, registry=reg, report=False).result


def trace(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()[1:]]


def redteam_faults(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in result["plugin_faults"] if f["plugin"] == "redteam"]


def caller_with(mode: str, bounds: Bounds, **params: Any) -> tuple[HookCaller, list[Fault]]:
    """One red node's hook caller running ``redteam`` (no battle), with ``bounds``."""
    faults: list[Fault] = []
    base = NodeContext(0, "light", "red", lambda: 1.0, lambda ev, **f: None, random.Random(1))
    caller = HookCaller(0, "light0", lambda: 1.0, on_fault=faults.append, bounds=bounds, context=base)
    caller.register(redteam.RedTeam(plugin_context(base, "redteam", 1),
                                    redteam.RedTeamParams(mode=mode, start=0, **params)))
    redteam.SEEN.clear()
    return caller, faults


def test_the_red_team_plugin_is_refused_at_load_time_only_for_its_escape_tricks() -> None:
    """Everything else in it is what a student's --plugin file may contain. Its ways of surviving a timeout (a
    context manager that swallows, ``Exception.mro()``) or of reading private state (computed format strings) are
    refused before it runs; the tests register its class directly, to show that the runtime holds without the
    check."""
    found = check_plugin_source(Path(REDTEAM_PATH).read_text(), REDTEAM_PATH)
    assert found and all(any(w in v.message for w in ("__exit__", "mro", "except", ".format")) for v in found), found
    with pytest.raises(PluginError):
        load_file(REDTEAM_PATH)


# ================================================ poisoned answers ==============================================
# Each returns or leaves behind a valid-typed object with poisoned fields, for honest code to trip over after the
# hook returned (once a SimulationError, exit code 3). Answers and replaced payloads are now re-encoded (a fault
# when they do not encode) and mutable records are the plugin's own copies.
POISON = {
    "vote_overflow": "arena_cast_vote returns Vote(2**70, ...): Vote.create in honest finality overflows",
    "vote_str_hash": "arena_cast_vote returns a Vote whose block_hash is a str",
    "propose_no_header": "arena_propose_block returns Block(None, ()): honest code reads decision.header.parent",
    "propose_junk_txs": "arena_propose_block returns Block(header, ['junk', 42]): tree.build reads tx.sender_key",
    "payload_overflow": "arena_outgoing_message sets payload=Ping(2**40) / Gossip(['x']): packing fails after hook",
    "incoming_junk_items": "arena_incoming_message sets payload=Gossip(['x']): the gossip handler reads item_id",
    "incoming_none_tx": "arena_incoming_message sets payload=SubmitTx(None): the intake reads tx.tx_id",
    "peer_poison": "arena_select_peers sets peer.address = None on the peer table's own PeerInfo entries",
}


@pytest.mark.parametrize("mode", sorted(POISON))
def test_poisoned_answers_and_arguments_are_faults_not_crashes(mode: str, tmp_path: Path) -> None:
    result = battle(mode, tmp_path)  # a SimulationError would raise here
    if mode == "peer_poison":  # it changed its own copies of the peer entries: harmless, so no fault
        assert result["verdict"] in ("unknown", "faulted", "red_won") and result["validators_agree"] is True
        return
    assert result["verdict"] in ("faulted", "red_won")
    assert redteam_faults(result), POISON[mode]


def test_a_plugin_that_raises_in_its_constructor_is_a_fault(tmp_path: Path) -> None:
    result = battle("init_raise", tmp_path)
    assert result["verdict"] in VERDICTS
    assert redteam_faults(result)


# ====================================== holes: bounds and the red switch ========================================
def test_a_hook_cannot_swallow_its_timeout_with_a_context_manager() -> None:
    caller, faults = caller_with("swallow_timeout", Bounds(call_cpu=0.2))
    caller.tick(1.0)
    assert ("survived", 1.0) not in redteam.SEEN, redteam.SEEN
    assert faults and faults[0].plugin == "redteam"


def test_a_hook_cannot_catch_its_timeout_through_mro() -> None:
    caller, faults = caller_with("mro_catch", Bounds(call_cpu=0.2))
    caller.tick(1.0)
    assert not [s for s in redteam.SEEN if s[0] == "caught"], redteam.SEEN
    assert faults and faults[0].plugin == "redteam"


@pytest.mark.parametrize("body", [
    "def everything() -> tuple:\n    return tuple(Exception.mro())\n",
    "class Swallow:\n    def __enter__(self):\n        return self\n\n    def __exit__(self, *exc):\n"
    "        return True\n",
])
def test_the_import_check_refuses_ways_to_catch_a_timeout(body: str) -> None:
    assert check_plugin_source(body, "escape.py")


def test_a_red_plugin_cannot_switch_teams_or_names(tmp_path: Path) -> None:
    result = battle("team_switch", tmp_path)  # duration 15, settle 6: red is off from t=9
    sent = sorted({s[1] for s in redteam.SEEN if s[0] == "sent"})
    faults = [f for f in result["plugin_faults"] if "redteam.py" in "".join(f["where"])]
    assert sent, "the plugin acted while red was on"
    problems = []
    if max(sent) >= 9:
        problems.append(f"sent in the settle period at t={[t for t in sent if t >= 9]}")
    problems += [f"fault recorded as {f['team']} plugin {f['plugin']!r}" for f in faults
                 if (f["team"], f["plugin"]) != ("red", "redteam")]
    assert not problems, problems


def test_recursive_sends_from_a_transport_hook_are_a_recorded_fault(tmp_path: Path) -> None:
    result = battle("recursive_send", tmp_path)
    depths = [s[1] for s in redteam.SEEN if s[0] == "depth"]
    assert depths, "the hook never recursed"
    assert result["messages"]["sent"] < 10**5  # the recursion itself is bounded (the recursion limit)
    assert redteam_faults(result), f"the plugin stopped after {max(depths)} nested calls, but no fault was recorded"
    assert result["verdict"] in ("faulted", "red_won")


def test_plugin_trace_events_are_bounded(tmp_path: Path) -> None:
    """Found open (1 MB per node.log call went into trace.jsonl); event data is now bounded."""
    result = battle("log_huge", tmp_path, size=1_000_000)
    longest = max(len(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines())
    assert longest <= 65536 or any(f["kind"] == "budget" for f in redteam_faults(result)), \
        f"a trace line of {longest} bytes, no budget fault"


@pytest.mark.xfail(strict=True, reason="hole: no memory bound: a plugin may hold any amount of memory (a list it "
                   "grows forever, every packet it saw); only the OS stops it, with the whole arena")
def test_a_plugin_that_hoards_memory_is_stopped() -> None:
    caller, faults = caller_with("memory_hog", Bounds(), size=32 * 2**20)
    for _ in range(4):  # 128 MiB held by the plugin
        caller.tick(1.0)
    assert faults and faults[0].kind == "budget", f"holding {len(redteam.SEEN)} x 32 MiB, no fault"


# =================================== holes: impersonation and reaching others ===================================
def test_a_plugin_cannot_write_trace_events_as_another_node(tmp_path: Path) -> None:
    """Found open (index/team/plugin were plain attributes: evidence recorded as blue validator0, verdict 'unknown'
    instead of 'blue_won'); the context is now sealed. Either refusal or true attribution is fine."""
    result = battle("impersonate", tmp_path, target=0)  # validator0 is blue
    red = {2, 3}  # validator2 and light3 run redteam
    forged = [ev for ev in trace(tmp_path) if ev["ev"] in ("evidence", "plugin")
              and (ev["node"] not in red or ev["plugin"] != "redteam")]
    assert forged == []
    assert result["verdict"] in VERDICTS - {"unknown"}, result["verdict_reason"]


@pytest.mark.parametrize("expr", [
    "('{0.' + '_host}').format(x)",
    "(chr(123) + '0.' + chr(95) + 'host' + chr(125)).format(x)",
    "bytes([123, 48, 46, 95, 104, 111, 115, 116, 125]).decode().format(x)",
])
def test_the_import_check_refuses_computed_format_strings(expr: str) -> None:
    assert check_plugin_source(f"def f(x: object) -> str:\n    return {expr}\n", "fmt.py")


SHADOW = '''
from __future__ import annotations

from arena import Plugin


class NotTheDefense(Plugin):
    """Named like a built-in defense: the blue nodes that ask for it get this, which does nothing."""

    name = "confirmation_depth"
    team = "blue"
'''


def test_a_plugin_file_cannot_replace_a_builtin_defense(tmp_path: Path) -> None:
    path = tmp_path / "shadow.py"
    path.write_text(SHADOW)
    assert check_plugin_source(SHADOW, str(path)) == []
    with pytest.raises(PluginError):
        reg = default_registry([path])
        assert reg.get("confirmation_depth").source == "entry point", reg.get("confirmation_depth").source


def test_a_plugin_cannot_shadow_methods_of_the_schema_objects_it_is_handed(tmp_path: Path) -> None:
    battle("tx_method_override", tmp_path)
    assert ("override", True) not in redteam.SEEN


# ================================================== contained ===================================================
def test_reserved_trace_keys_are_a_named_fault(tmp_path: Path) -> None:
    """node.log(..., ev='finalized') cannot forge a protocol event: the call fails in the hook."""
    result = battle("log_reserved", tmp_path)
    faults = redteam_faults(result)
    assert faults and all(f["kind"] == "exception" and "ev" in f["error"] for f in faults)
    assert not [ev for ev in trace(tmp_path) if ev["ev"] == "finalized" and ev.get("height") == 99]
    assert result["verdict"] == "faulted"


@pytest.mark.parametrize("mode", ["send_weird", "wallet_weird", "wallet_bomb"])
def test_odd_sends_and_wallet_calls_are_contained(mode: str, tmp_path: Path) -> None:
    """Junk and oversized raw packets to existing, missing and own addresses, Sybil-to-itself sends, announces;
    wallet transactions with negative, huge, short or unknown-kind fields, and a receiver that detonates when
    hashed: the world runs to a verdict."""
    result = battle(mode, tmp_path)
    assert result["verdict"] in VERDICTS
    assert redteam.SEEN, "the attack never ran"
    assert result["messages"]["sent"] < 10**5


def test_identity_grinding_is_bounded_by_the_team_budget(tmp_path: Path) -> None:
    result = battle("identity_work", tmp_path, sybils=50)
    faults = redteam_faults(result)
    assert faults and "BudgetExceeded" in faults[0]["error"]
    identities = [ev for ev in trace(tmp_path) if ev["ev"] == "identity"]
    assert identities == []  # no key carried 64 bits of work: none was created, and no more than 50 were tried


@pytest.mark.parametrize("body", [
    "def f(x):\n    return vars(x)\n",
    "def f(x):\n    n = '_h' + 'ost'\n    return getattr(x, n)\n",
    "import operator\n\ndef f(x):\n    return operator.attrgetter('_host')(x)\n",
    "def f(x):\n    return '{0._host}'.format(x)\n",
    "def f(x):\n    return '{a._host}'.format_map({'a': x})\n",
    "def f(x):\n    return f'{x._host}'\n",
    "import dataclasses\n\ndef f(x):\n    return dataclasses.replace(x, _host=None)\n",
    "from arena import Adversary\n\ndef f(x):\n    match x:\n        case Adversary(_host=h):\n            return h\n",
    "def f(x):\n    return (y := x)._host\n",
    "def f(x):\n    return [h for h in [x._host]]\n",
    "def f(x, h=None):\n    return (lambda y=x._host: y)()\n",
    "from arena import Wallet\n\nclass W(Wallet):\n    def h(self):\n        return self._host\n\n"
    "def f(w):\n    return W.h(w)\n",
    "from arena import Wallet\n\nclass W(Wallet):\n    @classmethod\n    def h(cls, w):\n        return w._host\n",
    "class W:\n    def h(self, other):\n        self = other\n        return self._host\n",
    "class M:\n    def __init_subclass__(cls):\n        pass\n",
    "class D:\n    def __get__(self, obj, typ):\n        return obj\n",
    "import copy\n\ndef f(x):\n    m = {}\n    copy.deepcopy(x, m)\n    return m\n",
    "def f(x):\n    return x.__class__\n",
    "def f():\n    return object.__subclasses__()\n",
    "def f(x):\n    return type(x).mro\n" "def g(x):\n    return type(x)('X', (), {})\n",
    "def f(tb):\n    return tb.tb_frame.f_back\n",
    "def f():\n    raise SystemExit(3)\n",
    "def f(x):\n    try:\n        pass\n    except BaseException:\n        pass\n",
])
def test_the_import_check_refuses_private_and_introspective_access(body: str) -> None:
    assert check_plugin_source(body, "probe.py"), body


def test_a_plugin_installed_by_another_package_obeys_the_same_rules(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry-point plugin from another distribution is checked like a --plugin file, before it is imported."""
    pkg = tmp_path / "evil_pkg"
    pkg.mkdir()
    marker = tmp_path / "ran"
    (pkg / "__init__.py").write_text(f"import os\nopen({str(marker)!r}, 'w').write('x')\n")
    dist = tmp_path / "evil_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[arena]\nevil = evil_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"evil_pkg/__init__\.py:1"):
        default_registry()
    assert not marker.exists(), "the package's code never ran"


def test_a_plugin_file_whose_top_level_never_ends_is_refused(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.plugin_host import budget

    monkeypatch.setattr(budget, "BOUNDS", budget.Bounds(call_cpu=0.2))
    path = tmp_path / "forever.py"
    path.write_text("n = 0\nwhile n >= 0:\n    n += 1\n")
    with pytest.raises(PluginError, match="PluginTimeout"):
        load_file(path)
