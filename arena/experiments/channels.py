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

It writes ``channels.json`` (one row per topology and seed, the means, and the interpretation) and ``channels.png``
(one panel per metric, the bar is the mean over seeds, the whisker the min-max, the interpretation as caption).

**Capital.** By default every topology gets the same ``channels.total_capacity``, spread evenly over its edges: a
fair comparison of capital, but a graph with many edges gets small channels. On the day-3 scenario the complete
graph's 190 edges leave 42-43 tokens a channel while payments go up to 60, and a payment must fit in one channel
(no multi-part payments), so nearly all of its failures are payments no channel can carry: a consequence of the
equal budget, not of the shape. :func:`interpret` checks for exactly that from the numbers and says so.
``--deposit N`` asks the other question (what a student's node would do): every channel is funded with ``N``
tokens, so capital grows with the edges and the table's ``capital`` column shows the price.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from arena.cli.consoles import console as make_console
from arena.cli.progress import batch_progress
from arena.experiments.sweep import caption
from arena.plugin_host.registry import PluginError, default_registry
from arena.protocols.channel_workload import channel_graph, funding_needs, plan_opens
from arena.runtime.topology import busiest_node_share
from arena.scenario.checks import check_scenario
from arena.scenario.model import Scenario, load_scenario
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import RunOutcome, run_battle
from honest.node import HonestNode

TOPOLOGIES = ("complete", "barabasi_albert", "bottleneck", "multi_bottleneck")
METRICS = (("success", "payment success rate"), ("hops", "mean hops"), ("latency", "mean latency (s)"),
           ("fee", "mean fee per payment"), ("depletion", "liquidity depletion"),
           ("busiest_share", "volume share of busiest relay"))

__all__ = ["TOPOLOGIES", "aggregate", "channels_cmd", "interpret", "measure", "run_channels"]

#: How topologies are named in sentences.
DISPLAY = {"complete": "the complete graph", "barabasi_albert": "the BA graph", "bottleneck": "the bottleneck graph",
           "multi_bottleneck": "the multi-bottleneck graph"}


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
    deposits = [d for _, _, d in plan.opens] if plan is not None else []
    widest = max(deposits, default=0)
    oversize = [e for e in pays if int(e["amount"]) > widest]  # larger than any channel as funded
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
        "capital": sum(deposits), "widest_channel": widest, "narrowest_channel": min(deposits, default=0),
        "oversize": len(oversize), "oversize_failed": sum(1 for e in oversize if not e["ok"]),
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


def deposit_overrides(sc: Scenario, seed: int, deposit: int) -> list[tuple[str, Any]]:
    """The ``total_capacity`` that funds every channel of ``sc``'s graph with ``deposit`` tokens (dual funding: two
    channels an edge), as an override: the even spread of the total then gives each channel exactly ``deposit``."""
    edges = channel_graph(sc, seed).number_of_edges()
    per_edge = deposit * (2 if sc.channels.funding == "dual" else 1)
    return [("channels.total_capacity", per_edge * edges)]


def scenario_for(path: str, common: list[tuple[str, Any]], kind: str, seed: int, deposit: int | None) -> Scenario:
    """The scenario of one run: ``common``, the topology, and with ``deposit`` the capacity that funds it so."""
    scenario = load_scenario(path, topology_overrides(common, kind))
    if deposit is None:
        return scenario
    return load_scenario(path, [*topology_overrides(common, kind), *deposit_overrides(scenario, seed, deposit)])


def check_funding(sc: Scenario, seed: int, where: str) -> None:
    """Every light node can afford its deposits (caught before the first run, not minutes into the experiment)."""
    need = funding_needs(sc, plan_opens(channel_graph(sc, seed), sc.channels.funding))
    for i, amount in sorted(need.items()):
        spec = sc.light_list[i]
        have = spec.balance if spec.balance is not None else sc.genesis_balance
        if amount > have:
            raise ScenarioError(f"{where}: light{len(sc.validator_list) + i} must deposit {amount} into its "
                                f"{sc.channels.topology.kind} channels but has a genesis balance of {have} (raise "
                                "genesis_balance or lower the deposit)")


def run_channels(path: str, topologies: list[str], seeds: list[int], common: list[tuple[str, Any]],
                 progress: Callable[[dict[str, Any]], None] | None = None, deposit: int | None = None
                 ) -> list[dict[str, Any]]:
    """One row per (topology, seed); ``progress(row)`` after each run. ``deposit``: fund every channel with that
    many tokens instead of spreading ``channels.total_capacity`` over the edges."""
    rows: list[dict[str, Any]] = []
    for kind in topologies:
        for seed in seeds:
            scenario = scenario_for(path, common, kind, seed, deposit)
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
        agg["oversize"] = sum(int(r.get("oversize", 0)) for r in rs)
        agg["oversize_failed"] = sum(int(r.get("oversize_failed", 0)) for r in rs)
        agg["widest_channel"] = max(int(r.get("widest_channel", 0)) for r in rs)
        for key, _ in (*METRICS, ("busiest_path_share", ""), ("drained_edges", ""), ("hub_depletion", ""),
                       ("capital", "")):
            vals = [float(r[key]) for r in rs if r.get(key) is not None]
            agg[key] = {"mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals)} if vals else None
        out[kind] = agg
    return out


def _mean_of(a: dict[str, Any], key: str) -> float:
    v = a.get(key)
    return float(v["mean"]) if isinstance(v, dict) else 0.0


def _name(kind: str) -> str:
    return DISPLAY.get(kind, f"the {kind} graph")


def _why_failed(a: dict[str, Any], same_capital: bool) -> str:
    """The main cause of a topology's failed payments, from its own counts."""
    failures = a["attempted"] - a["succeeded"]
    big = int(a.get("oversize_failed", 0))
    capital, edges = round(_mean_of(a, "capital")), a["edges"]
    if failures and 2 * big >= failures:
        spread = (f"the same {capital} tokens as every topology spread over {edges} edges" if same_capital
                  else f"{capital} tokens over {edges} edges")
        why = (f"{big} of its {failures} failures are payments above its largest channel "
               f"({a['widest_channel']} tokens, {spread}), which no route can carry since a payment must fit in "
               "one channel")
        return why + (": an artefact of the equal capital, not of the shape" if same_capital else "")
    reasons = a["failed_by_reason"]
    reason, n = max(reasons.items(), key=lambda kv: (kv[1], kv[0])) if reasons else ("none", 0)
    if reason == "no_liquidity":
        return (f"{n} of its {failures} failures are hops drained on the way (no_liquidity), its busiest relay "
                f"carrying {_mean_of(a, 'busiest_share'):.0%} of the paid volume")
    if reason == "no_route":
        return (f"{n} of its {failures} failures found no route with enough capacity, over paths of "
                f"{_mean_of(a, 'hops'):.1f} hops on average")
    return f"most of its {failures} failures were {reason} ({n})"


def interpret(agg: dict[str, dict[str, Any]]) -> str:
    """One or two sentences on what :func:`aggregate`'s numbers say: which topology fails most and why (from its
    failure counts: payments larger than any of its channels, drained hops, or no route), and how the best one
    pays (hops, fee; the capital it locks when topologies were not given the same)."""
    scored = {k: a for k, a in agg.items() if a["attempted"] and a.get("success")}
    if not scored:
        return "No payment was attempted: there is nothing to compare."
    capitals = [_mean_of(a, "capital") for a in scored.values()]
    same_capital = min(capitals) > 0 and max(capitals) <= 1.02 * min(capitals)
    worst = min(scored, key=lambda k: _mean_of(scored[k], "success"))
    best = max(scored, key=lambda k: _mean_of(scored[k], "success"))
    w, b = scored[worst], scored[best]
    sw, sb = _mean_of(w, "success"), _mean_of(b, "success")
    if len(scored) == 1 or sb - sw < 0.005:
        first = (f"{_name(worst)} paid {sw:.0%} of its payments" if len(scored) == 1
                 else f"every topology paid {sw:.0%} of its payments")
        if w["attempted"] > w["succeeded"]:
            first += f" ({_name(worst)}: {_why_failed(w, same_capital)})"
        longest = max(scored, key=lambda k: _mean_of(scored[k], "hops"))
        shortest = min(scored, key=lambda k: _mean_of(scored[k], "hops"))
        second = (f"routes are longest in {_name(longest)} ({_mean_of(scored[longest], 'hops'):.2f} hops on "
                  f"average) and shortest in {_name(shortest)} ({_mean_of(scored[shortest], 'hops'):.2f})")
    else:
        first = f"{_name(worst)} fails most ({sw:.0%} paid, against {sb:.0%} in {_name(best)}): " + _why_failed(
            w, same_capital)
        second = (f"{_name(best)} pays over {_mean_of(b, 'hops'):.2f} hops on average at "
                  f"{_mean_of(b, 'fee'):.2f} fee a payment")
        busiest = max(scored, key=lambda k: _mean_of(scored[k], "busiest_share"))
        share = f"{_mean_of(scored[busiest], 'busiest_share'):.0%}"
        if busiest == best:
            second += f", its busiest relay carrying {share} of the paid volume"
        elif not (busiest == worst and "busiest relay" in first):
            second += f", while the busiest relay of {_name(busiest)} carries {share} of its paid volume"
    if not same_capital:
        cheapest = min(scored, key=lambda k: _mean_of(scored[k], "capital"))
        dearest = max(scored, key=lambda k: _mean_of(scored[k], "capital"))
        second += (f"; the channels lock {round(_mean_of(scored[dearest], 'capital'))} tokens in "
                   f"{_name(dearest)} against {round(_mean_of(scored[cheapest], 'capital'))} in {_name(cheapest)}")
    return f"{first[0].upper()}{first[1:]}. {second[0].upper()}{second[1:]}."


def plot(rows: list[dict[str, Any]], path: Path, note: str | None = None) -> None:
    """One panel per metric (mean bar, min-max whisker); the interpretation (``note``) as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(rows)
    kinds = list(agg)
    labels = [k.replace("barabasi_albert", "BA").replace("multi_bottleneck", "multi-bneck")
              .replace("bottleneck", "bottleneck") for k in kinds]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.8))
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
    capitals = {round(agg[k]["capital"]["mean"]) for k in kinds if agg[k].get("capital")}
    same = "capacity and payments" if len(capitals) <= 1 else "payments, deposit per channel"
    fig.suptitle(f"payment channels by topology (same nodes, {same}; seeds {seeds})")
    bottom = caption(fig, note if note is not None else interpret(agg), width=190)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, format="png")
    plt.close(fig)


def _fmt(v: dict[str, float] | None, spec: str) -> str:
    return "-" if v is None else format(v["mean"], spec)


def print_table(rows: list[dict[str, Any]], console: Console) -> None:
    agg = aggregate(rows)
    seeds = sorted({r["seed"] for r in rows})
    table = Table(title=f"channels by topology, mean over seeds {seeds} (min-max in the JSON and PNG)")
    for col in ("topology", "edges", "capital", "success", "hops", "latency s", "fee", "depletion", "busiest"):
        table.add_column(col, justify="left" if col == "topology" else "right")
    names = {"barabasi_albert": "BA", "multi_bottleneck": "multi-bn"}
    for kind, a in agg.items():
        table.add_row(names.get(kind, kind), str(a["edges"]), _fmt(a.get("capital"), ".0f"),
                      _fmt(a["success"], ".2f"), _fmt(a["hops"], ".2f"),
                      _fmt(a["latency"], ".3f"), _fmt(a["fee"], ".2f"), _fmt(a["depletion"], ".2f"),
                      _fmt(a["busiest_share"], ".2f"))
    console.print(table)
    for kind, a in agg.items():
        fails = ", ".join(f"{k} {v}" for k, v in a["failed_by_reason"].items()) or "none"
        hub = a["hub_depletion"]["mean"] if a["hub_depletion"] else None
        big = (f"; {a['oversize_failed']} failed of {a['oversize']} larger than its largest channel "
               f"({a['widest_channel']} tokens)" if a.get("oversize") else "")
        console.print(f"{kind}: {a['succeeded']}/{a['attempted']} paid; failures: {fails}{big}; depletion at the "
                      f"busiest relay's channels {'-' if hub is None else format(hub, '.2f')}")


@click.command("channels")
@click.argument("scenario", type=click.Path(dir_okay=False), default="scenarios/day3_topologies.yaml")
@click.option("--param", "params", multiple=True,
              help="Override a scenario key in every run: channels.total_capacity=8000.")
@click.option("--topology", "topologies", multiple=True, type=click.Choice(TOPOLOGIES),
              help="Channel topologies to compare (repeatable). Default: all four.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per topology (the scenario's seed and the next ones).")
@click.option("--deposit", type=click.IntRange(min=1), default=None,
              help="Fund every channel with this many tokens (capital then grows with the edges) instead of giving "
              "every topology the same channels.total_capacity.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default runs/channels/<scenario name>).")
def channels_cmd(scenario: str, params: tuple[str, ...], topologies: tuple[str, ...], seeds: int,
                 deposit: int | None, out_dir: str | None) -> None:
    """Compare channel topologies: payment success, hops, latency, fees, liquidity depletion, busiest relay."""
    try:
        common = [parse_param(p) for p in params]
        base = load_scenario(scenario, [*common, ("channels.enabled", True)])
        kinds = list(topologies) or list(TOPOLOGIES)
        if len(base.light_list) < 6:
            raise ScenarioError(f"{scenario}: comparing topologies needs at least 6 light nodes")
        registry = default_registry()
        check_scenario(base, scenario, registry)
        seed_list = [base.seed + i for i in range(seeds)]
        for kind in kinds:  # every run's scenario is checked before the first run
            for seed in seed_list:  # the graph (so each node's deposits) depends on the seed
                one = scenario_for(scenario, common, kind, seed, deposit)
                check_scenario(one, scenario, registry)
                check_funding(one, seed, scenario)
        target = Path(out_dir) if out_dir else Path("runs") / "channels" / base.name
        with batch_progress("channels", len(kinds) * len(seed_list)) as advance:

            def show(row: dict[str, Any]) -> None:
                advance(f"{row['topology']} seed {row['seed']}: {row['succeeded']}/{row['attempted']} paid")

            rows = run_channels(scenario, kinds, seed_list, common, show, deposit)
    except (ScenarioError, PluginError) as exc:
        raise ChannelsError(str(exc)) from None
    agg = aggregate(rows)
    note = interpret(agg)
    target.mkdir(parents=True, exist_ok=True)
    doc = {"rows": rows, "topologies": agg, "interpretation": note, "deposit": deposit}
    (target / "channels.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    plot(rows, target / "channels.png", note)
    print_table(rows, make_console())
    click.echo(note)
    click.echo(f"wrote {target / 'channels.json'} and {target / 'channels.png'}")
