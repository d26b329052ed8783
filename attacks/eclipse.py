"""Eclipse: occupy every peer slot of one merchant, then double-spend against it behind a private view.

Sybil identities with their own endpoints announce themselves to the victim again and again: each newcomer evicts a
random peer, and the victim refills its table only from peer exchange, which the Sybils answer with each other.
They probe the victim's table (AskForPeers) to measure how long it was entirely red. Once it is, the red node pays
the victim with a transfer no validator ever sees, spends the same nonce elsewhere, and has the Sybils (the only
"validators" the victim knows) report the payment as finalized.
"""

from __future__ import annotations

from typing import Any

from arena import Identity, NodeContext, Params, Plugin, Role, TxStatus, hookimpl
from honest.schema import TX_TRANSFER, AskForPeers, PeerEntry, Peers, Purchase, TxStatusQuery, TxStatusReply


class EclipseParams(Params):
    victim: int = 0  # which merchant (0 = the first)
    identities: int = 16
    start: float = 3.0
    reannounce: float = 2.0
    probe: float = 2.0  # seconds between samples of the victim's peer table
    attempts: int = 4
    interval: float = 10.0
    fee: int = 1


class Eclipse(Plugin):
    """Fill one merchant's peer table with Sybils, then double-spend against it."""

    name = "eclipse"
    team = "red"
    Params = EclipseParams
    scenario = "attack_eclipse.yaml"

    def __init__(self, node: NodeContext, params: EclipseParams) -> None:
        super().__init__(node, params)
        self.params: EclipseParams = params
        self.sybils: list[Identity] = []
        self.red_keys: set[bytes] = set()
        self.samples: list[bool] = []  # per probe: were all the victim's peers red?
        self.fakes: set[bytes] = set()  # payments only the victim ever saw
        self.next_probe = self.next_announce = params.start
        self.next_spend = 0.0
        self.sink: Identity | None = None

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        merchants = adv.merchants() if adv else []
        if adv is None or now < self.params.start or self.params.victim >= len(merchants):
            return
        victim = merchants[self.params.victim]
        if not self.sybils:
            self.sink = adv.create_identity()  # where the conflicting transfer sends the money
            self.sybils = [adv.create_identity() for _ in range(self.params.identities)]
            self.red_keys = {adv.me.public_key, *(s.public_key for s in self.sybils)}
            for s in self.sybils:
                adv.open_endpoint(s, role="validator")
            self.node.evidence("eclipse", f"{len(self.sybils)} identities flood {victim.name}'s peer table",
                               victim=victim.name, identities=len(self.sybils))
        if now >= self.next_announce:
            self.next_announce = now + self.params.reannounce
            for s in self.sybils:
                adv.announce(victim.address, s)
        if now >= self.next_probe:
            self.next_probe = now + self.params.probe
            asker = self.sybils[len(self.samples) % len(self.sybils)]
            adv.send(victim.address, AskForPeers(len(self.samples) + 1), asker)
        eclipsed = bool(self.samples) and self.samples[-1]
        if eclipsed and self.sink is not None and now >= self.next_spend and len(self.fakes) < self.params.attempts:
            self.next_spend = now + self.params.interval
            nonce = adv.next_nonce()
            pay = adv.sign_tx(TX_TRANSFER, victim.account, victim.price, nonce, self.params.fee)
            steal = adv.sign_tx(TX_TRANSFER, self.sink.account, victim.price, nonce, self.params.fee)
            for v in adv.validators():
                adv.submit(steal, v)
            adv.send(victim.address, Purchase(4000 + len(self.fakes), pay))
            self.fakes.add(pay.tx_id)
            self.node.evidence("eclipse", f"double-spent {victim.price} against eclipsed {victim.name}",
                               victim=victim.name, pay_tx=pay.tx_id.hex(), conflict_tx=steal.tx_id.hex(),
                               value=victim.price, nonce=nonce)

    @hookimpl
    def arena_identity_message(self, node: NodeContext, identity: Identity, message: Any) -> None:
        adv, p = node.adversary, message.payload
        if adv is None:
            return
        if isinstance(p, Peers):  # a probe's answer: the victim's table, minus the Sybil that asked
            self.samples.append(bool(p.peers) and all(e.public_key in self.red_keys for e in p.peers))
        elif isinstance(p, AskForPeers):  # poison peer exchange: only Sybils
            entries = [PeerEntry(s.public_key, adv.address_of(s), Role.VALIDATOR) for s in self.sybils if s != identity]
            adv.send(message.src, Peers(p.request_id, entries[:32]), identity)
        elif isinstance(p, TxStatusQuery) and p.tx_id in self.fakes:
            adv.send(message.src, TxStatusReply(p.query_id, p.tx_id, TxStatus.FINALIZED, 1, 1), identity)

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        if self.samples:
            share = sum(self.samples) / len(self.samples)
            self.node.evidence("eclipse", f"all the victim's peers were red in {share:.0%} of "
                               f"{len(self.samples)} probes", share=round(share, 3), probes=len(self.samples))
