"""Skin dose map image: the phantom's front and back unrolled, as a self-contained SVG."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from xrf_assets.core.skin.study import SkinMap
from xrf_assets.core.store import write_text_atomic

_RAMP = ((0.0, (240, 240, 240)), (0.25, (255, 237, 160)), (0.5, (254, 178, 76)),
         (0.75, (240, 59, 32)), (1.0, (128, 0, 38)))  # fmt: skip
_STOPS = np.array([f for f, _ in _RAMP])
_RGB = np.array([c for _, c in _RAMP], dtype=np.float64)
_RGB_STEP = _RGB[1:] - _RGB[:-1]  # colour change from each stop to the next


def _fills(
    fraction: npt.NDArray[np.float64], side: npt.NDArray[np.intp]
) -> tuple[list[str], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The distinct ``#rrggbb`` of each side's cells (the ramp interpolated linearly between its
    stops), by side and colour; each cell's index among them and each colour's side. One array
    pass for all sides of all maps, and a few hundred colours formatted instead of one per cell."""
    upper = np.minimum(np.maximum(np.searchsorted(_STOPS, fraction), 1), len(_STOPS) - 1)
    f0, f1 = _STOPS[upper - 1], _STOPS[upper]
    w = (fraction - f0) / (f1 - f0)
    key = side << 24
    for channel, shift in ((0, 16), (1, 8), (2, 0)):  # by channel: no (cells, 3) gathers
        c0, step = _RGB[:, channel][upper - 1], _RGB_STEP[:, channel][upper - 1]
        key |= np.round(c0 + step * w).astype(np.int64) << shift  # half to even, as round()
    order = np.argsort(key, kind="stable")  # np.unique(return_inverse=True), without its wrapping
    ranked = key[order]
    new = np.empty(len(ranked), dtype=bool)
    new[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    index = np.empty(len(ranked), dtype=np.intp)
    index[order] = np.cumsum(new) - 1
    distinct = ranked[new]
    return [f"#{v:06x}" for v in (distinct & 0xFFFFFF).tolist()], index, distinct >> 24


@lru_cache(maxsize=64)
def _columns(around: int) -> tuple[npt.NDArray[np.intp], int]:
    """The grid's rows drawn as columns, front (anterior half, patient's right on the left) then
    back, and how many are the front's."""
    phi = (np.arange(around) + 0.5) / around * 360.0
    front = np.r_[np.nonzero(phi >= 270)[0], np.nonzero(phi < 90)[0]][::-1]
    back = np.nonzero((phi >= 90) & (phi < 270))[0]
    return np.concatenate([front, back]), len(front)


def render(skin_map: SkinMap, alert_gy: float) -> str:
    """Front and back, head at the top; cells in Gy, colour scaled to the larger of the PSD and
    the alert level (:func:`render_maps` of one map)."""
    return render_maps([skin_map], alert_gy)[0]


def render_maps(maps: list[SkinMap], alert_gy: float) -> list[str]:
    """Each map's SVG. One path per colour and side, each run of same-coloured cells down a
    column one rectangle of it: a few hundred elements where one per cell made ~16,000 a map (a
    report's page printed in half the time without them). The cells of all maps go through one
    pass of arrays and each map's runs are formatted by one ``%``: one pass per map and side and a
    run's text formatted one by one spent the time in numpy's and Python's calls."""
    if not maps:
        return []
    cell, gap, top = 4, 40, 40
    heads, found, values_of, fronts, scales = [], [], [], [], []
    for skin_map in maps:
        grid = skin_map.grid()  # (around, along), around from the anterior midline via the left
        around, along = grid.shape
        columns, n_front = _columns(around)
        peak = float(grid.max())
        scale = max(peak, alert_gy)
        values = grid[columns][:, ::-1]  # (i, j): column i (front, then back), row j from the head
        i_index, j_index = np.nonzero(values > 0)  # column by column, rows from the head
        found.append((i_index, j_index))
        values_of.append(values[i_index, j_index])
        fronts.append(n_front)
        scales.append(scale)
        back_x = 2 * gap + cell * n_front
        heads.append(
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{cell * around + 3 * gap}" '
                f'height="{cell * along + top + 30}" font-family="sans-serif" font-size="12">\n'
                f'<text x="{gap}" y="16">Skin dose map, PSD {peak:.3f} Gy '
                f"(colour full scale {scale:.2f} Gy), {skin_map.acquisition_plane}</text>\n"
                f'<text x="{gap}" y="{top - 6}">front (head up)</text>',
                f'<rect x="{gap}" y="{top}" width="{cell * n_front}" height="{cell * along}" '
                'fill="none" stroke="#444"/>\n'
                f'<text x="{back_x}" y="{top - 6}">back (head up)</text>',
                f'<rect x="{back_x}" y="{top}" width="{cell * (around - n_front)}" '
                f'height="{cell * along}" fill="none" stroke="#444"/>\n</svg>',
            )
        )
    counts = [len(v) for v in values_of]
    i_index = np.concatenate([i for i, _ in found])
    j_index = np.concatenate([j for _, j in found])
    fraction = np.minimum(1.0, np.concatenate(values_of) / np.repeat(scales, counts))
    back = (i_index >= np.repeat(fronts, counts)).astype(np.intp)
    side = 2 * np.repeat(np.arange(len(maps)), counts) + back  # map m's front 2m, back 2m + 1
    colours, which, colour_side = _fills(fraction, side)
    # a run ends at a new column, a gap or a new colour (so at a new side or map too)
    starts = np.ones(len(which), dtype=bool)
    starts[1:] = (np.diff(i_index) != 0) | (np.diff(j_index) != 1) | (np.diff(which) != 0)
    first = np.flatnonzero(starts)
    lengths = np.diff(first, append=len(which))
    colour = which[first]
    by_colour = np.argsort(colour, kind="stable")  # a colour's runs in drawing order
    x = gap * (1 + back[first]) + i_index[first] * cell  # the back starts gap further right
    numbers = np.stack([x, top + j_index[first] * cell, lengths * cell])[:, by_colour]
    flat = numbers.T.reshape(-1).tolist()
    per_colour = np.bincount(colour, minlength=len(colours)).tolist()
    side_starts = np.searchsorted(colour_side, np.arange(2 * len(maps) + 1)).tolist()
    run = f"M%d %dh{cell}v%dh-{cell}z"
    out, done = [], 0
    for m, texts in enumerate(heads):
        lines = [texts[0].replace("%", "%%")]
        for s in (2 * m, 2 * m + 1):
            lines += [
                f'<path fill="{colours[c]}" d="{run * per_colour[c]}"/>'
                for c in range(side_starts[s], side_starts[s + 1])
            ]
            lines.append(texts[1 + s % 2].replace("%", "%%"))
        runs = 3 * sum(per_colour[side_starts[2 * m] : side_starts[2 * m + 2]])
        out.append("\n".join(lines) % tuple(flat[done : done + runs]))
        done += runs
    return out


def write_maps(root: Path, maps: list[SkinMap], paths: list[str], alert_gy: float) -> None:
    """Each map's SVG written atomically to its path under ``root``. Each is synced to disk
    before its rename: 8 threads let those waits overlap (5x faster than one after another for
    a month's ~200 maps) while the next maps are drawn, 32 at a time; a failed write raises."""
    pairs = list(zip(maps, paths, strict=True))
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = []
        for start in range(0, len(pairs), 32):
            batch = pairs[start : start + 32]
            texts = render_maps([skin_map for skin_map, _ in batch], alert_gy)
            written += [
                pool.submit(write_text_atomic, root / path, text)
                for (_, path), text in zip(batch, texts, strict=True)
            ]
    for done in written:
        done.result()
