"""Progress bars (issue #16): drawn on a terminal with the right total, silent off one; the long commands (sweep,
channels, tournament, live) report per battle or phase through them and print no progress lines into a log."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from arena.cli.live import live_progress
from arena.cli.progress import batch_progress, progress
from arena.experiments.channels import channels_cmd
from arena.experiments.sweep import run_sweep, sweep_cmd

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

TINY = """\
name: tiny_progress
seed: 3
duration: 8
validators:
  - {stake: 100}
  - {stake: 100}
  - {stake: 100}
light_nodes: 3
genesis_balance: 1000
workload: {rate: 2, amount: [1, 10], fee: 1}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
network:
  topology: {kind: complete}
  link: {latency: 0.02}
"""

#: What a per-battle progress line of the old commands looked like ("  complete seed 1: 3/4 payments (75%)",
#: "[2/6] sybil vs none seed 1: ...") and the bar itself ("2/6 battles", terminal control codes).
PROGRESS_LINE = re.compile(r"seed \d+: \d+/\d+|^\[\d+/\d+\]|\d+/\d+ battles|\x1b\[", re.M)


def terminal() -> tuple[Console, StringIO]:
    buf = StringIO()
    return Console(force_terminal=True, file=buf, width=120), buf


def text(buf: StringIO) -> str:
    return ANSI.sub("", buf.getvalue())


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_a_terminal_gets_a_bar_with_the_right_total() -> None:
    console, buf = terminal()
    with batch_progress("sweep", 7, console=console) as advance:
        advance("equal seed 1")
        advance("equal seed 2")
    shown = text(buf)
    assert "sweep" in shown and "━" in shown
    assert "0/7 battles" in shown and "2/7 battles" in shown
    assert "/5 battles" not in shown
    assert "equal seed 2" in shown  # the item just finished is named beside the bar


def test_a_bar_restarts_for_each_phase() -> None:
    console, buf = terminal()
    with live_progress(True, console=console) as phase:
        assert phase is not None
        phase("processes", 3, 3)
        phase("nodes", 5, 10)
        phase("battle", 4, 30)
    shown = text(buf)
    assert "starting processes" in shown and "3/3 processes" in shown
    assert "waiting for nodes" in shown and "5/10 nodes ready" in shown
    assert "live battle" in shown and "4/30 battle s" in shown


def test_off_a_terminal_nothing_is_written() -> None:
    buf = StringIO()
    console = Console(force_terminal=False, file=buf, width=120)
    with batch_progress("sweep", 3, console=console) as advance:
        for i in range(3):
            advance(f"case seed {i}")
    with progress("tournament", 2, console=console) as bar:
        assert not bar.drawn
        bar.print("[1/2] sybil vs none seed 1: red_won")
        bar.advance("sybil")
        bar.restart("judging", 1, "")
        bar.update(1)
    with live_progress(True, console=console) as phase:
        assert phase is None
    assert buf.getvalue() == ""


def test_quiet_draws_nothing_even_on_a_terminal() -> None:
    console, buf = terminal()
    with live_progress(False, console=console) as phase:
        assert phase is None
    with progress("x", 3, console=console, enabled=False) as bar:
        bar.advance("a")
    assert buf.getvalue() == ""


def test_the_default_console_is_stderr_and_pytest_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with batch_progress("sweep", 2) as advance:
        advance("a")
        advance("b")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_run_sweep_calls_back_once_per_battle(tiny: Path) -> None:
    calls: list[tuple[str, int]] = []
    rows = run_sweep(str(tiny), {"equal": [], "big": [("validators.0.stake", 1000)]}, [3, 4],
                     progress=lambda case, seed: calls.append((case, seed)))
    assert calls == [("equal", 3), ("equal", 4), ("big", 3), ("big", 4)]
    assert len(rows) == 4 * 3  # 4 battles, one row per validator


def test_sweep_output_has_results_and_no_progress_lines(tiny: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(sweep_cmd, [str(tiny), "--seeds", "2", "--out", str(tmp_path / "o"),
                                         "--case", "equal:", "--case", "big:validators.0.stake=1000"])
    assert res.exit_code == 0, res.output
    assert "validator0" in res.output and "stake share" in res.output.lower()
    assert not PROGRESS_LINE.search(res.output), res.output
    assert "big seed" not in res.output and "equal seed" not in res.output


def test_channels_output_has_results_and_no_progress_lines(tmp_path: Path) -> None:
    params = ["light_nodes=6", "duration=20", "channels.payments.start=7", "channels.payments.stop=15",
              "channels.payments.rate=3", "channels.close_at=null", "channels.total_capacity=3000"]
    args = [str(SCENARIOS / "day3_topologies.yaml"), "--seeds", "1", "--topology", "complete", "--topology",
            "bottleneck", "--out", str(tmp_path)]
    for p in params:
        args += ["--param", p]
    res = CliRunner().invoke(channels_cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "channels by topology" in res.output and "paid" in res.output
    assert not PROGRESS_LINE.search(res.output), res.output
    assert "payments (" not in res.output  # the old per-run line: "3/4 payments (75%)"


@pytest.mark.live
def test_a_live_battle_reports_its_phases_in_order(tmp_path: Path) -> None:
    from arena.live import run_live
    from arena.scenario.model import scenario_from_dict

    sc = scenario_from_dict({
        "name": "live_phases", "seed": 3, "duration": 4, "settle": 1, "validators": 3, "light_nodes": 2,
        "workload": {"rate": 1, "amount": [1, 5], "fee": 1},
        "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10, "finality": "votes"}})
    seen: list[tuple[str, float, float]] = []
    ticks: list[float] = []
    run_live(sc, tmp_path / "live", processes=2, progress=ticks.append,
             phase=lambda name, done, total: seen.append((name, done, total)))
    order = list(dict.fromkeys(name for name, _, _ in seen))
    assert order == ["processes", "nodes", "battle", "stopping", "judging"]
    assert ("processes", 2, 2) in seen
    assert ("nodes", sc.node_count, sc.node_count) in seen
    battle = [done for name, done, total in seen if name == "battle" and total == sc.duration]
    assert battle[0] == 0 and battle == sorted(battle) and len(battle) > 2
    assert ticks == battle[1:]  # the older battle-seconds callback still sees every tick
