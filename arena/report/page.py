"""The battle report page: one self-contained ``report.html`` per run directory, built from the run's files only.

Top to bottom: the story (one sentence per loss, as ``arena run`` prints it), the verdict with what was stolen and
the invariants, the plugins that faulted, a timeline of the attack's evidence with partitions and crashes shaded,
finalised height over time, every account's balance over time, the block tree with forks,
and message and drop counts. A partial run still gets a page; every section is built on its own, and one that fails
shows a note instead. No script and nothing from the network: the page can be mailed or archived as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.report.data import REPORT_NAME, load
from arena.report.sections import SECTIONS, e, note

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1250px;padding:0 18px 40px;
color:#222}
h1{margin:18px 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:34px}h3{margin:18px 0 6px}
.sub{color:#666;margin:0 0 10px}nav a{margin-right:14px}
.verdict{padding:14px 18px;border-radius:8px;font-size:1.3em;color:#fff;background:#777;margin:14px 0}
.verdict b{text-transform:uppercase;margin-right:12px}.verdict span{font-size:.8em}
.verdict.red_won{background:#c0392b}.verdict.blue_won{background:#1f5fa8}.verdict.unknown{background:#6c757d}
.verdict.faulted{background:#a0186e;background-image:repeating-linear-gradient(135deg,transparent 0 14px,
rgba(255,255,255,.08) 14px 28px)}
.big{font-size:1.15em}
table{border-collapse:collapse;margin:6px 0;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3}tr.bad td{background:#fde2e0}tr.ok td:nth-child(2){color:#1e7b34}tr.unk td{color:#666}
tr.red td{background:#fff3f1}tr.red td:nth-child(2),tr.red td:first-child{color:#a02818}
.note{color:#7a5b00;background:#fff8e1;border-left:4px solid #f0c000;padding:6px 10px;margin:8px 0}
img{max-width:100%;display:block;margin:8px 0}details{margin:8px 0}summary{cursor:pointer;color:#1f5fa8}
.summary{margin:10px 0}tr.attempt.succeeded td{background:#fde2e0}tr.attempt.succeeded td:nth-child(6){color:#a02818;
font-weight:bold}tr.attempt.failed td:nth-child(6){color:#1e7b34}tr.attempt.red td:nth-child(2){color:#a02818}
ol.losses li{margin:4px 0}.linked{color:#666;font-size:.9em}ul.broken li{color:#a02818}
.chart{margin:8px 0;overflow-x:auto}.chart svg{display:block;max-width:100%;height:auto}.chart.wide svg{max-width:none}
"""


def build_report(run_dir: Path, extra_dirs: Sequence[Path] = ()) -> str:
    """The report's HTML for ``run_dir`` (merged with ``extra_dirs``, other machines' directories of the same live
    battle); never raises (a section that fails says so in the page)."""
    run_dir = Path(run_dir)
    d = load(run_dir, extra_dirs)
    r, h = d.result, d.h.header
    title = str(r.get("scenario") or h.get("scenario") or run_dir.name)
    sub = [f"seed {r.get('seed', h.get('seed', '?'))}", f"{r.get('backend', h.get('backend', '?'))} backend",
           f"protocol {d.h.genesis.get('protocol', 'honest')}", f"{d.spans.end:g} virtual s"]
    if r.get("wall_seconds") is not None:
        sub.append(f"{r['wall_seconds']} wall s")
    if r.get("red_enabled") is False or h.get("red_enabled") is False:
        sub.append("baseline: red plugins off")
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)} — arena report"
             f"</title><style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p class=\"sub\">{e(' · '.join(sub))} · run <code>{e(run_dir)}</code></p>",
             "<nav>" + "".join(f'<a href="#{key}">{e(name)}</a>' for key, name, _ in SECTIONS) + "</nav>"]
    parts += [note(n) for n in d.notes]
    for key, name, fn in SECTIONS:
        try:
            body = fn(d)
        except Exception as exc:  # one broken section must not lose the others
            body = note(f"This section could not be drawn: {type(exc).__name__}: {exc}")
        parts.append(f'<section id="{key}"><h2>{e(name)}</h2>{body}</section>')
    sha = r.get("trace_sha256") or ""
    parts.append(f"<p class=\"sub\">trace: {e(h.get('level', '?'))} level, "
                 f"{sum(d.h.counts.values())} events, sha256 {e(sha)}</p></body></html>")
    return "\n".join(parts)


def write_report(run_dir: Path, extra_dirs: Sequence[Path] = ()) -> Path:
    """Build ``report.html`` beside ``result.json`` in ``run_dir`` and return its path."""
    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    path.write_text(build_report(run_dir, extra_dirs), encoding="utf-8")
    return path


__all__ = ["CSS", "REPORT_NAME", "build_report", "write_report"]
