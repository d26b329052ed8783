"""A light node that crashes and restarts resumes its nonce from the validators, so its payments still land."""

from __future__ import annotations

from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle


def test_restarted_light_node_resumes_its_nonce() -> None:
    sc = scenario_from_dict({
        "name": "light_restart", "seed": 3, "duration": 40, "validators": 3, "light_nodes": 3,
        "workload": {"rate": 3, "stop": 34},
        "events": [{"at": 10, "crash": 3}, {"at": 13, "restart": 3}],
    })
    out = run_battle(sc, out_dir=None, keep_trace=True)
    events = [e for e in out.world.trace.kept or [] if "ev" in e]
    light3 = out.world.nodes[3].community
    late = [e for e in events if e["ev"] == "intent" and e["node"] == 3 and e["t"] > 16]
    assert late, "the restarted node paid again"
    refused = {e["tx"] for e in events if e["ev"] in ("tx_rejected", "tx_refused") and e.get("reason") == "stale_nonce"}
    assert not refused & {e["tx"] for e in late}
    validator = out.world.nodes[0].community
    state = validator.tree.state(validator.tree.finalized)
    assert state is not None and state.nonce(light3.account) >= max(e["nonce"] for e in late) - 2


def test_lost_submissions_are_resubmitted_until_the_ledger_uses_the_nonce() -> None:
    """On a lossy network a light node's transfer still lands: it is handed to a validator again."""
    sc = scenario_from_dict({
        "name": "lossy", "seed": 5, "duration": 80, "validators": 3, "light_nodes": 4,
        "workload": {"rate": 2, "stop": 30},
        "network": {"link": {"loss": 0.15}},
    })
    out = run_battle(sc, out_dir=None, keep_trace=True)
    intents = [e for e in out.world.trace.kept or [] if e.get("ev") == "intent"]
    assert intents
    validator = out.world.nodes[0].community
    state = validator.tree.state(validator.tree.finalized)
    assert state is not None
    for light in out.world.nodes[3:]:
        mine = [e for e in intents if e["node"] == light.index]
        if mine:
            assert state.nonce(light.community.account) == max(e["nonce"] for e in mine), light.name
        assert not light.community.unconfirmed
