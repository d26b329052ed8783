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
