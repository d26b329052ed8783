"""The live backend's parts: plan (addresses, keys, groups, bootstrap as the simulator), roster, token bucket, and the
endpoint's guard and pacer on 127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from arena.live.endpoint import BindError, GuardSettings, LiveEndpoint, TokenBucket, own_udp_sockets
from arena.live.plan import BattlePlan, load_roster, parse_address
from arena.live.process import ProcessSpec
from arena.plugin_host.registry import default_registry
from arena.protocols.honest import HonestProtocol, bootstrap_addresses
from arena.runtime.keys import node_key
from arena.scenario.model import Scenario, load_scenario, scenario_from_dict
from arena.scenario.yamlsource import ScenarioError
from arena.sim.world import World

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _scenario(**extra: object) -> Scenario:
    return scenario_from_dict({"name": "units", "seed": 4, "validators": 4, "light_nodes": 5, "merchants": 1,
                               **extra})


# ================================================ plan ===========================================================
def test_plan_keys_and_genesis_match_the_simulator() -> None:
    sc = load_scenario(SCENARIOS / "day4_double_spend.yaml")
    plan = BattlePlan.build(sc, base_port=7000)
    assert plan.addresses[3] == ("127.0.0.1", 7003)
    assert plan.public_keys[5] == bytes(node_key(sc.seed, 5).pub().key_to_bin())
    protocol = HonestProtocol()
    world = World(sc, protocol, default_registry())
    protocol.prepare(world)
    g = plan.genesis()
    assert g.balances == protocol.balances and g.stakes == protocol.stakes and g.names == protocol.names


def test_bootstrap_follows_the_simulator_on_a_ring() -> None:
    sc = _scenario(network={"topology": {"kind": "ring"}}, peering={"bootstrap": 3})
    plan = BattlePlan.build(sc, base_port=7000)
    protocol = HonestProtocol()
    world = World(sc, protocol)
    for node in world.nodes:
        sim = [world.network.host_of[a] for a in bootstrap_addresses(world, node)]
        live = [a[1] - 7000 for a in plan.bootstrap(node.index)]
        assert live == sim, node.name


def test_groups_crashed_nodes_alone_red_together() -> None:
    sc = load_scenario(SCENARIOS / "day4_double_spend.yaml", [("events", [{"at": 5, "crash": 2},
                                                                          {"at": 9, "restart": 2}])])
    groups = BattlePlan.build(sc, base_port=7000).groups(3)
    assert [2] in groups
    red = [i for i, (_, spec) in enumerate(sc.roles()) if spec.team == "red"]
    assert any(set(red) <= set(g) for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(sc.node_count))
    assert len(groups) == 3


def test_red_budget_is_split_not_copied() -> None:
    sc = _scenario(light_nodes=[{"team": "red"}, {"team": "red"}, {}], teams={"red": {"budget": {"sybils": 5}}})
    plan = BattlePlan.build(sc, base_port=7000)
    red = [i for i in range(sc.node_count) if plan.team(i) == "red"]
    assert plan.red_budget_share(red[:1]) + plan.red_budget_share(red[1:]) == 5
    assert plan.red_budget_share(red) == 5 and plan.red_budget_share([0]) == 0


def test_spec_round_trip_keeps_the_scenario(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "day4_double_spend.yaml", [("duration", 25), ("settle", 5)])
    plan = BattlePlan.build(sc, base_port=7100)
    spec = ProcessSpec(plan, [0, 3], tmp_path, 123.5, bootstrap=[("127.0.0.1", 7100)], extra_plugins=["x"])
    back = ProcessSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert back.plan.scenario.digest() == sc.digest()
    assert back.plan.addresses == plan.addresses and back.plan.public_keys == plan.public_keys
    assert (back.indices, back.start_at, back.bootstrap, back.extra_plugins) == ([0, 3], 123.5,
                                                                                  [("127.0.0.1", 7100)], ["x"])


def test_roster_overrides_addresses_and_keys(tmp_path: Path) -> None:
    key = node_key(99, 0)
    roster = tmp_path / "roster.yaml"
    roster.write_text(f"start_at: 1700000000\nnodes:\n  validator1: {{address: '10.0.0.7:9000', public_key: "
                      f"{bytes(key.pub().key_to_bin()).hex()}}}\n")
    entries, start = load_roster(roster)
    assert start == 1700000000.0
    plan = BattlePlan.build(_scenario(), base_port=7000, roster=entries)
    assert plan.addresses[1] == ("10.0.0.7", 9000)
    assert plan.public_keys[1] == bytes(key.pub().key_to_bin())
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  light42: {address: '1.2.3.4:5'}\n")
    with pytest.raises(ScenarioError, match="light42"):
        BattlePlan.build(_scenario(), base_port=7000, roster=load_roster(bad)[0])
    with pytest.raises(ScenarioError, match="HOST:PORT"):
        parse_address("nonsense", "--listen")


def test_token_bucket() -> None:
    b = TokenBucket(rate=10.0, burst=3.0, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.take(0.1) and not b.take(0.1)
    assert b.take(10.0) and b.tokens == pytest.approx(2.0)


# ================================================ endpoint (real sockets on 127.0.0.1) ============================
class _Sink:
    """A raw 127.0.0.1 receiver counting datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.count = 0

    def drain(self) -> int:
        while True:
            try:
                self.sock.recvfrom(70000)
            except BlockingIOError:
                return self.count
            self.count += 1


@pytest.mark.live
def test_endpoint_binds_exactly_and_only_loopback() -> None:
    async def go() -> None:
        with pytest.raises(BindError, match="loopback"):
            LiveEndpoint("0.0.0.0", 0)
        ep = LiveEndpoint("127.0.0.1", 0)
        await ep.open()
        try:
            assert ep.get_address()[0] == "127.0.0.1"
            taken = LiveEndpoint("127.0.0.1", ep.get_address()[1])
            with pytest.raises(BindError):  # py-ipv8's own endpoint would silently move to the next port
                await taken.open()
            sockets = own_udp_sockets()
            assert sockets is None or f"127.0.0.1:{ep.get_address()[1]}" in sockets
        finally:
            ep.close()

    asyncio.run(go())


@pytest.mark.live
def test_guard_limits_each_source_and_bounds_size() -> None:
    async def go() -> None:
        ep = LiveEndpoint("127.0.0.1", 0, GuardSettings(max_packet=1000, unknown_rate=100.0, unknown_burst=50.0))
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.bind(("127.0.0.1", 0))  # not in the plan: the global budget of unknown sources
        calm = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        calm.bind(("127.0.0.2", 0))  # a known peer's IP: its own bucket
        ep.clock = lambda: 1000.0  # the guard's clock stands still: no refill, whatever the machine's speed
        ep.set_known([calm.getsockname()])
        await ep.open()
        try:
            for _ in range(40):  # in chunks, so that even a small socket buffer is read in time
                for _ in range(50):
                    flood.sendto(b"x" * 100, ep.get_address())
                await asyncio.sleep(0.001)
            for _ in range(5):
                calm.sendto(b"y" * 100, ep.get_address())
            flood.sendto(b"z" * 1500, ep.get_address())
            deadline = time.monotonic() + 10  # only a guard against a hang: what is asserted is counted in packets
            while ep.stats.received < 2006 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            dropped: Counter[str] = ep.stats.dropped or Counter()
            assert ep.stats.received >= 1500
            assert dropped["oversize"] == 1
            let_through = ep.stats.received - 1 - dropped["rate_limited"]  # the flooder's and the calm source's
            assert let_through == 5 + 50  # the calm source's 5 and the flooder's burst, not one packet more
            assert ep.stats.delivered == 5 + 50
        finally:
            flood.close()
            calm.close()
            ep.close()

    asyncio.run(go())


@pytest.mark.live
def test_pacer_drains_a_burst_at_a_bounded_rate_without_loss() -> None:
    async def go() -> None:
        sink = _Sink()
        ep = LiveEndpoint("127.0.0.1", 0, GuardSettings(send_rate=5000.0, send_burst=100.0))
        await ep.open()
        try:
            started = time.monotonic()
            for i in range(2000):
                ep.send(sink.address, i.to_bytes(4, "big") * 50)
            assert ep.pending() > 1000  # queued, not thrown at the socket all at once
            while ep.pending() and time.monotonic() - started < 20:
                await asyncio.sleep(0.01)
                sink.drain()
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.05)
            assert sink.drain() == 2000 == ep.stats.sent
            assert elapsed >= (2000 - 100) / 5000 * 0.9  # no faster than the rate
            assert ep.stats.max_queue > 1000
        finally:
            ep.close()
            sink.sock.close()

    asyncio.run(go())


def test_the_live_summary_names_drop_reasons_instead_of_printing_a_dict() -> None:
    from arena.cli.live import dropped_text

    assert dropped_text(0, {}) == "0 dropped"
    assert dropped_text(3, {"malformed": 1, "rate_limited": 2}) == "3 dropped (2 rate_limited, 1 malformed)"
    assert "{" not in dropped_text(1, {"x": 1})
