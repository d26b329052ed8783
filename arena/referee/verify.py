"""The referee rechecks what it reads: a validator's state file against itself, and the leader schedule.

Pure functions. :func:`state_problem` says why a state file cannot be believed (None: nothing found against it).
It rechecks whatever the state carries:

- always: the finalised chain is a list of blocks at heights 1, 2, ... with strictly increasing slots, distinct
  64-hex-digit hashes, each block's ``parent`` (when given) the previous block's hash, ``finalized`` /
  ``finalized_height`` naming the chain's last block, distinct transaction ids, and each sender's nonces
  consecutive;
- when a block carries ``tx_root``: it is SHA-256 over its transactions' ids in order;
- when a block carries its whole header (``parent``, ``proposer_key``, ``tx_root``, ``state_root``,
  ``signature``): the proposer's signature, the hash of the header, and that the key is the proposer's account;
- when a block carries ``votes`` (``voter_key``, ``signature`` each): every vote's signature over (height, hash);
- when a transaction carries ``sender_key`` and ``signature`` (and ``data``, hex, when not empty): its signature,
  its id and its sender.

:func:`leader` re-implements ``honest.pos.leader`` (a stake-weighted draw seeded by the parent hash and the slot)
so that the referee re-runs the schedule with code of its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "00" * 32
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Transaction kinds (``honest.schema``): bond adds stake, slash burns the offender's stake.
TX_BOND = 1
TX_SLASH = 6


def leader(stakes: Mapping[str, int], parent_hash: str, slot: int) -> str | None:
    """The account (hex) that may propose at ``slot`` on top of ``parent_hash`` (hex); None when nobody has stake.

    ``r = SHA-256(parent || slot as 8 bytes big-endian) % total_stake``; walking the accounts in sorted byte order
    (= sorted hex order), the first whose cumulative stake exceeds ``r`` wins.
    """
    positive = {a: s for a, s in stakes.items() if s > 0}
    total = sum(positive.values())
    if total <= 0:
        return None
    r = int.from_bytes(hashlib.sha256(bytes.fromhex(parent_hash) + slot.to_bytes(8, "big")).digest(), "big") % total
    acc = 0
    for acct in sorted(positive):
        acc += positive[acct]
        if r < acc:
            return acct
    raise AssertionError("unreachable: r < total")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def state_problem(state: Mapping[str, Any]) -> str | None:
    """Why ``state`` (a validator's ``states/<name>.json``) disagrees with itself, or None."""
    try:
        return _chain_problem(state)
    except Exception as exc:  # a state the checks cannot even read is not believed either
        return f"unreadable chain ({type(exc).__name__}: {exc})"


def _chain_problem(state: Mapping[str, Any]) -> str | None:
    chain = state.get("chain")
    if chain is None:
        return None  # day-1 mode: a ledger, no blocks
    if not isinstance(chain, list):
        return "its chain is not a list of blocks"
    prev_hash, prev_slot = GENESIS_HASH, -1
    seen_blocks: set[str] = set()
    seen_txs: set[str] = set()
    last_nonce: dict[str, int] = {}
    for i, block in enumerate(chain, start=1):
        if not isinstance(block, dict):
            return f"block {i} is not an object"
        bh, height, slot = block.get("hash"), _int(block.get("height")), _int(block.get("slot"))
        if not isinstance(bh, str) or not _HEX64.match(bh):
            return f"block {i} has no valid hash"
        if height != i:
            return f"block {bh[:12]} is at height {height}, expected {i}"
        if slot is None or slot <= prev_slot:
            return f"block {i} has slot {slot}, not after {prev_slot}"
        if bh in seen_blocks:
            return f"block {bh[:12]} appears twice"
        if "parent" in block and block["parent"] != prev_hash:
            return f"block {i}'s parent is not block {i - 1}"
        txs = block.get("txs", [])
        if not isinstance(txs, list):
            return f"block {i}'s txs are not a list"
        for t in txs:
            if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not t["id"]:
                return f"block {i} holds a transaction without a valid id"
            if t["id"] in seen_txs:
                return f"transaction {t['id'][:12]} is in the chain twice"
            seen_txs.add(t["id"])
            nonce, sender = _int(t.get("nonce")), str(t.get("sender"))
            if nonce is not None:
                if sender in last_nonce and nonce != last_nonce[sender] + 1:
                    return f"transaction {t['id'][:12]} has nonce {nonce} after {last_nonce[sender]}"
                last_nonce[sender] = nonce
            if "signature" in t and (why := _tx_problem(t)):
                return f"block {i}: {why}"
        if "tx_root" in block:
            root = hashlib.sha256(b"".join(bytes.fromhex(t["id"]) for t in txs)).hexdigest()
            if block["tx_root"] != root:
                return f"block {i}'s tx_root does not match its transactions"
        if "signature" in block and (why := _header_problem(block)):
            return f"block {i}: {why}"
        for vote in block.get("votes", []) or []:
            if why := _vote_problem(block, vote):
                return f"block {i}: {why}"
        seen_blocks.add(bh)
        prev_hash, prev_slot = bh, slot
    if "finalized_height" in state and state["finalized_height"] != len(chain):
        return f"finalized_height {state['finalized_height']} but a chain of {len(chain)} blocks"
    if chain and "finalized" in state and state["finalized"] != chain[-1]["hash"]:
        return "finalized is not the chain's last block"
    return None


def _tx_problem(t: Mapping[str, Any]) -> str | None:
    from honest.schema import Tx, account_of

    key = bytes.fromhex(str(t["sender_key"]))
    tx = Tx(int(t["kind"]), key, bytes.fromhex(str(t["receiver"])), int(t["amount"]), int(t["nonce"]),
            int(t["fee"]), bytes.fromhex(str(t.get("data", ""))), bytes.fromhex(str(t["signature"])))
    if tx.tx_id.hex() != t["id"]:
        return f"transaction {t['id'][:12]}'s id does not match its contents"
    if account_of(key).hex() != t.get("sender"):
        return f"transaction {t['id'][:12]}'s sender is not its key's account"
    if not tx.valid_signature():
        return f"transaction {t['id'][:12]}'s signature is invalid"
    return None


def _header_problem(b: Mapping[str, Any]) -> str | None:
    from honest.schema import BlockHeader, account_of

    key = bytes.fromhex(str(b["proposer_key"]))
    hdr = BlockHeader(int(b["height"]), int(b["slot"]), bytes.fromhex(str(b["parent"])), key,
                      bytes.fromhex(str(b["tx_root"])), bytes.fromhex(str(b["state_root"])),
                      bytes.fromhex(str(b["signature"])))
    if hdr.block_hash.hex() != b["hash"]:
        return "its hash does not match its header"
    if account_of(key).hex() != b.get("proposer"):
        return "its proposer is not its key's account"
    if not hdr.valid_signature():
        return "the proposer's signature is invalid"
    return None


def _vote_problem(b: Mapping[str, Any], vote: Any) -> str | None:
    from honest.schema import Vote

    if not isinstance(vote, dict):
        return "a vote is not an object"
    v = Vote(int(b["height"]), bytes.fromhex(str(b["hash"])), bytes.fromhex(str(vote["voter_key"])),
             bytes.fromhex(str(vote["signature"])))
    return None if v.valid_signature() else "a vote's signature is invalid"


def schedule_violations(chain: list[dict[str, Any]], genesis_stakes: Mapping[str, int],
                        final_stakes: Mapping[str, int] | None = None) -> tuple[list[dict[str, Any]], int, str]:
    """Re-run the leader schedule over a finalised chain: (blocks proposed out of turn, blocks checked, why the rest
    could not be checked or "").

    Stakes evolve as the chain says: a bond adds its amount to the sender's stake, a slash burns the offender's
    (the transaction's ``offender`` field; without it, the one staker whose stake is 0 in ``final_stakes``, the
    final ledger; when that is ambiguous, the schedule is not re-run past the slash).
    """
    stakes = {a: s for a, s in genesis_stakes.items() if s > 0}
    parent = GENESIS_HASH
    bad: list[dict[str, Any]] = []
    for n, block in enumerate(chain):
        slot = int(block.get("slot", 0))
        expected = leader(stakes, parent, slot)
        if block.get("proposer") != expected:
            bad.append({"height": block.get("height"), "slot": slot, "hash": block.get("hash"),
                        "proposer": block.get("proposer"), "leader": expected})
        for t in block.get("txs", []):
            kind = t.get("kind")
            if kind == TX_BOND:
                sender = str(t.get("sender"))
                stakes[sender] = stakes.get(sender, 0) + int(t.get("amount", 0))
            elif kind == TX_SLASH:
                offender = t.get("offender")
                if not isinstance(offender, str) and final_stakes is not None:
                    gone = [a for a in stakes if final_stakes.get(a, 0) <= 0]
                    offender = gone[0] if len(gone) == 1 else None
                if not isinstance(offender, str):
                    return bad, n + 1, f"a slash at height {block.get('height')} does not name its offender"
                stakes.pop(offender, None)
        parent = str(block.get("hash"))
    return bad, len(chain), ""


__all__ = ["GENESIS_HASH", "leader", "schedule_violations", "state_problem"]
