"""Double spend against a merchant: pay the merchant and, at the same moment, spend the same nonce elsewhere.

The payment to the merchant goes to one validator; a conflicting transfer of the same funds (same nonce) goes to
every other validator. Validators keep the first transaction they see for a nonce, so the network splits into two
camps, and the next block leader's camp wins. A merchant that delivers on a payment it has only *seen* (zero
confirmations) hands over the goods either way: when the conflicting transfer wins, the goods were stolen.
"""

from __future__ import annotations

from arena import Identity, NodeContext, Params, Plugin, hookimpl
from honest.schema import TX_TRANSFER, Purchase


class DoubleSpendParams(Params):
    attempts: int = 5
    start: float = 5.0
    interval: float = 12.0
    fee: int = 1


class DoubleSpend(Plugin):
    """Race a merchant payment against a conflicting transfer of the same nonce."""

    name = "double_spend"
    team = "red"
    Params = DoubleSpendParams
    scenario = "day4_double_spend.yaml"  # the tournament's battle for this attack

    def __init__(self, node: NodeContext, params: DoubleSpendParams) -> None:
        super().__init__(node, params)
        self.params: DoubleSpendParams = params
        self.done = 0
        self.next_at = params.start
        self.sink: Identity | None = None

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or self.done >= self.params.attempts or now < self.next_at:
            return
        merchants, validators = adv.merchants(), adv.validators()
        if not merchants or len(validators) < 2:
            return
        if self.sink is None:
            self.sink = adv.create_identity()  # where the conflicting transfer sends the money
        sink = self.sink
        self.done += 1
        self.next_at = now + self.params.interval
        merchant = merchants[self.done % len(merchants)]
        nonce = adv.next_nonce()
        pay = adv.sign_tx(TX_TRANSFER, merchant.account, merchant.price, nonce, self.params.fee)
        steal = adv.sign_tx(TX_TRANSFER, sink.account, merchant.price, nonce, self.params.fee)
        first, *others = sorted(validators, key=lambda v: node.rng.random())
        adv.submit(pay, first)
        for v in others:
            adv.submit(steal, v)
        adv.send(merchant.address, Purchase(1000 + self.done, pay))
        node.evidence("double_spend", f"paid {merchant.name} via {first.name} and sent a conflicting transfer to "
                      f"{len(others)} other validators at t={now:.1f}", merchant=merchant.name, nonce=nonce,
                      pay_tx=pay.tx_id.hex(), conflict_tx=steal.tx_id.hex(), value=merchant.price)
