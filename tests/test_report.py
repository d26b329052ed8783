"""The battle report (``report.html``) and the ``run`` command's outputs: a real small double-spend battle gets a
report with its verdict, stolen amount, charts and evidence; partial, day-1 and pingpong run directories still get
one; ``arena report`` rebuilds it; ``--json`` prints only result.json and ``--quiet`` one line."""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
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
CHART = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="([^"]+)"')


@pytest.fixture(scope="module")
def battle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    run_battle(load_scenario(QUICKSTART, SMALL_OVERRIDES), out_dir=out)
    return out


def images(page: str) -> list[str]:
    """The labels of the page's charts (inline SVG)."""
    return CHART.findall(page)


def test_battle_report_shows_verdict_stolen_charts_and_evidence(battle: Path) -> None:
    result = json.loads((battle / "result.json").read_text())
    assert result["verdict"] == "red_won" and result["stolen"] > 0, result["verdict_reason"]
    page = (battle / REPORT_NAME).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'class="verdict red_won"' in page
    assert f"stolen: <b>{result['stolen']}</b>" in page
    assert f"unpaid_goods {result['stolen_by_category']['unpaid_goods']}" in page  # the loss, by its name
    for name in result["invariants"]:
        assert name in page
    charts = images(page)
    assert {"timeline", "finalised height", "balances over time", "block tree"} <= set(charts), charts
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


# ================================================ charts: SVG, escaping, many nodes ==============================
HOSTILE = '<script>alert("red")</script>"><img src=x onerror=alert(1)>'
"""A string a red plugin could put anywhere it writes: a tag that runs, and one that breaks out of an attribute."""
SYBIL_ACCT = "ee" * 20


def hand_run(path: Path, n_light: int, *, hostile: str | None = None, blocks: int = 30) -> Path:
    """A run directory written by hand (no simulation): 4 validators, ``n_light`` light nodes (the last one red),
    ``blocks`` finalised blocks of transfers between light nodes, the validators' final states. ``hostile`` goes into
    every string a red node controls: its name, its Sybil's name, its plugin's name, evidence, log, fault, drop
    reasons and message names."""
    import hashlib

    bad = hostile or ""
    names = [f"validator{i}" for i in range(4)] + [f"light{i}" for i in range(4, 4 + n_light)]
    red_index = len(names) - 1
    names[red_index] = f"{bad}light{red_index}"  # still ends with its index
    red = names[red_index]
    roles = {n: "validator" if i < 4 else "light" for i, n in enumerate(names)}
    teams = {n: "red" if n == red else "blue" for n in names}
    accounts = {n: f"{i + 1:040x}" for i, n in enumerate(names)}
    balances = {n: 1000 for n in names if roles[n] == "light"}
    stakes = {n: 100 for n in names if roles[n] == "validator"}
    lights = [n for n in names if roles[n] == "light"]
    ledger = {accounts[n]: {"balance": balances.get(n, 0), "nonce": 0, "stake": stakes.get(n, 0)} for n in names}
    ledger[SYBIL_ACCT] = {"balance": 0, "nonce": 0, "stake": 0}
    chain: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = [
        {"t": 0.0, "ev": "genesis", "accounts": accounts, "balances": balances, "stakes": stakes, "teams": teams,
         "roles": roles, "reward": 10, "mode": "pos", "duration": blocks + 2, "settle": 4},
        {"t": 0.5, "ev": "identity", "node": red_index, "account": SYBIL_ACCT, "name": f"{bad}sybil"}]
    parent = "0" * 64
    for height in range(1, blocks + 1):
        txs = []
        for k in range(3):
            sender = lights[(height * 7 + k * 3) % len(lights)]
            receiver = lights[(height * 5 + k * 11 + 1) % len(lights)]
            if sender == receiver:
                continue
            to = SYBIL_ACCT if sender == red and k == 0 else accounts[receiver]
            amount, s = 5 + (height * 13 + k * 7) % 40, accounts[sender]
            ledger[s]["nonce"] += 1
            txs.append({"id": f"{height:04x}{k:02x}" + "ab" * 29, "kind": 0, "sender": s, "receiver": to,
                        "amount": amount, "fee": 1, "nonce": ledger[s]["nonce"]})
            ledger[s]["balance"] -= amount + 1
            ledger[to]["balance"] += amount
        proposer = names[height % 4]
        ledger[accounts[proposer]]["balance"] += 10 + len(txs)
        block_hash = hashlib.sha256(f"block {height}".encode()).hexdigest()
        chain.append({"hash": block_hash, "height": height, "slot": height, "proposer": accounts[proposer],
                      "parent": parent, "txs": txs})
        events += [{"t": height - 0.5, "ev": "propose", "node": height % 4, "hash": block_hash, "height": height,
                    "parent": parent, "txs": len(txs)},
                   {"t": float(height), "ev": "finalized", "node": 0, "height": height, "hash": block_hash}]
        parent = block_hash
    events += [
        {"t": 3.0, "ev": "evidence", "node": red_index, "plugin": f"{bad}plugin", "kind": f"{bad}kind",
         "detail": f"{bad}detail"},
        {"t": 4.0, "ev": "plugin", "node": red_index, "plugin": f"{bad}plugin", "event": f"{bad}event",
         "note": bad},
        {"t": 5.0, "ev": "plugin_fault", "node": red_index, "node_name": red, "plugin": f"{bad}plugin", "team": "red",
         "hook": "arena_tick", "kind": "exception", "error": f"{bad}error", "where": [f"{bad}file.py:1"]},
        {"t": 6.0, "ev": "drop", "reason": f"{bad}reason"},
        {"t": 6.5, "ev": "msg_drop", "node": 0, "reason": f"{bad}why", "kind": f"{bad}message"},
        {"t": 8.0, "ev": "partition", "groups": [[0, 1], [2, 3, red_index]]},
        {"t": 10.0, "ev": "heal"},
    ]
    events.sort(key=lambda e: e["t"])
    top = chain[-1]
    states = [{"name": n, "index": i, "role": "validator", "team": "blue", "account": accounts[n], "up": True,
               "head": top["hash"], "head_height": blocks, "finalized": top["hash"], "finalized_height": blocks,
               "ledger": ledger, "chain": chain, "sent": {"Gossip": 10 + i, f"{bad}Message": 2}}
              for i, n in enumerate(names[:4])]
    states.append({"name": red, "index": red_index, "role": "light", "team": "red", "account": accounts[red],
                   "up": True, "sent": {"Ping": 3, f"{bad}Message": 5}})
    (path / "states").mkdir(parents=True)
    header = {"format": 1, "seed": 1, "scenario": f"{bad}hand", "backend": "sim", "red_enabled": True}
    (path / "trace.jsonl").write_text("".join(json.dumps(line) + "\n" for line in [header, *events]))
    for i, s in enumerate(states):
        (path / "states" / f"node{i}.json").write_text(json.dumps(s))
    return path


def section(page: str, key: str) -> str:
    start = page.index(f'<section id="{key}">')
    return page[start:page.index("</section>", start)]


class Tags(HTMLParser):
    """Every start tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


def test_hostile_strings_from_a_run_directory_are_escaped_everywhere(tmp_path: Path) -> None:
    run = hand_run(tmp_path / "hostile", 6, hostile=HOSTILE)
    page = write_report(run).read_text(encoding="utf-8")
    assert {"timeline", "balances over time", "block tree", "messages sent", "drops over time"} <= set(images(page))
    assert "<script" not in page.lower() and "<img" not in page.lower()
    parser = Tags()
    parser.feed(page)
    assert not parser.tags & {"script", "img", "iframe", "object", "embed", "foreignobject"}, parser.tags
    assert not {a for a in parser.attrs if a.startswith("on")}, parser.attrs  # no event handler broke out
    escaped = html.escape(HOSTILE)
    for key in ("faults", "timeline", "balances", "messages"):
        assert escaped in section(page, key), key
    # in the charts too: the red node's row label, its evidence's tooltip, its balance's legend, the message names
    charts = dict(zip(images(page), re.findall(r"<svg.*?</svg>", page, re.S), strict=True))
    assert f"{escaped}light9" in charts["timeline"] and f"{escaped}detail" in charts["timeline"]
    assert f"{escaped}sybil" in charts["balances over time"]
    assert f"{escaped}Message" in charts["messages sent"] and f"{escaped}reason" in charts["drops over time"]


def test_the_balance_chart_stays_readable_with_many_accounts(tmp_path: Path) -> None:
    """With 60 light nodes: the red side and the honest accounts that moved most drawn one by one, the others as one
    band per role; a small run draws every account."""
    from arena.report.charts import MAX_LINES

    run = hand_run(tmp_path / "many", 60)
    page = write_report(run).read_text(encoding="utf-8")
    data = load(run)
    from arena.report.data import replay_balances

    series, notes = replay_balances(data)
    assert notes == [] and len(series) == 65  # 4 validators, 60 light nodes, 1 Sybil
    chart = re.findall(r"<svg.*?</svg>", page, re.S)[images(page).index("balances over time")]
    lines = re.findall(r"<title>([^<]*): \d+ at genesis, -?\d+ at the end</title>", chart)
    assert len(lines) == MAX_LINES
    assert "light63 (red)" in lines and "sybil (red)" in lines
    assert f"{MAX_LINES} of 65 accounts drawn one by one" in chart
    assert "other light accounts: range" in chart and "other light accounts: median" in chart
    moved = {data.account(a): max(abs(v - pts[0][1]) for _, v in pts) for a, pts in series.items()}
    drawn = {n for n in lines if not n.endswith(" (red)")}
    left_out = [n for n in moved if n not in drawn and not n.startswith(("light63", "sybil"))]
    assert min(moved[n] for n in drawn) >= max(moved[n] for n in left_out)  # the biggest movers are the lines

    small = hand_run(tmp_path / "small", 6)
    small_page = build_report(small)
    chart = re.findall(r"<svg.*?</svg>", small_page, re.S)[images(small_page).index("balances over time")]
    assert len(re.findall(r"at genesis, -?\d+ at the end</title>", chart)) == 11 and "drawn one by one" not in chart


def test_the_same_run_gives_the_same_report(battle: Path, tmp_path: Path) -> None:
    first = build_report(battle)
    assert build_report(battle) == first
    copy = tmp_path / "copy"
    shutil.copytree(battle, copy)
    assert build_report(copy).replace(str(copy), str(battle)) == first


def test_the_report_needs_no_plotting_library(battle: Path) -> None:
    code = ("import json, sys; from pathlib import Path; from arena.report.page import write_report; "
            "write_report(Path(sys.argv[1])); print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code, str(battle)], capture_output=True, text=True, check=True,
                          timeout=120)
    loaded = set(json.loads(proc.stdout))
    assert not {m for m in loaded if m.split(".")[0] in ("matplotlib", "numpy", "PIL")}, "the report is plain SVG"
    assert "<svg" in (battle / REPORT_NAME).read_text(encoding="utf-8")


def test_run_writes_the_run_directory_before_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the report is built, result.json already holds the verdict (and the baseline comparison)."""
    import arena.report.page

    seen: list[tuple[str, dict[str, Any]]] = []
    real = arena.report.page.write_report

    def spy(run_dir: Path) -> Path:
        seen.append((Path(run_dir).name, json.loads((Path(run_dir) / "result.json").read_text())))
        return real(run_dir)

    monkeypatch.setattr(arena.report.page, "write_report", spy)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *SMALL, "--out", str(out), "--baseline", "--quiet"])
    assert result.exit_code == 0, result.output
    assert [name for name, _ in seen] == ["baseline", "run"]  # each report once, the linked one first
    assert seen[1][1]["verdict"] == "red_won" and "baseline" in seen[1][1]
    assert (out / REPORT_NAME).is_file() and (out / "baseline" / REPORT_NAME).is_file()
