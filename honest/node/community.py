"""The honest node itself: one py-ipv8 Community assembled from its parts, wired up and started.

:class:`HonestNode` sets the node's state, registers the message handlers (in a fixed order), creates its channel
manager and settlement watch, restores what durable storage kept after a crash, and starts the periodic tasks of
its role. What it does with messages lives in the parts it inherits (see :mod:`honest.node`); peering messages go
to its :class:`~honest.peering.PeerTable`.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

from ipv8.keyvault.keys import PrivateKey

from ..chain import BlockTree
from ..channels import ChannelManager, SettlementWatch, message_handlers
from ..gossip import GossipLayer
from ..mempool import Mempool
from ..messages import Address, PaymentStatus
from ..peering import PeerTable
from ..schema import (
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
from ..state import LedgerState
from ..wire import checked
from .blocks import BlockProduction
from .finality import Finality
from .intake import TxIntake
from .light import RESUBMIT_AFTER, BalanceQueryState, LightClient
from .purchases import Purchases
from .queries import ValidatorQueries
from .settings import COMMUNITY_ID, VALIDATOR, HonestSettings
from .sync import ChainSync
from .transport import Transport


class HonestNode(Transport, TxIntake, ValidatorQueries, BlockProduction, Finality, ChainSync, LightClient, Purchases):
    """The honest reference node: validator, light node or merchant, by ``env.role``."""

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
        self.status_queries: dict[int, tuple[bytes, bytes]] = {}  # query id -> (validator key asked, tx id)
        self.placed: dict[int, tuple[bytes, bytes, int]] = {}  # order id -> (merchant account, tx id, price)
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
            self.env.hooks.genesis(stakes=self.genesis.stakes(),
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
