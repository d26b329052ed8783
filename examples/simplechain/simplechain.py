"""simplechain: a deliberately simple blockchain, written the way a student writes one in course days 1-3.

Light nodes sign transfers and hand them to validators; validators check them, gossip them to every validator
they know, and the slot's leader (the course's stake-weighted draw on the parent hash and the slot) puts them in a
block. The longest chain wins and a block is final once ``depth`` blocks are on top of it. A merchant delivers as
soon as the payment says it pays enough: with ``light.confirmations: 0`` it does not wait for any validator at
all, which is exactly what the day-4 double spend exploits.

Only messages of the frozen wire schema (:mod:`honest.schema`) are sent, in py-ipv8's signed-packet layout
(``ez_send`` / ``ezr_pack``); peers are found with py-ipv8's own introductions (``walk_to``).

Plugin hooks called (through ``env.hooks``, so plugins act on this chain too):
``validate_transfer`` (before a transaction enters the mempool), ``validate_block`` (before a block is checked),
``propose_block`` (the leader's block, which a plugin may withhold or replace), ``payment_confirmed`` (the
merchant's delivery decision). The arena adds the message and packet hooks at the endpoint.

Run it: ``arena run examples/simplechain/battle.yaml --protocol examples/simplechain/simplechain.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import lazy_wrapper
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena import NodeSetup, Protocol, TxStatus
from honest.contract import block_record, ledger_record
from honest.messages import PaymentStatus
from honest.pos import leader
from honest.schema import (
    ITEM_BLOCK,
    ITEM_TX,
    TX_TRANSFER,
    Block,
    BlockRequest,
    BlockResponse,
    Delivery,
    Gossip,
    GossipItem,
    Purchase,
    SubmitTx,
    Tx,
    TxStatusQuery,
    TxStatusReply,
)

GENESIS = b"\x00" * 32
PENDING, INCLUDED, FINALIZED = TxStatus.PENDING, TxStatus.INCLUDED, TxStatus.FINALIZED  # codes of TxStatusReply


class Ledger:
    """Balances and nonces after some block (a copy per block: small chains, simple code)."""

    def __init__(self, balances: Mapping[bytes, int], nonces: Mapping[bytes, int] | None = None) -> None:
        self.balances = dict(balances)
        self.nonces = dict(nonces or {})

    def copy(self) -> Ledger:
        return Ledger(self.balances, self.nonces)

    def apply(self, tx: Tx, proposer: bytes) -> str | None:
        """Apply a transfer (its fee goes to the proposer); why not, or None."""
        if tx.kind != TX_TRANSFER or tx.amount <= 0 or tx.sender == tx.receiver:
            return "bad_transfer"
        if tx.nonce != self.nonces.get(tx.sender, 0) + 1:
            return "bad_nonce"
        if self.balances.get(tx.sender, 0) < tx.amount + tx.fee:
            return "overdraft"
        self.balances[tx.sender] -= tx.amount + tx.fee
        self.balances[tx.receiver] = self.balances.get(tx.receiver, 0) + tx.amount
        self.balances[proposer] = self.balances.get(proposer, 0) + tx.fee
        self.nonces[tx.sender] = tx.nonce
        return None

    def root(self) -> bytes:
        rows = sorted((a, b, self.nonces.get(a, 0)) for a, b in self.balances.items())
        return hashlib.sha256(b"".join(a + b.to_bytes(8, "big") + n.to_bytes(8, "big") for a, b, n in rows)).digest()


class SimpleSettings(CommunitySettings):
    node: NodeSetup


class SimpleNode(Community):
    """What every node does: know the validators, sign and submit transfers, collect goods."""

    community_id = b"simplechain-course01"
    settings_class = SimpleSettings

    def __init__(self, settings: SimpleSettings) -> None:
        super().__init__(settings)
        self.node = settings.node
        self.env = settings.node.env
        self.durable = settings.node.durable  # kept across a crash
        self.durable.setdefault("nonce", 0)
        self.durable.setdefault("goods", 0)
        self.add_message_handler(Delivery, self.on_delivery)
        for address in settings.node.bootstrap:
            self.walk_to(address)

    def validators(self) -> list[Peer]:
        return sorted((p for p in self.get_peers() if p.mid in self.node.genesis.stakes), key=lambda p: p.mid)

    @property
    def next_nonce(self) -> int:  # the nonce our next transaction will carry (red plugins sign with it too)
        return int(self.durable["nonce"]) + 1

    @next_nonce.setter
    def next_nonce(self, value: int) -> None:
        self.durable["nonce"] = value - 1

    def pay(self, receiver: bytes, amount: int, fee: int, purpose: str = "transfer") -> Tx:
        self.durable["nonce"] += 1
        tx = Tx.create(self.node.key, TX_TRANSFER, receiver, amount, self.durable["nonce"], fee)
        self.env.events.intent(tx, purpose)
        for peer in self.validators()[:2]:
            self.ez_send(peer, SubmitTx(tx))
        return tx

    def buy(self, merchant: tuple[str, int], merchant_account: bytes, price: int, fee: int) -> None:
        tx = self.pay(merchant_account, price, fee, "purchase")
        self.endpoint.send(merchant, self.ezr_pack(Purchase.msg_id, Purchase(tx.nonce, tx)))

    @lazy_wrapper(Delivery)
    def on_delivery(self, peer: Peer, msg: Delivery) -> None:
        self.durable["goods"] += msg.value


class Merchant(SimpleNode):
    """Sells goods for a payment; asks validators about it unless it may deliver at once."""

    def __init__(self, settings: SimpleSettings) -> None:
        super().__init__(settings)
        self.orders: dict[bytes, tuple[PaymentStatus, Peer]] = {}
        self.delivered: list[dict[str, Any]] = self.durable.setdefault("delivered", [])
        self.add_message_handler(Purchase, self.on_purchase)
        self.add_message_handler(TxStatusReply, self.on_status)
        self.register_task("ask", self.ask, interval=self.node.config.query_interval, delay=1.0)

    @lazy_wrapper(Purchase)
    def on_purchase(self, peer: Peer, msg: Purchase) -> None:
        tx = msg.tx
        if tx.receiver != self.node.account or tx.amount < self.node.config.price or tx.tx_id in self.orders \
                or not tx.valid_signature():
            return
        for v in self.validators()[:2]:
            self.ez_send(v, SubmitTx(tx))
        self.orders[tx.tx_id] = (PaymentStatus(msg.order_id, tx.tx_id, tx.amount, tx.sender, "unknown", 0, 0,
                                               self.env.now()), peer)
        self.consider(tx.tx_id)

    def ask(self) -> None:
        for tx_id, (order, _) in self.orders.items():
            if order.status != "delivered":
                for v in self.validators()[:1]:
                    self.ez_send(v, TxStatusQuery(self.env.rng.getrandbits(32), tx_id))

    @lazy_wrapper(TxStatusReply)
    def on_status(self, peer: Peer, msg: TxStatusReply) -> None:
        found = self.orders.get(msg.tx_id)
        if found is not None and found[0].status != "delivered":
            known = msg.status in (PENDING, INCLUDED, FINALIZED)
            found[0].status = TxStatus(msg.status).label if known else "unknown"
            found[0].confirmations, found[0].answers = msg.confirmations, found[0].answers + 1
            self.consider(msg.tx_id)

    def consider(self, tx_id: bytes) -> None:
        order, buyer = self.orders[tx_id]
        ok = self.env.hooks.payment_confirmed(payment=order)
        if ok is None:  # our own rule: 0 confirmations means "the payment looks right"
            need = self.node.config.confirmations
            ok = need == 0 or order.status == "finalized" or (order.status == "included"
                                                               and order.confirmations >= need)
        if ok:
            order.status = "delivered"
            price = self.node.config.price
            self.delivered.append({"order": order.order_id, "tx": tx_id.hex(), "buyer": order.buyer.hex(),
                                   "value": price})
            self.env.events.delivery(order.order_id, tx_id, order.buyer, price, order.amount)
            self.ez_send(buyer, Delivery(order.order_id, price))


class Validator(SimpleNode):
    """Mempool, gossip, blocks on the longest chain, k-deep finality."""

    def __init__(self, settings: SimpleSettings) -> None:
        super().__init__(settings)
        g = self.node.genesis
        self.stakes = g.stakes
        self.blocks: dict[bytes, Block] = {}
        self.states = {GENESIS: Ledger(g.balances)}
        self.height = {GENESIS: 0}
        self.head = self.finalized = GENESIS
        self.mempool: dict[tuple[bytes, int], Tx] = {}  # (sender, nonce) -> the first transaction seen
        self.orphans: dict[bytes, list[Block]] = {}
        self.forks = 0
        self.add_message_handler(SubmitTx, self.on_submit)
        self.add_message_handler(Gossip, self.on_gossip)
        self.add_message_handler(TxStatusQuery, self.on_status_query)
        self.add_message_handler(BlockRequest, self.on_block_request)
        self.add_message_handler(BlockResponse, self.on_block_response)
        for block in self.durable.setdefault("blocks", []):  # after a restart: replay what we had stored
            self.add_block(block, None, replay=True)
        self.register_task("slot", self.on_slot, interval=self.node.config.slot, delay=0.1)

    # -- transactions --
    @lazy_wrapper(SubmitTx)
    def on_submit(self, peer: Peer, msg: SubmitTx) -> None:
        self.add_tx(msg.tx, peer)

    def add_tx(self, tx: Tx, source: Peer | None) -> None:
        if (tx.sender, tx.nonce) in self.mempool:
            if self.mempool[(tx.sender, tx.nonce)].tx_id != tx.tx_id:
                self.env.events.tx_rejected(tx.tx_id, "conflict")  # first seen wins
            return
        reason = None if tx.valid_signature() else "bad_signature"
        if reason is None and tx.nonce <= self.states[self.head].nonces.get(tx.sender, 0):
            reason = "stale_nonce"
        vetoes = self.env.hooks.validate_transfer(tx=tx) if reason is None else []
        if reason or vetoes:
            self.env.events.tx_rejected(tx.tx_id, reason or f"veto:{vetoes[0]}")
            return
        self.mempool[(tx.sender, tx.nonce)] = tx
        self.env.events.tx_accepted(tx)
        self.gossip(GossipItem(ITEM_TX, tx.to_bytes()), source)

    def gossip(self, item: GossipItem, source: Peer | None) -> None:
        for peer in self.validators():
            if source is None or peer.mid != source.mid:
                self.ez_send(peer, Gossip([item]))

    @lazy_wrapper(Gossip)
    def on_gossip(self, peer: Peer, msg: Gossip) -> None:
        for item in msg.items:
            if item.kind == ITEM_TX:
                self.add_tx(Tx.from_bytes(item.data), peer)
            elif item.kind == ITEM_BLOCK:
                self.add_block(Block.from_bytes(item.data), peer)

    @lazy_wrapper(TxStatusQuery)
    def on_status_query(self, peer: Peer, msg: TxStatusQuery) -> None:
        status, height, confirmations = 0, 0, 0
        for tx in self.mempool.values():
            if tx.tx_id == msg.tx_id:
                status = PENDING
        for block in self.chain(self.head):
            if any(t.tx_id == msg.tx_id for t in block.txs):
                height = block.header.height
                status = FINALIZED if height <= self.height[self.finalized] else INCLUDED
                confirmations = self.height[self.head] - height + 1
        self.ez_send(peer, TxStatusReply(msg.query_id, msg.tx_id, status, height, confirmations))

    # -- blocks --
    def on_slot(self) -> None:
        slot = int(self.env.now() // self.node.config.slot)
        parent = self.head
        if leader(self.stakes, parent, slot) != self.node.account or slot <= self.slot_of(parent):
            return
        state, txs = self.states[parent].copy(), list[Tx]()
        for _, tx in sorted(self.mempool.items()):
            if len(txs) < self.node.config.max_block_txs and state.apply(tx, self.node.account) is None:
                txs.append(tx)
        state.balances[self.node.account] = state.balances.get(self.node.account, 0) + self.node.config.block_reward
        block = Block.create(self.node.key, self.height[parent] + 1, slot, parent, txs, state.root())
        decision = self.env.hooks.propose_block(block=block)
        if decision == "withhold":
            self.env.events.block_withheld(slot)
            return
        if isinstance(decision, Block):
            block = decision
        self.env.events.block_proposed(block)
        for tx in block.txs:
            self.env.events.tx_included(tx, block)
        self.add_block(block, None)

    def slot_of(self, block_hash: bytes) -> int:
        return self.blocks[block_hash].header.slot if block_hash in self.blocks else -1

    def add_block(self, block: Block, source: Peer | None, replay: bool = False) -> None:
        h, bh = block.header, block.block_hash
        if bh in self.blocks:
            return
        if h.parent not in self.states:  # we are behind: keep it, ask for its parent
            self.orphans.setdefault(h.parent, []).append(block)
            if source is not None:
                self.ez_send(source, BlockRequest(0, h.parent))
            return
        reason = self.check_block(block)
        if reason:
            self.env.events.block_rejected(bh, reason)
            return
        state = self.states[h.parent].copy()
        for tx in block.txs:
            state.apply(tx, h.proposer)
        state.balances[h.proposer] = state.balances.get(h.proposer, 0) + self.node.config.block_reward
        self.forks += any(b.header.parent == h.parent for b in self.blocks.values())
        self.blocks[bh], self.states[bh], self.height[bh] = block, state, h.height
        if not replay:
            self.durable["blocks"].append(block)
            self.gossip(GossipItem(ITEM_BLOCK, block.to_bytes()), source)
        if h.height > self.height[self.head] and self.finalized in {b.block_hash for b in self.chain(bh)} | {GENESIS}:
            self.head = bh
            self.finalize(replay)
        for child in self.orphans.pop(bh, []):
            self.add_block(child, source, replay)

    def check_block(self, block: Block) -> str | None:
        h = block.header
        vetoes = self.env.hooks.validate_block(block=block)
        if vetoes:
            return f"veto:{vetoes[0]}"
        if not h.valid_signature() or h.tx_root != Block.tx_root_of(block.txs):
            return "bad_signature"
        if h.height != self.height[h.parent] + 1 or not self.slot_of(h.parent) < h.slot:
            return "bad_height"
        if leader(self.stakes, h.parent, h.slot) != h.proposer:
            return "not_leader"
        state = self.states[h.parent].copy()
        if any(not t.valid_signature() or state.apply(t, h.proposer) for t in block.txs):
            return "bad_tx"
        state.balances[h.proposer] = state.balances.get(h.proposer, 0) + self.node.config.block_reward
        return None if state.root() == h.state_root else "bad_state_root"

    def chain(self, tip: bytes) -> list[Block]:
        """Blocks from height 1 up to ``tip``."""
        out = []
        while tip != GENESIS:
            out.append(self.blocks[tip])
            tip = self.blocks[tip].header.parent
        return out[::-1]

    def finalize(self, replay: bool) -> None:
        chain = self.chain(self.head)
        done = self.height[self.finalized]
        for block in chain[done:max(done, len(chain) - self.node.config.depth)]:
            self.finalized = block.block_hash
            if not replay:
                self.env.events.block_finalized(block.header.height, block.block_hash)
                for tx in block.txs:
                    self.env.events.tx_finalized(tx, block)
        nonces = self.states[self.head].nonces
        self.mempool = {k: tx for k, tx in self.mempool.items() if tx.nonce > nonces.get(tx.sender, 0)}

    @lazy_wrapper(BlockRequest)
    def on_block_request(self, peer: Peer, msg: BlockRequest) -> None:
        if msg.block_hash in self.blocks:
            self.ez_send(peer, BlockResponse(msg.request_id, self.blocks[msg.block_hash]))

    @lazy_wrapper(BlockResponse)
    def on_block_response(self, peer: Peer, msg: BlockResponse) -> None:
        self.add_block(msg.block, peer)


class SimpleChain(Protocol):
    name = "simplechain"
    description = "a simple student blockchain: longest chain, k-deep finality, zero-confirmation merchants"
    leader_schedule = "stake"  # honest.pos.leader, the rule the referee re-runs

    def create_node(self, node: NodeSetup) -> Community:
        cls = {"validator": Validator, "merchant": Merchant}.get(node.role, SimpleNode)
        return cls(SimpleSettings(my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(),
                                  max_peers=len(node.genesis.names), node=node))

    def node_state(self, community: Community, node: NodeSetup) -> dict[str, Any]:
        goods = {"received_goods": node.durable["goods"], "delivered": node.durable.get("delivered", [])}
        if not isinstance(community, Validator):
            return goods
        c, fin = community, community.finalized
        ledger = c.states[fin]
        accounts = set(ledger.balances) | set(c.stakes)
        supply = sum(ledger.balances.values()) + sum(c.stakes.values())
        return {"ledger": ledger_record([(a, ledger.balances.get(a, 0), ledger.nonces.get(a, 0),
                                          c.stakes.get(a, 0)) for a in accounts]),
                "supply": supply, "minted": node.config.block_reward * c.height[fin], "burned": 0,
                "genesis_supply": node.genesis.supply, "head": c.head.hex(), "head_height": c.height[c.head],
                "finalized": fin.hex(), "finalized_height": c.height[fin], "forks_seen": c.forks,
                "chain": [block_record(b) for b in c.chain(fin)]}
