"""Byzantine validator: a staked red validator that breaks the consensus rules in one of several ways (``mode``).

* ``equivocate`` (the default): it signs two blocks for its slot (and votes for both). One block pays a merchant,
  the other moves the same coins (same nonce) to a Sybil. The red node keeps the paying block as its own head (so
  it truthfully reports the payment as included) and shows it to ``split`` honest validators; the others get the
  conflicting block and a vote for it. A merchant that delivers once a payment is included ships the goods; when
  the next leader builds on the conflicting block, the payment never happened.
* ``mint``: in its slot it hand-signs (``Block.create`` with its own key) a block that creates money and sends it,
  with its vote, straight to every honest validator. Attempts alternate between a block reward beyond the rule
  (the state root claims ``mint`` extra tokens for the proposer) and a transaction of a kind the ledger does not
  know (``MINT_KIND``) that credits ``mint`` tokens from nowhere.
* ``overspend``: in its slot it hand-signs a block whose extra transaction pays a merchant ``overspend`` tokens,
  far more than the red account holds, sends it to every honest validator and buys the goods with it.
* ``out_of_turn``: whenever another validator's block arrives, the red node signs a competing block (a correct
  state root, from ``build_block``) for the same parent and slot, where the other validator was the leader, and
  sends it to every honest validator (without a vote: that would be an equivocation, the default mode's attack).
* ``withhold_votes``: it never votes (a liveness attack: with more than a third of the stake, nothing finalises).
* ``censor``: selective relay against one victim (``victim``: a node index; by default the first light node). The
  victim's transactions are dropped when they are submitted to the red validator, stripped from the gossip it
  relays and never included in its own blocks.

The modes that need a block (equivocate, mint, overspend) return ``WITHHOLD`` for the slot, so the honest block is
never published next to the attack.
"""

from __future__ import annotations

from typing import Any, Literal

from arena import WITHHOLD, Identity, NodeContext, Params, Plugin, hookimpl
from honest.schema import (
    ITEM_BLOCK,
    ITEM_TX,
    ITEM_VOTE,
    TX_TRANSFER,
    Block,
    Gossip,
    GossipItem,
    Purchase,
    SubmitTx,
    Tx,
    Vote,
    sha256,
)

Mode = Literal["equivocate", "mint", "overspend", "out_of_turn", "withhold_votes", "censor"]

MINT_KIND = 7  # a transaction kind the honest ledger does not define: "credit the receiver"
EVIDENCE_EVERY = 25  # withhold_votes / censor: one evidence event per this many acts (and the first)


class ByzantineValidatorParams(Params):
    mode: Mode = "equivocate"
    start: float = 5.0
    attempts: int = 6  # equivocate, mint, overspend, out_of_turn: blocks signed at most
    split: int = 1  # equivocate: honest validators shown the paying block
    fee: int = 1
    mint: int = 1000  # mint: tokens created per block
    overspend: int = 1_000_000  # overspend: the amount of the transfer (far beyond the red balance)
    victim: int = -1  # censor: the victim's node index (-1: the first light node)


class ByzantineValidator(Plugin):
    """A staked validator that equivocates, mints, overspends, proposes out of turn, withholds votes or censors."""

    name = "byzantine_validator"
    team = "red"
    Params = ByzantineValidatorParams
    scenario = "attack_byzantine_validator.yaml"

    def __init__(self, node: NodeContext, params: ByzantineValidatorParams) -> None:
        super().__init__(node, params)
        self.params: ByzantineValidatorParams = params
        self.done = 0
        self.sink: Identity | None = None
        self.slots_taken: set[tuple[bytes, int]] = set()  # out_of_turn: (parent, slot) already contested
        self.withheld = 0
        self.censored = 0
        self.victim_account: bytes | None = None
        self.victim_name = ""

    # -- helpers -------------------------------------------------------------------------------------------------
    def _active(self, node: NodeContext, mode: str) -> bool:
        return self.params.mode == mode and node.adversary is not None and node.now() >= self.params.start

    def _publish(self, node: NodeContext, block: Block, vote: bool = True) -> None:
        """Send ``block`` (and our vote for it) to every validator (our own node never sees it)."""
        adv = node.adversary
        assert adv is not None
        items = [GossipItem(ITEM_BLOCK, block.to_bytes())]
        if vote:
            ballot = Vote.create(adv.me.key, block.header.height, block.block_hash)
            items.append(GossipItem(ITEM_VOTE, ballot.to_bytes()))
        for v in adv.validators():
            adv.send(v.address, Gossip(items))

    def _victim(self, node: NodeContext) -> bytes | None:
        if self.victim_account is None and node.adversary is not None:
            for c in node.adversary.contacts():
                if (self.params.victim < 0 and c.role == "light") or c.name == f"{c.role}{self.params.victim}":
                    self.victim_account, self.victim_name = c.account, c.name
                    break
        return self.victim_account

    def _is_victims(self, tx: Tx) -> bool:
        return self.victim_account is not None and tx.sender == self.victim_account

    def _censored(self, node: NodeContext, n: int, where: str) -> None:
        before, self.censored = self.censored, self.censored + n
        if before == 0 or before // EVIDENCE_EVERY != self.censored // EVIDENCE_EVERY:
            self.node.evidence("byzantine_censor", f"censoring {self.victim_name}: {self.censored} of its "
                               f"transactions dropped so far (last: {where})", victim=self.victim_name,
                               victim_account=(self.victim_account or b"").hex(), dropped=self.censored, where=where)

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        """A closing tally for the modes that act many times (the evidence trail records only every 25th act)."""
        if self.params.mode == "withhold_votes" and self.withheld:
            self.node.evidence("byzantine_withhold_votes", f"withheld {self.withheld} votes in all",
                               withheld=self.withheld, final=True)
        elif self.params.mode == "censor" and self.censored:
            self.node.evidence("byzantine_censor", f"censored {self.censored} transactions of {self.victim_name}",
                               victim=self.victim_name, victim_account=(self.victim_account or b"").hex(),
                               dropped=self.censored, final=True)

    # -- block proposal ------------------------------------------------------------------------------------------
    @hookimpl
    def arena_propose_block(self, node: NodeContext, block: Any) -> Any | Literal["withhold"] | None:
        adv = node.adversary
        if adv is None or node.now() < self.params.start:
            return None
        mode = self.params.mode
        if mode == "censor":
            return self._censor_block(node, block)
        if self.done >= self.params.attempts:
            return None
        if mode == "equivocate":
            return self._equivocate(node, block)
        if mode == "mint":
            return self._mint(node, block)
        if mode == "overspend":
            return self._overspend(node, block)
        return None

    def _equivocate(self, node: NodeContext, block: Any) -> Any | Literal["withhold"] | None:
        adv = node.adversary
        assert adv is not None
        merchants, others = adv.merchants(), adv.validators()
        if not merchants or len(others) <= self.params.split:
            return None
        self.sink = self.sink or adv.create_identity()
        m = merchants[self.done % len(merchants)]
        h = block.header
        nonce = adv.nonce_at(h.parent) + 1
        pay = adv.sign_tx(TX_TRANSFER, m.account, m.price, nonce, self.params.fee)
        steal = adv.sign_tx(TX_TRANSFER, self.sink.account, m.price, nonce, self.params.fee)
        paying = adv.build_block(h.parent, h.slot, [*block.txs, pay])
        stealing = adv.build_block(h.parent, h.slot, [*block.txs, steal])
        if pay.tx_id not in {t.tx_id for t in paying.txs}:  # we cannot afford it any more: stop
            self.done = self.params.attempts
            return None
        self.done += 1
        shown = sorted(others, key=lambda v: node.rng.random())
        shown, hidden = shown[:self.params.split], shown[self.params.split:]
        adv.adopt_block(paying)  # our own node follows, reports and votes for the paying block
        for v in shown:
            adv.send(v.address, Gossip([GossipItem(ITEM_BLOCK, paying.to_bytes())]))
        vote = Vote.create(adv.me.key, h.height, stealing.block_hash)
        for v in hidden:
            adv.send(v.address, Gossip([GossipItem(ITEM_BLOCK, stealing.to_bytes()),
                                        GossipItem(ITEM_VOTE, vote.to_bytes())]))
        adv.send(m.address, Purchase(3000 + self.done, pay))
        self.node.evidence("byzantine_validator", f"signed two blocks for slot {h.slot}: one pays {m.name} "
                           f"{m.price}, one sends it to {self.sink.name}", slot=h.slot, height=h.height,
                           paying=paying.block_hash.hex(), stealing=stealing.block_hash.hex(), merchant=m.name,
                           pay_tx=pay.tx_id.hex(), value=m.price)
        return WITHHOLD

    def _mint(self, node: NodeContext, block: Any) -> Literal["withhold"] | None:
        adv = node.adversary
        assert adv is not None
        h = block.header
        honest = adv.build_block(h.parent, h.slot, list(block.txs))  # the true state root of the honest content
        amount = self.params.mint
        if self.done % 2 == 0:  # a block reward beyond the rule: the state root credits us `amount` more
            how = "reward"
            txs = list(honest.txs)
            root = sha256(b"arena-mint" + honest.header.state_root + amount.to_bytes(8, "big"))
            tx_id = ""
        else:  # a transaction that credits us from nowhere (a kind the ledger does not define)
            how = "tx"
            mint = adv.sign_tx(MINT_KIND, adv.me.account, amount, adv.nonce_at(h.parent) + 1, 0)
            txs = [*honest.txs, mint]
            root = honest.header.state_root
            tx_id = mint.tx_id.hex()
        bad = Block.create(adv.me.key, h.height, h.slot, h.parent, txs, root)
        self.done += 1
        self._publish(node, bad)
        self.node.evidence("byzantine_mint", f"proposed a block for slot {h.slot} minting {amount} by {how}",
                           slot=h.slot, height=h.height, block=bad.block_hash.hex(), via=how, mint_tx=tx_id,
                           value=amount)
        return WITHHOLD

    def _overspend(self, node: NodeContext, block: Any) -> Literal["withhold"] | None:
        adv = node.adversary
        assert adv is not None
        merchants = adv.merchants()
        if not merchants:
            return None
        m = merchants[self.done % len(merchants)]
        h = block.header
        honest = adv.build_block(h.parent, h.slot, list(block.txs))
        pay = adv.sign_tx(TX_TRANSFER, m.account, self.params.overspend, adv.nonce_at(h.parent) + 1, self.params.fee)
        bad = Block.create(adv.me.key, h.height, h.slot, h.parent, [*honest.txs, pay], honest.header.state_root)
        self.done += 1
        self._publish(node, bad)
        adv.send(m.address, Purchase(4000 + self.done, pay))
        self.node.evidence("byzantine_overspend", f"proposed a block for slot {h.slot} in which it pays {m.name} "
                           f"{self.params.overspend}, more than it has", slot=h.slot, height=h.height,
                           block=bad.block_hash.hex(), overspend_tx=pay.tx_id.hex(), merchant=m.name,
                           value=self.params.overspend)
        return WITHHOLD

    def _censor_block(self, node: NodeContext, block: Any) -> Any | None:
        if self._victim(node) is None:
            return None
        kept = [t for t in block.txs if not self._is_victims(t)]
        if len(kept) == len(block.txs):
            return None
        self._censored(node, len(block.txs) - len(kept), "own block")
        adv = node.adversary
        assert adv is not None
        return adv.build_block(block.header.parent, block.header.slot, kept)

    # -- out of turn ---------------------------------------------------------------------------------------------
    @hookimpl
    def arena_validate_block(self, node: NodeContext, block: Any) -> str | None:
        """Another validator's block shows who leads (parent, slot): it is not us, so we sign one there too."""
        if not self._active(node, "out_of_turn") or self.done >= self.params.attempts:
            return None
        adv = node.adversary
        assert adv is not None
        h = block.header
        if h.proposer_key == adv.me.public_key or (h.parent, h.slot) in self.slots_taken:
            return None
        self.slots_taken.add((h.parent, h.slot))
        try:
            rogue = adv.build_block(h.parent, h.slot, [])
        except ValueError:  # the parent is unknown to our node (an orphan): nothing to build on
            return None
        self.done += 1
        self._publish(node, rogue, vote=False)  # our node votes for its head: a second vote would be equivocation
        self.node.evidence("byzantine_out_of_turn", f"proposed a block for slot {h.slot}, which another validator "
                           f"leads", slot=h.slot, height=h.height, block=rogue.block_hash.hex(),
                           leader_block=block.block_hash.hex())
        return None

    # -- votes ---------------------------------------------------------------------------------------------------
    @hookimpl
    def arena_cast_vote(self, node: NodeContext, vote: Any) -> Any | Literal["withhold"] | None:
        if not self._active(node, "withhold_votes"):
            return None
        self.withheld += 1
        if self.withheld == 1 or self.withheld % EVIDENCE_EVERY == 0:
            self.node.evidence("byzantine_withhold_votes", f"withheld {self.withheld} votes (last: height "
                               f"{vote.height})", withheld=self.withheld, height=vote.height)
        return WITHHOLD

    # -- censorship ----------------------------------------------------------------------------------------------
    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        if not self._active(node, "censor") or self._victim(node) is None:
            return
        payload = message.payload
        if isinstance(payload, SubmitTx) and self._is_victims(payload.tx):
            message.drop = True
            self._censored(node, 1, "submission")
        elif isinstance(payload, Gossip) and payload.items:
            txs = [self._tx_of(item) for item in payload.items]
            if all(t is not None and self._is_victims(t) for t in txs):  # only the victim's: ignore it
                message.drop = True
                self._censored(node, len(txs), "incoming gossip")

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        if not self._active(node, "censor") or self._victim(node) is None or not isinstance(message.payload, Gossip):
            return
        items = message.payload.items
        kept = [item for item in items if not ((t := self._tx_of(item)) is not None and self._is_victims(t))]
        if len(kept) == len(items):
            return
        self._censored(node, len(items) - len(kept), "relay")
        if kept:
            message.payload = Gossip(kept)
        else:
            message.drop = True

    @staticmethod
    def _tx_of(item: Any) -> Tx | None:
        if item.kind != ITEM_TX:
            return None
        try:
            tx: Tx = Tx.from_bytes(item.data)
        except Exception:
            return None
        return tx
