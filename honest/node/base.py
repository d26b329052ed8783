"""The state every part of the honest node shares, declared once for the type checker.

:class:`~honest.node.community.HonestNode` is one py-ipv8 ``Community`` assembled from parts (mixins) that share
``self``: transport, transaction intake, validator queries, block production, finality, chain sync, the light client
and purchases. Its ``__init__`` sets the attributes declared here; the methods one part calls on another are
declared here too, so that each part can be read (and checked) on its own.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

from ipv8.community import Community
from ipv8.keyvault.keys import PrivateKey

from ..chain import BlockTree
from ..channels import ChannelManager, SettlementWatch
from ..config import NodeConfig
from ..env import NodeEnv
from ..gossip import GossipLayer
from ..ledger import LedgerStore
from ..mempool import Mempool
from ..messages import Address, PaymentStatus, PeerInfo
from ..peering import PeerTable
from ..schema import Block, BlockHeader, Frozen, Tx, Vote
from ..state import LedgerState

if TYPE_CHECKING:
    from .light import BalanceQueryState


class NodeBase(Community):
    """Attributes and cross-part methods of the honest node (see the module docstring)."""

    # identity and wiring
    env: NodeEnv
    config: NodeConfig
    key: PrivateKey
    public_key: bytes
    account: bytes
    address: Address
    bootstrap_addresses: list[Address]
    store: LedgerStore
    drops: Counter[str]
    sent: Counter[str]
    peers: PeerTable
    gossip: GossipLayer
    role: str
    genesis: LedgerState
    validator_accounts: frozenset[bytes]
    # validator state
    ledger: LedgerState
    held: dict[bytes, dict[int, Tx]]
    applied: set[bytes]
    ledger_dirty: bool
    tree: BlockTree
    mempool: Mempool
    rejected: OrderedDict[bytes, str]
    bad_signatures: int
    head: bytes
    voted_heights: set[int]
    pending_votes: list[Vote]
    orphans: OrderedDict[bytes, Block]
    requested: dict[bytes, float]
    last_finalized: bytes
    arrival: int
    blocks_proposed: int
    # light / merchant state
    next_nonce: int
    unconfirmed: dict[int, tuple[Tx, float]]
    headers: dict[bytes, BlockHeader]
    best_header_height: int
    queries: dict[int, BalanceQueryState]
    query_seq: int
    known_balance: int | None
    orders: dict[tuple[bytes, int], PaymentStatus]
    buyers: dict[bytes, tuple[Address, bytes, int]]
    status_queries: dict[int, tuple[bytes, bytes]]  # query id -> (validator key asked, tx id)
    placed: dict[int, tuple[bytes, bytes, int]]  # a buyer's open orders: order id -> (merchant account, tx id, price)
    delivered: list[dict[str, Any]]
    received_goods: int
    # payment channels
    channels: ChannelManager
    settlements: SettlementWatch

    def _height(self, h: bytes) -> int:
        return self.tree.height_of(h) or 0

    if TYPE_CHECKING:  # provided by the parts
        # transport
        def count_drop(self, reason: str, kind: str = "") -> None: ...

        def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None: ...

        def broadcast(self, peers: list[PeerInfo], payload: Frozen) -> None: ...

        # transaction intake
        def verify_tx(self, tx: Tx) -> bool: ...

        def accept_tx(self, tx: Tx, from_key: bytes | None) -> bool: ...

        # blocks, finality, sync
        def now_slot(self) -> int: ...

        def on_block(self, block: Block, from_key: bytes | None, src: Address | None) -> bool: ...

        def on_vote(self, vote: Vote) -> bool: ...

        def _choose_head(self) -> None: ...

        def _may_request(self, block_hash: bytes) -> bool: ...

        # light client
        def validators(self) -> list[PeerInfo]: ...

        def pick_validators(self, purpose: str, count: int) -> list[PeerInfo]: ...

        def pay(self, receiver: bytes, amount: int, fee: int, purpose: str = "transfer") -> Tx | None: ...
