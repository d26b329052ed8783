"""Same scenario and seed, same history: byte for byte. A different seed gives a different history."""

from __future__ import annotations

import random
import time
from pathlib import Path

import ipv8.community
import ipv8.peer
import ipv8.requestcache
from ipv8.keyvault.crypto import default_eccrypto

from arena.runtime.trace import first_difference, read_trace
from arena.scenario.model import load_scenario
from arena.sim.ipv8_patches import virtual_ipv8
from arena.sim.runner import run_battle

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "pingpong.yaml"


def test_same_seed_same_trace_different_seed_different_trace(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO)
    a = run_battle(scenario, out_dir=tmp_path / "a")
    b = run_battle(scenario, out_dir=tmp_path / "b")
    c = run_battle(scenario, seed=scenario.seed + 1, out_dir=tmp_path / "c")

    ta, tb, tc = (tmp_path / d / "trace.jsonl" for d in "abc")
    assert a.result["trace_sha256"] == b.result["trace_sha256"]
    assert ta.read_bytes() == tb.read_bytes()
    assert first_difference(ta, tb) is None
    assert a.result["messages"] == b.result["messages"]

    assert c.result["trace_sha256"] != a.result["trace_sha256"]
    assert first_difference(ta, tc) is not None

    # The trace really records the scenario's faults, so "identical" is not trivially true.
    header, events = read_trace(ta)
    assert header["seed"] == scenario.seed
    assert header["backend"] == "sim"
    kinds = {e["ev"] for e in events}
    assert {"ping", "partition", "heal", "crash", "restart", "drop"} <= kinds


def test_first_difference_finds_the_first_differing_line(tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{n}.jsonl" for n in "abcd")
    a.write_text('{"t":0}\n{"t":1,"ev":"x"}\n{"t":2}\n{"t":3}\n')
    b.write_text('{"t":0}\n{"t":1,"ev":"x"}\n{"t":2.5}\n{"t":3}\n')
    c.write_text('{"t":0}\n{"t":1,"ev":"x"}\n')
    d.write_text(a.read_text())
    assert first_difference(a, b) == (3, '{"t":2}', '{"t":2.5}')
    assert first_difference(a, c) == (3, '{"t":2}', "")
    assert first_difference(a, d) is None


def test_virtual_ipv8_patches_are_undone() -> None:
    clock_calls: list[int] = []

    def clock() -> float:
        clock_calls.append(1)
        return 42.0

    with virtual_ipv8(clock, random.Random(5)) as cache:
        assert ipv8.community.time() == 42.0
        assert ipv8.peer.time() == 42.0
        assert ipv8.requestcache.random() == random.Random(5).random()
        assert cache is not None
        assert default_eccrypto.is_valid_signature == cache.is_valid_signature
    assert clock_calls == [1, 1]
    assert ipv8.community.time is time.time
    assert ipv8.peer.time is time.time
    assert "is_valid_signature" not in vars(default_eccrypto)
    with virtual_ipv8(clock, random.Random(5), cache_signatures=False) as cache:
        assert cache is None
        assert "is_valid_signature" not in vars(default_eccrypto)


def test_verify_cache_answers_like_the_real_check() -> None:
    from arena.runtime.keys import node_key

    key = node_key(1, 0)
    other = node_key(1, 1)
    data = b"some block"
    sig = default_eccrypto.create_signature(key, data)
    with virtual_ipv8(time.monotonic, random.Random(1)) as cache:
        assert cache is not None
        for _ in range(3):
            assert default_eccrypto.is_valid_signature(key.pub(), data, sig)
            assert not default_eccrypto.is_valid_signature(other.pub(), data, sig)
            assert not default_eccrypto.is_valid_signature(key.pub(), data + b"!", sig)
        assert cache.misses == 3
        assert cache.hits == 6
