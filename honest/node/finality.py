"""Head choice, voting and finality on a validator.

The head is the tree's choice unless the ``arena_fork_choice`` hook picks another; a reorg returns the abandoned
branch's transactions to the mempool. A validator with stake votes once per height for its head (the
``arena_cast_vote`` hook may withhold or change the vote); votes for blocks not yet known wait. A new finalised
block is stored, recorded, and handed to the channel settlement watch.
"""

from __future__ import annotations

from ..schema import ITEM_VOTE, Vote
from .base import NodeBase


class Finality(NodeBase):
    """Fork choice, votes and finalisation of a validator."""

    def _choose_head(self) -> None:
        new_head = self.tree.head()
        if self.env.has_hook("arena_fork_choice"):
            choice = self.env.hooks.fork_choice(heads=self.tree.heads())
            if choice is not None:
                self.tree.set_preferred_head(bytes(choice))
                new_head = self.tree.head()
        if new_head != self.head:
            old_head, self.head = self.head, new_head
            if not self.tree.is_ancestor(old_head, new_head):
                self._return_orphaned_txs(old_head, new_head)
            state = self.tree.state(new_head)
            if state is not None:
                self.mempool.prune(state)
            self._vote_for_head()

    def _return_orphaned_txs(self, old_head: bytes, new_head: bytes) -> None:
        """A reorg: transactions of the abandoned branch that the new chain lacks go back to the mempool."""
        for h in self.tree.ancestors(old_head):
            if self.tree.is_ancestor(h, new_head):
                break
            block = self.tree.block(h)
            for tx in block.txs if block is not None else ():
                if self.tree.confirmations(tx.tx_id, new_head) is None:
                    self.arrival += 1
                    self.mempool.add(tx, self.arrival)

    def _vote_for_head(self) -> None:
        state = self.tree.state(self.tree.finalized)
        if state is None or state.stake(self.account) <= 0:
            return
        height = self._height(self.head)
        if height in self.voted_heights or height == 0:
            return
        vote = Vote.create(self.key, height, self.head)
        if self.env.has_hook("arena_cast_vote"):
            decision = self.env.hooks.cast_vote(vote=vote)
            if decision == "withhold":
                return
            if isinstance(decision, Vote):
                vote = Vote.create(self.key, decision.height, decision.block_hash)
        self.voted_heights.add(height)
        self.on_vote(vote)
        self.gossip.broadcast(ITEM_VOTE, vote.to_bytes())

    def on_vote(self, vote: Vote) -> bool:
        reason = self.tree.add_vote(vote)
        if reason == "unknown_block":
            if len(self.pending_votes) < 4096:
                self.pending_votes.append(vote)
            return True
        if reason == "equivocation":
            self.env.events.equivocation(vote.voter, vote.height)
            return True
        if reason is not None:
            return False
        if self.tree.finalized != self.last_finalized:
            self._record_finality(self.last_finalized)
            self.last_finalized = self.tree.finalized
            self.store.save_finalized(self.tree.finalized, self.tree.finalized_height)
            self.settlements.on_finality()
            self._choose_head()
        return True

    def _record_finality(self, previous: bytes) -> None:
        """The referee contract's events of a finality step: the transactions of our own newly final blocks (each
        transaction is recorded once, by its block's proposer, not once per validator), then the new height."""
        tree = self.tree
        fresh = []
        for h in tree.ancestors(tree.finalized):
            if h == previous:
                break
            fresh.append(h)
        for h in reversed(fresh):
            block = tree.block(h)
            if block is not None and block.header.proposer == self.account:
                for tx in block.txs:
                    self.env.events.tx_finalized(tx, block)
        self.env.events.block_finalized(tree.finalized_height, tree.finalized)
