"""Shared helpers for the honest-protocol tests: small scenarios, worlds run by hand, sample payloads.

Not a test module (pytest does not collect it); the test files import it by name (``tests/`` is on ``sys.path``
under pytest's default ``prepend`` import mode).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st

from arena.plugin_host.registry import Registry
from arena.protocols.honest import HonestProtocol
from arena.scenario.model import Scenario, scenario_from_dict
from arena.sim.world import World
from honest.node import HonestNode
from honest.schema import Frozen

BASE: dict[str, Any] = {
    "name": "test",
    "seed": 1,
    "duration": 30,
    "consensus": {"mode": "none"},
    "validators": 4,
    "light_nodes": 6,
    "genesis_balance": 1000,
    "peering": {"peer_limit": 16},
    "workload": {"rate": 5, "amount": [1, 20], "fee": 0, "start": 2, "stop": 20},
    "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.02, "jitter": 0.01}},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of plain dicts (``over`` wins; nested dicts are merged, everything else replaced)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def scenario(**over: Any) -> Scenario:
    return scenario_from_dict(merge(BASE, over))


def build(sc: Scenario, keep_trace: bool = True) -> World:
    """A world for ``sc`` with the honest protocol, prepared but not started (schedule with :func:`at`, then run)."""
    world = World(sc, HonestProtocol(), Registry(), None, keep_trace=keep_trace)
    world.protocol.prepare(world)
    return world


def node(world: World, index: int) -> HonestNode:
    c = world.nodes[index].community
    assert isinstance(c, HonestNode)
    return c


def at(world: World, t: float, fn: Callable[..., Any], *args: Any, index: int | None = None) -> None:
    """Run ``fn(*args)`` at virtual time ``t`` (in node ``index``'s context when given)."""
    ctx = world.nodes[index].endpoint.context if index is not None else None
    world.loop.call_at(t, fn, *args, context=ctx)


def every(world: World, start: float, step: float, fn: Callable[[float], None]) -> None:
    """Call ``fn(now)`` every ``step`` virtual seconds from ``start`` until the run ends."""

    def tick() -> None:
        fn(world.loop.time())
        if world.loop.time() + step < world.scenario.duration:
            world.loop.call_at(world.loop.time() + step, tick)

    world.loop.call_at(start, tick)


def events(world: World, ev: str) -> list[dict[str, Any]]:
    kept = world.trace.kept
    assert kept is not None, "build the world with keep_trace=True"
    return [e for e in kept if e.get("ev") == ev]


def result(world: World) -> dict[str, Any]:
    return world.protocol.final_state(world)


@contextmanager
def running(world: World) -> Iterator[World]:
    """Start ``world`` and hand it over paused at t=0; advance it with ``world.loop.run_until(t)``."""
    with world.running():
        yield world


# -- sample payloads -------------------------------------------------------------------------------------------------
def sample_value(fmt: Any, fill_lists: bool = False) -> Any:
    """A valid (boring) value for one field format of the schema; lists are empty unless ``fill_lists``."""
    if isinstance(fmt, list):
        return [sample_value(fmt[0], fill_lists)] if fill_lists else []
    if isinstance(fmt, type) and issubclass(fmt, Frozen):
        return sample_payload(fmt, fill_lists)
    simple: dict[str, Any] = {"B": 1, "H": 1, "I": 1, "Q": 1, "?": True, "20s": bytes(range(20)),
                              "32s": bytes(range(32)), "varlenH": b"abc", "varlenI": b"abc", "varlenHutf8": "abc",
                              "ipv4": ("127.0.0.1", 7000)}
    if fmt not in simple:
        raise AssertionError(f"no sample for format {fmt!r}: teach tests/honest_kit.py about it")
    return simple[fmt]


def sample_payload(cls: type[Frozen], fill_lists: bool = False) -> Any:
    return cls(*[sample_value(f, fill_lists) for f in cls.format_list])


def strategy_for(fmt: Any) -> st.SearchStrategy[Any]:
    """Hypothesis values for one field format: anything the serializer accepts, most of it nonsense."""
    if isinstance(fmt, list):
        if not (isinstance(fmt[0], type) and issubclass(fmt[0], Frozen)):
            return st.just([])  # not packable when non-empty; test_schema_lock.test_list_fields_hold_payloads fails
        return st.lists(strategy_for(fmt[0]), max_size=4)
    if isinstance(fmt, type) and issubclass(fmt, Frozen):
        return payload_strategy(fmt)
    ints = {"B": 8, "H": 16, "I": 32, "Q": 64}
    if fmt in ints:
        top = (1 << ints[fmt]) - 1
        return st.one_of(st.integers(0, 3), st.integers(0, top), st.just(top))
    if fmt == "?":
        return st.booleans()
    if fmt in ("20s", "32s"):
        n = int(fmt[:-1])
        return st.one_of(st.just(bytes(n)), st.binary(min_size=n, max_size=n))
    if fmt in ("varlenH", "varlenI"):
        return st.binary(max_size=96)
    if fmt == "varlenHutf8":
        return st.text(max_size=16)
    if fmt == "ipv4":
        return st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535))
    raise AssertionError(f"no strategy for format {fmt!r}: teach tests/honest_kit.py about it")


@functools.cache
def payload_strategy(cls: type[Frozen]) -> st.SearchStrategy[Any]:
    """One strategy object per class: Hypothesis strategies are immutable, and building (and validating) the nested
    strategy again for every draw cost about half the CPU of the codec tests."""
    return st.tuples(*[strategy_for(f) for f in cls.format_list]).map(lambda args: cls(*args))


def hostile_base(name: str, red_plugins: list[dict[str, Any]], duration: float = 30, sybils: int = 2,
                 blue_plugins: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A small battle in which every hook fires: a red validator (validator2) and a red light node (light3, the hub
    of a star of channels) among blue nodes, a merchant, and a peer table small enough to evict (the red-team
    tests attach their plugins to it)."""
    return {
        "name": name, "seed": 3, "duration": duration, "settle": 6,
        "validators": [{}, {}, {"team": "red"}],
        "light_nodes": [{"team": "red"}, {}, {}, {}, {}],
        "merchants": 1,
        "teams": {"red": {"budget": {"sybils": sybils}, "plugins": red_plugins},
                  "blue": {"plugins": blue_plugins or []}},
        "genesis_balance": 1000,
        "workload": {"rate": 2, "amount": [1, 20], "fee": 1, "purchases": 0.5},
        "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10, "finality": "votes"},
        "peering": {"peer_limit": 3},
        "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.02, "jitter": 0.01}},
        "channels": {"enabled": True, "topology": {"kind": "star"}, "total_capacity": 2000, "funding": "dual",
                     "open_at": 2, "payments": {"rate": 2, "amount": [5, 40], "start": 4, "stop": 20},
                     "dispute_window": 5},
    }
