"""The history of one run, derived once from its files: who was who, what happened, which plugins faulted.

The referee judges it, the report draws it, ``arena judge`` and the tournament read their verdicts off it, so no two
views of a run can disagree on who was blue, which chain is canonical or what a fault was. Node identity comes
from the ``genesis`` event only; a state counts as honest only if the genesis event says its node is blue. Loading
never raises: what could not be read is listed in ``History.problems``, and the referee does not decide a run whose
files are damaged.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from itertools import chain as chained
from pathlib import Path
from typing import Any

from ipv8.keyvault.crypto import default_eccrypto

from arena.referee.outcome import canonical_validator
from arena.referee.verify import state_problem
from arena.runtime.crypto import fast_crypto

#: Events the checkers read.
RELEVANT = frozenset({
    "genesis", "intent", "delivery", "propose", "finalized", "equivocation", "evidence", "plugin", "plugin_fault",
    "channel_signed", "channel_settled", "tx_rejected", "partition", "heal", "crash", "restart",
})
#: Events kept in ``History.events``: the checkers' and the few (rare) ones only the report draws. Drops are
#: aggregated, identities summed; everything else (packets) is only counted, so a huge trace stays cheap.
KEPT = RELEVANT | {"withheld", "block_rejected"}
_PARSED = KEPT | {"identity", "drop", "msg_drop"}
#: The start of a trace line as ``arena.runtime.trace`` writes it: time and kind without parsing the JSON.
_PREFIX = re.compile(r'^\{"t":\s*([-0-9.eE+]+),\s*"ev":\s*"([A-Za-z0-9_]+)"')
#: Before faults had a kind, the hook caller recorded only exceptions.
OLD_FAULT_KIND = "exception"


class History:
    """What the referee and the report read, derived once from (header, events, states); every view is a pure
    function of them (``problems``: what of the run's files could not be read)."""

    def __init__(self, header: dict[str, Any], events: Iterable[dict[str, Any]], states: Sequence[dict[str, Any]],
                 *, path: Path | None = None) -> None:
        self.header = header
        self.path = path
        self.problems: list[str] = []
        self.has_trace = True
        self.has_states = True
        self.counts: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []
        self.last_t = 0.0
        self.sybil_spend = 0  # the price of the red team's extra identities (scenario teams.red.budget.sybil_cost)
        self.drops: Counter[str] = Counter()  # network drops by reason
        self.msg_drops: Counter[tuple[int, str, str]] = Counter()  # (node, reason, message kind) dropped by nodes
        self.drop_times: dict[str, list[float]] = {}  # reason ("node: <reason>" for nodes' drops) -> times
        identities: list[dict[str, Any]] = []
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
                identities.append(ev)
            elif kind == "drop":
                reason = str(ev.get("reason", "?"))
                self.drops[reason] += 1
                self.drop_times.setdefault(reason, []).append(_float(t))
            elif kind == "msg_drop":
                reason = str(ev.get("reason", "?"))
                self.msg_drops[(_int(ev.get("node"), -1), reason, str(ev.get("kind", "")))] += 1
                self.drop_times.setdefault(f"node: {reason}", []).append(_float(t))
            elif kind in KEPT:
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
        #: Identities no genesis node has (the red team's Sybils): account -> name.
        self.sybils: dict[str, str] = {}
        for ev in identities:
            acct = str(ev.get("account", ""))
            if acct and acct not in self.acct_name:
                self.sybils.setdefault(acct, str(ev.get("name") or f"sybil {acct[:8]}"))
        #: Every state that was read, red ones too: for display only, never for judging.
        self.all_states = list(states)
        # never trust a red node: only states the genesis event (and the state itself) put on the blue team
        blue = [s for s in states if s.get("team") == "blue" and self.teams.get(s.get("name", "")) == "blue"]
        #: Blue validators' states that disagree with themselves (:func:`arena.referee.verify.state_problem`): not
        #: believed, so judged as if missing: ``{"name", "reason"}`` each.
        self.disbelieved: list[dict[str, str]] = []
        self.states = []
        for s in blue:
            why = state_problem(s) if s.get("role") == "validator" else None
            if why is None:
                self.states.append(s)
            else:
                self.disbelieved.append({"name": str(s.get("name")), "reason": why})
        self.validators = [s for s in self.states if s.get("role") == "validator"]

    # -- identity ------------------------------------------------------------------------------------------------
    def node_name(self, ev: Mapping[str, Any]) -> str:
        """The name of the node that recorded ``ev`` ("" when the trace does not say)."""
        node = ev.get("node")
        return self.index_name.get(node, "") if isinstance(node, int) else ""

    def node_team(self, ev: Mapping[str, Any]) -> str:
        return self.teams.get(self.node_name(ev), "")

    def node_role(self, ev: Mapping[str, Any]) -> str:
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
        times, tops = self.finality_curve
        i = bisect.bisect_left(tops, height)
        return times[i] if i < len(times) else None

    @cached_property
    def finality_curve(self) -> tuple[list[float], list[int]]:
        """(times, heights): each new highest height a blue validator finalised, and when."""
        times: list[float] = []
        tops: list[int] = []
        for ev in sorted(self.of("finalized", role="validator"), key=lambda e: float(e.get("t", 0.0))):
            h = int(ev.get("height", 0))
            if not tops or h > tops[-1]:
                times.append(float(ev.get("t", 0.0)))
                tops.append(h)
        return times, tops

    @cached_property
    def plugins(self) -> dict[str, list[str]]:
        """node name -> the plugins attached to it, as the genesis event lists them ({} when it does not)."""
        listed = self.genesis.get("plugins", self.header.get("plugins"))
        if not isinstance(listed, dict):
            return {}
        return {str(n): [str(p) for p in ps] for n, ps in listed.items() if isinstance(ps, list)}

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

    # -- plugin faults -------------------------------------------------------------------------------------------
    @cached_property
    def faults(self) -> list[dict[str, Any]]:
        """Every plugin fault of the run (from any node: the hook caller records them, not the plugin), in trace
        order, as ``result.json`` keeps them: the ``plugin_fault`` event without ``ev``."""
        return [self.fault(ev) for ev in self.events if ev.get("ev") == "plugin_fault"]

    def fault(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """One fault record with every field present: old runs recorded only node, plugin, hook and error, so the
        node's name and team come from the genesis event (its teams, or which nodes it lists the plugin on)."""
        f = {k: v for k, v in raw.items() if k != "ev"}
        name = str(f.get("node_name") or self.node_name(f))
        f["node_name"] = name
        f["team"] = str(f.get("team") or self.teams.get(name) or self._plugin_team(str(f.get("plugin", ""))))
        f.setdefault("t", None)
        f.setdefault("plugin", "?")
        f.setdefault("hook", "?")
        f.setdefault("kind", OLD_FAULT_KIND)
        f.setdefault("error", "")
        where = f.get("where")
        f["where"] = [str(w) for w in where] if isinstance(where, list) else []
        return f

    def _plugin_team(self, plugin: str) -> str:
        teams = {self.teams.get(n, "") for n, ps in self.plugins.items() if plugin in ps} - {""}
        return teams.pop() if len(teams) == 1 else ""


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


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


# ================================================ run directories ================================================
class _Dir:
    """One run directory's files, read tolerantly: a cut or garbled line is skipped and counted, never raised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.trace = path / "trace.jsonl"
        self.problems: list[str] = []
        self.header: dict[str, Any] = {}
        self.has_trace = self.trace.is_file()
        self.has_states = (path / "states").is_dir()
        self._bad = 0
        if self.has_trace:
            try:
                with self.trace.open("r", encoding="utf-8", errors="replace") as fh:
                    first = fh.readline()
                header = json.loads(first) if first.strip() else {}
            except (OSError, ValueError):
                header = None
            self.header = header if isinstance(header, dict) else {}
            self._bad = 0 if isinstance(header, dict) else 1

    def events(self) -> Iterator[dict[str, Any]]:
        """The trace's events; lines of kinds nobody reads become ``{"t", "ev"}`` stubs (counted, not parsed)."""
        if not self.has_trace:
            return
        bad = self._bad
        try:
            with self.trace.open("r", encoding="utf-8", errors="replace") as fh:
                fh.readline()  # the header
                for line in fh:
                    m = _PREFIX.match(line)
                    if m is not None and m.group(2) not in _PARSED and line.rstrip().endswith("}"):
                        try:
                            yield {"t": float(m.group(1)), "ev": m.group(2)}
                        except ValueError:
                            bad += 1
                        continue
                    if not line.strip():
                        continue
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        ev = None
                    if isinstance(ev, dict):
                        yield ev
                    else:
                        bad += 1
        except OSError as exc:
            self.problems.append(f"{self.trace} could not be read to the end ({exc})")
        if bad:
            self.problems.append(f"{bad} unreadable lines in {self.trace} were skipped (cut short?)")

    def states(self) -> list[dict[str, Any]]:
        out = []
        if self.has_states:
            for p in sorted((self.path / "states").glob("*.json")):
                try:
                    st = json.loads(p.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    self.problems.append(f"{p} is unreadable ({type(exc).__name__})")
                    continue
                if isinstance(st, dict) and isinstance(st.get("name"), str):
                    out.append(st)
                else:
                    self.problems.append(f"{p} is not a node state")
        return out


def _merged(dirs: list[_Dir]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Kept events sorted by (time, directory, line), the other events' stubs, and the first blue state of each
    name (red states left out)."""
    keyed: list[tuple[float, int, int, dict[str, Any]]] = []
    stubs: list[dict[str, Any]] = []
    for i, d in enumerate(dirs):
        for n, ev in enumerate(d.events()):
            if ev.get("ev") in _PARSED:
                keyed.append((_float(ev.get("t")), i, n, ev))
            else:
                stubs.append(ev)
    keyed.sort(key=lambda k: k[:3])
    states: dict[str, dict[str, Any]] = {}
    for d in dirs:
        for s in d.states():
            if s.get("team") == "blue":
                states.setdefault(str(s.get("name")), s)
    return [k[3] for k in keyed], stubs, list(states.values())


def load_history(path: Path | str, extra_dirs: Sequence[Path | str] = ()) -> History:
    """The history of a run directory (``trace.jsonl`` + ``states/``), merged with the directories of other machines
    of the same live battle. Never raises: what is missing or unreadable is in ``problems``.

    Merging: the header is the first directory's; kept events are sorted by (time, directory, line); states: the
    first blue state of each name wins, red states are left out.
    """
    with fast_crypto(default_eccrypto):  # rechecks verify every signature in the states (py-ipv8 answers, faster)
        return _load(path, extra_dirs)


def _load(path: Path | str, extra_dirs: Sequence[Path | str]) -> History:
    dirs = [_Dir(Path(path)), *(_Dir(Path(d)) for d in extra_dirs)]
    first = dirs[0]
    if len(dirs) == 1:
        h = History(first.header, first.events(), first.states(), path=first.path)
    else:
        events, stubs, states = _merged(dirs)
        h = History(first.header, chained(events, stubs), states, path=first.path)
    for d in dirs:
        if not d.has_trace:
            h.problems.append(f"no trace.jsonl in {d.path}")
        h.problems.extend(d.problems)
    h.has_trace, h.has_states = first.has_trace, first.has_states
    return h


def load_run(path: Path | str, extra_dirs: Sequence[Path | str] = ()
             ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Header, events and states of a run directory, merged as :func:`load_history` merges them; raises when a file
    is missing or unreadable. Prefer :func:`load_history`, which derives the history as it reads."""
    dirs = [_Dir(Path(path)), *(_Dir(Path(d)) for d in extra_dirs)]
    for d in dirs:
        if not d.has_trace:
            raise FileNotFoundError(f"no trace.jsonl in {d.path}")
    if len(dirs) == 1:
        events, states = list(dirs[0].events()), dirs[0].states()
    else:
        kept, stubs, states = _merged(dirs)
        events = kept + stubs
    problems = [p for d in dirs for p in d.problems]
    if problems:
        raise ValueError("; ".join(problems))
    return dirs[0].header, events, states


__all__ = ["KEPT", "RELEVANT", "History", "load_history", "load_run"]
