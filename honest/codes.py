"""The numeric codes that travel inside wire messages, named once so nobody has to read an attack to learn them.

A red team writing a ``TxStatusReply`` or an ``Announce`` needs to know that status 3 means finalised and role 0
means validator; these enums say so, the honest node uses them, and ``docs/reference/codes.md`` is generated from
them. They are ``IntEnum``: a member is the byte that goes on the wire, so ``status == TxStatus.FINALIZED`` holds
for a decoded plain ``int`` too. Plugins get them from ``arena`` (``from arena import TxStatus, Role``).
"""

from __future__ import annotations

from enum import IntEnum


class TxStatus(IntEnum):
    """What a validator says about a transaction, in its ``TxStatusReply``."""

    UNKNOWN = 0  # never seen, or forgotten
    PENDING = 1  # in the mempool, not in a block yet
    INCLUDED = 2  # in a block on the validator's head chain, not finalised yet
    FINALIZED = 3  # in a finalised block (consensus ``none``: applied to the ledger)
    REJECTED = 4  # refused by the ledger's rules or a plugin's veto

    @property
    def label(self) -> str:
        """The status as the merchant's ``PaymentStatus.status`` spells it (``"finalized"``)."""
        return self.name.lower()


class Role(IntEnum):
    """What a node claims to be when it announces itself (nobody checks the claim)."""

    VALIDATOR = 0  # proposes and votes if staked; answers balance, status and block queries
    LIGHT = 1  # holds an account, pays, follows headers, asks validators
    MERCHANT = 2  # sells goods for on-chain payments; otherwise acts like a light node

    @property
    def label(self) -> str:
        """The role as scenarios, reports and ``NodeContext.role`` spell it (``"validator"``)."""
        return self.name.lower()


class TxKind(IntEnum):
    """What a transaction does."""

    TRANSFER = 0  # move ``amount`` to ``receiver``
    BOND = 1  # lock ``amount`` of the sender's balance as validator stake
    CHANNEL_OPEN = 2  # lock ``amount`` into a channel with ``receiver``; data = channel id + receiver's key
    CHANNEL_CLOSE = 3  # cooperative close; data = a ChannelState signed by both
    CHANNEL_FORCE_CLOSE = 4  # unilateral close; data = a ChannelState signed by both; starts the dispute window
    CHANNEL_DISPUTE = 5  # a newer ChannelState during the window; the cheater loses the channel
    SLASH = 6  # data = Evidence of double signing; the offender's stake is burned


class ItemKind(IntEnum):
    """What a gossip item's ``data`` holds."""

    TX = 1  # an encoded Tx
    BLOCK = 2  # an encoded Block
    VOTE = 3  # an encoded Vote


class EvidenceKind(IntEnum):
    """Which double signing an ``Evidence``'s ``first`` and ``second`` prove."""

    VOTES = 1  # two Votes by one key for one height
    HEADERS = 2  # two BlockHeaders by one key for one slot


#: Every wire code enum, with the message fields that carry it (the reference and its test walk this).
WIRE_CODES: tuple[tuple[type[IntEnum], tuple[str, ...]], ...] = (
    (TxStatus, ("TxStatusReply.status",)),
    (Role, ("Announce.role", "PeerEntry.role")),
    (TxKind, ("Tx.kind",)),
    (ItemKind, ("GossipItem.kind",)),
    (EvidenceKind, ("Evidence.what",)),
)

__all__ = ["WIRE_CODES", "EvidenceKind", "ItemKind", "Role", "TxKind", "TxStatus"]
