"""The story of a battle (arena.referee.story): one sentence per loss naming nodes and amounts, each attack attempt
marked succeeded or failed by the losses it is linked to, the same sentences in ``arena run``, ``arena judge`` and
at the top of report.html, and a story that red cannot write for the referee."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_referee import ACCT, NAMES, PRICE, SYBIL, clean_run, minted_states, tx

from arena.cli.main import main
from arena.referee.checkers import EVIDENCE_CATEGORIES, Verdict
from arena.referee.story import Loss, Story, link
from arena.report.page import build_report

MERCHANT = NAMES.index("merchant7")
LIGHT6 = NAMES.index("light6")
PAY = "ab" * 32  # a real run's ids are 64 hex digits
OTHER = "cd" * 32


def deliver(r: Any, order: int, txid: str, value: int = PRICE, t: float = 3.0) -> None:
    r.ev("delivery", node=MERCHANT, order=order, tx=txid, buyer=ACCT["light6"], value=value, amount=value, t=t)


def attempt(r: Any, kind: str = "double_spend", **data: Any) -> None:
    r.ev("evidence", node=LIGHT6, plugin="double_spend", kind=kind, detail="fired", **data)


# ================================================ sentences ======================================================
def test_each_unpaid_delivery_is_one_sentence_naming_merchant_buyer_and_amounts() -> None:
    r = clean_run()
    r.block(tx(OTHER, "light6", "merchant7", 20))  # pays 20 of order 2's 50
    deliver(r, 1, PAY, t=4.25)
    deliver(r, 2, OTHER, t=5.5)
    v = r.judge()
    assert v.verdict == "red_won" and v.stolen == PRICE + 30
    story = v.story
    assert story.loss_count == 2 and [lo.amount for lo in story.losses] == [PRICE, 30]
    assert sum(lo.amount for lo in story.losses) == v.stolen
    first, second = (lo.sentence for lo in story.losses)
    assert first.startswith("At 4.2 s merchant7 delivered order 1 worth 50 to light6 (red)")
    assert "no finalised payment from light6 to merchant7" in first and first.endswith("50 of goods went unpaid.")
    assert "only 20 of it is covered" in second and "30 of goods went unpaid" in second
    assert story.summary.startswith("Red won: 80 stolen in 2 losses")


def test_forged_debit_channel_theft_and_minting_each_get_a_sentence() -> None:
    r = clean_run()
    a, b = ACCT["light4"], ACCT["light6"]
    r.block(tx("ef" * 32, "light5", SYBIL, 40, fee=2))
    r.ev("channel_signed", node=NAMES.index("light4"), channel="c1" * 16, seq=5, a=a, b=b, balance_a=40,
         balance_b=60)
    r.ev("channel_settled", node=0, channel="c1" * 16, a=a, b=b, closer=b, seq=2, balance_a=10, balance_b=90,
         disputed=False, paid_a=10, paid_b=90)
    v = r.judge(minted_states(r, "light6", 500))
    by = {lo.category: lo for lo in v.story.losses}
    assert set(by) == {"forged_debit", "channel_theft", "minted"}
    forged = by["forged_debit"].sentence
    assert "debits light5 40 (fee 2) to an unknown account eeeeeeeeee" in forged
    assert "light5 never made: 40 stolen, 42 lost by light5" in forged
    theft = by["channel_theft"].sentence
    assert "light6 (red) closed channel c1c1c1c1 with light4 on state 2" in theft
    assert "countersigned state 5: 30 taken from light4" in theft
    assert "500 tokens were minted from nothing" in by["minted"].sentence
    assert by["channel_theft"].amount == 30 and by["forged_debit"].amount == 40


def test_a_broken_invariant_is_told_and_a_clean_run_says_nothing_was_stolen() -> None:
    v = clean_run().judge()
    assert v.verdict == "blue_won"
    assert v.story.losses == [] and v.story.broken == []
    assert v.story.summary.startswith("Blue won: nothing was stolen; of red's 1 attempt")
    r = clean_run()
    states = r.states()
    states[0]["ledger"][ACCT["light4"]]["balance"] = -5
    broken = r.judge(states).story.broken
    assert any("no_negative_balance is broken" in s for s in broken)


# ================================================ attempts =======================================================
def test_an_attempt_that_names_a_lost_payment_succeeded_and_one_whose_payment_was_honoured_failed() -> None:
    r = clean_run()  # its own evidence names nothing: with a loss of its kind, it is "unclear"
    r.block(tx(OTHER, "light6", "merchant7", PRICE))
    deliver(r, 1, PAY)  # unpaid
    deliver(r, 2, OTHER)  # paid
    attempt(r, pay_tx=PAY)
    attempt(r, pay_tx=OTHER)
    v = r.judge()
    outcomes = [a.outcome for a in v.story.attempts]
    assert outcomes == ["unclear", "succeeded", "failed"]
    assert v.story.attempts[1].losses == [0] and v.story.losses[0].evidence == [1]


def test_an_attempt_of_a_kind_with_no_loss_failed_and_unknown_kinds_may_explain_any_loss() -> None:
    losses = [Loss("minted", 500, "minted"), Loss("unpaid_goods", 50, "unpaid", ids=[PAY])]
    evidence = [{"kind": "channel_fraud", "channel": OTHER},  # no channel theft happened
                {"kind": "byzantine_mint", "block": OTHER},  # unknown kind; minting losses carry no ids
                {"kind": "sybil"},  # names nothing, unpaid goods happened
                {"kind": "double_spend", "pay_tx": [OTHER, PAY]}]  # a list naming the lost payment
    got = [a.outcome for a in link(evidence, losses, EVIDENCE_CATEGORIES)]
    assert got == ["failed", "unclear", "unclear", "succeeded"]


def test_red_cannot_claim_success_by_writing_an_outcome_into_its_evidence() -> None:
    """A red plugin's evidence data is its own; the outcome is the referee's, kept beside it."""
    r = clean_run()
    r.block(tx(OTHER, "light6", "merchant7", PRICE))
    deliver(r, 1, OTHER)  # honoured: nothing lost
    attempt(r, pay_tx=OTHER, outcome="succeeded", losses=[0], story="red stole everything")
    v = r.judge()
    assert v.stolen == 0
    assert [a.outcome for a in v.story.attempts] == ["failed", "failed"]
    assert "red stole everything" not in json.dumps(v.story.as_result())


# ================================================ result.json ====================================================
def test_the_story_survives_result_json_and_hostile_values_are_left_out() -> None:
    r = clean_run()
    deliver(r, 1, PAY)
    attempt(r, pay_tx=PAY)
    v = r.judge()
    back = Verdict.from_result(json.loads(json.dumps(v.as_result())))
    assert back is not None and back.story == v.story
    hostile = {"summary": ["x"], "losses": [{"amount": "1e9", "sentence": 7, "ids": "abc", "evidence": [True]},
                                            "nope"], "attempts": [{"outcome": "pwned", "evidence": 1.5}],
               "loss_count": -3, "broken": "no"}
    s = Story.from_result(hostile)
    assert s.losses[0].amount == 0 and s.losses[0].ids == [] and s.losses[0].evidence == [0]
    assert s.attempts[0].outcome == "unclear" and s.broken == []


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=30))
def test_reading_any_json_value_as_a_story_never_raises(raw: Any) -> None:
    story = Story.from_result(raw)
    assert isinstance(story.sentences, list)
    json.dumps(story.as_result())


# ================================================ the same sentences everywhere ==================================
@pytest.fixture
def quickstart(quickstart_run: tuple[Path, str]) -> tuple[Path, str]:
    """``arena run scenarios/quickstart.yaml``, run once in a session (``tests/conftest.py``): the tests that use it
    are in the ``quickstart`` xdist group, with ``tests/test_report_browser.py``."""
    return quickstart_run


QUICKSTART_GROUP = pytest.mark.xdist_group("quickstart")


@QUICKSTART_GROUP
def test_arena_run_prints_the_sentences_that_result_json_and_the_report_hold(quickstart: tuple[Path, str]) -> None:
    out, printed = quickstart
    result = json.loads((out / "result.json").read_text())
    story = Story.from_result(result["story"])
    assert result["verdict"] == "red_won" and story.loss_count > 0
    assert sum(lo.amount for lo in story.losses) == result["stolen"]
    flat = " ".join(printed.split())
    for sentence in story.sentences:
        assert " ".join(sentence.split()) in flat
    page = build_report(out)
    top = page.index('id="story"')
    assert top < page.index('id="verdict"')  # the story comes first
    items = re.findall(r'<li class="loss"[^>]*>(.*?)</li>', page)
    assert len(items) == story.loss_count
    assert all("(linked attempt: double_spend on light11" in item for item in items)


@QUICKSTART_GROUP
def test_arena_judge_tells_the_same_story(quickstart: tuple[Path, str]) -> None:
    out, _ = quickstart
    res = CliRunner().invoke(main, ["judge", str(out)])
    assert res.exit_code == 0, res.output
    story = Story.from_result(json.loads((out / "result.json").read_text())["story"])
    assert story.summary in " ".join(res.output.split())


@QUICKSTART_GROUP
def test_the_report_marks_each_attempt_and_gives_one_count_everywhere(quickstart: tuple[Path, str]) -> None:
    out, printed = quickstart
    result = json.loads((out / "result.json").read_text())
    page = build_report(out)
    outcomes = [a["outcome"] for a in result["story"]["attempts"]]
    for name in ("succeeded", "failed"):
        assert page.count(f"<td>{name}</td>") == outcomes.count(name)
    honest = result["latency"]["count"]
    assert f"<td>honest transfers finalised</td><td>{honest} (" in page
    assert re.search(rf"honest transfers finalised\s*│\s*{honest} \(", printed)
    assert f"evidence events: {result['evidence_count']}" in page
    assert 'id="chart-height"' in page and "longest stretch without a new finalised height" in page


@QUICKSTART_GROUP
def test_the_report_lists_every_message_type_sent(quickstart: tuple[Path, str]) -> None:
    out, _ = quickstart
    page = build_report(out)
    types: set[str] = set()
    for state in (out / "states").glob("*.json"):
        types |= set(json.loads(state.read_text()).get("sent") or {})
    assert {"SubmitTx", "Purchase", "TxStatusQuery", "TxStatusReply", "Delivery"} <= types
    table = page[page.index("Messages sent, by type"):]
    for kind in types:
        assert f"<td>{kind}</td>" in table


# ================================================ finalised height over time =====================================
def test_the_longest_stall_is_found_between_finalisations_and_at_the_end() -> None:
    from arena.report.charts import longest_stall

    assert longest_stall([1.0, 2.0, 10.0, 11.0], 20.0) == (11.0, 20.0)
    assert longest_stall([1.0, 2.0, 12.0, 13.0], 14.0) == (2.0, 12.0)
    assert longest_stall([5.0], 6.0) == (5.0, 6.0)  # the start-up before the first finalisation is no stall
    assert longest_stall([], 30.0) == (0.0, 30.0)  # nothing finalised: the whole battle


@QUICKSTART_GROUP
def test_the_height_chart_draws_the_referees_finality_curve(quickstart: tuple[Path, str]) -> None:
    from arena.referee.history import load_history
    from arena.report.charts import longest_stall

    out, _ = quickstart
    h = load_history(out)
    times, tops = h.finality_curve
    result = json.loads((out / "result.json").read_text())
    assert tops[-1] == result["finalized_height"]
    page = build_report(out)
    chart = page[page.index('id="chart-height"'):]
    chart = chart[:chart.index("</svg>")]
    assert f"finalised height {tops[-1]} at the end" in chart
    s0, s1 = longest_stall(times, float(h.end_time))
    assert f"{s1 - s0:.1f} s (from {s0:.1f} to {s1:.1f} s)" in chart


# ================================================ a red plugin that tries to write the story =====================
@pytest.mark.slow
def test_a_red_plugin_cannot_claim_success_for_payments_that_were_honoured(tmp_path: Path) -> None:
    """story_liar (public API only) names every payment its node hears of, with outcome "succeeded" and a sentence
    of its own, in a battle the defense wins: no loss appears and each of its attempts is marked failed."""
    import yaml

    doc = yaml.safe_load(Path("scenarios/day4_double_spend_defended.yaml").read_text())
    red = next(n for n in doc["light_nodes"] if isinstance(n, dict) and n.get("team") == "red")
    red["plugins"].append({"name": "story_liar"})
    # 40 s instead of 120 (settle 10, as ``--param duration=40`` scales it), a third of the CPU: red's double spend
    # still tries four times (at 5, 13, 21 and 29 s) and the liar writes four claims of its own, all refuted
    doc["duration"], doc["settle"] = 40, 10
    path = tmp_path / "liar.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--plugin",
                                    str(Path(__file__).parent / "red_plugins" / "story_liar.py")])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] == "blue_won" and result["stolen"] == 0, result["verdict_reason"]
    story = Story.from_result(result["story"])
    lies = [i for i, ev in enumerate(result["evidence"]) if ev.get("plugin") == "story_liar"]
    assert lies, "the liar never fired"
    assert story.losses == [] and story.summary.startswith("Blue won")
    assert all(story.attempts[i].outcome == "failed" for i in lies)
    assert "light16 stole 1000" not in " ".join(story.sentences)
    page = build_report(out)
    assert page.count('<li class="loss"') == 0
