"""Fetching the blocks a light node needs to watch its channels.

A validator sees every block; a light node only hears headers. A channel party that must watch the chain (for
opens, closes and force closes to dispute) asks validators for the blocks of announced headers with
``BlockRequest`` and hands them on in parent-first order, fetching missing ancestors and asking again when an
answer is lost. Only the fetching lives here; what a block's channel transactions mean is the manager's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..env import NodeEnv
from ..messages import Address, PeerInfo
from ..schema import Block, BlockHeader, BlockRequest, BlockResponse, Frozen

GENESIS_HASH = bytes(32)
BLOCK_RETRY = 2.0  # seconds before a wanted block is asked for again
BLOCK_TRIES = 5
MAX_WAITING = 4096  # fetched blocks kept while their ancestors are being fetched


class FetchHost(Protocol):
    """What the fetcher needs from its node: time and randomness, sending, counting drops, known validators."""

    env: NodeEnv

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None: ...

    def validators(self) -> list[PeerInfo]: ...

    def count_drop(self, reason: str, kind: str = "") -> None: ...


class BlockFetcher:
    """Blocks asked for, and fetched blocks waiting for their parent.

    ``processed`` is the owner's set of blocks already handled (read here, never changed); ``deliver`` handles one
    block, each in parent-first order."""

    def __init__(self, host: FetchHost, processed: set[bytes], deliver: Callable[[Block], None]) -> None:
        self.host = host
        self.env = host.env
        self.processed = processed
        self.deliver = deliver
        self.waiting: dict[bytes, Block] = {}  # fetched blocks whose parent is not processed yet
        self.wanted: dict[bytes, list[Any]] = {}  # block hash -> [asked at, address, key, tries]
        self.request_seq = 0

    def on_header(self, header: BlockHeader, src: Address, key: bytes) -> None:
        """A header was announced: fetch its block unless it is handled or on its way."""
        h = header.block_hash
        if h in self.processed or h in self.wanted or h in self.waiting:
            return
        self.want(h, src, key)

    def want(self, h: bytes, src: Address, key: bytes | None) -> None:
        self.request_seq = (self.request_seq + 1) & 0xFFFFFFFF
        entry = self.wanted.get(h)
        self.wanted[h] = [self.env.now(), src, key, (entry[3] + 1) if entry else 1]
        self.host.send_to(src, key, BlockRequest(self.request_seq, h))

    def on_block_response(self, key: bytes, src: Address, msg: BlockResponse) -> None:
        block = msg.block
        h = block.block_hash
        if h not in self.wanted:
            self.host.count_drop("unrequested", "BlockResponse")
            return
        if not block.header.valid_signature() or Block.tx_root_of(block.txs) != block.header.tx_root:
            self.host.count_drop("bad_block", "BlockResponse")
            return
        del self.wanted[h]
        parent = block.header.parent
        if parent != GENESIS_HASH and parent not in self.processed:
            if len(self.waiting) >= MAX_WAITING:
                self.waiting.pop(next(iter(self.waiting)))
            self.waiting[h] = block
            if parent not in self.wanted and parent not in self.waiting:
                self.want(parent, src, key)
            return
        todo = [block]
        while todo:
            b = todo.pop()
            self.deliver(b)
            bh = b.block_hash
            children = [w for w in self.waiting.values() if w.header.parent == bh]
            for c in children:
                del self.waiting[c.block_hash]
            todo.extend(children)

    def retry(self, now: float) -> None:
        """Periodic: ask again for blocks whose answer got lost (another validator each time), up to a limit."""
        for bh, want in list(self.wanted.items()):
            if now - want[0] >= BLOCK_RETRY:
                if want[3] >= BLOCK_TRIES:
                    del self.wanted[bh]
                    continue
                vals = self.host.validators()
                if vals:
                    v = self.env.rng.choice(vals)
                    want[1], want[2] = v.address, v.public_key
                self.want(bh, want[1], want[2])
        if self.waiting and not self.wanted:
            # a parent we gave up on: ask again (from any validator), or the blocks after it wait forever
            vals = self.host.validators()
            missing = {b.header.parent for b in self.waiting.values()} - set(self.waiting) - self.processed
            if vals and missing:
                v = self.env.rng.choice(vals)
                self.want(min(missing), v.address, v.public_key)
