"""Simulator throughput: N real py-ipv8 Communities broadcasting signed messages in virtual time.

Every node broadcasts one small message to all other nodes once per virtual second, signing it once
(``ezr_pack``) and sending the same bytes to each peer; every recipient unpacks and verifies it through a normal
``@lazy_wrapper`` handler. The same workload is run three ways, each in a fresh worker process so that memory
figures do not leak between them:

* ``signed``   sign once per broadcast, verify on receipt, verify cache on (the simulator's default);
* ``unsigned`` ``sig=False`` packing and a ``@lazy_wrapper_unsigned`` handler (no crypto at all);
* ``nocache``  sign once per broadcast, verify on receipt, verify cache off (every recipient pays for the check).

Usage::

    python benchmarks/sim_throughput.py                      # N = 10 50 200, virtual seconds chosen per N
    python benchmarks/sim_throughput.py --nodes 50 --seconds 20
    python -m cProfile -s cumtime benchmarks/sim_throughput.py --in-process --nodes 50 --variants signed
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS = ("signed", "unsigned", "nocache")
WARMUP = 1.0  # virtual seconds run before measuring
BODY = bytes(range(64))  # the "small message": 64 bytes of body plus an 8-byte sequence number


def _proc_status_kib() -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of this process in KiB; empty off Linux."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak measured is the simulation's own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(n: int, seconds: float, variant: str, seed: int = 1, latency: float = 0.005) -> dict[str, Any]:
    """Build ``n`` nodes, run ``seconds`` of virtual time, return throughput and memory figures."""
    # Imports here so that a worker's import cost is not part of the RSS delta we report.
    from ipv8.community import Community, CommunitySettings
    from ipv8.lazy_community import lazy_wrapper, lazy_wrapper_unsigned
    from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
    from ipv8.peer import Peer
    from ipv8.peerdiscovery.network import Network

    from arena.runtime.keys import node_key
    from arena.runtime.trace import Trace
    from arena.sim.endpoint import SimEndpoint
    from arena.sim.ipv8_patches import virtual_ipv8
    from arena.sim.loop import VirtualLoop
    from arena.sim.network import Address, LinkSpec, SimNetwork

    @vp_compile
    class SignedBlob(VariablePayload):
        msg_id = 1
        format_list = ["Q", "varlenH"]
        names = ["seq", "body"]

    @vp_compile
    class PlainBlob(VariablePayload):
        msg_id = 2
        format_list = ["Q", "varlenH"]
        names = ["seq", "body"]

    class BenchCommunity(Community):
        community_id = b"arena-sim-throughput"

        def __init__(self, settings: CommunitySettings) -> None:
            super().__init__(settings)
            self.targets: list[Address] = []
            self.sign = True
            self.seq = 0
            self.handled = 0
            self.body_bytes = 0
            self.add_message_handler(SignedBlob, self.on_signed)
            self.add_message_handler(PlainBlob, self.on_plain)

        def broadcast(self) -> None:
            self.seq += 1
            if self.sign:
                data = self.ezr_pack(SignedBlob.msg_id, SignedBlob(self.seq, BODY))  # signed once
            else:
                data = self.ezr_pack(PlainBlob.msg_id, PlainBlob(self.seq, BODY), sig=False)
            send = self.endpoint.send
            for address in self.targets:
                send(address, data)

        @lazy_wrapper(SignedBlob)
        def on_signed(self, peer: Peer, payload: Any) -> None:
            self.handled += 1
            self.body_bytes += len(payload.body)

        @lazy_wrapper_unsigned(PlainBlob)
        def on_plain(self, source: Address, payload: Any) -> None:
            self.handled += 1
            self.body_bytes += len(payload.body)

    gc.collect()
    peak_reset = _reset_peak()
    before = _proc_status_kib()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    build_started = time.perf_counter()
    loop = VirtualLoop()
    asyncio.set_event_loop(loop)
    net = SimNetwork(loop, seed, Trace(None, "default"), None, LinkSpec(latency=latency, jitter=latency / 5))
    keys = [node_key(seed, i) for i in range(n)]
    pubs = [k.pub() for k in keys]  # one public-key object per node, shared by every view of that node
    addresses: list[Address] = [(f"10.{i // 250}.{i % 250}.1", 7000) for i in range(n)]
    endpoints = [SimEndpoint(net, addresses[i], i, f"node{i}") for i in range(n)]
    communities: list[BenchCommunity] = []
    starter = random.Random(f"{seed}:bench")
    starts = [starter.random() for _ in range(n)]  # each node's first broadcast, within the first virtual second

    with virtual_ipv8(loop.time, random.Random(f"{seed}:ipv8"), cache_signatures=variant != "nocache") as cache:

        async def open_all() -> None:
            for ep in endpoints:
                await ep.open()

        loop.run_until_complete(open_all())

        def create(i: int) -> BenchCommunity:
            settings = CommunitySettings(my_peer=Peer(keys[i]), endpoint=endpoints[i], network=Network(),
                                         max_peers=n)
            c = BenchCommunity(settings)
            c.cancel_pending_task("discover_lan_addresses")  # reads the host's interfaces: meaningless here
            c.my_estimated_lan = c.my_estimated_wan = addresses[i]
            c.sign = variant != "unsigned"
            for j in range(n):
                if j != i:
                    c.network.add_verified_peer(Peer(pubs[j], addresses[j]))
                    c.targets.append(addresses[j])
            # Broadcast once per virtual second, nodes staggered over the first second.
            c.register_task("broadcast", c.broadcast, interval=1.0, delay=starts[i])
            return c

        for i, ep in enumerate(endpoints):
            communities.append(ep.context.run(create, i))

        # Warm-up: every node broadcasts once and py-ipv8 fills its address->peer lookup cache (a cold lookup scans
        # the whole view). Measured from here on: the steady state.
        loop.run_until(WARMUP)
        handled_warmup = sum(c.handled for c in communities)
        build_wall = time.perf_counter() - build_started
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        loop.run_until(WARMUP + seconds)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        hits = cache.hits if cache is not None else 0
        misses = cache.misses if cache is not None else 0

    after = _proc_status_kib()
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = sum(c.handled for c in communities)
    handled = total - handled_warmup
    broadcasts = sum(c.seq for c in communities)
    assert all(c.body_bytes == c.handled * len(BODY) for c in communities)
    in_flight = broadcasts * (n - 1) - total  # sent in the last few milliseconds, not yet arrived
    assert 0 <= in_flight <= n * (n - 1), (total, broadcasts)
    assert net.stats.delivered == total and not net.stats.dropped
    result = {
        "nodes": n,
        "variant": variant,
        "virtual_seconds": seconds,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "build_and_warmup_seconds": build_wall,
        "broadcasts": broadcasts,
        "handled": handled,
        "handled_per_wall_s": handled / wall,
        "handled_per_cpu_s": handled / cpu if cpu > 0 else None,
        "virtual_per_wall_s": seconds / wall,
        "events": loop.events_run,
        "dropped": sum(net.stats.dropped.values()),
        "verify_hits": hits,
        "verify_misses": misses,
        "peak_reset": peak_reset,
        "rss_kib_before": before.get("VmRSS"),
        "rss_kib_after": after.get("VmRSS"),
        "hwm_kib_after": after.get("VmHWM"),
        "maxrss_kib_before": maxrss_before,
        "maxrss_kib_after": maxrss_after,
    }
    loop.close()
    asyncio.set_event_loop(None)
    return result


def default_seconds(n: int, variant: str) -> float:
    """Virtual seconds measured: enough for ~120k messages, 2 to 20; a quarter of that without the verify cache
    (throughput is per message, so the shorter run is comparable; it keeps the default run near a minute)."""
    seconds = float(max(2, min(20, round(120_000 / max(1, n * (n - 1))))))
    return max(1.0, seconds / 4) if variant == "nocache" else seconds


def run_worker(n: int, seconds: float, variant: str, seed: int) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (clean heap, clean peak-RSS counter)."""
    cmd = [sys.executable, __file__, "--worker", str(n), str(seconds), variant, "--seed", str(seed)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker {n}/{variant} failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def memory_per_node_kib(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """(peak delta, resident delta) per node in KiB.

    Peak: VmHWM after the run minus VmRSS before building (VmHWM is reset just before, so it is the run's own peak);
    without /proc, ru_maxrss after minus before. Resident: VmRSS after the run minus before (nodes still alive).
    """
    n = r["nodes"]
    if r["hwm_kib_after"] is not None and r["rss_kib_before"] is not None and r["peak_reset"]:
        peak: float | None = (r["hwm_kib_after"] - r["rss_kib_before"]) / n
    else:
        peak = (r["maxrss_kib_after"] - r["maxrss_kib_before"]) / n
    resident = None
    if r["rss_kib_after"] is not None and r["rss_kib_before"] is not None:
        resident = (r["rss_kib_after"] - r["rss_kib_before"]) / n
    return peak, resident


def report(rows: list[dict[str, Any]]) -> None:
    header = (f"{'N':>4} {'variant':<9} {'virt s':>6} {'wall s':>7} {'msgs handled':>12} {'msgs/wall s':>12} "
              f"{'msgs/CPU s':>11} {'virt s/wall s':>13} {'peak KiB/node':>13} {'RSS KiB/node':>12}")
    print(header)
    print("-" * len(header))
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_n.setdefault(r["nodes"], {})[r["variant"]] = r
        peak, resident = memory_per_node_kib(r)
        print(f"{r['nodes']:>4} {r['variant']:<9} {r['virtual_seconds']:>6.0f} {r['wall_seconds']:>7.2f} "
              f"{r['handled']:>12,} {r['handled_per_wall_s']:>12,.0f} {_fmt(r['handled_per_cpu_s']):>11} "
              f"{r['virtual_per_wall_s']:>13.2f} {_fmt(peak):>13} {_fmt(resident):>12}")
    print()
    for n, variants in by_n.items():
        parts = []
        signed = variants.get("signed")
        if signed and "unsigned" in variants:
            ratio = variants["unsigned"]["handled_per_wall_s"] / signed["handled_per_wall_s"]
            parts.append(f"unsigned/signed = {ratio:.2f}x")
        if signed and "nocache" in variants:
            ratio = signed["handled_per_wall_s"] / variants["nocache"]["handled_per_wall_s"]
            parts.append(f"signed with/without verify cache = {ratio:.2f}x")
        if signed:
            parts.append(f"verify cache hits/misses = {signed['verify_hits']:,}/{signed['verify_misses']:,}")
        if parts:
            print(f"N={n}: " + "; ".join(parts))
    target = by_n.get(50, {}).get("signed")
    if target is not None:
        peak, _ = memory_per_node_kib(target)
        ok = target["handled_per_wall_s"] >= 15_000 and peak is not None and peak < 1024
        print(f"target at N=50 (>= 15,000 signed msgs/wall s, < 1 MiB/node): {'met' if ok else 'NOT met'} "
              f"({target['handled_per_wall_s']:,.0f} msgs/wall s, {_fmt(peak)} KiB/node)")
    print()
    print("msgs handled: messages that reached a @lazy_wrapper handler, summed over all nodes, after a "
          f"{WARMUP:g} s virtual")
    print("  warm-up (py-ipv8's address->peer cache starts cold); wall, CPU and virtual seconds exclude building and")
    print("  warm-up. msgs/CPU s uses this process's CPU time: steadier than wall time on a busy machine.")
    print("peak KiB/node: (VmHWM after the run - VmRSS before building the nodes) / N, in a fresh worker process whose")
    print("  peak counter is reset (/proc/self/clear_refs) just before building; it counts everything the run")
    print("  allocates (nodes, loop, network, verify cache, in-flight packets). RSS KiB/node: VmRSS after - before.")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seconds", type=float, default=None, help="virtual seconds per run (default: by N)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="no worker processes (for profiling)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON lines")
    parser.add_argument("--worker", nargs=3, metavar=("N", "SECONDS", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        n, seconds, variant = int(args.worker[0]), float(args.worker[1]), args.worker[2]
        print(json.dumps(measure(n, seconds, variant, args.seed)))
        return

    rows = []
    for n in args.nodes:
        for variant in args.variants:
            seconds = args.seconds if args.seconds is not None else default_seconds(n, variant)
            r = measure(n, seconds, variant, args.seed) if args.in_process else run_worker(n, seconds, variant,
                                                                                            args.seed)
            rows.append(r)
            if args.json:
                print(json.dumps(r))
            else:
                print(f"  N={n:<4} {variant:<9} {r['handled']:>9,} msgs in {r['wall_seconds']:.2f} s wall",
                      file=sys.stderr)
    if not args.json:
        report(rows)


if __name__ == "__main__":
    main()
