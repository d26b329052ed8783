"""What a validator answers about its ledger: balances and nonces, and the status of a transaction.

Light nodes and merchants ask several validators and trust what a majority says (see :mod:`~honest.node.light`
and :mod:`~honest.node.purchases`); this is the answering side.
"""

from __future__ import annotations

from ..codes import TxStatus
from ..messages import Address
from ..schema import BalanceQuery, BalanceReply, TxStatusQuery, TxStatusReply
from ..wire import checked
from .base import NodeBase


class ValidatorQueries(NodeBase):
    """Balance and transaction-status queries, answered by a validator."""

    @checked(BalanceQuery)
    def on_balance_query(self, key: bytes, src: Address, msg: BalanceQuery) -> None:
        if self.role != "validator":
            return
        state = self.ledger if self.config.consensus == "none" else self.tree.state(self.head)
        assert state is not None
        height = 0 if self.config.consensus == "none" else self._height(self.head)
        self.send_to(src, key, BalanceReply(msg.query_id, msg.account, state.balance(msg.account),
                                            state.nonce(msg.account), height))

    @checked(TxStatusQuery)
    def on_tx_status_query(self, key: bytes, src: Address, msg: TxStatusQuery) -> None:
        if self.role != "validator":
            return
        status, height, conf = self.tx_status(msg.tx_id)
        self.send_to(src, key, TxStatusReply(msg.query_id, msg.tx_id, status, height, conf))

    def tx_status(self, tx_id: bytes) -> tuple[int, int, int]:
        """(status code, height, confirmations) of a transaction as this validator sees it."""
        # What the ledger holds wins over a later rejection (a replay of an applied transfer is rejected, but the
        # transfer itself stays applied).
        if self.config.consensus == "none":
            if self.ledger_has(tx_id):
                return TxStatus.FINALIZED, 0, 1
            return (TxStatus.REJECTED, 0, 0) if tx_id in self.rejected else (TxStatus.UNKNOWN, 0, 0)
        found = self.tree.confirmations(tx_id, self.head)
        if found is not None:
            height, conf = found
            return (TxStatus.FINALIZED if height <= self.tree.finalized_height else TxStatus.INCLUDED), height, conf
        if tx_id in self.mempool:
            return TxStatus.PENDING, 0, 0
        return (TxStatus.REJECTED, 0, 0) if tx_id in self.rejected else (TxStatus.UNKNOWN, 0, 0)

    def ledger_has(self, tx_id: bytes) -> bool:
        return tx_id in self.applied
