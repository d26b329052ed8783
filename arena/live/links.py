"""The scenario's link model, emulated in user space on a live node's sends (``--emulate-links``, rehearsals only).

On battle day the network is what it is; a rehearsal on one machine has no latency, jitter or loss at all, so a
protocol that depends on them (timeouts, a double spend's race) behaves unlike the simulator's run. With emulation a
node delays or drops each datagram it sends to another node of the plan as the simulator's link would: the same
link resolution (per-link overrides both ways, then the region matrix, then the default link) and the same draws
in the same order (loss, then jitter), from the node's own seeded stream ``live-links:<name>``. Packets to
addresses outside the plan (a stock peer, a Sybil) pass untouched. Bandwidth and duplication are not emulated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from arena.live.plan import Address, BattlePlan
from arena.runtime.rng import stream
from arena.scenario.model import LinkModel


@dataclass(frozen=True)
class Link:
    """What one directed link of the plan does to a datagram."""

    latency: float
    jitter: float
    jitter_dist: str
    loss: float
    reorder: bool


class LinkEmulator:
    """Per destination: ``None`` (lost) or the delay in seconds before the datagram may leave."""

    def __init__(self, plan: BattlePlan, index: int, rng: random.Random | None = None) -> None:
        self.index = index
        self.rng = rng if rng is not None else stream(plan.seed, f"live-links:{plan.name(index)}")
        net = plan.scenario.network
        overrides: dict[tuple[int, int], LinkModel] = {}
        for o in net.links:
            overrides[(o.b, o.a)] = o
        for o in net.links:
            overrides[(o.a, o.b)] = o
        pairs = [(a, b, v) for (a, _, b), v in ((k.partition("-"), v) for k, v in net.region_latency.items())]
        regions = {(b, a): v for a, b, v in pairs}
        regions.update({(a, b): v for a, b, v in pairs})  # as the simulator: the pair as written wins
        self.links: dict[Address, Link] = {}
        for j, address in enumerate(plan.addresses):
            if j == index:
                continue
            spec = overrides.get((index, j), net.link)
            latency = spec.latency
            ra, rb = net.regions.get(index), net.regions.get(j)
            if (index, j) not in overrides and ra is not None and rb is not None and (ra, rb) in regions:
                latency = regions[(ra, rb)]
            self.links[address] = Link(latency, spec.jitter, spec.jitter_dist, spec.loss, spec.reorder)
        self._last: dict[Address, float] = {}  # in-order links: the latest departure scheduled so far

    def delay(self, dst: Address, now: float) -> float | None:
        """``None`` if the datagram to ``dst`` is lost, else how long to hold it back (0: send now)."""
        link = self.links.get(dst)
        if link is None:
            return 0.0
        rng = self.rng
        if link.loss and rng.random() < link.loss:
            return None
        delay = link.latency
        if link.jitter:
            delay += _jitter(rng, link)
        if not link.reorder:
            at = max(now + delay, self._last.get(dst, -1.0) + 1e-6)  # strictly later: timers keep no FIFO
            self._last[dst] = at
            delay = at - now
        return delay


def _jitter(rng: random.Random, link: Link) -> float:
    """The extra delay, drawn as the simulator draws it."""
    if link.jitter_dist == "exponential":
        return float(rng.expovariate(1.0 / link.jitter))
    if link.jitter_dist == "normal":
        return abs(float(rng.gauss(0.0, link.jitter)))
    return link.jitter * rng.random()


__all__ = ["Link", "LinkEmulator"]
