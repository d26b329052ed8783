"""``arena new``: the generated plugin, scenario and test work out of the box."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli.scaffold import new_cmd, new_plugin
from arena.plugin_host.registry import load_file
from arena.scenario.model import load_scenario


@pytest.mark.parametrize("kind", ["attack", "defense"])
def test_generated_plugin_passes_its_own_test(kind: str, tmp_path: Path) -> None:
    name = f"my_{kind}"
    paths = new_plugin(kind, name, tmp_path)  # type: ignore[arg-type]
    assert [p.name for p in paths] == [f"{name}.py", f"scenario_{name}.yaml", f"test_{name}.py"]
    (cls,) = load_file(paths[0])
    assert cls.name == name and cls.team == ("red" if kind == "attack" else "blue")
    scenario = load_scenario(paths[1])
    assert scenario.name == name and scenario.duration == 30
    # both scenarios have a red side to fight (a defense scaffold attacks itself with a built-in attack), so the
    # verdict is judged rather than "unknown: no red team"; the generated test uses the arena_battle fixture
    assert any(n.team == "red" for _, n in scenario.roles()), "no red node in the generated scenario"
    assert "arena_battle" in paths[2].read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(paths[2])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


@pytest.mark.parametrize("bad", ["my-attack", "2fast", "class", "", "a b", "../evil"])
def test_bad_names_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid Python identifier"):
        new_plugin("attack", bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "scenario_x.yaml").write_text("keep me\n")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        new_plugin("defense", "x", tmp_path)
    assert (tmp_path / "scenario_x.yaml").read_text() == "keep me\n"
    assert not (tmp_path / "x.py").exists()


def test_bad_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        new_plugin("heist", "x", tmp_path)  # type: ignore[arg-type]


def test_click_command(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(new_cmd, ["attack", "sneaky", "--dir", str(tmp_path / "plugins")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plugins" / "sneaky.py").is_file()
    assert "created" in res.output
    again = runner.invoke(new_cmd, ["attack", "sneaky", "--dir", str(tmp_path / "plugins")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    bad = runner.invoke(new_cmd, ["defense", "not-ok", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "identifier" in bad.output
