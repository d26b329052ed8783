"""The channel manager's shared state and the helpers every part of the protocol uses.

:class:`ChannelCore` holds what one node knows of its channels (records, invoices, payments, the channel graph, its
unconfirmed channel transactions) and the few operations all parts need: send to a channel's peer, sign, keep a
new state, change a channel's status (with its trace event), look up usable channels, publish a channel transaction.
The protocol itself is split into mixins over this class (see :mod:`honest.channels.manager`); methods one part calls
on another are declared here for the type checker.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from ipv8.keyvault.keys import PrivateKey

from ..config import NodeConfig
from ..env import NodeEnv
from ..htlc import Htlc, Invoice, Payment, PaymentStats
from ..messages import Address, PeerInfo
from ..routing import ChannelGraph, FeeSchedule
from ..schema import Block, ChannelState, Frozen, Tx
from .block_fetch import BlockFetcher
from .model import CLOSED_, DONE, OPEN, Channel, ChannelView
from .signing import countersign, sign_state
from .store import ChannelStore, restored

MAX_HTLCS = 256  # per channel and direction
TX_TRIES = 10  # submissions of one channel transaction before giving up on it


class ChannelHost(Protocol):
    """What the manager needs from its node (``HonestNode`` provides it; benchmarks provide a stand-in)."""

    env: NodeEnv
    config: NodeConfig
    key: PrivateKey
    public_key: bytes
    account: bytes
    role: str

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None: ...

    def make_tx(self, receiver: bytes, amount: int, fee: int, kind: int = 0, data: bytes = b"") -> Tx: ...

    def submit(self, tx: Tx) -> bool: ...

    def validators(self) -> list[PeerInfo]: ...

    def count_drop(self, reason: str, kind: str = "") -> None: ...


class ChannelCore:
    """State and shared helpers of one node's channel protocol."""

    def __init__(self, host: ChannelHost, store: ChannelStore | None = None) -> None:
        self.host = host
        self.env = host.env
        cfg = host.config
        self.cfg = cfg
        self.fees = FeeSchedule(cfg.channel_fee_base, cfg.channel_fee_ppm)
        self.channels: dict[bytes, Channel] = {}
        self.by_peer: dict[bytes, list[bytes]] = {}
        self.graph = ChannelGraph()
        self.invoices: dict[bytes, Invoice] = {}
        self.payments: dict[bytes, Payment] = {}
        self.stats = PaymentStats()
        self.txs: dict[bytes, list[Any]] = {}  # my unconfirmed channel transactions: id -> [tx, last sent, tries]
        self.processed: set[bytes] = set()  # blocks whose channel transactions were handled
        self.blocks = BlockFetcher(host, self.processed, self.on_chain_block)  # light nodes: blocks to watch
        self.height = 0  # highest block processed
        self.store = store
        self.counts: Counter[str] = Counter()  # channel events seen by this node (opened, closed_*)
        if store is not None:
            for ch in store.channels.values():
                self._restore(ch)

    if TYPE_CHECKING:  # provided by the other parts of the manager
        def on_chain_block(self, block: Block) -> None: ...

        def _pump(self, ch: Channel) -> None: ...

        def _failed_out(self, h: Htlc, reason: str) -> None: ...

        def _close_if_idle(self, ch: Channel) -> None: ...

        def force_close(self, channel_id: bytes) -> bool: ...

        def _drop_htlcs(self, ch: Channel) -> None: ...

    # ================================================ helpers =====================================================
    def _now_ms(self) -> int:
        return int(self.env.now() * 1000)

    def _add(self, ch: Channel) -> None:
        self.channels[ch.channel_id] = ch
        self.by_peer.setdefault(ch.peer, []).append(ch.channel_id)
        self._save(ch)

    def _save(self, ch: Channel) -> None:
        if self.store is not None:
            self.store.save(ch)

    def _restore(self, old: Channel) -> None:
        """Take up a stored channel after a restart (its durable parts only, see :func:`store.restored`)."""
        ch = restored(old)
        self.channels[ch.channel_id] = ch
        self.by_peer.setdefault(ch.peer, []).append(ch.channel_id)

    def _send(self, ch: Channel, payload: Frozen) -> None:
        self.host.send_to(ch.peer_address, ch.peer_key, payload)

    def _sign(self, ch: Channel, seq: int, balance_a: int, balance_b: int) -> ChannelState:
        """A state signed by this node only."""
        return sign_state(self.host.key, ch, seq, balance_a, balance_b)

    def _countersign(self, ch: Channel, st: ChannelState) -> ChannelState:
        return countersign(self.host.key, ch, st)

    def _append(self, ch: Channel, st: ChannelState) -> None:
        """A new state signed by both: keep it and say so in the trace (the referee's ``channel_signed``)."""
        ch.states.append(st)
        self._save(ch)
        names = ch.names
        self.env.events.channel_update(names[0], st.seq, names[1], names[2], st.balance_a, st.balance_b)

    def _set_status(self, ch: Channel, status: str) -> None:
        if ch.status == status:
            return
        ch.status = status
        ch.since = self.env.now()
        self._save(ch)
        if status == OPEN:
            self.counts["opened"] += 1
            self.env.events.channel_open(ch.channel_id, ch.a, ch.b, ch.deposit)
        elif status == CLOSED_:
            self.counts[f"closed_{ch.close_kind or 'unknown'}"] += 1
            st = ch.latest
            self.env.events.channel_close(ch.channel_id, ch.close_kind, st.seq, st.balance_a, st.balance_b)

    def view(self, ch: Channel) -> ChannelView:
        st = ch.latest
        return ChannelView(ch.channel_id, ch.a, ch.b, ch.key_a, ch.key_b, ch.deposit, "a" if ch.mine_a else "b",
                           ch.status, st.seq, st.balance_a, st.balance_b)

    def open_channels(self, peer: bytes | None = None) -> list[Channel]:
        ids = self.by_peer.get(peer, []) if peer is not None else list(self.channels)
        return [self.channels[c] for c in ids if self.channels[c].status == OPEN]

    def _best_channel(self, peer: bytes, amount: int) -> Channel | None:
        """My open channel to ``peer`` with the most available, if it can carry ``amount``."""
        best = None
        for cid in self.by_peer.get(peer, ()):
            ch = self.channels[cid]
            if ch.status == OPEN and len(ch.htlc_out) < MAX_HTLCS and ch.available >= amount \
                    and (best is None or ch.available > best.available):
                best = ch
        return best

    def local_available(self, peer: bytes) -> int:
        return max((self.channels[c].available for c in self.by_peer.get(peer, ())
                    if self.channels[c].status == OPEN), default=0)

    @property
    def watching(self) -> bool:
        """Whether this node has channels whose fate is still decided on chain."""
        return any(ch.status not in DONE for ch in self.channels.values())

    def _publish(self, kind: int, receiver: bytes, amount: int, data: bytes, purpose: str) -> Tx:
        """Sign an on-chain channel transaction, record it as an honest intent, submit it (resent until seen)."""
        host = self.host
        fee = self.cfg.channel_tx_fee
        tx = host.make_tx(receiver, amount, fee, kind=kind, data=data)
        self.env.events.intent(tx, purpose)
        host.submit(tx)
        self.txs[tx.tx_id] = [tx, self.env.now(), 1]
        return tx

    def _resubmit_txs(self, now: float) -> None:
        """Timer of my channel transactions not yet seen in a block: submit again, up to ``TX_TRIES`` times."""
        for tx_id, entry in list(self.txs.items()):
            if now - entry[1] >= self.cfg.channel_resubmit:
                if entry[2] >= TX_TRIES:
                    del self.txs[tx_id]  # never made it into a block we saw: stop pestering validators
                    continue
                entry[1] = now
                entry[2] += 1
                self.host.submit(entry[0])

    # ================================================ reports =====================================================
    def summary(self) -> dict[str, Any]:
        """For the node's final state: its channels (latest signed states) and its payments."""
        chans = []
        for cid in sorted(self.channels):
            ch = self.channels[cid]
            st = ch.latest
            chans.append({"id": cid.hex(), "a": ch.a.hex(), "b": ch.b.hex(), "side": "a" if ch.mine_a else "b",
                          "status": ch.status, "deposit": ch.deposit, "seq": st.seq, "balance_a": st.balance_a,
                          "balance_b": st.balance_b, "close_kind": ch.close_kind})
        return {"channels": chans, "payments": self.stats.as_dict(),
                "channel_status": dict(sorted(Counter(ch.status for ch in self.channels.values()).items()))}
