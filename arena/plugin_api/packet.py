"""The raw packet that transport hooks see, in either backend."""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]


@dataclass
class Packet:
    """A packet in transit, as transport hooks see it: they may change ``data``, drop it, delay or copy it."""

    src: Address
    dst: Address
    data: bytes
    drop: bool = False
    delay: float = 0.0
    copies: int = 1
