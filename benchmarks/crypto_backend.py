"""Ed25519 through py-ipv8 (Rust over OpenSSL) against ``arena.runtime.crypto`` (libsodium through PyNaCl, memoised).

Interleaved: every round times each variant once, in an order that rotates from round to round, so a busy machine
slows all of them alike; the ratios are taken within each round (median over rounds) and over the totals. Each
variant does ``--ops`` operations per round on ``--size``-byte messages with ``--keys`` curve25519 keys:

* ``ipv8_sign``      py-ipv8's ``ECCrypto.create_signature``, fresh data;
* ``fast_sign``      the backend, fresh data (a memo miss: libsodium signs);
* ``memo_sign``      the backend, data it signed before (a memo hit; the course template signs the same bytes once
  per peer: ``--fanout`` times);
* ``ipv8_verify``    py-ipv8's ``ECCrypto.is_valid_signature`` on valid signatures;
* ``fast_verify``    the backend (libsodium, after its cheap input checks), no memo;
* ``cached_verify``  the verify cache in front of the backend, a check it answered before (the simulator's case).

Every signature the backend returns is compared with py-ipv8's, and every verdict with py-ipv8's, outside the timed
loops. Wall seconds (``perf_counter``) and CPU seconds of this process (``process_time``) are both reported; the
per-op figures use CPU time, which a shared machine disturbs less. The last line printed is a JSON object.

Usage::

    python benchmarks/crypto_backend.py
    python benchmarks/crypto_backend.py --rounds 20 --ops 2000 --size 300
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ipv8.keyvault.crypto import ECCrypto

from arena.runtime.crypto import (
    FastEd25519,
    VerifyCache,
    ipv8_create_signature,
    ipv8_is_valid_signature,
)

VARIANTS = ("ipv8_sign", "fast_sign", "memo_sign", "ipv8_verify", "fast_verify", "cached_verify")
RATIOS = {"sign_fresh": ("ipv8_sign", "fast_sign"), "sign_memo": ("ipv8_sign", "memo_sign"),
          "verify": ("ipv8_verify", "fast_verify"), "verify_cached": ("ipv8_verify", "cached_verify")}


def _package_versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    for name in ("pyipv8", "ipv8-rust-tunnels", "pynacl"):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "?"
    return out


def run(rounds: int, ops: int, size: int, n_keys: int, fanout: int) -> dict[str, Any]:
    ref = ECCrypto()  # never patched: py-ipv8 as it ships
    backend = FastEd25519(partial(ipv8_create_signature, ref), partial(ipv8_is_valid_signature, ref),
                          sign_limit=max(8192, 2 * ops))
    cache = VerifyCache(ref, verify=backend.is_valid_signature)
    keys = [ECCrypto.key_from_private_bin(ref, b"LibNaCLSK:" + bytes(32) + hashlib.sha256(b"%d" % i).digest())
            for i in range(n_keys)]
    pubs = [k.pub() for k in keys]

    def message(tag: str, rnd: int, i: int) -> bytes:
        head = f"{tag}:{rnd}:{i}:".encode()
        return head + bytes(max(0, size - len(head)))

    # data each variant works on, per round (built and checked outside the timed loops)
    work: dict[str, list[list[tuple[Any, ...]]]] = {v: [] for v in VARIANTS}
    for rnd in range(rounds):
        ipv8_msgs = [(keys[i % n_keys], message("i", rnd, i)) for i in range(ops)]
        fast_msgs = [(keys[i % n_keys], message("f", rnd, i)) for i in range(ops)]
        memo_base = [(keys[i % n_keys], message("m", rnd, i)) for i in range(max(1, ops // fanout))]
        memo_msgs = [memo_base[i // fanout % len(memo_base)] for i in range(ops)]
        for key, data in memo_base:
            backend.create_signature(key, data)  # the first of each fan-out is the miss; the timed ones hit
        signed = [(pubs[i % n_keys], data, ipv8_create_signature(ref, keys[i % n_keys], data))
                  for i, (_, data) in enumerate(ipv8_msgs)]
        for pub, data, sig in signed:
            cache.is_valid_signature(pub, data, sig)  # warm: the timed cached checks are hits
        work["ipv8_sign"].append(ipv8_msgs)
        work["fast_sign"].append(fast_msgs)
        work["memo_sign"].append(memo_msgs)
        work["ipv8_verify"].append(signed)
        work["fast_verify"].append(signed)
        work["cached_verify"].append(signed)

    ops_of: dict[str, Callable[..., Any]] = {
        "ipv8_sign": partial(ipv8_create_signature, ref),
        "fast_sign": backend.create_signature,
        "memo_sign": backend.create_signature,
        "ipv8_verify": partial(ipv8_is_valid_signature, ref),
        "fast_verify": backend.is_valid_signature,
        "cached_verify": cache.is_valid_signature,
    }
    wall = {v: 0.0 for v in VARIANTS}
    cpu = {v: 0.0 for v in VARIANTS}
    per_round: dict[str, list[float]] = {v: [] for v in VARIANTS}
    results: dict[str, list[Any]] = {v: [] for v in VARIANTS}
    for rnd in range(rounds):
        order = VARIANTS[rnd % len(VARIANTS):] + VARIANTS[:rnd % len(VARIANTS)]
        for v in order:
            fn, items = ops_of[v], work[v][rnd]
            out: list[Any] = []
            append = out.append
            w0, c0 = time.perf_counter(), time.process_time()
            for args in items:
                append(fn(*args))
            c1, w1 = time.process_time(), time.perf_counter()
            wall[v] += w1 - w0
            cpu[v] += c1 - c0
            per_round[v].append((c1 - c0) / len(items) * 1e6)
            results[v].append(out)

    # every answer against py-ipv8's own (outside the timing)
    checked = 0
    for rnd in range(rounds):
        for v in ("fast_sign", "memo_sign"):
            for (key, data), sig in zip(work[v][rnd], results[v][rnd], strict=True):
                assert sig == ipv8_create_signature(ref, key, data), (v, rnd)
                checked += 1
        for v in ("fast_verify", "cached_verify"):
            assert results[v][rnd] == results["ipv8_verify"][rnd] == [True] * ops, (v, rnd)
            checked += ops
    assert backend.deferred == 0 and backend.fast_verifies >= rounds * ops

    total = rounds * ops
    us = {v: round(cpu[v] / total * 1e6, 2) for v in VARIANTS}
    wall_us = {v: round(wall[v] / total * 1e6, 2) for v in VARIANTS}
    ratios = {name: round(cpu[a] / cpu[b], 2) for name, (a, b) in RATIOS.items()}
    median_ratios = {name: round(statistics.median(x / y for x, y in zip(per_round[a], per_round[b], strict=True)), 2)
                     for name, (a, b) in RATIOS.items()}
    return {
        "benchmark": "crypto_backend", "rounds": rounds, "ops_per_round": ops, "size": size, "keys": n_keys,
        "fanout": fanout, "us_per_op_cpu": us, "us_per_op_wall": wall_us,
        "cpu_seconds": {v: round(cpu[v], 3) for v in VARIANTS},
        "wall_seconds": {v: round(wall[v], 3) for v in VARIANTS},
        "speedup_cpu_total": ratios, "speedup_cpu_median_round": median_ratios, "answers_checked": checked,
        "python": platform.python_version(), "versions": _package_versions(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--ops", type=int, default=1000, help="operations per variant per round")
    ap.add_argument("--size", type=int, default=200, help="message bytes")
    ap.add_argument("--keys", type=int, default=8)
    ap.add_argument("--fanout", type=int, default=49, help="signatures of the same bytes (memo_sign)")
    args = ap.parse_args(argv)
    res = run(args.rounds, args.ops, args.size, args.keys, args.fanout)
    print(f"Ed25519, {args.size}-byte messages, {args.rounds} interleaved rounds x {args.ops} ops per variant")
    print(f"{'variant':15s} {'us/op CPU':>10s} {'us/op wall':>11s} {'CPU s':>8s} {'wall s':>8s}")
    for v in VARIANTS:
        print(f"{v:15s} {res['us_per_op_cpu'][v]:10.2f} {res['us_per_op_wall'][v]:11.2f} "
              f"{res['cpu_seconds'][v]:8.3f} {res['wall_seconds'][v]:8.3f}")
    print("py-ipv8 / backend (CPU; total, median of rounds): " + ", ".join(
        f"{k} {res['speedup_cpu_total'][k]}x, {res['speedup_cpu_median_round'][k]}x" for k in RATIOS))
    print(f"answers checked against py-ipv8: {res['answers_checked']}")
    print(json.dumps(res, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
