"""ipv8-arena: a red-vs-blue adversarial testbed for py-ipv8 blockchains.

The public plugin API is re-exported here (``from arena import hookimpl, Plugin, Params, NodeContext, ...``); it
holds no simulator or live-backend internals. ``docs/architecture.md`` maps the rest of the package.
"""

from __future__ import annotations

from arena.plugin_api import (
    WITHHOLD,
    Adversary,
    BudgetExceeded,
    Contact,
    Evidence,
    Identity,
    InMessage,
    NodeContext,
    OutMessage,
    Packet,
    Params,
    PaymentStatus,
    PeerInfo,
    Plugin,
    Wallet,
    hookimpl,
    work_of,
)

__version__ = "0.1.0"

__all__ = ["WITHHOLD", "Adversary", "BudgetExceeded", "Contact", "Evidence", "Identity", "InMessage", "NodeContext",
           "OutMessage", "Packet", "Params", "PaymentStatus", "PeerInfo", "Plugin", "Wallet", "__version__",
           "hookimpl", "work_of"]
