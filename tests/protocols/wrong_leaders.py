"""Broken on purpose: simplechain that declares the stake-weighted leader schedule (``leader_schedule = "stake"``)
but takes turns round robin instead.

The referee re-runs the declared schedule and finds blocks proposed out of turn; ``arena conform`` must fail
exactly "chain verifies", and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_wrong_leaders")


def round_robin(stakes: Any, parent: bytes, slot: int) -> bytes:
    accounts = sorted(a for a, s in stakes.items() if s > 0)
    return bytes(accounts[slot % len(accounts)])


sc.leader = round_robin  # type: ignore[attr-defined] # the copy's validators pick and check leaders by this name


class WrongLeaders(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "wrong_leaders"
    leader_schedule = "stake"  # the claim the referee checks
