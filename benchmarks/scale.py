"""The class-scale battle: 1,000 nodes (50 validators, 950 light nodes, a few merchants), honest proof of stake with
transfers and purchases, 600 virtual seconds, and how its cost grows from 100 and 300 nodes.

Each size runs in a fresh process (so peak RSS is that size's own). Per size it prints virtual seconds per wall
second and per CPU second, peak RSS, packets per finalised transfer (all packets of every kind, and Gossip alone),
whether every honest transfer was finalised and whether the validators agree. The last line is a JSON object
(the largest size, with the whole ladder under ``ladder``) for scripts.

The workload scales with the light nodes: each pays about once every ``--pay-every`` virtual seconds, and a fifth
of payments are purchases from a merchant. Validators are one in twenty nodes (at least four).

Usage::

    .venv/bin/python benchmarks/scale.py                         # 100, 300 and 1,000 nodes, 600 virtual s each
    .venv/bin/python benchmarks/scale.py --nodes 300 --seconds 60  # a quick look (100 and 300)
    .venv/bin/python benchmarks/scale.py --only --nodes 1000 --seconds 120
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LADDER = (100, 300, 1000)


def shape(nodes: int) -> tuple[int, int, int]:
    """(validators, light nodes, merchants) of a battle of ``nodes`` nodes."""
    validators = max(4, nodes // 20)
    merchants = max(1, nodes // 100)
    return validators, nodes - validators - merchants, merchants


def scenario(nodes: int, seconds: float, seed: int, pay_every: float) -> dict[str, Any]:
    validators, lights, merchants = shape(nodes)
    return {
        "name": f"scale_{nodes}",
        "seed": seed,
        "duration": seconds,
        "settle": min(30.0, seconds / 4),
        "trace_level": "summary",
        "validators": validators,
        "light_nodes": lights,
        "merchants": merchants,
        "genesis_balance": 10**6,
        "consensus": {"mode": "pos", "block_reward": 10},
        "light": {"confirmations": 1},
        "workload": {"rate": round(lights / pay_every, 3), "amount": [1, 20], "fee": 1, "purchases": 0.2,
                     "start": 5.0, "stop": max(5.0, seconds - 20.0)},
        "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.03, "jitter": 0.02}},
    }


def run_one(nodes: int, seconds: float, seed: int, pay_every: float) -> dict[str, Any]:
    """One battle in this process; the figures of it."""
    from arena.plugin_host.registry import Registry
    from arena.protocols.honest import HonestProtocol
    from arena.scenario.model import scenario_from_dict
    from arena.sim.world import World
    from honest.node import HonestNode
    from honest.schema import MESSAGES

    sc = scenario_from_dict(scenario(nodes, seconds, seed, pay_every))
    world = World(sc, HonestProtocol(), Registry(), None)
    world.protocol.prepare(world)
    by_type: Counter[str] = Counter()
    send_raw = world.network.send_raw

    def counting(src: Any, dst: Any, data: bytes, *rest: Any) -> None:
        cls = MESSAGES.get(data[22]) if len(data) > 22 else None
        by_type[cls.__name__ if cls else "ipv8"] += 1
        send_raw(src, dst, data, *rest)

    world.network.send_raw = counting  # type: ignore[method-assign,assignment]
    intent_ids: set[str] = set()
    emit = world.trace.emit

    def noting(t: float, ev: str, **fields: Any) -> None:
        if ev == "intent":
            intent_ids.add(str(fields.get("tx")))
        emit(t, ev, **fields)

    world.trace.emit = noting  # type: ignore[method-assign]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    world.run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    protocol = world.protocol
    assert isinstance(protocol, HonestProtocol)
    res = protocol.final_state(world)
    vals = [n.community for n in world.nodes if n.role == "validator" and isinstance(n.community, HonestNode)]
    canon = next((v for v in vals if v.account.hex() == res.get("canonical_validator")), None)
    if canon is None:
        by_name = {protocol.names_hex()[v.account.hex()]: v for v in vals}
        canon = by_name.get(str(res.get("canonical_validator")), vals[0])
    chain = canon.tree.chain(canon.tree.finalized)
    finalized_ids = {tx.tx_id.hex() for b in chain for tx in b.txs}
    honest_final = len(intent_ids & finalized_ids)
    packets = sum(by_type.values())
    finalized = max(1, len(finalized_ids))
    return {
        "nodes": nodes, "validators": shape(nodes)[0], "light_nodes": shape(nodes)[1], "merchants": shape(nodes)[2],
        "virtual_s": seconds, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "virtual_per_wall": round(seconds / wall, 3), "virtual_per_cpu": round(seconds / cpu, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "intents": len(intent_ids), "intents_finalized": honest_final, "finalized_txs": len(finalized_ids),
        "all_honest_finalized": honest_final == len(intent_ids),
        "validators_agree": bool(res.get("validators_agree")),
        "finalized_height": res.get("finalized_height"),
        "packets": packets, "packets_per_finalized_transfer": round(packets / finalized, 2),
        "gossip_packets_per_finalized_transfer": round(by_type["Gossip"] / finalized, 2),
        "packets_per_node_per_virtual_s": round(packets / nodes / seconds, 2),
        "by_type": dict(by_type.most_common()),
    }


def line(r: dict[str, Any]) -> str:
    return (f"{r['nodes']:>5} nodes ({r['validators']} validators): {r['virtual_per_wall']:.2f} virtual s/wall s, "
            f"{r['virtual_per_cpu']:.2f}/CPU s, peak {r['peak_rss_mib']:.0f} MiB, "
            f"{r['packets_per_finalized_transfer']:.1f} packets/finalised transfer "
            f"(Gossip {r['gossip_packets_per_finalized_transfer']:.1f}), "
            f"{r['intents_finalized']}/{r['intents']} honest transfers finalised, "
            f"validators agree: {r['validators_agree']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000, help="largest size (the ladder stops there)")
    ap.add_argument("--seconds", type=float, default=600.0, help="virtual seconds per battle")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pay-every", type=float, default=10.0, help="virtual seconds between one light node's payments")
    ap.add_argument("--only", action="store_true", help="run only --nodes, not the ladder below it")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.nodes, args.seconds, args.seed, args.pay_every)))
        return
    sizes = [args.nodes] if args.only else [n for n in LADDER if n < args.nodes] + [args.nodes]
    ladder = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", "--nodes", str(n), "--seconds", str(args.seconds),
                              "--seed", str(args.seed), "--pay-every", str(args.pay_every)],
                             check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ladder.append(r)
        print(line(r), flush=True)
    last = dict(ladder[-1])
    last["ladder"] = [{k: v for k, v in r.items() if k != "by_type"} for r in ladder]
    print(json.dumps(last))


if __name__ == "__main__":
    main()
