"""The honest reference node: one py-ipv8 Community for validators, light nodes and merchants.

Validators check signed transactions, gossip them to other validators and (in ``pos`` mode) order them into
stake-weighted proof-of-stake blocks finalised by votes; in ``none`` mode (course day 1) they apply them to the
ledger on arrival. Light nodes submit transactions, follow headers and ask several validators for their balance.
Merchants deliver goods once a payment is confirmed under their policy. Every send and receive passes the message
hooks, and every protocol decision that attacks or defenses care about passes its own hook.

:class:`HonestNode` (:mod:`~honest.node.community`: state, wiring, start-up) is assembled from parts that share
``self`` (their common attributes are declared in :mod:`~honest.node.base`):

* :mod:`~honest.node.transport`: packets in and out, through the message hooks.
* :mod:`~honest.node.intake`: gossip and transactions received by a validator (ledger or mempool).
* :mod:`~honest.node.queries`: balance and transaction-status answers of a validator.
* :mod:`~honest.node.blocks`: block proposal in a validator's slots, block validation.
* :mod:`~honest.node.finality`: fork choice, votes, finalisation.
* :mod:`~honest.node.sync`: chain status and block requests between validators.
* :mod:`~honest.node.light`: the light client (submit, resubmit, balance queries, headers).
* :mod:`~honest.node.purchases`: buying, and the merchant's orders and deliveries.

:mod:`~honest.node.settings` holds what a node is started with. Payment channels are :mod:`honest.channels`.
"""

from __future__ import annotations

from .community import HonestNode
from .intake import decode_item
from .light import RESUBMIT_AFTER, BalanceQueryState
from .purchases import ORDER_TIMEOUT, STATUS
from .settings import COMMUNITY_ID, LIGHT, MERCHANT, VALIDATOR, HonestSettings
from .sync import REQUEST_TIMEOUT

__all__ = ["COMMUNITY_ID", "LIGHT", "MERCHANT", "ORDER_TIMEOUT", "REQUEST_TIMEOUT", "RESUBMIT_AFTER", "STATUS",
           "VALIDATOR", "BalanceQueryState", "HonestNode", "HonestSettings", "decode_item"]
