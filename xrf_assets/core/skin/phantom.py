"""The patient phantom: an elliptical cylinder of skin cells on the table, and the dose on it.

Cells are laid out by arc length around the ellipse (from the anterior midline through the
patient's left) and along the body axis, so every cell has the same area. A beam is a pyramid from
the source through its field; a cell receives the beam where its centre lies inside the pyramid
and its outward normal faces the source (on a convex body that is the entrance surface, so two
opposite fields never add on one cell).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from xrf_assets.core.skin.beam import FloatArray, backscatter_factor

REFERENCE_HEIGHT_M, REFERENCE_WEIGHT_KG = 1.70, 70.0
ASPECT = 2.0  # width to thickness of the cross-section
TISSUE_DENSITY_KG_M3 = 1000.0


@dataclass(frozen=True)
class Phantom:
    width_mm: float  # lateral, 2a
    thickness_mm: float  # anterior-posterior, 2b
    length_mm: float
    resolution_mm: float = 10.0
    scaled_by: str = "reference adult 170 cm, 70 kg"

    @classmethod
    def for_patient(
        cls, height_m: float | None, weight_kg: float | None, resolution_mm: float = 10.0
    ) -> Phantom:
        """Length from the height, cross-section area from weight / (density x height), 2:1."""
        sent = [
            what
            for what, value in (("height", height_m), ("weight", weight_kg))
            if value is not None and value > 0
        ]
        height = height_m if height_m and 0.5 < height_m < 2.5 else REFERENCE_HEIGHT_M
        weight = weight_kg if weight_kg and 2 < weight_kg < 400 else REFERENCE_WEIGHT_KG
        area_m2 = weight / (TISSUE_DENSITY_KG_M3 * height)
        b = math.sqrt(area_m2 / (math.pi * ASPECT))
        scaled = " and ".join(sent) if sent else ""
        return cls(
            width_mm=2000 * ASPECT * b,
            thickness_mm=2000 * b,
            length_mm=1000 * height,
            resolution_mm=resolution_mm,
            scaled_by=f"patient {scaled}" if scaled else "reference adult 170 cm, 70 kg",
        )

    @property
    def description(self) -> str:
        return (
            f"elliptical cylinder {self.width_mm:.0f} x {self.thickness_mm:.0f} x "
            f"{self.length_mm:.0f} mm (width x thickness x length), {self.scaled_by}"
        )

    def lines(self) -> tuple[FloatArray, FloatArray]:
        """The cells' angles phi (around) and body coordinates zeta (along): cell
        ``i * along + j`` of :meth:`cells` lies at (phi[i], zeta[j]). Computed once per size."""
        return _lines(self)

    def cells(self) -> tuple[FloatArray, FloatArray, int, int]:
        """(angle phi around the body, 0 = anterior, 90 = patient's left; body coordinate zeta,
        mm from the centre towards the head), each of shape (around * along,); and the grid.
        Computed once per phantom size (read-only arrays)."""
        return _cells(self)


@lru_cache(maxsize=1024)  # a month's studies have a few hundred phantom sizes
def _lines(phantom: Phantom) -> tuple[FloatArray, FloatArray]:
    """The cells' angles (around) and body coordinates (along), read-only."""
    a, b = phantom.width_mm / 2, phantom.thickness_mm / 2
    fine = np.linspace(0.0, 2 * np.pi, 4001)
    arc = np.concatenate(
        [[0.0], np.cumsum(np.hypot(np.diff(a * np.sin(fine)), np.diff(b * np.cos(fine))))]
    )
    around = max(8, round(arc[-1] / phantom.resolution_mm))
    along = max(1, round(phantom.length_mm / phantom.resolution_mm))
    centres = (np.arange(around) + 0.5) * arc[-1] / around
    phi = np.interp(centres, arc, fine)
    zeta = (np.arange(along) + 0.5) * phantom.length_mm / along - phantom.length_mm / 2
    phi.setflags(write=False)
    zeta.setflags(write=False)
    return phi, zeta


@lru_cache(maxsize=64)
def _cells(phantom: Phantom) -> tuple[FloatArray, FloatArray, int, int]:
    phi, zeta = _lines(phantom)
    phi_grid, zeta_grid = np.meshgrid(phi, zeta, indexing="ij")
    phi_cells, zeta_cells = phi_grid.reshape(-1), zeta_grid.reshape(-1)
    phi_cells.setflags(write=False)
    zeta_cells.setflags(write=False)
    return phi_cells, zeta_cells, len(phi), len(zeta)


@dataclass(frozen=True)
class Beams:
    """One row per beam (an event, or a step of a rotational one), isocentre frame, mm."""

    source: FloatArray  # (n, 3)
    axis: FloatArray  # (n, 3) unit, source -> detector
    across: FloatArray  # (n, 3) unit, perpendicular to the axis
    half_tan_across: FloatArray  # half field size / distance, both field directions
    half_tan_along: FloatArray
    reference_mm: FloatArray  # source to reference point
    kerma_gy: FloatArray  # Dose (RP) of the beam
    bsf_coefficients: FloatArray  # (n, 5)
    table_transmission: FloatArray
    centre: FloatArray  # (n, 3): phantom centre (table moves the patient)
    table_top_y: FloatArray
    table_half_width_mm: FloatArray
    orientation: FloatArray  # (n, 3): signs (left-right, anterior-up, head-towards +z)

    def take(self, index: npt.NDArray[np.intp], kerma_gy: FloatArray | None = None) -> Beams:
        """The beams at ``index`` (with other Dose (RP) values where given)."""
        fields = {f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)}
        if kerma_gy is not None:
            fields["kerma_gy"] = kerma_gy
        return Beams(**fields)

    def source_too_close(
        self, half_width_mm: FloatArray, half_thickness_mm: FloatArray, chunk: int = 1024
    ) -> npt.NDArray[np.bool_]:
        """Beams whose source lies inside the phantom's cross-section (half axes per beam: a
        month's beams at once) or nearer its skin than any fluoroscope lets it come
        (MIN_SOURCE_SKIN_MM): a table height read by the wrong convention, never a real
        geometry; left in, the inverse square makes a PSD many times the dose at the reference
        point."""
        rel = (self.source - self.centre) * self.orientation
        a, b = half_width_mm, half_thickness_mm
        inside = (rel[:, 0] / a) ** 2 + (rel[:, 1] / b) ** 2 < 1.0
        # no skin point lies farther than the half width from the centre: a source farther
        # than that plus MIN_SOURCE_SKIN_MM is neither inside nor near (most beams)
        near = np.nonzero(np.hypot(rel[:, 0], rel[:, 1]) < np.maximum(a, b) + MIN_SOURCE_SKIN_MM)[0]
        angle = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)
        cos, sin = np.cos(angle), np.sin(angle)  # the skin, every half degree
        gap = np.full(len(rel), np.inf)
        for start in range(0, len(near), chunk):
            k = near[start : start + chunk]
            edge_x, edge_y = a[k, None] * cos, b[k, None] * sin
            gap[k] = np.hypot(rel[k, 0, None] - edge_x, rel[k, 1, None] - edge_y).min(axis=1)
        return np.asarray(inside | (gap < MIN_SOURCE_SKIN_MM))


# 21 CFR 1020.32(g): a fluoroscope keeps its source at least 38 cm (stationary), 30 cm (mobile)
# or, for specific surgical uses, 20 cm from the skin; nearer is no real geometry
MIN_SOURCE_SKIN_MM = 200.0


MARGIN_MM = 1.0  # widens a beam's reach: far above the float32 error of the cell tests (0.1 um)


def _times(cells: Any, directions: Any) -> Any:
    """(cells x 3) @ (beams x 3).T as three broadcast products: a threaded BLAS call with an
    inner dimension of 3 spends its time handing work to threads (5x slower on 2 busy cores)."""
    return (cells[:, 0:1] * directions[:, 0] + cells[:, 1:2] * directions[:, 1]) + cells[
        :, 2:3
    ] * directions[:, 2]


def _reach(
    pairs: _Pairs,
    source: FloatArray,
    frame: tuple[FloatArray, FloatArray, FloatArray],
    half_tans: tuple[FloatArray, FloatArray],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The cells a beam can reach, a superset of its hits: which (angle, beam) pairs reach any
    and the run of rows along the body each reaches. On the line of one angle's cells, depth and
    both field coordinates are linear in zeta, so the field's five half-space tests (depth > 0,
    |u| <= tan x depth, the same for w), each relaxed by MARGIN_MM, leave one interval of zeta:
    the rows inside it."""
    k = pairs.beam
    axis, across, along = (d[k] for d in frame)
    rel_x, rel_y = pairs.x - source[k, 0], pairs.y - source[k, 1]
    z0 = -source[k, 2]  # offsets at zeta = 0, slopes per mm of zeta
    depth, depth_slope = rel_x * axis[:, 0] + rel_y * axis[:, 1] + z0 * axis[:, 2], axis[:, 2]
    u, u_slope = rel_x * across[:, 0] + rel_y * across[:, 1] + z0 * across[:, 2], across[:, 2]
    w, w_slope = rel_x * along[:, 0] + rel_y * along[:, 1] + z0 * along[:, 2], along[:, 2]
    tan_u, tan_w = half_tans[0][k], half_tans[1][k]
    low, high = np.full(len(k), -np.inf), np.full(len(k), np.inf)
    feasible = np.ones(len(k), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for offset, slope in (
            (-depth, -depth_slope),
            (u - tan_u * depth, u_slope - tan_u * depth_slope),
            (-u - tan_u * depth, -u_slope - tan_u * depth_slope),
            (w - tan_w * depth, w_slope - tan_w * depth_slope),
            (-w - tan_w * depth, -w_slope - tan_w * depth_slope),
        ):  # offset + slope * zeta <= MARGIN_MM
            bound = (MARGIN_MM - offset) / slope
            high = np.where(slope > 0, np.minimum(high, bound), high)
            low = np.where(slope < 0, np.maximum(low, bound), low)
            feasible &= (slope != 0) | (offset <= MARGIN_MM)
    first, last = np.empty(len(k), dtype=np.intp), np.empty(len(k), dtype=np.intp)
    for zeta, where in pairs.by_zeta:  # each phantom's rows
        first[where] = np.searchsorted(zeta, low[where], side="left")
        last[where] = np.searchsorted(zeta, high[where], side="right")
    rows = np.where(feasible, np.maximum(last - first, 0), 0)
    return rows > 0, first, rows


@dataclass(frozen=True)
class _Surface:
    """A phantom's cells in its local frame: (x, y) and the normal depend on the angle alone,
    zeta on the row along the body; cell ``angle * along + row`` as in :meth:`Phantom.cells`."""

    x: FloatArray  # (around,): a sin phi
    y: FloatArray  # (around,): b cos phi
    normal32: npt.NDArray[np.float32]  # (around, 3)
    local_dot_normal: FloatArray  # (around,)
    zeta: FloatArray  # (along,)
    cells: int


@lru_cache(maxsize=1024)  # a month has a few hundred phantom sizes: 64 missed every one
def _surface(phantom: Phantom) -> _Surface:
    phi, zeta = _lines(phantom)
    a, b = phantom.width_mm / 2, phantom.thickness_mm / 2
    local = np.stack([a * np.sin(phi), b * np.cos(phi), np.zeros_like(phi)], axis=1)
    normal = np.stack([np.sin(phi) / a, np.cos(phi) / b, np.zeros_like(phi)], axis=1)
    return _Surface(
        x=local[:, 0],
        y=local[:, 1],
        normal32=normal.astype(np.float32),
        local_dot_normal=np.einsum("cj,cj->c", local, normal),
        zeta=zeta,
        cells=len(phi) * len(zeta),
    )


@dataclass(frozen=True)
class _Pairs:
    """The (angle, beam) pairs of a batch of maps where the angle's cells face the beam's source,
    in each map's (angle, beam) order; per pair its cells' x, y, first cell and row stride."""

    beam: npt.NDArray[np.intp]  # into the batch's beams
    x: FloatArray
    y: FloatArray
    cell: npt.NDArray[np.intp]  # the first cell of the angle's in its chunk's sums
    row: npt.NDArray[np.intp]  # the pair's phantom's first row in ``zeta`` of the batch
    by_zeta: list[tuple[FloatArray, slice]]  # each map's rows and its pairs


def dose_map(
    phantom: Phantom, beams: Beams, f_factor: float, chunk: int = 256
) -> tuple[FloatArray, FloatArray, float]:
    """(skin dose per cell in Gy, whether each beam hit a cell, shortest source to hit-cell
    distance in mm): :func:`dose_maps` of one map."""
    return dose_maps(beams, [(phantom, 0, len(beams.kerma_gy))], f_factor, chunk)[0]


def dose_maps(
    beams: Beams, maps: list[tuple[Phantom, int, int]], f_factor: float, chunk: int = 256
) -> list[tuple[FloatArray, FloatArray, float]]:
    """:func:`dose_map` of each (phantom, first and end beam of its own in ``beams``), a month's
    maps in batches of ~1M cells: the per-cell work of a batch in one pass of arrays, where one
    pass per map spent its time calling numpy on a few hundred candidates each time. Every map's
    beams go in chunks of ``chunk`` whose doses add as one map's did alone, so each value is the
    same to the bit."""
    out: list[tuple[FloatArray, FloatArray, float]] = []
    start, cells = 0, 0
    for end, (phantom, first, stop) in enumerate(maps, 1):
        cells += _surface(phantom).cells * -(-(stop - first) // chunk)
        if cells >= 1 << 20 or end == len(maps):
            out += _dose_batch(beams, maps[start:end], f_factor, chunk)
            start, cells = end, 0
    return out


def _dose_batch(
    every: Beams, maps: list[tuple[Phantom, int, int]], f_factor: float, chunk: int
) -> list[tuple[FloatArray, FloatArray, float]]:
    """A cell is ``centre + signs * local``, so every beam-cell product splits into a per-beam
    constant plus a cell-by-beam product of three terms; only the cells a beam can reach
    (:func:`_reach`) are tested, each with the same float32 products as a full test."""
    surfaces = [_surface(phantom) for phantom, _, _ in maps]
    sizes = [stop - first for _, first, stop in maps]
    beams = every.take(np.concatenate([np.arange(first, stop) for _, first, stop in maps]))
    map_row = np.cumsum([0] + [len(s.zeta) for s in surfaces])
    beam_start = np.cumsum([0, *sizes])
    offset = beams.centre - beams.source  # source to phantom centre, per beam
    signs = beams.orientation
    none, nowhere = np.empty(0, dtype=np.intp), np.empty(0)  # no beams, no pairs
    beam_of, cell_of, row_of, x_of, y_of = [none], [none], [none], [nowhere], [nowhere]
    by_zeta = []
    sums: list[list[int]] = []  # per map, where each of its chunks' cell sums start
    pairs_so_far = bins = 0
    for m, surface in enumerate(surfaces):
        along_count = len(surface.zeta)
        first_pair = pairs_so_far
        sums.append([])
        for start in range(beam_start[m], beam_start[m + 1], chunk):
            s = slice(start, min(start + chunk, beam_start[m + 1]))
            sums[m].append(bins)
            facing = (
                _times(surface.normal32, (offset[s] * signs[s]).astype(np.float32))
                < -surface.local_dot_normal[:, None]
            )
            angle, k = np.nonzero(facing)
            beam_of.append(k + start)
            x_of.append(surface.x[angle])
            y_of.append(surface.y[angle])
            cell_of.append(bins + angle * along_count)
            row_of.append(np.full(len(k), map_row[m]))
            pairs_so_far += len(k)
            bins += surface.cells
        by_zeta.append((surface.zeta, slice(first_pair, pairs_so_far)))
    pairs = _Pairs(
        beam=np.concatenate(beam_of),
        x=np.concatenate(x_of),
        y=np.concatenate(y_of),
        cell=np.concatenate(cell_of),
        row=np.concatenate(row_of),
        by_zeta=by_zeta,
    )
    a, c = beams.axis, beams.across  # along = axis x across, the products np.cross forms
    along_dir = np.stack(
        [
            a[:, 1] * c[:, 2] - a[:, 2] * c[:, 1],
            a[:, 2] * c[:, 0] - a[:, 0] * c[:, 2],
            a[:, 0] * c[:, 1] - a[:, 1] * c[:, 0],
        ],
        axis=1,
    )
    directions = (beams.axis, beams.across, along_dir)
    keep, first, rows = _reach(
        pairs,
        -offset * signs,
        (signs * directions[0], signs * directions[1], signs * directions[2]),
        (beams.half_tan_across, beams.half_tan_along),
    )
    beam_of_pair, first, rows = pairs.beam[keep], first[keep], rows[keep]
    # candidates run by (angle, beam): per-run values spread by np.repeat, not gathered
    step = np.arange(int(rows.sum())) - np.repeat(np.cumsum(rows) - rows, rows)
    k_all = np.repeat(beam_of_pair, rows)
    row_all = np.repeat(first, rows) + step  # in its phantom
    zeta_all = np.repeat(pairs.row[keep], rows) + row_all  # in the batch's rows
    cell_all = np.repeat(pairs.cell[keep], rows) + row_all
    zeta = np.concatenate([s.zeta for s in surfaces])
    lz = zeta.astype(np.float32)[zeta_all]
    x_pair, y_pair = pairs.x[keep], pairs.y[keep]
    x_angle, y_angle = x_pair.astype(np.float32), y_pair.astype(np.float32)

    projected = []  # depth, u, w of each candidate: the float32 products of a full test
    for direction in directions:
        constant = np.einsum("kj,kj->k", offset, direction).astype(np.float32)
        d32 = (signs * direction).astype(np.float32)[beam_of_pair]
        xy = x_angle * d32[:, 0] + y_angle * d32[:, 1]
        projected.append(
            (np.repeat(xy, rows) + lz * np.repeat(d32[:, 2], rows))
            + np.repeat(constant[beam_of_pair], rows)
        )
    depth, u, w = projected
    inside = (
        (depth > 0)
        & (np.abs(u) <= beams.half_tan_across[k_all] * depth)
        & (np.abs(w) <= beams.half_tan_along[k_all] * depth)
    )
    k_index, c_index = k_all[inside], cell_all[inside]
    hit = np.zeros(len(beams.kerma_gy), dtype=bool)
    hit[k_index] = True
    # source -> cell, by component
    vx, vy, vz = (
        offset[:, i][k_index] + signs[:, i][k_index] * line
        for i, line in (
            (0, np.repeat(x_pair, rows)[inside]),
            (1, np.repeat(y_pair, rows)[inside]),
            (2, zeta[zeta_all[inside]]),
        )
    )
    distance = np.sqrt(vx * vx + vy * vy + vz * vz)
    nearest = np.full(len(maps), np.inf)
    map_of_beam = np.repeat(np.arange(len(maps)), sizes)
    np.minimum.at(nearest, map_of_beam[k_index], distance)
    side_cm = (2 * np.sqrt(beams.half_tan_across * beams.half_tan_along) / 10)[k_index] * depth[
        inside
    ].astype(np.float64)
    bsf = backscatter_factor(beams.bsf_coefficients, side_cm, k_index)
    src_x, src_y = beams.source[:, 0], beams.source[:, 1]
    below = (src_y < beams.table_top_y)[k_index]
    t = (beams.table_top_y - src_y)[k_index] / vy
    x_cross = (src_x - beams.centre[:, 0])[k_index] + t * vx
    through = below & (np.abs(x_cross) <= beams.table_half_width_mm[k_index])
    table = np.where(through, beams.table_transmission[k_index], 1.0)
    scale = beams.kerma_gy * beams.reference_mm**2 * f_factor
    dose = scale[k_index] / distance**2 * bsf * table
    # each chunk's doses summed apart, in their order, then a map's chunks in theirs
    summed = np.bincount(c_index, weights=dose, minlength=bins)
    out = []
    for m, surface in enumerate(surfaces):
        total = np.zeros(surface.cells)
        for begin in sums[m]:
            total += summed[begin : begin + surface.cells]
        out.append((total, hit[beam_start[m] : beam_start[m + 1]], float(nearest[m])))
    return out


def merge_identical(
    beams: Beams, group: npt.NDArray[np.int64]
) -> tuple[Beams, npt.NDArray[np.intp]]:
    """Beams of one ``group`` (a map) and of equal geometry and beam quality as one, their Dose
    (RP) summed (exact: the dose is linear in it); real studies repeat a projection many times.
    Also returns, per input beam, its merged beam (in order of first appearance)."""
    geometry = np.column_stack(
        [
            group.astype(np.float64),
            beams.source,
            beams.axis,
            beams.across,
            beams.half_tan_across,
            beams.half_tan_along,
            beams.reference_mm,
            beams.bsf_coefficients,
            beams.table_transmission,
            beams.centre,
            beams.table_top_y,
            beams.table_half_width_mm,
            beams.orientation,
        ]
    )
    index: dict[bytes, int] = {}  # a dict of row bytes: np.unique(axis=0) sorts, 10x slower
    inverse = np.array(
        [index.setdefault(row.tobytes(), len(index)) for row in geometry], dtype=np.intp
    )
    first = np.unique(inverse, return_index=True)[1]
    kerma = np.bincount(inverse, weights=beams.kerma_gy, minlength=len(first)).astype(np.float64)
    return beams.take(first, kerma), inverse
