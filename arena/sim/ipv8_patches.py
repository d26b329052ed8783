"""Make py-ipv8 deterministic inside the simulator, and cheap where it is a pure function.

py-ipv8 reads ``time.time()`` and the global ``random`` in a few places (peer liveness, introductions, request
cache ids). Inside a simulation those names are pointed at the virtual clock and a seeded stream; they are put
back when the simulation ends. Crypto goes through :func:`arena.runtime.crypto.fast_crypto`: libsodium for
curve25519 keys, with py-ipv8's exact answers; signatures are memoised (Ed25519 is deterministic), and so is
verification, a pure function of (key, data, signature): every recipient still runs the check on its code path,
but a broadcast signed once is verified once per process.
"""

from __future__ import annotations

import random
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipv8.community
import ipv8.peer
import ipv8.peerdiscovery.churn
import ipv8.peerdiscovery.community
import ipv8.peerdiscovery.discovery
import ipv8.requestcache
import ipv8.taskmanager
from ipv8.keyvault.crypto import default_eccrypto

from arena.runtime.crypto import VerifyCache, fast_crypto

__all__ = ["VerifyCache", "virtual_ipv8"]


_PATCHES: list[tuple[Any, str]] = [
    (ipv8.community, "time"),
    (ipv8.community, "random"),
    (ipv8.community, "choice"),
    (ipv8.peer, "time"),
    (ipv8.requestcache, "random"),
    (ipv8.taskmanager, "time"),
    (ipv8.peerdiscovery.discovery, "time"),
    (ipv8.peerdiscovery.discovery, "choice"),
    (ipv8.peerdiscovery.discovery, "randint"),
    (ipv8.peerdiscovery.community, "time"),
    (ipv8.peerdiscovery.community, "sample"),
    (ipv8.peerdiscovery.churn, "time"),
    (ipv8.peerdiscovery.churn, "sample"),
]


@contextmanager
def virtual_ipv8(clock: Callable[[], float], rng: random.Random, cache_signatures: bool = True) -> Iterator[
        VerifyCache | None]:
    """Within the block, py-ipv8 reads ``clock`` for time and ``rng`` for randomness; with ``cache_signatures``,
    ``default_eccrypto`` signs and verifies through :func:`~arena.runtime.crypto.fast_crypto` (libsodium, memoised;
    the verify cache is yielded). ``cache_signatures=False`` leaves py-ipv8's crypto exactly as it is (the reference
    the fast path is compared with, and the benchmarks' no-cache variant)."""
    saved = [(mod, name, getattr(mod, name)) for mod, name in _PATCHES]
    replacements: dict[str, Any] = {
        "random": rng.random,
        "choice": rng.choice,
        "randint": rng.randint,
        "sample": rng.sample,
    }
    for mod, name in _PATCHES:
        if name == "time":
            if isinstance(getattr(mod, name), types.ModuleType):
                setattr(mod, name, types.SimpleNamespace(time=clock))
            else:
                setattr(mod, name, clock)
        else:
            setattr(mod, name, replacements[name])
    try:
        if cache_signatures:
            with fast_crypto(default_eccrypto, cache_verify=True) as patch:
                yield patch.cache
        else:
            yield None
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)
