"""Proof of stake (consensus ``pos``): blocks, rewards, vote finality, and what partitions and crashes do to them.

Safety: finality never moves backwards on any node, and no two nodes finalise different blocks at one height, even
across a partition. Liveness: finality stalls while no side holds more than 2/3 of the stake, and resumes after the
partition heals; a crashed validator that restarts catches up with the others.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from honest_kit import at, build, events, every, node, result, scenario

from arena.sim.world import World
from honest.node import HonestNode

N_VAL, N_LIGHT, BALANCE, STAKE, REWARD = 4, 6, 1000, 100, 10
GENESIS_SUPPLY = N_LIGHT * BALANCE + N_VAL * STAKE
LIGHTS = list(range(N_VAL, N_VAL + N_LIGHT))


def pos(**over: Any) -> Any:
    base: dict[str, Any] = {"duration": 40, "consensus": {"mode": "pos", "block_reward": REWARD},
                            "workload": {"rate": 5, "fee": 1, "stop": 30}}
    base.update(over)
    return scenario(**base)


def validators(world: World) -> list[HonestNode]:
    return [node(world, i) for i in range(N_VAL)]


def watch_finality(world: World, step: float = 0.25) -> dict[int, list[tuple[float, int]]]:
    """Sample every validator's finalised height every ``step`` virtual seconds (while it is up)."""
    seen: dict[int, list[tuple[float, int]]] = defaultdict(list)

    def sample(now: float) -> None:
        for i in range(N_VAL):
            if world.nodes[i].up:
                seen[i].append((now, node(world, i).tree.finalized_height))

    every(world, 0.5, step, sample)
    return seen


def finalized_events(world: World) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events(world, "finalized"):
        out[e["node"]].append(e)
    return out


def assert_finality_safe(world: World, samples: dict[int, list[tuple[float, int]]]) -> None:
    """Per node: finalised heights only grow. Across nodes: one block per finalised height."""
    by_node = finalized_events(world)
    assert set(by_node) == set(range(N_VAL))
    hash_at: dict[int, str] = {}
    for i, evs in by_node.items():
        heights = [e["height"] for e in evs]
        assert heights == sorted(heights) and len(set(heights)) == len(heights), f"validator{i}: {heights}"
        for e in evs:
            assert hash_at.setdefault(e["height"], e["hash"]) == e["hash"], f"two blocks finalised at {e['height']}"
    for i, seq in samples.items():
        heights = [h for _, h in seq]
        assert heights == sorted(heights), f"validator{i}'s finalised height went backwards: {seq}"
    # and the final chains agree with what was announced
    for v in validators(world):
        for b in v.tree.chain(v.tree.finalized):
            assert hash_at.get(b.header.height, b.block_hash.hex()) == b.block_hash.hex()


def test_chain_grows_supply_follows_rewards() -> None:
    world = build(pos())
    samples = watch_finality(world, step=5.0)
    world.run()
    res = result(world)
    assert res["validators_agree"] is True
    heights = [h for _, h in samples[0]]
    assert len(heights) >= 7
    assert all(a < b for a, b in itertools.pairwise(heights)), heights  # grows every 5 s
    assert res["finalized_height"] >= 30  # one-second slots, 40 s
    assert res["blocks_by_proposer"] and sum(res["blocks_by_proposer"].values()) == res["finalized_height"]
    assert len(res["blocks_by_proposer"]) == N_VAL  # equal stakes: everybody leads some slots
    for v in validators(world):
        chain = v.tree.chain(v.tree.finalized)
        state = v.tree.state(v.tree.finalized)
        assert state is not None
        assert len(chain) == v.tree.finalized_height
        assert state.minted == REWARD * len(chain)
        assert state.burned == 0  # fees go to proposers
        assert state.supply() == GENESIS_SUPPLY + REWARD * len(chain)
    assert res["supply"] == GENESIS_SUPPLY + REWARD * res["finalized_height"]
    assert all(inv["ok"] for inv in res["invariants"].values()), res["invariants"]
    # every honest transfer (the workload stops at 30 s) is in the finalised chain, exactly once
    v0 = node(world, 0)
    included = [t.tx_id.hex() for b in v0.tree.chain(v0.tree.finalized) for t in b.txs]
    assert len(included) == len(set(included))
    assert set(included) == {e["tx"] for e in events(world, "intent")}
    # light nodes follow the headers
    for i in LIGHTS:
        assert node(world, i).best_header_height >= res["finalized_height"]


@pytest.mark.parametrize(("groups", "stalls"), [
    ([[0, 1, 4, 5, 6], [2, 3, 7, 8, 9]], True),  # 2 + 2 validators: no side has 2/3 of the stake
    ([[0, 1, 2, 4, 5, 6], [3, 7, 8, 9]], False),  # 3 + 1: the big side keeps finalising
], ids=["even_split", "minority_cut_off"])
def test_partition_heals_and_finality_never_reverts(groups: list[list[int]], stalls: bool) -> None:
    world = build(pos(events=[{"at": 10, "partition": groups}, {"at": 20, "heal": True}], duration=36))
    samples = watch_finality(world)
    world.run()
    assert_finality_safe(world, samples)
    res = result(world)
    assert res["validators_agree"] is True
    during = [e for e in events(world, "finalized") if 10.5 < e["t"] < 20.0]
    before = max(e["height"] for e in events(world, "finalized") if e["t"] <= 10.0)
    if stalls:
        assert during == [], "a side without 2/3 of the stake finalised a block"
    else:
        assert {e["node"] for e in during} == {0, 1, 2}
    assert res["finalized_height"] > before + 10  # finality resumed after the heal
    assert res["forks_seen"] >= 1  # both sides built blocks while apart
    assert all(inv["ok"] for inv in res["invariants"].values()), res["invariants"]
    heads = [v.tree.height_of(v.head) or 0 for v in validators(world)]
    assert max(heads) - min(heads) <= 1


def crash_world() -> tuple[World, dict[int, list[tuple[float, int]]], dict[str, int]]:
    world = build(pos(events=[{"at": 10, "crash": 3}, {"at": 20, "restart": 3}]))
    samples = watch_finality(world)
    marks: dict[str, int] = {}

    def before_crash() -> None:
        marks["before"] = node(world, 3).tree.finalized_height

    def after_restart() -> None:
        marks["after"] = node(world, 3).tree.finalized_height
        marks["after_blocks"] = len(node(world, 3).tree)

    at(world, 9.99, before_crash)
    at(world, 20.01, after_restart)
    world.run()
    return world, samples, marks


def test_crashed_validator_restarts_and_catches_up() -> None:
    world, samples, marks = crash_world()
    res = result(world)
    assert res["validators_agree"] is True
    v3 = node(world, 3)
    # it came back with its blocks (durable store) ...
    assert marks["after_blocks"] >= marks["before"] > 0
    # ... and caught up: head and finalised height level with the others at the end
    others = validators(world)[:3]
    top_head = max(v.tree.height_of(v.head) or 0 for v in others)
    assert (v3.tree.height_of(v3.head) or 0) >= top_head - 1
    assert v3.tree.finalized_height >= min(v.tree.finalized_height for v in others) - 1
    assert v3.tree.finalized_height > marks["before"] + 10
    # while it was down the three others (3/4 of the stake) kept finalising
    down = [e for e in events(world, "finalized") if 10.5 < e["t"] < 20.0]
    assert {e["node"] for e in down} == {0, 1, 2}
    # it takes part again: proposes blocks that end up in the finalised chain, and is in everybody's peer table
    v0 = node(world, 0)
    proposers = {b.header.proposer for b in v0.tree.chain(v0.tree.finalized) if b.header.slot > 22}
    assert v3.account in proposers
    assert all(v3.public_key in node(world, i).peers.peers for i in range(len(world.nodes)) if i != 3)
    # safety holds on the nodes that never crashed
    by_node = finalized_events(world)
    for i in range(3):
        heights = [e["height"] for e in by_node[i]]
        assert heights == sorted(heights)
    for i in range(3):
        heights = [h for _, h in samples[i]]
        assert heights == sorted(heights)


def test_restarted_validator_keeps_its_finalised_point() -> None:
    _, samples, marks = crash_world()
    assert marks["after"] >= marks["before"]
    heights = [h for _, h in samples[3]]
    assert heights == sorted(heights)
