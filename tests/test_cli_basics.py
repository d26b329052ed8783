"""The ``arena`` command: version, bad input (exit 2, one line naming where), a real run, the plugin list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena import __version__
from arena.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PINGPONG = ROOT / "scenarios" / "pingpong.yaml"

GOOD = """\
name: tiny
protocol: pingpong
duration: 4
validators: 2
light_nodes: 0
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    assert "arena" in result.output


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "network:\n  topology: {kind: ring}\n  lnk: {latency: 0.1}\n")
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert f"{path}:8: network.lnk: unknown key" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("duration: 4", "duration: soon"))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: duration:" in result.output
    assert "number" in result.output
    assert "Traceback" not in result.output


def test_wrong_type_nested_and_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "network:\n  link: {latency: 0.1, loss: 1.5}\n")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "network.link.loss" in result.output
    assert ":7:" in result.output
    assert "Traceback" not in result.output


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(main, ["run", str(missing)])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output
    assert "not found" in result.output
    assert "Traceback" not in result.output


def test_run_with_determinism_check_writes_trace_and_result(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(PINGPONG), "--out", str(out), "--check-determinism", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "deterministic" in result.output
    assert "NOT deterministic" not in result.output
    trace = out / "trace.jsonl"
    assert trace.is_file()
    assert trace.read_bytes() == (out / "replay" / "trace.jsonl").read_bytes()
    res = json.loads((out / "result.json").read_text())
    assert res["scenario"] == "pingpong"
    assert res["seed"] == 1
    assert res["backend"] == "sim"
    assert res["virtual_seconds"] == 30
    assert isinstance(res["wall_seconds"], float | int)
    msgs = res["messages"]
    assert msgs["sent"] > 0
    assert 0 < msgs["delivered"] <= msgs["sent"] * 2
    assert msgs["dropped"] > 0  # the scenario partitions and crashes nodes
    assert len(res["trace_sha256"]) == 64
    assert res["trace_sha256"] in result.output


def test_json_output_is_the_result(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "r"), "--json", "--seed", "9"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["seed"] == 9
    assert printed == json.loads((tmp_path / "r" / "result.json").read_text())


def test_plugins_lists() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "plugins" in result.output
    assert "Traceback" not in result.output


def test_installed_script_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "validatorz: 3\n")
    script = Path(sys.executable).parent / "arena"
    proc = subprocess.run([str(script), "run", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          check=False)
    assert proc.returncode == 2
    assert f"{path}:6: validatorz: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists()


def test_no_report_writes_the_run_directory_without_report_html(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(PINGPONG), "--out", str(out), "--no-report", "--quiet",
                                       "--check-determinism"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verdict: ") and "report:" not in result.stdout
    names = {p.name for p in out.iterdir()}
    assert {"trace.jsonl", "result.json", "replay"} <= names and "report.html" not in names
    assert not (out / "replay" / "report.html").exists()  # the determinism replay never gets one
    assert json.loads((out / "result.json").read_text())["scenario"] == "pingpong"
    later = CliRunner().invoke(main, ["report", str(out)])  # built later from the files
    assert later.exit_code == 0 and (out / "report.html").is_file()


def test_no_report_is_documented_and_cannot_go_with_open(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(main, ["run", "--help"]).output
    assert "--no-report" in help_text and "report.html" in help_text
    assert "red_won" in help_text  # --expect's choices, read from the referee when shown
    both = CliRunner().invoke(main, ["run", str(PINGPONG), "--out", str(tmp_path / "r"), "--no-report", "--open"])
    assert both.exit_code == 2 and "--no-report" in both.output
    assert not (tmp_path / "r").exists()


def test_expect_rejects_a_verdict_the_referee_does_not_have() -> None:
    result = CliRunner().invoke(main, ["run", str(PINGPONG), "--expect", "nobody_won"])
    assert result.exit_code == 2
    assert "nobody_won" in result.output and "red_won" in result.output


def test_tables_never_cut_names_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal rich assumed 80 columns and cut `byzantine_validator` to `byzantine_v…`."""
    from arena.plugin_host.registry import default_registry

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # what CI systems set: rich then takes a pipe for an 80-column terminal
    listed = CliRunner().invoke(main, ["plugins"]).output
    assert "…" not in listed
    for name in default_registry().plugins:
        assert name in listed, name


def test_listing_commands_print_json() -> None:
    from honest import schema

    plugins = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).output)
    assert {"double_spend", "confirmation_depth"} <= {p["name"] for p in plugins}
    assert all(set(p) == {"name", "team", "hooks", "source", "about"} for p in plugins)
    described = json.loads(CliRunner().invoke(main, ["schema", "--json"]).output)
    assert described["fingerprint"] == schema.fingerprint()
    gossip = next(t for t in described["types"] if t["name"] == "Gossip")
    assert gossip["msg_id"] == 10 and gossip["fields"] == [{"name": "items", "format": "[GossipItem]"}]
