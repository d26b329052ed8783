"""Seeded randomness: one scenario seed, one named stream per component and node.

A stream's sequence depends only on the seed and its name, so adding a node or a component never shifts another
stream's draws. Nothing here touches the global ``random`` module or ``os.urandom``.
"""

from __future__ import annotations

import hashlib
import random


def stream(seed: int, name: str) -> random.Random:
    """A fresh ``random.Random`` for ``name`` under ``seed`` (string seeding hashes with SHA-512: stable)."""
    return random.Random(f"{seed}:{name}")


def derive_bytes(seed: int, name: str, length: int = 32) -> bytes:
    """Deterministic bytes for ``name`` under ``seed`` (keys, identifiers)."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{name}:{counter}".encode()).digest()
        counter += 1
    return out[:length]


class Streams:
    """Hands out named streams, caching them so that two asks for one name share state."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = stream(self.seed, name)
        return rng
