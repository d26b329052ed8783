"""Hook specifications: every point where an attack or defense plugin can act.

Grouped by phase of a node's life. Each hook's first argument is the :class:`~arena.NodeContext` of the node
the plugin instance runs in. Hooks that return a decision use ``firstresult`` (the first non-None answer wins);
veto hooks collect every answer (any reason rejects). ``docs/plugins.md`` documents each one (a test checks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from arena.plugin_api.base import hookspec

if TYPE_CHECKING:
    from arena.plugin_api.adversary import Adversary, Identity, Wallet
    from arena.plugin_api.base import NodeContext
    from arena.plugin_api.packet import Packet
    from honest.chain import Head
    from honest.channels import ChannelCloseSeen, ChannelView
    from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo
    from honest.schema import Block, ChannelState, Tx, Vote


# -- lifecycle --------------------------------------------------------------------------------------------------
@hookspec
def arena_node_start(node: NodeContext) -> None:
    """The node has started (its Community is running). Set up per-node state here."""


@hookspec
def arena_node_stop(node: NodeContext) -> None:
    """The battle is ending (or the node crashed). Final bookkeeping; do not send anything."""


@hookspec
def arena_tick(node: NodeContext, now: float) -> None:
    """Called once per scenario tick (``tick`` seconds, default 1) on every node that has plugins."""


@hookspec
def arena_adversary_ready(node: NodeContext, adversary: Adversary) -> None:
    """Red plugins only: the adversary capability of this red node (Sybil keys, raw sends, own keys)."""


@hookspec
def arena_wallet_ready(node: NodeContext, wallet: Wallet) -> None:
    """Any plugin: a wallet that signs transactions from this node's own account (each recorded as its intent)."""


@hookspec
def arena_genesis(node: NodeContext, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
    """The node (re)started with this genesis, public to all: validator stakes and balances by account."""


@hookspec
def arena_identity_message(node: NodeContext, identity: Identity, message: InMessage) -> None:
    """Red plugins only: a message reached one of this node's Sybil endpoints. Pings and
    announces are answered for you; answer anything else with ``adversary.send(..., identity=identity)``."""


# -- transport --------------------------------------------------------------------------------------------------
@hookspec
def arena_outgoing_packet(node: NodeContext, packet: Packet) -> None:
    """A raw packet is leaving the node. Change ``packet.data``, set ``packet.drop``, add ``packet.delay``
    (seconds) or raise ``packet.copies`` to duplicate it."""


@hookspec
def arena_incoming_packet(node: NodeContext, packet: Packet) -> None:
    """A raw packet arrived, before py-ipv8 decodes it. Set ``packet.drop`` or change ``packet.data``."""


# -- protocol messages ------------------------------------------------------------------------------------------
@hookspec
def arena_outgoing_message(node: NodeContext, message: OutMessage) -> None:
    """A schema message is about to be sent (an :class:`~arena.messages.OutMessage`): inspect ``message.payload``,
    replace it, set ``message.drop``, ``message.delay`` or ``message.copies``."""


@hookspec
def arena_incoming_message(node: NodeContext, message: InMessage) -> None:
    """A schema message was decoded and authenticated (an :class:`~arena.messages.InMessage`); set
    ``message.drop`` to ignore it. ``message.sender`` is the sender's public key."""


# -- ledger and consensus ---------------------------------------------------------------------------------------
@hookspec
def arena_validate_transfer(node: NodeContext, tx: Tx) -> str | None:
    """Extra validation of a transaction the node is about to accept; return a reason to reject it."""


@hookspec
def arena_validate_block(node: NodeContext, block: Block) -> str | None:
    """Extra validation of a block the node is about to accept; return a reason to reject it."""


@hookspec(firstresult=True)
def arena_propose_block(node: NodeContext, block: Block) -> Block | Literal["withhold"] | None:
    """The node is leader and built ``block``. Return a replacement block (re-signed by the node for you),
    ``"withhold"`` to publish nothing, or None to publish it as built."""


@hookspec(firstresult=True)
def arena_cast_vote(node: NodeContext, vote: Vote) -> Vote | Literal["withhold"] | None:
    """The node is about to vote for a block. Return another vote, ``"withhold"``, or None."""


@hookspec(firstresult=True)
def arena_fork_choice(node: NodeContext, heads: list[Head]) -> bytes | None:
    """Choose the head among candidate tips (each a ``Head`` with hash, height, weight); None keeps the rule."""


@hookspec(firstresult=True)
def arena_payment_confirmed(node: NodeContext, payment: PaymentStatus) -> bool | None:
    """A merchant asks whether ``payment`` (a ``PaymentStatus``) is confirmed enough to deliver goods.
    Return True/False to decide, None to leave it to the node's default policy."""


# -- peering ----------------------------------------------------------------------------------------------------
@hookspec
def arena_admit_peer(node: NodeContext, peer: PeerInfo, peers: list[PeerInfo]) -> str | None:
    """A new peer (``PeerInfo``) wants into the peer table (now ``peers``); return a reason to refuse it."""


@hookspec(firstresult=True)
def arena_choose_eviction(node: NodeContext, peers: list[PeerInfo], newcomer: PeerInfo) -> PeerInfo | None:
    """The peer table is full and ``newcomer`` was admitted: return the peer to evict (None: random)."""


@hookspec(firstresult=True)
def arena_select_peers(node: NodeContext, purpose: str, peers: list[PeerInfo]) -> list[PeerInfo] | None:
    """Choose which peers to send to for ``purpose`` ("gossip", "query", ...); None keeps the default choice."""


# -- payment channels -------------------------------------------------------------------------------------------
@hookspec
def arena_channel_sign_update(node: NodeContext, state: ChannelState) -> str | None:
    """About to countersign a channel state update; return a reason to refuse."""


@hookspec(firstresult=True)
def arena_channel_close(node: NodeContext, channel: ChannelView, states: list[ChannelState]) -> ChannelState | None:
    """The node closes ``channel`` unilaterally; ``states`` are all signed states it holds (oldest first).
    Return the state to publish; None publishes the latest (honest)."""


@hookspec
def arena_channel_close_seen(node: NodeContext, channel: ChannelView, close: ChannelCloseSeen) -> None:
    """A close of a channel this node (or a client it watches for) is party to appeared on chain."""
