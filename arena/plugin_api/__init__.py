"""The public plugin API: everything an attack or defense may use, re-exported by ``arena`` itself.

Plugins import from ``arena`` (and the frozen wire schema ``honest.schema``) only; a load-time check keeps it so.
"""

from __future__ import annotations

from arena.plugin_api.adversary import Adversary, BudgetExceeded, Contact, Identity, Wallet, work_of
from arena.plugin_api.base import WITHHOLD, Evidence, NodeContext, Params, Plugin, hookimpl
from arena.plugin_api.packet import Packet
from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo

__all__ = ["WITHHOLD", "Adversary", "BudgetExceeded", "Contact", "Evidence", "Identity", "InMessage", "NodeContext",
           "OutMessage", "Packet", "Params", "PaymentStatus", "PeerInfo", "Plugin", "Wallet", "hookimpl", "work_of"]
