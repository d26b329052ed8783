"""Costly identity: a peer is admitted only if its identity cost something.

A peer claiming to be a validator must hold stake at genesis. Any other peer must have an account in the genesis
(with at least ``min_deposit``: joining at launch was paid for) or a key carrying ``work`` bits of proof of work
(``arena.work_of``: leading zero bits of SHA-256 over the key, S/Kademlia's static puzzle). The scenario
sets ``work``: each extra bit doubles the keys a Sybil maker must try (each try counts against the red budget).
"""

from __future__ import annotations

from typing import Any

from arena import NodeContext, Params, Plugin, Role, hookimpl, work_of
from honest.schema import account_of


class CostlyIdentityParams(Params):
    work: int = 12  # bits of proof of work for a key without stake or genesis deposit
    min_deposit: int = 0  # genesis balance that counts as paid (0: any genesis account)


class CostlyIdentity(Plugin):
    """Admit validators only with stake, other peers only with a genesis deposit or a proof of work."""

    name = "costly_identity"
    team = "blue"
    Params = CostlyIdentityParams

    def __init__(self, node: NodeContext, params: CostlyIdentityParams) -> None:
        super().__init__(node, params)
        self.params: CostlyIdentityParams = params
        self.stakes: dict[bytes, int] = {}
        self.balances: dict[bytes, int] = {}
        self.refused = 0

    @hookimpl
    def arena_genesis(self, node: NodeContext, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
        self.stakes, self.balances = stakes, balances

    @hookimpl
    def arena_admit_peer(self, node: NodeContext, peer: Any) -> str | None:
        acct = account_of(peer.public_key)
        if self.stakes.get(acct, 0) > 0:
            return None
        if peer.role == Role.VALIDATOR:
            reason = "claims to be a validator without stake"
        elif self.balances.get(acct, -1) >= self.params.min_deposit or work_of(peer.public_key) >= self.params.work:
            return None
        else:
            reason = f"no deposit and {work_of(peer.public_key)} < {self.params.work} bits of work"
        self.refused += 1
        return reason

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        self.node.log("costly_identity summary", refused=self.refused)
