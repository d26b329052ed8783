"""A red plugin that sends each merchant a well-formed Purchase with an order id no honest buyer would use.

Public API only. Against a merchant whose handler cannot take it (tests/protocols/fragile_merchant.py), this is a
denial-of-service finding: the arena must record the node's error and keep the battle going.
"""

from __future__ import annotations

from arena import NodeContext, Params, Plugin, hookimpl
from honest.schema import TX_TRANSFER, Purchase


class CraftedParams(Params):
    at: float = 4.0
    order_id: int = 2**31


class CraftedPurchase(Plugin):
    name = "crafted_purchase"
    team = "red"
    Params = CraftedParams

    def __init__(self, node: NodeContext, params: CraftedParams) -> None:
        super().__init__(node, params)
        self.params: CraftedParams = params
        self.sent = False

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or self.sent or now < self.params.at:
            return
        self.sent = True
        for m in adv.merchants():
            tx = adv.sign_tx(TX_TRANSFER, m.account, m.price, adv.next_nonce(), 1)
            adv.send(m.address, Purchase(self.params.order_id, tx))
        node.evidence("crafted_purchase", f"order id {self.params.order_id} to {len(adv.merchants())} merchants")
