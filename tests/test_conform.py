"""``arena conform``: the honest protocol and the simplechain example pass every check; broken protocols fail
exactly the check they break (exit 1); a bad reference exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.cli.main import main
from arena.conform import CHECK_NAMES, HANDLERS, SINGLE, WIRE, BattleRun, CheckResult, run_checks
from arena.conform.table import table

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "tests" / "protocols"
SIMPLECHAIN = ROOT / "examples" / "simplechain" / "simplechain.py"


def conform(ref: str, out: Path) -> tuple[int, dict[str, Any]]:
    res = CliRunner().invoke(main, ["conform", ref, "--json", "--out", str(out)], catch_exceptions=False)
    return res.exit_code, json.loads(res.stdout)


def failed(report: dict[str, Any]) -> set[str]:
    return {c["name"] for c in report["checks"] if not c["passed"]}


def test_honest_passes_every_check(tmp_path: Path) -> None:
    code, report = conform("honest", tmp_path)
    assert [c["name"] for c in report["checks"]] == list(CHECK_NAMES)
    assert failed(report) == set(), report
    assert code == 0 and report["passed"] is True
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert "honest transfers finalised" in details["transfers conserve supply"]
    assert " 0 violations" in details[WIRE]
    # the run directories are kept with --out, and each state carries the boundary's wire summary
    state = json.loads((tmp_path / "transfers" / "states" / "validator0.json").read_text())
    assert state["wire"]["violations"] == {} and sum(state["wire"]["sent"].values()) > 0


def test_simplechain_example_passes_every_check(tmp_path: Path) -> None:
    code, report = conform(str(SIMPLECHAIN), tmp_path)
    assert failed(report) == set(), report
    assert code == 0
    ds = next(c for c in report["checks"] if c["name"] == "double spend is judged")
    assert ds["detail"].startswith("red_won")  # undefended, zero confirmations: the referee sees the theft


@pytest.mark.parametrize(("broken", "expected"), [
    ("mints_on_transfer", {"transfers conserve supply"}),
    ("non_schema_message", {WIRE}),
    ("forgets_intents", {"transfers conserve supply"}),
    ("wrong_leaders", {"chain verifies"}),
    ("raises_on_submit", {HANDLERS}),
])
def test_a_broken_protocol_fails_exactly_its_check(tmp_path: Path, broken: str, expected: set[str]) -> None:
    code, report = conform(str(PROTOCOLS / f"{broken}.py"), tmp_path)
    assert failed(report) == expected, report
    assert code == 1 and report["passed"] is False


def test_the_evidence_names_what_broke(tmp_path: Path) -> None:
    _, report = conform(str(PROTOCOLS / "non_schema_message.py"), tmp_path)
    wire = next(c for c in report["checks"] if c["name"] == WIRE)
    assert "unknown_message" in wire["detail"] and "validator0" in wire["detail"]
    trace = (tmp_path / "transfers" / "trace.jsonl").read_text()
    assert '"wire_violation"' in trace


def test_a_protocol_that_crashes_the_world_fails_every_check(tmp_path: Path) -> None:
    code, report = conform(str(PROTOCOLS / "crashes_on_start.py"), tmp_path)
    assert code == 1
    assert failed(report) == set(CHECK_NAMES)
    assert all("the battle crashed" in c["detail"] and "not implemented yet" in c["detail"]
               for c in report["checks"])


@pytest.mark.parametrize("ref", ["no_such_protocol", str(PROTOCOLS / "missing.py"), "no_such_module:Chain",
                                 "arena.conform.checks:CheckResult"])
def test_a_bad_reference_exits_2_with_one_line(tmp_path: Path, ref: str) -> None:
    res = CliRunner().invoke(main, ["conform", ref, "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert not (tmp_path / "runs").exists()  # no battle ran


def test_a_crashed_battle_fails_the_checks_that_read_it(tmp_path: Path) -> None:
    runs = {name: BattleRun(name, tmp_path / name, "the battle crashed: boom" if name == "double_spend" else None)
            for _, _, name in SINGLE}
    results = run_checks(runs)
    by_name = {r.name: r for r in results}
    assert not by_name["double spend is judged"].passed and "boom" in by_name["double spend is judged"].detail
    assert not by_name[WIRE].passed and "boom" in by_name[WIRE].detail
    # the others read directories that do not exist: they fail too, saying why, and nothing raises
    assert all(not r.passed and r.detail for r in results)


def test_the_table_has_one_row_per_check() -> None:
    from rich.console import Console

    results = [CheckResult("a check", "transfers", True, "fine evidence"),
               CheckResult("another", "double_spend", False, "bad [evidence]")]
    console = Console(record=True, width=200)
    console.print(table("ourchain.py", results))
    text = console.export_text()
    assert "1 of 2 checks pass" in text
    assert "PASS" in text and "FAIL" in text and "bad [evidence]" in text
