"""The agreed outcome of a run, computed from the validators' final states (pure; used by the runner and the
referee alike).

Canonical ledger: among honest validators, the finalised chains must be prefixes of one another; the canonical one
is the longest finalised chain supported (as a prefix) by honest validators holding a majority of honest stake.
Its ledger is the run's ``balances``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


def _chain_hashes(state: dict[str, Any]) -> list[str]:
    return [b["hash"] for b in state.get("chain", [])]


def _is_prefix(a: list[str], b: list[str]) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def canonical_validator(states: list[dict[str, Any]], stakes: dict[str, int]) -> dict[str, Any] | None:
    """The honest validator state whose finalised chain is canonical (see module doc), or None."""
    honest = [s for s in states if s["role"] == "validator" and s["team"] == "blue"]
    if not honest:
        return None
    total = sum(stakes.get(s["name"], 0) for s in honest) or len(honest)
    best = None
    for cand in sorted(honest, key=lambda s: (-s.get("finalized_height", 0), s["name"])):
        chain = _chain_hashes(cand)
        support = sum(stakes.get(s["name"], 0) or (1 if not any(stakes.values()) else 0)
                      for s in honest if _is_prefix(_chain_hashes(s), chain) or _is_prefix(chain, _chain_hashes(s)))
        if support * 2 > total:
            best = cand
            break
    if best is None:
        best = sorted(honest, key=lambda s: s["name"])[0]
    if not best.get("chain") and best.get("applied") is not None:
        # Day-1 mode has no chain: the canonical ledger is the one most honest validators hold.
        tally = Counter(_ledger_key(s) for s in honest)
        top = tally.most_common(1)[0][0]
        best = next(s for s in sorted(honest, key=lambda s: s["name"]) if _ledger_key(s) == top)
    return best


def _ledger_key(state: dict[str, Any]) -> str:
    return repr(sorted(state.get("ledger", {}).items()))


def validators_agree(states: list[dict[str, Any]]) -> bool:
    """Honest validators agree: day 1, identical ledgers; with blocks, finalised chains are prefixes of each other."""
    honest = [s for s in states if s["role"] == "validator" and s["team"] == "blue" and s.get("up", True)]
    if not honest:
        return True
    if all(s.get("applied") is not None for s in honest):
        return len({_ledger_key(s) for s in honest}) == 1
    chains = [_chain_hashes(s) for s in honest]
    longest = max(chains, key=len)
    return all(_is_prefix(c, longest) for c in chains)


def named(ledger: dict[str, dict[str, int]], names: dict[str, str], field: str = "balance") -> dict[str, int]:
    rows = {names.get(acct, acct): row.get(field, 0) for acct, row in ledger.items()}
    return dict(sorted(rows.items(), key=lambda kv: natural_key(kv[0])))


def natural_key(name: str) -> tuple[str, int]:
    """validator2 before validator10."""
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail else -1)


def summarize(states: list[dict[str, Any]], names: dict[str, str], stakes: dict[str, int] | None = None
              ) -> dict[str, Any]:
    stakes = stakes or {}
    canon = canonical_validator(states, stakes)
    out: dict[str, Any] = {"validators_agree": validators_agree(states)}
    if canon is None:
        return out
    ledger = canon.get("ledger", {})
    out["balances"] = named(ledger, names)
    out["stakes"] = {k: v for k, v in named(ledger, names, "stake").items() if v}
    out["supply"] = canon.get("supply", 0)
    out["canonical_validator"] = canon["name"]
    vals = [s for s in states if s["role"] == "validator"]
    out["head_height"] = max((s.get("head_height", 0) for s in vals), default=0)
    out["finalized_height"] = canon.get("finalized_height", 0)
    by_proposer: Counter[str] = Counter(names.get(b["proposer"], b["proposer"]) for b in canon.get("chain", []))
    out["blocks_by_proposer"] = dict(sorted(by_proposer.items()))
    out["forks_seen"] = max((s.get("forks_seen", 0) for s in vals), default=0)
    out["invariants"] = invariants(states)
    return out


def invariants(states: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The consensus invariants, each ``{"ok": bool, "detail": str}``."""
    honest = [s for s in states if s["role"] == "validator" and s["team"] == "blue"]
    bad_supply = [s["name"] for s in honest
                  if s.get("supply") != s.get("genesis_supply", 0) + s.get("minted", 0) - s.get("burned", 0)]
    negative = [s["name"] for s in honest if any(r.get("balance", 0) < 0 for r in s.get("ledger", {}).values())]
    agree = validators_agree(states)
    return {
        "supply": {"ok": not bad_supply, "detail": f"supply != genesis + minted - burned on {bad_supply}"
                   if bad_supply else "supply = genesis + rewards - burned on every honest validator"},
        "no_negative_balance": {"ok": not negative, "detail": f"negative balances on {negative}" if negative
                                else "no negative balance"},
        "finalized_prefix_agreement": {"ok": agree, "detail": "honest finalised chains are prefixes of one another"
                                       if agree else "honest validators finalised conflicting blocks"},
    }
