"""Sybil: cheap identities pose as validators in merchants' peer tables and vouch for a purchase nobody paid for.

Each identity gets its own endpoint at the red node's host and announces itself to the merchants as a validator;
the peer limit and random eviction let the crowd push real validators out. A merchant delivers on the first
answer about a payment from whoever its table says is a validator, so a Sybil saying "finalized" about a purchase
by a penniless Sybil buyer (never sent to any validator) gets the goods delivered. Sybils also answer balance
queries with a false balance (light nodes take a count majority of whoever answers).
"""

from __future__ import annotations

from typing import Any, Literal

from arena import Identity, NodeContext, Params, Plugin, TxStatus, hookimpl
from honest.schema import TX_TRANSFER, BalanceQuery, BalanceReply, Purchase, SubmitTx, TxStatusQuery, TxStatusReply


class SybilParams(Params):
    identities: int = 16  # Sybils posing as validators (within teams.red.budget.sybils, plus one buyer)
    targets: Literal["merchants", "all"] = "merchants"  # whose peer tables to join
    start: float = 3.0
    reannounce: float = 5.0  # seconds between announces (an evicted Sybil comes straight back)
    buy_from: float = 20.0  # first purchase, once the crowd is in
    interval: float = 12.0
    purchases: int = 5
    balance: int = 1_000_000  # the balance Sybils claim for anybody


class Sybil(Plugin):
    """Crowd merchants' peer tables with fake validators that vouch for unpaid purchases."""

    name = "sybil"
    team = "red"
    Params = SybilParams
    scenario = "attack_sybil.yaml"  # the tournament's battle for this attack

    def __init__(self, node: NodeContext, params: SybilParams) -> None:
        super().__init__(node, params)
        self.params: SybilParams = params
        self.sybils: list[Identity] = []
        self.buyer: Identity | None = None
        self.unpaid: set[bytes] = set()  # our purchases' tx ids: never sent to a validator
        self.lies = 0
        self.next_announce = params.start
        self.next_buy = params.buy_from

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or now < self.params.start:
            return
        if self.buyer is None:
            self.buyer = adv.create_identity()
            self.sybils = [adv.create_identity() for _ in range(self.params.identities)]
            for s in self.sybils:
                adv.open_endpoint(s, role="validator")
            self.node.evidence("sybil", f"{len(self.sybils)} identities posing as validators from t={now:.1f}",
                               identities=len(self.sybils))
        targets = adv.merchants() if self.params.targets == "merchants" else \
            [c for c in adv.contacts() if c.role != "validator"]
        if now >= self.next_announce:
            self.next_announce = now + self.params.reannounce
            for target in targets:
                for s in self.sybils:
                    adv.announce(target.address, s)
        merchants = adv.merchants()
        if merchants and now >= self.next_buy and len(self.unpaid) < self.params.purchases:
            self.next_buy = now + self.params.interval
            m = merchants[len(self.unpaid) % len(merchants)]
            tx = adv.sign_tx(TX_TRANSFER, m.account, m.price, adv.next_nonce(self.buyer), 1, identity=self.buyer)
            self.unpaid.add(tx.tx_id)
            adv.send(m.address, Purchase(2000 + len(self.unpaid), tx), identity=self.buyer)
            self.node.evidence("sybil", f"penniless {self.buyer.name} ordered goods worth {m.price} from {m.name}",
                               merchant=m.name, tx=tx.tx_id.hex(), value=m.price)

    @hookimpl
    def arena_identity_message(self, node: NodeContext, identity: Identity, message: Any) -> None:
        adv, p = node.adversary, message.payload
        if adv is None:
            return
        if isinstance(p, TxStatusQuery) and p.tx_id in self.unpaid:
            adv.send(message.src, TxStatusReply(p.query_id, p.tx_id, TxStatus.FINALIZED, 1, 1), identity)
            self.lies += 1
        elif isinstance(p, BalanceQuery):
            adv.send(message.src, BalanceReply(p.query_id, p.account, self.params.balance, 0, 1), identity)
            self.lies += 1
        elif isinstance(p, SubmitTx) and adv.validators():  # pass honest payments on: stay unnoticed
            adv.submit(p.tx, adv.validators()[0])

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        self.node.log("sybil summary", lies=self.lies, purchases=len(self.unpaid))
