"""Broken on purpose: simplechain whose merchant raises on an order id above a million (a bug a red team can find).

A crafted, well-formed ``Purchase`` makes its handler raise. The arena must record that as the node's error (a
``node_error`` event naming this file's line, counted in the ``wire`` summary) and go on: a red plugin never
crashes the world, even through a team's bug.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ipv8.lazy_community import lazy_wrapper

from honest.schema import Purchase

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_fragile_merchant")
ORDER_BOOK = 1_000_000


class FragileMerchant(sc.Merchant):  # type: ignore[name-defined,misc]
    @lazy_wrapper(Purchase)
    def on_purchase(self, peer: Any, msg: Purchase) -> None:
        if msg.order_id >= ORDER_BOOK:
            raise OverflowError(f"order id {msg.order_id} does not fit the order book")
        sc.Merchant.on_purchase.__wrapped__(self, peer, msg)


class FragileChain(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "fragile_merchant"

    def create_node(self, node: Any) -> Any:
        if node.role != "merchant":
            return super().create_node(node)
        return FragileMerchant(sc.SimpleSettings(my_peer=sc.Peer(node.key), endpoint=node.endpoint,
                                                 network=sc.Network(), max_peers=len(node.genesis.names), node=node))
