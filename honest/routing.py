"""Source routing over the public channel graph: fees per hop, and a cheapest path with enough capacity.

The channel graph is public knowledge: every ``TX_CHANNEL_OPEN`` on chain names both parties and the deposit (the
channel's capacity), and every close removes the channel. How the capacity is split between the two sides is
private, so a payer can only tell that a remote channel *might* carry an amount (capacity >= amount); its own
channels it knows exactly. A hop that turns out to lack liquidity fails the attempt and the payer routes around it.

Fees: every relay takes ``base + amount * ppm // 1_000_000`` of the amount it forwards. The schedule is the same for
all nodes (scenario-wide), so a relay can work out what to forward from what it was offered, and the offer needs no
per-hop payload (``HtlcOffer.route`` is only the list of accounts).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    base: int = 0
    ppm: int = 0

    def fee(self, amount: int) -> int:
        """What a relay keeps for forwarding ``amount``."""
        return self.base + amount * self.ppm // 1_000_000

    def forward_amount(self, incoming: int) -> int:
        """The largest ``x`` with ``x + fee(x) <= incoming`` (what a relay forwards); 0 when nothing fits.

        ``x + fee(x)`` strictly increases with ``x``, so when the payer built ``incoming = out + fee(out)`` this
        returns exactly ``out``.
        """
        if incoming <= self.base:
            return 0
        x = (incoming - self.base) * 1_000_000 // (1_000_000 + self.ppm)
        while x > 0 and x + self.fee(x) > incoming:
            x -= 1
        while x + 1 + self.fee(x + 1) <= incoming:
            x += 1
        return x

    def hop_amounts(self, amount: int, channels: int) -> list[int]:
        """Amounts offered on each of ``channels`` channels, payer's first; the last is ``amount`` itself."""
        out = [amount]
        for _ in range(channels - 1):
            out.append(out[-1] + self.fee(out[-1]))
        out.reverse()
        return out


class ChannelGraph:
    """Open channels as seen on chain (or given by a tool): id -> (a, b, capacity), plus an adjacency index."""

    def __init__(self) -> None:
        self.channels: dict[bytes, tuple[bytes, bytes, int]] = {}
        self.adj: dict[bytes, dict[bytes, dict[bytes, int]]] = {}  # account -> neighbour -> {channel id: capacity}
        self.widest: dict[bytes, dict[bytes, int]] = {}  # account -> neighbour -> largest channel between them

    def __len__(self) -> int:
        return len(self.channels)

    def __contains__(self, channel_id: bytes) -> bool:
        return channel_id in self.channels

    def add(self, channel_id: bytes, a: bytes, b: bytes, capacity: int) -> None:
        if channel_id in self.channels or a == b:
            return
        self.channels[channel_id] = (a, b, capacity)
        for u, v in ((a, b), (b, a)):
            self.adj.setdefault(u, {}).setdefault(v, {})[channel_id] = capacity
            row = self.widest.setdefault(u, {})
            row[v] = max(row.get(v, 0), capacity)

    def remove(self, channel_id: bytes) -> None:
        found = self.channels.pop(channel_id, None)
        if found is None:
            return
        a, b, _ = found
        for u, v in ((a, b), (b, a)):
            chans = self.adj.get(u, {}).get(v)
            if chans is not None:
                chans.pop(channel_id, None)
                if chans:
                    self.widest[u][v] = max(chans.values())
                else:
                    del self.adj[u][v]
                    del self.widest[u][v]

    def capacity(self, u: bytes, v: bytes) -> int:
        """The largest single channel between ``u`` and ``v`` (an HTLC must fit in one channel)."""
        return self.widest.get(u, {}).get(v, 0)

    def route(self, src: bytes, dst: bytes, amount: int, *, fees: FeeSchedule,
              local: Callable[[bytes], int], excluded: set[tuple[bytes, bytes]] | None = None,
              rng: random.Random | None = None, max_hops: int = 20) -> list[bytes] | None:
        """The accounts after ``src`` on a path to ``dst`` (``dst`` last), or None.

        Dijkstra from the payee backwards, so each edge is tested with the exact amount it would carry (fees of the
        relays after it included). ``local(v)`` is what ``src`` can send to neighbour ``v`` right now; other edges
        need capacity. The cost is what the payer sends, then the hop count; ties are broken at random (``rng``)
        so that equal paths share the load instead of always picking the lowest account.
        """
        if src == dst or amount <= 0:
            return None
        skip = excluded or set()
        tiebreak = rng.random if rng is not None else (lambda: 0.0)
        base, ppm = fees.base, fees.ppm
        widest = self.widest
        # entries: (amount entering v, hops from v to dst, tiebreak, v); next_hop[v] = the node after v
        best: dict[bytes, int] = {dst: amount}
        next_hop: dict[bytes, bytes] = {}
        hops: dict[bytes, int] = {dst: 0}
        heap: list[tuple[int, int, float, bytes]] = [(amount, 0, 0.0, dst)]
        done: set[bytes] = set()
        while heap:
            need, h, _, v = heapq.heappop(heap)
            if v in done:
                continue
            done.add(v)
            if v == src:
                path = []
                node = src
                while node != dst:
                    node = next_hop[node]
                    path.append(node)
                return path
            if h >= max_hops:
                continue
            for u, cap in widest.get(v, {}).items():
                if u in done or (skip and (u, v) in skip):
                    continue
                if u == src:
                    if local(v) < need:
                        continue
                    cost = need  # the payer keeps no fee
                else:
                    if cap < need:
                        continue
                    cost = need + base + need * ppm // 1_000_000
                if cost < best.get(u, cost + 1) or (cost == best.get(u) and h + 1 < hops.get(u, h + 2)):
                    best[u] = cost
                    hops[u] = h + 1
                    next_hop[u] = v
                    heapq.heappush(heap, (cost, h + 1, tiebreak(), u))
        return None


__all__ = ["ChannelGraph", "FeeSchedule"]
