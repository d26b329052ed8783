"""The story of a battle: one plain sentence per loss, naming nodes and amounts, and each attack attempt marked as
succeeded or failed by the losses it can be linked to.

A pure function of the referee's history and its checks, like the checkers themselves. The losses come from the
referee's accounting (the checks' evidence), never from what a red plugin claims; an attempt (a red ``evidence``
event) counts as succeeded only when it names a transaction, block or channel that one of those losses is about.
A red plugin can therefore claim an attempt, but it cannot make a loss, and it cannot make a failed attempt look
successful without naming the very transaction the referee found lost.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from arena.referee.history import History

Outcome = Literal["succeeded", "failed", "unclear"]
#: Sentences kept in result.json (the totals are always complete).
STORY_LIMIT = 200
#: Hex ids in evidence data that a loss can be linked by (tx ids, block hashes, channel ids).
_HEX_ID = re.compile(r"^[0-9a-f]{16,128}$")
#: Which loss categories a kind of attack evidence can explain (mirrors checkers.EVIDENCE_CATEGORIES; an unknown
#: kind may explain any).
ALL_CATEGORIES = ("unpaid_goods", "forged_debit", "channel_theft", "minted")


@dataclass
class Loss:
    """One loss the referee counted: its category, the tokens, the sentence, and what it can be linked by."""

    category: str
    amount: int
    sentence: str
    t: float | None = None
    ids: list[str] = field(default_factory=list)  # tx ids / block hashes / channel ids this loss is about
    evidence: list[int] = field(default_factory=list)  # indexes of the attempts linked to it


@dataclass
class Attempt:
    """One red ``evidence`` event, by its index in the verdict's evidence list, and what came of it."""

    evidence: int
    outcome: Outcome
    losses: list[int] = field(default_factory=list)


@dataclass
class Story:
    """What happened, in sentences: ``summary`` first, then one per loss and one per broken invariant."""

    summary: str = ""
    losses: list[Loss] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    loss_count: int = 0  # all losses (``losses`` keeps the first STORY_LIMIT)

    @property
    def sentences(self) -> list[str]:
        """Every sentence in reading order: the summary, the losses, the broken invariants."""
        return [s for s in (self.summary, *(lo.sentence for lo in self.losses), *self.broken) if s]

    def outcomes(self) -> Counter[str]:
        return Counter(a.outcome for a in self.attempts)

    def as_result(self) -> dict[str, Any]:
        return {"summary": self.summary, "losses": [asdict(lo) for lo in self.losses[:STORY_LIMIT]],
                "loss_count": self.loss_count, "broken": self.broken,
                "attempts": [asdict(a) for a in self.attempts]}

    @classmethod
    def from_result(cls, raw: Any) -> Story:
        """Read a story back from ``result.json`` (a hostile file: anything malformed is left out)."""
        if not isinstance(raw, dict):
            return cls()
        losses = [Loss(str(lo.get("category", "")), _int(lo.get("amount")), str(lo.get("sentence", "")),
                       _num(lo.get("t")), [str(i) for i in _list(lo.get("ids"))],
                       [_int(i) for i in _list(lo.get("evidence"))]) for lo in _list(raw.get("losses"))
                  if isinstance(lo, dict)]
        attempts = [Attempt(_int(a.get("evidence")), _outcome(a.get("outcome")),
                            [_int(i) for i in _list(a.get("losses"))]) for a in _list(raw.get("attempts"))
                    if isinstance(a, dict)]
        return cls(str(raw.get("summary", "")), losses, [str(s) for s in _list(raw.get("broken"))], attempts,
                   _int(raw.get("loss_count"), len(losses)))


# ================================================ names ==========================================================
class _Names:
    """Account and node names as the genesis event gives them, with each team in brackets for red ones."""

    def __init__(self, h: History) -> None:
        self.h = h

    def account(self, acct: Any) -> str:
        a = str(acct)
        name = self.h.acct_name.get(a) or self.h.sybils.get(a)
        if name is None:
            return f"an unknown account {a[:10]}"
        return name + (" (red)" if self.h.red_side(a) else "")

    def plain(self, acct: Any) -> str:
        a = str(acct)
        return self.h.acct_name.get(a) or self.h.sybils.get(a) or f"{a[:10]}"

    def node(self, ev: Mapping[str, Any]) -> str:
        return self.h.node_name(ev) or f"node {ev.get('node', '?')}"


def _at(t: Any) -> str:
    x = _num(t)
    return "" if x is None else f"at {x:.1f} s "


# ================================================ one loss per item ==============================================
def _unpaid_goods(items: Iterable[Mapping[str, Any]], n: _Names) -> list[Loss]:
    out = []
    for ev in items:
        unpaid, value, paid = _int(ev.get("unpaid")), _int(ev.get("value")), _int(ev.get("paid"))
        buyer = n.account(ev.get("buyer"))
        cover = f"only {paid} of it is covered by a finalised payment from {n.plain(ev.get('buyer'))}" if paid \
            else f"no finalised payment from {n.plain(ev.get('buyer'))} to {n.node(ev)} covers it"
        order = f"order {ev.get('order')} " if ev.get("order") is not None else ""
        sentence = _cap(f"{_at(ev.get('t'))}{n.node(ev)} delivered {order}worth {value} to {buyer}, but {cover}: "
                        f"{unpaid} of goods went unpaid.")
        ids = [str(ev[k]) for k in ("tx",) if _is_id(ev.get(k))]
        out.append(Loss("unpaid_goods", unpaid, sentence, _num(ev.get("t")), ids))
    return out


def _forged_debits(items: Iterable[Mapping[str, Any]], n: _Names, h: History) -> list[Loss]:
    out = []
    for tx in items:
        amount, fee = _int(tx.get("amount")), _int(tx.get("fee"))
        sender, receiver = tx.get("sender"), tx.get("receiver")
        to_red = h.red_side(str(receiver))
        height = _int(tx.get("height"), -1)
        where = f"block {height} of the canonical chain" if height >= 0 else "the canonical chain"
        what = f"{amount} stolen" if to_red else "none of it to red"
        sentence = _cap(f"{where} debits {n.account(sender)} {amount} (fee {fee}) to {n.account(receiver)} in a "
                        f"transfer {n.plain(sender)} never made: {what}, {amount + fee} lost by "
                        f"{n.plain(sender)}.")
        ids = [str(tx[k]) for k in ("id", "block") if _is_id(tx.get(k))]
        out.append(Loss("forged_debit", amount if to_red else 0, sentence,
                        h.finalized_at(height) if height >= 0 else None, ids))
    return out


def _channel_thefts(items: Iterable[Mapping[str, Any]], n: _Names) -> list[Loss]:
    out = []
    for item in items:
        settled = _dict(item.get("settled"))
        newer = _dict(item.get("honest_state"))
        closer, a, b = settled.get("closer"), settled.get("a"), settled.get("b")
        victim = b if closer == a else a
        gain = _int(item.get("gain"))
        cid = str(settled.get("channel", ""))
        sentence = _cap(f"{_at(settled.get('t'))}{n.account(closer)} closed channel {cid[:8]} with "
                        f"{n.account(victim)} on state {settled.get('seq', '?')} although {n.plain(victim)} had "
                        f"countersigned state {newer.get('seq', '?')}: {gain} taken from {n.plain(victim)}.")
        out.append(Loss("channel_theft", gain, sentence, _num(settled.get("t")), [cid] if _is_id(cid) else []))
    return out


def _minted(items: Iterable[Mapping[str, Any]], detail: str) -> list[Loss]:
    out = []
    for item in items:
        excess = _int(item.get("excess"))
        sentence = (f"The canonical supply is {_int(item.get('supply'))}, but genesis, block rewards and burns "
                    f"allow {_int(item.get('expected'))}: {excess} tokens were minted from nothing "
                    f"(the red team gained {_int(item.get('red_gain'))} since genesis).")
        out.append(Loss("minted", excess, sentence))
    if not out and detail:
        out.append(Loss("minted", 0, detail))
    return out


# ================================================ the story ======================================================
def tell(h: History, checks: Mapping[str, Any], verdict: str, reason: str, invariants: Mapping[str, Any],
         evidence: list[dict[str, Any]], evidence_categories: Mapping[str, tuple[str, ...]]) -> Story:
    """The story of a judged run. ``checks``: the checkers' answers by name (objects with ``stolen`` and
    ``evidence``); ``evidence``: the red evidence events in the order the verdict keeps them."""
    n = _Names(h)
    losses: list[Loss] = []
    for name, build in (("double_spend", lambda c: _unpaid_goods(c.evidence, n)),
                        ("forgery", lambda c: _forged_debits(c.evidence, n, h)),
                        ("channel_fraud", lambda c: _channel_thefts(c.evidence, n)),
                        ("minting", lambda c: _minted(c.evidence, c.detail))):
        check = checks.get(name)
        if check is not None and check.stolen > 0:
            losses += build(check)
    losses.sort(key=lambda lo: (lo.t is None, lo.t or 0.0))
    broken = [f"The safety invariant {k} is broken: {v.get('detail', '')}." for k, v in invariants.items()
              if isinstance(v, dict) and v.get("ok") is False and k != "liveness"]
    if isinstance(invariants.get("liveness"), dict) and invariants["liveness"].get("ok") is False:
        broken.append(f"Honest service was not kept: {invariants['liveness'].get('detail', '')}.")
    attempts = link(evidence, losses, evidence_categories)
    story = Story("", losses[:STORY_LIMIT], broken, attempts, len(losses))
    story.summary = _summary(verdict, reason, losses, attempts, evidence)
    return story


def link(evidence: list[dict[str, Any]], losses: list[Loss], evidence_categories: Mapping[str, tuple[str, ...]]
         ) -> list[Attempt]:
    """Each attempt's outcome: ``succeeded`` when it names an id one of the losses is about; ``failed`` when it
    names ids and none is lost, or when no loss happened in any category its kind explains; ``unclear`` when such
    losses happened but this evidence names nothing a loss is about (or the losses carry no ids, like minting)."""
    by_id: dict[str, list[int]] = {}
    for j, lo in enumerate(losses):
        for lost_id in lo.ids:
            by_id.setdefault(lost_id, []).append(j)
    lost_categories = {lo.category for lo in losses if lo.amount > 0}
    idless = {lo.category for lo in losses if lo.amount > 0 and not lo.ids}
    attempts = []
    for i, ev in enumerate(evidence):
        named = sorted(_ids_in(ev))
        hit = sorted({j for x in named for j in by_id.get(x, [])})
        cats = set(evidence_categories.get(str(ev.get("kind")), ALL_CATEGORIES))
        outcome: Outcome
        if hit:
            outcome = "succeeded"
            for j in hit:
                losses[j].evidence.append(i)
        elif not cats & lost_categories or (named and not cats & idless):
            outcome = "failed"
        else:
            outcome = "unclear"
        attempts.append(Attempt(i, outcome, hit))
    return attempts


def _summary(verdict: str, reason: str, losses: list[Loss], attempts: list[Attempt],
             evidence: list[dict[str, Any]]) -> str:
    kinds = Counter(str(ev.get("kind")) for ev in evidence)
    tried = ", ".join(f"{k} x{c}" for k, c in sorted(kinds.items()))
    counts = Counter(a.outcome for a in attempts)
    stolen = sum(lo.amount for lo in losses)
    if verdict == "red_won":
        lead = f"Red won: {stolen} stolen in {_n(len(losses), 'loss', 'losses')}" if losses \
            else f"Red won: {reason}"
    elif verdict == "blue_won":
        lead = "Blue won: nothing was stolen"
    elif verdict == "faulted":
        lead = f"No judgement of the defense: {reason}"
    else:
        lead = f"No verdict: {reason}"
    if not evidence:
        return lead + "."
    parts = [f"{counts[o]} {o}" for o in ("succeeded", "failed", "unclear") if counts[o]]
    return f"{lead}; of red's {_n(len(evidence), 'attempt', 'attempts')} ({tried}), " + ", ".join(parts) + "."


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# ================================================ small readers ==================================================
def _ids_in(ev: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for k, v in ev.items():
        if k in ("t", "ev", "node", "plugin", "kind", "detail"):
            continue
        for x in v if isinstance(v, list) else [v]:
            if _is_id(x):
                out.add(str(x))
    return out


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_HEX_ID.match(value))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    x = float(value)
    return x if x == x and abs(x) != float("inf") else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _outcome(value: Any) -> Outcome:
    return value if value in ("succeeded", "failed", "unclear") else "unclear"


__all__ = ["STORY_LIMIT", "Attempt", "Loss", "Outcome", "Story", "link", "tell"]
