"""ipv8-arena: a red-vs-blue adversarial testbed for py-ipv8 blockchains.

The public plugin API is re-exported here (``from arena import hookimpl, Plugin, Params, NodeContext, ...``); it
holds no simulator or live-backend internals. ``docs/architecture.md`` maps the rest of the package.

The re-export is lazy (PEP 562): ``import arena`` alone, as every ``arena`` command does before it knows what it will
run, loads neither py-ipv8 nor pydantic; the first name asked for loads :mod:`arena.plugin_api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.plugin_api import (
        WITHHOLD,
        Adversary,
        BudgetExceeded,
        Contact,
        Evidence,
        EvidenceKind,
        Identity,
        InMessage,
        ItemKind,
        NodeContext,
        OutMessage,
        Packet,
        Params,
        PaymentStatus,
        PeerInfo,
        Plugin,
        Role,
        TxKind,
        TxStatus,
        Wallet,
        hookimpl,
        work_of,
    )
    from arena.protocols.api import Genesis, NodeSetup, Protocol
    from honest.contract import CONTRACT_VERSION, Recorder, block_record, ledger_record, tx_record
    from honest.env import NodeEnv, NodeHooks

__version__ = "0.1.0"

#: The protocol API (a team's own implementation, docs/protocols.md) and the referee contract: name -> module.
PROTOCOL_API = {
    "Genesis": "arena.protocols.api", "NodeSetup": "arena.protocols.api", "Protocol": "arena.protocols.api",
    "CONTRACT_VERSION": "honest.contract", "Recorder": "honest.contract", "block_record": "honest.contract",
    "ledger_record": "honest.contract", "tx_record": "honest.contract",
    "NodeEnv": "honest.env", "NodeHooks": "honest.env",
}

__all__ = ["CONTRACT_VERSION", "WITHHOLD", "Adversary", "BudgetExceeded", "Contact", "Evidence", "EvidenceKind",
           "Genesis", "Identity", "InMessage", "ItemKind", "NodeContext", "NodeEnv", "NodeHooks", "NodeSetup",
           "OutMessage", "Packet", "Params", "PaymentStatus", "PeerInfo", "Plugin", "Protocol", "Recorder", "Role",
           "TxKind", "TxStatus", "Wallet", "__version__", "block_record", "hookimpl", "ledger_record", "tx_record",
           "work_of"]


def __getattr__(name: str) -> Any:
    if name in PROTOCOL_API:
        import importlib

        value = getattr(importlib.import_module(PROTOCOL_API[name]), name)
        globals()[name] = value
        return value
    if name in __all__:
        from arena import plugin_api

        value = getattr(plugin_api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'arena' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
