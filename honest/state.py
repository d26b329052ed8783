"""The ledger state and the transaction rules: the one place that decides whether a transaction may apply.

Everything here is pure and deterministic: every validator that applies the same transactions to the same state
reaches the same ``state_root``. Money is integers only. Signatures of transactions are NOT checked here (the caller
checks them once, with a cache); signatures *inside* transactions (channel states, slashing evidence) are, through an
injectable ``verify`` callable so that callers can share a cache.

Channel rules (single-funded: only party ``a`` deposits, ``b`` can receive):

* ``CHANNEL_OPEN``: sender = a, receiver = b, amount = deposit, data = 32-byte fresh channel id + b's public key.
* ``CHANNEL_CLOSE``: data = a ``ChannelState`` signed by both; pays out at once.
* ``CHANNEL_FORCE_CLOSE``: a party publishes a both-signed state (or, party a only, data = the bare channel id for the
  opening state, so that a can recover a deposit when b never signed anything); the channel is ``closing`` for the
  dispute window.
* ``CHANNEL_DISPUTE``: during the window, anyone but the closer (the other party, or a watchtower acting for it)
  publishes a both-signed state with a higher ``seq``: the closer tried to cheat, so the whole deposit goes to the
  other party at once. The disputer pays only the fee.
* ``settle_channels``: closing channels whose window expired pay out the published balances.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .schema import (
    TX_BOND,
    TX_CHANNEL_CLOSE,
    TX_CHANNEL_DISPUTE,
    TX_CHANNEL_FORCE_CLOSE,
    TX_CHANNEL_OPEN,
    TX_KINDS,
    TX_SLASH,
    TX_TRANSFER,
    BlockHeader,
    ChannelState,
    Evidence,
    Tx,
    Vote,
    account_of,
    sha256,
    verify,
)

Verifier = Callable[[bytes, bytes, bytes], bool]

#: ``verify`` memoised: it is a pure function of its arguments, and the same channel states and evidence are checked
#: by every block that carries them and by every fork.
cached_verify: Verifier = functools.lru_cache(maxsize=1 << 16)(verify)

# reason strings (check_tx / apply_tx)
UNKNOWN_KIND = "unknown_kind"
STALE_NONCE = "stale_nonce"  # nonce already used: a replay
FUTURE_NONCE = "future_nonce"  # a gap: an earlier transaction of the sender is missing
ZERO_AMOUNT = "zero_amount"
BAD_AMOUNT = "bad_amount"  # a non-zero amount on a kind that moves no amount (close, dispute, slash)
SELF_TRANSFER = "self_transfer"
OVERDRAFT = "overdraft"

AMOUNT_KINDS = frozenset({TX_TRANSFER, TX_BOND, TX_CHANNEL_OPEN})
CHANNEL_ID_LEN = 32

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
_STATUS_CODE = {OPEN: 0, CLOSING: 1, CLOSED: 2}
_NO_ACCOUNT = bytes(20)


@dataclass(slots=True)
class Account:
    balance: int = 0
    nonce: int = 0
    stake: int = 0


@dataclass(slots=True)
class ChannelRecord:
    """An on-chain channel. ``key_a``/``key_b`` are the parties' public keys, needed to check state signatures."""

    a: bytes
    b: bytes
    deposit_a: int
    deposit_b: int = 0
    status: str = OPEN
    close_seq: int = 0
    close_balance_a: int = 0
    close_balance_b: int = 0
    close_height: int = 0
    closer: bytes | None = None
    key_a: bytes = b""
    key_b: bytes = b""

    @property
    def locked(self) -> int:
        """Funds this channel holds out of the accounts (zero once closed)."""
        return self.deposit_a + self.deposit_b if self.status != CLOSED else 0

    def encode(self) -> bytes:
        return (self.a + self.b + struct.pack(">QQBQQQQ", self.deposit_a, self.deposit_b, _STATUS_CODE[self.status],
                                              self.close_seq, self.close_balance_a, self.close_balance_b,
                                              self.close_height)
                + (self.closer or _NO_ACCOUNT) + struct.pack(">H", len(self.key_a)) + self.key_a
                + struct.pack(">H", len(self.key_b)) + self.key_b)


class LedgerState:
    """Accounts, channels and the supply counters. ``supply() == genesis_supply + minted - burned`` always holds."""

    def __init__(self, verify: Verifier | None = None) -> None:
        self.accounts: dict[bytes, Account] = {}
        self._owned: set[bytes] = set()  # accounts whose Account object only this state holds (copy-on-write)
        self.channels: dict[bytes, ChannelRecord] = {}
        self.minted = 0
        self.burned = 0
        self.genesis_supply = 0
        self.verify: Verifier = verify or cached_verify

    # -- construction --------------------------------------------------------------------------------------------
    @classmethod
    def genesis(cls, balances: Mapping[bytes, int], stakes: Mapping[bytes, int],
                verify: Verifier | None = None) -> LedgerState:
        """Initial balances and bonded stakes (stake is separate from balance)."""
        state = cls(verify)
        for acct, amount in balances.items():
            state._acct(acct).balance += _non_negative(amount)
        for acct, amount in stakes.items():
            state._acct(acct).stake += _non_negative(amount)
        state.genesis_supply = sum(balances.values()) + sum(stakes.values())
        return state

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Mapping[str, int]], verify: Verifier | None = None) -> LedgerState:
        """Rebuild the account table saved by ``snapshot()`` (no channels; its supply becomes the genesis supply)."""
        state = cls(verify)
        for acct_hex, row in snapshot.items():
            state.accounts[bytes.fromhex(acct_hex)] = Account(_non_negative(row.get("balance", 0)),
                                                              _non_negative(row.get("nonce", 0)),
                                                              _non_negative(row.get("stake", 0)))
        state.genesis_supply = state.supply()
        return state

    def copy(self) -> LedgerState:
        """An independent copy (one per block, so it must be cheap: accounts are copied on write). Closed channels
        never change again, so they are shared."""
        other = LedgerState.__new__(LedgerState)
        # Copy-on-write: both states now share every Account object; ``_acct`` copies one before changing it.
        other.accounts = dict(self.accounts)
        other._owned = set()
        self._owned = set()
        other.channels = {k: c if c.status == CLOSED else replace(c) for k, c in self.channels.items()}
        other.minted = self.minted
        other.burned = self.burned
        other.genesis_supply = self.genesis_supply
        other.verify = self.verify
        return other

    # -- queries -------------------------------------------------------------------------------------------------
    def balance(self, acct: bytes) -> int:
        a = self.accounts.get(acct)
        return a.balance if a else 0

    def nonce(self, acct: bytes) -> int:
        a = self.accounts.get(acct)
        return a.nonce if a else 0

    def stake(self, acct: bytes) -> int:
        a = self.accounts.get(acct)
        return a.stake if a else 0

    def stakes(self) -> dict[bytes, int]:
        return {k: a.stake for k, a in self.accounts.items() if a.stake > 0}

    def total_stake(self) -> int:
        return sum(a.stake for a in self.accounts.values())

    def supply(self) -> int:
        """All money in existence: balances, stakes and funds locked in open or closing channels."""
        return (sum(a.balance + a.stake for a in self.accounts.values())
                + sum(c.locked for c in self.channels.values()))

    def state_root(self) -> bytes:
        """SHA-256 over a canonical encoding. All-zero accounts are left out: they equal absent ones."""
        parts = [b"arena-state\x01", struct.pack(">QQQ", self.genesis_supply, self.minted, self.burned)]
        for acct in sorted(self.accounts):
            a = self.accounts[acct]
            if a.balance or a.nonce or a.stake:
                parts.append(acct + struct.pack(">QQQ", a.balance, a.nonce, a.stake))
        parts.append(b"channels")
        for cid in sorted(self.channels):
            parts.append(cid + self.channels[cid].encode())
        return sha256(b"".join(parts))

    def snapshot(self) -> dict[str, dict[str, int]]:
        """The account table as plain data, for storage and printing (accounts with any non-zero field, sorted)."""
        return {acct.hex(): {"balance": a.balance, "nonce": a.nonce, "stake": a.stake}
                for acct, a in sorted(self.accounts.items()) if a.balance or a.nonce or a.stake}

    # -- rules ---------------------------------------------------------------------------------------------------
    def check_tx(self, tx: Tx) -> str | None:
        """Why ``tx`` cannot apply now, or None. The transaction's own signature is the caller's job."""
        return self._check(tx)[0]

    def apply_tx(self, tx: Tx, proposer: bytes | None = None, height: int = 0) -> str | None:
        """Check, then apply: the fee goes to ``proposer`` (burned if None). Returns the reason on refusal."""
        reason, parsed = self._check(tx)
        if reason is not None:
            return reason
        sender = self._acct(tx.sender)
        kind = tx.kind
        sender.balance -= tx.amount + tx.fee
        sender.nonce += 1
        if proposer is None:
            self.burned += tx.fee
        else:
            self._acct(proposer).balance += tx.fee
        if kind == TX_TRANSFER:
            self._acct(tx.receiver).balance += tx.amount
        elif kind == TX_BOND:
            sender.stake += tx.amount
        elif kind == TX_CHANNEL_OPEN:
            self.channels[tx.data[:CHANNEL_ID_LEN]] = ChannelRecord(
                a=tx.sender, b=tx.receiver, deposit_a=tx.amount, key_a=tx.sender_key, key_b=tx.data[CHANNEL_ID_LEN:])
        elif kind == TX_CHANNEL_CLOSE:
            assert isinstance(parsed, ChannelState)
            chan = self.channels[parsed.channel_id]
            self._record_close(chan, parsed, height, tx.sender)
            self._pay_out(chan)
        elif kind == TX_CHANNEL_FORCE_CLOSE:
            assert isinstance(parsed, ChannelState)
            chan = self.channels[parsed.channel_id]
            self._record_close(chan, parsed, height, tx.sender)
            chan.status = CLOSING
        elif kind == TX_CHANNEL_DISPUTE:
            assert isinstance(parsed, ChannelState)
            chan = self.channels[parsed.channel_id]
            # the closer published an outdated state: the wronged party takes the whole channel
            chan.close_seq = parsed.seq
            chan.close_balance_a = chan.deposit_a + chan.deposit_b if chan.closer == chan.b else 0
            chan.close_balance_b = chan.deposit_a + chan.deposit_b - chan.close_balance_a
            self._pay_out(chan)
        elif kind == TX_SLASH:
            assert isinstance(parsed, bytes)
            offender = self._acct(parsed)
            self.burned += offender.stake
            offender.stake = 0
        return None

    def apply_reward(self, proposer: bytes, reward: int) -> None:
        """Mint the block reward."""
        self._acct(proposer).balance += _non_negative(reward)
        self.minted += reward

    def settle_channels(self, height: int, dispute_window: int) -> list[bytes]:
        """Pay out closing channels whose dispute window has expired at ``height``; returns their ids (sorted)."""
        done: list[bytes] = []
        for cid in sorted(self.channels):
            chan = self.channels[cid]
            if chan.status == CLOSING and height >= chan.close_height + dispute_window:
                self._pay_out(chan)
                done.append(cid)
        return done

    # -- internals -----------------------------------------------------------------------------------------------
    def _acct(self, acct: bytes) -> Account:
        """The account, writable by this state (every mutation goes through here)."""
        a = self.accounts.get(acct)
        if a is None:
            a = self.accounts[acct] = Account()
            self._owned.add(acct)
        elif acct not in self._owned:
            a = self.accounts[acct] = Account(a.balance, a.nonce, a.stake)
            self._owned.add(acct)
        return a

    def _check(self, tx: Tx) -> tuple[str | None, Any]:
        """(reason, parsed data): channel kinds return the ChannelState, TX_SLASH the offender's account."""
        kind = tx.kind
        if kind not in TX_KINDS:
            return UNKNOWN_KIND, None
        sender_id = tx.sender
        current = self.nonce(sender_id)
        if tx.nonce <= current:
            return STALE_NONCE, None
        if tx.nonce > current + 1:
            return FUTURE_NONCE, None
        if kind in AMOUNT_KINDS:
            if tx.amount <= 0:
                return ZERO_AMOUNT, None
        elif tx.amount != 0:
            return BAD_AMOUNT, None
        if kind == TX_TRANSFER and tx.receiver == sender_id:
            return SELF_TRANSFER, None
        if self.balance(sender_id) < tx.amount + tx.fee:
            return OVERDRAFT, None
        if kind == TX_CHANNEL_OPEN:
            return self._check_open(tx), None
        if kind in (TX_CHANNEL_CLOSE, TX_CHANNEL_FORCE_CLOSE, TX_CHANNEL_DISPUTE):
            return self._check_channel(tx)
        if kind == TX_SLASH:
            return self._check_slash(tx)
        return None, None

    def _check_open(self, tx: Tx) -> str | None:
        if tx.receiver == tx.sender:
            return "self_channel"
        if len(tx.data) <= CHANNEL_ID_LEN:
            return "bad_channel_data"
        if tx.data[:CHANNEL_ID_LEN] in self.channels:
            return "channel_exists"
        if account_of(tx.data[CHANNEL_ID_LEN:]) != tx.receiver:
            return "bad_channel_key"
        return None

    def _check_channel(self, tx: Tx) -> tuple[str | None, Any]:
        sender = tx.sender
        if tx.kind == TX_CHANNEL_FORCE_CLOSE and len(tx.data) == CHANNEL_ID_LEN:
            # party a reclaims a channel b never signed anything in: the opening state (seq 0, all to a)
            chan = self.channels.get(tx.data)
            if chan is None:
                return "unknown_channel", None
            if chan.status != OPEN:
                return "channel_not_open", None
            if sender != chan.a:
                return "not_a_party", None
            return None, ChannelState(tx.data, 0, chan.deposit_a, chan.deposit_b, b"", b"")
        try:
            state = ChannelState.from_bytes(tx.data)
        except Exception:
            return "bad_channel_state", None
        chan = self.channels.get(state.channel_id)
        if chan is None:
            return "unknown_channel", None
        if tx.kind == TX_CHANNEL_DISPUTE:
            if chan.status != CLOSING:
                return "channel_not_closing", None
        elif chan.status != OPEN:
            return "channel_not_open", None
        if sender not in (chan.a, chan.b) and tx.kind != TX_CHANNEL_DISPUTE:
            return "not_a_party", None
        if tx.kind == TX_CHANNEL_DISPUTE and sender == chan.closer:
            return "not_counterparty", None
        msg = state.canonical()
        if not (self.verify(chan.key_a, msg, state.sig_a) and self.verify(chan.key_b, msg, state.sig_b)):
            return "bad_channel_signature", None
        if state.balance_a + state.balance_b != chan.deposit_a + chan.deposit_b:
            return "bad_channel_balance", None
        if tx.kind == TX_CHANNEL_DISPUTE and state.seq <= chan.close_seq:
            return "stale_dispute", None
        return None, state

    def _check_slash(self, tx: Tx) -> tuple[str | None, Any]:
        """Evidence 1: two votes by one key for one height; 2: two block headers by one key for one slot."""
        try:
            ev = Evidence.from_bytes(tx.data)
            if ev.what == 1:
                v1, v2 = Vote.from_bytes(ev.first), Vote.from_bytes(ev.second)
                key, same_round = v1.voter_key, v1.height == v2.height and v1.voter_key == v2.voter_key
                distinct = v1.block_hash != v2.block_hash
                signed = (self.verify(key, v1.canonical(), v1.signature)
                          and self.verify(key, v2.canonical(), v2.signature))
            elif ev.what == 2:
                h1, h2 = BlockHeader.from_bytes(ev.first), BlockHeader.from_bytes(ev.second)
                key, same_round = h1.proposer_key, h1.slot == h2.slot and h1.proposer_key == h2.proposer_key
                distinct = h1.block_hash != h2.block_hash
                signed = (self.verify(key, h1.canonical(), h1.signature)
                          and self.verify(key, h2.canonical(), h2.signature))
            else:
                return "bad_evidence", None
        except Exception:
            return "bad_evidence", None
        if not (same_round and distinct and signed):
            return "bad_evidence", None
        offender = account_of(key)
        if self.stake(offender) <= 0:
            return "nothing_to_slash", None
        return None, offender

    @staticmethod
    def _record_close(chan: ChannelRecord, state: ChannelState, height: int, closer: bytes) -> None:
        chan.close_seq = state.seq
        chan.close_balance_a = state.balance_a
        chan.close_balance_b = state.balance_b
        chan.close_height = height
        chan.closer = closer

    def _pay_out(self, chan: ChannelRecord) -> None:
        self._acct(chan.a).balance += chan.close_balance_a
        self._acct(chan.b).balance += chan.close_balance_b
        chan.status = CLOSED


def _non_negative(amount: int) -> int:
    if amount < 0:
        raise ValueError(f"negative amount {amount}")
    return amount
