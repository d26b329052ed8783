"""Nodes cannot touch each other in the simulator: a red plugin that mutates everything it is handed, in every hook,
changes no other node's state.

The mutator walks each hook argument it is handed (blocks and their transactions, votes, heads, peer entries,
payment statuses, channel views and states, genesis tables, decoded payloads) and tries to change every attribute,
list and dict it finds, swallowing the errors that immutable objects raise, so that it never faults (a fault would
disable it and make the two runs differ for another reason). The same battle with a plugin that implements the
same hooks and does nothing must leave every blue node in byte-identical state, with the same trace.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from arena import Plugin, hookimpl
from arena.plugin_host.registry import HOOK_NAMES, default_registry
from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle

sys.path.insert(0, str(Path(__file__).parent))
from test_hostile_battles import hostile_scenario

CAPABILITIES = {"node", "adversary", "wallet", "identity"}  # guarded by the import check, not walked here
DESIGNED = {"packet", "message"}  # mutable on purpose; their changes are validated (tests/test_hook_caller.py)


def _junk(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 10**6
    if isinstance(value, bytes):
        return b"\xff" * max(1, len(value))
    if isinstance(value, str):
        return value + "!"
    return None


def mutate(value: Any, depth: int = 0, seen: set[int] | None = None) -> int:
    """Try to change everything reachable from ``value``; the number of attempts that did not raise."""
    seen = set() if seen is None else seen
    if depth > 4 or id(value) in seen or value is None or isinstance(value, (int, float, str, bytes, bool)):
        return 0
    seen.add(id(value))
    done = 0
    if isinstance(value, list):
        for item in list(value):
            done += mutate(item, depth + 1, seen)
        value.append("poison")
        value.reverse()
        return done + 1
    if isinstance(value, dict):
        for item in list(value.values()):
            done += mutate(item, depth + 1, seen)
        value.clear()
        return done + 1
    if isinstance(value, tuple):
        return sum(mutate(item, depth + 1, seen) for item in value)
    for name, attr in list(getattr(value, "__dict__", {}).items()):
        done += mutate(attr, depth + 1, seen)
        try:
            setattr(value, name, _junk(attr))
            done += 1
        except Exception:  # frozen: as it must be
            pass
    for name in getattr(type(value), "__slots__", ()):
        try:
            setattr(value, name, _junk(getattr(value, name)))
            done += 1
        except Exception:
            pass
    return done


class Mutator(Plugin):
    """Mutates everything it is handed (see the module docstring)."""

    name = "mutator"
    team = "red"
    attempts = 0


class Quiet(Plugin):
    """Implements the same hooks and does nothing."""

    name = "mutator"
    team = "red"


def _mutating(hook: str) -> Any:
    def impl(self: Mutator, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            if key not in CAPABILITIES and key not in DESIGNED:
                Mutator.attempts += mutate(value)
    return impl


def _quiet(hook: str) -> Any:
    def impl(self: Quiet, **kwargs: Any) -> None:
        return None
    return impl


def _install(cls: type[Plugin], make: Any) -> None:
    """Give ``cls`` every hook, with the spec's argument names (pluggy passes arguments by name)."""
    import inspect

    from arena.plugin_api import hookspecs

    for hook in HOOK_NAMES:
        names = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        body = make(hook)
        ns: dict[str, Any] = {"body": body}
        args = ", ".join(names)
        exec(f"def {hook}(self, {args}):\n    return body(self, **dict({', '.join(f'{n}={n}' for n in names)}))", ns)
        setattr(cls, hook, hookimpl(ns[hook]))


_install(Mutator, _mutating)
_install(Quiet, _quiet)


def _battle(cls: type[Plugin], out: Path) -> dict[str, Any]:
    reg = default_registry()
    reg.add(cls, __file__)
    sc = hostile_scenario("none", "none", duration=25)
    sc["teams"] = {"red": {"budget": {"sybils": 2}, "plugins": [{"name": "mutator"}]}}
    return run_battle(scenario_from_dict(sc), out_dir=out, registry=reg, report=False).result


def _blue_states(out: Path, result: dict[str, Any]) -> dict[str, Any]:
    states = {p.name: json.loads(p.read_text()) for p in sorted((out / "states").glob("*.json"))}
    return {name: s for name, s in states.items() if s.get("team") == "blue"}


def test_a_plugin_that_mutates_everything_it_is_handed_changes_no_other_node(tmp_path: Path) -> None:
    quiet = _battle(Quiet, tmp_path / "quiet")
    Mutator.attempts = 0
    mutated = _battle(Mutator, tmp_path / "mutated")
    assert Mutator.attempts > 1000, "the mutator really changed things (its own copies)"
    assert mutated["plugin_faults"] == [] and quiet["plugin_faults"] == []
    assert _blue_states(tmp_path / "mutated", mutated) == _blue_states(tmp_path / "quiet", quiet)
    assert mutated["trace_sha256"] == quiet["trace_sha256"], "the same history, event for event"
    assert mutated["verdict"] == quiet["verdict"]
