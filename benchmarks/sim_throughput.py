"""Simulator throughput: N real py-ipv8 Communities sending signed messages in virtual time, against a floor.

Two workloads, each once per virtual second per node, 64-byte body plus an 8-byte sequence number:

* ``template`` the course template's way: peers discover each other with ``walk_to`` (introduction handshakes),
  then each peer ``ez_send``s one signed ``VariablePayload`` to every peer it knows (``ez_send`` packs and signs
  per peer); recipients handle it in an ordinary ``@lazy_wrapper`` handler;
* ``signed``   sign once per broadcast (``ezr_pack``), send the same bytes to every peer (peers known from the
  start), same ``@lazy_wrapper`` handler;

and two reference variants of ``signed``: ``unsigned`` (``sig=False``, ``@lazy_wrapper_unsigned``: no crypto at all)
and ``nocache`` (the verify cache off: every recipient verifies and parses the sender's key itself).

The **floor** is measured in the same worker, inside the same ``virtual_ipv8`` context (so it uses whatever
``default_eccrypto.create_signature`` / ``is_valid_signature`` the simulator installs): a bare loop that does only
the work no simulator can avoid per delivered message of the same pattern (N nodes, one distinct packet per node
per round, delivered to N-1 peers): one py-ipv8 signature per distinct packet, one py-ipv8 verification per
distinct (key, bytes, signature), and per delivery one ``serializer.unpack_serializable`` of the payload and one
call of a handler. Each signed workload's messages per CPU second are printed as a fraction of the floor's.

Each (N, variant) runs in a fresh worker process so that memory figures do not leak between them.

Usage::

    python benchmarks/sim_throughput.py                      # N = 10 50 200, virtual seconds chosen per N
    python benchmarks/sim_throughput.py --nodes 50 --variants template signed
    python benchmarks/sim_throughput.py --in-process --no-floor --nodes 50 --variants template --profile t.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ("template", "signed", "unsigned", "nocache")
DEFAULT_VARIANTS = ("template", "signed", "unsigned")
WARMUP = 1.0  # virtual seconds run before measuring (plus DISCOVERY for the template)
DISCOVERY = 1.0  # template: virtual seconds for the walk_to handshakes before the first message
BODY = bytes(range(64))  # the "small message": 64 bytes of body plus an 8-byte sequence number
FLOOR_MESSAGES = 100_000  # deliveries one pass of the floor loop replays (at least one round)
FLOOR_REPEATS = 3  # timed passes; the median is the floor


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


def measure_floor(n: int, keys: list[Any], prefix: bytes, payload_cls: Any, serializer: Any,
                  messages: int = FLOOR_MESSAGES) -> dict[str, Any]:
    """The unavoidable work for about ``messages`` deliveries of the broadcast pattern, per CPU second.

    Call inside the ``virtual_ipv8`` context: ``default_eccrypto``'s signing and verification are looked up at call
    time, so the floor uses the same primitives (and memo layers) as the simulated Communities. Packets are built
    before timing (packing is not part of the floor); each is distinct (its own sequence number), so a memo never
    answers for the floor: every signature and verification in it is real. One untimed pass first (the first
    signatures and allocations are slower), then ``FLOOR_REPEATS`` timed passes; the median pass is the floor.
    """
    from ipv8.keyvault.crypto import default_eccrypto

    rounds = max(1, -(-messages // max(1, n * (n - 1))))
    pubs = [default_eccrypto.key_from_public_bin(k.pub().key_to_bin()) for k in keys]
    header = prefix + bytes([payload_cls.msg_id])
    offset = len(header)
    recipients = range(n - 1)
    unpack = serializer.unpack_serializable
    handled = [0, 0]

    def on_blob(peer: Any, payload: Any) -> None:  # what the workloads' handlers do
        handled[0] += 1
        handled[1] += len(payload.body)

    def packets(first_seq: int, count: int) -> list[tuple[int, bytes]]:
        """(sender, packet without signature) for ``count`` rounds, every packet distinct."""
        return [(i, header + serializer.pack_serializable(payload_cls(first_seq + r * n + i, BODY)))
                for r in range(count) for i in range(n)]

    def replay(batch: list[tuple[int, bytes]]) -> tuple[float, float]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i, packet in batch:
            signature = default_eccrypto.create_signature(keys[i], packet)  # one per distinct packet
            if not default_eccrypto.is_valid_signature(pubs[i], packet, signature):  # one per (key, bytes, sig)
                raise AssertionError("floor: signature does not verify")
            peer = pubs[i]
            for _ in recipients:
                payload, _end = unpack(payload_cls, packet, offset)
                on_blob(peer, payload)
        return time.process_time() - cpu0, time.perf_counter() - wall0

    replay(packets(1 << 60, max(1, rounds // 4)))
    gc.collect()
    passes = []
    for rep in range(FLOOR_REPEATS):
        handled[:] = [0, 0]
        passes.append(replay(packets(rep << 40, rounds)))
        per_pass = rounds * n * (n - 1)
        assert handled == [per_pass, per_pass * len(BODY)], handled
    cpu, wall = sorted(passes)[len(passes) // 2]
    return {
        "messages": per_pass,
        "distinct_packets": rounds * n,
        "repeats": FLOOR_REPEATS,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "per_cpu_s": per_pass / cpu if cpu > 0 else None,
        "per_wall_s": per_pass / wall if wall > 0 else None,
        "cpu_seconds_all": [p[0] for p in passes],
    }


def measure(n: int, seconds: float, variant: str, seed: int = 1, latency: float = 0.005,
            floor: bool = True, profile: str | None = None) -> dict[str, Any]:
    """Build ``n`` nodes, run ``seconds`` of virtual time, return throughput and memory figures (and the floor).

    With ``profile``, the measured period (only) runs under cProfile and the statistics are written to that file.
    """
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
        """Sign-once broadcast to a fixed list of addresses (peers known from the start)."""

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

    class TemplateCommunity(Community):
        """The course template's shape: discover with walk_to, then ez_send to every known peer each second."""

        community_id = b"arena-sim-template-1"

        def __init__(self, settings: CommunitySettings) -> None:
            super().__init__(settings)
            self.seq = 0
            self.handled = 0
            self.body_bytes = 0
            self.add_message_handler(SignedBlob, self.on_blob)

        def send_blob(self) -> None:
            self.seq += 1
            for peer in self.network.verified_peers:  # as the template does (a set, in an order fixed by the mids)
                self.ez_send(peer, SignedBlob(self.seq, BODY))  # packs and signs per peer

        @lazy_wrapper(SignedBlob)
        def on_blob(self, peer: Peer, payload: Any) -> None:
            self.handled += 1
            self.body_bytes += len(payload.body)

    template = variant == "template"
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
    communities: list[Any] = []
    starter = random.Random(f"{seed}:bench")
    starts = [starter.random() for _ in range(n)]  # each node's first message, within one virtual second
    first = DISCOVERY if template else 0.0
    warmup = first + WARMUP

    with virtual_ipv8(loop.time, random.Random(f"{seed}:ipv8"), cache_signatures=variant != "nocache") as cache:

        async def open_all() -> None:
            for ep in endpoints:
                await ep.open()

        loop.run_until_complete(open_all())

        def create(i: int) -> Any:
            settings = CommunitySettings(my_peer=Peer(keys[i]), endpoint=endpoints[i], network=Network(),
                                         max_peers=n)
            c: Any = TemplateCommunity(settings) if template else BenchCommunity(settings)
            c.cancel_pending_task("discover_lan_addresses")  # reads the host's interfaces: meaningless here
            c.my_estimated_lan = c.my_estimated_wan = addresses[i]
            if template:
                c.register_task("send_blob", c.send_blob, interval=1.0, delay=first + starts[i])
                return c
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
        if template:
            # The template's discovery: every node walks to every other node's address.
            for i, ep in enumerate(endpoints):
                for j in range(n):
                    if j != i:
                        ep.context.run(communities[i].walk_to, addresses[j])

        # Warm-up: discovery (template), then every node sends once and py-ipv8 fills its address->peer lookup cache
        # (a cold lookup scans the whole view). Measured from here on: the steady state.
        loop.run_until(warmup)
        if template:
            views = [len(c.get_peers()) for c in communities]
            assert all(v == n - 1 for v in views), f"walk_to discovery incomplete: views {sorted(views)[:5]}..."
        handled_warmup = sum(c.handled for c in communities)
        delivered_warmup = net.stats.delivered
        events_warmup = loop.events_run
        build_wall = time.perf_counter() - build_started
        gc.collect()
        profiler = cProfile.Profile() if profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        loop.run_until(warmup + seconds)
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if profiler is not None and profile:
            profiler.dump_stats(profile)
        hits = getattr(cache, "hits", 0)
        misses = getattr(cache, "misses", 0)
        packets = net.stats.delivered - delivered_warmup
        events = loop.events_run - events_warmup
        after = _proc_status_kib()  # memory before the floor: its packets and memo entries are not the run's
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        floor_result = None
        if floor and variant != "unsigned":  # the floor's crypto is not work an unsigned run has to do
            floor_result = measure_floor(n, keys, communities[0]._prefix, SignedBlob, communities[0].serializer)

    total = sum(c.handled for c in communities)
    handled = total - handled_warmup
    broadcasts = sum(c.seq for c in communities)
    assert all(c.body_bytes == c.handled * len(BODY) for c in communities)
    in_flight = broadcasts * (n - 1) - total  # sent in the last few milliseconds, not yet arrived
    assert 0 <= in_flight <= n * (n - 1), (total, broadcasts)
    assert not net.stats.dropped, net.stats.dropped
    assert packets == handled, (packets, handled)  # in the measured period, only the workload's packets
    per_cpu = handled / cpu if cpu > 0 else None
    result: dict[str, Any] = {
        "nodes": n,
        "variant": variant,
        "virtual_seconds": seconds,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "build_and_warmup_seconds": build_wall,
        "broadcasts": broadcasts,
        "handled": handled,
        "handled_per_wall_s": handled / wall,
        "handled_per_cpu_s": per_cpu,
        "us_per_msg_cpu": 1e6 * cpu / handled if handled else None,
        "virtual_per_wall_s": seconds / wall,
        "events": events,
        "dropped": sum(net.stats.dropped.values()),
        "verify_hits": hits,
        "verify_misses": misses,
        "peak_reset": peak_reset,
        "rss_kib_before": before.get("VmRSS"),
        "rss_kib_after": after.get("VmRSS"),
        "hwm_kib_after": after.get("VmHWM"),
        "maxrss_kib_before": maxrss_before,
        "maxrss_kib_after": maxrss_after,
        "floor": floor_result,
        "floor_ratio": (per_cpu / floor_result["per_cpu_s"]
                        if floor_result and per_cpu and floor_result["per_cpu_s"] else None),
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


#: Targets of issue #14: each workload's messages per CPU second as a fraction of the floor's.
TARGETS = {"template": 0.5, "signed": 0.8}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run as one JSON-able object: per N, the floor and each variant's figures and floor ratio."""
    out: dict[str, Any] = {"benchmark": "sim_throughput", "targets": TARGETS, "nodes": {}}
    for r in rows:
        entry = out["nodes"].setdefault(str(r["nodes"]), {})
        fl = r.get("floor") or {}
        entry[r["variant"]] = {
            "msgs_per_cpu_s": _round(r["handled_per_cpu_s"]),
            "msgs_per_wall_s": _round(r["handled_per_wall_s"]),
            "us_per_msg_cpu": _round(r["us_per_msg_cpu"], 2),
            "floor_msgs_per_cpu_s": _round(fl.get("per_cpu_s")),
            "floor_msgs_per_wall_s": _round(fl.get("per_wall_s")),
            "floor_ratio": _round(r.get("floor_ratio"), 4),
            "handled": r["handled"],
            "peak_kib_per_node": _round(memory_per_node_kib(r)[0]),
        }
    return out


def report(rows: list[dict[str, Any]]) -> None:
    header = (f"{'N':>4} {'variant':<9} {'virt s':>6} {'wall s':>7} {'msgs handled':>12} {'msgs/wall s':>12} "
              f"{'msgs/CPU s':>11} {'us/msg CPU':>10} {'floor/CPU s':>11} {'floor/wall s':>12} "
              f"{'of floor':>8} {'peak KiB/node':>13}")
    print(header)
    print("-" * len(header))
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_n.setdefault(r["nodes"], {})[r["variant"]] = r
        peak, _resident = memory_per_node_kib(r)
        fl = r.get("floor") or {}
        ratio = r.get("floor_ratio")
        print(f"{r['nodes']:>4} {r['variant']:<9} {r['virtual_seconds']:>6.0f} {r['wall_seconds']:>7.2f} "
              f"{r['handled']:>12,} {r['handled_per_wall_s']:>12,.0f} {_fmt(r['handled_per_cpu_s']):>11} "
              f"{_fmt(r['us_per_msg_cpu'], 1):>10} {_fmt(fl.get('per_cpu_s')):>11} {_fmt(fl.get('per_wall_s')):>12} "
              f"{_pct(ratio):>8} {_fmt(peak):>13}")
    print()
    for n, variants in by_n.items():
        parts = []
        signed = variants.get("signed")
        if signed and "unsigned" in variants:
            ratio = variants["unsigned"]["handled_per_cpu_s"] / signed["handled_per_cpu_s"]
            parts.append(f"unsigned/signed = {ratio:.2f}x")
        if signed and "nocache" in variants:
            ratio = signed["handled_per_cpu_s"] / variants["nocache"]["handled_per_cpu_s"]
            parts.append(f"signed with/without verify cache = {ratio:.2f}x")
        if signed and "template" in variants:
            ratio = signed["handled_per_cpu_s"] / variants["template"]["handled_per_cpu_s"]
            parts.append(f"sign-once/template = {ratio:.2f}x")
        for v in ("template", "signed"):
            if v in variants:
                parts.append(f"{v} verify cache hits/misses = {variants[v]['verify_hits']:,}/"
                             f"{variants[v]['verify_misses']:,}")
        if parts:
            print(f"N={n}: " + "; ".join(parts))
        for v, target in TARGETS.items():
            row = variants.get(v)
            if row is not None and row.get("floor_ratio") is not None:
                met = "met" if row["floor_ratio"] >= target else "NOT met"
                print(f"N={n}: {v} at {_pct(row['floor_ratio'])} of the floor (target >= {target:.0%}): {met}")
    n50 = by_n.get(50, {}).get("signed")
    if n50 is not None:
        peak, _ = memory_per_node_kib(n50)
        ok = n50["handled_per_wall_s"] >= 15_000 and peak is not None and peak < 1024
        print(f"issue #2 target at N=50 (>= 15,000 signed msgs/wall s, < 1 MiB/node): {'met' if ok else 'NOT met'} "
              f"({n50['handled_per_wall_s']:,.0f} msgs/wall s, {_fmt(peak)} KiB/node)")
    print()
    print("msgs handled: messages that reached a @lazy_wrapper handler, summed over all nodes, after the warm-up")
    print(f"  ({WARMUP:g} virtual s; the template first spends {DISCOVERY:g} s on walk_to discovery); wall and CPU")
    print("  seconds exclude building and warm-up. msgs/CPU s uses this process's CPU time: steadier than wall time.")
    print("floor: in the same worker and virtual_ipv8 context, a bare loop over the same pattern (one distinct")
    print("  packet per node per round, to N-1 peers): one signature per distinct packet, one verification per")
    print("  distinct (key, bytes, sig), one serializer.unpack_serializable and one handler call per delivery.")
    print("  'of floor' = the workload's msgs/CPU s / the floor's msgs/CPU s.")
    print("peak KiB/node: (VmHWM after the run - VmRSS before building the nodes) / N, in a fresh worker process")
    print("  whose peak counter is reset (/proc/self/clear_refs) just before building.")


def _round(v: float | None, digits: int = 0) -> float | None:
    return None if v is None else round(v, digits)


def _fmt(v: float | None, digits: int = 0) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seconds", type=float, default=None, help="virtual seconds per run (default: by N)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="no worker processes (for profiling)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor (with --in-process, for profiling)")
    parser.add_argument("--profile", metavar="FILE", help="with --in-process and one N and variant: cProfile the "
                        "measured period only, statistics to FILE (read with pstats)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON lines")
    parser.add_argument("--worker", nargs=3, metavar=("N", "SECONDS", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        n, seconds, variant = int(args.worker[0]), float(args.worker[1]), args.worker[2]
        print(json.dumps(measure(n, seconds, variant, args.seed)))
        return

    rows = []
    run: Callable[[int, float, str, int], dict[str, Any]]
    if args.in_process:
        def run(n: int, seconds: float, variant: str, seed: int) -> dict[str, Any]:
            return measure(n, seconds, variant, seed, floor=not args.no_floor, profile=args.profile)
    else:
        run = run_worker
    for n in args.nodes:
        for variant in args.variants:
            seconds = args.seconds if args.seconds is not None else default_seconds(n, variant)
            r = run(n, seconds, variant, args.seed)
            rows.append(r)
            if args.json:
                print(json.dumps(r))
            else:
                print(f"  N={n:<4} {variant:<9} {r['handled']:>9,} msgs in {r['wall_seconds']:.2f} s wall",
                      file=sys.stderr)
    if not args.json:
        report(rows)
    print(json.dumps(summary(rows)))


if __name__ == "__main__":
    main()
