"""Transaction intake on a validator: gossip received, transactions checked, kept in the ledger or the mempool.

A transaction arrives by gossip or as a ``SubmitTx`` from a light node. It is checked (signature, the
``arena_validate_transfer`` hook, the ledger's rules) and kept: in ``none`` consensus (course day 1) applied to the
ledger at once (future nonces held back), in ``pos`` put in the mempool for the next block. Gossip also carries
blocks and votes, which this module decodes and hands to :mod:`~honest.node.blocks` and
:mod:`~honest.node.finality`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from ..messages import Address
from ..schema import ITEM_BLOCK, ITEM_TX, ITEM_VOTE, Block, Frozen, Gossip, SubmitTx, Tx, TxAck, Vote, account_of
from ..wire import checked
from .base import NodeBase

_DECODED: OrderedDict[tuple[type, bytes], Any] = OrderedDict()


def decode_item(cls: type[Any], data: bytes) -> Any:
    """Decode a gossiped object, once per process for identical bytes: objects are immutable, and in the
    simulator every recipient of a broadcast would otherwise parse the same bytes again."""
    key = (cls, bytes(data))
    obj = _DECODED.get(key)
    if obj is None:
        obj = cls.from_bytes(data)
        _DECODED[key] = obj
        if len(_DECODED) > 20_000:
            _DECODED.popitem(last=False)
    return obj


def item_id(kind: int, obj: Frozen) -> bytes:
    """The gossip id of an object (what the gossip layer remembers as seen)."""
    return hashlib.sha256(bytes([kind]) + obj.to_bytes()).digest()


class TxIntake(NodeBase):
    """Gossip and transaction handling of a validator."""

    @checked(Gossip)
    def on_gossip(self, key: bytes, src: Address, msg: Gossip) -> None:
        if self.role != "validator" or (key not in self.peers.peers and account_of(key) not in self.validator_accounts):
            self.count_drop("not_a_peer", "Gossip")
            return
        for item in msg.items[:4096]:
            if not self.gossip.receive(item):
                continue
            try:
                if item.kind == ITEM_TX:
                    ok = self.accept_tx(decode_item(Tx, item.data), key)
                elif item.kind == ITEM_BLOCK:
                    ok = self.on_block(decode_item(Block, item.data), key, src)
                elif item.kind == ITEM_VOTE:
                    ok = self.on_vote(decode_item(Vote, item.data))
                else:
                    self.count_drop("unknown_item", "Gossip")
                    continue
            except (ValueError, KeyError, IndexError, OverflowError) as exc:
                self.count_drop("malformed_item", type(exc).__name__)
                continue
            except Exception as exc:  # the serializer's own PackError and friends
                if type(exc).__name__ in ("PackError", "error"):
                    self.count_drop("malformed_item", type(exc).__name__)
                    continue
                raise
            if ok:
                self.gossip.forward(item)

    def verify_tx(self, tx: Tx) -> bool:
        return tx.valid_signature()

    def accept_tx(self, tx: Tx, from_key: bytes | None) -> bool:
        """Validate a transaction; keep it (ledger or mempool). True if it is new and valid (gossip it on)."""
        tx_id = tx.tx_id
        if tx_id in self.rejected:
            return False
        if not self.verify_tx(tx):
            # Not cached by id: the id does not cover the signature, and a forged copy must not block the real one.
            self.bad_signatures += 1
            self.env.events.tx_rejected(tx_id, "bad_signature")
            return False
        if self.env.has_hook("arena_validate_transfer"):
            vetoes = self.env.hooks.validate_transfer(tx=tx)
            if vetoes:
                return self._reject(tx_id, f"veto:{vetoes[0]}")
        if self.config.consensus == "none":
            return self._apply_direct(tx)
        state = self.tree.state(self.head)
        assert state is not None
        reason = state.check_tx(tx)
        if reason is not None and reason != "future_nonce":
            return self._reject(tx_id, reason)
        if self.tree.tx_status(tx_id) != "unknown":
            return False
        self.arrival += 1
        reason = self.mempool.add(tx, self.arrival)
        if reason == "duplicate":
            return False
        if reason is not None:
            return self._reject(tx_id, reason)
        return True

    def _apply_direct(self, tx: Tx) -> bool:
        reason = self.ledger.apply_tx(tx, None)
        if reason == "future_nonce":
            held = self.held.setdefault(tx.sender, {})
            if len(held) < self.config.mempool_per_sender:
                held[tx.nonce] = tx
                return True
            return self._reject(tx.tx_id, "sender_cap")
        if reason is not None:
            return self._reject(tx.tx_id, reason)
        self.applied.add(tx.tx_id)
        self.ledger_dirty = True
        held = self.held.get(tx.sender, {})
        while held and self.ledger.nonce(tx.sender) + 1 in held:
            nxt = held.pop(self.ledger.nonce(tx.sender) + 1)
            if self.ledger.apply_tx(nxt, None) is None:
                self.applied.add(nxt.tx_id)
        return True

    def _reject(self, tx_id: bytes, reason: str) -> bool:
        self.rejected[tx_id] = reason
        if len(self.rejected) > 50_000:
            self.rejected.popitem(last=False)
        self.env.events.tx_rejected(tx_id, reason)
        return False

    @checked(SubmitTx)
    def on_submit_tx(self, key: bytes, src: Address, msg: SubmitTx) -> None:
        if self.role != "validator":
            self.count_drop("not_a_validator", "SubmitTx")
            return
        tx = msg.tx
        # A resubmission is checked again (the first copy may have been lost with an abandoned block); only a
        # transaction we still hold or have on chain counts as already accepted.
        held = tx.tx_id in self.mempool or tx.tx_id in self.applied or (
            self.config.consensus == "pos" and self.tree.confirmations(tx.tx_id, self.head) is not None)
        ok = True if held else self.accept_tx(tx, key)
        if not ok:  # an acceptance needs no answer: the light node learns the outcome from status queries
            self.send_to(src, key, TxAck(tx.tx_id, False, self.rejected.get(tx.tx_id, "duplicate")))
        if ok and not held:
            self.env.events.tx_accepted(tx)
            self.gossip.broadcast(ITEM_TX, tx.to_bytes())

