"""Battle day across addresses: every node on its own loopback address (127.0.0.2, 127.0.0.3, ...), as on a LAN
where each team has a machine. A battle of separate ``arena node`` processes, each with its own key and its own IP,
ends with a verdict that ``arena judge --merge`` agrees with; ``arena live --hosts per-node`` does the same under one
coordinator and writes report.html with the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.live.plan import BattlePlan, free_ports, per_node_host
from arena.referee.checkers import judge_run_dir
from arena.runtime.keys import generate_key, is_seed_key, public_key_hex, write_key_file
from arena.runtime.trace import read_trace
from arena.scenario.model import scenario_from_dict
from arena.scenario.yamlsource import ScenarioError

ARENA = [sys.executable, "-c", "from arena.cli.main import main; main()"]

# 4 validators, 3 honest light nodes and 1 red one (double spend), 1 merchant selling at zero confirmations
SPREAD = """name: live_spread
seed: 21
duration: 30
settle: 8
validators: 4
light_nodes:
  - {}
  - {}
  - {}
  - {team: red, balance: 1000, plugins: [{name: double_spend, params: {attempts: 3, start: 6, interval: 6}}]}
merchants:
  - {price: 50}
genesis_balance: 1000
workload: {rate: 2, amount: [1, 20], fee: 1, purchases: 0.1}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
light: {confirmations: 0}
teams:
  red: {budget: {sybils: 1}}
"""


def test_per_node_hosts_give_node_i_its_own_loopback_address() -> None:
    sc = scenario_from_dict({"name": "hosts", "seed": 1, "validators": 3, "light_nodes": 2})
    plan = BattlePlan.build(sc, base_port=7000, hosts="per_node")
    assert plan.addresses == [(f"127.0.0.{i + 2}", 7000 + i) for i in range(5)]
    assert len({a[0] for a in plan.addresses}) == 5
    shared = BattlePlan.build(sc, base_port=7000)
    assert {a[0] for a in shared.addresses} == {"127.0.0.1"}
    free = BattlePlan.build(sc, hosts="per_node")  # free ports, each checked on its own address
    assert [a[0] for a in free.addresses] == [per_node_host(i) for i in range(5)]
    with pytest.raises(ScenarioError, match="hosts"):
        BattlePlan.build(sc, base_port=7000, hosts="lan")
    with pytest.raises(ScenarioError, match="253"):
        per_node_host(253)


def test_arena_node_port_plan_can_give_every_node_its_own_address(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from arena.cli.main import main

    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: hosts\nseed: 2\nvalidators: 2\nlight_nodes: 2\n")
    got = {}
    for hosts in ("shared", "per-node"):
        r = CliRunner().invoke(main, ["node", "--scenario", str(scenario), "--role", "light", "--index", "3",
                                      "--rehearsal", "--keygen", "--hosts", hosts, "--base-port", "7100"])
        assert r.exit_code == 0, r.output
        got[hosts] = json.loads(r.output)["light3"]["address"]
    assert got == {"shared": "127.0.0.1:7103", "per-node": "127.0.0.5:7103"}


def _stats(d: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(d.glob("live_stats.*.json"))]


@pytest.mark.live
@pytest.mark.slow
def test_a_battle_of_arena_node_processes_each_on_its_own_address(tmp_path: Path) -> None:
    scenario = tmp_path / "spread.yaml"
    scenario.write_text(SPREAD)
    sc = scenario_from_dict(yaml.safe_load(SPREAD))
    roles = [(r, i) for i, (r, _) in enumerate(sc.roles())]
    assert len(roles) == 9
    # each team makes its own key (never from the seed) and publishes only the public key and its address
    nodes: dict[str, dict[str, str]] = {}
    keys: dict[str, Path] = {}
    for r, i in roles:
        name = f"{r}{i}"
        keys[name] = tmp_path / "keys" / f"{name}.key"
        key = generate_key()
        write_key_file(keys[name], key)
        ip = per_node_host(i)
        nodes[name] = {"address": f"{ip}:{free_ports(1, ip)[0]}", "public_key": public_key_hex(key)}
        assert not is_seed_key(sc.seed, i, bytes.fromhex(nodes[name]["public_key"]))
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps({"start_at": time.time() + 25, "nodes": nodes}))  # 9 imports, 2 cores
    procs = {}
    for r, i in roles:  # no --rehearsal: a real battle's rules
        name = f"{r}{i}"
        procs[name] = subprocess.Popen(
            [*ARENA, "node", "--scenario", str(scenario), "--role", r, "--index", str(i), "--roster", str(roster),
             "--key", str(keys[name]), "--out", str(tmp_path / name)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, p in procs.items():
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, (name, err)
    dirs = [tmp_path / f"{r}{i}" for r, i in roles]
    # every node bound its own address and nothing else: its live sockets are all on its IP
    for (r, i), d in zip(roles, dirs, strict=True):
        header, _ = read_trace(d / "trace.jsonl")
        assert header["address"] == nodes[f"{r}{i}"]["address"]
        final = [s for s in _stats(d) if s.get("final")]
        assert final and final[0]["address"][0] == per_node_host(i)
        assert all(a.startswith(per_node_host(i) + ":") for a in final[0]["process_udp_sockets"]), final[0]
        if r == "validator":  # the ones that must talk to finalise (a light node may have had nothing to do)
            assert final[0]["endpoint"]["delivered"] > 0, (f"{r}{i} heard from nobody", final[0])
    # the verdict: the referee's function (what the coordinator calls) and `arena judge --merge` agree
    verdict = judge_run_dir(dirs[0], dirs[1:]).as_result()
    assert verdict["verdict"] in ("blue_won", "red_won", "unknown")
    merge = [a for d in dirs[1:] for a in ("--merge", str(d))]
    judged = subprocess.run([*ARENA, "judge", str(dirs[0]), *merge], capture_output=True, text=True, timeout=180)
    assert judged.returncode == 0, judged.stderr + judged.stdout
    result = json.loads((dirs[0] / "result.json").read_text())
    assert (result["verdict"], result["stolen"]) == (verdict["verdict"], verdict["stolen"])
    assert f"verdict: {verdict['verdict']}" in judged.stdout
    page = (dirs[0] / "report.html").read_text(encoding="utf-8")  # judged merged, reported merged
    assert f'class="verdict {verdict["verdict"]}"' in page and 'id="story"' in page
    assert f"evidence events: {verdict['evidence_count']}" in page
    assert verdict["evidence_count"] >= 1, "the double spend fired across addresses"
    states = [json.loads((d / "states" / f"{d.name}.json").read_text()) for d in dirs[:4]]
    assert all(s["finalized_height"] >= 5 for s in states), [s["finalized_height"] for s in states]
    assert verdict["latency"]["count"] >= 1, "honest transfers were finalised"


@pytest.mark.live
@pytest.mark.slow
def test_arena_live_per_node_hosts_report_and_judge_merge_agree(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: live_hosts\nseed: 3\nduration: 16\nsettle: 4\nvalidators: 4\nlight_nodes: 3\n"
                        "merchants: 1\nworkload: {rate: 2, amount: [1, 20], fee: 1, purchases: 0.3}\n"
                        "consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}\n"
                        "network: {link: {latency: 0.01, jitter: 0.01, loss: 0.05}}\n")
    run = tmp_path / "run"
    r = subprocess.run([*ARENA, "live", str(scenario), "--hosts", "per-node", "--processes", "3", "--quiet",
                        "--emulate-links", "--out", str(run)], capture_output=True, text=True, timeout=240)
    assert r.returncode in (0, 1), r.stderr + r.stdout
    result = json.loads((run / "result.json").read_text())
    assert result["rehearsal"] is True and result["hosts"] == "per_node" and result["links_emulated"] is True
    m = result["messages"]
    assert m["dropped_by_reason"].get("link_loss", 0) > 0, m  # 5% of the sends between nodes, emulated
    assert m["dropped_by_reason"]["link_loss"] < m["sent"] / 5
    names = [f"{r}{i}" for i, r in enumerate(["validator"] * 4 + ["light"] * 3 + ["merchant"])]
    assert {n: result["addresses"][n].split(":")[0] for n in names} == {n: per_node_host(i) for i, n in
                                                                         enumerate(names)}
    assert result["states_missing"] == [] and result["validators_agree"] is True
    report = (run / "report.html").read_text()
    assert result["verdict"] in report and "live backend" in report
    nodes = sorted((run / "nodes").iterdir())
    merge = [a for d in nodes for a in ("--merge", str(d))]
    judged = subprocess.run([*ARENA, "judge", str(run), *merge], capture_output=True, text=True, timeout=180)
    assert judged.returncode == 0, judged.stderr + judged.stdout
    again = json.loads((run / "result.json").read_text())
    assert (again["verdict"], again["stolen"]) == (result["verdict"], result["stolen"])
    no_report = tmp_path / "quiet"
    r2 = subprocess.run([*ARENA, "live", str(scenario), "--param", "duration=8", "--param", "settle=2",
                         "--processes", "2", "--quiet", "--no-report", "--out", str(no_report)],
                        capture_output=True, text=True, timeout=240)
    assert r2.returncode in (0, 1), r2.stderr
    assert (no_report / "result.json").is_file() and not (no_report / "report.html").exists()
    quiet = json.loads((no_report / "result.json").read_text())
    assert quiet["links_emulated"] is False and "link_loss" not in quiet["messages"]["dropped_by_reason"]


# ================================================ --emulate-links: the scenario's links, in user space =============
def _links_plan(addresses: list[tuple[str, int]], **network: Any) -> BattlePlan:
    sc = scenario_from_dict({"name": "links", "seed": 5, "validators": 3, "network": network})
    plan = BattlePlan.build(sc, base_port=7000)
    plan.addresses[:] = addresses
    return plan


def test_the_emulator_resolves_links_as_the_simulator_and_draws_from_the_node_stream() -> None:
    from arena.live.links import LinkEmulator

    addrs = [("127.0.0.2", 1), ("127.0.0.3", 2), ("127.0.0.4", 3)]
    plan = _links_plan(addrs, link={"latency": 0.05, "jitter": 0.0},
                       links=[{"a": 1, "b": 0, "loss": 1.0, "latency": 0.2}],
                       regions={0: "eu", 2: "us"}, region_latency={"eu-us": 0.09})
    e0 = LinkEmulator(plan, 0)
    assert [e0.delay(addrs[1], 0.0) for _ in range(20)] == [None] * 20  # the override, seen from its other end
    assert e0.delay(addrs[2], 0.0) == pytest.approx(0.09)  # the region matrix
    assert e0.delay(("127.0.0.9", 9), 0.0) == 0.0  # not a node of the plan: untouched
    e2 = LinkEmulator(plan, 2)
    assert e2.delay(addrs[1], 0.0) == pytest.approx(0.05)  # the default link
    jittery = _links_plan(addrs, link={"latency": 0.01, "jitter": 0.05, "loss": 0.3})
    one, again = LinkEmulator(jittery, 1), LinkEmulator(jittery, 1)
    got = [one.delay(addrs[0], 0.0) for _ in range(400)]
    assert got == [again.delay(addrs[0], 0.0) for _ in range(400)], "the node's own stream: the same draws"
    assert got != [LinkEmulator(jittery, 2).delay(addrs[0], 0.0) for _ in range(400)], "another node, another stream"
    lost = sum(d is None for d in got)
    assert 60 < lost < 180  # loss 0.3 of 400 packets
    assert all(0.01 <= d <= 0.06 for d in got if d is not None)
    in_order = _links_plan(addrs, link={"latency": 0.01, "jitter": 0.05, "reorder": False})
    e = LinkEmulator(in_order, 0)
    leave = [t + d for t in (0.0, 0.001, 0.002, 0.003) * 10 for d in [e.delay(addrs[1], t)] if d is not None]
    assert leave == sorted(leave), "reorder: false keeps the link's order"


@pytest.mark.live
def test_emulated_loss_drops_everything_on_its_link_and_latency_orders_arrivals() -> None:
    import asyncio
    import socket

    from arena.live.endpoint import LiveEndpoint
    from arena.live.links import LinkEmulator

    async def go() -> None:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.4", 0))
        sink.setblocking(False)
        slow, fast = LiveEndpoint("127.0.0.2", 0), LiveEndpoint("127.0.0.3", 0)
        await slow.open()
        await fast.open()
        addrs = [slow.get_address(), fast.get_address(), sink.getsockname()]
        plan = _links_plan(addrs, link={"latency": 0.0}, links=[{"a": 0, "b": 2, "latency": 0.3},
                                                                {"a": 0, "b": 1, "loss": 1.0}])
        slow.link_delay = LinkEmulator(plan, 0).delay
        fast.link_delay = LinkEmulator(plan, 1).delay
        got: list[bytes] = []

        async def receive(n: int) -> None:
            deadline = time.monotonic() + 20  # a guard against a hang only: what is asserted is counts and order
            while len(got) < n and time.monotonic() < deadline:
                try:
                    got.append(sink.recvfrom(100)[0])
                except BlockingIOError:
                    await asyncio.sleep(0.01)

        try:
            for k in range(50):
                slow.send(addrs[1], b"lost%d" % k)  # loss 1.0 on the link 0-1
            slow.send(addrs[2], b"slow")  # 0.3 s of latency on 0-2
            for k in range(20):
                fast.send(addrs[2], b"fast%d" % k)  # no latency, no loss
            await receive(21)
            assert got[:20] == [b"fast%d" % k for k in range(20)] and got[20:] == [b"slow"]
            assert (slow.stats.dropped or {}).get("link_loss") == 50
            assert fast.stats.received == 0, "nothing crossed the lossy link"
            assert fast.stats.sent == 20 and slow.stats.sent == 1
        finally:
            slow.close()
            fast.close()
            sink.close()

    asyncio.run(go())


# ================================================ the channel workload, live ======================================
@pytest.mark.live
@pytest.mark.slow
def test_the_channel_workload_runs_live_and_payments_succeed(tmp_path: Path) -> None:
    from arena.live import run_live

    sc = scenario_from_dict({
        "name": "live_channels", "seed": 8, "duration": 26, "settle": 4, "validators": 3, "light_nodes": 4,
        "genesis_balance": 5000, "workload": {"rate": 0},
        "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 0, "finality": "votes"},
        "channels": {"enabled": True, "topology": {"kind": "complete"}, "total_capacity": 4000, "open_at": 1,
                     "payments": {"rate": 2, "amount": [5, 30], "start": 8, "stop": 20}}})
    outcome = run_live(sc, tmp_path / "ch", processes=3)
    r = outcome.result
    assert "not_run_live" not in r
    assert r["verdict"] in ("blue_won", "unknown", "red_won") and r["states_missing"] == []
    inv = r["channel_invoices"]
    assert inv["payments"] > 5 and inv["invoices"] == inv["payments"], "every payee published its invoices"
    assert r["channels"]["open"] >= 6, r["channels"]  # dual funding over the 6 edges of 4 light nodes: 12 opens
    pay = r["payments"]
    assert pay["attempted"] >= inv["payments"] - 2 and pay["succeeded"] > 0, pay
    _, evs = read_trace(tmp_path / "ch" / "trace.jsonl")
    plan = next(e for e in evs if e["ev"] == "channel_plan")
    assert plan["members"] == ["light3", "light4", "light5", "light6"] and len(plan["edges"]) == 6
