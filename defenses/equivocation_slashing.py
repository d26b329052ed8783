"""Equivocation slashing: catch double signing, put the proof on chain, burn the offender's stake.

* Every node watches what it sees signed: blocks (validators: every block they validate; merchants and light
  nodes: the headers validators announce) and votes. Two headers by one key for one slot, or two votes by one key
  for one height, are ``Evidence`` (after checking both signatures).
* A validator that leads a slot adds a ``TX_SLASH`` transaction with each piece of evidence not yet on chain
  (signed from its own account through the wallet); the ledger burns the offender's stake, so it never leads or
  votes again.
* A merchant delivers only once a payment has looked included for ``hold`` seconds (time for a conflicting block to
  surface) and, for ``caution`` seconds after it saw an equivocation, only on finality.

Every slash is logged (``slash``, with the offender's account): a slashed honest validator is a false positive.
"""

from __future__ import annotations

from typing import Any, Literal

from arena import EvidenceKind, NodeContext, Params, Plugin, Wallet, hookimpl
from honest.schema import ITEM_VOTE, TX_SLASH, Block, BlockHeader, Evidence, Gossip, Vote, account_of


class EquivocationSlashingParams(Params):
    hold: float = 2.0
    caution: float = 60.0


class EquivocationSlashing(Plugin):
    """Slash double signers on chain; merchants wait while an equivocation is fresh."""

    name = "equivocation_slashing"
    team = "blue"
    Params = EquivocationSlashingParams

    def __init__(self, node: NodeContext, params: EquivocationSlashingParams) -> None:
        super().__init__(node, params)
        self.params: EquivocationSlashingParams = params
        self.wallet: Wallet | None = None
        self.first: dict[tuple[bytes, int, int], Any] = {}  # (key, slot or height, what) -> first header or vote
        self.evidence: dict[bytes, Evidence] = {}  # offender account -> proof (until seen on chain)
        self.slashed: set[bytes] = set()
        self.last_alarm: float | None = None
        self.included_since: dict[bytes, float] = {}

    @hookimpl
    def arena_wallet_ready(self, node: NodeContext, wallet: Wallet) -> None:
        self.wallet = wallet

    def _signed(self, key: bytes, round_: int, what: int, obj: BlockHeader | Vote) -> None:
        first = self.first.setdefault((key, round_, what), obj)
        offender = account_of(key)
        if first.to_bytes() == obj.to_bytes() or offender in self.evidence or offender in self.slashed:
            return
        if first.valid_signature() and obj.valid_signature():
            self.evidence[offender] = Evidence(what, first.to_bytes(), obj.to_bytes())
            self.last_alarm = self.node.now()
            kind = "votes" if what == EvidenceKind.VOTES else "blocks"
            self.node.log("equivocation", offender=offender.hex(), what=kind, round=round_)

    @hookimpl
    def arena_validate_block(self, node: NodeContext, block: Any) -> str | None:
        h = block.header
        self._signed(h.proposer_key, h.slot, EvidenceKind.HEADERS, h)
        for tx in block.txs:
            if tx.kind == TX_SLASH:  # somebody slashed already: keep it off our next block
                ev = Evidence.from_bytes(tx.data)
                headers = ev.what == EvidenceKind.HEADERS
                key = (BlockHeader if headers else Vote).from_bytes(ev.first)
                self.slashed.add(account_of(key.proposer_key if headers else key.voter_key))
        return None

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        p = message.payload
        if message.kind == "HeaderAnnounce":
            self._signed(p.header.proposer_key, p.header.slot, EvidenceKind.HEADERS, p.header)
        elif isinstance(p, Gossip):
            for item in p.items:
                if item.kind == ITEM_VOTE:
                    vote = Vote.from_bytes(item.data)
                    self._signed(vote.voter_key, vote.height, EvidenceKind.VOTES, vote)

    @hookimpl
    def arena_propose_block(self, node: NodeContext, block: Any) -> Any | Literal["withhold"] | None:
        due = [(acct, ev) for acct, ev in self.evidence.items() if acct not in self.slashed]
        if not due or self.wallet is None:
            return None
        slashes = []
        for acct, ev in due:
            self.slashed.add(acct)
            slashes.append(self.wallet.sign(TX_SLASH, acct, 0, 0, ev.to_bytes(), purpose="slash"))
            self.node.log("slash", offender=acct.hex(), what=ev.what)
        return Block(block.header, [*block.txs, *slashes])

    @hookimpl
    def arena_payment_confirmed(self, node: NodeContext, payment: Any) -> bool | None:
        if payment.status == "finalized":
            return None
        now = node.now()
        if self.last_alarm is not None and now - self.last_alarm < self.params.caution:
            return False
        if payment.status not in ("pending", "included"):
            return None
        since = self.included_since.setdefault(payment.tx_id, now)
        return None if now - since >= self.params.hold else False
