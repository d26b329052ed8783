"""The honest reference node: one py-ipv8 Community for validators, light nodes and merchants.

Validators check signed transactions, gossip them to other validators and (in ``pos`` mode) order them into
stake-weighted proof-of-stake blocks finalised by votes; in ``none`` mode (course day 1) they apply them to the
ledger on arrival. Light nodes submit transactions, follow headers and ask several validators for their balance.
Merchants deliver goods once a payment is confirmed under their policy. Every send and receive passes the message
hooks, and every protocol decision that attacks or defenses care about passes its own hook.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.keys import PrivateKey

from .chain import BlockTree
from .channels import ChannelManager, ChannelStore, SettlementWatch, message_handlers
from .config import NodeConfig
from .env import NodeEnv
from .gossip import GossipLayer
from .ledger import LedgerStore
from .mempool import Mempool
from .messages import Address, OutMessage, PaymentStatus, PeerInfo
from .peering import PeerTable
from .pos import slot_at
from .schema import (
    ITEM_BLOCK,
    ITEM_TX,
    ITEM_VOTE,
    MESSAGES,
    TX_TRANSFER,
    Announce,
    AskForPeers,
    BalanceQuery,
    BalanceReply,
    Block,
    BlockHeader,
    BlockRequest,
    BlockResponse,
    ChainStatus,
    Delivery,
    Frozen,
    Gossip,
    HeaderAnnounce,
    Peers,
    Ping,
    Pong,
    Purchase,
    SubmitTx,
    Tx,
    TxAck,
    TxStatusQuery,
    TxStatusReply,
    Vote,
    account_of,
)
from .state import LedgerState
from .wire import checked

COMMUNITY_ID = hashlib.sha1(b"ipv8-arena honest protocol v1").digest()
STATUS = {0: "unknown", 1: "pending", 2: "included", 3: "finalized", 4: "rejected"}
VALIDATOR, LIGHT, MERCHANT = 0, 1, 2
ORDER_TIMEOUT = 60.0  # a merchant stops asking about a payment after this long
REQUEST_TIMEOUT = 3.0  # a block request not answered by then may be sent again
RESUBMIT_AFTER = 5.0  # a light node hands an unconfirmed transaction of its own to a validator again after this


class HonestSettings(CommunitySettings):
    env: NodeEnv
    config: NodeConfig
    genesis_balances: dict[bytes, int]
    genesis_stakes: dict[bytes, int]
    store: LedgerStore
    bootstrap: list[Address]
    address: Address
    channel_store: ChannelStore | None = None  # payment channels kept across a restart


@dataclass
class BalanceQueryState:
    account: bytes
    asked: int
    answers: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    done: bool = False
    purpose: str = "query"  # query (asked for), resubmit or resync (our own nonce bookkeeping)


class HonestNode(Community):
    community_id = COMMUNITY_ID
    settings_class = HonestSettings

    def __init__(self, settings: HonestSettings) -> None:
        super().__init__(settings)
        self.env = settings.env
        self.config = cfg = settings.config
        self.key: PrivateKey = settings.my_peer.key  # type: ignore[assignment]
        self.public_key = bytes(self.my_peer.public_key.key_to_bin())
        self.account = account_of(self.public_key)
        self.address: Address = settings.address
        self.bootstrap_addresses = list(settings.bootstrap)
        self.store = settings.store
        self.drops: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # messages sent, by type (for reports)
        self.peers = PeerTable(self, cfg.peer_limit, cfg.peer_timeout)
        self.gossip = GossipLayer(self, cfg.message_timeout, cfg.fanout, cfg.batch_interval,
                                  lambda: self.peers.by_role(VALIDATOR))
        self.role = self.env.role
        self.genesis = LedgerState.genesis(settings.genesis_balances, settings.genesis_stakes)
        self.validator_accounts = frozenset(a for a, s in settings.genesis_stakes.items() if s > 0)
        # validator state
        self.ledger = self.genesis.copy()  # consensus "none": the ledger itself
        self.held: dict[bytes, dict[int, Tx]] = {}  # consensus "none": future-nonce transactions per sender
        self.applied: set[bytes] = set()  # consensus "none": ids of applied transactions
        self.ledger_dirty = False
        self.tree = BlockTree(self.genesis, reward=cfg.block_reward, max_block_txs=cfg.max_block_txs,
                              finality=cfg.finality, depth=cfg.depth, dispute_window=cfg.dispute_window)
        self.mempool = Mempool(cfg.mempool_size, cfg.mempool_per_sender)
        self.rejected: OrderedDict[bytes, str] = OrderedDict()
        self.bad_signatures = 0
        self.head = self.tree.genesis_hash
        self.voted_heights: set[int] = set()
        self.pending_votes: list[Vote] = []
        self.orphans: OrderedDict[bytes, Block] = OrderedDict()
        self.requested: dict[bytes, float] = {}  # block hash -> when we asked (a lost answer may be asked again)
        self.last_finalized = self.tree.genesis_hash
        self.arrival = 0
        self.blocks_proposed = 0
        # light / merchant state
        self.next_nonce = 1
        self.unconfirmed: dict[int, tuple[Tx, float]] = {}  # our own transactions by nonce, until the ledger uses it
        self.headers: dict[bytes, BlockHeader] = {}
        self.best_header_height = 0
        self.queries: dict[int, BalanceQueryState] = {}
        self.query_seq = 0
        self.known_balance: int | None = None
        self.orders: dict[tuple[bytes, int], PaymentStatus] = {}
        self.buyers: dict[bytes, tuple[Address, bytes, int]] = {}  # tx id -> (buyer address, key, order id)
        self.status_queries: dict[int, bytes] = {}
        self.delivered: list[dict[str, Any]] = []
        self.received_goods = 0
        self._restore()
        for cls, handler in (
            (Announce, self.on_announce), (AskForPeers, self.on_ask_for_peers), (Peers, self.on_peers),
            (Ping, self.on_ping), (Pong, self.on_pong), (Gossip, self.on_gossip), (SubmitTx, self.on_submit_tx),
            (TxAck, self.on_tx_ack), (BalanceQuery, self.on_balance_query), (BalanceReply, self.on_balance_reply),
            (TxStatusQuery, self.on_tx_status_query), (TxStatusReply, self.on_tx_status_reply),
            (BlockRequest, self.on_block_request), (BlockResponse, self.on_block_response),
            (HeaderAnnounce, self.on_header), (ChainStatus, self.on_chain_status), (Purchase, self.on_purchase),
            (Delivery, self.on_delivery),
        ):
            self.add_message_handler(cls, handler)
        self.channels = ChannelManager(self, getattr(settings, "channel_store", None))
        self.settlements = SettlementWatch(self.env, self.tree)  # validators: channel_settled events
        for cls, bound in message_handlers(self):
            self.add_message_handler(cls, bound)

    # ================================================ plumbing ====================================================
    def on_packet(self, packet: tuple[Address, bytes], warn_unknown: bool = True) -> None:
        """Guard py-ipv8's dispatcher: truncated packets and unknown ids are counted, never raised or logged."""
        data = packet[1]
        if data[:22] != self._prefix:
            return
        if len(data) < 23:
            self.count_drop("truncated", "?")
            return
        handler = self.decode_map[data[22]]
        if handler is None:
            self.count_drop("unknown_message", str(data[22]))
            return
        if data[22] in MESSAGES:
            # Our own handlers are called directly: decoding problems are counted by ``checked``, and a bug in
            # the handler's logic must surface (py-ipv8's dispatcher would only log it).
            probable_peer = self.network.get_verified_by_address(packet[0])
            if probable_peer:
                probable_peer.last_response = self.env.now()
            handler(packet[0], data)
            return
        # py-ipv8's own messages (introductions, punctures) keep the node discoverable by stock peers, but their
        # handlers raise on bad input: count that as a drop instead of logging a traceback.
        probable_peer = self.network.get_verified_by_address(packet[0])
        if probable_peer:
            probable_peer.last_response = self.env.now()
        try:
            handler(packet[0], data)
        except Exception:
            self.count_drop("malformed", f"ipv8:{data[22]}")

    def count_drop(self, reason: str, kind: str = "") -> None:
        self.drops[reason] += 1
        self.env.record("msg_drop", node=self.env.index, reason=reason, kind=kind)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.register_anonymous_task("later", fn, delay=delay)

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None:
        """Send one message (through the outgoing-message hook)."""
        if self.env.has_hook("arena_outgoing_message"):
            msg = OutMessage(type(payload).__name__, payload, address, key)
            self.env.call("arena_outgoing_message", message=msg)
            if msg.drop:
                self.count_drop("plugin_out", msg.kind)
                return
            packet = self.ezr_pack(msg.payload.msg_id, msg.payload)
            self.sent[type(msg.payload).__name__] += max(0, msg.copies)
            self._transmit(msg.dst, packet, msg.delay, msg.copies)
            return
        self.sent[type(payload).__name__] += 1
        self.endpoint.send(address, self.ezr_pack(payload.msg_id, payload))

    def broadcast(self, peers: list[PeerInfo], payload: Frozen) -> None:
        """Send one message to many peers, signed once (unless a hook changes it for one of them)."""
        if self.env.has_hook("arena_outgoing_message"):
            for p in peers:
                self.send_to(p.address, p.public_key, payload)
            return
        packet = self.ezr_pack(payload.msg_id, payload)
        self.sent[type(payload).__name__] += len(peers)
        for p in peers:
            self.endpoint.send(p.address, packet)

    def _transmit(self, address: Address, packet: bytes, delay: float, copies: int) -> None:
        def go() -> None:
            for _ in range(max(0, copies)):
                self.endpoint.send(address, packet)

        if delay > 0:
            self.call_later(delay, go)
        else:
            go()

    # ================================================ lifecycle ===================================================
    def start(self) -> None:
        cfg = self.config
        self.register_task("peering", self.peers.maintain, interval=cfg.ping_interval, delay=cfg.ping_interval)
        self.register_task("peer_exchange", self.peers.exchange, interval=cfg.ask_interval, delay=1.0)
        self.register_task("gossip_expiry", self.gossip.expire, interval=max(1.0, cfg.message_timeout / 2))
        if self.role == "validator":
            if cfg.consensus == "none":
                self.register_task("save_ledger", self.save_ledger, interval=1.0, delay=1.0)
            if cfg.consensus == "pos":
                now = self.env.now()
                first = (int(now // cfg.slot) + 1) * cfg.slot - now
                self.register_task("slots", self.on_slot, interval=cfg.slot, delay=first)
                self.register_task("chain_status", self.send_chain_status, interval=cfg.status_interval,
                                   delay=cfg.status_interval)
        if self.role == "merchant":
            self.register_task("payments", self.check_payments, interval=cfg.query_interval, delay=cfg.query_interval)
        if cfg.channels:
            self.register_task("channels", self.channels.tick, interval=cfg.channel_tick, delay=cfg.channel_tick)
        if self.env.has_hook("arena_genesis"):
            self.env.call("arena_genesis", stakes=self.genesis.stakes(),
                          balances={a: x.balance for a, x in self.genesis.accounts.items()})
        for addr in self.bootstrap_addresses:
            if addr != self.address:
                self.peers.announce_to(addr)
        if self.role != "validator":
            self.register_task("resubmit", self.resubmit_unconfirmed, interval=RESUBMIT_AFTER, delay=RESUBMIT_AFTER)
        if self.role != "validator" and self.env.now() > 0:
            # restarted: learn our nonce (and balance) from the validators before paying again
            self.register_task("resync_nonce", self.query_balance, None, "resync", delay=2.0)

    def _restore(self) -> None:
        """After a restart: replay the blocks kept in durable storage, so no finalised block is lost."""
        blocks = self.store.load_blocks()
        for b in blocks:
            self.tree.add(b, 1 << 60)
        fin = self.store.load_finalized()
        if fin is not None:
            self.tree.restore_finalized(fin[0])
        if blocks:
            self.head = self.tree.head()
            self.last_finalized = self.tree.finalized
        snap = self.store.load_state()
        if snap and self.config.consensus == "none":
            self.ledger = LedgerState.from_snapshot(snap)
            self.ledger.genesis_supply = self.genesis.genesis_supply
            self.ledger.burned = self.genesis.genesis_supply - self.ledger.supply()  # fees burned before the crash

    def save_ledger(self) -> None:
        """Day-1 mode: keep the ledger table in durable storage (once a second when it changed)."""
        if self.ledger_dirty:
            self.store.save_state(self.ledger.snapshot())
            self.ledger_dirty = False

    # ================================================ peering =====================================================
    @checked(Announce)
    def on_announce(self, key: bytes, src: Address, msg: Announce) -> None:
        self.peers.on_announce(key, src, msg)

    @checked(AskForPeers)
    def on_ask_for_peers(self, key: bytes, src: Address, msg: AskForPeers) -> None:
        self.peers.on_ask(key, src, msg)

    @checked(Peers)
    def on_peers(self, key: bytes, src: Address, msg: Peers) -> None:
        self.peers.on_peers(key, src, msg)

    @checked(Ping)
    def on_ping(self, key: bytes, src: Address, msg: Ping) -> None:
        self.peers.on_ping(key, src, msg)

    @checked(Pong)
    def on_pong(self, key: bytes, src: Address, msg: Pong) -> None:
        self.peers.on_pong(key, src, msg)

    # ================================================ gossip ======================================================
    @checked(Gossip)
    def on_gossip(self, key: bytes, src: Address, msg: Gossip) -> None:
        if self.role != "validator" or (key not in self.peers.peers and account_of(key) not in self.validator_accounts):
            self.count_drop("not_a_peer", "Gossip")
            return
        for item in msg.items[:4096]:
            if not self.gossip.receive(item):
                continue
            try:
                if item.kind == ITEM_TX:
                    ok = self.accept_tx(decode_item(Tx, item.data), key)
                elif item.kind == ITEM_BLOCK:
                    ok = self.on_block(decode_item(Block, item.data), key, src)
                elif item.kind == ITEM_VOTE:
                    ok = self.on_vote(decode_item(Vote, item.data))
                else:
                    self.count_drop("unknown_item", "Gossip")
                    continue
            except (ValueError, KeyError, IndexError, OverflowError) as exc:
                self.count_drop("malformed_item", type(exc).__name__)
                continue
            except Exception as exc:  # the serializer's own PackError and friends
                if type(exc).__name__ in ("PackError", "error"):
                    self.count_drop("malformed_item", type(exc).__name__)
                    continue
                raise
            if ok:
                self.gossip.forward(item)

    # ================================================ transactions ================================================
    def verify_tx(self, tx: Tx) -> bool:
        return tx.valid_signature()

    def accept_tx(self, tx: Tx, from_key: bytes | None) -> bool:
        """Validate a transaction; keep it (ledger or mempool). True if it is new and valid (gossip it on)."""
        tx_id = tx.tx_id
        if tx_id in self.rejected:
            return False
        if not self.verify_tx(tx):
            # Not cached by id: the id does not cover the signature, and a forged copy must not block the real one.
            self.bad_signatures += 1
            self.env.record("tx_rejected", node=self.env.index, tx=tx_id.hex(), reason="bad_signature")
            return False
        if self.env.has_hook("arena_validate_transfer"):
            vetoes = self.env.call("arena_validate_transfer", tx=tx)
            if vetoes:
                return self._reject(tx_id, f"veto:{vetoes[0]}")
        if self.config.consensus == "none":
            return self._apply_direct(tx)
        state = self.tree.state(self.head)
        assert state is not None
        reason = state.check_tx(tx)
        if reason is not None and reason != "future_nonce":
            return self._reject(tx_id, reason)
        if self.tree.tx_status(tx_id) != "unknown":
            return False
        self.arrival += 1
        reason = self.mempool.add(tx, self.arrival)
        if reason == "duplicate":
            return False
        if reason is not None:
            return self._reject(tx_id, reason)
        return True

    def _apply_direct(self, tx: Tx) -> bool:
        reason = self.ledger.apply_tx(tx, None)
        if reason == "future_nonce":
            held = self.held.setdefault(tx.sender, {})
            if len(held) < self.config.mempool_per_sender:
                held[tx.nonce] = tx
                return True
            return self._reject(tx.tx_id, "sender_cap")
        if reason is not None:
            return self._reject(tx.tx_id, reason)
        self.applied.add(tx.tx_id)
        self.ledger_dirty = True
        held = self.held.get(tx.sender, {})
        while held and self.ledger.nonce(tx.sender) + 1 in held:
            nxt = held.pop(self.ledger.nonce(tx.sender) + 1)
            if self.ledger.apply_tx(nxt, None) is None:
                self.applied.add(nxt.tx_id)
        return True

    def _reject(self, tx_id: bytes, reason: str) -> bool:
        self.rejected[tx_id] = reason
        if len(self.rejected) > 50_000:
            self.rejected.popitem(last=False)
        self.env.record("tx_rejected", node=self.env.index, tx=tx_id.hex(), reason=reason)
        return False

    @checked(SubmitTx)
    def on_submit_tx(self, key: bytes, src: Address, msg: SubmitTx) -> None:
        if self.role != "validator":
            self.count_drop("not_a_validator", "SubmitTx")
            return
        tx = msg.tx
        # A resubmission is checked again (the first copy may have been lost with an abandoned block); only a
        # transaction we still hold or have on chain counts as already accepted.
        held = tx.tx_id in self.mempool or tx.tx_id in self.applied or (
            self.config.consensus == "pos" and self.tree.confirmations(tx.tx_id, self.head) is not None)
        ok = True if held else self.accept_tx(tx, key)
        if not ok:  # an acceptance needs no answer: the light node learns the outcome from status queries
            self.send_to(src, key, TxAck(tx.tx_id, False, self.rejected.get(tx.tx_id, "duplicate")))
        if ok and not held:
            self.gossip.broadcast(ITEM_TX, tx.to_bytes())

    @checked(TxAck)
    def on_tx_ack(self, key: bytes, src: Address, msg: TxAck) -> None:
        if not msg.accepted:
            self.env.record("tx_refused", node=self.env.index, tx=msg.tx_id.hex(), reason=msg.reason[:64])

    # ================================================ queries =====================================================
    @checked(BalanceQuery)
    def on_balance_query(self, key: bytes, src: Address, msg: BalanceQuery) -> None:
        if self.role != "validator":
            return
        state = self.ledger if self.config.consensus == "none" else self.tree.state(self.head)
        assert state is not None
        height = 0 if self.config.consensus == "none" else self._height(self.head)
        self.send_to(src, key, BalanceReply(msg.query_id, msg.account, state.balance(msg.account),
                                            state.nonce(msg.account), height))

    @checked(TxStatusQuery)
    def on_tx_status_query(self, key: bytes, src: Address, msg: TxStatusQuery) -> None:
        if self.role != "validator":
            return
        status, height, conf = self.tx_status(msg.tx_id)
        self.send_to(src, key, TxStatusReply(msg.query_id, msg.tx_id, status, height, conf))

    def tx_status(self, tx_id: bytes) -> tuple[int, int, int]:
        """(status code, height, confirmations) of a transaction as this validator sees it."""
        # What the ledger holds wins over a later rejection (a replay of an applied transfer is rejected, but the
        # transfer itself stays applied).
        if self.config.consensus == "none":
            if self.ledger_has(tx_id):
                return 3, 0, 1
            return (4, 0, 0) if tx_id in self.rejected else (0, 0, 0)
        found = self.tree.confirmations(tx_id, self.head)
        if found is not None:
            height, conf = found
            return (3 if height <= self.tree.finalized_height else 2), height, conf
        if tx_id in self.mempool:
            return 1, 0, 0
        return (4, 0, 0) if tx_id in self.rejected else (0, 0, 0)

    def ledger_has(self, tx_id: bytes) -> bool:
        return tx_id in self.applied

    # ================================================ consensus ===================================================
    def _height(self, h: bytes) -> int:
        return self.tree.height_of(h) or 0

    def now_slot(self) -> int:
        return slot_at(self.env.now() + 1e-9, self.config.slot)

    def on_slot(self) -> None:
        slot = self.now_slot()
        head = self.head
        state = self.tree.state(head)
        if state is None:
            return
        if self.tree.leader(head, slot) != self.account:
            return
        txs = self.mempool.select(state, self.config.max_block_txs)
        block = self.tree.build(self.key, head, slot, txs)
        if self.env.has_hook("arena_propose_block"):
            decision = self.env.first("arena_propose_block", block=block)
            if decision == "withhold":
                self.env.record("withheld", node=self.env.index, slot=slot)
                return
            if isinstance(decision, Block):  # re-signed and rebuilt: those of its txs that apply, a true state root
                h = decision.header
                parent = h.parent if self.tree.state(h.parent) is not None else head
                block = self.tree.build(self.key, parent, h.slot, list(decision.txs))
        self.blocks_proposed += 1
        self.env.record("propose", node=self.env.index, hash=block.block_hash.hex(), height=block.header.height,
                        slot=slot, txs=len(block.txs), parent=block.header.parent.hex())
        self.on_block(block, None, None)
        item_data = block.to_bytes()
        self.gossip.broadcast(ITEM_BLOCK, item_data)

    def on_block(self, block: Block, from_key: bytes | None, src: Address | None) -> bool:
        """A block arrived (gossip, response, or our own). True if it was accepted (forward it)."""
        h = block.block_hash
        if self.tree.has(h):
            return False
        if self.env.has_hook("arena_validate_block"):
            vetoes = self.env.call("arena_validate_block", block=block)
            if vetoes:
                self.env.record("block_rejected", node=self.env.index, hash=h.hex(), reason=f"veto:{vetoes[0]}")
                return False
        reason = self.tree.add(block, self.now_slot())
        if reason == "unknown_parent":
            if len(self.orphans) >= self.config.max_orphans:
                self.orphans.popitem(last=False)
            self.orphans[h] = block
            parent = block.header.parent
            if src is not None and from_key is not None and self._may_request(parent):
                self.send_to(src, from_key, BlockRequest(0, parent))
            return False
        if reason is not None:
            self.env.record("block_rejected", node=self.env.index, hash=h.hex(), reason=reason)
            return False
        self.store.save_block(block)
        self.requested.pop(h, None)
        self._after_block(block)
        for oh, orphan in list(self.orphans.items()):
            if orphan.header.parent == h and oh in self.orphans:
                del self.orphans[oh]
                self.on_block(orphan, from_key, src)
        return True

    def _after_block(self, block: Block) -> None:
        self.mempool.remove_included(block.txs)
        self._choose_head()
        still: list[Vote] = []
        for v in self.pending_votes:
            if v.block_hash == block.block_hash:
                self.on_vote(v)
            else:
                still.append(v)
        self.pending_votes = still
        light = self.peers.by_role(LIGHT) + self.peers.by_role(MERCHANT)
        if light and block.block_hash == self.head:
            self.broadcast(light, HeaderAnnounce(block.header))
        if self.channels.channels:
            self.channels.on_chain_block(block)
        self.settlements.on_finality()

    def _choose_head(self) -> None:
        new_head = self.tree.head()
        if self.env.has_hook("arena_fork_choice"):
            choice = self.env.first("arena_fork_choice", heads=self.tree.heads())
            if choice is not None:
                self.tree.set_preferred_head(bytes(choice))
                new_head = self.tree.head()
        if new_head != self.head:
            old_head, self.head = self.head, new_head
            if not self.tree.is_ancestor(old_head, new_head):
                self._return_orphaned_txs(old_head, new_head)
            state = self.tree.state(new_head)
            if state is not None:
                self.mempool.prune(state)
            self._vote_for_head()

    def _return_orphaned_txs(self, old_head: bytes, new_head: bytes) -> None:
        """A reorg: transactions of the abandoned branch that the new chain lacks go back to the mempool."""
        for h in self.tree.ancestors(old_head):
            if self.tree.is_ancestor(h, new_head):
                break
            block = self.tree.block(h)
            for tx in block.txs if block is not None else ():
                if self.tree.confirmations(tx.tx_id, new_head) is None:
                    self.arrival += 1
                    self.mempool.add(tx, self.arrival)

    def _vote_for_head(self) -> None:
        state = self.tree.state(self.tree.finalized)
        if state is None or state.stake(self.account) <= 0:
            return
        height = self._height(self.head)
        if height in self.voted_heights or height == 0:
            return
        vote = Vote.create(self.key, height, self.head)
        if self.env.has_hook("arena_cast_vote"):
            decision = self.env.first("arena_cast_vote", vote=vote)
            if decision == "withhold":
                return
            if isinstance(decision, Vote):
                vote = Vote.create(self.key, decision.height, decision.block_hash)
        self.voted_heights.add(height)
        self.on_vote(vote)
        self.gossip.broadcast(ITEM_VOTE, vote.to_bytes())

    def on_vote(self, vote: Vote) -> bool:
        reason = self.tree.add_vote(vote)
        if reason == "unknown_block":
            if len(self.pending_votes) < 4096:
                self.pending_votes.append(vote)
            return True
        if reason == "equivocation":
            self.env.record("equivocation", node=self.env.index, voter=vote.voter.hex(), height=vote.height)
            return True
        if reason is not None:
            return False
        if self.tree.finalized != self.last_finalized:
            self.last_finalized = self.tree.finalized
            self.store.save_finalized(self.tree.finalized, self.tree.finalized_height)
            self.env.record("finalized", node=self.env.index, height=self.tree.finalized_height,
                            hash=self.tree.finalized.hex())
            self.settlements.on_finality()
            self._choose_head()
        return True

    def send_chain_status(self) -> None:
        peers = self.peers.by_role(VALIDATOR)
        if peers:
            self.broadcast(peers, ChainStatus(self.head, self._height(self.head), self.tree.finalized_height))

    @checked(ChainStatus)
    def on_chain_status(self, key: bytes, src: Address, msg: ChainStatus) -> None:
        if self.role != "validator":
            return
        if msg.height <= self._height(self.head) or self.tree.has(msg.head):
            return
        if msg.head not in self.orphans:
            if self._may_request(msg.head):
                self.send_to(src, key, BlockRequest(0, msg.head))
            return
        # We hold the peer's head as an orphan: a request for the gap below it was lost. Ask for the missing parent.
        for orphan in reversed(self.orphans.values()):
            parent = orphan.header.parent
            if not self.tree.has(parent) and parent not in self.orphans:
                if self._may_request(parent):
                    self.send_to(src, key, BlockRequest(0, parent))
                return

    def _may_request(self, block_hash: bytes) -> bool:
        """Bounded block requests (a liar cannot make us ask forever), retried after a timeout (UDP loses)."""
        now = self.env.now()
        if len(self.requested) >= 64:
            for h, t in list(self.requested.items()):
                if now - t > REQUEST_TIMEOUT:
                    del self.requested[h]
        asked = self.requested.get(block_hash)
        if len(self.requested) >= 64 or (asked is not None and now - asked <= REQUEST_TIMEOUT):
            return False
        self.requested[block_hash] = now
        return True

    @checked(BlockRequest)
    def on_block_request(self, key: bytes, src: Address, msg: BlockRequest) -> None:
        block = self.tree.block(msg.block_hash)
        if block is not None:
            self.send_to(src, key, BlockResponse(msg.request_id, block))

    @checked(BlockResponse)
    def on_block_response(self, key: bytes, src: Address, msg: BlockResponse) -> None:
        if self.role != "validator":
            self.channels.on_block_response(key, src, msg)  # a channel party following the chain
            return
        h = msg.block.block_hash
        if h not in self.requested:
            self.count_drop("unrequested", "BlockResponse")
            return
        self.requested.pop(h, None)
        if self.on_block(msg.block, key, src):
            self.gossip.mark(_item_id(ITEM_BLOCK, msg.block))

    # ================================================ light nodes =================================================
    def validators(self) -> list[PeerInfo]:
        return self.peers.by_role(VALIDATOR)

    def pick_validators(self, purpose: str, count: int) -> list[PeerInfo]:
        vals = self.validators()
        if self.env.has_hook("arena_select_peers"):
            chosen = self.env.first("arena_select_peers", purpose=purpose, peers=vals)
            if chosen is not None:
                return list(chosen)[:count]
        return self.env.rng.sample(vals, min(count, len(vals)))

    def make_tx(self, receiver: bytes, amount: int, fee: int, kind: int = TX_TRANSFER, data: bytes = b"") -> Tx:
        tx = Tx.create(self.key, kind, receiver, amount, self.next_nonce, fee, data)
        self.next_nonce += 1
        return tx

    def submit(self, tx: Tx) -> bool:
        """Hand a transaction to one validator (kept until the ledger shows its nonce used). False if no validator
        is known yet."""
        if tx.sender == self.account:
            self.unconfirmed[tx.nonce] = (tx, self.env.now())
        targets = self.pick_validators("submit", 1)
        if not targets:
            return False
        self.send_to(targets[0].address, targets[0].public_key, SubmitTx(tx))
        return True

    def resubmit_unconfirmed(self) -> None:
        """UDP loses packets: a transaction of ours whose nonce the agreed ledger has not used after a while is
        handed to a validator again (validators ignore duplicates). We learn the used nonce by a balance query."""
        if not self.unconfirmed:
            return
        now = self.env.now()
        for nonce, (tx, sent) in sorted(self.unconfirmed.items()):
            if now - sent >= RESUBMIT_AFTER:
                self.unconfirmed[nonce] = (tx, now)
                targets = self.pick_validators("submit", 1)
                if targets:
                    self.send_to(targets[0].address, targets[0].public_key, SubmitTx(tx))
        self.query_balance(purpose="resubmit")

    def pay(self, receiver: bytes, amount: int, fee: int, purpose: str = "transfer") -> Tx | None:
        """The workload's entry point: an honest intent, recorded before it is sent."""
        if not self.validators():
            return None
        tx = self.make_tx(receiver, amount, fee)
        self.env.record("intent", node=self.env.index, tx=tx.tx_id.hex(), sender=self.account.hex(),
                        receiver=receiver.hex(), amount=amount, fee=fee, nonce=tx.nonce, purpose=purpose)
        self.submit(tx)
        return tx

    def buy(self, merchant: Address, merchant_account: bytes, price: int, fee: int) -> None:
        tx = self.pay(merchant_account, price, fee, purpose="purchase")
        if tx is not None:
            self.query_seq += 1
            self.send_to(merchant, None, Purchase(self.query_seq, tx))

    def query_balance(self, account: bytes | None = None, purpose: str = "query") -> int:
        """Ask several validators for a balance; an answer counts once a majority of those asked agree."""
        acct = account or self.account
        vals = self.pick_validators("query", self.config.query_validators)
        self.query_seq += 1
        qid = self.query_seq
        self.queries[qid] = BalanceQueryState(acct, len(vals), purpose=purpose)
        for v in vals:
            self.send_to(v.address, v.public_key, BalanceQuery(qid, acct))
        return qid

    @checked(BalanceReply)
    def on_balance_reply(self, key: bytes, src: Address, msg: BalanceReply) -> None:
        q = self.queries.get(msg.query_id)
        if q is None or q.done or msg.account != q.account or key not in self.peers.peers:
            return
        q.answers[key] = (msg.balance, msg.nonce)
        tally = Counter(q.answers.values())
        (value, votes), = tally.most_common(1)
        if votes > self.config.majority * q.asked:
            q.done = True
            if q.account == self.account:
                if q.purpose == "query":
                    self.known_balance = value[0]
                # after a restart the nonce counter starts at 1: the agreed ledger says where we really are
                self.next_nonce = max(self.next_nonce, value[1] + 1)
                for used in [n for n in self.unconfirmed if n <= value[1]]:
                    del self.unconfirmed[used]
            self.env.record("balance", node=self.env.index, account=q.account.hex(), balance=value[0],
                            nonce=value[1], answers=len(q.answers), asked=q.asked, purpose=q.purpose)

    @checked(HeaderAnnounce)
    def on_header(self, key: bytes, src: Address, msg: HeaderAnnounce) -> None:
        header = msg.header
        if not header.valid_signature():
            self.count_drop("bad_header", "HeaderAnnounce")
            return
        self.headers[header.block_hash] = header
        if len(self.headers) > 4096:
            self.headers.pop(next(iter(self.headers)))
        self.best_header_height = max(self.best_header_height, header.height)
        self.channels.on_header(header, src, key)

    # ================================================ merchants ===================================================
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
            self.query_seq += 1
            self.status_queries[self.query_seq] = order.tx_id
            self.send_to(v.address, v.public_key, TxStatusQuery(self.query_seq, order.tx_id))

    @checked(TxStatusReply)
    def on_tx_status_reply(self, key: bytes, src: Address, msg: TxStatusReply) -> None:
        tx_id = self.status_queries.pop(msg.query_id, None)
        if tx_id is None or tx_id != msg.tx_id or key not in self.peers.peers:
            return
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
            decision = self.env.first("arena_payment_confirmed", payment=order)
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
        self.env.record("delivery", node=self.env.index, order=order.order_id, tx=order.tx_id.hex(),
                        buyer=order.buyer.hex(), value=self.config.price, amount=order.amount)
        if buyer is not None:
            self.send_to(buyer[0], buyer[1], Delivery(buyer[2], self.config.price))

    @checked(Delivery)
    def on_delivery(self, key: bytes, src: Address, msg: Delivery) -> None:
        self.received_goods += msg.value


_DECODED: OrderedDict[tuple[type, bytes], Any] = OrderedDict()


def decode_item(cls: type[Any], data: bytes) -> Any:
    """Decode a gossiped object, once per process for identical bytes: objects are immutable, and in the
    simulator every recipient of a broadcast would otherwise parse the same bytes again."""
    key = (cls, bytes(data))
    obj = _DECODED.get(key)
    if obj is None:
        obj = cls.from_bytes(data)
        _DECODED[key] = obj
        if len(_DECODED) > 20_000:
            _DECODED.popitem(last=False)
    return obj


def _item_id(kind: int, obj: Frozen) -> bytes:
    return hashlib.sha256(bytes([kind]) + obj.to_bytes()).digest()
