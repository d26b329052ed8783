"""The public plugin API: everything an attack or defense may use, re-exported by ``arena`` itself.

Plugins import from ``arena`` (and the frozen wire schema ``honest.schema``) only; a load-time check keeps it so.
The wire code enums (``TxStatus``, ``Role``, ``TxKind``, ``ItemKind``, ``EvidenceKind``) are defined in
:mod:`honest.codes` and passed on here, so a plugin writes ``TxStatus.FINALIZED``, not ``3``.
"""

from __future__ import annotations

from arena.plugin_api.adversary import Adversary, BudgetExceeded, Contact, Identity, Wallet, work_of
from arena.plugin_api.base import WITHHOLD, Evidence, NodeContext, Params, Plugin, hookimpl
from arena.plugin_api.packet import Packet
from honest.codes import EvidenceKind, ItemKind, Role, TxKind, TxStatus
from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo

__all__ = ["WITHHOLD", "Adversary", "BudgetExceeded", "Contact", "Evidence", "EvidenceKind", "Identity", "InMessage",
           "ItemKind", "NodeContext", "OutMessage", "Packet", "Params", "PaymentStatus", "PeerInfo", "Plugin", "Role",
           "TxKind", "TxStatus", "Wallet", "hookimpl", "work_of"]
