"""The conformance kit's battles: short, small simulator runs (a few CPU seconds each) that the checks read.

Each battle is a scenario (built here, not read from a file) run with the protocol under test. A battle that
crashes is kept as a :class:`BattleRun` with its error: the checks that read it fail with that error, the others
still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.protocols.base import WorldProtocol
from arena.scenario.model import Scenario, scenario_from_dict

#: The validator the crash battle takes down and brings back (not one of the bootstrap validators 0..2).
CRASHED = 3
CRASH_AT, RESTART_AT = 8.0, 14.0

_COMMON: dict[str, Any] = {
    "seed": 1, "validators": 4, "genesis_balance": 1000,
    "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10},
    "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.03, "jitter": 0.02}},
}

#: battle name -> what it is for, and its scenario (beyond ``_COMMON``).
BATTLES: dict[str, tuple[str, dict[str, Any]]] = {
    "transfers": ("honest transfers between 6 light nodes, no attack", {
        "duration": 25, "settle": 5, "light_nodes": 6,
        "workload": {"rate": 3, "amount": [1, 20], "fee": 1, "start": 1},
    }),
    "double_spend": ("the built-in double_spend red plugin against a zero-confirmation merchant", {
        "duration": 30, "settle": 8,
        "light_nodes": [{}, {}, {}, {}, {}, {"team": "red", "balance": 1000, "plugins": [
            {"name": "double_spend", "params": {"attempts": 3, "start": 4, "interval": 5}}]}],
        "merchants": [{"price": 50}], "light": {"confirmations": 0},
        "workload": {"rate": 2, "amount": [1, 20], "fee": 1, "purchases": 0.1},
        "teams": {"red": {"budget": {"sybils": 1}}},
    }),
    "crash_restart": (f"validator{CRASHED} crashes at {CRASH_AT:g} s and restarts at {RESTART_AT:g} s", {
        "duration": 30, "settle": 5, "light_nodes": 5,
        "workload": {"rate": 2, "amount": [1, 20], "fee": 1},
        "events": [{"at": CRASH_AT, "crash": CRASHED}, {"at": RESTART_AT, "restart": CRASHED}],
    }),
}


def scenario(name: str, seed: int | None = None) -> Scenario:
    """The scenario of battle ``name`` (``seed`` overrides the kit's)."""
    data = {"name": f"conform_{name}", "description": BATTLES[name][0], **_COMMON, **BATTLES[name][1]}
    if seed is not None:
        data["seed"] = seed
    return scenario_from_dict(data)


@dataclass
class BattleRun:
    """One battle's run directory, or why the battle did not finish (``error``)."""

    name: str
    path: Path
    error: str | None = None
    result: dict[str, Any] | None = None


def run_battle_named(name: str, make_protocol: Callable[[], WorldProtocol], out_root: Path,
                     seed: int | None = None) -> BattleRun:
    """Run battle ``name`` with a fresh protocol instance into ``out_root/name``; never raises for the protocol's
    own failures (they are the battle's ``error``)."""
    from arena.plugin_host.registry import default_registry
    from arena.sim.runner import run_battle

    sc = scenario(name, seed)
    path = out_root / name
    try:
        outcome = run_battle(sc, out_dir=path, registry=default_registry(), report=False,
                             protocol=make_protocol())
    except Exception as exc:  # the protocol under test crashed the world: that is the finding
        first = (str(exc).strip().splitlines() or [""])[0]
        return BattleRun(name, path, f"the battle crashed: {type(exc).__name__}: {first}"[:300])
    return BattleRun(name, path, None, outcome.result)


__all__ = ["BATTLES", "CRASHED", "CRASH_AT", "RESTART_AT", "BattleRun", "run_battle_named", "scenario"]
