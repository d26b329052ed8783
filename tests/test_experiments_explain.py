"""Experiments explain themselves (issue #16): the sentence under ``arena sweep``'s and ``arena channels``' charts is
computed from their numbers, names the right case or topology and figures, and changes when the numbers do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.experiments import channels, sweep

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


# ================================================ channels =======================================================
def stat(x: float) -> dict[str, float]:
    return {"mean": x, "min": x, "max": x}


def topo(success: float, *, attempted: int = 485, hops: float = 2.0, fee: float = 1.0, busiest: float = 0.3,
         reasons: dict[str, int] | None = None, oversize_failed: int = 0, widest: int = 200, capital: int = 16000,
         edges: int = 40) -> dict[str, Any]:
    """One topology as :func:`channels.aggregate` gives it."""
    succeeded = round(success * attempted)
    return {"attempted": attempted, "succeeded": succeeded, "edges": edges,
            "failed_by_reason": reasons if reasons is not None else {"no_liquidity": attempted - succeeded},
            "oversize": oversize_failed, "oversize_failed": oversize_failed, "widest_channel": widest,
            "success": stat(success), "hops": stat(hops), "fee": stat(fee), "busiest_share": stat(busiest),
            "capital": stat(capital), "latency": stat(0.1), "depletion": stat(0.4)}


def test_the_complete_graph_with_channels_too_small_is_called_an_artefact() -> None:
    agg = {"complete": topo(341 / 485, hops=1.21, busiest=0.04, reasons={"no_liquidity": 5, "no_route": 139},
                            oversize_failed=127, widest=43, edges=190),
           "barabasi_albert": topo(0.99, hops=2.18, fee=1.18, busiest=0.49, edges=36, widest=223),
           "bottleneck": topo(0.91, hops=1.69, edges=100)}
    text = channels.interpret(agg)
    assert text.startswith("The complete graph fails most (70% paid, against 99% in the BA graph)")
    assert "127 of its 144 failures" in text and "43 tokens" in text
    assert "16000 tokens" in text and "190 edges" in text and "artefact" in text
    assert "The BA graph pays over 2.18 hops" in text and "1.18 fee" in text and "49%" in text


def test_flipped_numbers_name_the_other_topology_and_cause() -> None:
    agg = {"complete": topo(1.00, hops=1.07, fee=0.07, busiest=0.01, reasons={}, edges=190),
           "barabasi_albert": topo(0.84, hops=2.24, busiest=0.49, reasons={"no_liquidity": 39, "no_route": 37},
                                   edges=36)}
    text = channels.interpret(agg)
    assert text.startswith("The BA graph fails most (84% paid, against 100% in the complete graph)")
    assert "39 of its 78 failures are hops drained on the way (no_liquidity)" in text
    assert "busiest relay carrying 49%" in text
    assert "artefact" not in text and "larger" not in text and "above its largest channel" not in text
    assert "The complete graph pays over 1.07 hops" in text


def test_no_route_failures_are_explained_by_path_length() -> None:
    agg = {"ring": topo(0.60, hops=4.1, reasons={"no_route": 150, "no_liquidity": 44}, edges=20),
           "complete": topo(0.95, hops=1.1, edges=190)}
    text = channels.interpret(agg)
    assert text.startswith("The ring graph fails most (60% paid")
    assert "150 of its 194 failures found no route" in text and "4.1 hops" in text


def test_unequal_capital_is_named_and_never_called_an_artefact() -> None:
    agg = {"complete": topo(0.74, reasons={"no_route": 126}, oversize_failed=117, widest=45, capital=17100,
                            edges=190),
           "barabasi_albert": topo(0.90, capital=3240, edges=36)}
    text = channels.interpret(agg)
    assert "117 of its 126 failures are payments above its largest channel (45 tokens, 17100 tokens over 190 edges)"\
        in text
    assert "artefact" not in text
    assert "lock 17100 tokens in the complete graph against 3240 in the BA graph" in text


def test_when_every_topology_pays_alike_the_sentence_compares_route_lengths() -> None:
    agg = {"complete": topo(1.0, hops=1.0, reasons={}), "multi_bottleneck": topo(1.0, hops=2.4, reasons={})}
    text = channels.interpret(agg)
    assert text.startswith("Every topology paid 100% of its payments")
    assert "longest in the multi-bottleneck graph (2.40 hops" in text and "shortest in the complete graph (1.00)" \
        in text
    assert "fails most" not in text


def test_no_payments_says_so() -> None:
    assert "nothing to compare" in channels.interpret({"complete": {**topo(0.0, attempted=0), "success": None}})


# ================================================ sweep ==========================================================
def case(shares: dict[str, tuple[float, float, float]], blocks: int) -> dict[str, Any]:
    """One case as :func:`sweep.aggregate` gives it: validator -> (stake share, block share, reward share)."""
    return {"seeds": [1, 2, 3], "latency": 0.7, "blocks": blocks,
            "validators": {name: {"stake_share": s, "block_share": b, "reward_share": r, "block_share_min": b,
                                  "block_share_max": b} for name, (s, b, r) in shares.items()}}


def stake_cases(equal_gap: float, blocks: int = 357) -> dict[str, Any]:
    rest = (1 - 0.714) / 4
    return {
        "equal": case({"validator0": (0.2, 0.2 + equal_gap, 0.2 + equal_gap),
                       **{f"validator{i}": (0.2, 0.2 - equal_gap / 4, 0.2) for i in range(1, 5)}}, blocks),
        "one_10x": case({"validator0": (0.714, 0.721, 0.720),
                         **{f"validator{i}": (rest, rest, rest) for i in range(1, 5)}}, blocks),
    }


def test_shares_that_track_stake_say_stake_proportional() -> None:
    text = sweep.interpret(stake_cases(0.02))
    assert text.startswith("Stake share and block share track each other within 2.0 points in every case")
    assert "validator0 in equal: 20% of the stake, 22% of the blocks" in text
    assert "over 357 blocks" in text and "proposer selection is stake-proportional" in text
    assert "In one_10x validator0 holds 71% of the stake, proposes 72% of the blocks and earns 72% of the rewards" \
        in text


def test_a_gap_beyond_the_noise_is_called_out() -> None:
    text = sweep.interpret(stake_cases(0.10, blocks=2000))
    assert text.startswith("Block share departs from stake share by 10.0 points")
    assert "validator0 in equal: 20% of the stake, 30% of the blocks" in text
    assert "validator0 proposes more than its stake" in text and "not stake-proportional" in text


def test_a_wide_gap_over_few_blocks_is_too_few_blocks_to_tell() -> None:
    text = sweep.interpret(stake_cases(0.10, blocks=20))
    assert "differ by up to 10.0 points" in text and "too few blocks to tell" in text
    assert "stake-proportional" not in text


def test_no_blocks_at_all() -> None:
    text = sweep.interpret({"equal": case({"validator0": (0.5, 0.0, 0.0), "validator1": (0.5, 0.0, 0.0)}, 0)})
    assert "No block was finalised" in text


def test_the_caption_holds_the_whole_sentence() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6, 6))
    sentence = "Stake share and block share track each other within 3.8 points in every case. " * 3
    share = sweep.caption(fig, sentence, width=60)
    assert 0 < share < 0.4
    assert fig.texts[-1].get_text().replace("\n", " ") == sentence.strip()
    plt.close(fig)


# ================================================ end to end =====================================================
@pytest.mark.slow
def test_both_commands_print_and_store_their_interpretation(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("name: tiny_explain\nseed: 3\nduration: 20\nvalidators: [{stake: 100}, {stake: 100}, "
                    "{stake: 100}]\nlight_nodes: 3\ngenesis_balance: 1000\nworkload: {rate: 2, amount: [1, 10], "
                    "fee: 1}\nconsensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}\n")
    res = CliRunner().invoke(sweep.sweep_cmd, [str(tiny), "--seeds", "1", "--out", str(tmp_path / "s"),
                                               "--case", "equal:", "--case", "big:validators.0.stake=1000"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert doc["interpretation"] == sweep.interpret(doc["cases"])
    assert doc["interpretation"] in res.output and "In big validator0 holds 83% of the stake" in res.output

    params = ["light_nodes=6", "duration=22", "channels.payments.start=7", "channels.payments.stop=17",
              "channels.payments.rate=4", "channels.close_at=null", "channels.total_capacity=3000"]
    args = [str(SCENARIOS / "day3_topologies.yaml"), "--seeds", "1", "--topology", "complete", "--topology",
            "bottleneck", "--out", str(tmp_path / "c")]
    for p in params:
        args += ["--param", p]
    res = CliRunner().invoke(channels.channels_cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "c" / "channels.json").read_text())
    assert doc["interpretation"] == channels.interpret(doc["topologies"])
    assert doc["interpretation"] in res.output
    assert "the complete graph" in doc["interpretation"].lower()
    assert "the bottleneck graph" in doc["interpretation"].lower()
