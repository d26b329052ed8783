"""Payment channels in the simulator: open, pay both ways, cooperative and unilateral close, disputes of old states
(the attack surface: punished when the victim watches, successful when it is offline), multi-hop payments that
succeed or unwind cleanly, and the supply invariant in every case.

Node indexes: validators 0-3, light nodes from 4. The channel graph's node i is the i-th light node (index 4 + i).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from honest_kit import at, events, merge, node, result, scenario

from arena import Plugin, hookimpl
from arena.plugin_host.registry import Registry
from arena.protocols.honest import HonestProtocol
from arena.referee.checkers import judge
from arena.scenario.model import Scenario
from arena.scenario.yamlsource import ScenarioError
from arena.sim.runner import run_battle
from arena.sim.world import World
from honest.channels import CLOSED_, OPEN, WINDOW
from honest.node import HonestNode
from honest.state import CLOSED

BALANCE = 1000
WINDOW_BLOCKS = 5


def chan_scenario(lights: int = 2, edges: list[list[int]] | None = None, capacity: int = 1000,
                  funding: str = "single", **over: Any) -> Scenario:
    """Pos consensus, no transfer workload, channels on an explicit graph (capacity per edge), no auto payments."""
    edges = edges if edges is not None else [[0, 1]]
    base: dict[str, Any] = {
        "duration": 40, "consensus": {"mode": "pos"}, "light_nodes": lights, "workload": {"rate": 0},
        "channels": {"enabled": True, "topology": {"kind": "explicit", "edges": edges},
                     "total_capacity": capacity * len(edges), "funding": funding, "payments": {"rate": 0},
                     "dispute_window": WINDOW_BLOCKS},
    }
    return scenario(**merge(base, over))


def make_world(sc: Scenario, *plugins: type[Plugin]) -> World:
    registry = Registry()
    for cls in plugins:
        registry.add(cls, "test")
    world = World(sc, HonestProtocol(), registry, None, keep_trace=True)
    world.protocol.prepare(world)
    return world


def only_channel(n: HonestNode) -> bytes:
    (cid,) = [c for c, ch in n.channels.channels.items() if ch.mine_a] or list(n.channels.channels)
    return cid


def ledger(world: World) -> dict[str, int]:
    return result(world)["balances"]


def states(world: World) -> list[dict[str, Any]]:
    return [world.protocol.node_state(n) for n in world.nodes]


def settled_events(world: World) -> list[dict[str, Any]]:
    return [e for e in events(world, "channel_settled") if e["node"] == 0]


def assert_supply(world: World) -> None:
    res = result(world)
    assert all(inv["ok"] for inv in res["invariants"].values()), res["invariants"]


def canonical_state(world: World) -> Any:
    v = node(world, 0)
    st = v.tree.state(v.tree.finalized)
    assert st is not None
    return st


# ================================================ two-party channels ==============================================
def test_open_pay_both_ways_close_cooperatively() -> None:
    world = make_world(chan_scenario(channels={"close_at": 26}))
    a, b = 4, 5
    sent = {"ab": 0, "ba": 0}

    def pay(frm: int, to: int, amount: int, key: str) -> None:
        n = node(world, frm)
        (cid,) = list(n.channels.channels)
        if n.channels.pay_channel(cid, amount):
            sent[key] += amount

    t = 6.0
    for i in range(40):  # a pays b, b pays some back; every fourth round both propose at the same instant
        at(world, t, pay, a, b, 7 + i % 5, "ab", index=a)
        if i >= 3:
            at(world, t if i % 4 == 0 else t + 0.13, pay, b, a, 3 + i % 3, "ba", index=b)
        t += 0.4
    world.run()
    na, nb = node(world, a), node(world, b)
    cid = only_channel(na)
    cha, chb = na.channels.channels[cid], nb.channels.channels[cid]
    assert sent["ab"] > 0 and sent["ba"] > 0
    assert cha.status == chb.status == CLOSED_ and cha.close_kind == "cooperative"
    assert cha.latest.to_bytes() == chb.latest.to_bytes()
    assert (cha.latest.balance_a, cha.latest.balance_b) == (1000 - sent["ab"] + sent["ba"], sent["ab"] - sent["ba"])
    # every countersigned update is one state: the updates plus the close state
    assert cha.latest.seq == len(cha.states) - 1 == 40 + 37 + 1
    bal = ledger(world)
    assert bal["light4"] == BALANCE - sent["ab"] + sent["ba"] and bal["light5"] == BALANCE + sent["ab"] - sent["ba"]
    res = result(world)
    assert res["channels"]["open"] == 1 and res["channels"]["closed_cooperatively"] == 1
    assert canonical_state(world).channels[cid].status == CLOSED
    assert_supply(world)
    # both parties recorded every state they hold; the referee finds no forgery, fraud or minting
    signed = [e for e in events(world, "channel_signed") if e["channel"] == cid.hex()]
    assert {e["node"] for e in signed} == {a, b} and max(e["seq"] for e in signed) == cha.latest.seq
    verdict = judge({}, world.trace.kept or [], states(world))
    checks = {c.name: c for c in verdict.checks}
    assert checks["forgery"].status == "valid", checks["forgery"].detail
    assert checks["channel_fraud"].status == "valid" and checks["minting"].status == "valid"


def test_unilateral_close_with_latest_state_settles_after_the_window() -> None:
    world = make_world(chan_scenario())
    a, b = 4, 5
    at(world, 6.0, lambda: node(world, a).channels.pay_channel(only_channel(node(world, a)), 300), index=a)
    at(world, 7.0, lambda: node(world, b).channels.pay_channel(only_channel(node(world, b)), 100), index=b)
    seen: dict[str, Any] = {}

    def close() -> None:
        nb = node(world, b)
        assert nb.channels.force_close(only_channel(nb))  # b closes: it is owed 200

    def watch() -> None:
        seen["status"] = node(world, a).channels.channels[only_channel(node(world, a))].status

    at(world, 10.0, close, index=b)
    at(world, 12.5, watch, index=a)
    world.run()
    assert seen["status"] == WINDOW  # a saw the close and did not dispute the latest state
    cid = only_channel(node(world, a))
    (ev,) = settled_events(world)
    assert ev["disputed"] is False and ev["seq"] == 2 and (ev["paid_a"], ev["paid_b"]) == (800, 200)
    # settled exactly dispute_window blocks after the force close was included
    v = node(world, 0)
    chain = v.tree.chain(v.tree.finalized)
    closed_at = next(blk.header.height for blk in chain if any(t.kind == 4 for t in blk.txs))
    settled_at = next(blk.header.height for blk in chain
                      if (s := v.tree.state(blk.block_hash)) is not None and cid in s.channels
                      and s.channels[cid].status == CLOSED)
    assert settled_at == closed_at + WINDOW_BLOCKS
    bal = ledger(world)
    assert bal["light4"] == BALANCE - 1000 + 800 and bal["light5"] == BALANCE + 200
    assert result(world)["channels"]["closed_unilaterally"] == 1
    assert_supply(world)


# ================================================ the attack surface: old states ===================================
class PublishOldState(Plugin):
    """Red: on a unilateral close, publish the signed state that pays this node most (not the latest)."""

    name = "publish_old_state"
    team = "red"

    @hookimpl
    def arena_channel_close(self, node: Any, channel: Any, states: list[Any]) -> Any:
        signed = [s for s in states if s.seq > 0]
        best = max(signed, key=lambda s: s.balance_a if channel.side == "a" else s.balance_b)
        node.evidence("channel_fraud", f"publishing seq {best.seq} instead of {channel.seq}", seq=best.seq)
        return best


def fraud_world(victim_offline: bool) -> World:
    lights = [{"team": "red", "plugins": [{"name": "publish_old_state"}]}, {}]
    over: dict[str, Any] = {"light_nodes": lights, "duration": 35}
    if victim_offline:
        over["events"] = [{"at": 13.0, "crash": 5}]
    world = make_world(chan_scenario(**over), PublishOldState)
    red = 4
    for i, t in enumerate((6.0, 7.0, 8.0)):  # red pays the blue node 100, 150, 250: seq 1..3
        at(world, t, lambda amt=(100, 150, 250)[i]: node(world, red).channels.pay_channel(
            only_channel(node(world, red)), amt), index=red)
    at(world, 15.0, lambda: node(world, red).channels.force_close(only_channel(node(world, red))), index=red)
    world.run()
    return world


def test_old_state_is_punished_when_the_victim_watches() -> None:
    world = fraud_world(victim_offline=False)
    (ev,) = settled_events(world)
    assert ev["disputed"] is True and ev["seq"] == 1 and ev["closer"] == node(world, 4).account.hex()
    assert (ev["paid_a"], ev["paid_b"]) == (0, 1000)
    (dispute,) = events(world, "channel_dispute")
    assert dispute["node"] == 5 and dispute["published_seq"] == 1 and dispute["newest_seq"] == 3
    bal = ledger(world)
    assert bal["light4"] == BALANCE - 1000 and bal["light5"] == BALANCE + 1000  # the cheater lost the channel
    res = result(world)
    assert res["channels"]["disputed"] == 1
    assert_supply(world)
    verdict = judge({}, world.trace.kept or [], states(world))
    assert verdict.stolen == 0 and verdict.verdict == "blue_won", verdict.reason


def test_old_state_succeeds_when_the_victim_is_offline() -> None:
    world = fraud_world(victim_offline=True)
    (ev,) = settled_events(world)
    assert ev["disputed"] is False and ev["seq"] == 1 and (ev["paid_a"], ev["paid_b"]) == (900, 100)
    bal = ledger(world)
    assert bal["light4"] == BALANCE - 100 and bal["light5"] == BALANCE + 100  # should have been -500 / +500
    assert result(world)["channels"]["closed_unilaterally"] == 1
    assert_supply(world)
    verdict = judge({}, world.trace.kept or [], states(world))
    assert verdict.verdict == "red_won" and verdict.stolen_by_kind["channel_fraud"] == 400, verdict.reason


# ================================================ multi-hop =======================================================
def test_multi_hop_succeeds_and_fails_cleanly() -> None:
    """Line 4-5-6-7 (each edge funded by its lower end). A payment over 3 channels succeeds; one that meets a relay
    without liquidity unwinds; one whose relay goes offline times out and unwinds; nobody loses anything."""
    sc = chan_scenario(lights=4, edges=[[0, 1], [1, 2], [2, 3]], duration=45,
                       events=[{"at": 16.0, "crash": 6}])
    world = make_world(sc)
    pays: list[Any] = []

    def pay(amount: int) -> None:
        payee = node(world, 7)
        pays.append(node(world, 4).channels.pay(payee.account, amount, payee.channels.create_invoice(amount)))

    def drain() -> None:
        n5 = node(world, 5)
        (cid,) = [c for c, ch in n5.channels.channels.items() if ch.mine_a]
        assert n5.channels.pay_channel(cid, 850)

    at(world, 8.0, pay, 100, index=4)
    at(world, 10.0, drain, index=5)
    at(world, 12.0, pay, 100, index=4)  # relay 5 has 49 left towards 6
    at(world, 17.0, pay, 10, index=4)  # relay 6 is down
    world.run()
    ok, dry, down = pays
    assert ok.status == "succeeded" and ok.route == [node(world, i).account for i in (5, 6, 7)] and ok.fee == 2
    assert dry.status == "failed" and dry.reason == "no_liquidity"
    assert down.status == "failed" and down.reason == "timeout"
    assert node(world, 4).channels.stats.failed_by_reason == {"no_liquidity": 1, "timeout": 1}
    # balances moved only for the successful payment (and the direct one), and nothing is left reserved
    expect = {4: (898, 102), 5: (49, 951), 6: (900, 100)}  # per channel funded by node i: (a, b)
    for i in (4, 5):
        n = node(world, i)
        for ch in n.channels.channels.values():
            assert ch.reserved == 0 and not ch.htlc_in and not ch.htlc_out
            if ch.mine_a:
                assert (ch.latest.balance_a, ch.latest.balance_b) == expect[i]
    assert node(world, 7).channels.stats.received == 1 and node(world, 5).channels.stats.fees_earned == 1
    trace = {e["ok"]: e for e in events(world, "payment") if e["ok"]}
    assert trace[True]["hops"] == 3 and len(trace[True]["path"]) == 4
    assert_supply(world)


def test_close_everything_after_multi_hop_conserves_money() -> None:
    """Dual-funded line with automatic payments, then every funder closes; light balances sum to genesis."""
    sc = chan_scenario(lights=4, edges=[[0, 1], [1, 2], [2, 3]], funding="dual", duration=45,
                       channels={"payments": {"rate": 4, "amount": [1, 60], "start": 7, "stop": 24},
                                 "close_at": 27})
    world = make_world(sc)
    world.run()
    res = result(world)
    assert res["payments"]["attempted"] > 20 and res["payments"]["succeeded"] > 0
    assert res["channels"] == {**res["channels"], "open": 6, "closed_cooperatively": 6, "disputed": 0}
    lights = {k: v for k, v in res["balances"].items() if k.startswith("light")}
    assert sum(lights.values()) == 4 * BALANCE
    assert all(ch.status == CLOSED_ for i in range(4, 8) for ch in node(world, i).channels.channels.values())
    assert_supply(world)


def test_result_json_reports_channels_and_payments(tmp_path: Path) -> None:
    sc = scenario(duration=25, consensus={"mode": "pos"}, light_nodes=5, workload={"rate": 0},
                  channels={"enabled": True, "topology": {"kind": "ring"}, "total_capacity": 2500,
                            "payments": {"rate": 3, "start": 7, "stop": 20}})
    out = run_battle(sc, out_dir=tmp_path)
    res = out.result
    assert res["channels"]["open"] == 10  # dual funding: two channels per ring edge
    assert set(res["payments"]) >= {"attempted", "succeeded", "failed_by_reason"}
    assert res["payments"]["attempted"] > 10
    assert res["verdict_reason"] == "no red team" and res["stolen"] == 0
    assert (tmp_path / "result.json").is_file()


# ================================================ scenario checks =================================================
def test_channels_need_blocks_and_enough_balance() -> None:
    with pytest.raises(ScenarioError, match=r"consensus\.mode pos"):
        scenario(channels={"enabled": True})
    sc = chan_scenario(channels={"total_capacity": 5000})
    with pytest.raises(ScenarioError, match="genesis balance"):
        make_world(sc)


def test_restarted_party_keeps_its_channel() -> None:
    sc = chan_scenario(events=[{"at": 9.0, "crash": 5}, {"at": 10.0, "restart": 5}], channels={"close_at": 14})
    world = make_world(sc)
    at(world, 6.0, lambda: node(world, 4).channels.pay_channel(only_channel(node(world, 4)), 250), index=4)
    world.run()
    nb = node(world, 5)
    (ch,) = nb.channels.channels.values()
    assert ch.status == CLOSED_ and ch.close_kind == "cooperative" and ch.latest.balance_b == 250
    assert ledger(world)["light5"] == BALANCE + 250
    assert_supply(world)


def test_channel_opens_only_once_seen_on_chain() -> None:
    world = make_world(chan_scenario(duration=12))
    snap: dict[str, str] = {}
    at(world, 2.01, lambda: snap.update(early=next(iter(node(world, 4).channels.channels.values())).status))
    world.run()
    assert snap["early"] in ("proposed", "accepted")
    assert next(iter(node(world, 5).channels.channels.values())).status == OPEN


def test_lossy_links_resolve_cleanly() -> None:
    """10% packet loss: proposals, updates, fulfils and chain fetches are resent; whatever fails, fails cleanly."""
    sc = chan_scenario(lights=5, edges=[[0, 1], [1, 2], [2, 3], [3, 4], [4, 0]], funding="dual", duration=60,
                       network={"link": {"loss": 0.1}},
                       channels={"payments": {"rate": 3, "amount": [1, 60], "start": 10, "stop": 30},
                                 "close_at": 36, "open_at": 2})
    world = make_world(sc)
    world.run()
    res = result(world)
    assert res["channels"]["open"] == 10
    assert res["payments"]["succeeded"] > res["payments"]["attempted"] // 2
    for i in range(4, 9):
        for ch in node(world, i).channels.channels.values():
            assert ch.status == CLOSED_ and not ch.htlc_in and not ch.htlc_out and ch.reserved == 0
    assert sum(v for k, v in res["balances"].items() if k.startswith("light")) == 5 * BALANCE
    assert_supply(world)
