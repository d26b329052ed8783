"""ipv8-arena: a red-vs-blue adversarial testbed for py-ipv8 blockchains.

The public plugin API is re-exported here: ``from arena import hookimpl, Plugin, Params, NodeContext``.
"""

from __future__ import annotations

from .api import WITHHOLD, Evidence, NodeContext, Params, Plugin, hookimpl
from .sim.network import Packet

__version__ = "0.1.0"

__all__ = ["WITHHOLD", "Evidence", "NodeContext", "Packet", "Params", "Plugin", "__version__", "hookimpl"]
