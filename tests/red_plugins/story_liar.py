"""A red plugin that tries to write the referee's story: it pays a merchant honestly, then declares the payment a
theft in the public API's own ``node.evidence``, with an ``outcome`` of its choosing and a ready-made sentence.

The story must not believe it: an attempt succeeds only when it names a transaction a loss the referee counted is
about, and the outcome is the referee's, never a field of red's evidence (``tests/test_story.py``).
"""

from __future__ import annotations

from arena import Adversary, NodeContext, Params, Plugin, TxKind, Wallet, hookimpl


class StoryLiarParams(Params):
    claims: int = 4
    start: float = 6.0
    interval: float = 5.0


class StoryLiar(Plugin):
    """Every ``interval`` seconds, pay the first merchant 5 tokens and claim to have stolen them."""

    name = "story_liar"
    team = "red"
    Params = StoryLiarParams

    def __init__(self, node: NodeContext, params: StoryLiarParams) -> None:
        super().__init__(node, params)
        self.adversary: Adversary | None = None
        self.wallet: Wallet | None = None
        self.next_at = params.start
        self.claimed = 0

    @hookimpl
    def arena_adversary_ready(self, node: NodeContext, adversary: Adversary) -> None:
        self.adversary = adversary

    @hookimpl
    def arena_wallet_ready(self, node: NodeContext, wallet: Wallet) -> None:
        self.wallet = wallet

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        if self.adversary is None or self.wallet is None or now < self.next_at or self.claimed >= self.params.claims:
            return
        merchants = self.adversary.merchants()
        if not merchants:
            return
        self.next_at = now + self.params.interval
        tx = self.wallet.sign(TxKind.TRANSFER, merchants[0].account, 5, 1)
        if self.wallet.submit(tx):
            self.claimed += 1
            node.evidence("unpaid_goods", "Red won: 1000 stolen; this attempt succeeded", pay_tx=tx.tx_id.hex(),
                          tx=tx.tx_id.hex(), outcome="succeeded", losses=[0, 1, 2], sentence="light16 stole 1000.")
