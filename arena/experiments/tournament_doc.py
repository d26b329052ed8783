"""Reading ``tournament.json`` strictly, as the hostile file it is: every battle as a typed :class:`Battle`, or a
:class:`TournamentFormatError` naming the key (``cells[2].runs[0].stolen``). What :mod:`arena.experiments.scoring`
scores, and nothing else reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = ["BOTH", "MAX_INT", "NONE", "Battle", "Tournament", "TournamentFormatError", "parse"]

NONE = "none"  # the tournament's undefended setting (arena.experiments.tournament.NONE; not imported: it is heavy)
MAX_INT = 2**63  # no count or token amount in a real tournament comes near it
BOTH = frozenset({"red", "blue"})


class TournamentFormatError(ValueError):
    """``tournament.json`` is not what a tournament writes; ``key`` says where (``cells[2].runs[0].stolen``)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(f"{key}: {problem}")


# ================================================ reading the file ==============================================
@dataclass(frozen=True)
class Battle:
    """One attack battle as ``arena score`` needs it. ``service``: the share of judged honest intents finalised in
    time (None: unknown, the run predates the liveness counts); ``faulted``: the teams whose plugin faulted."""

    attack: str
    defense: str
    seed: int
    stolen: int
    held: bool
    faulted: frozenset[str]
    fault: str = ""
    verdict: str = ""
    service: Fraction | None = None
    timed: bool = False  # service measured against a max_delay (False: finalised at all)
    service_note: str = ""  # why service is 0 although counts exist (no chain to time, nothing to judge)


@dataclass
class Tournament:
    """What :func:`parse` reads: the names in the file's order and the battles sorted by them."""

    attacks: list[str]
    defenses: list[str]
    battles: list[Battle]
    missing: dict[str, int] = field(default_factory=dict)  # field -> runs without it


def _where(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key


def _get(obj: Mapping[str, Any], path: str, key: str, kind: type, what: str) -> Any:
    if key not in obj:
        raise TournamentFormatError(_where(path, key), f"missing (expected {what})")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # JSON true is no number
        raise TournamentFormatError(_where(path, key), f"expected {what}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _count(obj: Mapping[str, Any], path: str, key: str) -> int:
    value = _get(obj, path, key, int, "a whole number")
    if not 0 <= value < MAX_INT:
        raise TournamentFormatError(_where(path, key), f"expected a whole number from 0, got {_show(value)}")
    return int(value)


def _names(doc: Mapping[str, Any], key: str) -> list[str]:
    names = _get(doc, "", key, list, "a list of names")
    seen: set[str] = set()
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise TournamentFormatError(f"{key}[{i}]", f"expected a name, got {_show(n)}")
        if n in seen:
            raise TournamentFormatError(f"{key}[{i}]", f"{_show(n)} is listed twice")
        seen.add(n)
    return list(names)


def _service(run: Mapping[str, Any], path: str) -> tuple[Fraction | None, bool, str]:
    """(share in time, measured against a max_delay, why 0) from a run's ``liveness`` counts."""
    live = run.get("liveness")
    if live is None:
        return None, False, ""
    path = _where(path, "liveness")
    if not isinstance(live, dict):
        raise TournamentFormatError(path, f"expected an object or null, got {_show(live)}")
    limit = live.get("max_delay")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                              or not 0 < limit < MAX_INT):  # NaN and inf fail too
        raise TournamentFormatError(_where(path, "max_delay"), f"expected a positive number or null, got "
                                    f"{_show(limit)}")
    key = "on_time" if limit is not None else "finalised"
    _count(live, path, "intents")
    if live.get("judged") is None and live.get(key) is None:
        return Fraction(0), limit is not None, "no chain to time (no honest validator state, or day-1 mode)"
    judged, served = _count(live, path, "judged"), _count(live, path, key)
    if served > judged:
        raise TournamentFormatError(_where(path, key), f"{served} is more than judged ({judged})")
    if judged == 0:
        return Fraction(0), limit is not None, "no honest intent to judge"
    return Fraction(served, judged), limit is not None, ""


def _teams(run: Mapping[str, Any], path: str, faults: int, missing: dict[str, int]) -> tuple[frozenset[str], str]:
    """The teams whose plugin faulted (unknown teams: both sides) and the first fault's summary."""
    first = run.get("first_fault")
    summary = " ".join(str(first.get("summary") or first.get("plugin") or "").split()) if isinstance(first, dict) \
        else ""
    if not faults:
        return frozenset(), summary
    teams = run.get("faulted_teams")
    if teams is None:
        missing["faulted_teams"] = missing.get("faulted_teams", 0) + 1
        team = first.get("team") if isinstance(first, dict) else None
        teams = [team] if faults == 1 and isinstance(team, str) and team in BOTH else ["?"]
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise TournamentFormatError(_where(path, "faulted_teams"), f"expected a list of teams, got {_show(teams)}")
    out = frozenset(teams)
    return (out if out and out <= BOTH else BOTH), summary


def _battle(cell: Mapping[str, Any], run: Any, path: str, missing: dict[str, int]) -> Battle:
    if not isinstance(run, dict):
        raise TournamentFormatError(path, f"expected an object, got {_show(run)}")
    attack, defense = cell["attack"], cell["defense"]
    for key, want in (("attack", attack), ("defense", defense)):
        if key in run and run[key] != want:
            raise TournamentFormatError(_where(path, key), f"{_show(run[key])}, but the cell's is {_show(want)}")
    seed = _count(run, path, "seed")
    stolen = _count(run, path, "stolen")
    faults = 0
    if "plugin_faults" in run:
        faults = _count(run, path, "plugin_faults")
    else:
        missing["plugin_faults"] = missing.get("plugin_faults", 0) + 1
    verdict = run.get("verdict")
    verdict = verdict if isinstance(verdict, str) else ""
    if verdict == "faulted" and not faults:  # the referee says a plugin faulted: which side is unknown
        faults = 1
    broken = run.get("broken", [])
    if not isinstance(broken, list):
        raise TournamentFormatError(_where(path, "broken"), f"expected a list, got {_show(broken)}")
    teams, summary = _teams(run, path, faults, missing)
    if "held" in run:
        held = _get(run, path, "held", bool, "true or false")
    else:  # what Verdict.held says, from the fields it is made of
        held = stolen == 0 and not broken and not faults and verdict != "red_won"
    if "liveness" not in run:
        missing["liveness"] = missing.get("liveness", 0) + 1
    service, timed, note = _service(run, path)
    return Battle(attack, defense, seed, stolen, bool(held), teams, summary, verdict, service, timed, note)


def parse(doc: Any) -> Tournament:
    """The battles of a ``tournament.json`` value, checked for shape (:class:`TournamentFormatError` if not)."""
    if not isinstance(doc, dict):
        raise TournamentFormatError("(top level)", f"expected an object, got {_show(doc)}")
    attacks, defenses = _names(doc, "attacks"), _names(doc, "defenses")
    cells = _get(doc, "", "cells", list, "a list of cells")
    missing: dict[str, int] = {}
    battles: list[Battle] = []
    seen: set[tuple[str, str]] = set()
    for i, cell in enumerate(cells):
        path = f"cells[{i}]"
        if not isinstance(cell, dict):
            raise TournamentFormatError(path, f"expected an object, got {_show(cell)}")
        for key, names in (("attack", attacks), ("defense", defenses)):
            name = _get(cell, path, key, str, "a name")
            if name not in names:
                raise TournamentFormatError(f"{path}.{key}", f"{_show(name)} is not in {key}s")
        if (cell["attack"], cell["defense"]) in seen:
            raise TournamentFormatError(path, f"a second cell for {_show(cell['attack'])} vs "
                                        f"{_show(cell['defense'])}")
        seen.add((cell["attack"], cell["defense"]))
        runs = _get(cell, path, "runs", list, "a list of runs")
        seeds: set[int] = set()
        for j, run in enumerate(runs):
            b = _battle(cell, run, f"{path}.runs[{j}]", missing)
            if b.seed in seeds:
                raise TournamentFormatError(f"{path}.runs[{j}].seed", f"seed {b.seed} appears twice in this cell")
            seeds.add(b.seed)
            battles.append(b)
    at = {a: i for i, a in enumerate(attacks)}
    dt = {d: i for i, d in enumerate(defenses)}
    battles.sort(key=lambda b: (at[b.attack], dt[b.defense], b.seed))
    return Tournament(attacks, defenses, battles, missing)
