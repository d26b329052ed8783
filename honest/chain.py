"""The block tree: validation, fork choice and finality (by 2/3-stake votes, or by depth).

Fork choice (``head``): among the blocks that descend from (or are) the last finalised block, the one of greatest
height; ties go to the earliest arrival (insertion order; it is unique within one tree, so the lowest-hash tie-break
never has to act). The greatest-height block is always a leaf, so this is the "longest chain" rule restricted to the
finalised subtree: a later equal-height fork never switches the head. A plugin may override it with
``set_preferred_head`` until a block higher than the preferred one arrives.

Finality never moves backwards or sideways: a block that does not descend from the current finalised block is never
finalised, and blocks that would build on a conflicting branch are refused (``conflicts_finalized``).

Costs: ancestor queries use skip pointers (O(log n)); the best head is updated incrementally (a rescan of the
finalised subtree happens only when finality moves off the current best branch); post-states of validated and built
blocks are memoised so ``validate`` + ``add`` and ``build`` + ``add`` apply the transactions once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ipv8.keyvault.keys import PrivateKey

from .pos import leader as pos_leader
from .schema import MAX_LIST_ITEMS, MAX_NESTED_BYTES, Block, Evidence, Tx, Vote, account_of
from .state import LedgerState

GENESIS_HASH = bytes(32)
FINALITY_MODES = ("votes", "depth")
_MEMO_LIMIT = 64
KEEP_STATES = 32  # post-states kept below the finalised block (see BlockTree.prune)
KEEP_VOTES = 128  # heights of vote bookkeeping kept below the finalised block


class TxSignatureCache:
    """A callable ``verify_tx`` that remembers valid (tx id, signature) pairs, so that a node verifying a transaction
    at admission and again inside every block (and every fork) carrying it pays for one signature check.

    The key includes the signature: the tx id does not cover it, and a forged copy must not ride on a cached id.
    Only successes are cached (failures are cheap to repeat and must not poison a later valid copy); the oldest
    entries are dropped beyond ``limit``.
    """

    def __init__(self, limit: int = 1 << 17) -> None:
        self.limit = limit
        self._ok: dict[tuple[bytes, bytes], None] = {}

    def __call__(self, tx: Tx) -> bool:
        key = (tx.tx_id, tx.signature)
        if key in self._ok:
            return True
        if not tx.valid_signature():
            return False
        if len(self._ok) >= self.limit:
            self._ok.pop(next(iter(self._ok)))
        self._ok[key] = None
        return True


@dataclass(frozen=True, slots=True)
class Head:
    block_hash: bytes
    height: int
    slot: int


class BlockTree:
    """All blocks seen that validated, with their post-states (until pruned) and the vote tallies."""

    def __init__(self, genesis_state: LedgerState, *, reward: int, max_block_txs: int, finality: str = "votes",
                 depth: int = 3, dispute_window: int = 10, verify_tx: Callable[[Tx], bool] | None = None) -> None:
        if finality not in FINALITY_MODES:
            raise ValueError(f"finality must be one of {FINALITY_MODES}, not {finality!r}")
        self.reward = reward
        self.max_block_txs = min(max_block_txs, MAX_LIST_ITEMS)
        self.finality = finality
        self.depth = depth
        self.dispute_window = dispute_window
        self.verify_tx: Callable[[Tx], bool] = verify_tx or TxSignatureCache()
        self.genesis_hash = GENESIS_HASH
        g = GENESIS_HASH
        self._blocks: dict[bytes, Block] = {}
        self._parent: dict[bytes, bytes] = {}
        self._height: dict[bytes, int] = {g: 0}
        self._slot: dict[bytes, int] = {g: 0}
        self._children: dict[bytes, list[bytes]] = {g: []}
        self._leaves: dict[bytes, None] = {g: None}  # insertion-ordered set
        self._jumps: dict[bytes, list[bytes]] = {g: []}  # _jumps[h][k] = the ancestor 2**k levels above h
        self._order: dict[bytes, int] = {g: 0}
        self._states: dict[bytes, LedgerState] = {g: genesis_state.copy()}
        self._stakes: dict[bytes, dict[bytes, int]] = {}  # memo: stakes in a block's post-state
        self._tx_index: dict[bytes, set[bytes]] = {}  # tx_id -> blocks containing it
        self._invalid: dict[bytes, str] = {}  # hash -> reason, only for reasons the hash fully determines
        self._memo_states: dict[bytes, LedgerState] = {}  # post-states computed by validate/build, not yet added
        self._best = g
        self._preferred: bytes | None = None
        self.finalized: bytes = g
        self.finalized_height: int = 0
        self.evidence: list[Evidence] = []
        self._votes: dict[bytes, set[bytes]] = {}  # block -> voter accounts
        self._vote_of: dict[tuple[bytes, int], Vote] = {}  # (voter, height) -> first counted vote
        self._support: dict[tuple[bytes, int], tuple[bytes, bool]] = {}  # (voter, height) -> (block, explicit)
        self._seen_votes: dict[bytes, int] = {}  # raw vote -> its height
        self._equivocated: set[tuple[bytes, int]] = set()
        self._votes_kept_from = 0  # vote bookkeeping below this height has been dropped (see prune)
        self._by_proposer_memo: tuple[bytes, dict[bytes, int]] | None = None
        self._pruned_at: bytes | None = None
        self._stake_sets: dict[frozenset[tuple[bytes, int]], dict[bytes, int]] = {}
        self._pub_memo: dict[int, tuple[PrivateKey, bytes]] = {}  # id(key) -> (key, account); key.pub() is slow

    # -- lookups -------------------------------------------------------------------------------------------------
    def has(self, h: bytes) -> bool:
        return h in self._height

    def block(self, h: bytes) -> Block | None:
        """The block (None for genesis, which has no block object, and for unknown hashes)."""
        return self._blocks.get(h)

    def state(self, h: bytes) -> LedgerState | None:
        """The post-state of ``h`` (None when unknown or pruned). Shared: copy before mutating."""
        return self._states.get(h)

    def height_of(self, h: bytes) -> int | None:
        return self._height.get(h)

    def slot_of(self, h: bytes) -> int | None:
        return self._slot.get(h)

    def stakes_at(self, h: bytes) -> dict[bytes, int]:
        """Validator stakes in the post-state of ``h`` (memoised; empty when the state is unknown or pruned)."""
        memo = self._stakes.get(h)
        if memo is None:
            st = self._states.get(h)
            if st is None:
                return {}
            memo = self._stakes[h] = st.stakes()
        return memo

    def leader(self, parent: bytes, slot: int) -> bytes | None:
        """Who may propose at ``slot`` on top of ``parent``."""
        return pos_leader(self.stakes_at(parent), parent, slot)

    def __len__(self) -> int:
        """Number of blocks (genesis excluded)."""
        return len(self._blocks)

    # -- validation and insertion --------------------------------------------------------------------------------
    def validate(self, block: Block, now_slot: int) -> str | None:
        """Why ``block`` cannot be added now, or None. Does not insert."""
        return self._validate(block, now_slot)[0]

    def add(self, block: Block, now_slot: int) -> str | None:
        """Validate, then insert with its post-state; returns the reason on refusal."""
        reason, state = self._validate(block, now_slot)
        if reason is not None or state is None:
            return reason
        self._insert(block, state)
        return None

    def build(self, key: PrivateKey, parent: bytes, slot: int, txs: list[Tx]) -> Block:
        """A signed block on ``parent`` with those of ``txs`` that still apply (others skipped), up to the limit."""
        pstate = self._states.get(parent)
        if pstate is None:
            raise ValueError("parent unknown or pruned")
        memo = self._pub_memo.get(id(key))
        if memo is None or memo[0] is not key:
            memo = self._pub_memo[id(key)] = (key, account_of(key.pub().key_to_bin()))
        proposer = memo[1]
        height = self._height[parent] + 1
        state = pstate.copy()
        applied: list[Tx] = []
        size = 0
        for tx in txs:
            if len(applied) >= self.max_block_txs:
                break
            tx_size = len(tx.sender_key) + len(tx.data) + len(tx.signature) + 64
            if size + tx_size > MAX_NESTED_BYTES:
                break  # the block must still fit py-ipv8's nested-payload size
            if self.verify_tx(tx) and state.apply_tx(tx, proposer, height) is None:
                applied.append(tx)
                size += tx_size
        state.apply_reward(proposer, self.reward)
        state.settle_channels(height, self.dispute_window)
        block = Block.create(key, height, slot, parent, applied, state.state_root())
        self._memo_state(block.block_hash, state)
        return block

    def _validate(self, block: Block, now_slot: int) -> tuple[str | None, LedgerState | None]:
        hdr = block.header
        h = hdr.block_hash
        if h in self._height:
            return "duplicate", None
        parent = hdr.parent
        if parent not in self._height:
            return "unknown_parent", None
        height = hdr.height
        if height != self._height[parent] + 1:
            return "bad_height", None
        if hdr.slot <= self._slot[parent] or hdr.slot > now_slot + 1:
            return "bad_slot", None
        if not hdr.valid_signature():
            return "bad_proposer_signature", None
        pstate = self._states.get(parent)
        if pstate is None:  # pruned: the parent lies strictly below the finalised height
            return "conflicts_finalized", None
        proposer = hdr.proposer
        if proposer != self.leader(parent, hdr.slot):
            return "wrong_leader", None
        txs = block.txs
        if Block.tx_root_of(txs) != hdr.tx_root:
            return "bad_tx_root", None
        if len(txs) > self.max_block_txs:
            return "too_many_txs", None
        for tx in txs:
            if not self.verify_tx(tx):
                return "bad_tx_signature", None
        # the header hash commits to the transactions' contents (not their signatures, checked above)
        cached = self._invalid.get(h)
        if cached is not None:
            return cached, None
        state = self._memo_states.get(h)
        if state is None:
            state = pstate.copy()
            for tx in txs:
                reason = state.apply_tx(tx, proposer, height)
                if reason is not None:
                    self._invalid[h] = f"invalid_tx:{reason}"
                    return self._invalid[h], None
            state.apply_reward(proposer, self.reward)
            state.settle_channels(height, self.dispute_window)
            if state.state_root() != hdr.state_root:
                self._invalid[h] = "bad_state_root"
                return "bad_state_root", None
            self._memo_state(h, state)
        if not self.is_ancestor(self.finalized, parent):
            return "conflicts_finalized", None
        return None, state

    def _memo_state(self, h: bytes, state: LedgerState) -> None:
        if len(self._memo_states) >= _MEMO_LIMIT:
            self._memo_states.pop(next(iter(self._memo_states)))
        self._memo_states[h] = state

    def _insert(self, block: Block, state: LedgerState) -> None:
        h = block.block_hash
        parent = block.header.parent
        height = block.header.height
        self._memo_states.pop(h, None)
        self._blocks[h] = block
        self._parent[h] = parent
        self._height[h] = height
        self._slot[h] = block.header.slot
        self._children[parent].append(h)
        self._children[h] = []
        self._leaves.pop(parent, None)
        self._leaves[h] = None
        jumps = [parent]
        while len(self._jumps[jumps[-1]]) >= len(jumps):
            jumps.append(self._jumps[jumps[-1]][len(jumps) - 1])
        self._jumps[h] = jumps
        self._order[h] = len(self._order)
        self._states[h] = state
        for tx in block.txs:
            self._tx_index.setdefault(tx.tx_id, set()).add(h)
        if self._preferred is not None and height > self._height[self._preferred]:
            self._preferred = None
        # validation guaranteed that h descends from the finalised block; a later arrival never wins a tie
        if height > self._height[self._best]:
            self._best = h
        self._depth_finality()

    # -- tree queries --------------------------------------------------------------------------------------------
    def _ancestor_at(self, h: bytes, height: int) -> bytes | None:
        """The ancestor of ``h`` at ``height`` (``h`` itself at its own height), via skip pointers."""
        d = self._height[h] - height
        if d < 0:
            return None
        k = 0
        while d:
            if d & 1:
                h = self._jumps[h][k]
            d >>= 1
            k += 1
        return h

    def ancestors(self, h: bytes) -> Iterator[bytes]:
        """``h``, its parent, ..., genesis (nothing for an unknown hash)."""
        if h not in self._height:
            return
        while True:
            yield h
            p = self._parent.get(h)
            if p is None:
                return
            h = p

    def is_ancestor(self, a: bytes, b: bytes) -> bool:
        """``a`` is ``b`` or an ancestor of ``b``."""
        ha = self._height.get(a)
        if ha is None or b not in self._height:
            return False
        return self._ancestor_at(b, ha) == a

    def heads(self) -> list[Head]:
        """All leaves, in insertion order."""
        return [Head(h, self._height[h], self._slot[h]) for h in self._leaves]

    def head(self) -> bytes:
        """The fork choice (see the module docstring)."""
        return self._preferred if self._preferred is not None else self._best

    def set_preferred_head(self, h: bytes) -> None:
        """Let a plugin override the fork choice; ignored unless ``h`` is known and descends from finalised."""
        if h in self._height and self.is_ancestor(self.finalized, h):
            self._preferred = h
            self._depth_finality()

    def chain(self, head: bytes | None = None) -> list[Block]:
        """Blocks from the first after genesis to ``head`` (default: the fork choice), oldest first."""
        out = [self._blocks[h] for h in self.ancestors(head if head is not None else self.head()) if h in self._blocks]
        out.reverse()
        return out

    def blocks_by_proposer(self, head: bytes | None = None) -> dict[bytes, int]:
        """Blocks proposed per account on the chain ending at ``head`` (default: the fork choice)."""
        head = head if head is not None else self.head()
        if self._by_proposer_memo is not None and self._by_proposer_memo[0] == head:
            return dict(self._by_proposer_memo[1])
        counts: dict[bytes, int] = {}
        for h in self.ancestors(head):
            b = self._blocks.get(h)
            if b is not None:
                p = b.header.proposer
                counts[p] = counts.get(p, 0) + 1
        self._by_proposer_memo = (head, counts)
        return dict(counts)

    def forks_seen(self) -> int:
        """Blocks not on the current head chain (orphans)."""
        return len(self._blocks) - self._height[self.head()]

    def confirmations(self, tx_id: bytes, head: bytes | None = None) -> tuple[int, int] | None:
        """(height of the including block, blocks on top of it + 1) on the chain ending at ``head``, or None."""
        head = head if head is not None else self.head()
        hh = self._height.get(head)
        if hh is None:
            return None
        for b in self._tx_index.get(tx_id, ()):
            if self.is_ancestor(b, head):
                return self._height[b], hh - self._height[b] + 1
        return None

    def tx_status(self, tx_id: bytes) -> str:
        """"finalized" (in a finalised block), "included" (on the head chain) or "unknown"."""
        blocks = self._tx_index.get(tx_id, ())
        if any(self.is_ancestor(b, self.finalized) for b in blocks):
            return "finalized"
        head = self.head()
        if any(self.is_ancestor(b, head) for b in blocks):
            return "included"
        return "unknown"

    # -- finality ------------------------------------------------------------------------------------------------
    def counted_votes(self) -> dict[bytes, list[Vote]]:
        """The votes counted towards finality, by the block they vote for (what a state file records, so the
        referee can recheck their signatures)."""
        out: dict[bytes, list[Vote]] = {}
        for vote in self._vote_of.values():
            out.setdefault(vote.block_hash, []).append(vote)
        return out

    def add_vote(self, vote: Vote) -> str | None:
        """Count a finality vote; returns the reason when it is not counted.

        An equivocating vote is detected even when its block is unknown (the evidence needs only the two votes).
        A vote for an unknown block is not remembered: the caller may keep it and retry once the block arrives.
        """
        raw = vote.to_bytes()
        if raw in self._seen_votes:
            return "duplicate_vote"
        if not vote.valid_signature():
            return "bad_vote_signature"
        voter = vote.voter
        stakes = self.stakes_at(self.finalized)
        if stakes.get(voter, 0) <= 0:
            return "not_a_validator"
        key = (voter, vote.height)
        first = self._vote_of.get(key)
        if first is not None:
            self._seen_votes[raw] = vote.height
            if first.block_hash == vote.block_hash:
                return "duplicate_vote"
            if key not in self._equivocated:
                self._equivocated.add(key)
                self.evidence.append(Evidence(1, first.to_bytes(), raw))
            return "equivocation"
        bh = vote.block_hash
        if bh not in self._height:
            return "unknown_block"
        if self._height[bh] != vote.height:
            return "bad_vote_height"
        self._vote_of[key] = vote
        self._seen_votes[raw] = vote.height
        if self.finality != "votes" or self._height[bh] <= self.finalized_height or not self.is_ancestor(
                self.finalized, bh):
            self._votes.setdefault(bh, set()).add(voter)
            return None
        # A vote for a block supports its ancestors too (down to the finalised block), so a lost vote for one block
        # is made good by the votes for the next: finality keeps up on a lossy network. But a voter supports at most
        # one block per height, and its own vote at a height outranks what a vote higher up implied there: a
        # validator that voted for A at height 2 and, after a reorg, for a block above A's sibling B does not count
        # for B at height 2 (counting it for both is how two views could each see 2/3 for conflicting blocks).
        self._withdraw_implied(voter, vote.height, bh)
        best = None
        total = sum(stakes.values())
        h: bytes | None = bh
        while h is not None and self._height.get(h, 0) > self.finalized_height:
            at = (voter, self._height[h])
            held = self._support.get(at)
            if held is not None and held[0] != h:
                break  # this voter already supports another block here (and below it, that block's chain)
            if held is None:
                self._support[at] = (h, h == bh)
                self._votes.setdefault(h, set()).add(voter)
            voters = self._votes.get(h, set())
            if best is None and total > 0 and 3 * sum(stakes.get(v, 0) for v in voters) > 2 * total:
                best = h
            h = self._parent.get(h)
        if best is not None:
            self._finalize(best)
        return None

    def _withdraw_implied(self, voter: bytes, height: int, block: bytes) -> None:
        """The voter's own vote for ``block`` at ``height`` arrived after a vote of theirs higher up had implied
        support for a different block there: withdraw that implied support down to where the two chains meet."""
        held = self._support.get((voter, height))
        if held is None or held[0] == block or held[1]:
            return
        h: bytes | None = held[0]
        while h is not None and self._height.get(h, 0) > self.finalized_height and not self.is_ancestor(h, block):
            at = (voter, self._height[h])
            got = self._support.get(at)
            if got is None or got[0] != h or got[1]:
                break
            del self._support[at]
            self._votes.get(h, set()).discard(voter)
            h = self._parent.get(h)

    def vote_weight(self, h: bytes) -> int:
        """Stake (in the finalised state) of the validators that voted for ``h`` or a descendant of it."""
        stakes = self.stakes_at(self.finalized)
        return sum(stakes.get(v, 0) for v in self._votes.get(h, ()))

    def _depth_finality(self) -> None:
        if self.finality != "depth":
            return
        head = self.head()
        target = self._height[head] - self.depth
        if target > self.finalized_height:
            anc = self._ancestor_at(head, target)
            assert anc is not None
            self._finalize(anc)

    def restore_finalized(self, h: bytes) -> bool:
        """After a restart: move finality to ``h`` read from durable storage (only forward, on the same chain)."""
        if h not in self._height or self._height[h] <= self.finalized_height or not self.is_ancestor(self.finalized, h):
            return False
        self._finalize(h)
        return True

    def _finalize(self, h: bytes) -> None:
        self.finalized = h
        self.finalized_height = self._height[h]
        if not self.is_ancestor(h, self._best):
            self._best = self._best_in_subtree(h)
        if self._preferred is not None and not self.is_ancestor(h, self._preferred):
            self._preferred = None
        self.prune()  # a post-state below finality can never be built on again: memory stays O(unfinalised blocks)

    def _best_in_subtree(self, root: bytes) -> bytes:
        best, best_key = root, (self._height[root], -self._order[root])
        todo = deque([root])
        while todo:
            h = todo.popleft()
            k = (self._height[h], -self._order[h])
            if k > best_key:
                best, best_key = h, k
            todo.extend(self._children[h])
        return best

    def prune(self) -> None:
        """Drop post-states more than ``KEEP_STATES`` heights below the finalised block: nothing can be built on
        them any more (a block there conflicts with finality), so memory stays O(recent + unfinalised blocks).
        Their stakes are kept (interned: they rarely change), so ``leader`` still answers for any known block."""
        fin, fh = self.finalized, self.finalized_height
        if self._pruned_at == fin:
            return
        self._pruned_at = fin
        for h in [h for h in self._states if self._height[h] < fh - KEEP_STATES]:
            stakes = self.stakes_at(h)
            self._stakes[h] = self._stake_sets.setdefault(frozenset(stakes.items()), stakes)
            del self._states[h]
        cut = fh - KEEP_VOTES
        if cut >= self._votes_kept_from + KEEP_VOTES // 2:  # in steps, so the sweep costs O(1) per vote
            # Votes far below finality can no longer move it; a late copy of one is simply counted again there
            # (equivocation evidence needs only the two signed votes, whenever they come).
            self._votes_kept_from = cut
            self._vote_of = {k: v for k, v in self._vote_of.items() if k[1] >= cut}
            self._support = {k: v for k, v in self._support.items() if k[1] >= cut}
            self._seen_votes = {r: ht for r, ht in self._seen_votes.items() if ht >= cut}
            self._equivocated = {k for k in self._equivocated if k[1] >= cut}
            self._votes = {b: v for b, v in self._votes.items() if self._height.get(b, 0) >= cut}
        self._memo_states.clear()
