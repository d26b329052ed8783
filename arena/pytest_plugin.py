"""The ``arena`` pytest plugin: run battles from tests, assert on their results, and collect scenario files.

* fixture ``arena_battle``: ``arena_battle(scenario, seed=None, plugins=[...], protocol=None) -> result dict``
  (``result.json`` plus ``run_dir``); ``scenario`` is a path, YAML text or a dict; ``plugins`` are ``--plugin``
  files; ``protocol`` runs another protocol than the scenario's, as ``--protocol`` does (a file, a name, or
  ``package.module:Class``).
* helpers ``assert_verdict``, ``assert_stolen``, ``assert_invariants`` (import them from ``arena.pytest_plugin``).
* every scenario YAML file with a top-level ``expect:`` key in a directory named ``scenarios`` (or matching the ini
  option ``arena_scenarios``, default ``scenarios/*.yaml``) is a test item checking verdict / stolen / min_stolen.

Registered as the ``pytest11`` entry point ``arena``; without it, enable it with ``-p arena.pytest_plugin``.
"""

from __future__ import annotations

import fnmatch
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.plugin_host.registry import PluginError, default_registry
from arena.referee.checkers import describe_fault
from arena.scenario.checks import check_scenario
from arena.scenario.model import Scenario, load_scenario, scenario_from_dict, scenario_from_text
from arena.scenario.yamlsource import ScenarioError
from arena.sim.runner import run_battle

DEFAULT_GLOB = "scenarios/*.yaml"
ArenaBattle = Callable[..., dict[str, Any]]


# ============================================== running =========================================================
def _as_scenario(scenario: str | Path | dict[str, Any] | Scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario)
    if isinstance(scenario, str) and "\n" in scenario:
        return scenario_from_text(scenario)
    return load_scenario(scenario)


def run_scenario(scenario: str | Path | dict[str, Any] | Scenario, out_dir: Path, *, seed: int | None = None,
                 plugins: Iterable[str | Path] = (), protocol: str | Path | None = None) -> dict[str, Any]:
    """Run one battle into ``out_dir`` (judged by the referee); the result dict, with ``run_dir`` added."""
    sc = _as_scenario(scenario)
    if protocol is not None:
        from arena.protocols.registry import scenario_name

        sc = sc.model_copy(update={"protocol": scenario_name(protocol)})
    outcome = run_battle(sc, seed=seed, out_dir=out_dir, registry=default_registry(list(plugins)))
    result = dict(outcome.result)
    result["run_dir"] = str(out_dir)
    return result


@pytest.fixture
def arena_battle(tmp_path_factory: pytest.TempPathFactory) -> ArenaBattle:
    """A function running a battle in a fresh temporary run directory and returning its result dict."""

    def battle(scenario: str | Path | dict[str, Any], *, seed: int | None = None,
               plugins: Sequence[str | Path] = (), protocol: str | Path | None = None) -> dict[str, Any]:
        return run_scenario(scenario, tmp_path_factory.mktemp("arena-run"), seed=seed, plugins=plugins,
                            protocol=protocol)

    return battle


# ============================================== assertions ======================================================
def _where(result: dict[str, Any]) -> str:
    parts = [f"verdict {result.get('verdict')!r}: {result.get('verdict_reason', '')}"]
    if result.get("run_dir"):
        parts.append(f"run dir: {result['run_dir']}")
    return "\n  ".join(parts)


def expectation_failures(result: dict[str, Any], verdict: str | None = None, stolen: int | None = None,
                         min_stolen: int | None = None, allow_faults: bool = True) -> list[str]:
    """What does not match (empty if all does), one readable line each. With ``allow_faults=False`` (a scenario's
    ``expect:`` unless it says ``allow_faults: true``) any plugin fault fails it: a battle whose plugin crashed
    proves nothing about the defense."""
    out = []
    faults = result.get("plugin_faults") or []
    if not allow_faults and faults:
        out.append(f"{len(faults)} plugin fault(s), first: {describe_fault(faults[0])} (set expect.allow_faults "
                   "to accept faults)")
    if verdict is not None and result.get("verdict") != verdict:
        out.append(f"verdict: expected {verdict!r}, got {result.get('verdict')!r} ({result.get('verdict_reason')})")
    got = int(result.get("stolen", 0))
    if stolen is not None and got != stolen:
        out.append(f"stolen: expected {stolen}, got {got} (by kind: {result.get('stolen_by_kind')})")
    if min_stolen is not None and got < min_stolen:
        out.append(f"stolen: expected at least {min_stolen}, got {got} (by kind: {result.get('stolen_by_kind')})")
    return out


def assert_verdict(result: dict[str, Any], verdict: str) -> None:
    """The referee's verdict is ``verdict`` (``red_won``, ``blue_won``, ``faulted`` or ``unknown``)."""
    if "verdict" not in result:
        raise AssertionError("the result has no verdict (was the battle run with an out_dir?)")
    if result["verdict"] != verdict:
        raise AssertionError(f"expected verdict {verdict!r}, got {_where(result)}")


def assert_stolen(result: dict[str, Any], amount: int | None = None, min: int | None = None) -> None:
    """Exactly ``amount`` and/or at least ``min`` tokens were stolen (all kinds together)."""
    problems = expectation_failures(result, stolen=amount, min_stolen=min)
    if problems:
        raise AssertionError("; ".join(problems) + "\n  " + _where(result))


def assert_invariants(result: dict[str, Any]) -> None:
    """No invariant the referee decided on is broken (undecided ones, ``ok: null``, pass)."""
    invariants = result.get("invariants")
    if invariants is None:
        raise AssertionError("the result has no invariants (was the battle run with an out_dir?)")
    broken = {k: v.get("detail", "") for k, v in invariants.items() if v.get("ok") is False}
    if broken:
        lines = "\n  ".join(f"{k}: {d}" for k, d in sorted(broken.items()))
        raise AssertionError(f"broken invariants:\n  {lines}\n  {_where(result)}")


# ============================================== scenario files as tests =========================================
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("arena_scenarios", type="args", default=[DEFAULT_GLOB],
                  help="glob(s), relative to the rootdir, of scenario files with an 'expect:' key to run as tests "
                       f"(besides YAML files in any directory named 'scenarios'; default {DEFAULT_GLOB})")
    parser.addini("arena_plugins", type="paths", default=[],
                  help="plugin files (like --plugin) loaded for scenario-file tests")


def _matches(config: pytest.Config, file_path: Path) -> bool:
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    if file_path.parent.name == "scenarios":
        return True
    try:
        rel = file_path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return False
    return any(fnmatch.fnmatch(rel, pattern) for pattern in config.getini("arena_scenarios"))


def read_expect(path: Path) -> dict[str, Any] | None:
    """The top-level ``expect:`` mapping of a YAML file, or None (cheap: no scenario validation)."""
    try:
        text = path.read_text(encoding="utf-8")
        if "expect" not in text:
            return None
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or "expect" not in data:
        return None
    expect = data["expect"]
    return expect if isinstance(expect, dict) else {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if _matches(parent.config, file_path) and read_expect(file_path) is not None:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file with expectations: one test item."""

    def collect(self) -> Iterator[ScenarioItem]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioExpectationError(Exception):
    """The battle ran, but its result does not match the scenario's ``expect:``."""


class ScenarioItem(pytest.Item):
    """Runs the scenario (judged by the referee) and compares with its ``expect:`` key."""

    def _run_dir(self) -> Path:
        factory = getattr(self.config, "_tmp_path_factory", None)
        if isinstance(factory, pytest.TempPathFactory):
            return factory.mktemp(f"arena-{self.path.stem}")
        return Path(tempfile.mkdtemp(prefix=f"arena-{self.path.stem}-"))

    def runtest(self) -> None:
        scenario = load_scenario(self.path)
        expect = scenario.expect
        if expect is None:
            raise ScenarioExpectationError("the scenario has no 'expect:' key")
        plugins = [str(p) for p in self.config.getini("arena_plugins")]
        check_scenario(scenario, self.path, default_registry(plugins))
        result = run_scenario(scenario, self._run_dir(), plugins=plugins)
        self.user_properties.append(("run_dir", result["run_dir"]))
        problems = expectation_failures(result, expect.verdict, expect.stolen, expect.min_stolen, expect.allow_faults)
        if problems:
            raise ScenarioExpectationError("\n".join([*problems, f"run dir: {result['run_dir']}"]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if isinstance(excinfo.value, ScenarioExpectationError):
            return f"scenario {self.path.name} did not meet its expectations:\n{excinfo.value}"
        if isinstance(excinfo.value, (ScenarioError, PluginError)):
            return f"scenario {self.path.name} is invalid:\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario: {self.path.name}"
