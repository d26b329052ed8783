"""Byzantine validator: a staked red validator signs two blocks for its slot (and votes for both).

One block pays a merchant, the other moves the same coins (same nonce) to a Sybil. The red node keeps the paying
block as its own head (so it truthfully reports the payment as included) and shows it to ``split`` honest
validators; the others get the conflicting block and a vote for it. A merchant that delivers once a payment is
included ships the goods; when the next leader builds on the conflicting block, the payment never happened.
"""

from __future__ import annotations

from typing import Any, Literal

from arena import WITHHOLD, Identity, NodeContext, Params, Plugin, hookimpl
from honest.schema import ITEM_BLOCK, ITEM_VOTE, TX_TRANSFER, Gossip, GossipItem, Purchase, Vote


class ByzantineValidatorParams(Params):
    start: float = 5.0
    attempts: int = 6
    split: int = 1  # honest validators shown the paying block
    fee: int = 1


class ByzantineValidator(Plugin):
    """Equivocate as block leader: a paying block for the merchant's side, a conflicting one for the rest."""

    name = "byzantine_validator"
    team = "red"
    Params = ByzantineValidatorParams
    scenario = "attack_byzantine_validator.yaml"

    def __init__(self, node: NodeContext, params: ByzantineValidatorParams) -> None:
        super().__init__(node, params)
        self.params: ByzantineValidatorParams = params
        self.done = 0
        self.sink: Identity | None = None

    @hookimpl
    def arena_propose_block(self, node: NodeContext, block: Any) -> Any | Literal["withhold"] | None:
        adv = node.adversary
        if adv is None or node.now() < self.params.start or self.done >= self.params.attempts:
            return None
        merchants, others = adv.merchants(), adv.validators()
        if not merchants or len(others) <= self.params.split:
            return None
        self.sink = self.sink or adv.create_identity()
        m = merchants[self.done % len(merchants)]
        h = block.header
        nonce = adv.nonce_at(h.parent) + 1
        pay = adv.sign_tx(TX_TRANSFER, m.account, m.price, nonce, self.params.fee)
        steal = adv.sign_tx(TX_TRANSFER, self.sink.account, m.price, nonce, self.params.fee)
        paying = adv.build_block(h.parent, h.slot, [*block.txs, pay])
        stealing = adv.build_block(h.parent, h.slot, [*block.txs, steal])
        if pay.tx_id not in {t.tx_id for t in paying.txs}:  # we cannot afford it any more: stop
            self.done = self.params.attempts
            return None
        self.done += 1
        shown = sorted(others, key=lambda v: node.rng.random())
        shown, hidden = shown[:self.params.split], shown[self.params.split:]
        adv.adopt_block(paying)  # our own node follows, reports and votes for the paying block
        for v in shown:
            adv.send(v.address, Gossip([GossipItem(ITEM_BLOCK, paying.to_bytes())]))
        vote = Vote.create(adv.me.key, h.height, stealing.block_hash)
        for v in hidden:
            adv.send(v.address, Gossip([GossipItem(ITEM_BLOCK, stealing.to_bytes()),
                                        GossipItem(ITEM_VOTE, vote.to_bytes())]))
        adv.send(m.address, Purchase(3000 + self.done, pay))
        self.node.evidence("byzantine_validator", f"signed two blocks for slot {h.slot}: one pays {m.name} "
                           f"{m.price}, one sends it to {self.sink.name}", slot=h.slot, height=h.height,
                           paying=paying.block_hash.hex(), stealing=stealing.block_hash.hex(), merchant=m.name,
                           pay_tx=pay.tx_id.hex(), value=m.price)
        return WITHHOLD
