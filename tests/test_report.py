"""The battle report (``report.html``) and the ``run`` command's outputs: a real small double-spend battle gets a
report with its verdict, stolen amount, charts and evidence; partial, day-1 and pingpong run directories still get
one; ``arena report`` rebuilds it; ``--json`` prints only result.json and ``--quiet`` one line."""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.cli.main import battle_status, main
from arena.report.html import REPORT_NAME, build_report, load, write_report
from arena.scenario.model import load_scenario
from arena.sim.runner import run_battle
from arena.sim.world import World

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SMALL = ["--param", "duration=30", "--param", "settle=8"]  # about a second of wall time; red still steals
SMALL_OVERRIDES: list[tuple[str, Any]] = [("duration", 30), ("settle", 8)]
PNG = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}">')


@pytest.fixture(scope="module")
def battle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    run_battle(load_scenario(QUICKSTART, SMALL_OVERRIDES), out_dir=out)
    return out


def images(page: str) -> list[str]:
    return PNG.findall(page)


def test_battle_report_shows_verdict_stolen_charts_and_evidence(battle: Path) -> None:
    result = json.loads((battle / "result.json").read_text())
    assert result["verdict"] == "red_won" and result["stolen"] > 0, result["verdict_reason"]
    page = (battle / REPORT_NAME).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'class="verdict red_won"' in page
    assert f"stolen: <b>{result['stolen']}</b>" in page
    assert f"double_spend {result['stolen_by_kind']['double_spend']}" in page
    for name in result["invariants"]:
        assert name in page
    charts = images(page)
    assert {"timeline", "balances over time", "block tree"} <= set(charts), charts
    assert result["evidence"]
    for ev in result["evidence"]:
        assert html.escape(ev["detail"]) in page
    assert "sybil" in page  # the double spender's Sybil has a name, not a bare hex account


def test_report_is_self_contained(battle: Path) -> None:
    page = (battle / REPORT_NAME).read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not load anything from the network"
    assert "<script" not in page


def test_balance_replay_matches_the_final_ledger(battle: Path) -> None:
    """Genesis + every canonical block's txs, fees and reward gives the canonical validator's final balances."""
    from arena.report.data import replay_balances

    data = load(battle)
    assert data.canon is not None and data.chain
    assert data.canon is data.h.canon  # the referee's canonical validator, not one of the report's own
    series, notes = replay_balances(data)
    assert notes == []
    final = {acct: pts[-1][1] for acct, pts in series.items()}
    for acct, row in data.canon["ledger"].items():
        assert final.get(acct, 0) == row["balance"], data.account(acct)
    times = [t for pts in series.values() for t, _ in pts]
    assert max(times) <= data.result["virtual_seconds"]


def test_partial_run_dirs_still_get_a_report(battle: Path, tmp_path: Path) -> None:
    trace_only = tmp_path / "trace_only"
    trace_only.mkdir()
    shutil.copy(battle / "trace.jsonl", trace_only)
    page = write_report(trace_only).read_text(encoding="utf-8")
    assert "no result.json" in page and "recomputed by the referee" in page
    assert "block tree" in images(page)  # from the propose events alone
    assert "balances cannot be replayed" in page

    cut = tmp_path / "cut"
    cut.mkdir()
    text = (battle / "trace.jsonl").read_text()
    (cut / "trace.jsonl").write_text(text[: len(text) // 2])  # a run killed mid-line
    page = build_report(cut)
    assert "unreadable lines" in page

    no_states = tmp_path / "no_states"
    shutil.copytree(battle, no_states, ignore=shutil.ignore_patterns("states", REPORT_NAME))
    page = write_report(no_states).read_text(encoding="utf-8")
    assert 'class="verdict red_won"' in page
    assert "no states/ directory" in page

    junk = tmp_path / "junk"
    (junk / "states").mkdir(parents=True)
    (junk / "result.json").write_text("{not json")
    (junk / "trace.jsonl").write_text('{"format":1}\n{"t":1.0,"ev":"propose","hash":7}\n[]\n')
    (junk / "states" / "validator0.json").write_text('{"name": "validator0", "chain": "nope", "role": 3}')
    assert "<h2>Verdict</h2>" in write_report(junk).read_text(encoding="utf-8")

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no trace.jsonl" in write_report(empty).read_text(encoding="utf-8")


def test_a_faulted_run_says_faulted_and_where_the_plugin_failed(tmp_path: Path) -> None:
    from test_referee import clean_run, write_dir

    r = clean_run()
    r.fault(where=["attacks/double_spend.py:41", "attacks/double_spend.py:57"])
    run = write_dir(tmp_path / "faulted", r.header, r.all_events(), r.states())
    page = write_report(run).read_text(encoding="utf-8")  # no result.json: the referee judges the files
    assert 'class="verdict faulted"' in page and ".verdict.faulted{" in page
    assert "recomputed by the referee" in page
    faults = page[page.index('<section id="faults">'):page.index('<section id="timeline">')]
    for text in ("light6", "red", "double_spend", "arena_tick", "exception", "KeyError: &#x27;nope&#x27;",
                 "attacks/double_spend.py:41 → attacks/double_spend.py:57"):
        assert text in faults, text
    assert "plugin fault (plugin disabled)" not in faults  # the chart's legend is on the timeline

    from arena.report.sections import section_faults, section_verdict

    (run / "result.json").write_text(json.dumps({"scenario": "hand", "seed": 1, **r.judge().as_result()}))
    data = load(run)  # an already judged run: the verdict is result.json's
    assert data.verdict is not None and data.verdict.verdict == "faulted" and not any("recomputed" in n
                                                                                     for n in data.notes)
    assert 'class="verdict faulted"' in section_verdict(data)
    assert "attacks/double_spend.py:41" in section_faults(data)


def test_day1_and_pingpong_runs_omit_what_they_lack(tmp_path: Path) -> None:
    day1 = tmp_path / "day1"
    run_battle(load_scenario(ROOT / "scenarios" / "day1_transfers.yaml", [("duration", 8)]), out_dir=day1)
    page = (day1 / REPORT_NAME).read_text(encoding="utf-8")
    assert "Day-1 mode" in page and "there are no blocks" in page
    assert "Ledger of validator" in page

    ping = tmp_path / "ping"
    run_battle(load_scenario(ROOT / "scenarios" / "pingpong.yaml"), out_dir=ping)
    page = (ping / REPORT_NAME).read_text(encoding="utf-8")
    assert "No genesis event" in page and "No block on record" in page
    assert "timeline" in images(page)  # the partition and the crash, shaded
    assert "partition" in page and "crash" in page


def test_report_command_rebuilds_and_prints_the_path(battle: Path, tmp_path: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(battle, run, ignore=shutil.ignore_patterns(REPORT_NAME))
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run / REPORT_NAME)
    assert 'class="verdict red_won"' in (run / REPORT_NAME).read_text(encoding="utf-8")
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2


def test_run_json_prints_only_the_result(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--json", "--open"])
    assert result.exit_code == 0, result.output  # red won, and the battle was judged: 0
    printed = json.loads(result.stdout)
    assert printed == json.loads((out / "result.json").read_text())
    assert (out / REPORT_NAME).is_file()


def test_run_quiet_prints_one_line_and_open_names_the_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--quiet", "--open"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("verdict: red_won  stolen: ")
    assert lines[0].endswith(f"report: {out / REPORT_NAME}")


def test_run_summary_names_the_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out / REPORT_NAME}" in result.stdout
    assert "double_spend" in result.stdout  # stolen, by kind
    assert "identical ledgers" in result.stdout
    assert "sybil" in result.stdout


def test_a_failing_report_never_loses_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    import arena.report.html

    def broken(run_dir: Path) -> Path:
        raise RuntimeError("boom")

    monkeypatch.setattr(arena.report.html, "write_report", broken)
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="arena.report.html"):
        outcome = run_battle(load_scenario(ROOT / "scenarios" / "pingpong.yaml", [("duration", 4)]), out_dir=out)
    assert json.loads((out / "result.json").read_text()) == json.loads(json.dumps(outcome.result, default=str))
    assert not (out / REPORT_NAME).exists()
    assert any("boom" in r.getMessage() for r in caplog.records)


def test_progress_sees_time_packets_evidence_and_status() -> None:
    seen: list[tuple[float, int, int, str]] = []
    worlds: list[World] = []

    def progress(t: float) -> None:
        w = worlds[0]
        seen.append((t, w.network.stats.sent, w.trace.counts["evidence"], battle_status(w)))

    run_battle(load_scenario(QUICKSTART, SMALL_OVERRIDES), progress=progress, watch=worlds.append)
    assert seen[-1][0] == 30
    assert seen[-1][1] > seen[0][1] > 0
    assert seen[-1][2] > 0
    statuses = [s for *_, s in seen]
    assert statuses[0].startswith("red active, no evidence yet")
    assert any(s.startswith("red active, attack fired") for s in statuses)
    assert statuses[-1].startswith("settling")


def test_baseline_run_links_both_reports(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--baseline", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "baseline" / REPORT_NAME).is_file()
    page = (out / REPORT_NAME).read_text(encoding="utf-8")
    assert "Attack vs baseline" in page and 'href="baseline/report.html"' in page


def test_report_can_be_skipped_and_built_later(tmp_path: Path) -> None:
    """Tournaments skip the report (it is a view); ``write_report`` builds it from the files afterwards."""
    from arena.report.html import write_report
    from arena.scenario.model import scenario_from_dict
    from arena.sim.runner import run_battle

    sc = scenario_from_dict({"name": "noreport", "duration": 6, "validators": 2, "light_nodes": 2})
    run_dir = tmp_path / "run"
    run_battle(sc, out_dir=run_dir, report=False)
    assert (run_dir / "result.json").is_file() and not (run_dir / "report.html").exists()
    assert write_report(run_dir).is_file()
