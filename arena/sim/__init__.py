"""The deterministic simulator: a virtual-time event loop and a simulated underlay for py-ipv8 endpoints."""

from __future__ import annotations

from arena.sim.endpoint import SimEndpoint
from arena.sim.loop import SimulationError, VirtualLoop, current_node
from arena.sim.network import DROP_REASONS, LinkSpec, Packet, SimNetwork

__all__ = [
    "DROP_REASONS",
    "LinkSpec",
    "Packet",
    "SimEndpoint",
    "SimNetwork",
    "SimulationError",
    "VirtualLoop",
    "current_node",
]
