"""Purchases: a buyer pays a merchant on chain, the merchant delivers once the payment is confirmed.

The buyer sends its signed payment in a ``Purchase``; the merchant checks it, asks several validators for its status
until the policy says it is confirmed (``confirmations``, or the ``arena_payment_confirmed`` hook), then records
the delivery (the referee counts goods handed over for payments that never settle) and sends ``Delivery``.

Nothing here believes a message it did not ask for:

* a transaction pays for one order: a second ``Purchase`` carrying the same payment is dropped, whatever its
  order id;
* a ``TxStatusReply`` counts only as the answer to a query this merchant sent, to that validator, about that
  transaction, under a query id drawn from the node's seeded rng (so a peer cannot guess an outstanding one);
  each query is answered once;
* a ``Delivery`` counts only for an order this node placed, from the merchant it placed it with, once, and for no
  more than it paid.
"""

from __future__ import annotations

from ..codes import TxStatus
from ..messages import Address, PaymentStatus, PeerInfo
from ..schema import Delivery, Purchase, TxStatusQuery, TxStatusReply, account_of
from ..wire import checked
from .base import NodeBase

STATUS = {int(s): s.label for s in TxStatus}
ORDER_TIMEOUT = 60.0  # a merchant stops asking about a payment after this long
MAX_STATUS_QUERIES = 20_000  # outstanding status queries kept (the oldest are forgotten first)
MAX_PLACED = 10_000  # orders a buyer remembers (the oldest are forgotten first)


class Purchases(NodeBase):
    """The buyer's and the merchant's side of a purchase."""

    def buy(self, merchant: Address, merchant_account: bytes, price: int, fee: int) -> None:
        tx = self.pay(merchant_account, price, fee, purpose="purchase")
        if tx is not None:
            self.query_seq += 1
            self.placed[self.query_seq] = (merchant_account, tx.tx_id, price)
            if len(self.placed) > MAX_PLACED:
                self.placed.pop(next(iter(self.placed)))
            self.send_to(merchant, None, Purchase(self.query_seq, tx))

    @checked(Purchase)
    def on_purchase(self, key: bytes, src: Address, msg: Purchase) -> None:
        if self.role != "merchant":
            return
        tx = msg.tx
        order_key = (tx.sender, msg.order_id)
        if tx.receiver != self.account or tx.amount < self.config.price or tx.sender != account_of(key) \
                or order_key in self.orders or len(self.orders) >= 10_000 or not self.verify_tx(tx):
            self.count_drop("bad_purchase", "Purchase")
            return
        if tx.tx_id in self.buyers:  # one payment, one order: the same transaction under another order id
            self.count_drop("duplicate_payment", "Purchase")
            return
        self.orders[order_key] = PaymentStatus(msg.order_id, tx.tx_id, tx.amount, tx.sender, "unknown", 0, 0,
                                               self.env.now())
        self.buyers[tx.tx_id] = (src, key, msg.order_id)
        # Ask at once (a shop answers its customer now, not at its next round).
        self._ask_status(self.orders[order_key], self.pick_validators("payment", self.config.query_validators))

    def check_payments(self) -> None:
        """Ask validators about every open order; deliver those the policy says are confirmed."""
        now = self.env.now()
        for o in self.orders.values():
            if o.status not in ("delivered", "expired") and now - o.since > ORDER_TIMEOUT:
                o.status = "expired"
        open_orders = [o for o in self.orders.values() if o.status not in ("delivered", "expired")]
        if not open_orders:
            return
        vals = self.pick_validators("payment", self.config.query_validators)
        for o in open_orders:
            self._ask_status(o, vals)

    def _ask_status(self, order: PaymentStatus, vals: list[PeerInfo]) -> None:
        for v in vals:
            qid = self.env.rng.getrandbits(32)
            while qid in self.status_queries:
                qid = self.env.rng.getrandbits(32)
            self.status_queries[qid] = (v.public_key, order.tx_id)
            if len(self.status_queries) > MAX_STATUS_QUERIES:
                self.status_queries.pop(next(iter(self.status_queries)))
            self.send_to(v.address, v.public_key, TxStatusQuery(qid, order.tx_id))

    @checked(TxStatusReply)
    def on_tx_status_reply(self, key: bytes, src: Address, msg: TxStatusReply) -> None:
        asked = self.status_queries.get(msg.query_id)
        if asked is None or asked != (key, msg.tx_id):
            # not a query we sent, not to this peer, or not about this transaction: the outstanding query stays
            self.count_drop("unsolicited", "TxStatusReply")
            return
        del self.status_queries[msg.query_id]
        tx_id = msg.tx_id
        for order in self.orders.values():
            if order.tx_id != tx_id or order.status in ("delivered", "expired"):
                continue
            order.status = STATUS.get(msg.status, "unknown")
            order.confirmations = msg.confirmations
            order.answers += 1
            self._maybe_deliver(order)

    def _maybe_deliver(self, order: PaymentStatus) -> None:
        decision = None
        if self.env.has_hook("arena_payment_confirmed"):
            decision = self.env.hooks.payment_confirmed(payment=order)
        if decision is None:
            need = self.config.confirmations
            if need == 0:
                decision = order.status in ("pending", "included", "finalized")
            else:
                decision = order.status == "finalized" or (order.status == "included" and order.confirmations >= need)
        if not decision:
            return
        order.status = "delivered"
        buyer = self.buyers.get(order.tx_id)
        self.delivered.append({"order": order.order_id, "tx": order.tx_id.hex(), "buyer": order.buyer.hex(),
                               "value": self.config.price})
        self.env.events.delivery(order.order_id, order.tx_id, order.buyer, self.config.price, order.amount)
        if buyer is not None:
            self.send_to(buyer[0], buyer[1], Delivery(buyer[2], self.config.price))

    @checked(Delivery)
    def on_delivery(self, key: bytes, src: Address, msg: Delivery) -> None:
        placed = self.placed.get(msg.order_id)
        if placed is None or placed[0] != account_of(key):
            self.count_drop("unsolicited", "Delivery")
            return
        if msg.value > placed[2]:
            self.count_drop("bad_delivery", "Delivery")
            return
        del self.placed[msg.order_id]  # once
        self.received_goods += msg.value
