"""Strict scenario files: every broken input is refused quickly with one line, ``file:line: key: message``, exit 2.

``tests/broken_scenarios/`` holds one small YAML file per way of breaking a scenario. Each starts with
``# expect: <part of the message>`` and, where the problem has a key, ``# key: <dotted key>``. Every file is loaded
the way ``arena run`` loads it (``arena.cli.main.load``, the plugin registry, ``check_scenario``); a few go through
the real command. Files that would hang or exhaust memory without the loader's limits (alias bombs, 1e308, deep
nesting) run under a timeout guard, but they must pass because the loader refuses them, not because of the guard.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from click.testing import CliRunner

from arena.plugin_host.registry import Registry, default_registry
from arena.scenario.checks import check_scenario
from arena.scenario.model import MAX_NODES, ExpectModel, Scenario, load_scenario, scenario_from_dict
from arena.scenario.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, ScenarioError, load_yaml_text, parse_param

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "broken_scenarios"
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
BROKEN = sorted(CORPUS.glob("*.yaml"))
GUARD_SECONDS = 30

# A few of every kind, through the real command: loader limits, numbers, plugins, topologies, node references.
VIA_CLI = ["alias_bomb", "python_tag_object", "duration_1e308", "amount_reversed", "unknown_plugin",
           "plugin_bad_param_type", "unknown_topology_kind", "event_crash_999"]
VIA_SUBPROCESS = ["alias_bomb", "validators_1e10"]


@contextmanager
def guard(seconds: int = GUARD_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the body runs longer than ``seconds``."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s: the loader did not refuse the input")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def header(path: Path) -> tuple[str, str | None]:
    """The ``# expect:`` substring and the optional ``# key:`` of a corpus file."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    assert lines and lines[0].startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    key = lines[1].removeprefix("# key: ") if len(lines) > 1 and lines[1].startswith("# key: ") else None
    return lines[0].removeprefix("# expect: "), key


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def load_like_run(path: Path, registry: Registry) -> Scenario:
    """What ``arena run FILE`` does before the battle: load (with the CLI's own loader), then check."""
    from arena.cli.main import load

    sc = load(str(path))
    check_scenario(sc, str(path), registry)
    return sc


def refusal(path: Path, registry: Registry) -> str:
    with guard(), pytest.raises(ScenarioError) as info:
        load_like_run(path, registry)
    return str(info.value)


# ============================================== the corpus ======================================================
def test_corpus_is_large_and_varied() -> None:
    assert len(BROKEN) >= 50
    bodies = [p.read_bytes() for p in BROKEN]
    assert len(set(bodies)) == len(bodies), "two corpus files are identical"
    for path in BROKEN:
        header(path)
        assert path.stat().st_size < 64 * 1024, f"{path.name}: corpus files stay small"


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_scenario_is_refused_with_one_line(path: Path, registry: Registry) -> None:
    expect, key = header(path)
    message = refusal(path, registry)
    assert "\n" not in message, f"more than one line:\n{message}"
    assert re.match(re.escape(str(path)) + r":\d+: ", message), message
    assert expect in message
    if key is not None:
        rest = message[len(str(path)):].split(": ", 2)
        assert len(rest) == 3 and rest[1] == key, message
    assert "Traceback" not in message


@pytest.mark.parametrize("name", VIA_CLI)
def test_cli_exits_2_with_one_line(name: str, tmp_path: Path) -> None:
    from arena.cli.main import main

    path = CORPUS / f"{name}.yaml"
    expect, _ = header(path)
    with guard():
        result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {path}:")
    assert expect in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", VIA_SUBPROCESS)
def test_installed_script_exits_2_with_one_line(name: str, tmp_path: Path) -> None:
    path = CORPUS / f"{name}.yaml"
    expect, _ = header(path)
    script = Path(sys.executable).parent / "arena"
    proc = subprocess.run([str(script), "run", str(path), "--out", str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expect in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "run").exists()


# ============================================== the shipped scenarios still pass ================================
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_load_and_check(path: Path, registry: Registry) -> None:
    with guard():
        sc = load_like_run(path, registry)
    assert 1 <= sc.node_count <= MAX_NODES
    assert sc.settle < sc.duration


# ============================================== limits not kept in the corpus ===================================
def test_huge_file_refused(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ndescription: '" + "x" * (MAX_FILE_BYTES + 10) + "'\n")
    message = refusal(path, registry)
    assert message.startswith(f"{path}:1: ")
    assert "too large" in message


def test_very_deep_nesting_refused_without_recursion_error(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "deep.yaml"
    depth = 200_000
    path.write_text("name: deep\ndescription: " + "[" * depth + "]" * depth + "\n")
    message = refusal(path, registry)
    assert f"nesting deeper than {MAX_DEPTH} levels" in message
    assert message.startswith(f"{path}:2: ")


def test_moderate_nesting_and_aliases_still_load() -> None:
    text = "base: &b {a: [1, 2, {c: [3]}]}\nuses: [*b, *b, *b]\nmore:\n  <<: *b\n  d: 1e3\n"
    doc = load_yaml_text(text)
    assert doc.data["uses"][2] == {"a": [1, 2, {"c": [3]}]}
    assert doc.data["more"] == {"a": [1, 2, {"c": [3]}], "d": 1000.0}
    nested = "x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n"
    assert load_yaml_text(nested).data is not None


def test_yaml_12_floats() -> None:
    assert load_yaml_text("a: 1e10\nb: -2.5E-3\nc: 1_000\nd: '1e10'\n").data == {
        "a": 1e10, "b": -2.5e-3, "c": 1000, "d": "1e10"}


def test_param_overrides_are_strict_too(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(ScenarioError, match=r"^--param duration: cannot parse value '\.nan': .*not a finite number"):
        parse_param("duration=.nan")
    with pytest.raises(ScenarioError, match=r"^--param name: .*!!python/name:os.system is not allowed"):
        parse_param("name=!!python/name:os.system")
    assert parse_param("validators=1e10") == ("validators", 1e10)
    path = CORPUS.parent.parent / "scenarios" / "pingpong.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, [("validators", 1e10)])
    assert str(info.value) == f"{path}:5: validators: Input should be less than or equal to {MAX_NODES}"
    sc = load_scenario(path, [("events.1.at", 15)])
    check_scenario(sc, str(path), registry)


def test_dict_scenarios_name_their_keys() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"name": "d", "duration": 10, "settle": 10})
    assert str(info.value) == "<dict>: settle: Value error, settle (10) must be less than duration (10)"
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"name": "d", "validators": 2, "light_nodes": 0, "events": [{"at": 1, "crash": 7}]})
    assert "events.0.crash: Value error, node 7 does not exist" in str(info.value)
    with pytest.raises(ScenarioError, match="finite number"):
        scenario_from_dict({"name": "d", "duration": float("nan")})


def test_check_scenario_uses_the_loaded_document(registry: Registry) -> None:
    text = "name: t\nvalidators: 2\nlight_nodes: 1\nteams:\n  red:\n    plugins:\n      - {name: nope}\n"
    from arena.scenario.model import scenario_from_text

    sc = scenario_from_text(text, "inline.yaml")
    with pytest.raises(ScenarioError) as info:
        check_scenario(sc, registry=registry)
    assert str(info.value).startswith("inline.yaml:7: teams.red.plugins.0.name: unknown plugin 'nope'")


def test_large_topologies_are_checked_cheaply(registry: Registry) -> None:
    # A complete graph on MAX_NODES nodes is not built just to check it; a BA graph whose m needs many nodes is.
    with guard():
        big = scenario_from_dict({"name": "big", "validators": 10, "light_nodes": MAX_NODES - 10,
                                  "network": {"topology": {"kind": "complete"}}})
        check_scenario(big, registry=registry)
        wide = scenario_from_dict({"name": "wide", "validators": 10, "light_nodes": 190,
                                   "network": {"topology": {"kind": "barabasi_albert", "params": {"m": 100}}}})
        check_scenario(wide, registry=registry)


def test_expect_allow_faults_defaults_to_false() -> None:
    assert ExpectModel().allow_faults is False
    assert ExpectModel(allow_faults=True).allow_faults is True
    sc = scenario_from_dict({"name": "e", "expect": {"verdict": "blue_won", "allow_faults": True}})
    assert sc.expect is not None and sc.expect.allow_faults
