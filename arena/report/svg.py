"""A small SVG plotting kit for the report: axes, ticks, legends and marks in plain Python, with no dependency.

A :class:`Chart` is one plot box with a numeric x axis and either a numeric y axis or one row per category (node,
proposer); the charts of :mod:`arena.report.charts` draw on it in data coordinates and :meth:`Chart.render` returns
an inline ``<svg>`` (no script, no external reference). Every string that reaches the SVG goes through :func:`esc`
(the run directory's strings come from red plugins too), and every number is written with at most one decimal, so
the same run gives the same bytes.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
CHAR_W = 7.2  # about one character's width at 12 px, to size margins without font metrics
LEGEND_W = 260  # the legend column on the right of every chart
LEGEND_ROW = 16
LEGEND_MAX = 40  # legend entries shown; the rest are counted
LABEL_MAX = 28  # characters of a row label (node name); the full name is its tooltip
TITLE_MAX = 400  # characters of a tooltip


def esc(value: object) -> str:
    """Text or an attribute value for SVG/HTML: ``&``, ``<``, ``>`` and both quotes escaped."""
    return html.escape(str(value), quote=True)


def fmt(x: float) -> str:
    """A coordinate: one decimal at most, no trailing ``.0``, no ``-0``."""
    s = f"{x:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, with an ellipsis when cut."""
    return text if len(text) <= n else text[: max(1, n - 1)] + "…"


def nice_ticks(lo: float, hi: float, n: int = 6) -> tuple[list[float], float]:
    """Round tick values covering ``lo..hi`` (about ``n`` of them) and the step between them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0], 1.0
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * 0.999)
    k = math.ceil(lo / step - 1e-9)
    ticks: list[float] = []
    while k * step <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(k * step, 10))
        k += 1
    return ticks, step


def tick_label(value: float, step: float) -> str:
    """A tick's label with as many decimals as the step needs (thousands separated)."""
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    text = f"{value:,.{decimals}f}"
    return "0" if text.lstrip("-").strip("0.,") == "" else text


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


# ================================================ styles =========================================================
@dataclass(frozen=True)
class Line:
    """A stroke: colour, width (px), dash pattern (SVG ``stroke-dasharray``, "" for solid) and opacity."""

    color: str
    width: float = 1.0
    dash: str = ""
    opacity: float = 1.0

    def attrs(self) -> str:
        out = f'fill="none" stroke="{self.color}" stroke-width="{self.width:g}"'
        if self.dash:
            out += f' stroke-dasharray="{self.dash}"'
        if self.opacity < 1:
            out += f' stroke-opacity="{self.opacity:g}"'
        return out


@dataclass(frozen=True)
class Mark:
    """A marker: ``shape`` (circle, square, diamond, triangle, triangle_down, star, cross), colour and radius (px);
    ``hollow`` draws the outline only."""

    shape: str
    color: str
    size: float = 3.5
    hollow: bool = False

    def attrs(self) -> str:
        if self.shape == "cross":
            return f'fill="none" stroke="{self.color}" stroke-width="{max(1.5, self.size * 0.55):.1f}"'
        if self.hollow:
            return f'fill="#ffffff" stroke="{self.color}" stroke-width="1.2"'
        return f'fill="{self.color}" stroke="#ffffff" stroke-width="0.5"'

    def path(self, x: float, y: float) -> str:
        """The marker's path data centred on pixel (x, y)."""
        r = self.size
        if self.shape == "square":
            return f"M{fmt(x - r)} {fmt(y - r)}h{fmt(2 * r)}v{fmt(2 * r)}h{fmt(-2 * r)}z"
        if self.shape == "diamond":
            return f"M{fmt(x)} {fmt(y - r)}l{fmt(r)} {fmt(r)}l{fmt(-r)} {fmt(r)}l{fmt(-r)} {fmt(-r)}z"
        if self.shape in ("triangle", "triangle_down"):
            s = 1 if self.shape == "triangle" else -1
            return (f"M{fmt(x)} {fmt(y - s * r)}L{fmt(x + r)} {fmt(y + s * 0.8 * r)}"
                    f"L{fmt(x - r)} {fmt(y + s * 0.8 * r)}z")
        if self.shape == "star":
            pts = []
            for i in range(10):
                a = math.pi / 2 + i * math.pi / 5
                rr = r if i % 2 == 0 else r * 0.45
                pts.append(f"{fmt(x + rr * math.cos(a))} {fmt(y - rr * math.sin(a))}")
            return "M" + "L".join(pts) + "z"
        if self.shape == "cross":
            return (f"M{fmt(x - r)} {fmt(y - r)}L{fmt(x + r)} {fmt(y + r)}"
                    f"M{fmt(x - r)} {fmt(y + r)}L{fmt(x + r)} {fmt(y - r)}")
        # circle, as a path so that every mark is one element kind
        return f"M{fmt(x - r)} {fmt(y)}a{fmt(r)} {fmt(r)} 0 1 0 {fmt(2 * r)} 0a{fmt(r)} {fmt(r)} 0 1 0 {fmt(-2 * r)} 0z"


@dataclass(frozen=True)
class Area:
    """A filled region: colour, opacity, and ``hatch`` (diagonal lines instead of a fill)."""

    color: str
    opacity: float = 1.0
    hatch: bool = False


Swatch = Line | Mark | Area


# ================================================ the chart ======================================================
class Chart:
    """One plot box: x is numeric (``x``: its range), y either numeric (``y``: its range, ``height``: the box's
    height in px) or one row per name of ``rows`` (first at the top; ``row_colors`` colour their labels); ``label``
    names the chart (its ``aria-label``), ``title`` and ``caption`` head it. Draw in data coordinates (a row's y is
    its index), then :meth:`render`."""

    def __init__(self, label: str, title: str, *, x: tuple[float, float], y: tuple[float, float] | None = None,
                 rows: Sequence[str] | None = None, row_colors: Sequence[str] | None = None, width: float = 1100,
                 height: float = 300, row_height: float = 24, xlabel: str = "", ylabel: str = "",
                 y_int: bool = False, caption: str = "") -> None:
        self.label, self.title, self.xlabel, self.ylabel, self.caption = label, title, xlabel, ylabel, caption
        self.rows = list(rows) if rows is not None else None
        self.row_colors = list(row_colors or [])
        self.width = width
        self.x0, self.x1 = x if x[1] > x[0] else (x[0], x[0] + 1.0)
        self.xticks, self.xstep = nice_ticks(self.x0, self.x1, max(3, int((width - LEGEND_W) / 110)))
        self.xticks = [t for t in self.xticks if self.x0 <= t <= self.x1]
        if self.rows is not None:
            self.y0, self.y1 = -0.5, max(1, len(self.rows)) - 0.5
            self.yticks: list[float] = []
            self.ystep = 1.0
            longest = max((len(clip(r, LABEL_MAX)) for r in self.rows), default=4)
            left = 14 + CHAR_W * longest
            plot_h = row_height * max(1, len(self.rows))
        else:
            lo, hi = y or (0.0, 1.0)
            hi = hi if hi > lo else lo + 1.0
            self.yticks, self.ystep = nice_ticks(lo, hi, max(3, int(height / 45)))
            if y_int and self.ystep < 1:  # counts: whole numbers only
                self.yticks, self.ystep = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1)], 1.0
            self.y0, self.y1 = lo, hi
            self.yticks = [t for t in self.yticks if lo <= t <= hi]
            longest = max((len(tick_label(t, self.ystep)) for t in self.yticks), default=1)
            left = 14 + CHAR_W * longest + (18 if ylabel else 0)
            plot_h = height
        self.left = max(48.0, left)
        self.top = 46.0 if caption else 30.0
        self.right = width - LEGEND_W - 10
        self.bottom = self.top + plot_h
        self.parts: list[str] = []
        self.legend_entries: list[tuple[str, Swatch]] = []
        self._hatch = f"hatch-{slug(label)}"
        self._uses_hatch = False

    # -- coordinates ----------------------------------------------------------------------------------------------
    def sx(self, x: float) -> float:
        px = self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
        return min(max(px, self.left - 1), self.right + 1) if math.isfinite(px) else self.left

    def sy(self, y: float) -> float:
        if self.rows is not None:  # row i's centre; row 0 at the top
            span = self.bottom - self.top
            return self.top + (y + 0.5) / max(1, len(self.rows)) * span
        py = self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
        return min(max(py, self.top - 1), self.bottom + 1) if math.isfinite(py) else self.bottom

    # -- the legend ------------------------------------------------------------------------------------------------
    def legend(self, label: str, swatch: Swatch) -> None:
        """Add a legend entry (once per label and style)."""
        if (label, swatch) not in self.legend_entries:
            self.legend_entries.append((label, swatch))

    # -- marks -----------------------------------------------------------------------------------------------------
    def _tip(self, title: str | None) -> str:
        return f"<title>{esc(clip(title, TITLE_MAX))}</title>" if title else ""

    def _area_attrs(self, style: Area) -> str:
        if style.hatch:
            self._uses_hatch = True
            return f'fill="url(#{self._hatch})" fill-opacity="{style.opacity:g}"'
        return f'fill="{style.color}"' + (f' fill-opacity="{style.opacity:g}"' if style.opacity < 1 else "")

    def vspan(self, x0: float, x1: float, style: Area, label: str | None = None, title: str | None = None) -> None:
        """A stretch of x shaded over the whole height of the box."""
        a, b = self.sx(x0), self.sx(x1)
        self.parts.append(f'<rect x="{fmt(a)}" y="{fmt(self.top)}" width="{fmt(max(0.5, b - a))}" '
                          f'height="{fmt(self.bottom - self.top)}" {self._area_attrs(style)}>{self._tip(title)}</rect>')
        if label:
            self.legend(label, style)

    def rect(self, x0: float, x1: float, y0: float, y1: float, style: Area, label: str | None = None,
             title: str | None = None) -> None:
        """A rectangle in data coordinates (bars)."""
        a, b = sorted((self.sx(x0), self.sx(x1)))
        c, d = sorted((self.sy(y0), self.sy(y1)))
        self.parts.append(f'<rect x="{fmt(a)}" y="{fmt(c)}" width="{fmt(max(0.5, b - a))}" height="{fmt(d - c)}" '
                          f'{self._area_attrs(style)}>{self._tip(title)}</rect>')
        if label:
            self.legend(label, style)

    def vline(self, x: float, style: Line, label: str | None = None) -> None:
        px = fmt(self.sx(x))
        self.parts.append(f'<path d="M{px} {fmt(self.top)}V{fmt(self.bottom)}" {style.attrs()}/>')
        if label:
            self.legend(label, style)

    def hline(self, y: float, style: Line, label: str | None = None) -> None:
        py = fmt(self.sy(y))
        self.parts.append(f'<path d="M{fmt(self.left)} {py}H{fmt(self.right)}" {style.attrs()}/>')
        if label:
            self.legend(label, style)

    def step(self, points: Sequence[tuple[float, float]], end: float, style: Line, label: str | None = None,
             title: str | None = None) -> None:
        """A step function (each value holds until the next point), drawn on to ``end``."""
        if not points:
            return
        d = [f"M{fmt(self.sx(points[0][0]))} {fmt(self.sy(points[0][1]))}"]
        last_y = fmt(self.sy(points[0][1]))
        for x, y in points[1:]:
            py = fmt(self.sy(y))
            d.append(f"H{fmt(self.sx(x))}")
            if py != last_y:
                d.append(f"V{py}")
                last_y = py
        d.append(f"H{fmt(self.sx(end))}")
        self.parts.append(f'<path d="{"".join(d)}" {style.attrs()}>{self._tip(title)}</path>')
        if label:
            self.legend(label, style)

    def step_band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], end: float, style: Area,
                  label: str | None = None, title: str | None = None) -> None:
        """The region between two step functions sharing their x values."""
        if not xs:
            return
        upper: list[tuple[float, float]] = []
        lower: list[tuple[float, float]] = []
        for i, x in enumerate(xs):
            if i:
                upper.append((x, hi[i - 1]))
                lower.append((x, lo[i - 1]))
            upper.append((x, hi[i]))
            lower.append((x, lo[i]))
        upper.append((end, hi[-1]))
        lower.append((end, lo[-1]))
        pts = [*upper, *reversed(lower)]
        d = "M" + "L".join(f"{fmt(self.sx(x))} {fmt(self.sy(y))}" for x, y in pts) + "z"
        self.parts.append(f'<path d="{d}" {self._area_attrs(style)} stroke="none">{self._tip(title)}</path>')
        if label:
            self.legend(label, style)

    def segments(self, segs: Iterable[tuple[float, float, float, float]], style: Line,
                 label: str | None = None) -> None:
        """Straight lines (x0, y0, x1, y1), as one path."""
        d = "".join(f"M{fmt(self.sx(a))} {fmt(self.sy(b))}L{fmt(self.sx(c))} {fmt(self.sy(e))}" for a, b, c, e in segs)
        if d:
            self.parts.append(f'<path d="{d}" {style.attrs()}/>')
            if label:
                self.legend(label, style)

    def markers(self, points: Sequence[tuple[float, float]], mark: Mark, label: str | None = None,
                titles: Sequence[str] | None = None) -> None:
        """One marker per point; ``titles``: a tooltip each (left out past 2,000 points, to keep the page small)."""
        if not points:
            return
        if titles is not None and len(points) <= 2000:
            body = "".join(f'<path d="{mark.path(self.sx(x), self.sy(y))}">{self._tip(t)}</path>'
                           for (x, y), t in zip(points, titles, strict=False))
        else:
            body = f'<path d="{"".join(mark.path(self.sx(x), self.sy(y)) for x, y in points)}"/>'
        self.parts.append(f"<g {mark.attrs()}>{body}</g>")
        if label:
            self.legend(label, mark)

    def note(self, text: str) -> None:
        """A line of text in the middle of the box (e.g. "nothing to draw")."""
        self.parts.append(f'<text x="{fmt((self.left + self.right) / 2)}" y="{fmt((self.top + self.bottom) / 2)}" '
                          f'text-anchor="middle" fill="#555">{esc(text)}</text>')

    # -- output ----------------------------------------------------------------------------------------------------
    def _swatch(self, x: float, y: float, s: Swatch) -> str:
        if isinstance(s, Line):
            return f'<path d="M{fmt(x)} {fmt(y)}h22" {Line(s.color, max(s.width, 1.2), s.dash, s.opacity).attrs()}/>'
        if isinstance(s, Mark):
            return f'<path d="{Mark(s.shape, s.color, min(s.size, 5.5), s.hollow).path(x + 11, y)}" {s.attrs()}/>'
        edge = ' stroke="#888" stroke-width="0.5"' if s.hatch or s.opacity < 0.3 else ""
        return f'<rect x="{fmt(x)}" y="{fmt(y - 5)}" width="22" height="10" {self._area_attrs(s)}{edge}/>'

    def render(self) -> str:
        """The chart as an inline ``<svg>`` element (wrapped in a ``div.chart``)."""
        out: list[str] = []
        x0, r, t, b = self.left, self.right, self.top, self.bottom
        grid = []
        for x in self.xticks:
            px = fmt(self.sx(x))
            grid.append(f"M{px} {fmt(t)}V{fmt(b)}")
        if self.rows is None:
            grid += [f"M{fmt(x0)} {fmt(self.sy(y))}H{fmt(r)}" for y in self.yticks]
        else:
            grid += [f"M{fmt(x0)} {fmt(self.sy(i + 0.5))}H{fmt(r)}" for i in range(len(self.rows) - 1)]
        out.append(f'<rect x="{fmt(x0)}" y="{fmt(t)}" width="{fmt(r - x0)}" height="{fmt(b - t)}" fill="#ffffff"/>')
        if grid:
            out.append(f'<path d="{"".join(grid)}" fill="none" stroke="#e6e6e6" stroke-width="1"/>')
        out += self.parts
        out.append(f'<rect x="{fmt(x0)}" y="{fmt(t)}" width="{fmt(r - x0)}" height="{fmt(b - t)}" fill="none" '
                   f'stroke="#999" stroke-width="1"/>')
        # x axis
        ticks = "".join(f"M{fmt(self.sx(x))} {fmt(b)}v5" for x in self.xticks)
        out.append(f'<path d="{ticks}" stroke="#666" stroke-width="1"/>')
        out += [f'<text x="{fmt(self.sx(x))}" y="{fmt(b + 18)}" text-anchor="middle">'
                f"{esc(tick_label(x, self.xstep))}</text>" for x in self.xticks]
        if self.xlabel:
            out.append(f'<text x="{fmt((x0 + r) / 2)}" y="{fmt(b + 36)}" text-anchor="middle">'
                       f"{esc(self.xlabel)}</text>")
        # y axis
        if self.rows is not None:
            for i, name in enumerate(self.rows):
                colour = self.row_colors[i] if i < len(self.row_colors) else "#222"
                shown = clip(name, LABEL_MAX)
                tip = f"<title>{esc(clip(name, TITLE_MAX))}</title>" if shown != name else ""
                out.append(f'<text x="{fmt(x0 - 6)}" y="{fmt(self.sy(i) + 4)}" text-anchor="end" fill="{colour}">'
                           f"{esc(shown)}{tip}</text>")
        else:
            ticks = "".join(f"M{fmt(x0)} {fmt(self.sy(y))}h-5" for y in self.yticks)
            out.append(f'<path d="{ticks}" stroke="#666" stroke-width="1"/>')
            out += [f'<text x="{fmt(x0 - 8)}" y="{fmt(self.sy(y) + 4)}" text-anchor="end">'
                    f"{esc(tick_label(y, self.ystep))}</text>" for y in self.yticks]
        if self.ylabel:
            cy = fmt((t + b) / 2)
            out.append(f'<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">'
                       f"{esc(self.ylabel)}</text>")
        out.append(f'<text x="{fmt(x0)}" y="18" font-size="13" font-weight="600">'
                   f"{esc(clip(self.title, int((self.width - x0) / 7.6)))}</text>")
        if self.caption:
            out.append(f'<text x="{fmt(x0)}" y="35" font-size="11" fill="#555">'
                       f"{esc(clip(self.caption, int((self.width - x0) / 6)))}</text>")
        # legend
        lx = r + 14
        entries = self.legend_entries[:LEGEND_MAX]
        for i, (label, swatch) in enumerate(entries):
            y = t + 8 + i * LEGEND_ROW
            out.append(self._swatch(lx, y, swatch))
            out.append(f'<text x="{fmt(lx + 28)}" y="{fmt(y + 4)}" font-size="11">{esc(clip(label, 38))}'
                       + (f"<title>{esc(clip(label, TITLE_MAX))}</title>" if len(label) > 38 else "") + "</text>")
        legend_bottom = t + 8 + len(entries) * LEGEND_ROW
        if len(self.legend_entries) > LEGEND_MAX:
            out.append(f'<text x="{fmt(lx)}" y="{fmt(legend_bottom + 4)}" font-size="11" fill="#555">… '
                       f"{len(self.legend_entries) - LEGEND_MAX} more</text>")
            legend_bottom += LEGEND_ROW
        height = max(b + (44 if self.xlabel else 28), legend_bottom + 8)
        defs = ""
        if self._uses_hatch:
            defs = (f'<defs><pattern id="{self._hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
                    f'patternTransform="rotate(45)"><path d="M0 0V6" stroke="#555" stroke-width="1.5"/></pattern>'
                    "</defs>")
        wide = " wide" if self.width > 1150 else ""
        head = (f'<div class="chart{wide}"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
                f'aria-label="{esc(self.label)}" width="{fmt(self.width)}" height="{fmt(height)}" '
                f'viewBox="0 0 {fmt(self.width)} {fmt(height)}" font-family="{esc(FONT)}" font-size="12" '
                f'fill="#222">{defs}')
        return head + "".join(out) + "</svg></div>"


__all__ = ["CHAR_W", "LEGEND_W", "Area", "Chart", "Line", "Mark", "Swatch", "clip", "esc", "fmt", "nice_ticks",
           "tick_label"]
