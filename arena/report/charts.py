"""The report's charts: inline SVG drawn in plain Python (:mod:`arena.report.svg`), so the page needs no plotting
library, no script and no network, and the same run gives the same bytes.

Each function draws one picture from :class:`~arena.report.data.ReportData` and returns its HTML; the sections
decide whether there is anything to draw and put the tables around it. Every name, label and tooltip is escaped
by the kit: node, account, plugin and drop-reason names come from the run directory, and red plugins write there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from arena.report.data import ReportData, as_int, as_num, natural_key, red_side
from arena.report.svg import Area, Chart, Line, Mark

BLUE, RED, GREY = "#1f5fa8", "#c0392b", "#8a8a8a"
PALETTE = ["#1f5fa8", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#7b2cbf", "#6c757d", "#48a9e6", "#8ab17d",
           "#bbbbbb"]
#: Timeline marks: event kind -> (marker, legend label).
MARKS: dict[str, tuple[Mark, str]] = {
    "evidence": (Mark("star", RED, 7.5), "attack evidence"),
    "theft": (Mark("diamond", "#6a040f", 5.5), "stolen, per the referee"),
    "plugin": (Mark("circle", "#7b2cbf", 3.2), "plugin log"),
    "plugin_fault": (Mark("cross", "#c2185b", 5), "plugin fault (plugin disabled)"),
    "equivocation": (Mark("triangle", "#e76f51", 4.5), "equivocation seen"),
    "withheld": (Mark("triangle_down", "#6c757d", 3.5), "block withheld"),
    "block_rejected": (Mark("square", "#f4a261", 3), "block rejected"),
}
PARTITION = Area("#f4a261", 0.25)
CRASHED = Area("#555555", 0.45, hatch=True)
SETTLE = Area("#2a9d8f", 0.10)
EVIDENCE_LINE = Line(RED, 0.9, "2 3", 0.8)
#: The balance chart draws this many accounts one by one; with more, the rest become one band per role.
MAX_LINES = 16
#: Of those, at most this many red-side accounts (the red side's total is drawn below in any case).
MAX_RED_LINES = 8
BLUES = ["#1f5fa8", "#2e86de", "#48a9e6", "#0b3d91", "#5d8aa8", "#3a6ea5", "#6fa8dc", "#1c7293"]
REDS = ["#c0392b", "#e67e22", "#8e1b10", "#d35400", "#ff6f61"]
ROLE_DASH = {"validator": "2 2", "merchant": "6 3"}
TIP_FIELDS = ("plugin", "kind", "event", "hook", "detail", "error")


def time_range(d: ReportData) -> tuple[float, float]:
    return -0.01 * d.spans.end, d.spans.end * 1.015


def row_colours(names: Sequence[str], teams: dict[str, str]) -> list[str]:
    return [RED if teams.get(n) == "red" else "#222" for n in names]


def shade(chart: Chart, d: ReportData, evidence: bool = False, crashes: bool = True) -> None:
    """Partitions, crashed nodes, the settle period and (optionally) the attack's evidence behind a time axis."""
    spans = d.spans
    for s, e, label in spans.partitions:
        chart.vspan(s, e, PARTITION, "partition", title=f"partition {s:.1f} to {e:.1f} s: {label}")
    for s, e, node in spans.crashes if crashes else []:
        chart.vspan(s, e, CRASHED, "node crashed", title=f"{d.node(node)} down {s:.1f} to {e:.1f} s")
    if spans.settle is not None:
        chart.vspan(*spans.settle, SETTLE, "settle (red plugins off)")
    if evidence:
        for t in spans.evidence[:60]:
            chart.vline(t, EVIDENCE_LINE, "attack evidence")


def _tip(d: ReportData, ev: dict[str, Any], label: str) -> str:
    parts = [label, d.node(ev.get("node")), f"t={as_num(ev.get('t')):.2f} s"]
    parts += [f"{k}: {ev[k]}" for k in TIP_FIELDS if ev.get(k) not in (None, "")]
    return " · ".join(parts)


def timeline(d: ReportData, marks: list[dict[str, Any]]) -> str:
    """One row per node that did something: marks per event kind, crashes as bars, partitions shaded."""
    spans = d.spans
    rows_nodes = sorted({as_int(ev.get("node"), -1) for ev in marks} | {n for _, _, n in spans.crashes})
    rows_nodes = [n for n in rows_nodes if n >= 0]
    names = [d.node(n) for n in rows_nodes]
    chart = Chart("timeline", "Timeline: red evidence, plugin events, faults (partitions and crashes shaded)",
                  x=time_range(d), rows=names or ["(no node)"], row_colors=row_colours(names, d.h.teams),
                  row_height=26, xlabel="virtual time (s)")
    shade(chart, d, crashes=False)
    y = {n: i for i, n in enumerate(rows_nodes)}
    for s, e, node in spans.crashes:
        chart.rect(s, e, y[node] - 0.3, y[node] + 0.3, Area("#777777", 0.6), "node down (crashed)",
                   title=f"{d.node(node)} down {s:.1f} to {e:.1f} s")
    for kind, (mark, label) in MARKS.items():
        evs = [ev for ev in marks if ev.get("ev") == kind and as_int(ev.get("node"), -1) in y]
        chart.markers([(as_num(ev.get("t")), y[as_int(ev.get("node"))]) for ev in evs], mark, label,
                      [_tip(d, ev, label) for ev in evs])
    return chart.render()


def _moved(points: list[tuple[float, int]]) -> int:
    start = points[0][1]
    return max(abs(v - start) for _, v in points)


def envelope(series: dict[str, list[tuple[float, int]]], accts: list[str]
             ) -> tuple[list[float], list[int], list[int], list[int]]:
    """Times and, at each, the lowest, the highest and the median balance of ``accts`` (step functions)."""
    changes = sorted((t, a, v) for a in accts for t, v in series[a][1:])
    now = {a: series[a][0][1] for a in accts}

    def stats() -> tuple[int, int, int]:
        vals = sorted(now.values())
        return vals[0], vals[-1], vals[(len(vals) - 1) // 2]

    xs, lo, hi, med = [0.0], [stats()[0]], [stats()[1]], [stats()[2]]
    for t, a, v in changes:
        now[a] = v
        low, high, mid = stats()
        if xs[-1] == t:
            lo[-1], hi[-1], med[-1] = low, high, mid
        else:
            xs.append(t)
            lo.append(low)
            hi.append(high)
            med.append(mid)
    return xs, lo, hi, med


def pick_lines(d: ReportData, series: dict[str, list[tuple[float, int]]]) -> tuple[list[str], dict[tuple[bool, str],
                                                                                                   list[str]]]:
    """The accounts drawn one by one (all of them, or the red side and the accounts that moved most, up to
    :data:`MAX_LINES`), and the others grouped by (red side?, role) for a band each."""
    h = d.h
    order = sorted(series, key=lambda a: (h.red_side(a), natural_key(d.account(a))))
    if len(order) <= MAX_LINES:
        return order, {}

    def by_move(accts: list[str]) -> list[str]:
        return sorted(accts, key=lambda a: (-_moved(series[a]), natural_key(d.account(a))))

    reds = by_move([a for a in order if h.red_side(a)])[:MAX_RED_LINES]
    blues = by_move([a for a in order if not h.red_side(a)])[:MAX_LINES - len(reds)]
    chosen = set(reds) | set(blues)
    groups: dict[tuple[bool, str], list[str]] = {}
    for a in order:
        if a not in chosen:
            red = h.red_side(a)
            groups.setdefault((red, h.roles.get(d.account(a), "sybil" if red else "other")), []).append(a)
    return [a for a in order if a in chosen], groups


def balances(d: ReportData, series: dict[str, list[tuple[float, int]]]) -> str:
    """Every account's balance over time (honest in blue, the red side in red) and the red side's total wealth.
    With more than :data:`MAX_LINES` accounts, the red side and the honest accounts that moved most are drawn one by
    one and the others as a band (lowest to highest, median dashed) per role."""
    h, end = d.h, d.spans.end
    lines, groups = pick_lines(d, series)
    values = [v for pts in series.values() for _, v in pts] or [0]
    lo, hi = min(values), max(values)
    pad = max(1.0, (hi - lo) * 0.05)
    caption = (f"{len(lines)} of {len(series)} accounts drawn one by one (the red side and the honest accounts whose "
               "balance moved most); the others as one band per role, lowest to highest, median dashed"
               if groups else "")
    chart = Chart("balances over time", "Balances over time (canonical finalised chain, at finalisation) — honest "
                  "in blue, red side in red", x=time_range(d), y=(lo - pad, hi + pad), height=380,
                  ylabel="balance (tokens)", xlabel="virtual time (s)", caption=caption)
    shade(chart, d, evidence=True)
    for (red, role), accts in sorted(groups.items()):
        xs, low, high, mid = envelope(series, accts)
        colour = RED if red else "#3a6ea5"
        what = f"{len(accts)} other {role} accounts" + (" (red)" if red else "")
        chart.step_band(xs, low, high, end, Area(colour, 0.15), f"{what}: range", title=f"{what}: lowest to highest")
        chart.step(list(zip(xs, mid, strict=True)), end, Line(colour, 1.2, "5 3", 0.9), f"{what}: median",
                   title=f"{what}: median")
    nb = nr = 0
    for acct in sorted(lines, key=lambda a: h.red_side(a)):  # red on top
        red = h.red_side(acct)
        name = d.account(acct)
        role = h.roles.get(name, "sybil" if red else "")
        if red:
            style = Line(REDS[nr % len(REDS)], 2.2, ROLE_DASH.get(role, ""))
            nr += 1
        else:
            style = Line(BLUES[nb % len(BLUES)], 1.1, ROLE_DASH.get(role, ""), 0.8)
            nb += 1
        pts = series[acct]
        label = f"{name} (red)" if red else name
        chart.step([(t, float(v)) for t, v in pts], end, style, label,
                   title=f"{label}: {pts[0][1]} at genesis, {pts[-1][1]} at the end")
    # the red side's wealth: its balances, plus the goods blue merchants delivered to it
    red_accts = sorted(a for a in series if h.red_side(a))
    if not red_accts:
        side = Chart("red side over time", "The red side's wealth", x=time_range(d), y=(0, 1), height=60,
                     xlabel="virtual time (s)")
        side.note("no red account")
        return chart.render() + side.render()
    goods = [(as_num(ev.get("t")), as_int(ev.get("value"))) for ev in h.of("delivery", role="merchant")
             if h.red_side(str(ev.get("buyer")))]
    times, total, wealth = red_side(series, red_accts, goods)
    vals = [*total, *(wealth if goods else [])]
    pad = max(1.0, (max(vals) - min(vals)) * 0.08)
    side = Chart("red side over time", "The red side's wealth over time (all its accounts)", x=time_range(d),
                 y=(min(vals) - pad, max(vals) + pad), height=160, ylabel="red side (tokens)",
                 xlabel="virtual time (s)")
    shade(side, d, evidence=True)
    side.hline(total[0], Line(GREY, 0.9, "5 3"), "red side at genesis")
    side.step(list(zip(times, total, strict=True)), end, Line(RED, 1.8), "red side balances")
    if goods:
        side.step(list(zip(times, wealth, strict=True)), end, Line("#7b2cbf", 1.8),
                  "red balances + goods delivered to red")
    return chart.render() + side.render()


def block_tree(d: ReportData, proposers: list[str]) -> str:
    """Blocks by height and proposer, each joined to its parent: the canonical chain in blue, forks in red."""
    blocks, teams = d.blocks, d.h.teams
    y = {n: i for i, n in enumerate(proposers)}
    heights = [b["height"] for b in blocks.values()]
    low, high = min(heights), max(heights)
    width = min(2400.0, max(1100.0, 330 + 9.0 * (high - low + 1)))
    n_orphan = sum(1 for b in blocks.values() if b["status"] == "orphaned")
    chart = Chart("block tree", f"Block tree: {len(blocks)} blocks, {n_orphan} orphaned; lines join each block to "
                  "its parent (blue: canonical chain, red dashed: forks)", x=(low - 1, high + 1), rows=proposers,
                  row_colors=row_colours(proposers, teams), width=width, row_height=30, xlabel="block height")
    edges: dict[str, list[tuple[float, float, float, float]]] = {"canonical": [], "orphaned": [], "other": []}
    for b in blocks.values():
        p = blocks.get(b["parent"])
        if p is not None:
            kind = b["status"] if b["status"] in ("canonical", "orphaned") else "other"
            edges[kind].append((p["height"], y[p["node"]], b["height"], y[b["node"]]))
    chart.segments(edges["other"], Line(GREY, 0.9, "2 2", 0.7))
    chart.segments(edges["canonical"], Line(BLUE, 0.9, "", 0.35))
    chart.segments(edges["orphaned"], Line(RED, 1.1, "5 3", 0.85))
    styles = [("canonical", "blue", Mark("circle", BLUE, 3.5), "canonical (finalised)"),
              ("canonical", "red", Mark("circle", RED, 3.5), "canonical (finalised), red proposer"),
              ("not finalised", "", Mark("circle", GREY, 3.5, hollow=True), "not finalised yet"),
              ("orphaned", "", Mark("cross", RED, 5), "orphaned (not in the canonical chain)"),
              ("unknown", "", Mark("circle", GREY, 3), "block (no validator state to tell canonical)")]
    ordered = sorted(blocks.items(), key=lambda hb: (hb[1]["height"], hb[0]))
    for status, team, mark, label in styles:
        pts = [(h, b) for h, b in ordered if b["status"] == status
               and (not team or (teams.get(b["node"]) == "red") == (team == "red"))]
        chart.markers([(b["height"], y[b["node"]]) for _, b in pts], mark, label,
                      [f"height {b['height']} by {b['node']}: {status}, {h[:12]}, {b['txs']} txs" for h, b in pts])
    return chart.render()


def messages_sent(d: ReportData, sent: dict[str, dict[str, Any]], types: list[str], nodes: list[str]) -> str:
    """Messages sent per node, stacked by type (the ``types`` most common, the rest as "other")."""
    counts = {n: [as_int(sent[n].get(k)) for k in types] + [sum(as_int(v) for k, v in sent[n].items()
                                                               if k not in types)] for n in nodes}
    most = max((sum(c) for c in counts.values()), default=0)
    chart = Chart("messages sent", "Messages sent per node, by type (red nodes' names in red)",
                  x=(0, max(1.0, most * 1.03)), rows=nodes, row_colors=row_colours(nodes, d.h.teams),
                  row_height=20 if len(nodes) <= 60 else 14, xlabel="messages sent")
    for i, kind in enumerate([*types, "other"]):
        if not any(counts[n][i] for n in nodes):
            continue
        style = Area(PALETTE[i % len(PALETTE)])
        chart.legend(kind, style)
        for row, n in enumerate(nodes):
            v = counts[n][i]
            if v:
                left = sum(counts[n][:i])
                chart.rect(left, left + v, row - 0.38, row + 0.38, style, title=f"{n}: {v} {kind}")
    return chart.render()


def longest_stall(times: Sequence[float], end: float) -> tuple[float, float]:
    """The longest stretch (start, stop) with no new finalised height after the first one, the end of the battle
    included (the whole battle when nothing was finalised)."""
    if not times:
        return 0.0, end
    best = (times[0], times[0])  # from the first finalisation: the start-up before it is no stall
    for a, b in zip([*times], [*times[1:], end], strict=True):
        if b - a > best[1] - best[0]:
            best = (a, b)
    return best


def finalized_height(d: ReportData) -> str:
    """The highest height any honest validator had finalised, and the highest block proposed, over time: a flat
    stretch of the finalised line is a finality stall (the longest is named in the caption)."""
    times, tops = d.h.finality_curve
    end = d.spans.end
    heads: list[tuple[float, float]] = []
    for b in sorted((b for b in d.blocks.values() if b["t"] is not None), key=lambda b: (b["t"], b["height"])):
        if not heads or b["height"] > heads[-1][1]:
            heads.append((float(b["t"]), float(b["height"])))
    top = max([*tops, *(y for _, y in heads), 1])
    s0, s1 = longest_stall(times, end)
    caption = f"longest stretch without a new finalised height: {s1 - s0:.1f} s (from {s0:.1f} to {s1:.1f} s)"
    chart = Chart("finalised height", "Finalised height over time (highest any honest validator finalised) and the "
                  "head (highest block proposed)", x=time_range(d), y=(0, top * 1.05), height=220,
                  ylabel="height", xlabel="virtual time (s)", y_int=True, caption=caption)
    shade(chart, d, evidence=True)
    if s1 - s0 > 0:
        chart.vspan(s0, s1, Area("#e9c46a", 0.18), "longest stall", title=caption)
    chart.step([(0.0, 0.0), *zip(times, (float(t) for t in tops), strict=True)], end, Line(BLUE, 2.4),
               "finalised height", title=f"finalised height {tops[-1] if tops else 0} at the end")
    if heads:  # on top, thin and dashed: it runs a block or two above the finalised line
        chart.step([(0.0, 0.0), *heads], end, Line("#e76f51", 1.1, "3 3"), "head (highest proposed)",
                   title=f"head height {int(heads[-1][1])} at the end")
    return chart.render()


def drops_over_time(d: ReportData) -> str:
    """Drops per time bin, stacked by reason (the eight most common)."""
    drop_times, end = d.h.drop_times, d.spans.end
    width = max(1.0, end / 60)
    n_bins = max(1, math.ceil(end / width - 1e-9))
    reasons = sorted(drop_times, key=lambda r: (-len(drop_times[r]), r))[:8]
    bins = {r: [0] * n_bins for r in reasons}
    for r in reasons:
        for t in drop_times[r]:
            bins[r][min(n_bins - 1, max(0, int(t / width)))] += 1
    tallest = max((sum(bins[r][i] for r in reasons) for i in range(n_bins)), default=0)
    chart = Chart("drops over time", "Drops over time, by reason", x=time_range(d), y=(0, max(1.0, tallest * 1.08)),
                  height=150, ylabel=f"drops per {width:g} s", xlabel="virtual time (s)", y_int=True)
    shade(chart, d)
    below = [0] * n_bins
    for i, r in enumerate(reasons):
        style = Area(PALETTE[i % len(PALETTE)])
        chart.legend(r, style)
        for b, n in enumerate(bins[r]):
            if n:
                chart.rect((b + 0.06) * width, (b + 0.94) * width, below[b], below[b] + n, style,
                           title=f"{r}: {n} at {b * width:g} to {(b + 1) * width:g} s")
                below[b] += n
    return chart.render()


__all__ = ["BLUE", "GREY", "MARKS", "MAX_LINES", "RED", "balances", "block_tree", "drops_over_time", "envelope",
           "finalized_height", "longest_stall", "messages_sent", "pick_lines", "shade", "timeline"]
