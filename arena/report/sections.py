"""The report's sections, top to bottom: the story, verdict, plugin faults, timeline, finality, balances, blocks,
messages and drops.

Each section is a function of :class:`~arena.report.data.ReportData` returning HTML; the page builds each on its
own, so one that fails shows a note instead of losing the others.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from arena.referee.checkers import KIND_OF_CATEGORY
from arena.report import charts
from arena.report.data import REPORT_NAME, ReportData, as_int, as_num, natural_key, replay_balances

TABLE_LIMIT = 200


# ================================================ HTML bits ======================================================
def e(value: Any) -> str:
    return html.escape(str(value))


def table(head: list[str], rows_in: Iterable[Iterable[Any]], classes: list[str] | None = None,
          limit: int = TABLE_LIMIT) -> str:
    rows = list(rows_in)
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows[:limit]):
        cls = f' class="{classes[i]}"' if classes and i < len(classes) and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f'<p class="note">… {len(rows) - limit} more rows not shown.</p>')
    return "".join(out)


def note(text: str) -> str:
    return f'<p class="note">{e(text)}</p>'


def _red(team: str) -> str:
    return "red" if team == "red" else ""


# ================================================ story ==========================================================
def section_story(d: ReportData) -> str:
    """What happened, in sentences: the referee's summary, one sentence per loss (with the attempts linked to
    it), and the broken invariants. The same sentences as ``arena run`` prints."""
    v = d.verdict
    if v is None:
        return note("No verdict, so no story: " + ("the run did not finish." if not d.has_result
                                                   else "this protocol has no referee."))
    st = v.story
    out = [f'<p class="summary big">{e(st.summary or v.reason)}</p>']
    evidence = v.evidence
    if st.losses:
        out.append('<ol class="losses">')
        for lo in st.losses:
            by = [_attempt_label(d, evidence[i]) for i in lo.evidence if 0 <= i < len(evidence)]
            linked = f' <span class="linked">(linked attempt: {e("; ".join(by))})</span>' if by else \
                ' <span class="linked">(no red evidence names it)</span>'
            out.append(f'<li class="loss" data-category="{e(lo.category)}" data-amount="{e(lo.amount)}">'
                       f"{e(lo.sentence)}{linked}</li>")
        out.append("</ol>")
        if st.loss_count > len(st.losses):
            out.append(note(f"{st.loss_count - len(st.losses)} more losses are counted in the totals but not "
                            "listed."))
    if st.broken:
        out.append('<ul class="broken">' + "".join(f'<li class="invariant">{e(b)}</li>' for b in st.broken)
                   + "</ul>")
    return "".join(out)


def _attempt_label(d: ReportData, ev: dict[str, Any]) -> str:
    return f"{ev.get('plugin', '?')} on {d.node(ev.get('node'))} at {as_num(ev.get('t')):.1f} s"


# ================================================ verdict ========================================================
def section_verdict(d: ReportData) -> str:
    v, r = d.verdict, d.result
    out = []
    if v is None:
        why = "the run did not finish" if not d.has_result else \
            "this protocol has no referee" if not d.h.has_genesis else "the result has no verdict"
        out.append(f'<div class="verdict none"><b>no verdict</b> <span>{e(why)}</span></div>')
    else:
        out.append(f'<div class="verdict {e(v.verdict)}"><b>{e(v.verdict).replace("_", " ")}</b> '
                   f'<span>{e(v.reason)}</span></div>')
        kinds = ", ".join(f"{k} {n}" for k, n in v.stolen_by_category.items() if n) or "nothing"
        out.append(f'<p class="big">stolen: <b>{e(v.stolen)}</b> ({e(kinds)}) · honest loss: '
                   f'{e(v.honest_loss)} · evidence events: {e(v.evidence_total)}</p>')
        rows_k = [(c, KIND_OF_CATEGORY.get(c, ""), n) for c, n in v.stolen_by_category.items()]
        out.append(table(["loss", "check", "stolen"], rows_k, ["bad" if r[2] else "" for r in rows_k]))
        if v.invariants:
            rows: list[tuple[Any, ...]] = []
            classes: list[str] = []
            for name, inv in v.invariants.items():
                ok = inv.get("ok")
                status = "✔ holds" if ok is True else "✘ broken" if ok is False else "? unknown"
                rows.append((name, status, inv.get("detail", "")))
                classes.append("ok" if ok is True else "bad" if ok is False else "unk")
            out.append("<h3>Invariants</h3>" + table(["invariant", "status", "detail"], rows, classes))
    out.append("<h3>At a glance</h3>" + table(["fact", "value"], _facts(d)))
    base = r.get("baseline")
    if isinstance(base, dict) and base:
        cols = ("attacked", "baseline", "diff", "ratio")
        rows = [(k, *(m.get(col) if m.get(col) is not None else "-" for col in cols)) for k, m in base.items()
                if isinstance(m, dict)]
        has_page = (d.path / "baseline" / REPORT_NAME).is_file()
        link = f' (<a href="baseline/{REPORT_NAME}">its report</a>)' if has_page else ""
        out.append(f"<h3>Attack vs baseline (the same battle with the red plugins off{link})</h3>"
                   + table(["metric", *cols], rows))
    if v is not None and v.checks:
        rows = [(ch.name, ch.status, ch.detail) for ch in v.checks]
        classes = [{"valid": "ok", "invalid": "bad"}.get(ch.status, "unk") for ch in v.checks]
        out.append("<details><summary>Referee checks</summary>" + table(["check", "status", "detail"], rows,
                                                                          classes) + "</details>")
    return "".join(out)


def _facts(d: ReportData) -> list[tuple[str, Any]]:
    r, h = d.result, d.h
    rows: list[tuple[str, Any]] = []
    red = [f"{n} ({', '.join(h.plugins.get(n, [])) or 'no plugin'})" for n in d.red_nodes]
    rows.append(("red nodes", ", ".join(red) or "none"))
    blue_plugins = sorted({p for n, ps in h.plugins.items() if h.teams.get(n) == "blue" for p in ps})
    if blue_plugins:
        rows.append(("blue plugins", ", ".join(blue_plugins)))
    if h.sybils:
        rows.append(("Sybil identities", ", ".join(h.sybils.values())))
    if d.faults:
        rows.append(("plugin faults", f"{len(d.faults)} (the plugins were disabled: see Plugin faults)"))
    dur = d.spans.end
    applied = (d.canon or {}).get("applied")
    if isinstance(applied, int) and not d.chain:  # day 1: ledgers without blocks
        rows.append(("transfers applied (canonical ledger)", f"{applied} ({applied / dur:.2f} tx/s)" if dur
                     else applied))
    elif d.chain or "finalized_height" in r:
        txs = sum(len(b.get("txs") or []) for b in d.chain)
        fin = r.get("finalized_height", (d.canon or {}).get("finalized_height", len(d.chain)))
        rows.append(("finalised / head height", f"{fin} / {r.get('head_height', '?')}"))
        honest = (d.verdict.latency if d.verdict is not None else {}).get("count")
        if honest is not None:
            rows.append(("honest transfers finalised", f"{honest} ({honest / dur:.2f}/s)" if dur else honest))
        rows.append(("transactions in the finalised chain (any sender)", txs))
    lat = d.verdict.latency if d.verdict is not None else {}
    if lat.get("count"):
        rows.append(("finality latency p50 / p95 / max (s)",
                     " / ".join(f"{as_num(lat.get(k)):.2f}" for k in ("p50", "p95", "max"))))
    msgs = r.get("messages") or {}
    if msgs:
        rows.append(("packets sent / delivered / dropped", f"{msgs.get('sent')} / {msgs.get('delivered')} / "
                     f"{msgs.get('dropped')}"))
    if "validators_agree" in r:
        rows.append(("honest validators agree", r["validators_agree"]))
    if d.blocks:
        orphans = Counter(b["node"] for b in d.blocks.values() if b["status"] == "orphaned")
        rows.append(("blocks proposed / orphaned", f"{len(d.blocks)} / {sum(orphans.values())}" + (
            " (" + ", ".join(f"{n}: {k}" for n, k in sorted(orphans.items())) + ")" if orphans else "")))
    rows.append(("partitions / crashes", f"{len(d.spans.partitions)} / {len(d.spans.crashes)}"))
    return rows


# ================================================ plugin faults ==================================================
def section_faults(d: ReportData) -> str:
    """Every plugin the hook caller disabled: who, where in its own file, and why."""
    faults = d.faults
    if not faults:
        return note("No plugin faulted.") if d.h.has_trace or d.has_result else note("Plugin faults are unknown.")
    rows = [("" if f.get("t") is None else f"{as_num(f.get('t')):.2f}", f["node_name"] or d.node(f.get("node")),
             f["team"] or "?", f["plugin"], f["hook"], f["kind"], " → ".join(f["where"]) or "(not in the plugin's "
             "file)", f["error"]) for f in faults]
    intro = ("<p>A plugin that raised, returned or mutated something it must not, or went over its budget, was "
             "disabled on that node for the rest of the battle: the battle did not run as written, so it says "
             "nothing about the defense.</p>")
    return intro + table(["t (s)", "node", "team", "plugin", "hook", "kind", "file:line (outermost first)",
                          "error"], rows, ["bad"] * len(rows))


# ================================================ timeline =======================================================
def section_timeline(d: ReportData) -> str:
    h = d.h
    marks = d.of("evidence", "plugin", "plugin_fault", "equivocation", "withheld", "block_rejected")
    marks += [{**ev, "ev": "theft"} for ev in d.thefts]
    out = []
    if marks or d.spans.partitions or d.spans.crashes:
        out.append(charts.timeline(d, marks))
    else:
        out.append(note("No evidence, plugin event, partition or crash was recorded."))
    evidence = d.verdict.evidence if d.verdict is not None else list(h.attack_evidence)
    if evidence:
        out.append("<h3>Evidence: each attempt and what came of it</h3>" + evidence_table(d, evidence))
    else:
        red_plugins = [n for n in d.red_nodes if h.plugins.get(n)]
        why = "the red plugins never declared that their attack fired (node.evidence), so the referee cannot " \
            "call a winner." if red_plugins else "no red plugin ran." if h.has_genesis else "none on record."
        out.append(note("No evidence event: " + why))
    logs = d.of("plugin")
    if logs:
        rows = [(f"{as_num(ev.get('t')):.2f}", d.node(ev.get("node")), ev.get("plugin", ""), ev.get("event", ""),
                 ", ".join(f"{k}={v}" for k, v in ev.items() if k not in ("t", "ev", "node", "plugin", "event")))
                for ev in logs]
        out.append("<h3>Plugin log</h3>" + table(["t (s)", "node", "plugin", "event", "data"], rows))
    faults = [("partition", f"{s:.1f}", f"{t:.1f}", label) for s, t, label in d.spans.partitions]
    faults += [("crash", f"{s:.1f}", f"{t:.1f}", d.node(n)) for s, t, n in d.spans.crashes]
    if faults:
        out.append("<h3>Partitions and crashes</h3>" + table(["fault", "from (s)", "until (s)", "who"], faults))
    return "".join(out)


def evidence_table(d: ReportData, evidence: list[dict[str, Any]]) -> str:
    """One row per red evidence event: succeeded (a loss the referee counted is about what it names), failed, or
    unclear (losses of its kind happened, but it names nothing they are about), with the losses it is linked to."""
    story = d.verdict.story if d.verdict is not None else None
    outcome = {a.evidence: a for a in story.attempts} if story is not None else {}
    rows, classes = [], []
    for i, ev in enumerate(evidence):
        a = outcome.get(i)
        linked = [story.losses[j] for j in a.losses if 0 <= j < len(story.losses)] if a and story else []
        result = a.outcome if a is not None else "?"
        rows.append((f"{as_num(ev.get('t')):.2f}", d.node(ev.get("node")), ev.get("plugin", ""), ev.get("kind", ""),
                     ev.get("detail", ""), result,
                     ", ".join(f"#{story.losses.index(lo) + 1} ({lo.amount})" for lo in linked) if story else ""))
        classes.append(f"attempt {result}" + (" red" if d.team_of_node(ev.get("node")) != "blue" else ""))
    intro = ('<p>An attempt <b>succeeded</b> when it names a transaction, block or channel that a loss the referee '
             'counted is about (the # is the loss in "What happened"); <b>failed</b> when no such loss followed; '
             '<b>unclear</b> when losses of its kind happened but it names nothing they are about.</p>')
    counts = Counter(r[5] for r in rows)
    head = f'<p class="attempts">{e(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))}</p>' if rows else ""
    return intro + head + table(["t (s)", "node", "plugin", "kind", "detail", "outcome", "losses"], rows, classes)


# ================================================ finality =======================================================
def section_finality(d: ReportData) -> str:
    times, _ = d.h.finality_curve
    if not times and not d.blocks:
        return note("No honest validator finalised a block (no finalized event in the trace).")
    return f'<div id="chart-height">{charts.finalized_height(d)}</div>'


# ================================================ balances =======================================================
def _final_ledger(d: ReportData) -> str:
    ledger = (d.canon or {}).get("ledger") or {}
    if not ledger:
        return note("The canonical validator's ledger is empty.")
    h = d.h
    accts = sorted(ledger, key=lambda a: (h.red_side(a), natural_key(d.account(a))))
    start = d.genesis_balance()
    rows = [(d.account(a), "red" if h.red_side(a) else "blue", start.get(a, 0),
             as_int(ledger[a].get("balance")), as_int(ledger[a].get("balance")) - start.get(a, 0),
             as_int(ledger[a].get("nonce")), as_int(ledger[a].get("stake"))) for a in accts]
    return f"<p>Ledger of {e(d.canon.get('name') if d.canon else '?')} (canonical):</p>" + table(
        ["account", "team", "genesis", "final", "change", "nonce", "stake"], rows, [_red(str(r[1])) for r in rows])


def section_balances(d: ReportData) -> str:
    if not d.h.has_genesis:
        return note("No genesis event in the trace: this protocol has no accounts (or the trace is missing).")
    if d.canon is None:
        return note("No honest validator state (states/ is missing or empty): balances cannot be replayed.")
    if not d.chain:
        if d.canon.get("applied") is not None or str(d.h.genesis.get("mode")) == "none":
            return note("Day-1 mode (consensus none): there are no blocks to replay, so there is no balance "
                        "history; the final ledger is below.") + _final_ledger(d)
        return note("The canonical validator finalised no block: balances never changed.") + _final_ledger(d)
    series, notes = replay_balances(d)
    return charts.balances(d, series) + "".join(note(n) for n in notes) + \
        "<details><summary>Final canonical ledger</summary>" + _final_ledger(d) + "</details>"


# ================================================ blocks =========================================================
def section_blocks(d: ReportData) -> str:
    blocks, teams = d.blocks, d.h.teams
    if not blocks:
        if d.canon is not None and d.canon.get("applied") is not None:
            return note("Day-1 mode (consensus none): validators apply transfers on arrival; there are no blocks.")
        return note("No block on record (no propose event in the trace, no chain in the node states).")
    proposers = sorted({b["node"] for b in blocks.values()}, key=natural_key)
    out = [charts.block_tree(d, proposers)]
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for b in blocks.values():
        per[b["node"]][b["status"]] += 1
        per[b["node"]]["proposed"] += 1
    rows = [(n, teams.get(n, "?"), per[n]["proposed"], per[n]["canonical"], per[n]["orphaned"],
             per[n]["not finalised"]) for n in proposers]
    out.append("<h3>Blocks per proposer</h3>" + table(
        ["proposer", "team", "proposed", "canonical", "orphaned", "not finalised"], rows,
        [_red(str(r[1])) for r in rows]))
    forks = sorted(((h, b) for h, b in blocks.items() if b["status"] == "orphaned"), key=lambda hb: hb[1]["height"])
    if forks:
        out.append("<h3>Orphaned blocks</h3>" + table(
            ["height", "hash", "proposer", "parent", "proposed at (s)", "txs"],
            [(b["height"], h[:12], b["node"], b["parent"][:12], "" if b["t"] is None else f"{b['t']:.2f}", b["txs"])
             for h, b in forks]))
    if d.h.counts.get("equivocation"):
        out.append(note(f"{d.h.counts['equivocation']} equivocating votes were seen by honest validators."))
    return "".join(out)


# ================================================ messages =======================================================
def section_messages(d: ReportData) -> str:
    h, teams = d.h, d.h.teams
    out = []
    rows: list[tuple[Any, ...]]
    sent = {str(s["name"]): s["sent"] for s in h.all_states if isinstance(s.get("sent"), dict)}
    if sent:
        totals: Counter[str] = Counter()
        for counts in sent.values():
            totals.update({str(k): as_int(v) for k, v in counts.items()})
        every = [k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
        drawn = every if len(every) <= len(charts.PALETTE) else every[:len(charts.PALETTE) - 1]
        nodes = sorted(sent, key=natural_key)
        out.append(charts.messages_sent(d, sent, drawn, nodes))
        out.append("<h3>Messages sent, by type</h3>" + table(["message", "sent", "by red nodes"], [
            (k, totals[k], sum(as_int(sent[n].get(k)) for n in nodes if teams.get(n) == "red")) for k in every]))
        head = ["node", "team", *every, "total"]
        rows = [(n, teams.get(n, "?"), *(as_int(sent[n].get(k)) for k in every),
                 sum(as_int(v) for v in sent[n].values())) for n in nodes]
        out.append("<details><summary>Messages sent per node and type</summary>"
                   + table(head, rows, [_red(str(row[1])) for row in rows]) + "</details>")
    elif h.all_states:
        out.append(note("The node states carry no per-type message counters (no \"sent\" field in states/*.json)."))
    else:
        out.append(note("No node states: messages per type are unknown."))
    msgs = d.result.get("messages") or {}
    if msgs:
        out.append(f"<p>Network: {e(msgs.get('sent'))} packets sent, {e(msgs.get('delivered'))} delivered, "
                   f"{e(msgs.get('dropped'))} dropped, {e(msgs.get('bytes_sent'))} bytes.</p>")
    out.append("<h3>Drops</h3>")
    rows = []
    by_reason = msgs.get("dropped_by_reason") or dict(h.drops)
    rows += [("network", reason, "", n) for reason, n in sorted(by_reason.items())]
    per_node: Counter[tuple[str, str, str]] = Counter()
    for (index, why, kind), count in h.msg_drops.items():
        per_node[(d.node(index), why, kind)] += count
    rows += [(*key, count) for key, count in sorted(per_node.items())]
    # counts a node keeps without a trace event (e.g. plugin_out: a plugin dropped an outgoing message)
    traced: Counter[tuple[str, str]] = Counter()
    for (name, why, _), count in per_node.items():
        traced[(name, why)] += count
    for s in sorted(h.all_states, key=lambda s: natural_key(str(s.get("name")))):
        for reason, n in sorted((s.get("drops") or {}).items()):
            extra = as_int(n) - traced[(str(s["name"]), str(reason))]
            if extra > 0:
                rows.append((s["name"], reason, "(not traced)" if reason != "plugin_out" else "outgoing, by a plugin",
                             extra))
    if rows:
        out.append(table(["where", "reason", "message", "count"], rows,
                         [_red(teams.get(str(r[0]), "")) for r in rows]))
    elif msgs or h.has_trace:
        out.append(note("Nothing was dropped."))
    else:
        out.append(note("Drops are unknown (no result.json and no trace)."))
    if h.counts:
        out.append("<details><summary>Trace events by kind</summary>" + table(
            ["event", "count"], h.counts.most_common()) + "</details>")
    if h.drop_times:
        out.append(charts.drops_over_time(d))
    return "".join(out)


SECTIONS: list[tuple[str, str, Callable[[ReportData], str]]] = [
    ("story", "What happened", section_story),
    ("verdict", "Verdict", section_verdict),
    ("faults", "Plugin faults", section_faults),
    ("timeline", "Timeline", section_timeline),
    ("finality", "Finality", section_finality),
    ("balances", "Balances", section_balances),
    ("blocks", "Blocks and forks", section_blocks),
    ("messages", "Messages and drops", section_messages),
]

__all__ = ["SECTIONS", "e", "note", "table"]
