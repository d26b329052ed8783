"""The deterministic simulator: a virtual-time event loop and a simulated underlay for py-ipv8 endpoints."""

from __future__ import annotations

from .endpoint import SimEndpoint
from .loop import SimulationError, VirtualLoop, current_node
from .network import DROP_REASONS, LinkSpec, Packet, SimNetwork

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
