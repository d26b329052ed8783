"""Scoring a finished tournament from its ``tournament.json`` alone, so a class can rescore without rerunning it.

Two scorings (``docs/tournament.md`` gives both formulas with a worked example):

* ``stolen``: what ``arena tournament`` prints (:func:`arena.experiments.tournament.leaderboard`): attacks by tokens
  stolen from defenses; defenses by the share of battles held, then fewer faulted battles, then less stolen.
* ``ctf``: attack-defense CTF points, after FAUST CTF's offense (``1 + 1/captures`` per flag), the Attacking-Lab
  ATKLAB v2 defense points for attacks stopped (counted only while the service is up) and an SLA part for honest
  transfers finalised within the scenario's ``referee.max_delay``. A round is a seed; the ``none`` setting is the
  NOP team: the undefended control that shows an attack works on that seed, never a victim worth points.

``tournament.json`` is a hostile file: :func:`score` reads any JSON value and either returns a :class:`Scoreboard` or
raises :class:`TournamentFormatError` naming the key. Both scorings count a battle only on a seed where its attack
beat the undefended control (the tournament's own rule). Points are computed as exact fractions, so the result does
not depend on the order of the runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

from arena.experiments.tournament_doc import NONE, Battle, Tournament, TournamentFormatError, parse

__all__ = ["NONE", "SCORINGS", "SERVICE_POINTS", "AttackScore", "Battle", "DefenseScore", "Scoreboard",
           "TournamentFormatError", "control_lost", "parse", "score"]

SCORINGS = ("stolen", "ctf")
ATTACK_BASE = DEFENSE_BASE = Fraction(1)  # per theft / per stop
ATTACK_BONUS = DEFENSE_BONUS = Fraction(1)  # shared by the attacks that beat that defense on that seed (or the
#                                            defenses that stopped that attack)
SERVICE_POINTS = ATTACK_BASE + ATTACK_BONUS  # a battle of full service: the most one stop can earn


# ================================================ the scoreboard ================================================
@dataclass(frozen=True)
class AttackScore:
    """One attack's line; tokens count only in battles whose undefended control lost (seeds that count)."""

    name: str
    rank: int
    total: float  # ctf: attack points; stolen: tokens stolen from defenses
    attack: float  # the attack part (= total in both scorings)
    thefts: int  # ctf: thefts credited; stolen: counted defended battles not held
    battles: int  # defended battles that count
    stolen: int  # tokens stolen from defenses in the battles that count
    control_stolen: int  # tokens stolen from the undefended control on the seeds that count
    faulted: int  # battles of this attack (any setting, any seed) in which a plugin faulted


@dataclass(frozen=True)
class DefenseScore:
    """One defense setting's line. ``ctf``: ``total`` = ``defense`` + ``availability`` (None: unknown, left out);
    ``stolen``: ``total`` = ``defense`` = the share of counted battles held (None: nothing counted)."""

    name: str
    rank: int
    total: float | None
    defense: float | None
    availability: float | None
    stops: int  # ctf: stops credited; stolen: counted battles held
    battles: int  # battles that count (ctf: against real attacks only, so 0 for the control)
    stolen: int  # tokens stolen from it in the battles that count
    faulted: int  # battles with a plugin fault (stolen: among those that count, as the leaderboard)
    service_by_seed: dict[int, float | None] = field(default_factory=dict)  # ctf: mean service share per seed
    control: bool = False  # the undefended setting (the NOP team)


@dataclass(frozen=True)
class Scoreboard:
    """Both rankings, what could not be scored (``unknown``: score parts) and why (``warnings``, one line each)."""

    scoring: str
    attacks: list[AttackScore]
    defenses: list[DefenseScore]
    warnings: list[str]
    unknown: list[str]
    formula: dict[str, str]  # "attacks", "defenses": each ranking's rule in one line
    seeds: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "defenses": [{**asdict(d), "service_by_seed": {str(s): v for s, v in
                                                                               d.service_by_seed.items()}}
                                             for d in self.defenses]}


def _num(x: Fraction) -> float:
    return round(float(x), 6)


def _by(battles: Iterable[Battle], key: Callable[[Battle], Any]) -> dict[Any, list[Battle]]:
    out: dict[Any, list[Battle]] = {}
    for b in battles:
        out.setdefault(key(b), []).append(b)
    return out


def _ranked(rows: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    """``rows`` sorted by ``key``, each with its rank (1, 2, ...; ties broken by name inside ``key``)."""
    return [replace(r, rank=i + 1) for i, r in enumerate(sorted(rows, key=key))]


def _fault_lines(battles: Iterable[Battle], what: Callable[[Battle], str]) -> list[str]:
    return [f"{b.attack} vs {b.defense} seed {b.seed}: {' and '.join(sorted(b.faulted))} plugin faulted"
            + (f" ({b.fault})" if b.fault else "") + f": {what(b)}" for b in battles if b.faulted]


def _missing_lines(t: Tournament, why: Mapping[str, str]) -> list[str]:
    return [f"{n} runs lack `{k}` (a tournament.json older than `arena score`): {why[k]}"
            for k, n in sorted(t.missing.items()) if k in why]


MISSING = {"plugin_faults": "taken as no fault",
           "faulted_teams": "the faulting side is taken from first_fault (both sides when unsure)"}


def score(doc: Any, scoring: str = "stolen") -> Scoreboard:
    """Score a ``tournament.json`` value (``scoring``: one of :data:`SCORINGS`). Deterministic; reads nothing but
    ``doc`` (no run directory)."""
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, not {scoring!r}")
    t = parse(doc)
    return _stolen(t) if scoring == "stolen" else _ctf(t)


def control_lost(b: Battle) -> bool:
    """The undefended battle shows the attack works on its seed: the referee said ``red_won`` and something was
    stolen (the rule of :func:`arena.experiments.tournament.control_lost`)."""
    return b.defense == NONE and b.verdict == "red_won" and b.stolen > 0


def _counted(t: Tournament) -> tuple[list[Battle], list[str]]:
    """The battles that count (their attack's undefended control lost on their seed; the control battles among
    them), and one warning per (attack, seed) with defended battles that do not."""
    lost = {(b.attack, b.seed) for b in t.battles if control_lost(b)}
    played = {(b.attack, b.seed) for b in t.battles if b.defense == NONE}
    counted = [b for b in t.battles if (b.attack, b.seed) in lost]
    defended = {k: len(v) for k, v in _by((b for b in t.battles if b.defense != NONE),
                                          lambda b: (b.attack, b.seed)).items()}
    if NONE not in t.defenses:
        return counted, ([f"no `{NONE}` defense setting: no undefended control shows that any attack works, so no "
                          f"battle counts (play --defenses {NONE} too)"] if defended else [])
    order = {a: i for i, a in enumerate(t.attacks)}
    lines = []
    for (a, s), n in sorted(defended.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        if (a, s) not in lost:
            why = "the undefended control did not lose" if (a, s) in played else "no undefended control run"
            lines.append(f"{a} seed {s}: {why}, so its {n} defended battle{'s' * (n != 1)} do not count")
    return counted, lines


def _stolen(t: Tournament) -> Scoreboard:
    """The leaderboard's rankings (:func:`arena.experiments.tournament.leaderboard`), over the battles that count:
    attacks by tokens stolen from defenses, then from the control; defenses by the share of battles held, then
    fewer faulted battles, then less stolen (a setting with nothing counted last)."""
    counted, warnings = _counted(t)
    attacks = []
    for a in t.attacks:
        mine = [b for b in counted if b.attack == a and b.defense != NONE]
        stolen = sum(b.stolen for b in mine)
        attacks.append(AttackScore(a, 0, float(stolen), float(stolen), sum(1 for b in mine if not _held(b)),
                                   len(mine), stolen, sum(b.stolen for b in counted if b.attack == a and
                                                          b.defense == NONE),
                                   sum(1 for b in t.battles if b.attack == a and b.faulted)))
    defenses = []
    for d in t.defenses:
        mine = [b for b in counted if b.defense == d]
        held = sum(1 for b in mine if _held(b))
        share = held / len(mine) if mine else None
        defenses.append(DefenseScore(d, 0, share, share, None, held, len(mine), sum(b.stolen for b in mine),
                                     sum(1 for b in mine if b.faulted), control=d == NONE))
    warnings += _fault_lines(t.battles, lambda b: "the run never counts as held")
    warnings += _missing_lines(t, MISSING)
    return Scoreboard("stolen", _ranked(attacks, lambda r: (-r.stolen, -r.control_stolen, r.name)),
                      _ranked(defenses, lambda r: (r.total is None, -(r.total or 0.0), r.faulted, r.stolen, r.name)),
                      warnings, [],
                      {"attacks": "tokens stolen from defenses on the seeds that count (the undefended control "
                       "lost), then from the control", "defenses": "share of the battles that count held (nothing "
                       "stolen, nothing broken, no plugin fault), then fewer faulted battles, then less stolen"},
                      len({b.seed for b in t.battles}))


def _held(b: Battle) -> bool:
    return b.held and not b.faulted and b.stolen == 0


def _ctf(t: Tournament) -> Scoreboard:
    """Attack-defense CTF points (``docs/tournament.md``, "The ctf scoring")."""
    counted_all, warnings = _counted(t)
    counted = [b for b in counted_all if b.defense != NONE]
    thefts = [b for b in counted if b.stolen > 0 and "red" not in b.faulted]
    stops = [b for b in counted if _held(b)]
    beaten = {k: len(v) for k, v in _by(thefts, lambda b: (b.defense, b.seed)).items()}  # n(d, s)
    stoppers = {k: len(v) for k, v in _by(stops, lambda b: (b.attack, b.seed)).items()}  # m(a, s)
    known = all(b.service is not None for b in t.battles)

    def theft(b: Battle) -> Fraction:
        return ATTACK_BASE + ATTACK_BONUS / beaten[(b.defense, b.seed)]

    def stop(b: Battle) -> Fraction:  # worth its battle's service share (unknown service: not weighted)
        share = b.service if known and b.service is not None else Fraction(1)
        return (DEFENSE_BASE + DEFENSE_BONUS / stoppers[(b.attack, b.seed)]) * share

    def sla(b: Battle) -> Fraction:
        return Fraction(0) if "blue" in b.faulted or b.service is None else SERVICE_POINTS * b.service

    def total(xs: Iterable[Fraction]) -> Fraction:
        return sum(xs, Fraction(0))

    attacks = []
    for a in t.attacks:
        won = [b for b in thefts if b.attack == a]
        pts = _num(total(theft(b) for b in won))
        attacks.append(AttackScore(a, 0, pts, pts, len(won), sum(1 for b in counted if b.attack == a),
                                   sum(b.stolen for b in counted if b.attack == a),
                                   sum(b.stolen for b in counted_all if b.attack == a and b.defense == NONE),
                                   sum(1 for b in t.battles if b.attack == a and b.faulted)))
    defenses = []
    for d in t.defenses:
        mine, held = [b for b in t.battles if b.defense == d], [b for b in stops if b.defense == d]
        dpts, avail = total(stop(b) for b in held), total(sla(b) for b in mine) if known else None
        by_seed = {s: _num(total(sla(b) for b in on) / SERVICE_POINTS / len(on)) if known else None
                   for s, on in sorted(_by(mine, lambda b: b.seed).items())}
        defenses.append(DefenseScore(d, 0, _num(dpts + (avail or 0)), _num(dpts), None if avail is None
                                     else _num(avail), len(held), sum(1 for b in counted if b.defense == d),
                                     sum(b.stolen for b in counted_all if b.defense == d),
                                     sum(1 for b in mine if b.faulted), by_seed, d == NONE))
    side = {"red": "the attack", "blue": "the defense"}
    warnings += _fault_lines(t.battles, lambda b: "scores nothing for " + " or ".join(side[x] for x in
                                                                                      sorted(b.faulted)))
    warnings += _missing_lines(t, {**MISSING, "liveness": "availability is unknown"})
    if known:
        warnings += [f"{b.attack} vs {b.defense} seed {b.seed}: {b.service_note}: no availability or defense "
                     "points" for b in t.battles if b.service_note]
        untimed = sum(1 for b in t.battles if not b.timed)
        if untimed:
            warnings.append(f"no referee.max_delay in the scenario of {untimed} of {len(t.battles)} battles: their "
                            "availability counts honest intents finalised at all, not finalised in time")
    else:
        warnings.append("availability unknown: totals leave it out and defense points are not weighted by service "
                        "(rerun the tournament to score it)")
    return Scoreboard("ctf", _ranked(attacks, lambda r: (-r.total, -r.thefts, r.name)),
                      _ranked(defenses, lambda r: (-(r.total or 0.0), -(r.defense or 0.0), r.name)), warnings,
                      [] if known else ["availability"],
                      {"attacks": "1 + 1/n per theft (n: attacks that beat that defense on that seed), only where "
                       "the undefended control lost",
                       "defenses": "defense: (1 + 1/m) x service per stop (m: settings that stopped that attack on "
                       f"that seed), only where the undefended control lost; availability: {SERVICE_POINTS} x "
                       "service per battle"}, len({b.seed for b in t.battles}))
