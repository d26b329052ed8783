"""Watchtower: validators keep light nodes' latest channel states and dispute a stale close while they are away.

* Client (a light node with channels): whenever it holds a newer state signed by both (it countersigned an update or
  got its proposal back countersigned), or its next nonce moved, it pre-signs the dispute that state justifies
  (``TX_CHANNEL_DISPUTE``, ``wallet.presign``: void once the node signs anything else) and hands it to a validator
  in an ordinary ``SubmitTx``: no new message.
* Tower (a validator): keeps the newest pre-signed dispute per channel (dropping that ``SubmitTx`` before its honest
  code refuses it), watches every block for a force close of a watched channel that publishes an older state, sent
  by the other party, and publishes the dispute until it is on chain. The whole channel goes to the client.
"""

from __future__ import annotations

from typing import Any

from arena import NodeContext, Params, Plugin, Wallet, hookimpl
from honest.schema import TX_CHANNEL_DISPUTE, TX_CHANNEL_FORCE_CLOSE, ChannelState, SubmitTx, Tx, account_of


class WatchtowerParams(Params):
    fee: int = 0  # of the dispute (the scenario's channels.tx_fee)


def _channel_of(tx: Tx) -> tuple[bytes, int]:
    """(channel id, published seq) of a channel transaction (a bare id is the opening state, seq 0)."""
    if tx.kind == TX_CHANNEL_FORCE_CLOSE and len(tx.data) == 32:
        return tx.data, 0
    st = ChannelState.from_bytes(tx.data)
    return st.channel_id, st.seq


class Watchtower(Plugin):
    """Light nodes deposit pre-signed disputes with validators, which publish them against a stale close."""

    name = "watchtower"
    team = "blue"
    Params = WatchtowerParams

    def __init__(self, node: NodeContext, params: WatchtowerParams) -> None:
        super().__init__(node, params)
        self.params: WatchtowerParams = params
        self.wallet: Wallet | None = None
        self.latest: dict[bytes, tuple[ChannelState, bytes]] = {}  # client: channel -> (newest state, peer account)
        self.handed: dict[bytes, tuple[int, int]] = {}  # client: channel -> (seq, nonce) deposited
        self.justice: dict[bytes, Tx] = {}  # tower: channel -> newest pre-signed dispute
        self.due: dict[bytes, Tx] = {}  # tower: disputes to publish until they are on chain
        self.closing: set[bytes] = set()

    @hookimpl
    def arena_wallet_ready(self, node: NodeContext, wallet: Wallet) -> None:
        self.wallet = wallet

    def _hold(self, state: ChannelState, peer_key: bytes | None) -> None:
        old = self.latest.get(state.channel_id)
        if peer_key is not None and state.sig_a and state.sig_b and (old is None or state.seq > old[0].seq):
            self.latest[state.channel_id] = (state, account_of(peer_key))

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        if node.role != "validator" and message.kind == "ChannelUpdateAck":
            self._hold(message.payload.state, message.dst_key)

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        p = message.payload
        if node.role != "validator":
            if message.kind == "ChannelUpdateAck":
                self._hold(p.state, message.sender)
        elif isinstance(p, SubmitTx) and p.tx.kind == TX_CHANNEL_DISPUTE:
            cid, seq = _channel_of(p.tx)
            if cid in self.closing:
                return  # a dispute in earnest: let the node take it
            old = self.justice.get(cid)
            if old is None or (seq, p.tx.nonce) >= (_channel_of(old)[1], old.nonce):
                self.justice[cid] = p.tx
            message.drop = True

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        wallet = self.wallet
        if wallet is None:
            return
        for cid, (state, peer) in self.latest.items():
            tx = wallet.presign(TX_CHANNEL_DISPUTE, peer, 0, self.params.fee, state.to_bytes())
            if self.handed.get(cid) != (state.seq, tx.nonce):
                self.handed[cid] = (state.seq, tx.nonce)
                wallet.submit(tx)
        for tx in self.due.values():
            wallet.submit(tx)

    @hookimpl
    def arena_validate_block(self, node: NodeContext, block: Any) -> str | None:
        for tx in block.txs:
            if tx.kind == TX_CHANNEL_DISPUTE:
                self.due.pop(_channel_of(tx)[0], None)
            elif tx.kind == TX_CHANNEL_FORCE_CLOSE and self.wallet is not None:
                cid, seq = _channel_of(tx)
                self.closing.add(cid)
                justice = self.justice.pop(cid, None)
                if justice is not None and justice.sender != tx.sender and _channel_of(justice)[1] > seq:
                    self.due[cid] = justice
                    self.wallet.submit(justice, purpose="watchtower")
                    self.node.log("dispute", channel=cid.hex(), published_seq=seq, held_seq=_channel_of(justice)[1])
        return None
