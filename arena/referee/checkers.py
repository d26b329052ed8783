"""The referee: pure checkers over a run's recorded history (``trace.jsonl``) and the honest nodes' final states.

Jepsen-style: each checker returns ``valid``, ``invalid`` or ``unknown`` with the events that show it, and the
verdict is composed from them. The referee never asks a node anything and never trusts a red node: ledgers and
chains come from blue validators' states only, deliveries and intents from events recorded by blue nodes only. It
never raises either: a history it cannot make sense of gives ``unknown`` with the reason. See ``docs/referee.md``.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from arena.referee.outcome import canonical_validator
from arena.referee.outcome import invariants as consensus_invariants
from arena.runtime.trace import read_trace

Status = Literal["valid", "invalid", "unknown"]
VerdictName = Literal["red_won", "blue_won", "unknown"]

STOLEN_KINDS = ("double_spend", "forgery", "channel_fraud", "minting")
SAFETY = ("supply", "no_negative_balance", "finalized_prefix_agreement", "legitimate_leaders")
#: Events the checkers read; everything else (packets, drops) is counted and skipped, so a huge trace stays cheap.
RELEVANT = frozenset({
    "genesis", "intent", "delivery", "propose", "finalized", "equivocation", "evidence", "plugin", "plugin_fault",
    "channel_signed", "channel_settled", "tx_rejected", "partition", "heal", "crash", "restart",
})
#: An honest validator refused the intent because the honest sender itself broke a rule: not a liveness failure.
SENDER_FAULTS = frozenset({"overdraft", "zero_amount", "self_transfer", "bad_amount", "unknown_kind"})
EVIDENCE_LIMIT = 50  # evidence items kept per check
RESULT_EVIDENCE_LIMIT = 200  # attack evidence events kept in result.json


@dataclass
class Check:
    """One checker's answer, with the events or blocks that show it (``stolen``/``honest_loss`` in tokens)."""

    name: str
    status: Status
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    stolen: int = 0
    honest_loss: int = 0


@dataclass
class Verdict:
    """The judgement of one run; :meth:`as_result` is what goes into ``result.json``."""

    verdict: VerdictName
    reason: str
    stolen: int = 0
    stolen_by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STOLEN_KINDS, 0))
    honest_loss: int = 0
    invariants: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=lambda: _latency_stats([], None))
    sybil_spend: int = 0

    def as_result(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "verdict_reason": self.reason,
            "stolen": self.stolen,
            "stolen_by_kind": {k: self.stolen_by_kind.get(k, 0) for k in STOLEN_KINDS},
            "honest_loss": self.honest_loss,
            "invariants": self.invariants,
            "evidence": self.evidence[:RESULT_EVIDENCE_LIMIT],
            "evidence_count": len(self.evidence),
            "checks": [asdict(c) for c in self.checks],
            "latency": self.latency,
            "sybil_spend": self.sybil_spend,
            "red_net_gain": self.stolen - self.sybil_spend,
        }


# ================================================ the history ====================================================
class History:
    """What the checkers read, derived once from (header, events, states); every view is a pure function of them.

    Node identity comes from the ``genesis`` event (names, teams, roles, accounts); a state or event counts as
    honest only if the genesis event says its node is blue.
    """

    def __init__(self, header: dict[str, Any], events: Iterable[dict[str, Any]], states: Sequence[dict[str, Any]]
                 ) -> None:
        self.header = header
        self.counts: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []
        self.last_t = 0.0
        self.sybil_spend = 0  # the price of the red team's extra identities (scenario teams.red.budget.sybil_cost)
        genesis: dict[str, Any] = {}
        for ev in events:
            kind = ev.get("ev", "")
            self.counts[kind] += 1
            t = ev.get("t")
            if isinstance(t, (int, float)):
                self.last_t = max(self.last_t, float(t))
            if kind == "genesis":
                _merge_genesis(genesis, ev)
            elif kind == "identity":
                self.sybil_spend += int(ev.get("cost", 0) or 0)
            elif kind in RELEVANT:
                self.events.append(ev)
        self.has_genesis = bool(genesis)
        self.genesis = genesis
        self.teams: dict[str, str] = dict(genesis.get("teams", {}))
        self.roles: dict[str, str] = dict(genesis.get("roles", {}))
        self.accounts: dict[str, str] = dict(genesis.get("accounts", {}))
        self.stakes: dict[str, int] = {k: int(v) for k, v in genesis.get("stakes", {}).items()}
        self.balances: dict[str, int] = {k: int(v) for k, v in genesis.get("balances", {}).items()}
        self.reward = int(genesis.get("reward", 0) or 0)
        self.acct_team = {acct: self.teams.get(name, "") for name, acct in self.accounts.items()}
        self.acct_name = {acct: name for name, acct in self.accounts.items()}
        self.index_name = {i: name for name in self.roles if (i := _index_of(name, self.roles[name])) is not None}
        # never trust a red node: only states the genesis event (and the state itself) put on the blue team
        self.states = [s for s in states if s.get("team") == "blue" and self.teams.get(s.get("name", "")) == "blue"]
        self.validators = [s for s in self.states if s.get("role") == "validator"]

    # -- identity ------------------------------------------------------------------------------------------------
    def node_name(self, ev: dict[str, Any]) -> str:
        """The name of the node that recorded ``ev`` ("" when the trace does not say)."""
        node = ev.get("node")
        return self.index_name.get(node, "") if isinstance(node, int) else ""

    def node_team(self, ev: dict[str, Any]) -> str:
        return self.teams.get(self.node_name(ev), "")

    def node_role(self, ev: dict[str, Any]) -> str:
        return self.roles.get(self.node_name(ev), "")

    def red_side(self, acct: str) -> bool:
        """A red node's account, or one no node has (a Sybil identity)."""
        return self.acct_team.get(acct) != "blue"

    @cached_property
    def blue_accounts(self) -> set[str]:
        return {a for a, team in self.acct_team.items() if team == "blue"}

    @cached_property
    def red_nodes(self) -> list[str]:
        return sorted(n for n, team in self.teams.items() if team == "red")

    def of(self, kind: str, team: str | None = "blue", role: str | None = None) -> list[dict[str, Any]]:
        """Events of ``kind`` recorded by nodes of ``team`` (None: any; "!blue": not blue) and ``role``."""
        out = []
        for ev in self.events:
            if ev.get("ev") != kind:
                continue
            ev_team = self.node_team(ev)
            if (team == "!blue" and ev_team == "blue") or (team not in (None, "!blue") and ev_team != team):
                continue
            if role is not None and self.node_role(ev) != role:
                continue
            out.append(ev)
        return out

    # -- the canonical outcome -----------------------------------------------------------------------------------
    @cached_property
    def canon(self) -> dict[str, Any] | None:
        return canonical_validator(self.validators, self.stakes) if self.validators else None

    @property
    def has_chain(self) -> bool:
        """False in day-1 mode (ledgers without blocks) and when there is no honest validator."""
        return self.canon is not None and isinstance(self.canon.get("chain"), list)

    @cached_property
    def chain(self) -> list[dict[str, Any]]:
        return list(self.canon.get("chain", [])) if self.has_chain and self.canon else []

    @cached_property
    def chain_txs(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """tx id -> (height of its block, the tx) for every transaction of the canonical finalised chain."""
        out: dict[str, tuple[int, dict[str, Any]]] = {}
        for block in self.chain:
            for tx in block.get("txs", []):
                out[tx["id"]] = (int(block["height"]), tx)
        return out

    @cached_property
    def blue_intents(self) -> list[dict[str, Any]]:
        """Honest intents: recorded by a blue node, paying from a blue account."""
        return [ev for ev in self.of("intent") if ev.get("sender") in self.blue_accounts]

    @cached_property
    def attack_evidence(self) -> list[dict[str, Any]]:
        return self.of("evidence", team="!blue")

    @cached_property
    def max_delay(self) -> float | None:
        referee = self.header.get("referee")
        value = self.genesis.get("max_delay", self.header.get("max_delay"))
        if value is None and isinstance(referee, dict):
            value = referee.get("max_delay")
        return float(value) if value is not None else None

    @cached_property
    def end_time(self) -> float:
        value = self.genesis.get("duration", self.header.get("duration"))
        return float(value) if value is not None else self.last_t

    def finalized_at(self, height: int) -> float | None:
        """When a blue validator first finalised ``height`` or above."""
        times, tops = self._finality_curve
        i = bisect.bisect_left(tops, height)
        return times[i] if i < len(times) else None

    @cached_property
    def _finality_curve(self) -> tuple[list[float], list[int]]:
        times: list[float] = []
        tops: list[int] = []
        for ev in sorted(self.of("finalized", role="validator"), key=lambda e: float(e.get("t", 0.0))):
            h = int(ev.get("height", 0))
            if not tops or h > tops[-1]:
                times.append(float(ev.get("t", 0.0)))
                tops.append(h)
        return times, tops

    def red_plugins(self) -> bool | None:
        """Whether red plugins were attached (red plugin events, or a plugin list in genesis/header); None: unknown."""
        if self.header.get("red_enabled") is False:
            return False
        if self.of("plugin", team="red") or self.of("plugin_fault", team="red") or self.attack_evidence:
            return True
        listed = self.genesis.get("plugins", self.header.get("plugins"))
        if isinstance(listed, dict):
            if "red" in listed and isinstance(listed["red"], list):
                return bool(listed["red"])
            return any(v for name, v in listed.items() if self.teams.get(name) == "red")
        return None


def _merge_genesis(into: dict[str, Any], ev: dict[str, Any]) -> None:
    """Live battles record one genesis per machine: the first value of each field wins, name tables are joined."""
    for key, value in ev.items():
        if key in ("t", "ev"):
            continue
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**value, **into[key]}
        else:
            into.setdefault(key, value)


def _index_of(name: str, role: str) -> int | None:
    """``validator3`` -> 3 (node names are role + index)."""
    rest = name[len(role):] if name.startswith(role) else (m.group(0) if (m := re.search(r"\d+$", name)) else "")
    return int(rest) if rest.isdigit() else None


def _status(bad: bool) -> Status:
    return "invalid" if bad else "valid"


# ================================================ the checkers ===================================================
def check_double_spend(h: History) -> Check:
    """Goods a blue merchant delivered to a red or unknown buyer whose payment is not in the canonical chain."""
    name = "double_spend"
    seen: set[tuple[Any, Any, Any]] = set()
    candidates = []
    for ev in h.of("delivery", role="merchant"):
        key = (ev.get("node"), ev.get("order"), ev.get("tx"))
        if key not in seen and h.red_side(str(ev.get("buyer"))):
            seen.add(key)
            candidates.append(ev)
    if not candidates:
        return Check(name, "valid", "no blue merchant delivered to a red or unknown buyer")
    if h.canon is None:
        return Check(name, "unknown", "no honest validator state to look the payments up in")
    if not h.has_chain:
        return Check(name, "unknown", f"day-1 mode: no finalised chain to look {len(candidates)} red buyers' "
                     "payments up in")
    unpaid = [ev for ev in candidates if ev.get("tx") not in h.chain_txs]
    stolen = sum(int(ev.get("value", 0)) for ev in unpaid)
    return Check(name, _status(stolen > 0),
                 f"{len(unpaid)} of {len(candidates)} deliveries to red/unknown buyers have no payment in the "
                 f"canonical finalised chain: {stolen} worth of goods", unpaid[:EVIDENCE_LIMIT], stolen=stolen)


def check_forgery(h: History) -> Check:
    """Debits from blue accounts in the canonical chain that no blue node intended (signed)."""
    name = "forgery"
    if h.canon is None:
        return Check(name, "unknown", "no honest validator state")
    if not h.has_chain:
        return Check(name, "unknown", "day-1 mode: the ledger keeps no transactions to match with intents")
    intended = {ev.get("tx") for ev in h.blue_intents}
    forged = []
    stolen = loss = 0
    for block in h.chain:
        for tx in block.get("txs", []):
            if tx.get("sender") in h.blue_accounts and tx.get("id") not in intended:
                amount, fee = int(tx.get("amount", 0)), int(tx.get("fee", 0))
                loss += amount + fee
                if h.red_side(str(tx.get("receiver"))):
                    stolen += amount
                forged.append({**tx, "height": block.get("height"), "block": block.get("hash")})
    if not forged:
        return Check(name, "valid", f"every debit of a blue account in the canonical chain matches one of "
                     f"{len(intended)} honest intents")
    return Check(name, "invalid", f"{len(forged)} debits of blue accounts no blue node intended: {stolen} to red "
                 f"or unknown accounts, {loss} lost by blue (amount + fee)", forged[:EVIDENCE_LIMIT],
                 stolen=stolen, honest_loss=loss)


def check_channel_fraud(h: History) -> Check:
    """A red closer settled a channel on an older state than the blue party countersigned, and gained by it."""
    name = "channel_fraud"
    settled: dict[str, dict[str, Any]] = {}
    canon_index = h.canon.get("index") if h.canon else None
    for ev in h.of("channel_settled", role="validator"):
        cid = str(ev.get("channel"))
        if cid not in settled or (ev.get("node") == canon_index and settled[cid].get("node") != canon_index):
            settled[cid] = ev
    if not settled:
        return Check(name, "valid", "no channel settled on chain")
    latest: dict[str, dict[str, Any]] = {}
    for ev in h.of("channel_signed"):
        signer = h.accounts.get(h.node_name(ev))
        if signer is not None and signer not in (ev.get("a"), ev.get("b")):
            continue  # only a party's own countersignature binds it
        cid = str(ev.get("channel"))
        if cid not in latest or int(ev.get("seq", 0)) > int(latest[cid].get("seq", 0)):
            latest[cid] = ev
    frauds = []
    stolen = 0
    for cid, ev in sorted(settled.items()):
        closer, a, b = ev.get("closer"), ev.get("a"), ev.get("b")
        if not h.red_side(str(closer)) or closer not in (a, b):
            continue
        victim = b if closer == a else a
        newer = latest.get(cid)
        if h.red_side(str(victim)) or newer is None or int(newer.get("seq", 0)) <= int(ev.get("seq", 0)):
            continue
        side = "a" if closer == a else "b"
        gain = int(ev.get(f"paid_{side}", 0)) - int(newer.get(f"balance_{side}", 0))
        if gain > 0:
            stolen += gain
            frauds.append({"settled": ev, "honest_state": newer, "gain": gain})
    return Check(name, _status(stolen > 0), f"{len(frauds)} of {len(settled)} settled channels closed by red on an "
                 f"outdated state for a gain of {stolen}", frauds[:EVIDENCE_LIMIT], stolen=stolen, honest_loss=stolen)


def check_minting(h: History) -> Check:
    """Money beyond genesis + block rewards - burned in the canonical state (balances, stakes, channel deposits)."""
    name = "minting"
    canon = h.canon
    if canon is None:
        return Check(name, "unknown", "no honest validator state")
    supply = int(canon.get("supply", 0))
    burned = int(canon.get("burned", 0))
    genesis = (sum(h.balances.values()) + sum(h.stakes.values())) if h.balances or h.stakes \
        else int(canon.get("genesis_supply", 0))
    blocks = len(h.chain)
    expected = genesis + h.reward * blocks - burned
    excess = supply - expected
    basis = f"supply {supply} vs genesis {genesis} + {h.reward} x {blocks} blocks - {burned} burned = {expected}"
    if excess <= 0:
        note = "" if excess == 0 else f"; {-excess} below it (destroyed, not minted)"
        return Check(name, "valid", basis + note)
    ledger = canon.get("ledger", {})
    red_now = sum(int(r.get("balance", 0)) + int(r.get("stake", 0)) for a, r in ledger.items() if h.red_side(a))
    red_gain = red_now - sum(v for n, v in (*h.balances.items(), *h.stakes.items()) if h.teams.get(n) != "blue")
    held = "the red team gained at least that" if red_gain >= excess else \
        f"but the red team gained only {red_gain} since genesis (counted anyway)"
    return Check(name, "invalid", f"{basis}: {excess} minted from nothing, {held}",
                 [{"supply": supply, "expected": expected, "excess": excess, "red_gain": red_gain,
                   "validator": canon.get("name")}], stolen=excess)


def check_legitimate_leaders(h: History) -> Check:
    """A simple check: every canonical block's proposer had stake at genesis (not a re-run of the leader schedule)."""
    name = "legitimate_leaders"
    if h.canon is None:
        return Check(name, "unknown", "no honest validator state")
    if not h.has_chain:
        return Check(name, "valid", "day-1 mode: no blocks, no leaders")
    staked = {h.accounts[n] for n, s in h.stakes.items() if s > 0 and n in h.accounts}
    bad = [{"height": b.get("height"), "hash": b.get("hash"), "proposer": b.get("proposer")}
           for b in h.chain if b.get("proposer") not in staked]
    scope = "(simple check: proposer had stake at genesis; the leader schedule is not re-run)"
    if bad:
        return Check(name, "invalid", f"{len(bad)} canonical blocks proposed by accounts without genesis stake "
                     + scope, bad[:EVIDENCE_LIMIT])
    return Check(name, "valid", f"all {len(h.chain)} canonical blocks proposed by genesis stakers {scope}")


def intent_finality(h: History) -> list[tuple[dict[str, Any], float | None]]:
    """Each honest intent with the time a blue validator finalised its canonical block (None: never)."""
    out: list[tuple[dict[str, Any], float | None]] = []
    for ev in h.blue_intents:
        found = h.chain_txs.get(str(ev.get("tx")))
        out.append((ev, h.finalized_at(found[0]) if found else None))
    return out


def check_liveness(h: History) -> Check:
    """Honest intents finalised late or never; judged only against the scenario's ``referee.max_delay``."""
    name = "liveness"
    intents = h.blue_intents
    if h.canon is None or not h.has_chain:
        why = "no honest validator state" if h.canon is None else "day-1 mode: no finality to time"
        return Check(name, "unknown", f"{why}; {len(intents)} honest intents")
    timed = intent_finality(h)
    refused: dict[str, str] = {}
    for ev in h.of("tx_rejected", role="validator"):
        refused.setdefault(str(ev.get("tx")), str(ev.get("reason")))
    missing = [ev for ev, at in timed if at is None]
    own_fault = [ev for ev in missing if refused.get(str(ev.get("tx"))) in SENDER_FAULTS]
    counts = (f"{len(intents)} honest intents: {len(intents) - len(missing)} finalised, {len(missing)} not finalised "
              f"in the canonical chain ({len(own_fault)} of them refused for the sender's own fault)")
    limit = h.max_delay
    if limit is None:
        return Check(name, "unknown", counts + "; no referee.max_delay, so no liveness judgement")
    late = [{**ev, "finalized_at": at} for ev, at in timed if at is not None and at - float(ev.get("t", 0.0)) > limit]
    excused = {id(ev) for ev in own_fault}
    stuck = [ev for ev in missing if id(ev) not in excused and float(ev.get("t", 0.0)) + limit <= h.end_time]
    bad = late + stuck
    return Check(name, _status(bool(bad)), f"{counts}; max_delay {limit:g}s: {len(late)} finalised late, "
                 f"{len(stuck)} not finalised within it", bad[:EVIDENCE_LIMIT])


def check_attack_fired(h: History) -> Check:
    """Whether any red plugin declared that its attack fired (an ``evidence`` event from a non-blue node)."""
    n = len(h.attack_evidence)
    if n:
        kinds = Counter(str(ev.get("kind")) for ev in h.attack_evidence)
        return Check("attack_fired", "valid", f"{n} evidence events: " + ", ".join(
            f"{k} x{c}" for k, c in sorted(kinds.items())), h.attack_evidence[:EVIDENCE_LIMIT])
    return Check("attack_fired", "unknown", "no evidence event was recorded")


CHECKERS = (check_double_spend, check_forgery, check_channel_fraud, check_minting, check_legitimate_leaders,
            check_liveness, check_attack_fired)


# ================================================ composition ====================================================
def _latency_stats(delays: list[float], unconfirmed: int | None) -> dict[str, Any]:
    if not delays:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None, "unconfirmed": unconfirmed}
    xs = sorted(delays)

    def rank(q: float) -> float:  # nearest-rank percentile
        return round(xs[max(0, math.ceil(q * len(xs)) - 1)], 6)

    return {"count": len(xs), "mean": round(sum(xs) / len(xs), 6), "p50": rank(0.5), "p95": rank(0.95),
            "max": round(xs[-1], 6), "unconfirmed": unconfirmed}


def _invariant(check: Check) -> dict[str, Any]:
    ok = None if check.status == "unknown" else check.status == "valid"
    return {"ok": ok, "detail": check.detail}


def judge(header: dict[str, Any], events: Iterable[dict[str, Any]], states: list[dict[str, Any]]) -> Verdict:
    """The verdict of a run from its trace header, events and final states. Never raises."""
    try:
        return _judge(History(header, events, states))
    except Exception as exc:  # a referee that cannot decide says so
        return Verdict("unknown", f"referee error: {type(exc).__name__}: {exc}")


def _judge(h: History) -> Verdict:
    checks = {fn.__name__.removeprefix("check_"): fn(h) for fn in CHECKERS}
    by_kind = {k: checks[k].stolen for k in STOLEN_KINDS}
    stolen = sum(by_kind.values())
    honest_loss = sum(c.honest_loss for c in checks.values())
    invariants = consensus_invariants(h.states)
    invariants["legitimate_leaders"] = _invariant(checks["legitimate_leaders"])
    invariants["liveness"] = _invariant(checks["liveness"])
    if h.canon is not None and h.has_chain:
        timed = intent_finality(h)
        latency = _latency_stats([max(0.0, at - float(ev.get("t", 0.0))) for ev, at in timed if at is not None],
                                 sum(1 for _, at in timed if at is None))
    else:
        latency = _latency_stats([], None)
    broken = [k for k in (*SAFETY, "liveness") if invariants[k]["ok"] is False]
    verdict: VerdictName = "unknown"
    if stolen > 0 or broken:
        verdict = "red_won"
        parts = []
        if stolen:
            parts.append(f"stolen {stolen} (" + ", ".join(f"{k} {v}" for k, v in by_kind.items() if v) + ")")
        if broken:
            parts.append("invariants broken: " + ", ".join(broken))
        reason = "; ".join(parts)
    elif not h.has_genesis:
        reason = "cannot decide: no genesis event in the trace"
    elif h.red_nodes and h.header.get("red_enabled") is False:
        reason = "red team disabled (baseline run)"
    elif h.red_nodes and not h.attack_evidence:
        reason = "the attack never fired (no evidence event)" if h.red_plugins() is not False \
            else "the red team has no plugins: nothing was attacked"
    elif not h.red_nodes:
        reason = "no red team"
    elif h.canon is None:
        reason = "cannot decide: no honest validator state"
    elif undecided := [c for k, c in checks.items() if k in STOLEN_KINDS and c.status == "unknown"]:
        reason = "cannot decide: " + "; ".join(f"{c.name}: {c.detail}" for c in undecided)
    else:
        verdict = "blue_won"
        reason = f"the attack fired ({len(h.attack_evidence)} evidence events), nothing was stolen and the safety " \
                 "invariants hold"
    return Verdict(verdict, reason, stolen, by_kind, honest_loss, invariants, list(h.attack_evidence),
                   list(checks.values()), latency, h.sybil_spend)


# ================================================ run directories ================================================
def _read_dir(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]], list[dict[str, Any]]]:
    trace = path / "trace.jsonl"
    if not trace.is_file():
        raise FileNotFoundError(f"no trace.jsonl in {path}")
    header, events = read_trace(trace)
    states_dir = path / "states"
    states = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(states_dir.glob("*.json"))] \
        if states_dir.is_dir() else []
    return header, events, states


def load_run(path: Path | str, extra_dirs: Sequence[Path | str] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]
                                                                                | Iterator[dict[str, Any]],
                                                                                list[dict[str, Any]]]:
    """Header, events and states of a run directory, merged with the directories of other machines (live battles).

    States: the first blue state of each name wins, red states are left out. Events: sorted by (time, directory,
    line); the header is the first directory's.
    """
    header, events, states = _read_dir(Path(path))
    if not extra_dirs:
        return header, events, states
    merged_states: dict[str, dict[str, Any]] = {}
    streams: list[Iterable[dict[str, Any]]] = [events]
    for extra in extra_dirs:
        _, more_events, more_states = _read_dir(Path(extra))
        streams.append(more_events)
        states.extend(more_states)
    for s in states:
        if s.get("team") == "blue":
            merged_states.setdefault(str(s.get("name")), s)
    keyed = [(float(ev.get("t", 0.0)), d, n, ev) for d, stream in enumerate(streams) for n, ev in enumerate(stream)
             if ev.get("ev") in RELEVANT]
    keyed.sort(key=lambda k: k[:3])
    return header, [k[3] for k in keyed], list(merged_states.values())


def judge_run_dir(path: Path | str, extra_dirs: Sequence[Path | str] = ()) -> Verdict:
    """Judge a run directory (``trace.jsonl`` + ``states/``), optionally merged with other machines'. Never raises."""
    try:
        header, events, states = load_run(path, extra_dirs)
    except Exception as exc:
        return Verdict("unknown", f"referee error: {type(exc).__name__}: {exc}")
    return judge(header, events, states)


__all__ = ["CHECKERS", "STOLEN_KINDS", "Check", "History", "Verdict", "judge", "judge_run_dir", "load_run"]
