"""Parameter sweeps over a scenario: run each case (a list of overrides) for several seeds and compare, per
validator, its share of stake with its share of blocks and rewards (course day 2: "what if a validator has 10x
more, or 10x less, stake than the others?").

``arena sweep SCENARIO`` runs the default stake cases (equal, one validator with 10x, one with 1/10x) and writes
``sweep.json`` and ``stake_vs_blocks.png``. Both, and the printed tables, end with :func:`interpret`'s sentences:
what the numbers say about proposer selection, computed from them (gap between stake and block share measured in
standard deviations of the sampling noise of that many blocks), so a reader is not left to guess.

``--cluster tcp://HOST:8786`` or ``--cluster local:N`` runs each (case, seed) battle as one task on Dask
(:mod:`arena.experiments.engines`); the rows are put back in case and seed order, so the outputs are the same.
"""

from __future__ import annotations

import json
import math
import textwrap
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from arena.cli.consoles import console as make_console
from arena.cli.progress import batch_progress
from arena.plugin_host.registry import PluginError, default_registry
from arena.scenario.checks import check_scenario
from arena.scenario.model import Scenario, load_scenario, scenario_from_dict
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import RunOutcome, run_battle

if TYPE_CHECKING:
    from arena.experiments.engines import Engine

__all__ = ["SweepError", "aggregate", "default_stake_cases", "interpret", "parse_case", "plot_stake_vs_blocks",
           "run_sweep", "sweep_cmd"]

#: A gap between stake and block share within this many standard deviations of the binomial sampling noise is
#: "tracking" (3: a stake-proportional lottery exceeds it about once in 370 validator-cases).
NOISE_SIGMAS = 3.0
#: ... and within this many percentage points it is "close" (beyond, within the noise only says too few blocks).
CLOSE_POINTS = 5.0


class SweepError(click.ClickException):
    """Bad input to ``arena sweep``: a one-line message and exit code 2."""

    exit_code = 2


def default_stake_cases(n_validators: int = 5, base: int = 100) -> dict[str, list[tuple[str, Any]]]:
    """The course's question: all stakes equal, validator 0 with 10x the stake, validator 0 with 1/10 of it."""
    if n_validators < 1:
        raise ValueError("a stake sweep needs at least one validator")
    return {
        "equal": [],
        "one_10x": [("validators.0.stake", 10 * base)],
        "one_tenth": [("validators.0.stake", base // 10)],
    }


def parse_case(text: str) -> tuple[str, list[tuple[str, Any]]]:
    """``NAME:KEY=V,KEY=V`` -> (name, overrides); ``NAME:`` or ``NAME`` alone is a case without overrides."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise ScenarioError(f"--case {text!r}: expected NAME:KEY=V,KEY=V")
    return name, [parse_param(part) for part in rest.split(",") if part.strip()]


def _shares(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in values.items()}


def confirmation_latency(outcome: RunOutcome) -> float | None:
    """Mean time from an honest transfer's ``intent`` to the first ``finalized`` event covering its block.

    The block height of each transaction is read from the canonical validator's finalised chain; transactions that
    never reached it are left out. None when no transaction was finalised (or the trace was not kept).
    """
    latency = outcome.result.get("latency")
    if isinstance(latency, dict) and latency.get("mean") is not None:
        return float(latency["mean"])
    world = outcome.world
    events = world.trace.kept
    canon_name = outcome.result.get("canonical_validator")
    canon = next((n for n in world.nodes if n.name == canon_name), None)
    if events is None or canon is None:
        return None
    tree = getattr(canon.community, "tree", None)
    if tree is None:
        return None
    height_of_tx = {tx.tx_id.hex(): block.header.height for block in tree.chain(tree.finalized) for tx in block.txs}
    blue_validators = {n.index for n in world.nodes if n.role == "validator" and n.team == "blue"}
    fin = [(float(e["t"]), int(e["height"])) for e in events
           if e.get("ev") == "finalized" and e.get("node") in blue_validators]
    times = [t for t, _ in fin]
    reached = list(accumulate((h for _, h in fin), max))  # highest finalised height seen so far, non-decreasing
    delays: list[float] = []
    for e in events:
        if e.get("ev") != "intent":
            continue
        height = height_of_tx.get(str(e.get("tx")))
        if height is None:
            continue
        i = bisect_left(reached, height)
        if i < len(reached):
            delays.append(times[i] - float(e["t"]))
    return sum(delays) / len(delays) if delays else None


def _validator_names(outcome: RunOutcome) -> list[str]:
    return [n.name for n in outcome.world.nodes if n.role == "validator"]


def run_sweep(path: str, cases: list[list[tuple[str, Any]]] | dict[str, list[tuple[str, Any]]], seeds: list[int],
              out_dir: Path | None = None, progress: Callable[[str, int], None] | None = None,
              engine: Engine | None = None) -> list[dict[str, Any]]:
    """Run every case for every seed; one row per (case, seed, validator).

    ``cases`` is a list of override lists (named ``case0``, ``case1``...) or a mapping name -> overrides. Rows:
    ``{case, seed, validator, stake, stake_share, blocks, block_share, reward, reward_share, latency}``. When
    ``out_dir`` is given, ``sweep.json`` and ``stake_vs_blocks.png`` are written there. ``progress(case, seed)`` is
    called after each battle (a sweep takes minutes: the command draws a bar with it). ``engine``: run the
    battles there, one task each (default: one after the other in this process).
    """
    named = cases if isinstance(cases, dict) else {f"case{i}": c for i, c in enumerate(cases)}
    rows: list[dict[str, Any]] = []
    if engine is not None:
        rows = _run_on(engine, path, named, seeds, progress)
    else:
        for case, overrides in named.items():
            scenario = load_scenario(path, overrides)
            for seed in seeds:
                rows.extend(_run_case(scenario, case, seed))
                if progress is not None:
                    progress(case, seed)
    if out_dir is not None:
        write_outputs(rows, out_dir)
    return rows


def _run_on(engine: Engine, path: str, named: dict[str, list[tuple[str, Any]]], seeds: list[int],
            progress: Callable[[str, int], None] | None) -> list[dict[str, Any]]:
    """Every (case, seed) battle as one task carrying its resolved scenario; rows in case, then seed order."""
    resolved = {case: json.dumps(load_scenario(path, ov).model_dump(mode="json"), sort_keys=True)
                for case, ov in named.items()}
    items = [(case, resolved[case], seed) for case in named for seed in seeds]
    done: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for case, seed, rows in engine.run(sweep_battle, items):
        done[(case, seed)] = rows
        if progress is not None:
            progress(case, seed)
    return [row for case, _, seed in items for row in done[(case, seed)]]


def sweep_battle(item: tuple[str, str, int]) -> tuple[str, int, list[dict[str, Any]]]:
    """One task of a distributed sweep: (case, resolved scenario JSON, seed) -> (case, seed, rows)."""
    case, scenario_json, seed = item
    return case, seed, _run_case(scenario_from_dict(json.loads(scenario_json)), case, seed)


def _run_case(scenario: Scenario, case: str, seed: int) -> list[dict[str, Any]]:
    outcome = run_battle(scenario, seed=seed, out_dir=None, keep_trace=True)
    result = outcome.result
    names = _validator_names(outcome)
    specs = scenario.validator_list
    stakes = {name: float(spec.stake) for name, spec in zip(names, specs, strict=True)}
    blocks = {name: float(result.get("blocks_by_proposer", {}).get(name, 0)) for name in names}
    balances = result.get("balances", {})
    genesis = {name: spec.balance or 0 for name, spec in zip(names, specs, strict=True)}
    rewards = {name: float(balances.get(name, 0) - genesis[name]) for name in names}
    stake_share, block_share, reward_share = _shares(stakes), _shares(blocks), _shares(rewards)
    latency = confirmation_latency(outcome)
    return [{"case": case, "seed": seed, "validator": name, "stake": int(stakes[name]),
             "stake_share": stake_share[name], "blocks": int(blocks[name]), "block_share": block_share[name],
             "reward": int(rewards[name]), "reward_share": reward_share[name], "latency": latency,
             "finalized_height": result.get("finalized_height", 0), "forks_seen": result.get("forks_seen", 0)}
            for name in names]


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per case: per validator means (block share also min and max over seeds) and the mean latency."""
    out: dict[str, dict[str, Any]] = {}
    for case in dict.fromkeys(r["case"] for r in rows):
        case_rows = [r for r in rows if r["case"] == case]
        validators: dict[str, Any] = {}
        for name in dict.fromkeys(r["validator"] for r in case_rows):
            vr = [r for r in case_rows if r["validator"] == name]
            blocks = [r["block_share"] for r in vr]
            validators[name] = {
                "stake_share": _mean([r["stake_share"] for r in vr]),
                "block_share": _mean(blocks), "block_share_min": min(blocks), "block_share_max": max(blocks),
                "reward_share": _mean([r["reward_share"] for r in vr]),
            }
        per_seed = {r["seed"]: r["latency"] for r in case_rows}
        out[case] = {"seeds": sorted(per_seed), "validators": validators,
                     "latency": _mean([v for v in per_seed.values() if v is not None]),
                     "blocks": sum(int(r.get("blocks", 0)) for r in case_rows)}
    return out


def _pct(x: float) -> str:
    """A share as a percentage, with a decimal when it is small (2.4%, not 2%)."""
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def interpret(agg: dict[str, dict[str, Any]]) -> str:
    """One or two sentences on what :func:`aggregate`'s numbers say about proposer selection.

    First: the largest gap between a validator's stake share and its block share over all cases, in points and in
    standard deviations of a stake-proportional lottery over that case's blocks (``sqrt(s(1-s)/blocks)``); within
    :data:`NOISE_SIGMAS` the two track each other. Second: the validators with the largest and smallest stake share
    of the unequal cases, what they proposed and earned."""
    gaps: list[tuple[float, float, str, str, dict[str, Any], int]] = []  # (|points|, sigmas, case, name, v, N)
    for case, data in agg.items():
        n = int(data.get("blocks", 0))
        for name, v in data["validators"].items():
            s, b = float(v["stake_share"] or 0.0), float(v["block_share"] or 0.0)
            sd = math.sqrt(s * (1 - s) / n) if n > 0 and 0 < s < 1 else 0.0
            sigmas = abs(b - s) / sd if sd > 0 else (0.0 if abs(b - s) < 1e-9 else math.inf)
            gaps.append((100 * abs(b - s), sigmas, case, name, v, n))
    if not gaps:
        return "No validator ran: there is nothing to compare."
    empty = [case for case, data in agg.items() if not data.get("blocks")]
    if len(empty) == len(agg):
        return "No block was finalised in any case: the runs are too short to compare stake with blocks."
    counted = [g for g in gaps if g[5] > 0]
    tracking = max(g[1] for g in counted) <= NOISE_SIGMAS
    # tracking: name the widest gap in points; else the one least likely under a stake-proportional lottery
    pts, sigmas, case, name, v, n = max(counted, key=lambda g: (g[0], g[1]) if tracking else (g[1], g[0]))
    shares = f"{name} in {case}: {_pct(v['stake_share'])} of the stake, {_pct(v['block_share'])} of the blocks"
    noise = f"{sigmas:.1f} standard deviations over {n} blocks"
    if tracking and pts <= CLOSE_POINTS:
        first = (f"Stake share and block share track each other within {pts:.1f} points in every case (largest "
                 f"gap {shares}, {noise}): proposer selection is stake-proportional.")
    elif tracking:
        first = (f"Stake share and block share differ by up to {pts:.1f} points ({shares}), but that is within "
                 f"the sampling noise ({noise}): too few blocks to tell; run longer or with more seeds.")
    else:
        more = "more" if v["block_share"] > v["stake_share"] else "less"
        first = (f"Block share departs from stake share by {pts:.1f} points ({shares}, {noise}): {name} proposes "
                 f"{more} than its stake, so proposer selection is not stake-proportional here.")
    if empty:
        first += f" No block was finalised in {', '.join(empty)}."
    unequal = [(case, name, v) for case, data in agg.items() if data.get("blocks")
               for name, v in data["validators"].items()
               if max(x["stake_share"] for x in data["validators"].values())
               - min(x["stake_share"] for x in data["validators"].values()) > 1e-9]
    if not unequal:
        return first
    rewarded = any(v["reward_share"] for _, _, v in unequal)

    def said(case: str, name: str, v: dict[str, Any]) -> str:
        blocks = f"{_pct(v['block_share'])} of the blocks"
        earned = f", proposes {blocks} and earns {_pct(v['reward_share'])} of the rewards" if rewarded else (
            f" and proposes {blocks}")
        return f"in {case} {name} holds {_pct(v['stake_share'])} of the stake{earned}"

    top = max(unequal, key=lambda t: t[2]["stake_share"])
    low = min(unequal, key=lambda t: t[2]["stake_share"])
    second = said(*top) + ("" if low == top else "; " + said(*low))
    return f"{first} {second[0].upper()}{second[1:]}."


def caption(fig: Any, text: str, width: int = 110) -> float:
    """Write ``text`` under a figure (wrapped to ``width`` characters); the share of its height it takes."""
    lines = textwrap.wrap(text, width)
    fig.text(0.01, 0.01, "\n".join(lines), ha="left", va="bottom", fontsize=8, wrap=True)
    inches = (len(lines) * 8 * 1.35 + 10) / 72
    return float(min(0.4, inches / fig.get_figheight()))


def plot_stake_vs_blocks(rows: list[dict[str, Any]], path: Path, note: str | None = None) -> None:
    """Stake share (x) against mean block share (y): one marker per validator per case, and the y = x line; the
    interpretation (``note``, default :func:`interpret`'s) as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(rows)
    fig, ax = plt.subplots(figsize=(6.5, 7.5))
    markers = "osD^vP*X"
    top = 0.0
    for i, (case, data) in enumerate(agg.items()):
        xs = [v["stake_share"] for v in data["validators"].values()]
        ys = [v["block_share"] for v in data["validators"].values()]
        lo = [y - v["block_share_min"] for y, v in zip(ys, data["validators"].values(), strict=True)]
        hi = [v["block_share_max"] - y for y, v in zip(ys, data["validators"].values(), strict=True)]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=markers[i % len(markers)], capsize=3, label=case, alpha=0.8)
        top = max(top, *xs, *ys, *(v["block_share_max"] for v in data["validators"].values()))
    top = min(1.0, top * 1.1) if top > 0 else 1.0
    ax.plot([0, top], [0, top], "k--", linewidth=1, label="y = x")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("stake share")
    ax.set_ylabel("block share (finalised chain)")
    ax.set_title("stake vs blocks proposed")
    ax.legend()
    bottom = caption(fig, note if note is not None else interpret(agg), width=95)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(rows: list[dict[str, Any]], out_dir: Path) -> str:
    """``sweep.json`` (rows, per-case means, the interpretation) and the chart; returns the interpretation."""
    out_dir.mkdir(parents=True, exist_ok=True)
    agg = aggregate(rows)
    note = interpret(agg)
    doc = {"rows": rows, "cases": agg, "interpretation": note}
    (out_dir / "sweep.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    plot_stake_vs_blocks(rows, out_dir / "stake_vs_blocks.png", note)
    return note


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_tables(rows: list[dict[str, Any]], console: Console) -> None:
    for case, data in aggregate(rows).items():
        table = Table(title=f"case {case} (seeds {', '.join(map(str, data['seeds']))}); "
                      f"mean confirmation latency {_fmt(data['latency'], '.2f')} s")
        for col in ("validator", "stake share", "block share", "min-max", "reward share"):
            table.add_column(col, justify="left" if col == "validator" else "right")
        for name, v in data["validators"].items():
            table.add_row(name, _fmt(v["stake_share"]), _fmt(v["block_share"]),
                          f"{_fmt(v['block_share_min'])}-{_fmt(v['block_share_max'])}", _fmt(v["reward_share"]))
        console.print(table)


@click.command("sweep")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--param", "params", multiple=True, help="Override a key in every case: consensus.slot=2.")
@click.option("--case", "case_specs", multiple=True,
              help="A case NAME:KEY=V,KEY=V (repeatable). Default: equal, one 10x, one 1/10x stake.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per case (the scenario's seed and the next ones).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default runs/sweep/<scenario name>).")
@click.option("--cluster", default=None, metavar="ADDRESS", help="Run each (case, seed) battle as a task on Dask: "
              "tcp://HOST:8786 or local:N; needs pip install 'ipv8-arena[cluster]'.")
def sweep_cmd(scenario: str, params: tuple[str, ...], case_specs: tuple[str, ...], seeds: int,
              out_dir: str | None, cluster: str | None) -> None:
    """Run a scenario under several cases and seeds; compare stake, block and reward shares per validator."""
    try:
        common = [parse_param(p) for p in params]
        base = load_scenario(scenario, common)
        registry = default_registry()
        check_scenario(base, scenario, registry)
        if case_specs:
            cases: dict[str, list[tuple[str, Any]]] = {}
            for spec in case_specs:
                name, overrides = parse_case(spec)
                if name in cases:
                    raise ScenarioError(f"--case {name!r} given twice")
                cases[name] = overrides
        else:
            stakes = [v.stake for v in base.validator_list]
            if not stakes:
                raise ScenarioError(f"{scenario}: the stake sweep needs at least one validator")
            cases = default_stake_cases(len(stakes), stakes[0])
        full = {name: [*common, *overrides] for name, overrides in cases.items()}
        for name, overrides in full.items():  # validate and check every case before the first run
            try:
                check_scenario(load_scenario(scenario, overrides), scenario, registry)
            except ScenarioError as exc:
                raise ScenarioError(f"case {name}: {exc}") from None
        target = Path(out_dir) if out_dir else Path("runs") / "sweep" / base.name
        seed_list = [base.seed + i for i in range(seeds)]
        with _engine(cluster) as engine, batch_progress("sweep", len(full) * len(seed_list)) as advance:
            rows = run_sweep(scenario, full, seed_list, target, lambda case, seed: advance(f"{case} seed {seed}"),
                             engine)
    except (ScenarioError, PluginError) as exc:
        raise SweepError(str(exc)) from None
    print_tables(rows, make_console())
    click.echo(interpret(aggregate(rows)))
    click.echo(f"wrote {target / 'sweep.json'} and {target / 'stake_vs_blocks.png'}")


@contextmanager
def _engine(cluster: str | None) -> Iterator[Engine | None]:
    """The Dask engine of ``--cluster`` (closed at the end), or None: the battles run here, one after the other."""
    if cluster is None:
        yield None
        return
    from arena.experiments.engines import EngineError, make_engine

    try:
        engine = make_engine(cluster)
    except EngineError as exc:
        raise SweepError(str(exc)) from None
    with engine:
        yield engine
