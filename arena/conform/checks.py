"""The conformance checks: pure functions over battles' run directories, each a pass or a fail with its evidence.

They read what the referee reads (``trace.jsonl`` and ``states/``, through :func:`arena.referee.history.
load_history`) and reuse the referee's own answers (invariants, checkers, story) instead of recomputing them
differently, so a protocol that passes is one the referee can judge.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.referee.checkers import (
    check_legitimate_leaders,
    check_minting,
    check_states_verified,
    judge_history,
    liveness_counts,
)
from arena.referee.history import History, load_history
from arena.referee.outcome import invariants


@dataclass(frozen=True)
class CheckResult:
    """One row of the table: the check, the battles it read, whether it passed, and the evidence in one line."""

    name: str
    battle: str
    passed: bool
    detail: str


def _fail(name: str, battle: str, detail: str) -> CheckResult:
    return CheckResult(name, battle, False, detail)


def _history(path: Path) -> tuple[History | None, str]:
    h = load_history(path)
    if not h.has_trace:
        return None, "no trace.jsonl: " + "; ".join(h.problems)
    if h.problems:
        return None, "damaged run files: " + "; ".join(h.problems)
    return h, ""


def _disbelieved(h: History) -> str:
    return "; ".join(f"{d['name']}: {d['reason']}" for d in h.disbelieved[:3])


# -- supply --------------------------------------------------------------------------------------------------------
def check_supply(path: Path) -> CheckResult:
    """Every blue validator's final state: supply == genesis_supply + minted - burned, no negative balance (the
    referee's invariants), nothing minted beyond genesis + rewards - burned (the referee's minting check), and
    some honest transfers finalised."""
    name, battle = "transfers conserve supply", path.name
    h, why = _history(path)
    if h is None:
        return _fail(name, battle, why)
    if h.disbelieved:
        return _fail(name, battle, f"the referee does not believe {len(h.disbelieved)} validator states: "
                     + _disbelieved(h))
    if not h.validators:
        return _fail(name, battle, "no blue validator wrote a state (states/validator*.json)")
    inv = invariants(h.states)
    problems = [f"{k}: {inv[k]['detail']}" for k in ("supply", "no_negative_balance") if inv[k]["ok"] is not True]
    minting = check_minting(h)
    if minting.status != "valid":
        problems.append(f"minting: {minting.detail}")
    counts = liveness_counts(h)
    intents, final = int(counts.get("intents") or 0), counts.get("finalised")
    if not intents:
        problems.append("no honest intent was recorded (env.events.intent before sending a transaction)")
    elif not final:
        problems.append(f"none of {intents} honest transfers finalised in the canonical chain"
                        if final is not None else f"{intents} honest intents, but no chain to find them in")
    if problems:
        return _fail(name, battle, "; ".join(problems))
    canon = h.canon or {}
    return CheckResult(name, battle, True, (
        f"{len(h.validators)} validators: supply {canon.get('supply')} = genesis {canon.get('genesis_supply')} + "
        f"minted {canon.get('minted')} - burned {canon.get('burned')}; no negative balance; {minting.detail}; "
        f"{final} of {intents} honest transfers finalised"))


def check_chain(path: Path) -> CheckResult:
    """The referee can judge the chain: every blue validator state agrees with its own signatures and hashes, the
    finalised chains are prefixes of one another, and, for a protocol that declares the stake-weighted leader
    schedule (``leader_schedule = "stake"``), every block was proposed by its slot's leader (the referee re-runs
    it; a protocol with a rule of its own is not rechecked, and the detail says so)."""
    name, battle = "chain verifies", path.name
    h, why = _history(path)
    if h is None:
        return _fail(name, battle, why)
    verified = check_states_verified(h)
    if verified.status != "valid":
        return _fail(name, battle, verified.detail)
    if not h.validators:
        return _fail(name, battle, "no blue validator wrote a state (states/validator*.json)")
    if not h.has_chain:
        return _fail(name, battle, "no finalised chain in the validators' states (day-1 ledgers only)")
    agree = invariants(h.states)["finalized_prefix_agreement"]
    if agree["ok"] is not True:
        return _fail(name, battle, agree["detail"])
    leaders = check_legitimate_leaders(h)
    if leaders.status == "invalid":  # "unknown": a leader rule of the protocol's own, which nobody can re-run
        return _fail(name, battle, leaders.detail)
    return CheckResult(name, battle, True, f"{verified.detail}; {len(h.chain)} canonical blocks, finalised chains "
                       f"agree; {leaders.detail}")


# -- double spend --------------------------------------------------------------------------------------------------
def check_double_spend(path: Path) -> CheckResult:
    """The referee judges the known double spend: a verdict (red_won or blue_won), every attempt of the attack
    linked to a loss or marked failed in the story, and never both conflicting transactions in the canonical
    finalised chain."""
    name, battle = "double spend is judged", path.name
    h, why = _history(path)
    if h is None:
        return _fail(name, battle, why)
    v = judge_history(h)
    if v.verdict not in ("red_won", "blue_won"):
        return _fail(name, battle, f"verdict {v.verdict}: {v.reason}")
    attempts = [ev for ev in h.attack_evidence if ev.get("kind") == "double_spend"]
    if not attempts:
        return _fail(name, battle, f"the double_spend plugin never fired (verdict {v.verdict}: {v.reason})")
    outcomes = Counter(a.outcome for a in v.story.attempts)
    if outcomes["unclear"]:
        return _fail(name, battle, f"{outcomes['unclear']} of {len(v.story.attempts)} attempts are neither linked "
                     f"to a loss nor failed: {v.story.summary}")
    both = [ev for ev in attempts if str(ev.get("pay_tx")) in h.chain_txs and str(ev.get("conflict_tx"))
            in h.chain_txs]
    if both:
        return _fail(name, battle, f"{len(both)} attempts have both conflicting transactions (same nonce) in the "
                     f"canonical chain, e.g. {str(both[0].get('pay_tx'))[:12]} and "
                     f"{str(both[0].get('conflict_tx'))[:12]}")
    return CheckResult(name, battle, True, (
        f"{v.verdict}, stolen {v.stolen}; {len(attempts)} attempts: {outcomes['succeeded']} linked to unpaid goods, "
        f"{outcomes['failed']} failed; no conflicting pair both finalised"))


# -- crash and restart ---------------------------------------------------------------------------------------------
def check_crash_restart(path: Path) -> CheckResult:
    """A validator crashed and restarted: the world ran to the end, the node is up, its finalised chain is a prefix
    of (or equal to) the canonical one, and the canonical chain finalised new blocks after the restart."""
    name, battle = "crash and restart", path.name
    h, why = _history(path)
    if h is None:
        return _fail(name, battle, why)
    crashes, restarts = h.of("crash", team=None), h.of("restart", team=None)
    if not crashes or not restarts:
        return _fail(name, battle, "the trace has no crash and restart events")
    node = h.node_name(restarts[-1]) or f"node {restarts[-1].get('node')}"
    restart_t = float(restarts[-1].get("t", 0.0))
    if node in {d["name"] for d in h.disbelieved}:
        return _fail(name, battle, f"the referee does not believe {node}'s state: {_disbelieved(h)}")
    state = next((s for s in h.validators if s.get("name") == node), None)
    if state is None:
        return _fail(name, battle, f"{node} wrote no state after its restart")
    if state.get("up") is not True:
        return _fail(name, battle, f"{node} is not up at the end")
    if not h.has_chain:
        return _fail(name, battle, "no finalised chain in the validators' states")
    mine = [b.get("hash") for b in state.get("chain", [])]
    canon = [b.get("hash") for b in h.chain]
    if mine != canon[:len(mine)]:
        first = next(i for i, (a, b) in enumerate(zip([*mine, None], [*canon, None], strict=False)) if a != b)
        return _fail(name, battle, f"{node}'s finalised chain ({len(mine)} blocks) leaves the canonical one "
                     f"({len(canon)} blocks) at height {first + 1}")
    times, tops = h.finality_curve
    before = max((top for t, top in zip(times, tops, strict=True) if t <= restart_t), default=0)
    if len(canon) <= before:
        return _fail(name, battle, f"nothing finalised after the restart at {restart_t:g} s (canonical height "
                     f"{len(canon)}, {before} at the restart)")
    return CheckResult(name, battle, True, (
        f"{node} crashed at {float(crashes[-1].get('t', 0.0)):g} s, restarted at {restart_t:g} s and is up; its "
        f"chain ({len(mine)} blocks) is a prefix of the canonical one ({len(canon)}); finalised {before} -> "
        f"{len(canon)} after the restart"))


# -- the wire ------------------------------------------------------------------------------------------------------
def check_wire(paths: Sequence[Path]) -> CheckResult:
    """Every message the implementation sent decodes with the frozen wire schema (``honest/schema.py``): zero
    violations in every node's ``wire`` summary, no ``wire_violation`` event, and messages were sent."""
    name, battle = "wire schema only", ", ".join(p.name for p in paths)
    sent: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    missing: list[str] = []
    events = 0
    states = 0
    for path in paths:
        h, why = _history(path)
        if h is None:
            return _fail(name, battle, f"{path.name}: {why}")
        events += h.counts.get("wire_violation", 0)
        for s in h.all_states:
            states += 1
            wire: Any = s.get("wire")
            if not isinstance(wire, dict):
                missing.append(str(s.get("name")))
                continue
            sent.update({str(k): int(v) for k, v in (wire.get("sent") or {}).items()})
            for reason, n in (wire.get("violations") or {}).items():
                violations[f"{s.get('name')}: {reason}"] += int(n)
    if missing:
        return _fail(name, battle, f"{len(missing)} states have no wire summary (not run through the message "
                     f"boundary): {', '.join(missing[:4])}")
    if violations or events:
        top = ", ".join(f"{k} x{n}" for k, n in violations.most_common(4))
        return _fail(name, battle, f"{sum(violations.values())} packets that are not schema messages ({top}); "
                     f"{events} wire_violation events")
    if not sent:
        return _fail(name, battle, "no schema message was sent at all")
    top = ", ".join(f"{k} {n}" for k, n in sent.most_common(5))
    return CheckResult(name, battle, True, f"{sum(sent.values())} schema messages from {states} nodes ({top}, ...), "
                       "0 violations")


def check_handlers(paths: Sequence[Path]) -> CheckResult:
    """No message the battles delivered made one of the implementation's handlers raise: zero ``node_error``
    events and zero ``handler_errors`` in every node's ``wire`` summary (the arena's guard caught them; a real node
    would have logged a traceback and, maybe, lost what it was doing)."""
    name, battle = "handlers never raise", ", ".join(p.name for p in paths)
    errors: Counter[str] = Counter()
    first = ""
    for path in paths:
        h, why = _history(path)
        if h is None:
            return _fail(name, battle, f"{path.name}: {why}")
        for s in h.all_states:
            wire: Any = s.get("wire")
            n = int(wire.get("handler_errors", 0) or 0) if isinstance(wire, dict) else 0
            if n:
                errors[str(s.get("name"))] += n
        if not first:
            found = _first_node_error(path)
            if found is not None:
                first = f"first: {found.get('error', '?')} at {found.get('where') or '?'}"
    if errors:
        top = ", ".join(f"{k} x{n}" for k, n in errors.most_common(4))
        return _fail(name, battle, f"{sum(errors.values())} messages made a handler raise ({top}); {first}")
    return CheckResult(name, battle, True, "every delivered message was handled without an exception")


def _first_node_error(path: Path) -> dict[str, Any] | None:
    """The first ``node_error`` event of a run's trace (the history keeps only what the referee reads)."""
    trace = path / "trace.jsonl"
    if not trace.is_file():
        return None
    with trace.open(encoding="utf-8") as fh:
        for line in fh:
            if '"node_error"' in line:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("ev") == "node_error":
                    return ev
    return None


__all__ = ["CheckResult", "check_chain", "check_crash_restart", "check_double_spend", "check_handlers",
           "check_supply", "check_wire"]
