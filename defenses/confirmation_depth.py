"""Merchants deliver only once a payment is final (or buried ``depth`` blocks deep), never on a mere sighting."""

from __future__ import annotations

from typing import Literal

from arena import NodeContext, Params, Plugin, hookimpl


class ConfirmationDepthParams(Params):
    mode: Literal["finality", "depth"] = "finality"
    depth: int = 3


class ConfirmationDepth(Plugin):
    """Deliver goods only after finality (default) or k confirmations."""

    name = "confirmation_depth"
    team = "blue"
    Params = ConfirmationDepthParams

    def __init__(self, node: NodeContext, params: ConfirmationDepthParams) -> None:
        super().__init__(node, params)
        self.params: ConfirmationDepthParams = params

    @hookimpl
    def arena_payment_confirmed(self, node: NodeContext, payment: object) -> bool | None:
        status = getattr(payment, "status", "unknown")
        if self.params.mode == "finality":
            return status == "finalized"
        return status == "finalized" or (status == "included" and getattr(payment, "confirmations", 0)
                                         >= self.params.depth)
