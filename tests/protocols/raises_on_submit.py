"""Broken on purpose: simplechain whose validators raise on a submitted transfer of an amount divisible by 7.

``arena conform`` must fail exactly "handlers never raise": the arena's guard records each error (``node_error``,
the ``wire`` summary's ``handler_errors``) and the node goes on; the other validators take those transfers (the
light node hands each to two), so nothing else breaks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ipv8.lazy_community import lazy_wrapper

from honest.schema import SubmitTx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_raises_on_submit")


class Touchy(sc.Validator):  # type: ignore[name-defined,misc]
    @lazy_wrapper(SubmitTx)
    def on_submit(self, peer: Any, msg: SubmitTx) -> None:
        if msg.tx.amount % 7 == 0:
            raise ArithmeticError(f"amount {msg.tx.amount} confuses our fee table")
        self.add_tx(msg.tx, peer)


class RaisesOnSubmit(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "raises_on_submit"

    def create_node(self, node: Any) -> Any:
        if node.role != "validator":
            return super().create_node(node)
        return Touchy(sc.SimpleSettings(my_peer=sc.Peer(node.key), endpoint=node.endpoint, network=sc.Network(),
                                        max_peers=len(node.genesis.names), node=node))
