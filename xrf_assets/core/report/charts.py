"""The report's charts: matplotlib figures rendered to SVG strings for inline embedding.

Deterministic bytes: no date in the SVG metadata, and ``svg.hashsalt`` set per chart, which also
keeps the generated clip-path ids of two charts on one page apart. Text stays text
(``svg.fonttype`` none), so the charts need no font files and their labels are searchable.
Figures are built with the object API on the SVG canvas: no pyplot state, no GUI backend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import polars as pl
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

SECONDS_PER_MINUTE = 60.0
# (study_dose column, axis label, factor to the unit shown)
DISTRIBUTIONS: tuple[tuple[str, str, float], ...] = (
    ("dap_total_gy_cm2", "DAP (Gy.cm2)", 1.0),
    ("dose_rp_total_gy", "Dose (RP) (Gy)", 1.0),
    ("fluoro_time_s", "Fluoroscopy time (min)", 1 / SECONDS_PER_MINUTE),
)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _svg(fig: Figure, key: str) -> str:
    FigureCanvasSVG(fig)
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": f"xrf-dose:{key}", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or DOCTYPE


def distributions(studies: pl.DataFrame, by: str, missing: str, key: str) -> str | None:
    """Box plots with every study as a point (strip) of DAP, Dose (RP) and fluoroscopy time per
    ``by`` (room_id or procedure; null shown as ``missing``); None without studies."""
    if studies.is_empty():
        return None
    frame = studies.with_columns(pl.col(by).fill_null(missing))
    groups = sorted(frame.get_column(by).unique().to_list())
    fig = Figure(figsize=(10, 0.45 * len(groups) + 1.3))
    axes = fig.subplots(1, len(DISTRIBUTIONS), sharey=True)
    rng = np.random.default_rng(0)  # jitter of the strip points, the same on every run
    for ax, (column, label, factor) in zip(axes, DISTRIBUTIONS, strict=True):
        values = [
            frame.filter(pl.col(by) == g).get_column(column).drop_nulls().to_numpy() * factor
            for g in groups
        ]
        positions = np.arange(1, len(groups) + 1)
        ax.boxplot(
            [v if len(v) else np.array([np.nan]) for v in values],
            positions=positions,
            orientation="horizontal",
            widths=0.6,
            showfliers=False,
            medianprops={"color": "#d62728"},
        )
        for y, v in zip(positions, values, strict=True):
            ax.scatter(v, y + rng.uniform(-0.18, 0.18, len(v)), s=9, alpha=0.55, color="#1f77b4")
        ax.set_xlabel(label)
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(1, len(groups) + 1), groups)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return _svg(fig, key)


def drl_chart(drl: pl.DataFrame) -> str | None:
    """Per procedure: the local DRL candidate (p75 of study DAP) as a bar, the median as a dot,
    the reference level as a red tick."""
    rows = drl.filter(pl.col("dap_p75_drl_candidate_gy_cm2").is_not_null())
    if rows.is_empty():
        return None
    names = rows.get_column("procedure").to_list()
    y = np.arange(len(names))
    fig = Figure(figsize=(10, 0.5 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh(y, rows.get_column("dap_p75_drl_candidate_gy_cm2"), height=0.55, color="#9ecae1",
            label="local DRL candidate (p75)")  # fmt: skip
    ax.scatter(rows.get_column("dap_median_gy_cm2"), y, color="#08519c", zorder=3, label="median")
    levels = rows.get_column("drl_dap_gy_cm2").to_numpy()
    has_level = ~np.isnan(levels.astype(float))
    ax.scatter(levels[has_level], y[has_level], marker="|", s=400, linewidths=3,
               color="#d62728", zorder=4, label="reference level (DRL)")  # fmt: skip
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("Study DAP (Gy.cm2)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return _svg(fig, "drl")


def trend_chart(trend: pl.DataFrame, months: Sequence[str]) -> str | None:
    """Studies per month and median study DAP per month, one line per room (and kind of study),
    over ``months``; a month without a published partition is a gap."""
    if trend.is_empty():
        return None
    series = trend.with_columns(pl.format("{} ({})", "room_id", "modality").alias("series"))
    x = np.arange(len(months))
    fig = Figure(figsize=(10, 3.6))
    count_ax, dap_ax = fig.subplots(1, 2)
    for i, name in enumerate(sorted(series.get_column("series").unique().to_list())):
        of_series = series.filter(pl.col("series") == name)
        rows = {r["month"]: r for r in of_series.iter_rows(named=True)}
        counts = [rows[m]["study_count"] if m in rows else np.nan for m in months]
        medians = [rows[m]["dap_median_gy_cm2"] if m in rows else np.nan for m in months]
        colour = _COLOURS[i % len(_COLOURS)]
        count_ax.plot(x, np.asarray(counts, float), marker="o", color=colour, label=name)
        dap_ax.plot(x, np.asarray(medians, float), marker="o", color=colour, label=name)
    for ax, label in ((count_ax, "Studies (count)"), (dap_ax, "Median study DAP (Gy.cm2)")):
        ax.set_xticks(x, list(months), rotation=60, fontsize="small")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    count_ax.legend(fontsize="small")
    fig.tight_layout()
    return _svg(fig, "trend")
