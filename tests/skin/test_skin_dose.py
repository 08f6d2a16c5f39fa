"""Skin dose (issue 16): analytic fields on a known phantom, and every real fluoroscopy report.

The analytic cases use one device entry whose table positions are absolute (relative to the
isocentre), so a position in the event is where the phantom is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import polars as pl
import pydicom
import pytest
from builders.corpus import CORPUS

from xrf_assets.core.audit.alerts import psd_alerts
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.skin import beam
from xrf_assets.core.skin.geometry import Axis, Conventions
from xrf_assets.core.skin.phantom import Beams, Phantom, dose_map
from xrf_assets.core.skin.study import build_skin_dose
from xrf_assets.core.skin.svg import render, render_maps, write_maps
from xrf_assets.core.store import frame_from_rows, validate

MONTH = "2024-05"
PHANTOM = Phantom(width_mm=300, thickness_mm=200, length_mm=1000, resolution_mm=10)
DSI, DSRP, SID, TABLE_BELOW_ISO = 800.0, 650.0, 1200.0, 150.0


@cache
def _conventions() -> Conventions:
    """The shipped file, with Siemens read as absolute table positions."""
    loaded = Conventions.load()
    siemens = dataclasses.replace(
        loaded.devices[0], longitudinal=Axis(1, "absolute"), lateral=Axis(1, "absolute")
    )
    return dataclasses.replace(loaded, devices=(siemens,))


def _event(n: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "irradiation_event_uid": f"1.2.3.{n}",
        "report_sop_instance_uid": "1.2.3",
        "study_instance_uid": values.pop("study", "1.2.3.100"),
        "study_date": date(2024, 5, 6),
        "modality": "fluoroscopy",
        "room_id": "angio 1",
        "patient_id": "P1",
        "manufacturer": "Siemens",
        "model": "AXIOM-Artis",
        "acquisition_plane": "single_plane",
        "event_type": "fluoroscopy",
        "dose_rp_gy": 1.0,
        "dap_gy_m2": 1e-3,
        "kvp_kv": 80.0,
        "filter_material": "Copper or Copper compound",
        "filter_thickness_max_mm": 0.3,
        "collimated_field_area_m2": 0.04,
        "positioner_primary_angle_deg": 0.0,
        "positioner_secondary_angle_deg": 0.0,
        "distance_source_to_isocenter_mm": DSI,
        "distance_source_to_detector_mm": SID,
        "distance_source_to_reference_point_mm": DSRP,
        "table_longitudinal_position_mm": 0.0,
        "table_lateral_position_mm": 0.0,
        "table_height_position_mm": TABLE_BELOW_ISO,
        "patient_table_relationship": "head_first",
        "patient_orientation_modifier": "supine",
        "source_path": "x.dcm",
    }
    row.update(values)
    return row


def _skin(*events: dict[str, Any]) -> tuple[pl.DataFrame, list[Any]]:
    df, maps = build_skin_dose(
        frame_from_rows("irradiation_events", events), MONTH, _conventions(), PHANTOM
    )
    validate("skin_dose", df)
    return df, maps


def _expected_posterior_dose(kerma_gy: float) -> float:
    """Dose (RP) x inverse square x backscatter x table x f at the posterior midline cell."""
    skin_y = -TABLE_BELOW_ISO + 40.0  # table top + mattress (defaults of skin_geometry.yaml)
    distance = DSI + skin_y  # source at y = -DSI
    side_cm = math.sqrt(0.04) * 1000 * distance / SID / 10
    hvl = beam.half_value_layer_mm_al(np.array([80.0]), np.array([0.3]), np.array([0.0]))
    coefficients = beam.backscatter_coefficients(np.array([80.0]), hvl)
    bsf = float(beam.backscatter_factor(coefficients, np.array([side_cm]))[0])
    return kerma_gy * (DSRP / distance) ** 2 * bsf * 0.8 * beam.F_TISSUE_AIR


def test_perpendicular_field_gives_inverse_square_backscatter_and_table_factor() -> None:
    df, maps = _skin(_event(1))
    row = df.row(0, named=True)
    assert row["peak_skin_dose_gy"] == pytest.approx(_expected_posterior_dose(1.0), rel=2e-3)
    assert row["psd_angle_deg"] == pytest.approx(180.0, abs=3.0)  # posterior midline
    assert abs(row["psd_body_position_mm"]) <= 10.0
    assert row["dose_rp_hit_fraction"] == 1.0
    assert row["reason"] is None
    # the field (115 mm at the skin) covers about 11 x 11 cells of 10 mm
    assert 90 <= int((maps[0].dose_gy > 0).sum()) <= 160


def test_two_opposite_fields_do_not_add() -> None:
    pa, pa_maps = _skin(_event(1))
    ap, ap_maps = _skin(_event(2, positioner_primary_angle_deg=180.0))
    both, both_maps = _skin(_event(1), _event(2, positioner_primary_angle_deg=180.0))
    assert not np.any((pa_maps[0].dose_gy > 0) & (ap_maps[0].dose_gy > 0))
    np.testing.assert_allclose(both_maps[0].dose_gy, pa_maps[0].dose_gy + ap_maps[0].dose_gy)
    peaks = (pa.item(0, "peak_skin_dose_gy"), ap.item(0, "peak_skin_dose_gy"))
    assert both.item(0, "peak_skin_dose_gy") == pytest.approx(max(peaks))
    # the AP field enters anteriorly, closer to the source and without the table
    assert ap.item(0, "psd_angle_deg") == pytest.approx(0.0, abs=3.0) or ap.item(
        0, "psd_angle_deg"
    ) == pytest.approx(360.0, abs=3.0)
    assert peaks[1] > peaks[0]


@pytest.mark.parametrize(
    ("primary_deg", "entrance_deg"),
    [(0.0, 180.0), (90.0, 270.0), (-90.0, 90.0), (45.0, 225.0)],
)
def test_rotating_the_c_arm_moves_the_spot_around_the_phantom(
    primary_deg: float, entrance_deg: float
) -> None:
    """LAO 90 puts the detector at the patient's left, so the beam enters on the right (270)."""
    df, _ = _skin(_event(1, positioner_primary_angle_deg=primary_deg))
    found = df.item(0, "psd_angle_deg")
    # on an ellipse the entrance point of an oblique beam lies off the polar angle: 25 degrees
    assert abs((found - entrance_deg + 180) % 360 - 180) <= 25.0


def test_cranial_tilt_moves_the_spot_along_the_body() -> None:
    flat, _ = _skin(_event(1))
    cranial, _ = _skin(_event(1, positioner_secondary_angle_deg=30.0))
    # detector towards the head: the source below the feet side, entrance moves caudally
    assert cranial.item(0, "psd_body_position_mm") < flat.item(0, "psd_body_position_mm") - 50


def test_a_field_missing_the_phantom_gives_zero_and_its_fraction() -> None:
    miss = {"table_lateral_position_mm": 1000.0}
    alone, _ = _skin(_event(1, **miss))
    assert alone.item(0, "peak_skin_dose_gy") == 0.0
    assert alone.item(0, "dose_rp_hit_fraction") == 0.0
    mixed, _ = _skin(_event(1), _event(2, dose_rp_gy=3.0, study="1.2.3.100", **miss))
    # the study's table position is per event: the second event's phantom is 1 m aside
    assert mixed.item(0, "dose_rp_hit_fraction") == pytest.approx(0.25)
    assert mixed.item(0, "peak_skin_dose_gy") == pytest.approx(_expected_posterior_dose(1.0), 2e-3)


def test_missing_geometry_is_named_in_the_reason() -> None:
    df, maps = _skin(_event(1, table_height_position_mm=None, positioner_primary_angle_deg=None))
    row = df.row(0, named=True)
    assert row["peak_skin_dose_gy"] is None and maps == []
    assert "Positioner Primary Angle (112011) (1/1 events)" in row["reason"]
    assert "Table Height Position (113753) (1/1 events)" in row["reason"]


def _runs(path: ElementTree.Element) -> list[str]:
    return [f"M{run}" for run in (path.get("d") or "").split("M")[1:]]


def test_psd_alert_rows_and_map_image() -> None:
    df, maps = _skin(_event(1, dose_rp_gy=4.0))
    alerts = psd_alerts(df, MONTH, 3.0)
    validate("dose_alerts", alerts)
    assert alerts.select("rule", "threshold").row(0) == ("study_peak_skin_dose_gy", 3.0)
    assert alerts.item(0, "value") == pytest.approx(_expected_posterior_dose(4.0), rel=2e-3)
    assert psd_alerts(df, MONTH, 10.0).height == 0
    svg = ElementTree.fromstring(render(maps[0], 3.0))
    texts = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0].startswith(f"Skin dose map, PSD {alerts.item(0, 'value'):.3f} Gy")
    assert texts[1:] == ["front (head up)", "back (head up)"]
    paths = list(svg.iter("{http://www.w3.org/2000/svg}path"))
    assert len({p.get("fill") for p in paths}) == len(paths)  # one path per colour
    runs = [re.fullmatch(r"M(\d+) (\d+)h4v(\d+)h-4z", r) for p in paths for r in _runs(p)]
    assert all(runs)
    cells = {(int(m[1]), int(m[2]) + y) for m in runs if m for y in range(0, int(m[3]), 4)}
    assert sum(int(m[3]) // 4 for m in runs if m) == len(cells)  # no cell drawn twice
    assert len(cells) == int((maps[0].dose_gy > 0).sum())  # every irradiated cell


def test_maps_are_written_as_rendered_and_a_failed_write_raises(tmp_path: Path) -> None:
    """The threaded writer leaves exactly each map's SVG at its map_file, no temporary file;
    a map it cannot write fails the call instead of being lost quietly."""
    df, maps = _skin(*(_event(n, study=f"1.2.3.{100 + n}", dose_rp_gy=n) for n in range(1, 4)))
    paths = df.get_column("map_file").to_list()
    assert len(maps) == 3 and len(set(paths)) == 3
    write_maps(tmp_path, maps, paths, 3.0)
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(tmp_path / p for p in paths)
    for skin_map, path in zip(maps, paths, strict=True):
        assert (tmp_path / path).read_text(encoding="utf-8") == render(skin_map, 3.0)
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(OSError):
        write_maps(tmp_path, maps[:2], [paths[0], "blocked/map.svg"], 3.0)


def test_hvl_model_against_iec_61267_rqr_qualities() -> None:
    """IEC 61267 RQR HVLs (2.5 mm Al total filtration) within 16 % at 70-120 kV."""
    rqr = {70: 2.58, 80: 3.01, 90: 3.48, 100: 3.97, 120: 5.00}
    kvp = np.array(list(rqr), dtype=float)
    # RQR's 2.5 mm Al plus the model's 2 mm Al anode self-filtration is 0.6 mm below the
    # 5.1 mm the model always adds
    found = beam.half_value_layer_mm_al(kvp, np.zeros(len(kvp)), np.full(len(kvp), -0.6))
    np.testing.assert_allclose(found, list(rqr.values()), rtol=0.16)


def test_backscatter_factor_is_bounded_and_published_size() -> None:
    """About 1.4 at 80 kV, HVL 3 mm Al, 20 x 20 cm (ICRU 74 / Petoussi-Henss 1998); always
    below BSF_MAX used by the bound."""
    c = beam.backscatter_coefficients(np.array([80.0]), np.array([3.0]))
    assert float(beam.backscatter_factor(c, np.array([20.0]))[0]) == pytest.approx(1.39, abs=0.06)
    kv, hvl = np.meshgrid(np.linspace(40, 160, 25), np.linspace(0.5, 14, 28))
    grid = beam.backscatter_coefficients(kv.reshape(-1), hvl.reshape(-1))
    assert grid.max() <= beam.BSF_MAX and grid.min() >= 1.0


@cache  # three tests read the corpus: once
def _corpus_events() -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        try:
            rows.extend(extract_report(ds, path.name).events)
        except ValueError:  # the Siemens proprietary summary holds no events
            continue
    return frame_from_rows("irradiation_events", rows).unique(
        "irradiation_event_uid", keep="first", maintain_order=True
    )


def _corpus_months() -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The real corpus's events, its fluoroscopy events and their months; skips without it."""
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS}")
    events = _corpus_events()
    fluoro = events.filter(pl.col("modality") == "fluoroscopy")
    months = fluoro.get_column("study_date").dt.strftime("%Y-%m").drop_nulls()
    return events, fluoro, sorted(set(months))


def test_every_real_fluoroscopy_report_gets_a_psd_or_a_reason_within_the_bound() -> None:
    events, fluoro, months = _corpus_months()
    conventions = Conventions.load()
    df = pl.concat([build_skin_dose(events, m, conventions)[0] for m in months])
    validate("skin_dose", df)
    assert set(df.get_column("study_instance_uid")) == set(
        fluoro.get_column("study_instance_uid").drop_nulls()
    )
    assert df.filter(pl.col("peak_skin_dose_gy").is_null() == pl.col("reason").is_null()).is_empty()
    computed = df.filter(pl.col("peak_skin_dose_gy").is_not_null())
    assert sorted(computed.get_column("geometry_convention")) == [
        "canon_alphenix",
        "philips_allura",
        "philips_allura",  # RF-Pat-Orientation-Modifier-Missing: named by its observer context
        "philips_azurion",
        "siemens_axiom_artis",  # its _adjusted copy's events are the same events (same UIDs)
    ]
    assert computed.filter(pl.col("peak_skin_dose_gy") > pl.col("psd_bound_gy")).is_empty()
    assert (computed.get_column("dose_rp_hit_fraction") > 0.9).all()
    # PSD against the study's Dose (RP): table transmission and spread fields lower it
    ratio = computed.get_column("peak_skin_dose_gy") / computed.get_column("dose_rp_total_gy")
    assert ((ratio > 0.2) & (ratio < 1.5)).all(), ratio.to_list()
    reasons = dict(
        df.filter(pl.col("reason").is_not_null()).select("geometry_convention", "reason").rows()
    )
    assert "Table Longitudinal Position (113751) (4/4 events)" in reasons["eurocolumbus"]
    assert "Positioner Primary Angle (112011) (8/8 events)" in reasons["ge_surgical_c_arm"]
    assert None not in reasons  # every corpus device has a convention
    high = computed.filter(pl.col("dose_rp_total_gy") > 5).row(0, named=True)
    assert high["event_count"] == 316 and 3.0 < high["peak_skin_dose_gy"] < high["dose_rp_total_gy"]


def test_extraction_reads_patient_size_weight_and_position() -> None:
    events = _corpus_events()
    azurion = events.filter(pl.col("model") == "Azurion")
    assert azurion.select("patient_size_m", "patient_weight_kg").unique().rows() == [(1.68, 73.0)]
    assert set(azurion.get_column("patient_table_relationship")) == {"head_first"}
    euro = events.filter(pl.col("manufacturer") == "EUROCOLUMBUS")
    # Eurocolumbus nests the modifier under Patient Orientation and sends no table relationship
    assert set(euro.get_column("patient_orientation_modifier")) == {"supine"}
    assert euro.get_column("patient_table_relationship").null_count() == euro.height


def test_a_device_without_convention_is_named() -> None:
    df, maps = _skin(_event(1, manufacturer="Acme", model="X1"))
    assert maps == [] and df.item(0, "peak_skin_dose_gy") is None
    assert df.item(0, "reason").startswith(
        "no geometry convention for manufacturer 'Acme' model 'X1'"
    )


def test_a_table_height_the_convention_misreads_is_refused_not_zero() -> None:
    """An Azurion height of 175 mm read as above the floor (isocentre 1055 mm) puts the patient
    around the source: a reason, not a PSD of 0 (the generator sends Siemens-like heights)."""
    events = frame_from_rows(
        "irradiation_events",
        [_event(1, manufacturer="Philips", model="Azurion 7 M20", table_height_position_mm=175.0)],
    )
    df, maps = build_skin_dose(events, MONTH, Conventions.load(), PHANTOM)
    assert maps == [] and df.item(0, "peak_skin_dose_gy") is None
    assert df.item(0, "reason").startswith("implausible geometry: the source of every beam")
    assert "'philips_azurion'" in df.item(0, "reason")


def test_testing_only_reachable_cells_finds_every_cell_a_full_test_finds() -> None:
    """dose_map tests only the cells a beam's field can reach; a float64 test of every cell
    against every beam (pyramid and facing) must find the same cells, over C-arm angles from
    PA to lateral, tilts, table shifts, field sizes and both orientations."""
    rng = np.random.default_rng(17)
    n = 300
    alpha = np.radians(rng.uniform(-120, 120, n))
    beta = np.radians(rng.uniform(-40, 40, n))
    axis = np.stack([np.sin(alpha) * np.cos(beta), np.cos(alpha) * np.cos(beta), np.sin(beta)], 1)
    across = np.stack([np.cos(alpha), -np.sin(alpha), np.zeros(n)], axis=1)
    top = np.full(n, -TABLE_BELOW_ISO)
    centre = np.stack(
        [rng.uniform(-80, 80, n), top + 40 + PHANTOM.thickness_mm / 2, rng.uniform(-400, 400, n)],
        axis=1,
    )
    beams = Beams(
        source=-DSI * axis,
        axis=axis,
        across=across,
        half_tan_across=rng.uniform(0.03, 0.2, n),
        half_tan_along=rng.uniform(0.03, 0.2, n),
        reference_mm=np.full(n, DSRP),
        kerma_gy=np.ones(n),
        bsf_coefficients=beam.backscatter_coefficients(np.full(n, 80.0), np.full(n, 4.0)),
        table_transmission=np.full(n, 0.8),
        centre=centre,
        table_top_y=top,
        table_half_width_mm=np.full(n, 250.0),
        orientation=np.array([(1.0, 1.0, 1.0), (-1.0, -1.0, 1.0)])[rng.integers(0, 2, n)],
    )
    phi, zeta, _, _ = PHANTOM.cells()
    a, b = PHANTOM.width_mm / 2, PHANTOM.thickness_mm / 2
    local = np.stack([a * np.sin(phi), b * np.cos(phi), zeta], axis=1)
    normal = np.stack([np.sin(phi) / a, np.cos(phi) / b, np.zeros_like(phi)], axis=1)
    along = np.cross(axis, across)
    reached = 0
    for k in range(n):
        signs = beams.orientation[k]
        v = centre[k] + signs * local - beams.source[k]  # source -> cell
        depth, u, w = v @ axis[k], v @ across[k], v @ along[k]
        expected = (
            (depth > 0)
            & (np.abs(u) <= beams.half_tan_across[k] * depth)
            & (np.abs(w) <= beams.half_tan_along[k] * depth)
            & (np.einsum("cj,cj->c", signs * normal, v) < 0)
        )
        dose, _, _ = dose_map(PHANTOM, beams.take(np.array([k])), 1.0)
        assert np.array_equal(dose > 0, expected), k
        reached += int(expected.any())
    assert reached > 250  # most fields reach the phantom: the comparison is not of empty maps


def test_a_source_nearer_the_skin_than_any_fluoroscope_allows_is_refused() -> None:
    """Table top 700 mm under the isocentre puts the back 14 cm from a source 800 mm under it
    (21 CFR 1020.32(g) allows no less than 20 cm): a reason, not the inverse square's 30x PSD;
    at 600 mm (24 cm) the map is made; mixed, the near beams are left out and counted."""
    near, _ = _skin(_event(1, table_height_position_mm=700.0))
    assert near.item(0, "peak_skin_dose_gy") is None
    assert near.item(0, "reason").startswith(
        "implausible geometry: the source of every beam lies inside the phantom or nearer than "
        "20 cm to its skin"
    )
    far, _ = _skin(_event(1, table_height_position_mm=600.0))
    assert far.item(0, "reason") is None and far.item(0, "skin_distance_min_mm") == pytest.approx(
        240.0, abs=1.0
    )
    mixed, _ = _skin(_event(1), _event(2, table_height_position_mm=700.0))
    assert mixed.item(0, "peak_skin_dose_gy") == pytest.approx(_expected_posterior_dose(1.0), 1e-3)
    assert (
        "1 beams with the source inside the phantom or nearer than 20 cm to its skin left out"
        in (mixed.item(0, "assumptions"))
    )


def _varied_events(n: int) -> list[dict[str, Any]]:
    """Two studies of ``n`` events each, one of them biplane: C-arm angles, rotations, tilts,
    table shifts, kV, copper and aluminium filters, field sizes, both orientations and sizes."""
    rng = np.random.default_rng(5)
    events = []
    for k in range(2 * n):
        study = f"1.2.3.{200 + k % 2}"
        values: dict[str, Any] = {
            "study": study,
            "dose_rp_gy": float(rng.uniform(0.001, 0.2)),
            "kvp_kv": float(rng.uniform(60, 125)) if k % 7 else None,
            "filter_material": ("Copper or Copper compound", "Aluminum", "Copper; Aluminum")[k % 3],
            "filter_thickness_max_mm": float(rng.choice([0.0, 0.1, 0.2, 0.3, 0.6, 0.9, 1.5])),
            "collimated_field_area_m2": float(rng.uniform(0.005, 0.09)),
            "positioner_primary_angle_deg": float(rng.uniform(-110, 110)),
            "positioner_secondary_angle_deg": float(rng.uniform(-35, 35)),
            "table_longitudinal_position_mm": float(rng.uniform(-300, 300)),
            "table_lateral_position_mm": float(rng.uniform(-60, 60)),
            "patient_size_m": 1.55 + 0.3 * (k % 2),
            "patient_weight_kg": 60.0 + 35 * (k % 2),
        }
        if k % 11 == 0:
            values["positioner_primary_end_angle_deg"] = values["positioner_primary_angle_deg"] + 60
        if study.endswith("1"):
            values["acquisition_plane"] = ("plane_a", "plane_b")[k // 2 % 2]
        if k % 5 == 0:
            values["patient_orientation_modifier"] = "prone"
        events.append(_event(k, **values))
    return events


def _rounded(rows: list[tuple[Any, ...]]) -> str:
    """Rows with every float to 10 significant digits: a faster path must give the same values,
    but another CPU's numpy (its SIMD exp and trigonometry) may differ in the last bit."""
    return repr([tuple(f"{v:.10g}" if isinstance(v, float) else v for v in r) for r in rows])


def test_tables_and_map_images_are_pinned() -> None:
    """The skin_dose rows (every value to 10 digits) and every map's SVG (its numbers are drawn
    rounded) of the real corpus and of varied analytic studies: a faster path must give the same
    bytes. A change of the model changes these digests on purpose."""
    events, _, months = _corpus_months()
    conventions = Conventions.load()
    cases = [(events, m, conventions, None) for m in months]
    varied = frame_from_rows("irradiation_events", _varied_events(120))
    cases.append((varied, MONTH, _conventions(), None))
    tables, images = hashlib.sha256(), hashlib.sha256()
    count = 0
    for case in cases:
        df, maps = build_skin_dose(*case)
        tables.update(_rounded(df.rows()).encode())
        for text in render_maps(maps, 3.0):  # as write_maps draws them, several at once
            images.update(text.encode())
            count += 1
    assert count == 9
    assert tables.hexdigest()[:16] == "66245028347b0f8f"
    assert images.hexdigest()[:16] == "134f8818217cfeb1"


def test_half_value_layers_are_pinned() -> None:
    """HVL over kV 40-150 and the filters a month sends, to 1e-10 mm (their digest)."""
    kvp, cu, al = np.meshgrid(
        np.arange(40.0, 151.0, 7.0), np.arange(0.0, 1.0, 0.15), [0.0, 0.5, 1.0, 2.5]
    )
    hvl = beam.half_value_layer_mm_al(kvp.reshape(-1), cu.reshape(-1), al.reshape(-1))
    assert len(hvl) == 448 and 1.5 < hvl.min() < hvl.max() < 15
    assert hashlib.sha256(hvl.round(10).tobytes()).hexdigest()[:16] == "3dfb8202406dc9bf"


def test_the_geometry_file_is_parsed_once_per_version(tmp_path: Path) -> None:
    """Each month's skin_dose run asks for the conventions: the same file gives the same value
    without parsing it again, an edited one its new content."""
    shipped = (resources.files("xrf_assets") / "defaults" / "skin_geometry.yaml").read_text()
    path = tmp_path / "skin_geometry.yaml"
    path.write_text(shipped)
    first = Conventions.load(path)
    assert Conventions.load(path) is first and first.table_transmission == 0.8
    path.write_text(shipped.replace("table_transmission: 0.8", "table_transmission: 0.75"))
    assert Conventions.load(path).table_transmission == 0.75
