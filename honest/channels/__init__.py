"""Payment channels (course day 3): open on chain, pay off chain, close cooperatively or unilaterally, dispute.

One :class:`ChannelManager` per node speaks the channel messages of the frozen schema. Where each part lives:

* :mod:`~honest.channels.model`: the channel record, local statuses, what hooks see (``ChannelView``,
  ``ChannelCloseSeen``).
* :mod:`~honest.channels.store`: ``ChannelStore``, what survives a crash and how a restarted node takes it up.
* :mod:`~honest.channels.signing`: signing, countersigning and checking channel states.
* :mod:`~honest.channels.core`: the manager's shared state and helpers (``ChannelHost`` is what it needs from
  its node).
* :mod:`~honest.channels.opening`: propose, accept, fund (``TX_CHANNEL_OPEN``).
* :mod:`~honest.channels.updates`: direct payments, ``ChannelUpdate``/``ChannelUpdateAck``.
* :mod:`~honest.channels.multihop`: invoices and HTLC routing and forwarding (with :mod:`honest.htlc` and
  :mod:`honest.routing`).
* :mod:`~honest.channels.closing`: cooperative close and force close.
* :mod:`~honest.channels.chain_watch`: opens and closes seen in blocks, the dispute window, disputes;
  :mod:`~honest.channels.block_fetch` fetches the blocks a light node needs for it.
* :mod:`~honest.channels.manager`: ``ChannelManager`` assembled from those parts, and its timer.
* :mod:`~honest.channels.settlement`: validators' ``SettlementWatch`` (``channel_settled`` events).
* :mod:`~honest.channels.handlers`: the channel message handlers a node registers.

Parties record ``channel_signed`` whenever they come to hold a new state signed by both (as countersigner, or on
receiving the countersignature). Durability: channel states survive a crash through the ``ChannelStore`` (the
simulator hands the restarted node the same store); HTLCs and payments in flight at a crash are forgotten.
"""

from __future__ import annotations

from .core import ChannelHost
from .handlers import message_handlers
from .manager import ChannelManager
from .model import (
    ACCEPTED,
    CHANNEL_TX_KINDS,
    CLOSED_,
    CLOSING,
    DONE,
    FAILED,
    FORCE_CLOSING,
    OPEN,
    PROPOSED,
    WINDOW,
    Channel,
    ChannelCloseSeen,
    ChannelView,
    Op,
)
from .settlement import SettlementWatch
from .store import ChannelStore

__all__ = ["ACCEPTED", "CHANNEL_TX_KINDS", "CLOSED_", "CLOSING", "DONE", "FAILED", "FORCE_CLOSING", "OPEN",
           "PROPOSED", "WINDOW", "Channel", "ChannelCloseSeen", "ChannelHost", "ChannelManager", "ChannelStore",
           "ChannelView", "Op", "SettlementWatch", "message_handlers"]
