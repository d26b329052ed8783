"""What the report reads: the referee's history of the run and its verdict, plus the few views only a report needs.

The report derives nothing the referee already derives: node names and teams, the canonical validator and chain,
finality times and plugin faults all come from :class:`arena.referee.history.History`, the verdict from
``result.json`` (or from the referee when the run did not finish). Here are only what pictures need on top: time
spans to shade, the block tree with forks, and balances replayed block by block. Loading never raises; what is
missing or unreadable becomes a note on the page.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from arena.referee.checkers import STOLEN_KINDS, Verdict, judge_history
from arena.referee.history import History, load_history
from arena.referee.outcome import natural_key

REPORT_NAME = "report.html"
GENESIS_HASH = "0" * 64


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


@dataclass
class Spans:
    """Stretches of virtual time the charts shade: partitions, crashed nodes, the settle period, evidence marks."""

    end: float
    partitions: list[tuple[float, float, str]] = field(default_factory=list)
    crashes: list[tuple[float, float, int]] = field(default_factory=list)
    settle: tuple[float, float] | None = None
    evidence: list[float] = field(default_factory=list)


class ReportData:
    """One run as the report sees it: ``h`` (the referee's history), ``result`` (``result.json``), ``verdict`` and
    ``notes`` (what was missing or unreadable)."""

    def __init__(self, path: Path, h: History, result: dict[str, Any], has_result: bool, verdict: Verdict | None,
                 notes: list[str]) -> None:
        self.path = path
        self.h = h
        self.result = result
        self.has_result = has_result
        self.verdict = verdict
        self.notes = notes
        self.canon: dict[str, Any] | None = None
        self.chain: list[dict[str, Any]] = []
        try:
            self.canon = h.canon
            self.chain = [b for b in h.chain if isinstance(b, dict)]
        except Exception as exc:  # a malformed state: the report shows what it can
            self.notes.append(f"the canonical chain could not be chosen ({type(exc).__name__}: {exc})")

    # -- names -----------------------------------------------------------------------------------------------------
    def node(self, index: Any) -> str:
        i = as_int(index, -1)
        return self.h.index_name.get(i, f"node{i}" if i >= 0 else "?")

    def team_of_node(self, index: Any) -> str:
        return self.h.teams.get(self.node(index), "")

    def account(self, acct: str) -> str:
        return self.h.acct_name.get(acct) or self.h.sybils.get(acct) or f"{acct[:10]}…"

    @cached_property
    def red_nodes(self) -> list[str]:
        return sorted(self.h.red_nodes, key=natural_key)

    # -- what happened ---------------------------------------------------------------------------------------------
    def of(self, *kinds: str) -> list[dict[str, Any]]:
        """Events of these kinds recorded by any node (the report shows red nodes' events too, marked red)."""
        return [ev for ev in self.h.events if ev.get("ev") in kinds]

    @cached_property
    def faults(self) -> list[dict[str, Any]]:
        """Every plugin fault with all its fields (the verdict's, else the trace's)."""
        listed = self.verdict.faults if self.verdict is not None and self.verdict.faults else self.h.faults
        return [self.h.fault(f) for f in listed]

    @cached_property
    def thefts(self) -> list[dict[str, Any]]:
        """The referee's evidence of theft that has a time and a node (e.g. goods delivered on an unpaid payment)."""
        out: list[dict[str, Any]] = []
        for ch in self.verdict.checks if self.verdict is not None else []:
            if ch.name in STOLEN_KINDS and ch.stolen > 0:
                out += [ev for ev in ch.evidence if "t" in ev and "node" in ev]
        return out

    @cached_property
    def spans(self) -> Spans:
        h = self.h
        end = h.end_time if "duration" in h.genesis or "duration" in h.header else \
            as_num(self.result.get("virtual_seconds")) or h.last_t
        spans = Spans(max(end, h.last_t, 1e-9))
        open_part: tuple[float, str] | None = None
        crashed: dict[int, float] = {}
        for ev in sorted(self.of("partition", "heal", "crash", "restart"), key=lambda e: as_num(e.get("t"))):
            t, kind = as_num(ev.get("t")), ev.get("ev")
            if kind in ("partition", "heal") and open_part is not None:
                spans.partitions.append((open_part[0], t, open_part[1]))
                open_part = None
            if kind == "partition":
                groups = ev.get("groups") or []
                label = " | ".join(",".join(self.node(i) for i in g) for g in groups if isinstance(g, list))
                open_part = (t, label)
            elif kind == "crash":
                crashed.setdefault(as_int(ev.get("node"), -1), t)
            elif kind == "restart":
                node = as_int(ev.get("node"), -1)
                if node in crashed:
                    spans.crashes.append((crashed.pop(node), t, node))
        if open_part is not None:
            spans.partitions.append((open_part[0], spans.end, open_part[1]))
        spans.crashes.extend((t, spans.end, node) for node, t in crashed.items())
        settle = as_num(h.genesis.get("settle"), 0.0)
        if settle > 0 and h.red_nodes:
            spans.settle = (max(0.0, spans.end - settle), spans.end)
        spans.evidence = sorted({as_num(ev.get("t")) for ev in h.attack_evidence})
        return spans

    @cached_property
    def blocks(self) -> dict[str, dict[str, Any]]:
        """hash -> height, parent, proposer name, time, txs and status (canonical, orphaned, not finalised)."""
        blocks: dict[str, dict[str, Any]] = {}
        for ev in self.of("propose"):
            h = str(ev.get("hash", ""))
            if h and h not in blocks:
                blocks[h] = {"height": as_int(ev.get("height")), "parent": str(ev.get("parent", "")),
                             "node": self.node(ev.get("node")), "t": as_num(ev.get("t")), "txs": as_int(ev.get("txs"))}
        prev = GENESIS_HASH
        for b in self.chain:
            h = str(b.get("hash", ""))
            if h and h not in blocks:
                blocks[h] = {"height": as_int(b.get("height")), "parent": prev,
                             "node": self.account(str(b.get("proposer"))), "t": None, "txs": len(b.get("txs") or [])}
            prev = h
        canon_set = {str(b.get("hash")) for b in self.chain}
        fin_height = as_int((self.canon or {}).get("finalized_height"), len(self.chain))
        for h, b in blocks.items():
            if self.canon is None:
                b["status"] = "unknown"
            elif h in canon_set:
                b["status"] = "canonical"
            elif b["height"] > fin_height:
                b["status"] = "not finalised"
            else:
                b["status"] = "orphaned"
        return blocks

    def genesis_balance(self) -> dict[str, int]:
        """account -> its balance at genesis (accounts the genesis event gives a balance)."""
        return {a: self.h.balances[n] for n, a in self.h.accounts.items() if n in self.h.balances}


def load(run_dir: Path, extra_dirs: Sequence[Path] = ()) -> ReportData:
    """Read what is there (``result.json``, ``trace.jsonl``, ``states/``, merged with other machines' run
    directories of the same live battle, as ``arena judge --merge`` reads them); never raises."""
    run_dir = Path(run_dir)
    notes: list[str] = []
    result: dict[str, Any] = {}
    has_result = False
    res_path = run_dir / "result.json"
    if res_path.is_file():
        try:
            loaded = json.loads(res_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                result, has_result = loaded, True
        except (OSError, ValueError) as exc:
            notes.append(f"result.json is unreadable ({type(exc).__name__}: {exc})")
    else:
        notes.append("no result.json: the run did not finish")
    h = load_history(run_dir, extra_dirs)
    if not h.has_trace:
        notes.append("no trace.jsonl: nothing happened on record")
    notes += [p.replace(f"{run_dir}/", "") for p in h.problems if not p.startswith("no trace.jsonl")]
    if not h.has_states and h.has_genesis:
        notes.append("no states/ directory: final ledgers and chains are unknown")
    verdict = Verdict.from_result(result) if has_result else None
    if verdict is None and not has_result and h.has_trace:
        verdict = judge_history(h)
        notes.append("the verdict was recomputed by the referee from the files present")
    elif verdict is not None and not verdict.story.summary and h.has_trace and h.has_genesis:
        verdict.story = judge_history(h).story  # a result.json written before the story existed
    return ReportData(run_dir, h, result, has_result, verdict, notes)


def replay_balances(d: ReportData) -> tuple[dict[str, list[tuple[float, int]]], list[str]]:
    """Each account's balance after each canonical block, timed at its finalisation; and notes on the replay."""
    h = d.h
    balances = d.genesis_balance()
    notes: list[str] = []
    propose_t = {str(ev.get("hash")): as_num(ev.get("t")) for ev in d.of("propose")}
    series: dict[str, list[tuple[float, int]]] = {a: [(0.0, b)] for a, b in balances.items()}
    untimed = 0
    other_kinds: Counter[int] = Counter()
    for block in sorted(d.chain, key=lambda b: as_int(b.get("height"))):
        t = h.finalized_at(as_int(block.get("height")))
        if t is None:
            t = propose_t.get(str(block.get("hash")))
            untimed += 1
        if t is None:
            t = d.spans.end
        proposer = str(block.get("proposer", ""))
        touched = {proposer}
        for tx in block.get("txs") or []:
            sender, receiver = str(tx.get("sender")), str(tx.get("receiver"))
            amount, fee, kind = as_int(tx.get("amount")), as_int(tx.get("fee")), as_int(tx.get("kind"))
            balances[sender] = balances.get(sender, 0) - amount - fee
            balances[proposer] = balances.get(proposer, 0) + fee
            touched.add(sender)
            if kind == 0:
                balances[receiver] = balances.get(receiver, 0) + amount
                touched.add(receiver)
            elif kind != 1:
                other_kinds[kind] += 1
        balances[proposer] = balances.get(proposer, 0) + h.reward
        for acct in touched:
            series.setdefault(acct, [(0.0, 0)]).append((t, balances[acct]))
    if untimed:
        notes.append(f"{untimed} canonical blocks have no recorded finalisation; they are placed at their proposal")
    if other_kinds:
        notes.append(f"{sum(other_kinds.values())} channel or slashing transactions are not replayed (their "
                     "payouts are not in the block data): balances of those accounts are approximate")
    ledger = (d.canon or {}).get("ledger") or {}
    off = [a for a, row in ledger.items() if isinstance(row, dict) and as_int(row.get("balance")) != balances.get(a, 0)]
    if off and not other_kinds:
        notes.append(f"the replay differs from the canonical final ledger for {len(off)} accounts: "
                     + ", ".join(d.account(a) for a in off[:8]))
    return series, notes


def red_side(series: dict[str, list[tuple[float, int]]], accts: list[str], goods: list[tuple[float, int]]
             ) -> tuple[list[float], list[int], list[int]]:
    """Times, the red side's total balance, and that total plus the value of goods delivered to it (one sweep)."""
    changes: list[tuple[float, int, str, int]] = []  # (time, order, account or "", new balance or goods value)
    for a in accts:
        changes += [(t, 0, a, v) for t, v in series[a][1:]]
    changes += [(t, 1, "", v) for t, v in goods]
    now = {a: series[a][0][1] for a in accts}
    times, total, wealth = [0.0], [sum(now.values())], [sum(now.values())]
    received = 0
    for t, _, a, v in sorted(changes):
        if a:
            now[a] = v
        else:
            received += v
        bal = sum(now.values())
        if times[-1] == t:
            total[-1], wealth[-1] = bal, bal + received
        else:
            times.append(t)
            total.append(bal)
            wealth.append(bal + received)
    return times, total, wealth


def account_names(run_dir: Path) -> dict[str, tuple[str, str]]:
    """account -> (name, team) from the genesis and identity events of a run (Sybils are "red"); never raises."""
    try:
        h = load_history(Path(run_dir))
    except Exception:  # a summary helper must not fail a run
        return {}
    out = {a: (n, h.teams.get(n, "")) for a, n in h.acct_name.items()}
    out.update({a: (n, "red") for a, n in h.sybils.items()})
    return out


__all__ = ["REPORT_NAME", "ReportData", "Spans", "account_names", "as_int", "as_num", "load", "natural_key", "red_side",
           "replay_balances"]
