"""The battle report: one self-contained ``report.html`` per run directory, built from the run's files only.

It reads ``result.json``, ``trace.jsonl`` and ``states/`` (whatever of them is there: a partial run still gets a
report) and shows, top to bottom: the verdict with what was stolen and the invariants, a timeline of the attack's
evidence with partitions and crashes shaded, every account's balance over time (replayed from the canonical
finalised chain), the block tree with forks, and message and drop counts. Charts are PNGs (matplotlib, Agg) embedded
as base64: the page needs no network. Every section is built on its own; one that fails shows a note instead.
"""

from __future__ import annotations

import base64
import bisect
import html
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_NAME = "report.html"
#: Events the report keeps (everything else is only counted; ``drop`` and ``msg_drop`` are aggregated).
KEEP = frozenset({
    "genesis", "propose", "finalized", "evidence", "plugin", "plugin_fault", "partition", "heal", "crash", "restart",
    "identity", "equivocation", "block_rejected", "withheld", "delivery",
})
TABLE_LIMIT = 200
_PREFIX = re.compile(r'^\{"t":([-0-9.eE+]+),"ev":"([A-Za-z0-9_]+)"')
BLUE, RED, GREY = "#1f5fa8", "#c0392b", "#8a8a8a"
GENESIS_HASH = "0" * 64


# ================================================ loading ========================================================
@dataclass
class RunData:
    """What the run directory holds, read once; ``notes`` lists what was missing or unreadable."""

    path: Path
    result: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)  # network drops by reason (trace)
    drop_times: dict[str, list[float]] = field(default_factory=dict)  # reason -> times (network + node drops)
    msg_drops: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (node, reason, kind)
    genesis: dict[str, Any] = field(default_factory=dict)
    has_trace: bool = False
    has_result: bool = False
    last_t: float = 0.0
    notes: list[str] = field(default_factory=list)

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [ev for ev in self.events if ev.get("ev") in kinds]


def load(run_dir: Path) -> RunData:
    """Read what is there; never raises."""
    data = RunData(run_dir)
    res_path = run_dir / "result.json"
    if res_path.is_file():
        try:
            loaded = json.loads(res_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                data.result, data.has_result = loaded, True
        except (OSError, ValueError) as exc:
            data.notes.append(f"result.json is unreadable ({type(exc).__name__}: {exc})")
    else:
        data.notes.append("no result.json: the run did not finish")
    _load_trace(data, run_dir / "trace.jsonl")
    states_dir = run_dir / "states"
    if states_dir.is_dir():
        for p in sorted(states_dir.glob("*.json")):
            try:
                st = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data.notes.append(f"states/{p.name} is unreadable")
                continue
            if isinstance(st, dict) and isinstance(st.get("name"), str):
                data.states.append(st)
    elif data.genesis:
        data.notes.append("no states/ directory: final ledgers and chains are unknown")
    return data


def _load_trace(data: RunData, path: Path) -> None:
    if not path.is_file():
        data.notes.append("no trace.jsonl: nothing happened on record")
        return
    data.has_trace = True
    bad = 0
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
            try:
                header = json.loads(first) if first.strip() else {}
                data.header = header if isinstance(header, dict) else {}
            except ValueError:
                bad += 1
            for line in fh:
                m = _PREFIX.match(line)
                if m is None:
                    bad += bool(line.strip())
                    continue
                kind = m.group(2)
                data.counts[kind] += 1
                t = float(m.group(1))
                data.last_t = max(data.last_t, t)
                if kind not in KEEP and kind not in ("drop", "msg_drop"):
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if kind == "drop":
                    reason = str(ev.get("reason", "?"))
                    data.drops[reason] += 1
                    data.drop_times.setdefault(reason, []).append(t)
                elif kind == "msg_drop":
                    reason = str(ev.get("reason", "?"))
                    data.msg_drops[(_int(ev.get("node"), -1), reason, str(ev.get("kind", "")))] += 1
                    data.drop_times.setdefault(f"node: {reason}", []).append(t)
                elif kind == "genesis":
                    for key, value in ev.items():
                        if key not in ("t", "ev"):
                            data.genesis.setdefault(key, value)
                else:
                    data.events.append(ev)
    except OSError as exc:
        data.notes.append(f"trace.jsonl could not be read to the end ({exc})")
    if bad:
        data.notes.append(f"{bad} unreadable lines in trace.jsonl were skipped (cut short?)")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# ================================================ the cast =======================================================
class Cast:
    """Names and teams of nodes and accounts (genesis event, identity events, states)."""

    def __init__(self, data: RunData) -> None:
        g = data.genesis
        self.teams: dict[str, str] = {str(k): str(v) for k, v in (g.get("teams") or {}).items()}
        self.roles: dict[str, str] = {str(k): str(v) for k, v in (g.get("roles") or {}).items()}
        self.acct_name: dict[str, str] = {str(a): str(n) for n, a in (g.get("accounts") or {}).items()}
        self.index_name: dict[int, str] = {}
        for st in data.states:
            name = str(st.get("name"))
            self.teams.setdefault(name, str(st.get("team", "")))
            self.roles.setdefault(name, str(st.get("role", "")))
            if isinstance(st.get("index"), int):
                self.index_name[st["index"]] = name
            if isinstance(st.get("account"), str):
                self.acct_name.setdefault(st["account"], name)
        for name in list(self.roles):
            m = re.search(r"(\d+)$", name)
            if m:
                self.index_name.setdefault(int(m.group(1)), name)
        self.sybils: dict[str, str] = {}
        for ev in data.of("identity"):
            acct = str(ev.get("account", ""))
            if acct and acct not in self.acct_name:
                self.sybils[acct] = str(ev.get("name") or f"sybil {acct[:8]}")

    def node(self, index: Any) -> str:
        i = _int(index, -1)
        return self.index_name.get(i, f"node{i}" if i >= 0 else "?")

    def team_of_node(self, index: Any) -> str:
        return self.teams.get(self.node(index), "")

    def account(self, acct: str) -> str:
        return self.acct_name.get(acct) or self.sybils.get(acct) or f"{acct[:10]}…"

    def red_account(self, acct: str) -> bool:
        """A red node's account or one no node has (a Sybil): the referee's "red side"."""
        name = self.acct_name.get(acct)
        return name is None or self.teams.get(name) != "blue"

    @property
    def red_nodes(self) -> list[str]:
        return sorted((n for n, t in self.teams.items() if t == "red"), key=natural_key)


def account_names(run_dir: Path) -> dict[str, tuple[str, str]]:
    """account -> (name, team) from the genesis and identity events of a run (Sybils are "red"); never raises."""
    data = RunData(run_dir)
    try:
        _load_trace(data, run_dir / "trace.jsonl")
    except Exception:  # a summary helper must not fail a run
        return {}
    cast = Cast(data)
    out = {a: (n, cast.teams.get(n, "")) for a, n in cast.acct_name.items()}
    out.update({a: (n, "red") for a, n in cast.sybils.items()})
    return out


def natural_key(name: str) -> tuple[str, int]:
    """validator2 before validator10."""
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail else -1)


# ================================================ time spans =====================================================
@dataclass
class Spans:
    end: float
    partitions: list[tuple[float, float, str]] = field(default_factory=list)
    crashes: list[tuple[float, float, int]] = field(default_factory=list)
    settle: tuple[float, float] | None = None
    evidence: list[float] = field(default_factory=list)


def spans_of(data: RunData, cast: Cast) -> Spans:
    end = _num(data.genesis.get("duration"), 0.0) or _num(data.result.get("virtual_seconds"), 0.0) or data.last_t
    spans = Spans(max(end, data.last_t, 1e-9))
    open_part: tuple[float, str] | None = None
    crashed: dict[int, float] = {}
    for ev in sorted(data.of("partition", "heal", "crash", "restart"), key=lambda e: _num(e.get("t"))):
        t, kind = _num(ev.get("t")), ev.get("ev")
        if kind in ("partition", "heal") and open_part is not None:
            spans.partitions.append((open_part[0], t, open_part[1]))
            open_part = None
        if kind == "partition":
            groups = ev.get("groups") or []
            label = " | ".join(",".join(cast.node(i) for i in g) for g in groups if isinstance(g, list))
            open_part = (t, label)
        elif kind == "crash":
            crashed.setdefault(_int(ev.get("node"), -1), t)
        elif kind == "restart":
            node = _int(ev.get("node"), -1)
            if node in crashed:
                spans.crashes.append((crashed.pop(node), t, node))
    if open_part is not None:
        spans.partitions.append((open_part[0], spans.end, open_part[1]))
    spans.crashes.extend((t, spans.end, node) for node, t in crashed.items())
    settle = _num(data.genesis.get("settle"), 0.0)
    if settle > 0 and cast.red_nodes:
        spans.settle = (max(0.0, spans.end - settle), spans.end)
    spans.evidence = sorted({_num(ev.get("t")) for ev in data.of("evidence")
                             if cast.team_of_node(ev.get("node")) != "blue"})
    return spans


def _shade(ax: Any, spans: Spans, evidence: bool = False, crashes: bool = True) -> None:
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


# ================================================ charts =========================================================
def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _legend(ax: Any, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, label in zip(handles, labels, strict=False):
        seen.setdefault(label, h)
    if seen:
        ax.legend(list(seen.values()), list(seen.keys()), fontsize=8, **kw)


# ================================================ HTML bits ======================================================
def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(head: list[str], rows_in: Iterable[Iterable[Any]], classes: list[str] | None = None,
           limit: int = TABLE_LIMIT) -> str:
    rows = list(rows_in)
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows[:limit]):
        cls = f' class="{classes[i]}"' if classes and i < len(classes) and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f'<p class="note">… {len(rows) - limit} more rows not shown.</p>')
    return "".join(out)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


# ================================================ sections =======================================================
@dataclass
class Ctx:
    """Everything the sections share."""

    data: RunData
    cast: Cast
    spans: Spans
    canon: dict[str, Any] | None
    chain: list[dict[str, Any]]
    _blocks: dict[str, dict[str, Any]] | None = None

    @property
    def blocks(self) -> dict[str, dict[str, Any]]:
        """hash -> height, parent, proposer name, time, txs and status (canonical, orphaned, not finalised)."""
        if self._blocks is None:
            self._blocks = _block_map(self)
        return self._blocks


def _canonical(data: RunData, cast: Cast) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    from arena.referee.outcome import canonical_validator

    blue_vals = [s for s in data.states if s.get("role") == "validator" and s.get("team") == "blue"
                 and cast.teams.get(str(s.get("name")), "blue") == "blue" and "role" in s and "team" in s]
    if not blue_vals:
        return None, []
    stakes = {str(k): _int(v) for k, v in (data.genesis.get("stakes") or {}).items()}
    canon = canonical_validator(blue_vals, stakes)
    chain = canon.get("chain") if canon else None
    return canon, [b for b in chain if isinstance(b, dict)] if isinstance(chain, list) else []


def section_verdict(c: Ctx) -> str:
    r = c.data.result
    verdict = r.get("verdict")
    out = []
    if verdict is None:
        why = "the run did not finish" if not c.data.has_result else \
            "this protocol has no referee" if not c.data.genesis else "the result has no verdict"
        out.append(f'<div class="verdict none"><b>no verdict</b> <span>{_e(why)}</span></div>')
    else:
        out.append(f'<div class="verdict {_e(verdict)}"><b>{_e(verdict).replace("_", " ")}</b> '
                   f'<span>{_e(r.get("verdict_reason", ""))}</span></div>')
    if "stolen" in r:
        by_kind = r.get("stolen_by_kind") or {}
        kinds = ", ".join(f"{k} {v}" for k, v in by_kind.items() if v) or "nothing"
        out.append(f'<p class="big">stolen: <b>{_e(r.get("stolen", 0))}</b> ({_e(kinds)}) · honest loss: '
                   f'{_e(r.get("honest_loss", 0))} · evidence events: {_e(r.get("evidence_count", 0))}</p>')
        out.append(_table(["kind", "stolen"], [(k, v) for k, v in by_kind.items()],
                          ["bad" if v else "" for v in by_kind.values()]))
    inv = r.get("invariants") or {}
    if inv:
        rows: list[tuple[Any, ...]] = []
        classes: list[str] = []
        for name, v in inv.items():
            ok = v.get("ok") if isinstance(v, dict) else None
            status = "✔ holds" if ok is True else "✘ broken" if ok is False else "? unknown"
            rows.append((name, status, v.get("detail", "") if isinstance(v, dict) else v))
            classes.append("ok" if ok is True else "bad" if ok is False else "unk")
        out.append("<h3>Invariants</h3>" + _table(["invariant", "status", "detail"], rows, classes))
    out.append("<h3>At a glance</h3>" + _table(["fact", "value"], _facts(c)))
    base = r.get("baseline")
    if isinstance(base, dict) and base:
        cols = ("attacked", "baseline", "diff", "ratio")
        rows = [(k, *(v.get(col) if v.get(col) is not None else "-" for col in cols)) for k, v in base.items()
                if isinstance(v, dict)]
        has_page = (c.data.path / "baseline" / REPORT_NAME).is_file()
        link = f' (<a href="baseline/{REPORT_NAME}">its report</a>)' if has_page else ""
        out.append(f"<h3>Attack vs baseline (the same battle with the red plugins off{link})</h3>"
                   + _table(["metric", *cols], rows))
    checks = r.get("checks") or []
    if checks:
        rows = [(ch.get("name"), ch.get("status"), ch.get("detail")) for ch in checks if isinstance(ch, dict)]
        classes = [{"valid": "ok", "invalid": "bad"}.get(str(row[1]), "unk") for row in rows]
        out.append("<details><summary>Referee checks</summary>" + _table(["check", "status", "detail"], rows,
                                                                           classes) + "</details>")
    faults = r.get("plugin_faults") or [ev for ev in c.data.of("plugin_fault")]
    if faults:
        out.append("<h3>Plugin faults (the plugin was disabled on that node)</h3>" + _table(
            ["node", "plugin", "hook", "error"],
            [(c.cast.node(f.get("node")), f.get("plugin"), f.get("hook"), f.get("error")) for f in faults],
            ["bad"] * len(faults)))
    return "".join(out)


def _facts(c: Ctx) -> list[tuple[str, Any]]:
    r, d = c.data.result, c.data
    rows: list[tuple[str, Any]] = []
    plugins = d.genesis.get("plugins") or {}
    red = [f"{n} ({', '.join(plugins.get(n, [])) or 'no plugin'})" for n in c.cast.red_nodes]
    rows.append(("red nodes", ", ".join(red) or "none"))
    blue_plugins = sorted({p for n, ps in plugins.items() if c.cast.teams.get(n) == "blue" for p in ps})
    if blue_plugins:
        rows.append(("blue plugins", ", ".join(blue_plugins)))
    if c.cast.sybils:
        rows.append(("Sybil identities", ", ".join(c.cast.sybils.values())))
    applied = (c.canon or {}).get("applied")
    if isinstance(applied, int) and not c.chain:  # day 1: ledgers without blocks
        dur = c.spans.end
        rows.append(("transfers applied (canonical ledger)", f"{applied} ({applied / dur:.2f} tx/s)" if dur
                     else applied))
    elif c.chain or "finalized_height" in r:
        blocks = c.chain
        txs = sum(len(b.get("txs") or []) for b in blocks)
        dur = c.spans.end
        rows.append(("finalised height / head height", f"{r.get('finalized_height', len(blocks))} / "
                     f"{r.get('head_height', '?')}"))
        rows.append(("transactions finalised", f"{txs} ({txs / dur:.2f} tx/s)" if dur else txs))
    lat = r.get("latency") or {}
    if lat.get("count"):
        rows.append(("finality latency p50 / p95 / max (s)",
                     " / ".join(f"{_num(lat.get(k)):.2f}" for k in ("p50", "p95", "max"))))
    msgs = r.get("messages") or {}
    if msgs:
        rows.append(("packets sent / delivered / dropped", f"{msgs.get('sent')} / {msgs.get('delivered')} / "
                     f"{msgs.get('dropped')}"))
    if "validators_agree" in r:
        rows.append(("honest validators agree", r["validators_agree"]))
    if c.blocks:
        orphans = Counter(b["node"] for b in c.blocks.values() if b["status"] == "orphaned")
        rows.append(("blocks proposed / orphaned", f"{len(c.blocks)} / {sum(orphans.values())}" + (
            " (" + ", ".join(f"{n}: {k}" for n, k in sorted(orphans.items())) + ")" if orphans else "")))
    rows.append(("partitions / crashes", f"{len(c.spans.partitions)} / {len(c.spans.crashes)}"))
    return rows


def section_timeline(c: Ctx) -> str:
    d, cast = c.data, c.cast
    marks = d.of("evidence", "plugin", "plugin_fault", "equivocation", "withheld", "block_rejected")
    marks += [{**ev, "ev": "theft"} for ev in _thefts(c)]
    out = []
    rows_nodes = sorted({_int(ev.get("node"), -1) for ev in marks} | {n for _, _, n in c.spans.crashes})
    rows_nodes = [n for n in rows_nodes if n >= 0]
    if marks or c.spans.partitions or c.spans.crashes:
        fig = _figure(11, 1.2 + 0.35 * max(1, len(rows_nodes)))
        ax = fig.add_subplot()
        _shade(ax, c.spans, crashes=False)
        y = {n: i for i, n in enumerate(rows_nodes)}
        for i, (s, e, node) in enumerate(c.spans.crashes):
            ax.broken_barh([(s, e - s)], (y[node] - 0.3, 0.6), facecolors="#777777", alpha=0.6,
                           label="node down (crashed)" if i == 0 else None)
        style = {
            "evidence": ("*", RED, 140, "attack evidence"),
            "theft": ("D", "#6a040f", 60, "stolen, per the referee"),
            "plugin": ("o", "#7b2cbf", 30, "plugin log"),
            "plugin_fault": ("X", "black", 80, "plugin fault"),
            "equivocation": ("^", "#e76f51", 50, "equivocation seen"),
            "withheld": ("v", "#6c757d", 30, "block withheld"),
            "block_rejected": ("s", "#f4a261", 25, "block rejected"),
        }
        for kind, (marker, color, size, label) in style.items():
            pts = [(_num(ev.get("t")), y[_int(ev.get("node"))]) for ev in marks
                   if ev.get("ev") == kind and _int(ev.get("node"), -1) in y]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, c=color, s=size, label=label,
                           zorder=3)
        ax.set_yticks(range(len(rows_nodes)), [cast.node(n) for n in rows_nodes])
        for tick, n in zip(ax.get_yticklabels(), rows_nodes, strict=False):
            tick.set_color(RED if cast.team_of_node(n) == "red" else "black")
        ax.set_ylim(-0.7, max(0.7, len(rows_nodes) - 0.3))
        ax.set_xlabel("virtual time (s)")
        ax.set_title("Timeline: red evidence, plugin events, faults (partitions and crashes shaded)")
        _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        out.append(_png(fig, "timeline"))
    else:
        out.append(_note("No evidence, plugin event, partition or crash was recorded."))
    evidence = d.of("evidence") if d.has_trace else [ev for ev in d.result.get("evidence") or []
                                                    if isinstance(ev, dict)]
    if evidence:
        rows = [(f"{_num(ev.get('t')):.2f}", cast.node(ev.get("node")), ev.get("plugin", ""), ev.get("kind", ""),
                 ev.get("detail", "")) for ev in evidence]
        classes = ["red" if cast.team_of_node(ev.get("node")) != "blue" else "" for ev in evidence]
        out.append("<h3>Evidence</h3>" + _table(["t (s)", "node", "plugin", "kind", "detail"], rows, classes))
    else:
        red_plugins = [n for n in cast.red_nodes if (d.genesis.get("plugins") or {}).get(n)]
        why = "the red plugins never declared that their attack fired (node.evidence), so the referee cannot " \
            "call a winner." if red_plugins else "no red plugin ran." if d.genesis else "none on record."
        out.append(_note("No evidence event: " + why))
    logs = d.of("plugin")
    if logs:
        rows = [(f"{_num(ev.get('t')):.2f}", cast.node(ev.get("node")), ev.get("plugin", ""), ev.get("event", ""),
                 ", ".join(f"{k}={v}" for k, v in ev.items() if k not in ("t", "ev", "node", "plugin", "event")))
                for ev in logs]
        out.append("<h3>Plugin log</h3>" + _table(["t (s)", "node", "plugin", "event", "data"], rows))
    faults = [("partition", f"{s:.1f}", f"{e:.1f}", label) for s, e, label in c.spans.partitions]
    faults += [("crash", f"{s:.1f}", f"{e:.1f}", cast.node(n)) for s, e, n in c.spans.crashes]
    if faults:
        out.append("<h3>Partitions and crashes</h3>" + _table(["fault", "from (s)", "until (s)", "who"], faults))
    return "".join(out)


def _thefts(c: Ctx) -> list[dict[str, Any]]:
    """The referee's evidence of theft that has a time and a node (e.g. goods delivered on an unpaid payment)."""
    from arena.referee.checkers import STOLEN_KINDS

    out = []
    for ch in c.data.result.get("checks") or []:
        if isinstance(ch, dict) and ch.get("name") in STOLEN_KINDS and _int(ch.get("stolen")) > 0:
            out += [ev for ev in ch.get("evidence") or [] if isinstance(ev, dict) and "t" in ev and "node" in ev]
    return out


def replay_balances(c: Ctx) -> tuple[dict[str, list[tuple[float, int]]], list[str]]:
    """Each account's balance after each canonical block, timed at its finalisation; and notes on the replay."""
    g = c.data.genesis
    accounts = {str(n): str(a) for n, a in (g.get("accounts") or {}).items()}
    balances: dict[str, int] = {accounts[n]: _int(v) for n, v in (g.get("balances") or {}).items() if n in accounts}
    reward = _int(g.get("reward"))
    notes: list[str] = []
    fin_times = _finality_times(c)
    fin_heights = [h for _, h in fin_times]
    propose_t = {str(ev.get("hash")): _num(ev.get("t")) for ev in c.data.of("propose")}
    series: dict[str, list[tuple[float, int]]] = {a: [(0.0, b)] for a, b in balances.items()}
    untimed = 0
    other_kinds: Counter[int] = Counter()
    for block in sorted(c.chain, key=lambda b: _int(b.get("height"))):
        height = _int(block.get("height"))
        t = _first_at_least(fin_times, fin_heights, height)
        if t is None:
            t = propose_t.get(str(block.get("hash")))
            untimed += 1
        if t is None:
            t = c.spans.end
        proposer = str(block.get("proposer", ""))
        touched = {proposer}
        for tx in block.get("txs") or []:
            sender, receiver = str(tx.get("sender")), str(tx.get("receiver"))
            amount, fee, kind = _int(tx.get("amount")), _int(tx.get("fee")), _int(tx.get("kind"))
            balances[sender] = balances.get(sender, 0) - amount - fee
            balances[proposer] = balances.get(proposer, 0) + fee
            touched.add(sender)
            if kind == 0:
                balances[receiver] = balances.get(receiver, 0) + amount
                touched.add(receiver)
            elif kind != 1:
                other_kinds[kind] += 1
        balances[proposer] = balances.get(proposer, 0) + reward
        for acct in touched:
            series.setdefault(acct, [(0.0, 0)]).append((t, balances[acct]))
    if untimed:
        notes.append(f"{untimed} canonical blocks have no recorded finalisation; they are placed at their proposal")
    if other_kinds:
        notes.append(f"{sum(other_kinds.values())} channel or slashing transactions are not replayed (their "
                     "payouts are not in the block data): balances of those accounts are approximate")
    ledger = (c.canon or {}).get("ledger") or {}
    off = [a for a, row in ledger.items() if isinstance(row, dict) and _int(row.get("balance")) != balances.get(a, 0)]
    if off and not other_kinds:
        notes.append(f"the replay differs from the canonical final ledger for {len(off)} accounts: "
                     + ", ".join(c.cast.account(a) for a in off[:8]))
    return series, notes


def _finality_times(c: Ctx) -> list[tuple[float, int]]:
    """(time, height) of each new highest height finalised by a blue validator (any node when teams are unknown)."""
    out: list[tuple[float, int]] = []
    evs = [ev for ev in c.data.of("finalized") if c.cast.team_of_node(ev.get("node")) in ("blue", "")]
    for ev in sorted(evs, key=lambda e: _num(e.get("t"))):
        h = _int(ev.get("height"))
        if not out or h > out[-1][1]:
            out.append((_num(ev.get("t")), h))
    return out


def _first_at_least(curve: list[tuple[float, int]], heights: list[int], height: int) -> float | None:
    """When the finalised height first reached ``height`` (``heights``: the curve's, increasing)."""
    i = bisect.bisect_left(heights, height)
    return curve[i][0] if i < len(curve) else None


def section_balances(c: Ctx) -> str:
    d, cast = c.data, c.cast
    if not d.genesis:
        return _note("No genesis event in the trace: this protocol has no accounts (or the trace is missing).")
    if c.canon is None:
        return _note("No honest validator state (states/ is missing or empty): balances cannot be replayed.")
    if not c.chain:
        if c.canon.get("applied") is not None or str(d.genesis.get("mode")) == "none":
            return _note("Day-1 mode (consensus none): there are no blocks to replay, so there is no balance "
                         "history; the final ledger is below.") + _final_ledger(c)
        return _note("The canonical validator finalised no block: balances never changed.") + _final_ledger(c)
    series, notes = replay_balances(c)
    end = c.spans.end
    fig = _figure(11, 7.5)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    _shade(ax, c.spans, evidence=True)
    _shade(ax2, c.spans, evidence=True)
    blues = ["#1f5fa8", "#2e86de", "#48a9e6", "#0b3d91", "#5d8aa8", "#3a6ea5", "#6fa8dc", "#1c7293"]
    reds = ["#c0392b", "#e67e22", "#8e1b10", "#d35400", "#ff6f61"]
    styles = {"validator": ":", "merchant": "--"}
    order = sorted(series, key=lambda a: (cast.red_account(a), natural_key(cast.account(a))))
    nb = nr = 0
    for acct in order:
        pts = series[acct]
        red = cast.red_account(acct)
        name = cast.account(acct)
        role = cast.roles.get(name, "sybil" if red else "")
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
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if len(series) <= 22 else 2)
    # the red side's wealth: its balances, plus the goods blue merchants delivered to it
    red_accts = [a for a in series if cast.red_account(a)]
    if red_accts:
        goods = [(_num(ev.get("t")), _int(ev.get("value"))) for ev in d.of("delivery")
                 if cast.roles.get(cast.node(ev.get("node"))) == "merchant"
                 and cast.team_of_node(ev.get("node")) == "blue" and cast.red_account(str(ev.get("buyer")))]
        times, total, wealth = _red_side(series, red_accts, goods)
        ax2.step([*times, end], [*total, total[-1]], where="post", color=RED, lw=1.8, label="red side balances")
        if goods:
            ax2.step([*times, end], [*wealth, wealth[-1]], where="post", color="#7b2cbf", lw=1.8,
                     label="red balances + goods delivered to red")
        ax2.axhline(total[0], color=GREY, ls="--", lw=0.8, label="red side at genesis")
        ax2.set_ylabel("red side (tokens)")
        _legend(ax2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax2.text(0.5, 0.5, "no red account", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("virtual time (s)")
    out = _png(fig, "balances over time")
    return out + "".join(_note(n) for n in notes) + "<details><summary>Final canonical ledger</summary>" + \
        _final_ledger(c) + "</details>"


def _red_side(series: dict[str, list[tuple[float, int]]], accts: list[str], goods: list[tuple[float, int]]
              ) -> tuple[list[float], list[int], list[int]]:
    """Times, the red side's total balance, and that total plus the value of goods delivered to it (one sweep)."""
    changes: list[tuple[float, int, str, int]] = []  # (time, order, account or "", new balance or goods value)
    for a in accts:
        changes += [(t, 0, a, v) for t, v in series[a][1:]]
    changes += [(t, 1, "", v) for t, v in goods]
    now = {a: series[a][0][1] for a in accts}
    times, total, wealth = [0.0], [sum(now.values())], [sum(now.values())]
    received = 0
    for t, _, a, v in sorted(changes):
        if a:
            now[a] = v
        else:
            received += v
        bal = sum(now.values())
        if times[-1] == t:
            total[-1], wealth[-1] = bal, bal + received
        else:
            times.append(t)
            total.append(bal)
            wealth.append(bal + received)
    return times, total, wealth


def _final_ledger(c: Ctx) -> str:
    ledger = (c.canon or {}).get("ledger") or {}
    if not ledger:
        return _note("The canonical validator's ledger is empty.")
    accts = sorted(ledger, key=lambda a: (c.cast.red_account(a), natural_key(c.cast.account(a))))
    g = c.data.genesis
    start = {str(a): _int((g.get("balances") or {}).get(n)) for n, a in (g.get("accounts") or {}).items()}
    rows = [(c.cast.account(a), "red" if c.cast.red_account(a) else "blue", start.get(a, 0),
             _int(ledger[a].get("balance")), _int(ledger[a].get("balance")) - start.get(a, 0),
             _int(ledger[a].get("nonce")), _int(ledger[a].get("stake"))) for a in accts]
    return f"<p>Ledger of {_e(c.canon.get('name') if c.canon else '?')} (canonical):</p>" + _table(
        ["account", "team", "genesis", "final", "change", "nonce", "stake"], rows,
        ["red" if r[1] == "red" else "" for r in rows])


def _block_map(c: Ctx) -> dict[str, dict[str, Any]]:
    d, cast = c.data, c.cast
    blocks: dict[str, dict[str, Any]] = {}
    for ev in d.of("propose"):
        h = str(ev.get("hash", ""))
        if h and h not in blocks:
            blocks[h] = {"height": _int(ev.get("height")), "parent": str(ev.get("parent", "")),
                         "node": cast.node(ev.get("node")), "t": _num(ev.get("t")), "txs": _int(ev.get("txs"))}
    prev = GENESIS_HASH
    for b in c.chain:
        h = str(b.get("hash", ""))
        if h and h not in blocks:
            blocks[h] = {"height": _int(b.get("height")), "parent": prev, "node": cast.account(str(b.get("proposer"))),
                         "t": None, "txs": len(b.get("txs") or [])}
        prev = h
    canon_set = {str(b.get("hash")) for b in c.chain}
    fin_height = _int((c.canon or {}).get("finalized_height"), len(c.chain))
    for h, b in blocks.items():
        if c.canon is None:
            b["status"] = "unknown"
        elif h in canon_set:
            b["status"] = "canonical"
        elif b["height"] > fin_height:
            b["status"] = "not finalised"
        else:
            b["status"] = "orphaned"
    return blocks


def section_blocks(c: Ctx) -> str:
    d, cast, blocks = c.data, c.cast, c.blocks
    if not blocks:
        if c.canon is not None and c.canon.get("applied") is not None:
            return _note("Day-1 mode (consensus none): validators apply transfers on arrival; there are no blocks.")
        return _note("No block on record (no propose event in the trace, no chain in the node states).")
    proposers = sorted({b["node"] for b in blocks.values()}, key=natural_key)
    y = {n: i for i, n in enumerate(proposers)}
    max_h = max(b["height"] for b in blocks.values())
    fig = _figure(min(22.0, max(9.0, max_h / 8)), 1.6 + 0.45 * len(proposers))
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
            kw = {**kw, "c": [RED if cast.teams.get(b["node"]) == "red" else BLUE for b in pts]}
        ax.scatter([b["height"] for b in pts], [y[b["node"]] for b in pts], zorder=3, **kw)
    ax.set_yticks(range(len(proposers)), proposers)
    for tick, n in zip(ax.get_yticklabels(), proposers, strict=False):
        tick.set_color(RED if cast.teams.get(n) == "red" else "black")
    ax.set_ylim(-0.6, len(proposers) - 0.4)
    ax.set_xlabel("block height")
    ax.set_ylabel("proposer")
    n_orphan = sum(1 for b in blocks.values() if b["status"] == "orphaned")
    ax.set_title(f"Block tree: {len(blocks)} blocks, {n_orphan} orphaned; lines join each block to its parent "
                 "(blue: canonical chain, red dashed: forks)")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    out = [_png(fig, "block tree")]
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for b in blocks.values():
        per[b["node"]][b["status"]] += 1
        per[b["node"]]["proposed"] += 1
    rows = [(n, cast.teams.get(n, "?"), per[n]["proposed"], per[n]["canonical"], per[n]["orphaned"],
             per[n]["not finalised"]) for n in proposers]
    out.append("<h3>Blocks per proposer</h3>" + _table(
        ["proposer", "team", "proposed", "canonical", "orphaned", "not finalised"], rows,
        ["red" if r[1] == "red" else "" for r in rows]))
    forks = sorted(((h, b) for h, b in blocks.items() if b["status"] == "orphaned"), key=lambda hb: hb[1]["height"])
    if forks:
        out.append("<h3>Orphaned blocks</h3>" + _table(
            ["height", "hash", "proposer", "parent", "proposed at (s)", "txs"],
            [(b["height"], h[:12], b["node"], b["parent"][:12], "" if b["t"] is None else f"{b['t']:.2f}", b["txs"])
             for h, b in forks]))
    if d.counts.get("equivocation"):
        out.append(_note(f"{d.counts['equivocation']} equivocating votes were seen by honest validators."))
    return "".join(out)


def section_messages(c: Ctx) -> str:
    d, cast = c.data, c.cast
    out = []
    rows: list[tuple[Any, ...]]
    sent = {str(s["name"]): s["sent"] for s in d.states if isinstance(s.get("sent"), dict)}
    if sent:
        totals: Counter[str] = Counter()
        for counts in sent.values():
            totals.update({str(k): _int(v) for k, v in counts.items()})
        types = [k for k, _ in totals.most_common(9)]
        nodes = sorted(sent, key=natural_key)
        fig = _figure(11, 1.2 + 0.32 * len(nodes))
        ax = fig.add_subplot()
        left = [0] * len(nodes)
        palette = ["#1f5fa8", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#7b2cbf", "#6c757d", "#48a9e6", "#8ab17d",
                   "#bbbbbb"]
        for i, kind in enumerate([*types, "other"]):
            vals = [(_int(sent[n].get(kind)) if kind != "other" else
                     sum(_int(v) for k, v in sent[n].items() if k not in types)) for n in nodes]
            if any(vals):
                ax.barh(range(len(nodes)), vals, left=left, color=palette[i % len(palette)], label=kind)
                left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.set_yticks(range(len(nodes)), nodes)
        for tick, n in zip(ax.get_yticklabels(), nodes, strict=False):
            tick.set_color(RED if cast.teams.get(n) == "red" else "black")
        ax.invert_yaxis()
        ax.set_xlabel("messages sent")
        ax.set_title("Messages sent per node, by type (red nodes' names in red)")
        _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        out.append(_png(fig, "messages sent"))
        head = ["node", "team", *types, "total"]
        rows = [(n, cast.teams.get(n, "?"), *(_int(sent[n].get(k)) for k in types),
                 sum(_int(v) for v in sent[n].values())) for n in nodes]
        out.append(_table(head, rows, ["red" if row[1] == "red" else "" for row in rows]))
    elif d.states:
        out.append(_note("The node states carry no per-type message counters (no \"sent\" field in states/*.json)."))
    else:
        out.append(_note("No node states: messages per type are unknown."))
    msgs = d.result.get("messages") or {}
    if msgs:
        out.append(f"<p>Network: {_e(msgs.get('sent'))} packets sent, {_e(msgs.get('delivered'))} delivered, "
                   f"{_e(msgs.get('dropped'))} dropped, {_e(msgs.get('bytes_sent'))} bytes.</p>")
    out.append("<h3>Drops</h3>")
    rows = []
    by_reason = msgs.get("dropped_by_reason") or dict(d.drops)
    rows += [("network", reason, "", n) for reason, n in sorted(by_reason.items())]
    per_node: Counter[tuple[str, str, str]] = Counter()
    for (index, why, kind), count in d.msg_drops.items():
        per_node[(cast.node(index), why, kind)] += count
    rows += [(*key, count) for key, count in sorted(per_node.items())]
    # counts a node keeps without a trace event (e.g. plugin_out: a plugin dropped an outgoing message)
    traced: Counter[tuple[str, str]] = Counter()
    for (name, why, _), count in per_node.items():
        traced[(name, why)] += count
    for s in sorted(d.states, key=lambda s: natural_key(str(s.get("name")))):
        for reason, n in sorted((s.get("drops") or {}).items()):
            extra = _int(n) - traced[(str(s["name"]), str(reason))]
            if extra > 0:
                rows.append((s["name"], reason, "(not traced)" if reason != "plugin_out" else "outgoing, by a plugin",
                             extra))
    if rows:
        out.append(_table(["where", "reason", "message", "count"], rows,
                          ["red" if cast.teams.get(str(r[0])) == "red" else "" for r in rows]))
    elif msgs or d.has_trace:
        out.append(_note("Nothing was dropped."))
    else:
        out.append(_note("Drops are unknown (no result.json and no trace)."))
    if d.counts:
        out.append("<details><summary>Trace events by kind</summary>" + _table(
            ["event", "count"], d.counts.most_common()) + "</details>")
    if d.drop_times:
        fig = _figure(11, 2.6)
        ax = fig.add_subplot()
        _shade(ax, c.spans)
        width = max(1.0, c.spans.end / 60)
        bins = [i * width for i in range(int(c.spans.end / width) + 2)]
        reasons = sorted(d.drop_times, key=lambda r: -len(d.drop_times[r]))[:8]
        ax.hist([d.drop_times[r] for r in reasons], bins=bins, stacked=True, label=reasons)
        ax.set_xlabel("virtual time (s)")
        ax.set_ylabel(f"drops per {width:g} s")
        ax.set_title("Drops over time, by reason")
        _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        out.append(_png(fig, "drops over time"))
    return "".join(out)


SECTIONS: list[tuple[str, str, Callable[[Ctx], str]]] = [
    ("verdict", "Verdict", section_verdict),
    ("timeline", "Timeline", section_timeline),
    ("balances", "Balances", section_balances),
    ("blocks", "Blocks and forks", section_blocks),
    ("messages", "Messages and drops", section_messages),
]


# ================================================ the page =======================================================
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1250px;padding:0 18px 40px;
color:#222}
h1{margin:18px 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:34px}h3{margin:18px 0 6px}
.sub{color:#666;margin:0 0 10px}nav a{margin-right:14px}
.verdict{padding:14px 18px;border-radius:8px;font-size:1.3em;color:#fff;background:#777;margin:14px 0}
.verdict b{text-transform:uppercase;margin-right:12px}.verdict span{font-size:.8em}
.verdict.red_won{background:#c0392b}.verdict.blue_won{background:#1f5fa8}.verdict.unknown{background:#6c757d}
.big{font-size:1.15em}
table{border-collapse:collapse;margin:6px 0;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3}tr.bad td{background:#fde2e0}tr.ok td:nth-child(2){color:#1e7b34}tr.unk td{color:#666}
tr.red td{background:#fff3f1}tr.red td:nth-child(2),tr.red td:first-child{color:#a02818}
.note{color:#7a5b00;background:#fff8e1;border-left:4px solid #f0c000;padding:6px 10px;margin:8px 0}
img{max-width:100%;display:block;margin:8px 0}details{margin:8px 0}summary{cursor:pointer;color:#1f5fa8}
"""


def build_report(run_dir: Path) -> str:
    """The report's HTML for ``run_dir``; never raises (a section that fails says so in the page)."""
    data = load(run_dir)
    if not data.has_result and data.has_trace:
        try:
            from arena.referee.checkers import judge_run_dir

            data.result.update(judge_run_dir(run_dir).as_result())
            data.notes.append("the verdict was recomputed by the referee from the files present")
        except Exception as exc:  # the report shows what it can
            data.notes.append(f"the referee could not judge the partial run ({type(exc).__name__}: {exc})")
    cast = Cast(data)
    try:
        canon, chain = _canonical(data, cast)
    except Exception as exc:
        canon, chain = None, []
        data.notes.append(f"the canonical chain could not be chosen ({type(exc).__name__}: {exc})")
    ctx = Ctx(data, cast, spans_of(data, cast), canon, chain)
    r, h = data.result, data.header
    title = str(r.get("scenario") or h.get("scenario") or run_dir.name)
    sub = [f"seed {r.get('seed', h.get('seed', '?'))}", f"{r.get('backend', h.get('backend', '?'))} backend",
           f"{ctx.spans.end:g} virtual s"]
    if r.get("wall_seconds") is not None:
        sub.append(f"{r['wall_seconds']} wall s")
    if r.get("red_enabled") is False or h.get("red_enabled") is False:
        sub.append("baseline: red plugins off")
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)} — arena report"
             f"</title><style>{CSS}</style></head><body>", f"<h1>{_e(title)}</h1>",
             f"<p class=\"sub\">{_e(' · '.join(sub))} · run <code>{_e(run_dir)}</code></p>",
             "<nav>" + "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name, _ in SECTIONS) + "</nav>"]
    parts += [_note(n) for n in data.notes]
    for key, name, fn in SECTIONS:
        try:
            body = fn(ctx)
        except Exception as exc:  # one broken section must not lose the others
            body = _note(f"This section could not be drawn: {type(exc).__name__}: {exc}")
        parts.append(f'<section id="{key}"><h2>{_e(name)}</h2>{body}</section>')
    sha = r.get("trace_sha256") or ""
    parts.append(f"<p class=\"sub\">trace: {_e(h.get('level', '?'))} level, "
                 f"{sum(data.counts.values())} events, sha256 {_e(sha)}</p></body></html>")
    return "\n".join(parts)


def write_report(run_dir: Path) -> Path:
    """Build ``report.html`` beside ``result.json`` in ``run_dir`` and return its path."""
    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    path.write_text(build_report(run_dir), encoding="utf-8")
    return path


__all__ = ["REPORT_NAME", "account_names", "build_report", "load", "natural_key", "write_report"]
