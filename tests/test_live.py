"""Live battles on 127.0.0.1: the same honest nodes and plugins on real py-ipv8 UDP endpoints in several OS processes,
judged by the same referee as the simulator. Real time is noisy, so the checks are about what must hold whatever
the timing (verdict fields present, attack evidence, no finalised block lost, the flood is throttled)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena.live import run_live
from arena.live.coordinator import Coordinator, LiveOutcome
from arena.live.endpoint import GuardSettings
from arena.live.plan import free_ports
from arena.referee.checkers import judge_run_dir
from arena.runtime.trace import read_trace
from arena.scenario.model import Scenario, load_scenario, scenario_from_dict
from arena.sim.runner import run_battle
from honest.node import COMMUNITY_ID
from honest.schema import Ping, Pong, account_of

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parent.parent
VERDICT_FIELDS = {"verdict", "verdict_reason", "stolen", "stolen_by_kind", "honest_loss", "invariants", "evidence",
                  "evidence_count", "checks", "latency"}


def small(**extra: Any) -> Scenario:
    """8 nodes: 4 validators, 3 light nodes, 1 merchant; a short proof-of-stake battle."""
    return scenario_from_dict({
        "name": "live_small", "seed": 3, "duration": 16, "settle": 4, "validators": 4, "light_nodes": 3,
        "merchants": 1, "workload": {"rate": 2, "amount": [1, 20], "fee": 1, "purchases": 0.3},
        "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10, "finality": "votes"}, **extra})


def node_stats(outcome: LiveOutcome, name: str) -> list[dict[str, Any]]:
    d = outcome.out_dir / "nodes" / name
    return [json.loads(p.read_text()) for p in sorted(d.glob("live_stats.*.json"))]


def events(path: Path, kind: str) -> list[dict[str, Any]]:
    _, evs = read_trace(path)
    return [e for e in evs if e.get("ev") == kind]


def run_in_thread(co: Coordinator) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outcome"] = co.run()
        except BaseException as exc:  # surfaced by the test
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    deadline = time.time() + 120
    while not co.start_at and th.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    assert co.start_at, box.get("error", "the live battle did not start")
    return th, box


def finish(th: threading.Thread, box: dict[str, Any], co: Coordinator) -> LiveOutcome:
    th.join(co.sc.duration + 120)
    assert not th.is_alive(), "the live battle did not finish"
    if "error" in box:
        raise box["error"]
    outcome: LiveOutcome = box["outcome"]
    return outcome


# ================================================ a battle ========================================================
def test_live_battle_in_three_processes_is_judged_like_a_simulation(tmp_path: Path) -> None:
    sc = small()
    outcome = run_live(sc, tmp_path / "live", processes=3)
    r = outcome.result
    assert r["backend"] == "live"
    assert len(r["processes"]) >= 3 and sum(len(p) for p in r["processes"]) == 8
    assert r["states_missing"] == [] and not r["worker_problems"] and not r["plugin_faults"]
    sim = run_battle(sc, out_dir=tmp_path / "sim").result
    assert VERDICT_FIELDS <= set(r) and VERDICT_FIELDS <= set(sim)
    assert [c["name"] for c in r["checks"]] == [c["name"] for c in sim["checks"]]
    assert set(r["invariants"]) == set(sim["invariants"])
    assert r["verdict"] in ("blue_won", "unknown", "red_won")
    assert r["validators_agree"] is True
    assert r["finalized_height"] >= 4, r["finalized_height"]
    assert r["latency"]["count"] >= 1, "some honest transfer was finalised"
    m = r["messages"]
    assert m["sent"] > 100 and m["delivered"] > 100 and m["delivered"] <= m["received"] <= m["sent"]
    # every node wrote a live trace and a state; every socket of every worker is bound to 127.0.0.1
    for name in r["addresses"]:
        header, _ = read_trace(tmp_path / "live" / "nodes" / name / "trace.jsonl")
        assert header["backend"] == "live" and header["node"] == name
        stats = node_stats(outcome, name)
        assert stats and all(s["address"][0] == "127.0.0.1" for s in stats)
        final = [s for s in stats if s.get("final")]
        assert final and all(a.startswith("127.0.0.1:") for a in final[0]["process_udp_sockets"]), final
    assert all(a.startswith("127.0.0.1:") for a in r["addresses"].values())
    # the referee gives the same answer from the directories alone
    again = judge_run_dir(outcome.out_dir, outcome.node_dirs).as_result()
    assert again["verdict"] == r["verdict"] and again["stolen"] == r["stolen"]


def test_double_spend_runs_live_with_the_same_plugins(tmp_path: Path) -> None:
    sc = load_scenario(ROOT / "scenarios" / "day4_double_spend.yaml", [("duration", 25), ("settle", 8)])
    outcome = run_live(sc, tmp_path / "ds", processes=3)
    r = outcome.result
    assert r["verdict"] in ("red_won", "blue_won", "unknown")
    assert VERDICT_FIELDS <= set(r)
    assert not r["plugin_faults"], r["plugin_faults"]
    assert r["evidence_count"] >= 1
    assert any(e.get("kind") == "double_spend" for e in r["evidence"]), "the attack must have fired"
    red = next(n for n, (_, spec) in zip(r["addresses"], sc.roles(), strict=True) if spec.team == "red")
    genesis = events(tmp_path / "ds" / "nodes" / red / "trace.jsonl", "genesis")[0]
    assert genesis["plugins"][red] == ["double_spend"]
    assert r["stolen"] == r["stolen_by_kind"]["double_spend"]


# ================================================ crash and restart ===============================================
def test_validator_killed_and_restarted_keeps_its_finalised_blocks(tmp_path: Path) -> None:
    sc = small(duration=22, events=[{"at": 7, "crash": 1}, {"at": 12, "restart": 1}], merchants=0,
               workload={"rate": 2, "amount": [1, 20], "fee": 1})
    outcome = run_live(sc, tmp_path / "cr", processes=3)
    r = outcome.result
    assert ["validator1"] in r["processes"], "a node that crashes runs alone in its process"
    main = tmp_path / "cr" / "trace.jsonl"
    crash = events(main, "crash")
    assert [e["node"] for e in crash] == [1] and [e["node"] for e in events(main, "restart")] == [1]
    trace = tmp_path / "cr" / "nodes" / "validator1" / "trace.jsonl"
    before = [e["height"] for e in events(trace, "finalized") if e["node"] == 1 and e["t"] < crash[0]["t"]]
    assert before and max(before) >= 2, "validator1 finalised blocks before the kill"
    restarted = events(trace, "node_restarted")
    assert len(restarted) == 1
    assert restarted[0]["finalized_height"] >= max(before), "a finalised block was lost in the kill"
    state = json.loads((tmp_path / "cr" / "nodes" / "validator1" / "states" / "validator1.json").read_text())
    other = json.loads((tmp_path / "cr" / "nodes" / "validator0" / "states" / "validator0.json").read_text())
    assert state["finalized_height"] >= max(before) + 3, "it resynced from its peers and kept going"
    assert state["finalized_height"] >= other["finalized_height"] - 3
    n = min(len(state["chain"]), len(other["chain"]))
    assert [b["hash"] for b in state["chain"][:n]] == [b["hash"] for b in other["chain"][:n]]
    assert r["validators_agree"] is True and r["states_missing"] == []


# ================================================ hostile input ===================================================
PREFIX = b"\x00\x02" + COMMUNITY_ID  # py-ipv8's version bytes and the community id


def _signed_ping(key: Any) -> bytes:
    pk = key.pub().key_to_bin()
    packet = PREFIX + bytes([Ping.msg_id]) + default_serializer.pack_serializable_list(
        [BinMemberAuthenticationPayload(pk), Ping(1)])
    return packet + default_eccrypto.create_signature(key, packet)


#: The flood: this many signed pings, a fresh source port for every ``FLOOD_PER_PORT`` of them, a pause between
#: ports (about 8 s in all on an idle machine). The budget of unknown sources is scaled down for this battle, so
#: that the flood is many times the budget however fast the machine is, and the whole flood fits in the node's
#: socket buffer even if the node reads late: what is asserted is counted in packets.
FLOOD, FLOOD_PER_PORT, FLOOD_PAUSE = 3000, 20, 0.05
FLOOD_GUARD = GuardSettings(unknown_rate=20.0, unknown_burst=20.0)


def test_a_flooding_peer_is_rate_limited_while_the_others_keep_working(tmp_path: Path) -> None:
    """The flooder sits on an IP outside the plan and takes a fresh source port for every batch: the guard keys its
    buckets by IP, so all of it shares the one global budget of unknown sources. Whatever the machine's load, the
    guard lets through at most burst + rate x the time the flood could be read, and the battle goes on."""
    import socket

    sc = small(duration=20)
    co = Coordinator(sc, tmp_path / "flood", processes=3, guard=FLOOD_GUARD)
    target = co.plan.addresses[0]
    th, box = run_in_thread(co)
    packet = _signed_ping(default_eccrypto.generate_key("curve25519"))
    sent = pongs = 0
    ports: set[int] = set()
    while time.time() < co.start_at + 3:
        time.sleep(0.05)
    began = time.monotonic()
    deadline = began + 60  # only a guard against a hang: the flood is counted in packets, not seconds
    while sent < FLOOD and time.monotonic() < deadline:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.66", 0))
            sock.setblocking(False)
            ports.add(sock.getsockname()[1])
            batch = 0
            while batch < FLOOD_PER_PORT and sent < FLOOD:
                try:
                    sock.sendto(packet, target)
                except BlockingIOError:  # the socket's send buffer is full: wait, then send the same packet again
                    time.sleep(0.001)
                    continue
                sent += 1
                batch += 1
            time.sleep(FLOOD_PAUSE)
            while True:
                try:
                    data, _ = sock.recvfrom(70000)
                except BlockingIOError:
                    break
                pongs += data[len(PREFIX):len(PREFIX) + 1] == bytes([Pong.msg_id])
        finally:
            sock.close()
    flooded = time.monotonic() - began  # pongs were counted within this window
    outcome = finish(th, box, co)
    readable = time.monotonic() - began  # validator0 can have read the flood only within this one
    r = outcome.result
    final = next(s for s in node_stats(outcome, "validator0") if s.get("final"))
    ep = final["endpoint"]
    dropped = ep["dropped_by_reason"]
    flood_read = ep["received"] - ep["received_known"]  # what validator0 read from the flooder
    g = FLOOD_GUARD
    allowed = g.unknown_burst + g.unknown_rate * readable  # the global budget: burst + rate x time
    assert sent == FLOOD and len(ports) > 100, "the flood came from many source ports"
    assert flood_read > 2 * allowed, ("validator0 read the flood, far beyond the budget", flood_read, allowed)
    assert dropped.get("rate_limited", 0) >= flood_read - allowed, (sent, flood_read, allowed, dropped)
    assert pongs <= g.unknown_burst + g.unknown_rate * flooded, "only pings within the budget were answered"
    assert r["messages"]["dropped_by_reason"].get("rate_limited", 0) >= dropped["rate_limited"]
    # the battle went on: blocks finalised, honest transfers finalised, validator0 kept up
    assert r["validators_agree"] is True and r["states_missing"] == []
    assert r["finalized_height"] >= 6, r["finalized_height"]
    lat = r["latency"]
    assert lat["count"] >= 5 and lat["count"] >= lat["unconfirmed"], lat
    v0 = json.loads((tmp_path / "flood" / "nodes" / "validator0" / "states" / "validator0.json").read_text())
    assert v0["finalized_height"] >= r["finalized_height"] - 3


# ================================================ a stock py-ipv8 peer ============================================
class StockCommunity(Community):
    """py-ipv8's own Community with nothing but the arena's community id."""

    community_id = COMMUNITY_ID


def test_a_stock_py_ipv8_peer_discovers_live_nodes(tmp_path: Path) -> None:
    sc = small(duration=12, merchants=0)
    co = Coordinator(sc, tmp_path / "stock", processes=2)
    wanted = [co.plan.addresses[i] for i in range(sc.peering.bootstrap)]
    th, box = run_in_thread(co)

    async def stock() -> tuple[tuple[str, int], set[tuple[str, int]]]:
        ep = UDPEndpoint(port=0, ip="127.0.0.1")
        peer = StockCommunity(CommunitySettings(my_peer=Peer(default_eccrypto.generate_key("curve25519")),
                                                endpoint=ep, network=Network()))
        peer.cancel_pending_task("discover_lan_addresses")  # py-ipv8 would probe the machine's interfaces
        await ep.open()
        peer.my_estimated_lan = peer.my_estimated_wan = ep.get_address()
        try:
            while time.time() < co.start_at + 1:
                await asyncio.sleep(0.05)
            found: set[tuple[str, int]] = set()
            for _ in range(100):
                for a in wanted:
                    if a not in found:
                        peer.walk_to(a)
                await asyncio.sleep(0.1)
                found = {(p.address[0], p.address[1]) for p in peer.network.verified_peers}
                if set(wanted) <= found:
                    break
            return ep.get_address(), found
        finally:
            await peer.unload()
            ep.close()

    address, found = asyncio.run(stock())
    outcome = finish(th, box, co)
    assert address[0] == "127.0.0.1"
    assert set(wanted) <= found, (wanted, found)
    assert outcome.result["states_missing"] == []


# ================================================ arena node: a battle spread over "machines" ======================
def test_arena_node_processes_with_a_roster_and_own_key(tmp_path: Path) -> None:
    scenario = tmp_path / "three.yaml"
    scenario.write_text("name: live_nodes\nseed: 9\nduration: 12\nsettle: 3\nvalidators: 2\nlight_nodes: 2\n"
                        "workload: {rate: 1, amount: [1, 20], fee: 1}\n"
                        "consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}\n")
    cmd = [sys.executable, "-c", "from arena.cli.live import node_cmd; node_cmd()", "--scenario", str(scenario)]
    ports = free_ports(4)
    names = [("validator", 0), ("validator", 1), ("light", 2), ("light", 3)]
    key = tmp_path / "team" / "validator1.key"
    keygen = subprocess.run([*cmd, "--role", "validator", "--index", "1", "--key", str(key), "--keygen",
                             "--listen", f"127.0.0.1:{ports[1]}"], capture_output=True, text=True, timeout=120)
    assert keygen.returncode == 0, keygen.stderr
    entry = json.loads(keygen.stdout)["validator1"]
    roster = {"start_at": time.time() + 15, "nodes": {f"{r}{i}": {"address": f"127.0.0.1:{ports[i]}"}
                                                       for r, i in names}}
    roster["nodes"]["validator1"]["public_key"] = entry["public_key"]  # type: ignore[index]
    (tmp_path / "roster.json").write_text(json.dumps(roster))
    procs = []
    for r, i in names:
        extra = ["--key", str(key)] if i == 1 else []
        procs.append(subprocess.Popen([*cmd, "--role", r, "--index", str(i), "--roster", str(tmp_path / "roster.json"),
                                       "--out", str(tmp_path / f"{r}{i}"), "--rehearsal", *extra],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    dirs = [tmp_path / f"{r}{i}" for r, i in names]
    verdict = judge_run_dir(dirs[0], dirs[1:]).as_result()
    assert VERDICT_FIELDS <= set(verdict)
    genesis = events(dirs[2] / "trace.jsonl", "genesis")[0]
    assert genesis["accounts"]["validator1"] == account_of(bytes.fromhex(entry["public_key"])).hex()
    states = [json.loads((d / "states" / f"{d.name}.json").read_text()) for d in dirs[:2]]
    assert all(s["finalized_height"] >= 3 for s in states), [s["finalized_height"] for s in states]
    proposers = {b["proposer"] for s in states for b in s["chain"]}
    assert genesis["accounts"]["validator1"] in proposers, "the node with its own key took part in consensus"
    assert verdict["latency"]["count"] >= 1


# ================================================ red plugins are bounded live too ================================
LIVE_HOSTILE = '''
from __future__ import annotations

from arena import Adversary, NodeContext, Plugin, hookimpl


class Flood(Plugin):
    """Sends as fast as it can through the adversary capability."""

    name = "live_flood"
    team = "red"

    @hookimpl
    def arena_adversary_ready(self, node: NodeContext, adversary: Adversary) -> None:
        self.adversary = adversary

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        target = self.adversary.validators()[0].address
        for _ in range(100_000):
            self.adversary.send_raw(target, b"x" * 500)


class Spin(Plugin):
    """Never returns from its hook."""

    name = "live_spin"
    team = "red"

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        n = 0
        while n >= 0:
            n += 1
'''


def test_a_flooding_or_spinning_red_plugin_is_stopped_and_named_live(tmp_path: Path) -> None:
    """The same bounds as in the simulator: the flood is cut at its packet budget, the endless hook is interrupted;
    both are named with their file:line, and the battle still ends with a verdict."""
    plugin = tmp_path / "live_hostile.py"
    plugin.write_text(LIVE_HOSTILE)
    sc = small(light_nodes=[{}, {"team": "red", "plugins": [{"name": "live_flood"}]},
                            {"team": "red", "plugins": [{"name": "live_spin"}]}])
    outcome = run_live(sc, tmp_path / "hostile", processes=2, plugin_files=[str(plugin)])
    r = outcome.result
    faults = {f["plugin"]: f for f in r["plugin_faults"]}
    assert set(faults) == {"live_flood", "live_spin"}, r["plugin_faults"]
    assert faults["live_flood"]["kind"] == "budget" and "packets" in faults["live_flood"]["error"]
    assert "PluginTimeout" in faults["live_spin"]["error"]
    for f in faults.values():
        assert f["where"] and f["where"][-1].split(":")[0].endswith("live_hostile.py")
    assert r["verdict"] in ("faulted", "red_won")
    assert r["validators_agree"] is True
