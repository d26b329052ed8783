"""The referee: pure checkers over a run's recorded history (``trace.jsonl``) and the honest nodes' final states.

Jepsen-style: each checker returns ``valid``, ``invalid`` or ``unknown`` with the events that show it, and the
verdict is composed from them. The referee never asks a node anything and never trusts a red node: ledgers and
chains come from blue validators' states only, deliveries and intents from events recorded by blue nodes only. It
never raises either: a history it cannot make sense of gives ``unknown`` with the reason. A plugin that faulted was
disabled for the rest of the battle, so a run with a fault and no theft is ``faulted``, never a defense success.
What a run's history is (identities, the canonical chain, faults) is :mod:`arena.referee.history`'s alone. See
``docs/referee.md``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from arena.referee.history import KEPT, RELEVANT, History, load_history, load_run
from arena.referee.outcome import invariants as consensus_invariants
from arena.referee.story import Story, tell
from arena.referee.verify import schedule_violations

Status = Literal["valid", "invalid", "unknown"]
VerdictName = Literal["red_won", "blue_won", "faulted", "unknown"]
#: Every verdict, the worst for the defense first.
VERDICTS: tuple[VerdictName, ...] = ("red_won", "faulted", "blue_won", "unknown")

STOLEN_KINDS = ("double_spend", "forgery", "channel_fraud", "minting")
#: What honest parties lost, by the kind of loss (not by the attack's mechanism), in the order of STOLEN_KINDS: the
#: old kinds (``stolen_by_kind``) are these categories under their old names.
LOSS_CATEGORIES = ("unpaid_goods", "forged_debit", "channel_theft", "minted")
KIND_OF_CATEGORY = dict(zip(LOSS_CATEGORIES, STOLEN_KINDS, strict=True))
CATEGORY_OF_KIND = {k: c for c, k in KIND_OF_CATEGORY.items()}
#: Which losses an attack's evidence kind can explain (a kind that names a category or an old kind explains it).
EVIDENCE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "double_spend": ("unpaid_goods",), "eclipse": ("unpaid_goods",), "sybil": ("unpaid_goods",),
    "replay": ("forged_debit", "unpaid_goods"), "forgery": ("forged_debit",), "channel_fraud": ("channel_theft",),
    "minting": ("minted",), "byzantine_validator": LOSS_CATEGORIES,
    **{c: (c,) for c in LOSS_CATEGORIES},
}
UNATTRIBUTED = "unattributed"
SAFETY = ("supply", "no_negative_balance", "finalized_prefix_agreement", "legitimate_leaders")
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
    evidence: list[dict[str, Any]] = field(default_factory=list)  # result.json keeps the first EVIDENCE_LIMIT
    stolen: int = 0
    honest_loss: int = 0


@dataclass
class Verdict:
    """The judgement of one run; :meth:`as_result` is what goes into ``result.json``, :meth:`from_result` reads it
    back (``faults``: every plugin fault, as :attr:`History.faults` has them)."""

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
    faults: list[dict[str, Any]] = field(default_factory=list)
    evidence_count: int | None = None  # None: len(evidence); read back from a result.json that kept only a part
    stolen_by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOSS_CATEGORIES, 0))
    stolen_by_plugin: dict[str, int] = field(default_factory=dict)  # red plugin (or "unattributed") -> tokens
    story: Story = field(default_factory=Story)  # one sentence per loss; attempts marked succeeded/failed

    @property
    def evidence_total(self) -> int:
        """How many attack evidence events the run had (``evidence`` may keep only the first ones)."""
        return len(self.evidence) if self.evidence_count is None else self.evidence_count

    @property
    def broken(self) -> list[str]:
        """The invariants the referee found broken."""
        return sorted(k for k, v in self.invariants.items() if isinstance(v, dict) and v.get("ok") is False)

    @property
    def held(self) -> bool:
        """The defense held in this run: nothing stolen, no invariant broken, and no plugin faulted (a disabled
        plugin proves nothing). What a tournament ranks defenses by."""
        return self.verdict not in ("red_won", "faulted") and self.stolen == 0 and not self.broken \
            and not self.faults

    def as_result(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "verdict_reason": self.reason,
            "stolen": self.stolen,
            "stolen_by_kind": {k: self.stolen_by_kind.get(k, 0) for k in STOLEN_KINDS},
            "stolen_by_category": {c: self.stolen_by_category.get(c, 0) for c in LOSS_CATEGORIES},
            "stolen_by_plugin": dict(sorted(self.stolen_by_plugin.items())),
            "honest_loss": self.honest_loss,
            "invariants": self.invariants,
            "evidence": self.evidence[:RESULT_EVIDENCE_LIMIT],
            "evidence_count": self.evidence_total,
            "checks": [{**asdict(c), "evidence": c.evidence[:EVIDENCE_LIMIT]} for c in self.checks],
            "latency": self.latency,
            "sybil_spend": self.sybil_spend,
            "red_net_gain": self.stolen - self.sybil_spend,
            "plugin_faults": self.faults,
            "story": self.story.as_result(),
        }

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Verdict | None:
        """The verdict a ``result.json`` holds (None: it has none, e.g. a protocol without a referee). Tolerant of
        results written before a field existed."""
        if "verdict" not in result:
            return None

        def dicts(key: str) -> list[dict[str, Any]]:
            value = result.get(key)
            return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []

        by_kind = result.get("stolen_by_kind")
        checks = [Check(str(c.get("name", "?")), cast(Status, str(c.get("status", "unknown"))),
                        str(c.get("detail", "")), [e for e in c.get("evidence") or [] if isinstance(e, dict)],
                        _int(c.get("stolen")), _int(c.get("honest_loss"))) for c in dicts("checks")]
        evidence = dicts("evidence")
        kinds = {k: _int(v) for k, v in by_kind.items()} if isinstance(by_kind, dict) \
            else dict.fromkeys(STOLEN_KINDS, 0)
        by_cat = result.get("stolen_by_category")
        categories = {c: _int(by_cat.get(c)) for c in LOSS_CATEGORIES} if isinstance(by_cat, dict) \
            else {c: kinds.get(KIND_OF_CATEGORY[c], 0) for c in LOSS_CATEGORIES}
        by_plugin = result.get("stolen_by_plugin")
        plugins = {str(k): _int(v) for k, v in by_plugin.items()} if isinstance(by_plugin, dict) else {}
        return cls(cast(VerdictName, str(result["verdict"])), str(result.get("verdict_reason", "")),
                   _int(result.get("stolen")),
                   {k: _int(v) for k, v in by_kind.items()} if isinstance(by_kind, dict)
                   else dict.fromkeys(STOLEN_KINDS, 0),
                   _int(result.get("honest_loss")),
                   {str(k): v for k, v in (result.get("invariants") or {}).items() if isinstance(v, dict)},
                   evidence, checks, dict(result.get("latency") or _latency_stats([], None)),
                   _int(result.get("sybil_spend")), dicts("plugin_faults"),
                   _int(result.get("evidence_count"), len(evidence)), categories, plugins,
                   Story.from_result(result.get("story")))


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _status(bad: bool) -> Status:
    return "invalid" if bad else "valid"


# ================================================ the checkers ===================================================
def check_double_spend(h: History) -> Check:
    """Unpaid goods, by accounting: for each blue merchant and each red or unknown buyer, the goods delivered
    against the distinct finalised payments from that buyer to that merchant. A payment pays for at most one order
    (for at most its amount), whatever the merchant code believed: each delivery is first matched with the payment it
    names, and the deliveries left over with the payments left over."""
    name = "double_spend"
    seen: set[tuple[Any, Any, Any]] = set()
    orders: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (merchant account, buyer) -> its deliveries
    for ev in h.of("delivery", role="merchant"):
        key = (ev.get("node"), ev.get("order"), ev.get("tx"))
        if key not in seen and h.red_side(str(ev.get("buyer"))):
            seen.add(key)
            merchant = h.accounts.get(h.node_name(ev), "")
            orders.setdefault((merchant, str(ev.get("buyer"))), []).append(ev)
    n = sum(len(evs) for evs in orders.values())
    if not n:
        return Check(name, "valid", "no blue merchant delivered to a red or unknown buyer")
    if h.canon is None:
        return Check(name, "unknown", "no honest validator state to look the payments up in")
    if not h.has_chain:
        return Check(name, "unknown", f"day-1 mode: no finalised chain to look {n} red buyers' payments up in")
    payments: dict[tuple[str, str], dict[str, int]] = {}  # (merchant, buyer) -> tx id -> amount
    for txid, (_, t) in h.chain_txs.items():
        if t.get("kind", 0) == 0:
            payments.setdefault((str(t.get("receiver")), str(t.get("sender"))), {})[txid] = int(t.get("amount", 0))
    unpaid: list[dict[str, Any]] = []
    delivered = paid = 0
    for pair, evs in sorted(orders.items()):
        left = dict(payments.get(pair, {}))
        rest = []
        for ev in evs:  # the payment each delivery names pays for it, once
            txid = str(ev.get("tx"))
            if txid in left:
                _settle(ev, txid, left.pop(txid), unpaid)
            else:
                rest.append(ev)
        for ev in rest:  # then any other payment from that buyer to that merchant, once
            if left:
                txid = max(left, key=lambda k: (left[k], k))
                _settle(ev, txid, left.pop(txid), unpaid)
            else:
                _settle(ev, None, 0, unpaid)
        delivered += sum(int(ev.get("value", 0)) for ev in evs)
    stolen = sum(u["unpaid"] for u in unpaid)
    paid = delivered - stolen
    return Check(name, _status(stolen > 0),
                 f"{n} deliveries worth {delivered} to red/unknown buyers by {len({p[0] for p in orders})} blue "
                 f"merchants; distinct finalised payments from those buyers to those merchants cover {paid}: "
                 f"{stolen} worth of goods unpaid ({len(unpaid)} deliveries)", unpaid,
                 stolen=stolen)


def _settle(ev: dict[str, Any], txid: str | None, amount: int, unpaid: list[dict[str, Any]]) -> None:
    """Pay for the delivery ``ev`` with payment ``txid`` of ``amount`` (None: none left); note what is unpaid."""
    value = int(ev.get("value", 0))
    short = value - min(value, amount)
    if short > 0:
        unpaid.append({**ev, "paid_by": txid, "paid": value - short, "unpaid": short})


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
                 f"or unknown accounts, {loss} lost by blue (amount + fee)", forged,
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
                 f"outdated state for a gain of {stolen}", frauds, stolen=stolen, honest_loss=stolen)


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
    """Every canonical block was proposed by its slot's leader: the referee re-runs the stake-weighted leader
    schedule (parent hash, slot, stakes as the chain leaves them) over the canonical chain."""
    name = "legitimate_leaders"
    if h.canon is None:
        return Check(name, "unknown", "no honest validator state")
    if not h.has_chain:
        return Check(name, "valid", "day-1 mode: no blocks, no leaders")
    if h.genesis.get("leader_schedule", "stake") != "stake":
        return Check(name, "unknown", f"the protocol ({h.genesis.get('protocol', '?')}) chooses its leaders by a rule "
                     "of its own (leader_schedule: own), which the referee cannot re-run")
    genesis = {h.accounts[n]: s for n, s in h.stakes.items() if s > 0 and n in h.accounts}
    final = {a: int(r.get("stake", 0)) for a, r in (h.canon.get("ledger") or {}).items() if isinstance(r, dict)}
    bad, checked, stopped = schedule_violations(h.chain, genesis, final)
    scope = f"leader schedule re-run over {checked} of {len(h.chain)} canonical blocks" \
        + (f" ({stopped})" if stopped else "")
    if bad:
        return Check(name, "invalid", f"{len(bad)} canonical blocks proposed out of turn; {scope}",
                     bad[:EVIDENCE_LIMIT])
    return Check(name, "valid", f"every block proposed by its slot's leader; {scope}")


def check_states_verified(h: History) -> Check:
    """Blue validators' states that disagree with themselves are not believed (judged as if missing)."""
    name = "states_verified"
    if not h.disbelieved:
        return Check(name, "valid", f"{len(h.validators)} honest validator states agree with themselves")
    return Check(name, "invalid", f"{len(h.disbelieved)} honest validator states not believed: " + "; ".join(
        f"{d['name']}: {d['reason']}" for d in h.disbelieved[:5]), list(h.disbelieved[:EVIDENCE_LIMIT]))


def attribute(h: History, by_category: Mapping[str, int]) -> dict[str, int]:
    """Each loss category's tokens shared among the red plugins whose evidence names a kind that explains it
    (:data:`EVIDENCE_CATEGORIES`), equally (remainder to the first by name); "unattributed" when none does."""
    claims: dict[str, set[str]] = {}
    for ev in h.attack_evidence:
        for cat in EVIDENCE_CATEGORIES.get(str(ev.get("kind")), ()):
            claims.setdefault(cat, set()).add(str(ev.get("plugin") or "?"))
    out: dict[str, int] = {}
    for cat in LOSS_CATEGORIES:
        loss = int(by_category.get(cat, 0))
        if loss <= 0:
            continue
        plugins = sorted(claims.get(cat, ())) or [UNATTRIBUTED]
        share, rest = divmod(loss, len(plugins))
        for i, plugin in enumerate(plugins):
            out[plugin] = out.get(plugin, 0) + share + (1 if i < rest else 0)
    return out


def intent_finality(h: History) -> list[tuple[dict[str, Any], float | None]]:
    """Each honest intent with the time a blue validator finalised its canonical block (None: never)."""
    out: list[tuple[dict[str, Any], float | None]] = []
    for ev in h.blue_intents:
        found = h.chain_txs.get(str(ev.get("tx")))
        out.append((ev, h.finalized_at(found[0]) if found else None))
    return out


#: The structured counts of the ``liveness`` invariant (beside ``ok`` and ``detail``), so a tournament can score
#: honest service without parsing the detail text. ``judged``: the intents held against liveness (all but those
#: refused for the sender's own fault and, with a ``max_delay``, those too recent to judge); with a ``max_delay``,
#: ``judged = on_time + late + stuck``. Without one, ``on_time``/``late``/``stuck``/``too_recent`` are None; with no
#: chain to time (no honest validator state, day-1 mode), everything but ``intents`` and ``max_delay`` is None.
LIVENESS_COUNTS = ("intents", "finalised", "own_fault", "too_recent", "late", "stuck", "on_time", "judged",
                   "max_delay")


def check_liveness(h: History) -> Check:
    """Honest intents finalised late or never; judged only against the scenario's ``referee.max_delay``."""
    return _liveness(h)[0]


def liveness_counts(h: History) -> dict[str, Any]:
    """The numbers behind :func:`check_liveness` (keys :data:`LIVENESS_COUNTS`): what the invariant carries."""
    return _liveness(h)[1]


def _liveness(h: History) -> tuple[Check, dict[str, Any]]:
    name = "liveness"
    intents = h.blue_intents
    limit = h.max_delay
    counts = dict.fromkeys(LIVENESS_COUNTS)
    counts.update(intents=len(intents), max_delay=limit)
    if h.canon is None or not h.has_chain:
        why = "no honest validator state" if h.canon is None else "day-1 mode: no finality to time"
        return Check(name, "unknown", f"{why}; {len(intents)} honest intents"), counts
    timed = intent_finality(h)
    refused: dict[str, str] = {}
    for ev in h.of("tx_rejected", role="validator"):
        refused.setdefault(str(ev.get("tx")), str(ev.get("reason")))
    missing = [ev for ev, at in timed if at is None]
    own_fault = [ev for ev in missing if refused.get(str(ev.get("tx"))) in SENDER_FAULTS]
    counts.update(finalised=len(intents) - len(missing), own_fault=len(own_fault),
                  judged=len(intents) - len(own_fault))
    text = (f"{len(intents)} honest intents: {len(intents) - len(missing)} finalised, {len(missing)} not finalised "
            f"in the canonical chain ({len(own_fault)} of them refused for the sender's own fault)")
    if limit is None:
        return Check(name, "unknown", text + "; no referee.max_delay, so no liveness judgement"), counts
    late = [{**ev, "finalized_at": at} for ev, at in timed if at is not None and at - float(ev.get("t", 0.0)) > limit]
    excused = {id(ev) for ev in own_fault}
    stuck = [ev for ev in missing if id(ev) not in excused and float(ev.get("t", 0.0)) + limit <= h.end_time]
    too_recent = len(missing) - len(own_fault) - len(stuck)
    counts.update(too_recent=too_recent, late=len(late), stuck=len(stuck),
                  on_time=len(intents) - len(missing) - len(late), judged=len(intents) - len(own_fault) - too_recent)
    bad = late + stuck
    return Check(name, _status(bool(bad)), f"{text}; max_delay {limit:g}s: {len(late)} finalised late, "
                 f"{len(stuck)} not finalised within it", bad[:EVIDENCE_LIMIT]), counts


def check_attack_fired(h: History) -> Check:
    """Whether any red plugin declared that its attack fired (an ``evidence`` event from a non-blue node)."""
    n = len(h.attack_evidence)
    if n:
        kinds = Counter(str(ev.get("kind")) for ev in h.attack_evidence)
        return Check("attack_fired", "valid", f"{n} evidence events: " + ", ".join(
            f"{k} x{c}" for k, c in sorted(kinds.items())), h.attack_evidence[:EVIDENCE_LIMIT])
    return Check("attack_fired", "unknown", "no evidence event was recorded")


def describe_fault(f: Mapping[str, Any]) -> str:
    """``red plugin double_spend faulted in arena_tick at attacks/double_spend.py:41 (KeyError: 'nope')``."""
    team = f"{f['team']} " if f.get("team") else ""
    where = f.get("where") or []
    at = f" at {where[-1]}" if where else ""
    error = f" ({f['error']})" if f.get("error") else ""
    return f"{team}plugin {f.get('plugin', '?')} faulted in {f.get('hook', '?')}{at}{error}"


def check_plugin_faults(h: History) -> Check:
    """Plugins the hook caller disabled mid-battle (raised, bad return or mutation, over budget): each is a battle
    that did not run as written, whichever team's plugin it was."""
    faults = h.faults
    if not faults:
        return Check("plugin_faults", "valid", "no plugin faulted")
    kinds = Counter(f"{f['team'] or '?'} {f['kind']}" for f in faults)
    return Check("plugin_faults", "invalid", f"{len(faults)} plugin faults (" + ", ".join(
        f"{k} x{c}" for k, c in sorted(kinds.items())) + "); first: " + describe_fault(faults[0]),
        faults[:EVIDENCE_LIMIT])


CHECKERS = (check_double_spend, check_forgery, check_channel_fraud, check_minting, check_legitimate_leaders,
            check_liveness, check_attack_fired, check_plugin_faults, check_states_verified)


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


def _faults_note(faults: list[dict[str, Any]]) -> str:
    more = f" +{len(faults) - 1} more" if len(faults) > 1 else ""
    return describe_fault(faults[0]) + more


def judge(header: dict[str, Any], events: Iterable[dict[str, Any]], states: list[dict[str, Any]]) -> Verdict:
    """The verdict of a run from its trace header, events and final states. Never raises."""
    try:
        return _judge(History(header, events, states))
    except Exception as exc:  # a referee that cannot decide says so
        return Verdict("unknown", f"referee error: {type(exc).__name__}: {exc}")


def judge_history(h: History) -> Verdict:
    """The verdict of a run's history (one :func:`load_history` serves the referee and the report). Never raises."""
    if not h.has_trace:
        return Verdict("unknown", "referee error: " + "; ".join(h.problems or ["no trace.jsonl"]))
    try:
        return _judge(h)
    except Exception as exc:  # a referee that cannot decide says so
        return Verdict("unknown", f"referee error: {type(exc).__name__}: {exc}")


def _judge(h: History) -> Verdict:
    checks = {fn.__name__.removeprefix("check_"): fn(h) for fn in CHECKERS}
    by_kind = {k: checks[k].stolen for k in STOLEN_KINDS}
    by_category = {c: by_kind[KIND_OF_CATEGORY[c]] for c in LOSS_CATEGORIES}
    stolen = sum(by_kind.values())
    honest_loss = sum(c.honest_loss for c in checks.values())
    invariants = consensus_invariants(h.states)
    invariants["legitimate_leaders"] = _invariant(checks["legitimate_leaders"])
    invariants["liveness"] = {**_invariant(checks["liveness"]), **liveness_counts(h)}
    if h.canon is not None and h.has_chain:
        timed = intent_finality(h)
        latency = _latency_stats([max(0.0, at - float(ev.get("t", 0.0))) for ev, at in timed if at is not None],
                                 sum(1 for _, at in timed if at is None))
    else:
        latency = _latency_stats([], None)
    broken = [k for k in (*SAFETY, "liveness") if invariants[k]["ok"] is False]
    faults = h.faults
    verdict: VerdictName = "unknown"
    if h.problems:  # a cut trace or an unreadable state could hide a theft or fake a chain: no judgement
        reason = "cannot decide: the run's files are damaged: " + "; ".join(h.problems)
        if stolen or broken:
            reason += f" (the checks found {stolen} stolen" + (f", broken: {', '.join(broken)}" if broken else "") \
                + ")"
        if faults:
            reason += "; " + _faults_note(faults)
    elif stolen > 0 or broken:
        verdict = "red_won"
        parts = []
        if stolen:
            parts.append(f"stolen {stolen} (" + ", ".join(f"{c} {v}" for c, v in by_category.items() if v) + ")")
        if broken:
            parts.append("invariants broken: " + ", ".join(broken))
        if faults:
            parts.append(f"{len(faults)} plugin faults (first: {describe_fault(faults[0])})")
        reason = "; ".join(parts)
    elif faults:
        verdict = "faulted"
        reason = f"{_faults_note(faults)}; it was disabled, so this battle says nothing about the defense"
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
    evidence = list(h.attack_evidence)
    story = tell(h, checks, verdict, reason, invariants, evidence[:RESULT_EVIDENCE_LIMIT], EVIDENCE_CATEGORIES)
    return Verdict(verdict, reason, stolen, by_kind, honest_loss, invariants, evidence,
                   list(checks.values()), latency, h.sybil_spend, faults, None, by_category,
                   attribute(h, by_category), story)


def judge_run_dir(path: Path | str, extra_dirs: Sequence[Path | str] = ()) -> Verdict:
    """Judge a run directory (``trace.jsonl`` + ``states/``), optionally merged with other machines'. Never raises."""
    try:
        h = load_history(path, extra_dirs)
    except Exception as exc:
        return Verdict("unknown", f"referee error: {type(exc).__name__}: {exc}")
    return judge_history(h)


__all__ = ["CATEGORY_OF_KIND", "CHECKERS", "EVIDENCE_CATEGORIES", "KEPT", "KIND_OF_CATEGORY", "LIVENESS_COUNTS",
           "LOSS_CATEGORIES", "RELEVANT", "STOLEN_KINDS", "UNATTRIBUTED", "VERDICTS", "Check", "History", "Verdict",
           "attribute", "describe_fault", "judge", "judge_history", "judge_run_dir", "liveness_counts",
           "load_history", "load_run"]
