"""Rules of the game for plugins: built-ins use only the public API, and a crashing plugin is contained."""

from __future__ import annotations

import ast
from pathlib import Path

from arena.plugin_host.registry import Registry, default_registry
from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = ("arena", "arena.plugin_api.base", "arena.plugin_api.adversary", "honest.schema", "honest.messages")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_attacks_and_defenses_import_only_the_public_api() -> None:
    offenders = []
    for folder in ("attacks", "defenses"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                if top in ("arena", "honest") and name not in ALLOWED:
                    offenders.append(f"{path.name}: {name}")
    assert not offenders, f"plugins may import only {ALLOWED}: {offenders}"


def test_builtins_are_found_through_entry_points() -> None:
    names = set(default_registry().plugins)
    assert {"double_spend", "confirmation_depth"} <= names


FAULTY = '''
from arena import Plugin, hookimpl

class Faulty(Plugin):
    """Raises on every tick."""
    name = "faulty"
    team = "blue"

    @hookimpl
    def arena_tick(self, node, now):
        raise RuntimeError("boom")
'''


def test_a_crashing_plugin_is_disabled_and_named(tmp_path: Path) -> None:
    plugin = tmp_path / "faulty.py"
    plugin.write_text(FAULTY)
    registry = Registry()
    registry.load_files([plugin])
    sc = scenario_from_dict({"name": "faulty", "duration": 8, "validators": 3, "light_nodes": 2,
                             "teams": {"blue": {"plugins": [{"name": "faulty"}]}}})
    result = run_battle(sc, registry=registry, out_dir=tmp_path / "run").result
    faults = result["plugin_faults"]
    assert faults and {f["plugin"] for f in faults} == {"faulty"}
    assert all(f["hook"] == "arena_tick" and "boom" in f["error"] for f in faults)
    assert len(faults) == 5, "one fault per node: the plugin is disabled after its first exception"
    assert "verdict" in result


def test_unknown_plugin_params_are_a_scenario_error(tmp_path: Path) -> None:
    import pytest

    from arena.scenario.yamlsource import ScenarioError

    sc = scenario_from_dict({"name": "bad", "duration": 5, "validators": 2, "light_nodes": 1,
                             "teams": {"blue": {"plugins": [{"name": "confirmation_depth",
                                                             "params": {"dpeth": 3}}]}}})
    with pytest.raises(ScenarioError, match="dpeth"):
        run_battle(sc, out_dir=None)
