"""Course day 3's question: how does the shape of the channel graph change payments?

``arena channels SCENARIO`` runs the scenario once per channel topology (complete, Barabasi-Albert, one bottleneck,
several bottlenecks: the same light nodes, the same total capacity via ``same_capacity_graphs``, the same payments
for a given seed) and several seeds, then prints per topology:

* **success**: share of payments that reached the payee;
* **hops**: mean channels per successful payment; **latency**: mean virtual seconds from pay to preimage;
* **fee**: mean fee per successful payment;
* **depletion**: how far channel liquidity drifted to one side at the end, per edge
  ``|balance_u - balance_v| / (balance_u + balance_v)`` averaged over edges (0 = as funded, 1 = all on one side);
  the JSON also has the share of edges with at least 90% on one side and the mean at the busiest relay's edges;
* **busiest share**: share of the successful payments' volume relayed by the single busiest relay (paths counted
  instead of volume: ``arena.runtime.topology.busiest_node_share``, also in the JSON).

It writes ``channels.json`` (one row per topology and seed, and the means) and ``channels.png`` (one panel per
metric, the bar is the mean over seeds, the whisker the min-max).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from arena.cli.consoles import console as make_console
from arena.plugin_host.registry import PluginError, default_registry
from arena.runtime.topology import busiest_node_share
from arena.scenario.checks import check_scenario
from arena.scenario.model import load_scenario
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import RunOutcome, run_battle
from honest.node import HonestNode

TOPOLOGIES = ("complete", "barabasi_albert", "bottleneck", "multi_bottleneck")
METRICS = (("success", "payment success rate"), ("hops", "mean hops"), ("latency", "mean latency (s)"),
           ("fee", "mean fee per payment"), ("depletion", "liquidity depletion"),
           ("busiest_share", "volume share of busiest relay"))

__all__ = ["TOPOLOGIES", "channels_cmd", "measure", "run_channels"]


class ChannelsError(click.ClickException):
    exit_code = 2


def measure(outcome: RunOutcome) -> dict[str, Any]:
    """The day-3 metrics of one run (needs ``keep_trace=True``)."""
    world = outcome.world
    kept = world.trace.kept or []
    members = [n for n in world.nodes if n.role == "light"]
    index_of = {m.context.account: i for i, m in enumerate(members)}
    blue = {m.index for m in members if m.team == "blue"}
    pays = [e for e in kept if e.get("ev") == "payment" and e.get("node") in blue]
    ok = [e for e in pays if e["ok"]]
    plan = getattr(world.protocol, "channel_plan", None)
    graph = plan.graph if plan is not None else None
    paths = [[index_of[a] for a in e["path"]] for e in ok if all(a in index_of for a in e["path"])]
    relayed: Counter[int] = Counter()
    for e, path in zip(ok, paths, strict=False):
        for relay in set(path[1:-1]):
            relayed[relay] += int(e["amount"])
    volume = sum(int(e["amount"]) for e in ok)
    reasons = Counter(str(e["reason"]) for e in pays if not e["ok"])
    skews = _edge_skews(world, index_of)
    hub = relayed.most_common(1)[0][0] if relayed else None
    at_hub = [v for (x, y), v in skews.items() if hub in (x, y)]
    n_ok = len(ok)
    return {
        "attempted": len(pays), "succeeded": n_ok, "failed_by_reason": dict(sorted(reasons.items())),
        "success": n_ok / len(pays) if pays else None,
        "hops": sum(e["hops"] for e in ok) / n_ok if n_ok else None,
        "latency": sum(float(e["latency"]) for e in ok) / n_ok if n_ok else None,
        "fee": sum(int(e["fee"]) for e in ok) / n_ok if n_ok else None,
        "fees_total": sum(int(e["fee"]) for e in ok), "volume": volume,
        "depletion": sum(skews.values()) / len(skews) if skews else None,
        "drained_edges": sum(1 for v in skews.values() if v >= 0.9) / len(skews) if skews else None,
        "hub_depletion": sum(at_hub) / len(at_hub) if at_hub else None,
        "busiest_share": max(relayed.values()) / volume if relayed and volume else 0.0,
        "busiest_node": f"light{members[relayed.most_common(1)[0][0]].index}" if relayed else None,
        "busiest_path_share": busiest_node_share(graph, paths) if graph is not None and paths else 0.0,
        "channels": outcome.result.get("channels", {}),
        "edges": graph.number_of_edges() if graph is not None else 0,
    }


def _edge_skews(world: Any, index_of: dict[str, int]) -> dict[tuple[int, int], float]:
    """Per channel-graph edge: ``|balance_u - balance_v| / (balance_u + balance_v)`` over its channels' latest
    states (0 = as funded with dual funding, 1 = everything on one side)."""
    latest: dict[bytes, Any] = {}
    for n in world.nodes:
        c = n.community
        if isinstance(c, HonestNode):
            for cid, ch in c.channels.channels.items():
                if ch.status in ("failed", "proposed", "accepted"):
                    continue
                if cid not in latest or ch.latest.seq > latest[cid].latest.seq:
                    latest[cid] = ch
    sides: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for ch in latest.values():
        u, v = index_of.get(ch.a.hex()), index_of.get(ch.b.hex())
        if u is None or v is None:
            continue
        key = (min(u, v), max(u, v))
        st = ch.latest
        bal_u, bal_v = (st.balance_a, st.balance_b) if u == key[0] else (st.balance_b, st.balance_a)
        sides[key][0] += bal_u
        sides[key][1] += bal_v
    return {k: abs(x - y) / (x + y) for k, (x, y) in sides.items() if x + y > 0}


def topology_overrides(common: list[tuple[str, Any]], kind: str) -> list[tuple[str, Any]]:
    """The overrides of one run: ``common`` with channels on and the channel graph of this ``kind``."""
    return [*common, ("channels.enabled", True), ("channels.topology", {"kind": kind})]


def run_channels(path: str, topologies: list[str], seeds: list[int], common: list[tuple[str, Any]],
                 progress: Any = None) -> list[dict[str, Any]]:
    """One row per (topology, seed)."""
    rows: list[dict[str, Any]] = []
    for kind in topologies:
        scenario = load_scenario(path, topology_overrides(common, kind))
        for seed in seeds:
            outcome = run_battle(scenario, seed=seed, out_dir=None, keep_trace=True)
            row = {"topology": kind, "seed": seed, **measure(outcome),
                   "supply_ok": bool(outcome.result.get("invariants", {}).get("supply", {}).get("ok"))}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per topology: mean, min and max of each metric over seeds."""
    out: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(r["topology"] for r in rows):
        rs = [r for r in rows if r["topology"] == kind]
        agg: dict[str, Any] = {"seeds": [r["seed"] for r in rs], "edges": rs[0]["edges"],
                               "attempted": sum(r["attempted"] for r in rs),
                               "succeeded": sum(r["succeeded"] for r in rs)}
        reasons: Counter[str] = Counter()
        for r in rs:
            reasons.update(r["failed_by_reason"])
        agg["failed_by_reason"] = dict(sorted(reasons.items()))
        for key, _ in (*METRICS, ("busiest_path_share", ""), ("drained_edges", ""), ("hub_depletion", "")):
            vals = [float(r[key]) for r in rs if r.get(key) is not None]
            agg[key] = {"mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals)} if vals else None
        out[kind] = agg
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(rows)
    kinds = list(agg)
    labels = [k.replace("barabasi_albert", "BA").replace("multi_bottleneck", "multi-bneck")
              .replace("bottleneck", "bottleneck") for k in kinds]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title) in zip(axes.flat, METRICS, strict=True):
        means = [agg[k][key]["mean"] if agg[k][key] else 0.0 for k in kinds]
        lo = [m - agg[k][key]["min"] if agg[k][key] else 0.0 for m, k in zip(means, kinds, strict=True)]
        hi = [agg[k][key]["max"] - m if agg[k][key] else 0.0 for m, k in zip(means, kinds, strict=True)]
        ax.bar(labels, means, yerr=[lo, hi], capsize=4, color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"][
            : len(kinds)])
        ax.set_title(title)
        if key in ("success", "depletion", "busiest_share"):
            ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", labelsize=8)
    seeds = sorted({r["seed"] for r in rows})
    fig.suptitle(f"payment channels by topology (same nodes, capacity and payments; seeds {seeds})")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _fmt(v: dict[str, float] | None, spec: str) -> str:
    return "-" if v is None else format(v["mean"], spec)


def print_table(rows: list[dict[str, Any]], console: Console) -> None:
    agg = aggregate(rows)
    seeds = sorted({r["seed"] for r in rows})
    table = Table(title=f"channels by topology, mean over seeds {seeds} (min-max in the JSON and PNG)")
    for col in ("topology", "edges", "success", "hops", "latency s", "fee", "depletion", "busiest"):
        table.add_column(col, justify="left" if col == "topology" else "right")
    names = {"barabasi_albert": "BA", "multi_bottleneck": "multi-bn"}
    for kind, a in agg.items():
        table.add_row(names.get(kind, kind), str(a["edges"]), _fmt(a["success"], ".2f"), _fmt(a["hops"], ".2f"),
                      _fmt(a["latency"], ".3f"), _fmt(a["fee"], ".2f"), _fmt(a["depletion"], ".2f"),
                      _fmt(a["busiest_share"], ".2f"))
    console.print(table)
    for kind, a in agg.items():
        fails = ", ".join(f"{k} {v}" for k, v in a["failed_by_reason"].items()) or "none"
        hub = a["hub_depletion"]["mean"] if a["hub_depletion"] else None
        console.print(f"{kind}: {a['succeeded']}/{a['attempted']} paid; failures: {fails}; depletion at the busiest "
                      f"relay's channels {'-' if hub is None else format(hub, '.2f')}")


@click.command("channels")
@click.argument("scenario", type=click.Path(dir_okay=False), default="scenarios/day3_topologies.yaml")
@click.option("--param", "params", multiple=True,
              help="Override a scenario key in every run: channels.total_capacity=8000.")
@click.option("--topology", "topologies", multiple=True, type=click.Choice(TOPOLOGIES),
              help="Channel topologies to compare (repeatable). Default: all four.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per topology (the scenario's seed and the next ones).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default runs/channels/<scenario name>).")
def channels_cmd(scenario: str, params: tuple[str, ...], topologies: tuple[str, ...], seeds: int,
                 out_dir: str | None) -> None:
    """Compare channel topologies: payment success, hops, latency, fees, liquidity depletion, busiest relay."""
    console = make_console(stderr=True)
    try:
        common = [parse_param(p) for p in params]
        base = load_scenario(scenario, [*common, ("channels.enabled", True)])
        kinds = list(topologies) or list(TOPOLOGIES)
        if len(base.light_list) < 6:
            raise ScenarioError(f"{scenario}: comparing topologies needs at least 6 light nodes")
        registry = default_registry()
        check_scenario(base, scenario, registry)
        for kind in kinds:  # every run's scenario is checked before the first run
            check_scenario(load_scenario(scenario, topology_overrides(common, kind)), scenario, registry)
        target = Path(out_dir) if out_dir else Path("runs") / "channels" / base.name

        def show(row: dict[str, Any]) -> None:
            success = row["success"]
            console.print(f"  {row['topology']:>16} seed {row['seed']}: {row['succeeded']}/{row['attempted']} "
                          f"payments ({success if success is not None else 0:.0%})")

        rows = run_channels(scenario, kinds, [base.seed + i for i in range(seeds)], common, show)
    except (ScenarioError, PluginError) as exc:
        raise ChannelsError(str(exc)) from None
    target.mkdir(parents=True, exist_ok=True)
    (target / "channels.json").write_text(json.dumps({"rows": rows, "topologies": aggregate(rows)}, indent=2,
                                                     sort_keys=True) + "\n")
    plot(rows, target / "channels.png")
    print_table(rows, make_console())
    click.echo(f"wrote {target / 'channels.json'} and {target / 'channels.png'}")
