"""Catching up with the chain: validators tell each other their heads and fetch the blocks they miss.

Validators send ``ChainStatus`` periodically to a few validator peers; one that is behind asks the peer for its head
(or, holding it as an orphan, for the missing parent) with ``BlockRequest``. Requests are bounded and retried after
a timeout, so a lying peer cannot make a node ask forever and a lost answer is asked for again. On a light node a
``BlockResponse`` belongs to its channels (:mod:`honest.channels.block_fetch`).
"""

from __future__ import annotations

from ..messages import Address
from ..schema import ITEM_BLOCK, BlockRequest, BlockResponse, ChainStatus
from ..wire import checked
from .base import NodeBase
from .intake import item_id
from .settings import VALIDATOR

REQUEST_TIMEOUT = 3.0  # a block request not answered by then may be sent again


class ChainSync(NodeBase):
    """Chain status exchange and block requests between validators."""

    def send_chain_status(self) -> None:
        """Tell a few validator peers (the gossip fan-out, drawn afresh) where our chain is: the pull half of
        block dissemination, so its cost grows with the validators, not with their square."""
        peers = self.peers.by_role(VALIDATOR)
        fanout = self.config.fanout
        if fanout and len(peers) > fanout:
            peers = self.env.rng.sample(peers, fanout)
        if peers:
            self.broadcast(peers, ChainStatus(self.head, self._height(self.head), self.tree.finalized_height))

    @checked(ChainStatus)
    def on_chain_status(self, key: bytes, src: Address, msg: ChainStatus) -> None:
        if self.role != "validator":
            return
        if msg.height <= self._height(self.head) or self.tree.has(msg.head):
            return
        if msg.head not in self.orphans:
            if self._may_request(msg.head):
                self.send_to(src, key, BlockRequest(0, msg.head))
            return
        # We hold the peer's head as an orphan: a request for the gap below it was lost. Ask for the missing parent.
        for orphan in reversed(self.orphans.values()):
            parent = orphan.header.parent
            if not self.tree.has(parent) and parent not in self.orphans:
                if self._may_request(parent):
                    self.send_to(src, key, BlockRequest(0, parent))
                return

    def _may_request(self, block_hash: bytes) -> bool:
        """Bounded block requests (a liar cannot make us ask forever), retried after a timeout (UDP loses)."""
        now = self.env.now()
        if len(self.requested) >= 64:
            for h, t in list(self.requested.items()):
                if now - t > REQUEST_TIMEOUT:
                    del self.requested[h]
        asked = self.requested.get(block_hash)
        if len(self.requested) >= 64 or (asked is not None and now - asked <= REQUEST_TIMEOUT):
            return False
        self.requested[block_hash] = now
        return True

    @checked(BlockRequest)
    def on_block_request(self, key: bytes, src: Address, msg: BlockRequest) -> None:
        block = self.tree.block(msg.block_hash)
        if block is not None:
            self.send_to(src, key, BlockResponse(msg.request_id, block))

    @checked(BlockResponse)
    def on_block_response(self, key: bytes, src: Address, msg: BlockResponse) -> None:
        if self.role != "validator":
            self.channels.on_block_response(key, src, msg)  # a channel party following the chain
            return
        h = msg.block.block_hash
        if h not in self.requested:
            self.count_drop("unrequested", "BlockResponse")
            return
        self.requested.pop(h, None)
        if self.on_block(msg.block, key, src):
            self.gossip.mark(item_id(ITEM_BLOCK, msg.block))
