"""The conformance kit (``arena conform PROTOCOL``): does a team's own blockchain play by the arena's rules?

A few short simulator battles (:mod:`arena.conform.battles`) run the protocol under test; pure checks
(:mod:`arena.conform.checks`) read their run directories the way the referee does and say pass or fail with the
evidence (:mod:`arena.conform.table` prints them). ``honest`` runs the reference node through the public protocol
API (:class:`arena.conform.honest_api.HonestViaApi`), the path every team's protocol takes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from arena.conform.battles import BATTLES, BattleRun, run_battle_named
from arena.conform.checks import (
    CheckResult,
    check_chain,
    check_crash_restart,
    check_double_spend,
    check_handlers,
    check_supply,
    check_wire,
)
from arena.protocols.base import WorldProtocol

#: The kit: each check's name, the check, and the one battle it reads; then the wire and handler checks, which
#: read them all.
SINGLE: tuple[tuple[str, Callable[[Path], CheckResult], str], ...] = (
    ("transfers conserve supply", check_supply, "transfers"),
    ("chain verifies", check_chain, "transfers"),
    ("double spend is judged", check_double_spend, "double_spend"),
    ("crash and restart", check_crash_restart, "crash_restart"),
)
WIRE = "wire schema only"
HANDLERS = "handlers never raise"
CHECK_NAMES = (*(name for name, _, _ in SINGLE), WIRE, HANDLERS)


def protocol_factory(ref: str) -> Callable[[], WorldProtocol]:
    """A maker of fresh world protocols for ``ref`` (``honest``, a file, an installed name, ``module:Class``);
    raises :class:`arena.protocols.registry.ProtocolError` (one line) for a bad reference."""
    from arena.protocols.hosted import HostedProtocol
    from arena.protocols.registry import ProtocolError, protocol_class, resolve

    if ref == "honest":
        from arena.conform.honest_api import HonestViaApi

        return lambda: HostedProtocol(HonestViaApi(), "honest")
    cls = protocol_class(ref)
    if cls is None:  # another built-in (pingpong): runs as it is, and fails the checks it cannot pass
        return lambda: resolve(ref)
    try:
        cls()
    except Exception as exc:
        raise ProtocolError(f"protocol {ref!r}: {cls.__name__}() failed: {type(exc).__name__}: {exc}") from None
    return lambda: HostedProtocol(cls(), ref)


def run_checks(runs: dict[str, BattleRun]) -> list[CheckResult]:
    """Every check of the kit over finished battles (a crashed battle fails the checks that read it)."""
    out: list[CheckResult] = []
    for name, fn, battle in SINGLE:
        run = runs[battle]
        out.append(CheckResult(name, battle, False, run.error) if run.error else fn(run.path))
    crashed = [r for r in runs.values() if r.error]
    for name, check in ((WIRE, check_wire), (HANDLERS, check_handlers)):  # these read every battle
        if crashed:
            out.append(CheckResult(name, ", ".join(runs), False, f"{crashed[0].name}: {crashed[0].error}"))
        else:
            out.append(check([r.path for r in runs.values()]))
    return out


def conform(ref: str, out_root: Path, seed: int | None = None,
            on_battle: Callable[[str], None] | None = None) -> list[CheckResult]:
    """Run the kit's battles for protocol ``ref`` into ``out_root/<battle>`` and check them."""
    make = protocol_factory(ref)
    runs: dict[str, BattleRun] = {}
    for name in BATTLES:
        if on_battle is not None:
            on_battle(name)
        runs[name] = run_battle_named(name, make, out_root, seed)
    return run_checks(runs)


__all__ = ["CHECK_NAMES", "HANDLERS", "SINGLE", "WIRE", "BattleRun", "CheckResult", "conform", "protocol_factory",
           "run_checks"]
