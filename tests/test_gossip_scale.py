"""Gossip that scales: an item costs O(validators x fan-out) sends, every validator still gets everything, and what a
light node receives does not grow with the number of nodes."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from honest_kit import BASE, build, merge, result, scenario

from arena.plugin_host.registry import default_registry
from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle
from arena.sim.world import World
from honest.node import HonestNode

RED_PLUGINS = Path(__file__).parent / "red_plugins"
sys.path.insert(0, str(RED_PLUGINS))
import gossip_sink  # noqa: E402


def pos_battle(validators: int, lights: int, fanout: int, duration: float = 40, rate: float = 4.0) -> World:
    sc = scenario(
        duration=duration, validators=validators, light_nodes=lights, genesis_balance=10**6,
        consensus={"mode": "pos", "block_reward": 10},
        peering={"peer_limit": 12},
        gossip={"fanout": fanout},
        workload={"rate": rate, "amount": [1, 20], "fee": 1, "start": 3, "stop": duration - 15},
    )
    world = build(sc, keep_trace=False)
    world.run()
    return world


def validators_of(world: World) -> list[HonestNode]:
    return [n.community for n in world.nodes if n.role == "validator" and isinstance(n.community, HonestNode)]


def item_sends(world: World) -> Counter[str]:
    total: Counter[str] = Counter()
    for v in validators_of(world):
        total.update(v.gossip.relayed)
    return total


@pytest.mark.slow
def test_each_item_costs_at_most_validators_times_fanout_and_still_reaches_everyone() -> None:
    validators, fanout = 16, 3
    # 30 s (transfers from 3 to 15): every validator finalises 25 blocks or more (35 in 40 s), the fan-out's vote
    # sends stay under their bound (17640 of 19248) and flooding sends 5.6 times as many votes (the bound below: 2)
    world = pos_battle(validators, 8, fanout, duration=30)
    res = result(world)
    assert res["validators_agree"] is True
    vals = validators_of(world)
    final = {v.tree.finalized_height for v in vals}
    assert min(final) >= 20, final  # finality kept up with the slots, fan-out or not
    # every validator holds every finalised block of the canonical chain (push + pull delivered all of them)
    canon = max(vals, key=lambda v: v.tree.finalized_height)
    chain = canon.tree.chain(canon.tree.finalized)
    assert all(v.tree.has(b.block_hash) for v in vals for b in chain)
    sends = item_sends(world)
    votes = sum(len(v.voted_heights) for v in vals)
    blocks = sum(v.blocks_proposed for v in vals)
    # each validator forwards a new item once, to at most ``fanout`` peers: a hard bound, not a statistic
    assert sends["vote"] <= votes * validators * fanout
    assert sends["block"] <= blocks * validators * fanout
    flooded = pos_battle(validators, 8, 0, duration=30)
    flood = item_sends(flooded)
    assert sends["vote"] * 2 < flood["vote"]  # flooding costs validators x peers per item


@pytest.mark.slow
def test_what_a_light_node_receives_does_not_grow_with_the_network() -> None:
    def per_light(lights: int) -> float:
        world = pos_battle(4, lights, 4, duration=40, rate=lights / 10)
        got: Counter[Any] = Counter()
        for n in world.nodes:
            if n.role == "light":
                got[n.index] = n.endpoint.bytes_down  # everything that reached it, of every kind
        return max(got.values()) / world.scenario.duration

    small, large = per_light(10), per_light(60)  # six times the light nodes (and their payments)
    assert large <= 1.5 * small, (small, large)


@pytest.mark.slow
def test_red_validators_that_swallow_gossip_do_not_starve_bounded_fanout(tmp_path: Path) -> None:
    """A quarter of the validators (3 of 12, under a third of the stake) are gossip black holes: drawn as one of an
    honest validator's fan-out peers, they swallow the item and answer no pull. Push from the others plus pull
    (ChainStatus, BlockRequest) still delivers every block and finalises every honest transfer."""
    reg = default_registry()
    reg.add(gossip_sink.GossipSink, str(RED_PLUGINS / "gossip_sink.py"))
    sink = {"team": "red", "plugins": [{"name": "gossip_sink"}]}
    sc = scenario_from_dict(merge(BASE, {
        "name": "gossip_sinks", "duration": 45, "settle": 10,
        "validators": [{}, sink, {}, {}, sink, {}, {}, sink, {}, {}, {}, {}],
        "light_nodes": 12, "genesis_balance": 10**6, "consensus": {"mode": "pos", "block_reward": 10},
        "peering": {"peer_limit": 12}, "gossip": {"fanout": 3},
        "workload": {"rate": 4, "amount": [1, 20], "fee": 1, "start": 3, "stop": 30},
    }))
    result = run_battle(sc, out_dir=tmp_path, registry=reg, report=False).result
    assert [e for e in result["evidence"] if e["kind"] == "gossip_swallowed"], "the sinks never fired"
    assert result["plugin_faults"] == []
    assert result["validators_agree"] is True
    assert result["finalized_height"] >= 30
    liveness = result["invariants"]["liveness"]["detail"]
    assert ", 0 not finalised" in liveness, liveness
    assert result["stolen"] == 0
