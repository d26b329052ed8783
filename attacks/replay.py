"""Replay: capture signed transfers and whole packets, rebroadcast them once gossip has forgotten them.

A red validator sees every transfer (SubmitTx from light nodes, Gossip from validators). Gossip suppresses
duplicates only for ``gossip.message_timeout`` seconds, so after that a replayed transfer is new to every
validator again: only the ledger's nonces stand between it and a second debit. The honest node has them, so this
attack is the negative control: it fires and steals nothing (verdict ``blue_won``).
"""

from __future__ import annotations

from typing import Any

from arena import NodeContext, Packet, Params, Plugin, hookimpl
from honest.schema import ITEM_TX, Gossip, GossipItem, SubmitTx, Tx

SUBMIT_TX, GOSSIP = 20, 10  # message ids of the packets worth replaying


class ReplayParams(Params):
    after: float = 40.0  # replay what was seen this long ago (beyond gossip.message_timeout)
    start: float = 5.0
    per_tick: int = 20  # transfers (and packets) replayed per second at most


class Replay(Plugin):
    """Rebroadcast old signed transfers and captured packets after the gossip seen-set expired."""

    name = "replay"
    team = "red"
    Params = ReplayParams
    scenario = "attack_replay.yaml"

    def __init__(self, node: NodeContext, params: ReplayParams) -> None:
        super().__init__(node, params)
        self.params: ReplayParams = params
        self.txs: list[tuple[float, Tx]] = []
        self.packets: list[tuple[float, bytes]] = []
        self.seen: set[bytes] = set()
        self.replayed_txs = self.replayed_packets = 0

    @hookimpl
    def arena_incoming_packet(self, node: NodeContext, packet: Packet) -> None:
        if len(packet.data) > 23 and packet.data[22] in (SUBMIT_TX, GOSSIP) and node.now() >= self.params.start:
            self.packets.append((node.now(), packet.data))

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        p = message.payload
        found = [p.tx] if isinstance(p, SubmitTx) else \
            [Tx.from_bytes(i.data) for i in p.items if i.kind == ITEM_TX] if isinstance(p, Gossip) else []
        for tx in found:
            if tx.tx_id not in self.seen:
                self.seen.add(tx.tx_id)
                self.txs.append((node.now(), tx))

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or not adv.validators():
            return
        cutoff, n = now - self.params.after, self.params.per_tick
        old_txs = [tx for t, tx in self.txs[:n] if t <= cutoff]
        old_packets = [data for t, data in self.packets[:n] if t <= cutoff]
        if not old_txs and not old_packets:
            return
        self.txs, self.packets = self.txs[len(old_txs):], self.packets[len(old_packets):]
        if old_txs:
            items = Gossip([GossipItem(ITEM_TX, tx.to_bytes()) for tx in old_txs])
            for v in adv.validators():
                adv.send(v.address, items)
        for i, data in enumerate(old_packets):
            adv.send_raw(adv.validators()[i % len(adv.validators())].address, data)
        if self.replayed_txs + self.replayed_packets == 0:
            self.node.evidence("replay", f"replaying transfers and packets first seen before t={cutoff:.1f}",
                               txs=len(old_txs), packets=len(old_packets))
        self.replayed_txs += len(old_txs)
        self.replayed_packets += len(old_packets)

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        self.node.evidence("replay", f"replayed {self.replayed_txs} transfers and {self.replayed_packets} packets",
                           txs=self.replayed_txs, packets=self.replayed_packets)
