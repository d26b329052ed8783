"""The small interface an honest node is given by whoever runs it (the simulator or a live process).

The node never learns which backend it runs on: it asks ``env`` for the time, for randomness, to record events,
and to call plugin hooks through ``env.hooks``. :class:`NodeHooks` is the typed face of the arena's hook caller as
honest code sees it (the hooks honest code calls; ``honest`` does not depend on ``arena``, and a test keeps the
two in step). The caller applies the red switch, contains plugin faults and checks every answer, so honest code
gets back only answers of the declared types.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from honest.contract import Recorder

if TYPE_CHECKING:
    from honest.chain import Head
    from honest.channels import ChannelCloseSeen, ChannelView
    from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo
    from honest.schema import Block, ChannelState, Tx, Vote


class NodeHooks(Protocol):
    """The hooks honest code calls (each is ``arena_<name>`` in ``arena/plugin_api/hookspecs.py``)."""

    def has(self, name: str) -> bool: ...

    def genesis(self, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None: ...

    def outgoing_message(self, message: OutMessage) -> None: ...

    def incoming_message(self, message: InMessage) -> None: ...

    def validate_transfer(self, tx: Tx) -> list[str]: ...

    def validate_block(self, block: Block) -> list[str]: ...

    def propose_block(self, block: Block) -> Block | Literal["withhold"] | None: ...

    def cast_vote(self, vote: Vote) -> Vote | Literal["withhold"] | None: ...

    def fork_choice(self, heads: list[Head]) -> bytes | None: ...

    def payment_confirmed(self, payment: PaymentStatus) -> bool | None: ...

    def admit_peer(self, peer: PeerInfo, peers: list[PeerInfo]) -> list[str]: ...

    def choose_eviction(self, peers: list[PeerInfo], newcomer: PeerInfo) -> PeerInfo | None: ...

    def select_peers(self, purpose: str, peers: list[PeerInfo]) -> list[PeerInfo] | None: ...

    def channel_sign_update(self, state: ChannelState) -> list[str]: ...

    def channel_close(self, channel: ChannelView, states: list[ChannelState]) -> ChannelState | None: ...

    def channel_close_seen(self, channel: ChannelView, close: ChannelCloseSeen) -> None: ...


class NoHooks:
    """For a node run without any plugin: nothing is implemented, every answer is the default."""

    def has(self, name: str) -> bool:
        return False

    def genesis(self, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
        return None

    def outgoing_message(self, message: OutMessage) -> None:
        return None

    def incoming_message(self, message: InMessage) -> None:
        return None

    def validate_transfer(self, tx: Tx) -> list[str]:
        return []

    def validate_block(self, block: Block) -> list[str]:
        return []

    def propose_block(self, block: Block) -> Block | Literal["withhold"] | None:
        return None

    def cast_vote(self, vote: Vote) -> Vote | Literal["withhold"] | None:
        return None

    def fork_choice(self, heads: list[Head]) -> bytes | None:
        return None

    def payment_confirmed(self, payment: PaymentStatus) -> bool | None:
        return None

    def admit_peer(self, peer: PeerInfo, peers: list[PeerInfo]) -> list[str]:
        return []

    def choose_eviction(self, peers: list[PeerInfo], newcomer: PeerInfo) -> PeerInfo | None:
        return None

    def select_peers(self, purpose: str, peers: list[PeerInfo]) -> list[PeerInfo] | None:
        return None

    def channel_sign_update(self, state: ChannelState) -> list[str]:
        return []

    def channel_close(self, channel: ChannelView, states: list[ChannelState]) -> ChannelState | None:
        return None

    def channel_close_seen(self, channel: ChannelView, close: ChannelCloseSeen) -> None:
        return None


@dataclass
class NodeEnv:
    """The one object a node is handed by whoever runs it: the time, its random stream, the referee contract's
    event helpers (``events``), and the plugin hooks (``hooks``: every decision and veto hook of the arena)."""

    index: int
    role: str  # validator | light | merchant
    team: str = "blue"
    clock: Callable[[], float] = lambda: 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    record: Callable[..., None] = lambda ev, **f: None
    hooks: NodeHooks = field(default_factory=NoHooks)
    #: the referee contract's one-line helpers (:class:`honest.contract.Recorder`), writing through ``record``
    events: Recorder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.events = Recorder(self.record, self.index)

    def now(self) -> float:
        return self.clock()

    def has_hook(self, name: str) -> bool:
        """A cheap test for hot paths: some enabled plugin implements ``name`` and may act now."""
        return self.hooks.has(name)
