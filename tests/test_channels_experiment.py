"""``arena channels``: the day-3 topology comparison writes its table, JSON and PNG; the metrics are sane."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from arena.experiments.channels import channels_cmd

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "day3_topologies.yaml"


def test_two_topologies_one_seed(tmp_path: Path) -> None:
    params = ["light_nodes=6", "duration=22", "channels.payments.start=7", "channels.payments.stop=17",
              "channels.payments.rate=4", "channels.close_at=null", "channels.total_capacity=3000"]
    args = [str(SCENARIO), "--seeds", "1", "--topology", "complete", "--topology", "bottleneck", "--out",
            str(tmp_path)]
    for p in params:
        args += ["--param", p]
    res = CliRunner().invoke(channels_cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "complete" in res.output and "bottleneck" in res.output
    doc = json.loads((tmp_path / "channels.json").read_text())
    assert (tmp_path / "channels.png").stat().st_size > 10_000
    rows = {r["topology"]: r for r in doc["rows"]}
    assert set(rows) == {"complete", "bottleneck"}
    for r in rows.values():
        assert r["attempted"] > 10 and 0 <= r["success"] <= 1 and r["supply_ok"]
        assert 0 <= r["depletion"] <= 1 and 0 <= r["busiest_share"] <= 1
    # same payments in both; the complete graph pays directly, the bottleneck relays through its bridge
    assert rows["complete"]["attempted"] == rows["bottleneck"]["attempted"]
    assert rows["complete"]["hops"] < rows["bottleneck"]["hops"]
    assert rows["bottleneck"]["busiest_node"] == "light9"  # the bridge: the last light node (index 4 + 5)
    assert rows["complete"]["busiest_share"] < rows["bottleneck"]["busiest_share"]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(channels_cmd, [str(SCENARIO), "--param", "light_nodes=3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "at least 6 light nodes" in res.output


def test_deposit_funds_every_channel_with_exactly_that_much() -> None:
    from arena.experiments.channels import scenario_for
    from arena.protocols.channel_workload import channel_graph, plan_opens

    for kind, edges in (("complete", 190), ("bottleneck", 100)):
        sc = scenario_for(str(SCENARIO), [], kind, 1, 100)
        graph = channel_graph(sc, 1)
        assert graph.number_of_edges() == edges and sc.channels.total_capacity == 2 * 100 * edges
        assert {d for _, _, d in plan_opens(graph, sc.channels.funding)} == {100}
    # without --deposit the same total is spread thin: the complete graph's channels hold 42-43 tokens
    sc = scenario_for(str(SCENARIO), [], "complete", 1, None)
    assert {d for _, _, d in plan_opens(channel_graph(sc, 1), "dual")} == {42, 43}


def test_a_deposit_nobody_can_afford_is_refused_before_any_run(tmp_path: Path) -> None:
    res = CliRunner().invoke(channels_cmd, [str(SCENARIO), "--deposit", "5000", "--topology", "complete",
                                            "--out", str(tmp_path)])
    assert res.exit_code == 2 and "must deposit 95000" in res.output and "genesis balance of 20000" in res.output
    assert not (tmp_path / "channels.json").exists()
