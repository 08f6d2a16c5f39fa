"""Skin dose map image: the phantom's front and back unrolled, as a self-contained SVG."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from xrf_assets.core.skin.study import SkinMap
from xrf_assets.core.store import write_text_atomic

_RAMP = ((0.0, (240, 240, 240)), (0.25, (255, 237, 160)), (0.5, (254, 178, 76)),
         (0.75, (240, 59, 32)), (1.0, (128, 0, 38)))  # fmt: skip
_STOPS = np.array([f for f, _ in _RAMP])
_RGB = np.array([c for _, c in _RAMP], dtype=np.float64)


def _fills(fraction: npt.NDArray[np.float64]) -> tuple[list[str], npt.NDArray[np.intp]]:
    """The distinct ``#rrggbb`` of the cells (the ramp interpolated linearly between its stops)
    and each cell's index among them: one array pass, and a few hundred colours formatted
    instead of one per cell."""
    upper = np.minimum(np.maximum(np.searchsorted(_STOPS, fraction), 1), len(_STOPS) - 1)
    f0, f1 = _STOPS[upper - 1], _STOPS[upper]
    w = ((fraction - f0) / (f1 - f0))[:, None]
    c0, c1 = _RGB[upper - 1], _RGB[upper]
    rgb = np.round(c0 + (c1 - c0) * w).astype(np.int64)  # round half to even, as round()
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    # np.unique(packed, return_inverse=True) by hand: its Python wrapping was half the time
    order = np.argsort(packed, kind="stable")
    ranked = packed[order]
    new = np.empty(len(ranked), dtype=bool)
    new[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    index = np.empty(len(ranked), dtype=np.intp)
    index[order] = np.cumsum(new) - 1
    return [f"#{v:06x}" for v in ranked[new].tolist()], index


def _cell_paths(
    x0: int,
    y0: int,
    cell: int,
    i_index: npt.NDArray[np.intp],
    j_index: npt.NDArray[np.intp],
    which: npt.NDArray[np.intp],
    colours: list[str],
) -> str:
    """One path per colour, each run of same-coloured cells down a column one rectangle of it:
    a few hundred elements where one per cell made ~16,000 a map (a report's page printed in
    half the time without them). The paths' lines, formatted by one ``%`` over all runs' numbers
    (a run's text formatted one by one was most of the drawing time)."""
    if len(which) == 0:
        return ""
    starts = np.ones(len(which), dtype=bool)  # a run ends at a new column, a gap or a new colour
    starts[1:] = (np.diff(i_index) != 0) | (np.diff(j_index) != 1) | (np.diff(which) != 0)
    first = np.flatnonzero(starts)
    lengths = np.diff(first, append=len(which))
    colour = which[first]
    by_colour = np.argsort(colour, kind="stable")  # a colour's runs in drawing order
    numbers = np.stack([x0 + i_index[first] * cell, y0 + j_index[first] * cell, lengths * cell])
    run = f"M%d %dh{cell}v%dh-{cell}z"
    template = "\n".join(
        f'<path fill="{fill}" d="{run * count}"/>'
        for fill, count in zip(colours, np.bincount(colour).tolist(), strict=True)
    )
    return template % tuple(numbers[:, by_colour].T.reshape(-1).tolist())


def render(skin_map: SkinMap, alert_gy: float) -> str:
    """Front (anterior half, patient's right on the left) and back, head at the top; cells in
    Gy, colour scaled to the larger of the PSD and the alert level."""
    grid = skin_map.grid()  # (around, along), around from the anterior midline via the left
    around, along = grid.shape
    phi = (np.arange(around) + 0.5) / around * 360.0
    front = np.r_[np.nonzero(phi >= 270)[0], np.nonzero(phi < 90)[0]][::-1]
    back = np.nonzero((phi >= 90) & (phi < 270))[0]
    peak = float(grid.max())
    scale = max(peak, alert_gy)
    cell, gap, top = 4, 40, 40
    width = cell * (len(front) + len(back)) + 3 * gap
    height = cell * along + top + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="{gap}" y="16">Skin dose map, PSD {peak:.3f} Gy '
        f"(colour full scale {scale:.2f} Gy), {skin_map.acquisition_plane}</text>",
    ]
    for title, columns, x0 in (("front", front, gap), ("back", back, 2 * gap + cell * len(front))):
        parts.append(f'<text x="{x0}" y="{top - 6}">{title} (head up)</text>')
        values = grid[columns][:, ::-1]  # (i, j): column i, row j from the head
        i_index, j_index = np.nonzero(values > 0)  # column by column, rows from the head
        colours, which = _fills(np.minimum(1.0, values[i_index, j_index] / scale))
        paths = _cell_paths(x0, top, cell, i_index, j_index, which, colours)
        if paths:
            parts.append(paths)
        parts.append(
            f'<rect x="{x0}" y="{top}" width="{cell * len(columns)}" height="{cell * along}" '
            'fill="none" stroke="#444"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def write_maps(root: Path, maps: list[SkinMap], paths: list[str], alert_gy: float) -> None:
    """Each map's SVG written atomically to its path under ``root``. Each is synced to disk
    before its rename: 8 threads let those waits overlap (5x faster than one after another for
    a month's ~200 maps) while the next map is drawn; a failed write raises."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = [
            pool.submit(write_text_atomic, root / path, render(skin_map, alert_gy))
            for skin_map, path in zip(maps, paths, strict=True)
        ]
    for done in written:
        done.result()
