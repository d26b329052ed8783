"""The light client: sign and submit transactions, follow headers, and ask validators for balances.

A light node trusts no single validator: it asks several and takes what a majority of those asked agree on. It keeps
its own transactions until the agreed ledger shows their nonce used, and hands them to a validator again after
``RESUBMIT_AFTER`` (UDP loses packets). Validators and merchants use the same helpers to pick validators and sign
transactions (channel transactions, purchases).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..messages import Address, PeerInfo
from ..schema import TX_TRANSFER, BalanceQuery, BalanceReply, HeaderAnnounce, SubmitTx, Tx, TxAck
from ..wire import checked
from .base import NodeBase
from .settings import VALIDATOR

RESUBMIT_AFTER = 5.0  # a light node hands an unconfirmed transaction of its own to a validator again after this
HEADER_SLOT_SLACK = 2  # a header may be this many slots ahead of the node's own slot clock
HEADERS_KEPT = 256  # recent headers a light node remembers (a thousand light nodes x 4,096 headers was gigabytes)


@dataclass
class BalanceQueryState:
    account: bytes
    asked: int
    answers: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    done: bool = False
    purpose: str = "query"  # query (asked for), resubmit or resync (our own nonce bookkeeping)


class LightClient(NodeBase):
    """Transactions, headers and balance queries of a light node."""

    def validators(self) -> list[PeerInfo]:
        return self.peers.by_role(VALIDATOR)

    def pick_validators(self, purpose: str, count: int) -> list[PeerInfo]:
        vals = self.validators()
        if self.env.has_hook("arena_select_peers"):
            chosen = self.env.hooks.select_peers(purpose=purpose, peers=vals)
            if chosen is not None:
                return list(chosen)[:count]
        return self.env.rng.sample(vals, min(count, len(vals)))

    def make_tx(self, receiver: bytes, amount: int, fee: int, kind: int = TX_TRANSFER, data: bytes = b"") -> Tx:
        tx = Tx.create(self.key, kind, receiver, amount, self.next_nonce, fee, data)
        self.next_nonce += 1
        return tx

    def submit(self, tx: Tx) -> bool:
        """Hand a transaction to one validator (kept until the ledger shows its nonce used). False if no validator
        is known yet."""
        if tx.sender == self.account:
            self.unconfirmed[tx.nonce] = (tx, self.env.now())
        targets = self.pick_validators("submit", 1)
        if not targets:
            return False
        self.send_to(targets[0].address, targets[0].public_key, SubmitTx(tx))
        return True

    def resubmit_unconfirmed(self) -> None:
        """UDP loses packets: a transaction of ours whose nonce the agreed ledger has not used after a while is
        handed to a validator again (validators ignore duplicates). We learn the used nonce by a balance query."""
        if not self.unconfirmed:
            return
        now = self.env.now()
        for nonce, (tx, sent) in sorted(self.unconfirmed.items()):
            if now - sent >= RESUBMIT_AFTER:
                self.unconfirmed[nonce] = (tx, now)
                targets = self.pick_validators("submit", 1)
                if targets:
                    self.send_to(targets[0].address, targets[0].public_key, SubmitTx(tx))
        self.query_balance(purpose="resubmit")

    def pay(self, receiver: bytes, amount: int, fee: int, purpose: str = "transfer") -> Tx | None:
        """The workload's entry point: an honest intent, recorded before it is sent."""
        if not self.validators():
            return None
        tx = self.make_tx(receiver, amount, fee)
        self.env.events.intent(tx, purpose)
        self.submit(tx)
        return tx

    @checked(TxAck)
    def on_tx_ack(self, key: bytes, src: Address, msg: TxAck) -> None:
        if not msg.accepted:
            self.env.record("tx_refused", node=self.env.index, tx=msg.tx_id.hex(), reason=msg.reason[:64])

    def query_balance(self, account: bytes | None = None, purpose: str = "query") -> int:
        """Ask several validators for a balance; an answer counts once a majority of those asked agree."""
        acct = account or self.account
        vals = self.pick_validators("query", self.config.query_validators)
        self.query_seq += 1
        qid = self.query_seq
        self.queries[qid] = BalanceQueryState(acct, len(vals), purpose=purpose)
        for v in vals:
            self.send_to(v.address, v.public_key, BalanceQuery(qid, acct))
        return qid

    @checked(BalanceReply)
    def on_balance_reply(self, key: bytes, src: Address, msg: BalanceReply) -> None:
        q = self.queries.get(msg.query_id)
        if q is None or q.done or msg.account != q.account or key not in self.peers.peers:
            return
        q.answers[key] = (msg.balance, msg.nonce)
        tally = Counter(q.answers.values())
        (value, votes), = tally.most_common(1)
        if votes > self.config.majority * q.asked:
            q.done = True
            if q.account == self.account:
                if q.purpose == "query":
                    self.known_balance = value[0]
                # after a restart the nonce counter starts at 1: the agreed ledger says where we really are
                self.next_nonce = max(self.next_nonce, value[1] + 1)
                for used in [n for n in self.unconfirmed if n <= value[1]]:
                    del self.unconfirmed[used]
            self.env.record("balance", node=self.env.index, account=q.account.hex(), balance=value[0],
                            nonce=value[1], answers=len(q.answers), asked=q.asked, purpose=q.purpose)

    @checked(HeaderAnnounce)
    def on_header(self, key: bytes, src: Address, msg: HeaderAnnounce) -> None:
        header = msg.header
        if header.proposer not in self.validator_accounts:  # only the genesis stakers propose blocks
            self.count_drop("header_not_a_validator", "HeaderAnnounce")
            return
        # No block can be higher than its slot, nor from a slot the clock has not reached (with a little slack
        # for clock skew and latency): a validly signed header "at height 2^64-1" is a lie about the future.
        limit = self.now_slot() + HEADER_SLOT_SLACK
        if header.slot > limit or header.height > header.slot:
            self.count_drop("header_from_the_future", "HeaderAnnounce")
            return
        if not header.valid_signature():
            self.count_drop("bad_header", "HeaderAnnounce")
            return
        self.headers[header.block_hash] = header
        if len(self.headers) > HEADERS_KEPT:
            self.headers.pop(next(iter(self.headers)))
        self.best_header_height = max(self.best_header_height, header.height)
        self.channels.on_header(header, src, key)
