"""The report's charts, drawn as our own SVG strings for inline embedding.

Plain Python over the values: a chart costs milliseconds where matplotlib cost about a second a
chart plus a second for its import. Deterministic bytes (no dates or generated ids; the jitter of
the study dots is seeded per chart). Text stays text, so the charts need no font files and their
labels are searchable. Sizes are in points (a 720 pt wide chart, as the 10 in matplotlib figures
were); the page scales them to its width. Elements the tests find carry a ``class``: ``axes``,
``xtick`` (``data-value``), ``box``, ``median``, ``whisker``, ``study``, ``bar``, ``level``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeGuard

import polars as pl

SECONDS_PER_MINUTE = 60.0
# (study_dose column, axis label, factor to the unit shown)
DISTRIBUTIONS: tuple[tuple[str, str, float], ...] = (
    ("dap_total_gy_cm2", "DAP (Gy.cm2)", 1.0),
    ("dose_rp_total_gy", "Dose (RP) (Gy)", 1.0),
    ("fluoro_time_s", "Fluoroscopy time (min)", 1 / SECONDS_PER_MINUTE),
)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
WIDTH = 720.0
FONT = 11.0  # tick labels (pt)
SMALL = 9.0
_EM = 0.6  # mean width of a sans-serif character, in em: sizes the margins of the labels
_TICK = 3.5
_GRID = 'stroke="#b0b0b0" stroke-opacity="0.3"'
WHISKER_IQR = 1.5  # whiskers reach the furthest study within 1.5 IQR of the box


def _f(v: float) -> str:
    """A coordinate: three decimals at most, no trailing zeros (short, stable bytes)."""
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _finite(v: float | None) -> TypeGuard[float]:
    """A value to draw: not null, NaN or infinite (nothing is drawn for those)."""
    return v is not None and math.isfinite(v)


def _text_width(text: str, size: float = FONT) -> float:
    return len(text) * size * _EM


def tick_label(v: float) -> str:
    if abs(v) >= 1e4 and v == int(v):
        return f"{v:.0f}"
    return f"{round(v, 12):.6g}"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Ticks at 1, 2, 2.5 or 5 times a power of ten, about ``target`` of them in [lo, hi]."""
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _value_range(values: Iterable[float]) -> tuple[float, float]:
    """From 0 (or the lowest value, if negative) to the highest plus a 5 % margin."""
    finite = list(values)
    lo = min([0.0, *finite])
    hi = max([lo, *finite])
    hi = hi + 0.05 * (hi - lo) if hi > lo else lo + 1.0
    return lo, hi


def percentile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, as matplotlib used)."""
    pos = p * (len(ordered) - 1)
    below = math.floor(pos)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (pos - below)


@dataclass(frozen=True)
class BoxStats:
    q1: float
    median: float
    q3: float
    whisker_low: float
    whisker_high: float


def box_stats(values: Sequence[float]) -> BoxStats:
    """Quartiles, and whiskers at the furthest values within 1.5 IQR of the box (Tukey)."""
    ordered = sorted(values)
    q1, median, q3 = (percentile(ordered, p) for p in (0.25, 0.5, 0.75))
    reach = WHISKER_IQR * (q3 - q1)
    low = min((v for v in ordered if v >= q1 - reach), default=q1)
    high = max((v for v in ordered if v <= q3 + reach), default=q3)
    return BoxStats(q1, median, q3, min(low, q1), max(high, q3))


@dataclass(frozen=True)
class _Axes:
    """A panel: its frame in SVG points and the value range of its x (or y) axis."""

    x: float
    y: float
    width: float
    height: float
    lo: float
    hi: float

    def sx(self, v: float) -> float:
        return self.x + (v - self.lo) / (self.hi - self.lo) * self.width

    def sy(self, v: float) -> float:
        return self.y + self.height - (v - self.lo) / (self.hi - self.lo) * self.height


class _Svg:
    def __init__(self, height: float, label: str) -> None:
        self.height = height
        self.label = label
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def line(self, x1: float, y1: float, x2: float, y2: float, style: str) -> None:
        self.add(f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" {style}/>')

    def text(self, x: float, y: float, text: str, attrs: str = "") -> None:
        self.add(f'<text x="{_f(x)}" y="{_f(y)}"{attrs}>{escape(text)}</text>')

    def frame(self, ax: _Axes) -> None:
        self.add(
            f'<rect class="axes" x="{_f(ax.x)}" y="{_f(ax.y)}" width="{_f(ax.width)}" '
            f'height="{_f(ax.height)}" fill="none" stroke="#000" stroke-width="0.8"/>'
        )

    def x_axis(self, ax: _Axes, label: str) -> None:
        """Ticks, grid lines and labels under the panel, and the axis label below them."""
        bottom = ax.y + ax.height
        for v in nice_ticks(ax.lo, ax.hi):
            x = ax.sx(v)
            self.line(x, ax.y, x, bottom, _GRID)
            self.add(
                f'<line class="xtick" data-value="{tick_label(v)}" x1="{_f(x)}" '
                f'y1="{_f(bottom)}" x2="{_f(x)}" y2="{_f(bottom + _TICK)}" stroke="#000"/>'
            )
            self.text(x, bottom + _TICK + FONT, tick_label(v), ' text-anchor="middle"')
        self.text(ax.x + ax.width / 2, bottom + 2 * FONT + 12, label, ' text-anchor="middle"')

    def y_labels(self, ax: _Axes, names: Sequence[str], centre: list[float]) -> None:
        for name, y in zip(names, centre, strict=True):
            self.line(ax.x - _TICK, y, ax.x, y, 'stroke="#000"')
            self.text(ax.x - _TICK - 3, y + FONT / 3, name, ' text-anchor="end"')

    def legend(self, entries: Sequence[tuple[str, str]], x: float, y: float) -> float:
        """Entries (swatch element at (0, 0), text) in rows from (x, y); the height used."""
        x0, row = x, 0
        for swatch, name in entries:
            width = 24 + _text_width(name, SMALL) + 16
            if x + width > WIDTH - 10 and x > x0:
                x, row = x0, row + 1
            top = y + row * 16
            self.add(f'<g transform="translate({_f(x + 8)},{_f(top + 6)})">{swatch}</g>')
            self.text(x + 20, top + 9, name, f' font-size="{_f(SMALL)}"')
            x += width
        return (row + 1) * 16

    def svg(self) -> str:
        h = _f(self.height)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(WIDTH)}pt" height="{h}pt" '
            f'viewBox="0 0 {_f(WIDTH)} {h}" font-family="sans-serif" font-size="{_f(FONT)}" '
            f'role="img" aria-label="{escape(self.label)}">' + "".join(self.parts) + "</svg>"
        )


def _left_margin(names: Sequence[str]) -> float:
    return 12 + _TICK + max((_text_width(n) for n in names), default=0.0)


def _boxes(svg: _Svg, ax: _Axes, groups: Sequence[Sequence[float]], centre: list[float],
           band: float, rng: random.Random) -> None:  # fmt: skip
    """One box per group (none for a group without values), then every value as a dot."""
    half, cap = 0.3 * band, 0.15 * band
    for values, y in zip(groups, centre, strict=True):
        if not values:
            continue
        b = box_stats(values)
        whisker = 'class="whisker" stroke="#000"'
        for end, edge in ((b.whisker_low, b.q1), (b.whisker_high, b.q3)):
            svg.line(ax.sx(end), y, ax.sx(edge), y, whisker)
            svg.line(ax.sx(end), y - cap, ax.sx(end), y + cap, whisker)
        svg.add(
            f'<rect class="box" x="{_f(ax.sx(b.q1))}" y="{_f(y - half)}" '
            f'width="{_f(ax.sx(b.q3) - ax.sx(b.q1))}" height="{_f(2 * half)}" fill="none" '
            'stroke="#000"/>'
        )
        svg.line(ax.sx(b.median), y - half, ax.sx(b.median), y + half,
                 'class="median" stroke="#d62728" stroke-width="1.5"')  # fmt: skip
    for values, y in zip(groups, centre, strict=True):
        for v in values:
            dy = rng.uniform(-0.18, 0.18) * band
            svg.add(
                f'<circle class="study" cx="{_f(ax.sx(v))}" cy="{_f(y + dy)}" r="1.7" '
                'fill="#1f77b4" fill-opacity="0.55"/>'
            )


def distributions(studies: pl.DataFrame, by: str, missing: str, key: str) -> str | None:
    """Box plots with every study as a point (strip) of DAP, Dose (RP) and fluoroscopy time per
    ``by`` (room_id or procedure; null shown as ``missing``); None without studies."""
    if studies.is_empty():
        return None
    frame = studies.with_columns(pl.col(by).fill_null(missing))
    names = sorted(frame.get_column(by).unique().to_list())
    per_group = {
        row[by]: row
        for row in frame.group_by(by)
        .agg(pl.col(c).drop_nulls() * f for c, _, f in DISTRIBUTIONS)
        .iter_rows(named=True)
    }
    top, bottom, gap, right = 8.0, 2 * FONT + 22, 18.0, 10.0
    height = 72 * (0.45 * len(names) + 1.3)
    left = _left_margin(names)
    width = (WIDTH - left - right - 2 * gap) / len(DISTRIBUTIONS)
    band = (height - top - bottom) / len(names)
    centre = [top + (i + 0.5) * band for i in range(len(names))]
    svg = _Svg(height, f"Box plots per {by}: " + ", ".join(lb for _, lb, _ in DISTRIBUTIONS))
    rng = random.Random(f"xrf-dose:{key}")  # jitter of the strip points, the same on every run
    for i, (column, label, _) in enumerate(DISTRIBUTIONS):
        groups = [
            [v for v in per_group[n][column] if math.isfinite(v)] for n in names
        ]  # fmt: skip
        ax = _Axes(left + i * (width + gap), top, width, height - top - bottom,
                   *_value_range(v for g in groups for v in g))  # fmt: skip
        svg.x_axis(ax, label)
        _boxes(svg, ax, groups, centre, band, rng)
        svg.frame(ax)
        if i == 0:
            svg.y_labels(ax, names, centre)
    return svg.svg()


def _dot(colour: str, r: float = 3.5) -> str:
    return f'<circle r="{_f(r)}" fill="{colour}"/>'


def drl_chart(drl: pl.DataFrame) -> str | None:
    """Per procedure: the local DRL candidate (p75 of study DAP) as a bar, the median as a dot,
    the reference level as a red tick."""
    rows = drl.filter(pl.col("dap_p75_drl_candidate_gy_cm2").is_not_null())
    if rows.is_empty():
        return None
    names = rows.get_column("procedure").to_list()
    p75 = rows.get_column("dap_p75_drl_candidate_gy_cm2").to_list()
    medians = rows.get_column("dap_median_gy_cm2").to_list()
    levels = rows.get_column("drl_dap_gy_cm2").to_list()
    present = [v for v in (*p75, *medians, *levels) if _finite(v)]
    top, bottom, legend = 8.0, 2 * FONT + 22, 22.0
    height = 72 * (0.5 * len(names) + 1.2) + legend
    left = _left_margin(names)
    ax = _Axes(left, top, WIDTH - left - 10, height - top - bottom - legend,
               *_value_range(present))  # fmt: skip
    band = ax.height / len(names)
    centre = [top + (i + 0.5) * band for i in range(len(names))]
    svg = _Svg(height, "Local DRL candidates (p75), medians and reference levels: study DAP")
    svg.x_axis(ax, "Study DAP (Gy.cm2)")
    tick = 'class="level" stroke="#d62728" stroke-width="3"'
    for y, bar, median, level in zip(centre, p75, medians, levels, strict=True):
        if _finite(bar):
            svg.add(
                f'<rect class="bar" x="{_f(ax.sx(0))}" y="{_f(y - 0.275 * band)}" '
                f'width="{_f(ax.sx(bar) - ax.sx(0))}" height="{_f(0.55 * band)}" fill="#9ecae1"/>'
            )
        if _finite(median):
            svg.add(f'<circle class="median" cx="{_f(ax.sx(median))}" cy="{_f(y)}" r="3.5" '
                    'fill="#08519c"/>')  # fmt: skip
        if _finite(level):
            svg.line(ax.sx(level), y - 10, ax.sx(level), y + 10, tick)
    svg.frame(ax)
    svg.y_labels(ax, names, centre)
    svg.legend(
        [
            (
                '<rect x="-6" y="-4" width="12" height="8" fill="#9ecae1"/>',
                "local DRL candidate (p75)",
            ),
            (_dot("#08519c"), "median"),
            (
                '<line x1="0" y1="-6" x2="0" y2="6" stroke="#d62728" stroke-width="3"/>',
                "reference level (DRL)",
            ),
        ],
        left,
        height - legend,
    )
    return svg.svg()


def trend_chart(trend: pl.DataFrame, months: Sequence[str]) -> str | None:
    """Studies per month and median study DAP per month, one line per room (and kind of study),
    over ``months``; a month without a published partition is a gap."""
    if trend.is_empty():
        return None
    series = trend.with_columns(pl.format("{} ({})", "room_id", "modality").alias("series"))
    names = sorted(series.get_column("series").unique().to_list())
    lines: dict[str, dict[str, list[float | None]]] = {}
    for name in names:
        rows = {
            r["month"]: r for r in series.filter(pl.col("series") == name).iter_rows(named=True)
        }
        lines[name] = {
            column: [rows[m][column] if m in rows else None for m in months]
            for column in ("study_count", "dap_median_gy_cm2")
        }
    entries = [(_dot(_COLOURS[i % len(_COLOURS)], 3), n) for i, n in enumerate(names)]
    probe = _Svg(0, "")
    legend = probe.legend(entries, 0, 0) + 8
    top, bottom, gap = 8.0, _text_width("0000-00", SMALL) * 0.87 + 16, 24.0
    height = 72 * 3.6 + legend
    svg = _Svg(height, "12-month trend per room: studies (count), median study DAP (Gy.cm2)")
    panels = (
        ("study_count", "Studies (count)"),
        ("dap_median_gy_cm2", "Median study DAP (Gy.cm2)"),
    )
    x = 0.0
    for column, label in panels:
        values = [v for s in lines.values() for v in s[column] if _finite(v)]
        lo, hi = _value_range(values)
        ticks = nice_ticks(lo, hi)
        left = FONT + 14 + max(_text_width(tick_label(t)) for t in ticks)
        ax = _Axes(x + left, top, (WIDTH - 2 * gap) / 2 - left, height - top - bottom - legend,
                   lo, hi)  # fmt: skip
        step = ax.width / len(months)
        xs = [ax.x + (i + 0.5) * step for i in range(len(months))]
        for t in ticks:
            y = ax.sy(t)
            svg.line(ax.x, y, ax.x + ax.width, y, _GRID)
            svg.line(ax.x - _TICK, y, ax.x, y, 'stroke="#000"')
            svg.text(ax.x - _TICK - 3, y + FONT / 3, tick_label(t), ' text-anchor="end"')
        bottom_y = ax.y + ax.height
        for mx, month in zip(xs, months, strict=True):
            svg.line(mx, ax.y, mx, bottom_y, _GRID)
            svg.line(mx, bottom_y, mx, bottom_y + _TICK, 'stroke="#000"')
            svg.text(mx, bottom_y + _TICK + 4, month,
                     f' font-size="{_f(SMALL)}" text-anchor="end" dominant-baseline="hanging" '
                     f'transform="rotate(-60 {_f(mx)} {_f(bottom_y + _TICK + 4)})"')  # fmt: skip
        cy = ax.y + ax.height / 2
        svg.text(x + FONT, cy, label, f' text-anchor="middle" transform="rotate(-90 '
                 f'{_f(x + FONT)} {_f(cy)})"')  # fmt: skip
        for i, name in enumerate(names):
            colour = _COLOURS[i % len(_COLOURS)]
            points = [(mx, v) for mx, v in zip(xs, lines[name][column], strict=True)]
            for run in _runs(points):
                if len(run) > 1:
                    path = " ".join(f"{_f(px)},{_f(ax.sy(v))}" for px, v in run)
                    svg.add(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                            'stroke-width="1.5"/>')  # fmt: skip
                for px, v in run:
                    svg.add(f'<circle cx="{_f(px)}" cy="{_f(ax.sy(v))}" r="3" fill="{colour}"/>')
        svg.frame(ax)
        x += (WIDTH - 2 * gap) / 2 + 2 * gap
    svg.legend(entries, 10, height - legend + 4)
    return svg.svg()


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value: a line is drawn through each run, not across gaps."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, v in points:
        if not _finite(v):
            runs.append([])
        else:
            runs[-1].append((x, v))
    return [r for r in runs if r]
