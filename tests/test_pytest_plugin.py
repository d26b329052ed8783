"""The ``arena`` pytest plugin: scenario files with ``expect:`` become tests; the ``arena_battle`` fixture."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from arena.pytest_plugin import ArenaBattle, assert_invariants, assert_stolen, assert_verdict, read_expect


def _entry_point_installed() -> bool:
    return any(ep.value == "arena.pytest_plugin" for ep in entry_points(group="pytest11"))


# pytester, and the arena plugin itself unless its pytest11 entry point loads it already (registering it twice fails)
pytest_plugins = ["pytester"] if _entry_point_installed() else ["pytester", "arena.pytest_plugin"]

# A tiny battle with no red team: the referee's verdict is "unknown" ("no red team").
SMALL = """\
name: {name}
seed: 3
duration: 8
validators: 4
light_nodes: 2
merchants: 1
workload: {{rate: 1, purchases: 0.2}}
consensus: {{mode: pos, slot: 1.0, block_reward: 10}}
"""


def _plugin_args() -> list[str]:
    """``-p arena.pytest_plugin`` unless the pytest11 entry point already loads it (then -p would register twice)."""
    return [] if _entry_point_installed() else ["-p", "arena.pytest_plugin"]


def test_scenario_files_with_expect_are_collected_and_checked(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "ok.yaml").write_text(SMALL.format(name="ok") + "expect: {verdict: unknown, stolen: 0}\n")
    (scenarios / "wrong.yaml").write_text(SMALL.format(name="wrong") + "expect: {verdict: red_won, min_stolen: 1}\n")
    (scenarios / "plain.yaml").write_text(SMALL.format(name="plain"))  # no expect: not a test
    (scenarios / "notes.txt").write_text("expect: nothing\n")
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "scenario wrong.yaml did not meet its expectations" in out
    assert "verdict: expected 'red_won', got 'unknown'" in out
    assert "stolen: expected at least 1, got 0" in out
    assert "run dir: " in out


def test_ini_glob_and_invalid_scenario(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\narena_scenarios = battles/*.yml\n")
    battles = pytester.mkdir("battles")
    (battles / "good.yml").write_text(SMALL.format(name="good") + "expect: {verdict: unknown}\n")
    (battles / "bad.yml").write_text(SMALL.format(name="bad") + "bogus_key: 1\nexpect: {verdict: unknown}\n")
    (pytester.mkdir("other") / "ignored.yml").write_text(SMALL.format(name="x") + "expect: {verdict: red_won}\n")
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "scenario bad.yml is invalid" in result.stdout.str()


def test_read_expect(tmp_path: Any) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("name: a\nexpect: {verdict: unknown}\n")
    assert read_expect(p) == {"verdict": "unknown"}
    p.write_text("name: a\n# expect nothing\n")
    assert read_expect(p) is None
    p.write_text("expect: [unbalanced\n")
    assert read_expect(p) is None


def test_arena_battle_fixture(arena_battle: ArenaBattle) -> None:
    result = arena_battle({"name": "fixture", **{"seed": 3, "duration": 8, "validators": 4, "light_nodes": 2,
                                                  "workload": {"rate": 1}}}, seed=5)
    assert result["seed"] == 5 and result["scenario"] == "fixture"
    assert_verdict(result, "unknown")
    assert_stolen(result, amount=0)
    assert_stolen(result, min=0)
    assert_invariants(result)
    assert result["plugin_faults"] == []
    with pytest.raises(AssertionError, match="expected verdict 'red_won', got verdict 'unknown'"):
        assert_verdict(result, "red_won")
    with pytest.raises(AssertionError, match="expected at least 1, got 0"):
        assert_stolen(result, min=1)
    broken = {**result, "invariants": {"supply": {"ok": False, "detail": "minted from nowhere"},
                                       "liveness": {"ok": None, "detail": "undecided"}}}
    with pytest.raises(AssertionError, match="supply: minted from nowhere"):
        assert_invariants(broken)


FAULTY_TICK = """\
from __future__ import annotations

from arena import NodeContext, Plugin, hookimpl


class Broken(Plugin):
    \"\"\"An attack that crashes on its first tick.\"\"\"

    name = "broken"
    team = "red"

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        raise KeyError("nope")
"""


def test_expect_fails_when_a_plugin_faulted_unless_faults_are_allowed(pytester: pytest.Pytester) -> None:
    """A crashed attack must not pass for a defense that works: ``expect: {verdict: blue_won}`` and even
    ``expect: {verdict: faulted}`` fail on a fault unless ``allow_faults: true``."""
    pytester.makeini("[pytest]\narena_plugins = broken.py\n")
    (pytester.path / "broken.py").write_text(FAULTY_TICK)
    scenarios = pytester.mkdir("scenarios")
    red = SMALL.replace("light_nodes: 2", "light_nodes: [{{}}, {{team: red, plugins: [{{name: broken}}]}}]")
    (scenarios / "strict.yaml").write_text(red.format(name="strict") + "expect: {verdict: faulted}\n")
    (scenarios / "lenient.yaml").write_text(red.format(name="lenient")
                                           + "expect: {verdict: faulted, allow_faults: true}\n")
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "scenario strict.yaml did not meet its expectations" in out
    assert "plugin fault(s), first: red plugin broken faulted in arena_tick at" in out
    raise_line = FAULTY_TICK.splitlines().index("        raise KeyError(\"nope\")") + 1
    assert f"broken.py:{raise_line}" in out
