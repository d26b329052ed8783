"""Day-1 throughput: how many transfers per wall second end up in EVERY validator's ledger (consensus ``none``).

4 validators and 50 light nodes on a complete graph; the light nodes submit signed transfers at a high rate, each
to one validator, which checks it, applies it, acks it and gossips it (batched) to the other validators.

Figures:

* transfers finalised per wall second: ``min(len(v.applied) for v in validators) / wall seconds of the run``;
* packets per transfer: every packet the network carried (peering included) / transfers finalised, and a
  breakdown by message type;
* signing and verification share of the time (a second run under cProfile): cumulative time of
  ``ECCrypto.create_signature`` and of ``is_valid_signature`` (the simulator's ``VerifyCache`` wrapper when the cache
  is on, which includes its cache hits; the real verification underneath is shown too) against the profiled total.

Usage::

    .venv/bin/python benchmarks/day1_throughput.py                    # defaults: 50 light, 1,500 tx/s, 10 virtual s
    .venv/bin/python benchmarks/day1_throughput.py --rate 3000 --seconds 5 --no-cache
    .venv/bin/python benchmarks/day1_throughput.py --no-profile --json

Targets: >= 1,000 transfers per wall second and <= 4 packets per transfer.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
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

TARGET_TPS, TARGET_PACKETS = 1000.0, 4.0


def make_scenario(validators: int, lights: int, rate: float, seconds: float, batch: float, seed: int,
                  peer_limit: int | None = None) -> Scenario:
    return scenario_from_dict({
        "name": "day1_throughput",
        "seed": seed,
        "duration": seconds + 2.0,  # 1 s to connect, 1 s to drain
        "trace_level": "summary",
        "consensus": {"mode": "none", "mempool_per_sender": 256},
        "validators": validators,
        "light_nodes": lights,
        "genesis_balance": 10**9,
        "peering": {"peer_limit": peer_limit or validators + lights},
        "gossip": {"batch_interval": batch},
        "workload": {"rate": rate, "amount": [1, 20], "fee": 0, "start": 1.0, "stop": 1.0 + seconds},
        "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.02, "jitter": 0.01}},
    })


def run_once(sc: Scenario, cache: bool, profile: bool) -> dict[str, Any]:
    world = World(sc, HonestProtocol(), Registry(), None, cache_signatures=cache)
    world.protocol.prepare(world)
    by_type: Counter[str] = Counter()
    send_raw = world.network.send_raw

    def counting(src: Any, dst: Any, data: bytes, *args: Any) -> None:
        cls = MESSAGES.get(data[22]) if len(data) > 22 else None
        by_type[cls.__name__ if cls else f"id{data[22] if len(data) > 22 else '?'}"] += 1
        send_raw(src, dst, data, *args)

    world.network.send_raw = counting  # type: ignore[method-assign,assignment]
    prof = cProfile.Profile() if profile else None
    started, cpu0 = time.perf_counter(), time.process_time()
    if prof is not None:
        prof.enable()
    world.run()
    if prof is not None:
        prof.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    vals = [n.community for n in world.nodes if n.role == "validator" and isinstance(n.community, HonestNode)]
    applied = [len(v.applied) for v in vals]
    intents = world.trace.counts["intent"]
    done = min(applied)
    out: dict[str, Any] = {
        "validators": len(vals), "light_nodes": len(world.nodes) - len(vals), "cache": cache,
        "virtual_s": sc.duration, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "intents": intents,
        "applied_min": done,
        "applied_max": max(applied), "transfers_per_wall_s": round(done / wall, 1),
        "transfers_per_cpu_s": round(done / cpu, 1),
        "packets": world.network.stats.sent, "packets_per_transfer": round(world.network.stats.sent / max(1, done), 3),
        "by_type": dict(by_type.most_common()),
        "rejected": sum(len(v.rejected) for v in vals),
        "held": sum(sum(len(h) for h in v.held.values()) for v in vals),
        "agree": len({repr(v.ledger.snapshot()) for v in vals}) == 1,
    }
    if world.verify_cache is not None:
        out["verify_cache_hits"] = world.verify_cache.hits
        out["verify_cache_misses"] = world.verify_cache.misses
    if prof is not None:
        out["profile"] = crypto_share(prof)
    return out


def crypto_share(prof: cProfile.Profile) -> dict[str, Any]:
    stats = pstats.Stats(prof)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]

    def cum(name: str, path_part: str) -> tuple[float, int]:
        t, n = 0.0, 0
        for (path, _, fn), (_, ncalls, _, ct, _) in raw.items():
            if fn == name and path_part in path:
                t += ct
                n += ncalls
        return t, n

    def outermost(name: str, path_part: str) -> tuple[float, int]:
        """The outermost of several same-named wrappers in one file (the memo around the fast backend)."""
        best = (0.0, 0)
        for (path, _, fn), (_, ncalls, _, ct, _) in raw.items():
            if fn == name and path_part in path and ct > best[0]:
                best = (ct, ncalls)
        return best

    # arena/runtime/crypto.py wraps py-ipv8's crypto in the simulator (memo, libsodium); older trees patched it in
    # arena/sim/ipv8_patches.py, and without the simulator's patch it is py-ipv8's own
    sign, n_sign = outermost("create_signature", "runtime/crypto")
    if not n_sign:
        sign, n_sign = cum("create_signature", "keyvault")
    verify_outer, n_outer = outermost("is_valid_signature", "runtime/crypto")
    if not n_outer:
        verify_outer, n_outer = cum("is_valid_signature", "ipv8_patches")
    verify_real, n_real = cum("is_valid_signature", "keyvault/crypto")
    verify = verify_outer if n_outer else verify_real
    keys, _ = outermost("key_from_public_bin", "runtime/crypto")
    if not keys:
        keys, _ = cum("key_from_public_bin", "ipv8_patches")
    if not keys:
        keys, _ = cum("key_from_public_bin", "keyvault/crypto")
    top = sorted(((v[3], f"{Path(k[0]).name}:{k[2]}") for k, v in raw.items()), reverse=True)
    tot_self = sorted(((v[2], f"{Path(k[0]).name}:{k[2]}") for k, v in raw.items()), reverse=True)
    return {
        "profiled_total_s": round(total, 3),
        "sign_s": round(sign, 3), "sign_calls": n_sign, "sign_share": round(sign / total, 3),
        "verify_s": round(verify, 3), "verify_calls": n_outer or n_real, "verify_share": round(verify / total, 3),
        "verify_real_s": round(verify_real, 3), "verify_real_calls": n_real,
        "verify_real_share": round(verify_real / total, 3),
        "key_parse_s": round(keys, 3),
        "top_cumulative": [(name, round(t, 3)) for t, name in top[:25]],
        "top_self": [(name, round(t, 3)) for t, name in tot_self[:25]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--lights", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1500.0, help="transfers per virtual second (all light nodes)")
    ap.add_argument("--seconds", type=float, default=10.0, help="virtual seconds of load")
    ap.add_argument("--batch", type=float, default=0.05, help="gossip batch interval (virtual s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peer-limit", type=int, default=None, help="default: everybody (full visibility)")
    ap.add_argument("--no-cache", action="store_true", help="verify every signature on every node")
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled second run")
    ap.add_argument("--profile-seconds", type=float, default=3.0, help="virtual seconds of load in the profiled run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cache = not args.no_cache
    res = run_once(make_scenario(args.validators, args.lights, args.rate, args.seconds, args.batch, args.seed,
                                 args.peer_limit), cache, profile=False)
    if not args.no_profile:
        sc = make_scenario(args.validators, args.lights, args.rate, args.profile_seconds, args.batch, args.seed,
                           args.peer_limit)
        res["profile"] = run_once(sc, cache, profile=True)["profile"]
    if args.json:
        print(json.dumps(res))
        return
    ok_tps = res["transfers_per_wall_s"] >= TARGET_TPS
    ok_pkt = res["packets_per_transfer"] <= TARGET_PACKETS
    print(f"day-1 throughput: {res['validators']} validators, {res['light_nodes']} light nodes, "
          f"{args.rate:g} tx/virtual s for {args.seconds:g} s, verify cache {'on' if cache else 'off'}")
    print(f"  wall {res['wall_s']} s for {res['virtual_s']:g} virtual s; intents {res['intents']}, applied on every "
          f"validator {res['applied_min']} (max {res['applied_max']}), validators agree: {res['agree']}")
    print(f"  transfers finalised in every ledger per wall s: {res['transfers_per_wall_s']:.0f}  "
          f"(target >= {TARGET_TPS:.0f}: {'met' if ok_tps else 'NOT met'}); per CPU s of this process: "
          f"{res['transfers_per_cpu_s']:.0f} ({res['cpu_s']} CPU s)")
    print(f"  packets per transfer: {res['packets_per_transfer']:.2f}  (target <= {TARGET_PACKETS:g}: "
          f"{'met' if ok_pkt else 'NOT met'}); {res['packets']} packets: "
          + ", ".join(f"{k} {v}" for k, v in res["by_type"].items()))
    if "verify_cache_hits" in res:
        print(f"  verify cache: {res['verify_cache_hits']} hits, {res['verify_cache_misses']} misses")
    if "profile" in res:
        p = res["profile"]
        print(f"  profiled run ({args.profile_seconds:g} s of load, total {p['profiled_total_s']} s under cProfile):")
        print(f"    signing      {p['sign_share']:.1%}  ({p['sign_calls']} calls, {p['sign_s']} s)")
        print(f"    verification {p['verify_share']:.1%}  ({p['verify_calls']} calls, {p['verify_s']} s); real checks "
              f"underneath {p['verify_real_share']:.1%} ({p['verify_real_calls']} calls)")
        print("    top cumulative: " + ", ".join(f"{n} {t}" for n, t in p["top_cumulative"][:14]))
        print("    top self:       " + ", ".join(f"{n} {t}" for n, t in p["top_self"][:14]))


if __name__ == "__main__":
    main()
