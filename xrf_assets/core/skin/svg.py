"""Skin dose map image: the phantom's front and back unrolled, as a self-contained SVG."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from xrf_assets.core.skin.study import SkinMap

_RAMP = ((0.0, (240, 240, 240)), (0.25, (255, 237, 160)), (0.5, (254, 178, 76)),
         (0.75, (240, 59, 32)), (1.0, (128, 0, 38)))  # fmt: skip


def _colour(fraction: float) -> str:
    for (f0, c0), (f1, c1) in pairwise(_RAMP):
        if fraction <= f1:
            w = (fraction - f0) / (f1 - f0)
            return "#" + "".join(
                f"{round(a + (b - a) * w):02x}" for a, b in zip(c0, c1, strict=True)
            )
    return "#800026"


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
        for i, c in enumerate(columns):
            for j in range(along):
                value = grid[c, along - 1 - j]
                if value <= 0:
                    continue
                parts.append(
                    f'<rect x="{x0 + i * cell}" y="{top + j * cell}" width="{cell}" '
                    f'height="{cell}" fill="{_colour(min(1.0, value / scale))}"/>'
                )
        parts.append(
            f'<rect x="{x0}" y="{top}" width="{cell * len(columns)}" height="{cell * along}" '
            'fill="none" stroke="#444"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
