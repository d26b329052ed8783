"""Broken on purpose: simplechain whose ledger credits the receiver of every transfer one token too many.

``arena conform`` must fail exactly "transfers conserve supply" (the supply invariant and the referee's minting
check), and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_mints_on_transfer")


class MintingLedger(sc.Ledger):  # type: ignore[name-defined,misc]
    def apply(self, tx: Any, proposer: bytes) -> str | None:
        reason: str | None = super().apply(tx, proposer)
        if reason is None:
            self.balances[tx.receiver] += 1  # the bug: money from nowhere
        return reason


sc.Ledger = MintingLedger  # type: ignore[attr-defined] # the copy's validators build their ledgers from this name


class MintsOnTransfer(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "mints_on_transfer"
