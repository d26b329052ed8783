"""Proof-of-stake at scale: 20 validators and 200 light nodes under a steady transfer load, in virtual time.

Figures: wall seconds, virtual seconds per wall second, transfers finalised per wall second (transactions in the
canonical finalised chain), finalised height and agreement, packets, and peak RSS (``ru_maxrss``).

Usage::

    .venv/bin/python benchmarks/pos_scale.py                       # 600 virtual s (target: >= 20 virtual s / wall s)
    .venv/bin/python benchmarks/pos_scale.py --seconds 60          # a quick run
    .venv/bin/python benchmarks/pos_scale.py --seconds 60 --peer-limit 24 --rate 50 --json
    .venv/bin/python -m cProfile -s tottime benchmarks/pos_scale.py --seconds 30 | head -60
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.plugin_host.registry import Registry  # noqa: E402
from arena.protocols.honest import HonestProtocol  # noqa: E402
from arena.scenario.model import Scenario, scenario_from_dict  # noqa: E402
from arena.sim.world import World  # noqa: E402
from honest.node import HonestNode  # noqa: E402
from honest.schema import MESSAGES  # noqa: E402

TARGET_SPEED = 20.0


def make_scenario(args: argparse.Namespace) -> Scenario:
    peering: dict[str, Any] = {}
    if args.peer_limit:
        peering["peer_limit"] = args.peer_limit
    if args.ping_interval:
        peering.update(ping_interval=args.ping_interval, peer_timeout=3 * args.ping_interval)
    gossip: dict[str, Any] = {}
    if args.batch is not None:
        gossip["batch_interval"] = args.batch
    if args.fanout:
        gossip["fanout"] = args.fanout
    return scenario_from_dict({
        "name": "pos_scale",
        "seed": args.seed,
        "duration": args.seconds,
        "trace_level": "summary",
        "consensus": {"mode": "pos", "block_reward": 10},
        "validators": args.validators,
        "light_nodes": args.lights,
        "genesis_balance": 10**6,
        "peering": peering,
        "gossip": gossip,
        "workload": {"rate": args.rate, "amount": [1, 20], "fee": 1, "start": 2.0,
                     "stop": max(2.0, args.seconds - 10.0)},
        "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.03, "jitter": 0.02}},
    })


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--validators", type=int, default=20)
    ap.add_argument("--lights", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=600.0, help="virtual seconds")
    ap.add_argument("--rate", type=float, default=20.0, help="transfers per virtual second (all light nodes)")
    ap.add_argument("--peer-limit", type=int, default=0, help="0: the scenario default (12)")
    ap.add_argument("--ping-interval", type=float, default=0, help="0: the scenario default (5 s; timeout 3x)")
    ap.add_argument("--batch", type=float, default=None, help="gossip batch interval (default 0.05 s)")
    ap.add_argument("--fanout", type=int, default=0, help="gossip fan-out (default 0: all validator peers)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-cache", action="store_true", help="verify every signature on every node")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sc = make_scenario(args)
    rss0 = peak_rss_mib()
    world = World(sc, HonestProtocol(), Registry(), None, cache_signatures=not args.no_cache)
    world.protocol.prepare(world)
    by_type: Counter[str] = Counter()
    send_raw = world.network.send_raw

    def counting(src: Any, dst: Any, data: bytes, *rest: Any) -> None:
        cls = MESSAGES.get(data[22]) if len(data) > 22 else None
        by_type[cls.__name__ if cls else "other"] += 1
        send_raw(src, dst, data, *rest)

    world.network.send_raw = counting  # type: ignore[method-assign,assignment]
    started = time.perf_counter()
    cpu0 = time.process_time()
    last = [started]

    def progress(t: float) -> None:
        now = time.perf_counter()
        if not args.quiet and (now - last[0] > 10 or t >= sc.duration):
            last[0] = now
            print(f"  ... {t:.0f}/{sc.duration:.0f} virtual s after {now - started:.1f} wall s", file=sys.stderr)

    world.run(progress)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    res = world.protocol.final_state(world)
    vals = [n.community for n in world.nodes if n.role == "validator" and isinstance(n.community, HonestNode)]
    protocol = world.protocol
    assert isinstance(protocol, HonestProtocol)
    by_name = {protocol.names_hex()[v.account.hex()]: v for v in vals}
    canon = by_name.get(str(res.get("canonical_validator")), vals[0])
    chain = canon.tree.chain(canon.tree.finalized)
    finalized_txs = sum(len(b.txs) for b in chain)
    intents = world.trace.counts["intent"]
    heights = [v.tree.finalized_height for v in vals]
    out = {
        "validators": args.validators, "light_nodes": args.lights, "virtual_s": sc.duration, "rate": args.rate,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "virtual_per_wall": round(sc.duration / wall, 2),
        "virtual_per_cpu": round(sc.duration / cpu, 2), "intents": intents, "finalized_txs": finalized_txs,
        "finalized_tx_per_wall_s": round(finalized_txs / wall, 1), "finalized_height": res.get("finalized_height"),
        "finalized_heights_min_max": [min(heights), max(heights)], "head_height": res.get("head_height"),
        "validators_agree": res.get("validators_agree"), "forks_seen": res.get("forks_seen"),
        "packets": world.network.stats.sent, "by_type": dict(by_type.most_common()),
        "events_run": world.loop.events_run, "peak_rss_mib": round(peak_rss_mib(), 1),
        "peak_rss_before_build_mib": round(rss0, 1),
        "validator_peers": sorted(len(v.peers.by_role(0)) for v in vals),
    }
    if args.json:
        print(json.dumps(out))
        return
    ok = out["virtual_per_wall"] >= TARGET_SPEED
    print(f"pos scale: {args.validators} validators, {args.lights} light nodes, {args.rate:g} tx/virtual s, "
          f"{sc.duration:g} virtual s")
    print(f"  wall {out['wall_s']} s (CPU {out['cpu_s']} s): {out['virtual_per_wall']} virtual s per wall s "
          f"(target >= {TARGET_SPEED:g}: {'met' if ok else 'NOT met'}; {out['virtual_per_cpu']} per CPU s)")
    print(f"  transfers: {intents} submitted, {finalized_txs} finalised = {out['finalized_tx_per_wall_s']} per wall s")
    print(f"  finalised height {out['finalized_height']} (validators {min(heights)}-{max(heights)}), head "
          f"{out['head_height']}, validators agree: {out['validators_agree']}, forks seen {out['forks_seen']}")
    print(f"  validator peers per validator: {out['validator_peers']}")
    print(f"  packets {out['packets']} ({out['packets'] / sc.duration:.0f}/virtual s): "
          + ", ".join(f"{k} {v}" for k, v in out["by_type"].items()))
    print(f"  loop events {out['events_run']}; peak RSS {out['peak_rss_mib']} MiB "
          f"(before building: {out['peak_rss_before_build_mib']} MiB)")
    isolated = sum(1 for n in out["validator_peers"] if n == 0)
    if min(heights) == 0 or isolated:
        print(f"  WARNING: {sum(1 for h in heights if h == 0)} validators finalised nothing and {isolated} have no "
              "validator peer: with peer_limit << nodes, random eviction cuts validators off from each other "
              "(try --peer-limit 64, or a peering defense that keeps validator links)")


if __name__ == "__main__":
    main()
