"""Proof-of-stake blocks on a validator: proposing in its slots, and validating and adding blocks it receives.

In each slot the stake-weighted leader builds a block from its mempool (the ``arena_propose_block`` hook may
withhold or replace it) and gossips it. A received block passes the ``arena_validate_block`` hook and the tree's
rules; one whose parent is unknown waits as an orphan while the parent is requested. Each added block updates the
mempool, the head (:mod:`~honest.node.finality`), light nodes' headers and the node's channels.
"""

from __future__ import annotations

from ..messages import Address
from ..pos import slot_at
from ..schema import ITEM_BLOCK, Block, BlockRequest, HeaderAnnounce, Vote
from .base import NodeBase
from .settings import LIGHT, MERCHANT


class BlockProduction(NodeBase):
    """Block proposal and block validation of a validator."""

    def now_slot(self) -> int:
        return slot_at(self.env.now() + 1e-9, self.config.slot)

    def on_slot(self) -> None:
        slot = self.now_slot()
        head = self.head
        state = self.tree.state(head)
        if state is None:
            return
        if self.tree.leader(head, slot) != self.account:
            return
        txs = self.mempool.select(state, self.config.max_block_txs)
        block = self.tree.build(self.key, head, slot, txs)
        if self.env.has_hook("arena_propose_block"):
            decision = self.env.hooks.propose_block(block=block)
            if decision == "withhold":
                self.env.events.block_withheld(slot)
                return
            if isinstance(decision, Block):  # re-signed and rebuilt: those of its txs that apply, a true state root
                h = decision.header
                parent = h.parent if self.tree.state(h.parent) is not None else head
                block = self.tree.build(self.key, parent, h.slot, list(decision.txs))
        self.blocks_proposed += 1
        self.env.events.block_proposed(block)
        for tx in block.txs:
            self.env.events.tx_included(tx, block)
        self.on_block(block, None, None)
        item_data = block.to_bytes()
        self.gossip.broadcast(ITEM_BLOCK, item_data)

    def on_block(self, block: Block, from_key: bytes | None, src: Address | None) -> bool:
        """A block arrived (gossip, response, or our own). True if it was accepted (forward it)."""
        h = block.block_hash
        if self.tree.has(h):
            return False
        if self.env.has_hook("arena_validate_block"):
            vetoes = self.env.hooks.validate_block(block=block)
            if vetoes:
                self.env.events.block_rejected(h, f"veto:{vetoes[0]}")
                return False
        reason = self.tree.add(block, self.now_slot())
        if reason == "unknown_parent":
            if len(self.orphans) >= self.config.max_orphans:
                self.orphans.popitem(last=False)
            self.orphans[h] = block
            parent = block.header.parent
            if src is not None and from_key is not None and self._may_request(parent):
                self.send_to(src, from_key, BlockRequest(0, parent))
            return False
        if reason is not None:
            self.env.events.block_rejected(h, reason)
            return False
        self.store.save_block(block)
        self.requested.pop(h, None)
        self._after_block(block)
        for oh, orphan in list(self.orphans.items()):
            if orphan.header.parent == h and oh in self.orphans:
                del self.orphans[oh]
                self.on_block(orphan, from_key, src)
        return True

    def _after_block(self, block: Block) -> None:
        self.mempool.remove_included(block.txs)
        self._choose_head()
        still: list[Vote] = []
        for v in self.pending_votes:
            if v.block_hash == block.block_hash:
                self.on_vote(v)
            else:
                still.append(v)
        self.pending_votes = still
        light = self.peers.by_role(LIGHT) + self.peers.by_role(MERCHANT)
        if light and block.block_hash == self.head:
            self.broadcast(light, HeaderAnnounce(block.header))
        if self.channels.channels:
            self.channels.on_chain_block(block)
        self.settlements.on_finality()
