"""Light client quorum: light nodes and merchants ask validators chosen by stake and trust only a stake quorum.

The honest light node asks whoever its peer table calls a validator, and a merchant delivers on the first answer it
likes. With this defense they ask only validators staked at genesis (drawn by stake), ignore answers from anybody
else, and a merchant delivers only when validators holding more than ``quorum`` of all stake agree that the
payment is included (``depth`` blocks deep) or finalized.
"""

from __future__ import annotations

from typing import Any, Literal

from arena import NodeContext, Params, Plugin, TxStatus, hookimpl
from honest.schema import account_of


class LightClientQuorumParams(Params):
    quorum: float = 0.5  # share of the total stake that must agree
    need: Literal["included", "finalized"] = "included"
    depth: int = 1


class LightClientQuorum(Plugin):
    """Query validators by stake; deliver on a stake-weighted quorum, not on whoever answers first."""

    name = "light_client_quorum"
    team = "blue"
    Params = LightClientQuorumParams

    def __init__(self, node: NodeContext, params: LightClientQuorumParams) -> None:
        super().__init__(node, params)
        self.params: LightClientQuorumParams = params
        self.stakes: dict[bytes, int] = {}
        self.answers: dict[bytes, dict[bytes, tuple[int, int]]] = {}  # tx id -> validator -> (status, confirmations)

    def stake(self, public_key: bytes) -> int:
        return self.stakes.get(account_of(public_key), 0)

    @hookimpl
    def arena_genesis(self, node: NodeContext, stakes: dict[bytes, int]) -> None:
        self.stakes = stakes

    @hookimpl
    def arena_select_peers(self, node: NodeContext, purpose: str, peers: list[Any]) -> list[Any] | None:
        if node.role == "validator" or purpose == "gossip":
            return None
        staked = [p for p in peers if self.stake(p.public_key) > 0]  # weighted draw without replacement:
        return sorted(staked, key=lambda p: -node.rng.random() ** (1 / self.stake(p.public_key)))

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        if node.role == "validator" or message.kind not in ("TxStatusReply", "BalanceReply"):
            return
        if self.stake(message.sender) <= 0:
            message.drop = True
        elif message.kind == "TxStatusReply":
            p = message.payload
            self.answers.setdefault(p.tx_id, {})[account_of(message.sender)] = (p.status, p.confirmations)

    @hookimpl
    def arena_payment_confirmed(self, node: NodeContext, payment: Any) -> bool | None:
        finalized_only = self.params.need == "finalized"
        agree = sum(self.stakes.get(v, 0) for v, (status, conf) in self.answers.get(payment.tx_id, {}).items()
                    if status == TxStatus.FINALIZED
                    or (not finalized_only and status == TxStatus.INCLUDED and conf >= self.params.depth))
        return agree > self.params.quorum * sum(self.stakes.values())
