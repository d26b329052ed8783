"""The report's charts: matplotlib (Agg) figures rendered to PNG and embedded as base64, so the page needs no network.

Each function draws one picture from :class:`~arena.report.data.ReportData` and returns an ``<img>`` tag; the
sections decide whether there is anything to draw and put the tables around it.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

from arena.report.data import ReportData, Spans, as_int, as_num, natural_key, red_side

BLUE, RED, GREY = "#1f5fa8", "#c0392b", "#8a8a8a"
PALETTE = ["#1f5fa8", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#7b2cbf", "#6c757d", "#48a9e6", "#8ab17d",
           "#bbbbbb"]
#: Timeline marks: event kind -> (marker, colour, size, legend label).
MARKS = {
    "evidence": ("*", RED, 140, "attack evidence"),
    "theft": ("D", "#6a040f", 60, "stolen, per the referee"),
    "plugin": ("o", "#7b2cbf", 30, "plugin log"),
    "plugin_fault": ("X", "#c2185b", 80, "plugin fault (plugin disabled)"),
    "equivocation": ("^", "#e76f51", 50, "equivocation seen"),
    "withheld": ("v", "#6c757d", 30, "block withheld"),
    "block_rejected": ("s", "#f4a261", 25, "block rejected"),
}


def figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def png(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def legend(ax: Any, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, label in zip(handles, labels, strict=False):
        seen.setdefault(label, h)
    if seen:
        ax.legend(list(seen.values()), list(seen.keys()), fontsize=8, **kw)


def shade(ax: Any, spans: Spans, evidence: bool = False, crashes: bool = True) -> None:
    """Partitions, crashed nodes, the settle period and (optionally) the attack's evidence behind a time axis."""
    for i, (s, e, _) in enumerate(spans.partitions):
        ax.axvspan(s, e, color="#f4a261", alpha=0.22, lw=0, label="partition" if i == 0 else None)
    for i, (s, e, _) in enumerate(spans.crashes if crashes else []):
        ax.axvspan(s, e, facecolor="none", edgecolor="#555555", hatch="//", alpha=0.35, lw=0,
                   label="node crashed" if i == 0 else None)
    if spans.settle is not None:
        ax.axvspan(*spans.settle, color="#2a9d8f", alpha=0.08, lw=0, label="settle (red plugins off)")
    if evidence:
        for i, t in enumerate(spans.evidence[:60]):
            ax.axvline(t, color=RED, ls=":", lw=0.9, alpha=0.8, label="attack evidence" if i == 0 else None)
    ax.set_xlim(-0.01 * spans.end, spans.end * 1.015)


def _colour_ticks(ax: Any, names: Sequence[str], teams: dict[str, str]) -> None:
    for tick, n in zip(ax.get_yticklabels(), names, strict=False):
        tick.set_color(RED if teams.get(n) == "red" else "black")


def timeline(d: ReportData, marks: list[dict[str, Any]]) -> str:
    """One row per node that did something: marks per event kind, crashes as bars, partitions shaded."""
    spans = d.spans
    rows_nodes = sorted({as_int(ev.get("node"), -1) for ev in marks} | {n for _, _, n in spans.crashes})
    rows_nodes = [n for n in rows_nodes if n >= 0]
    fig = figure(11, 1.2 + 0.35 * max(1, len(rows_nodes)))
    ax = fig.add_subplot()
    shade(ax, spans, crashes=False)
    y = {n: i for i, n in enumerate(rows_nodes)}
    for i, (s, e, node) in enumerate(spans.crashes):
        ax.broken_barh([(s, e - s)], (y[node] - 0.3, 0.6), facecolors="#777777", alpha=0.6,
                       label="node down (crashed)" if i == 0 else None)
    for kind, (marker, color, size, label) in MARKS.items():
        pts = [(as_num(ev.get("t")), y[as_int(ev.get("node"))]) for ev in marks
               if ev.get("ev") == kind and as_int(ev.get("node"), -1) in y]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, c=color, s=size, label=label,
                       zorder=3)
    names = [d.node(n) for n in rows_nodes]
    ax.set_yticks(range(len(rows_nodes)), names)
    _colour_ticks(ax, names, d.h.teams)
    ax.set_ylim(-0.7, max(0.7, len(rows_nodes) - 0.3))
    ax.set_xlabel("virtual time (s)")
    ax.set_title("Timeline: red evidence, plugin events, faults (partitions and crashes shaded)")
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig, "timeline")


def balances(d: ReportData, series: dict[str, list[tuple[float, int]]]) -> str:
    """Every account's balance over time (honest in blue, the red side in red) and the red side's total wealth."""
    h, end = d.h, d.spans.end
    fig = figure(11, 7.5)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    shade(ax, d.spans, evidence=True)
    shade(ax2, d.spans, evidence=True)
    blues = ["#1f5fa8", "#2e86de", "#48a9e6", "#0b3d91", "#5d8aa8", "#3a6ea5", "#6fa8dc", "#1c7293"]
    reds = ["#c0392b", "#e67e22", "#8e1b10", "#d35400", "#ff6f61"]
    styles = {"validator": ":", "merchant": "--"}
    order = sorted(series, key=lambda a: (h.red_side(a), natural_key(d.account(a))))
    nb = nr = 0
    for acct in order:
        pts = series[acct]
        red = h.red_side(acct)
        name = d.account(acct)
        role = h.roles.get(name, "sybil" if red else "")
        if red:
            color, nr = reds[nr % len(reds)], nr + 1
        else:
            color, nb = blues[nb % len(blues)], nb + 1
        xs = [p[0] for p in pts] + [end]
        ys = [p[1] for p in pts] + [pts[-1][1]]
        label = f"{name} (red)" if red else name
        ax.step(xs, ys, where="post", color=color, lw=2.2 if red else 1.0, ls=styles.get(role, "-"), label=label,
                alpha=1.0 if red else 0.75, zorder=3 if red else 2)
    ax.set_ylabel("balance (tokens)")
    ax.set_title("Balances over time (canonical finalised chain, at finalisation) — honest in blue, red side in red")
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if len(series) <= 22 else 2)
    # the red side's wealth: its balances, plus the goods blue merchants delivered to it
    red_accts = [a for a in series if h.red_side(a)]
    if red_accts:
        goods = [(as_num(ev.get("t")), as_int(ev.get("value"))) for ev in h.of("delivery", role="merchant")
                 if h.red_side(str(ev.get("buyer")))]
        times, total, wealth = red_side(series, red_accts, goods)
        ax2.step([*times, end], [*total, total[-1]], where="post", color=RED, lw=1.8, label="red side balances")
        if goods:
            ax2.step([*times, end], [*wealth, wealth[-1]], where="post", color="#7b2cbf", lw=1.8,
                     label="red balances + goods delivered to red")
        ax2.axhline(total[0], color=GREY, ls="--", lw=0.8, label="red side at genesis")
        ax2.set_ylabel("red side (tokens)")
        legend(ax2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax2.text(0.5, 0.5, "no red account", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("virtual time (s)")
    return png(fig, "balances over time")


def block_tree(d: ReportData, proposers: list[str]) -> str:
    """Blocks by height and proposer, each joined to its parent: the canonical chain in blue, forks in red."""
    blocks, teams = d.blocks, d.h.teams
    y = {n: i for i, n in enumerate(proposers)}
    max_h = max(b["height"] for b in blocks.values())
    fig = figure(min(22.0, max(9.0, max_h / 8)), 1.6 + 0.45 * len(proposers))
    ax = fig.add_subplot()
    for b in blocks.values():
        p = blocks.get(b["parent"])
        if p is None:
            continue
        if b["status"] == "canonical":
            color, lw, alpha, ls = BLUE, 0.9, 0.35, "-"
        elif b["status"] == "orphaned":
            color, lw, alpha, ls = RED, 1.1, 0.85, "--"
        else:
            color, lw, alpha, ls = GREY, 0.9, 0.7, ":"
        ax.plot([p["height"], b["height"]], [y[p["node"]], y[b["node"]]], color=color, lw=lw, alpha=alpha, ls=ls,
                zorder=1)
    styles = {"canonical": dict(marker="o", s=36, label="canonical (finalised)"),
              "not finalised": dict(marker="o", s=36, facecolors="none", edgecolors=GREY, label="not finalised yet"),
              "orphaned": dict(marker="X", s=90, c=RED, label="orphaned (not in the canonical chain)"),
              "unknown": dict(marker="o", s=30, c=GREY, label="block (no validator state to tell canonical)")}
    for status, kw in styles.items():
        pts = [b for b in blocks.values() if b["status"] == status]
        if not pts:
            continue
        if status == "canonical":
            kw = {**kw, "c": [RED if teams.get(b["node"]) == "red" else BLUE for b in pts]}
        ax.scatter([b["height"] for b in pts], [y[b["node"]] for b in pts], zorder=3, **kw)
    ax.set_yticks(range(len(proposers)), proposers)
    _colour_ticks(ax, proposers, teams)
    ax.set_ylim(-0.6, len(proposers) - 0.4)
    ax.set_xlabel("block height")
    ax.set_ylabel("proposer")
    n_orphan = sum(1 for b in blocks.values() if b["status"] == "orphaned")
    ax.set_title(f"Block tree: {len(blocks)} blocks, {n_orphan} orphaned; lines join each block to its parent "
                 "(blue: canonical chain, red dashed: forks)")
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig, "block tree")


def messages_sent(d: ReportData, sent: dict[str, dict[str, Any]], types: list[str], nodes: list[str]) -> str:
    """Messages sent per node, stacked by type (the ``types`` most common, the rest as "other")."""
    fig = figure(11, 1.2 + 0.32 * len(nodes))
    ax = fig.add_subplot()
    left = [0] * len(nodes)
    for i, kind in enumerate([*types, "other"]):
        vals = [(as_int(sent[n].get(kind)) if kind != "other" else
                 sum(as_int(v) for k, v in sent[n].items() if k not in types)) for n in nodes]
        if any(vals):
            ax.barh(range(len(nodes)), vals, left=left, color=PALETTE[i % len(PALETTE)], label=kind)
            left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_yticks(range(len(nodes)), nodes)
    _colour_ticks(ax, nodes, d.h.teams)
    ax.invert_yaxis()
    ax.set_xlabel("messages sent")
    ax.set_title("Messages sent per node, by type (red nodes' names in red)")
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig, "messages sent")


def drops_over_time(d: ReportData) -> str:
    """Drops per time bin, stacked by reason (the eight most common)."""
    drop_times, end = d.h.drop_times, d.spans.end
    fig = figure(11, 2.6)
    ax = fig.add_subplot()
    shade(ax, d.spans)
    width = max(1.0, end / 60)
    bins = [i * width for i in range(int(end / width) + 2)]
    reasons = sorted(drop_times, key=lambda r: -len(drop_times[r]))[:8]
    ax.hist([drop_times[r] for r in reasons], bins=bins, stacked=True, label=reasons)
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel(f"drops per {width:g} s")
    ax.set_title("Drops over time, by reason")
    legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig, "drops over time")


__all__ = ["BLUE", "GREY", "RED", "balances", "block_tree", "drops_over_time", "figure", "legend",
           "messages_sent", "png", "shade", "timeline"]
