"""A light node that crashes and restarts resumes its nonce from the validators, so its payments still land."""

from __future__ import annotations

from arena.runner import run_battle
from arena.scenario import scenario_from_dict


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
