"""Make py-ipv8 deterministic inside the simulator, and cheap where it is a pure function.

py-ipv8 reads ``time.time()`` and the global ``random`` in a few places (peer liveness, introductions, request
cache ids). Inside a simulation those names are pointed at the virtual clock and a seeded stream; they are put
back when the simulation ends. Signature verification is a pure function of (key, data, signature), so inside the
simulator its result is memoised: every recipient still runs the check on its code path, but a broadcast signed
once is verified once per process.
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
from ipv8.keyvault.crypto import ECCrypto, default_eccrypto


class VerifyCache:
    """Memoises ``is_valid_signature`` and ``key_from_public_bin`` of an ``ECCrypto`` (bounded, FIFO eviction)."""

    def __init__(self, crypto: ECCrypto, limit: int = 200_000) -> None:
        self.crypto = crypto
        self.limit = limit
        self._valid: dict[tuple[bytes, bytes, bytes], bool] = {}
        self._keys: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0
        self._orig_valid = crypto.is_valid_signature
        self._orig_key = crypto.key_from_public_bin

    def is_valid_signature(self, public_key: Any, data: bytes, signature: bytes) -> bool:
        k = (public_key.key_to_bin(), bytes(data), bytes(signature))
        found = self._valid.get(k)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        ok = bool(self._orig_valid(public_key, data, signature))
        if len(self._valid) >= self.limit:
            self._valid.pop(next(iter(self._valid)))
        self._valid[k] = ok
        return ok

    def key_from_public_bin(self, key_bin: bytes) -> Any:
        key = self._keys.get(key_bin)
        if key is None:
            key = self._orig_key(key_bin)
            if len(self._keys) >= self.limit:
                self._keys.pop(next(iter(self._keys)))
            self._keys[key_bin] = key
        return key


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
    """Within the block, py-ipv8 reads ``clock`` for time and ``rng`` for randomness; signatures are memoised."""
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
    cache = VerifyCache(default_eccrypto) if cache_signatures else None
    if cache is not None:
        default_eccrypto.is_valid_signature = cache.is_valid_signature  # type: ignore[method-assign]
        default_eccrypto.key_from_public_bin = cache.key_from_public_bin  # type: ignore[method-assign]
    try:
        yield cache
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)
        if cache is not None:
            del default_eccrypto.is_valid_signature
            del default_eccrypto.key_from_public_bin
