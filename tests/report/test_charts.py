"""The report's own SVG charts: known values give boxes, whiskers, bars and ticks at the known
places in SVG coordinates (read back from the chart's elements and its axis ticks)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import polars as pl
import pytest

from xrf_assets.core.report.charts import (
    box_stats,
    distributions,
    drl_chart,
    nice_ticks,
    trend_chart,
)

NS = "{http://www.w3.org/2000/svg}"


def _panels(svg: str) -> list[tuple[ET.Element, list[ET.Element]]]:
    """Each panel's frame and the elements drawn within its x range, in document order."""
    root = ET.fromstring(svg)  # well-formed XML, as the HTML embeds it
    frames = [e for e in root.iter(f"{NS}rect") if e.get("class") == "axes"]
    panels = []
    for frame in frames:
        x0, x1 = float(frame.get("x", 0)), float(frame.get("x", 0)) + float(frame.get("width", 0))
        inside = [
            e
            for e in root.iter()
            if e.get("class") not in (None, "axes")
            and x0 - 0.01 <= float(e.get("x1") or e.get("x") or e.get("cx") or -1) <= x1 + 0.01
        ]
        panels.append((frame, inside))
    return panels


def _scale(elements: list[ET.Element]) -> tuple[float, float]:
    """(SVG x of value 0, SVG units per unit of value) from the panel's tick marks."""
    ticks = [(float(e.get("data-value", 0)), float(e.get("x1", 0)))
             for e in elements if e.get("class") == "xtick"]  # fmt: skip
    (v0, x0), (v1, x1) = ticks[0], ticks[-1]
    per = (x1 - x0) / (v1 - v0)
    return x0 - v0 * per, per


def _of(elements: list[ET.Element], cls: str) -> list[ET.Element]:
    return [e for e in elements if e.get("class") == cls]


def test_box_statistics_are_quartiles_and_tukey_whiskers() -> None:
    b = box_stats([1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
    # linear interpolation between ranks: q1 at rank 2.25, median 4.5, q3 6.75
    assert (b.q1, b.median, b.q3) == (3.25, 5.5, 7.75)
    assert (b.whisker_low, b.whisker_high) == (1, 9)  # 100 is beyond q3 + 1.5 IQR = 14.5
    one = box_stats([4.0])
    assert (one.q1, one.median, one.q3, one.whisker_low, one.whisker_high) == (4, 4, 4, 4, 4)


def test_ticks_are_round_numbers_within_the_range() -> None:
    assert nice_ticks(0, 10.5) == [0, 2.5, 5, 7.5, 10]
    assert nice_ticks(0, 21) == [0, 5, 10, 15, 20]
    assert nice_ticks(0, 0.84) == [0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0, 840) == [0, 200, 400, 600, 800]
    assert nice_ticks(0, 1.1) == [0, 0.25, 0.5, 0.75, 1]


def _studies() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "room_id": ["A"] * 5 + ["B & C"] * 2 + [None],
            "dap_total_gy_cm2": [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, None],
            "dose_rp_total_gy": [0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 2.0, 0.7],
            "fluoro_time_s": [60.0, 120.0, 180.0, 240.0, 300.0, 600.0, 1200.0, 30.0],
        }
    )


def test_boxes_sit_at_the_quartiles_in_svg_coordinates() -> None:
    svg = distributions(_studies(), "room_id", "(unknown)", "rooms")
    assert svg is not None and svg == distributions(_studies(), "room_id", "(unknown)", "rooms")
    panels = _panels(svg)
    assert len(panels) == 3  # DAP, Dose (RP), fluoroscopy time
    for (_, elements), unit in zip(panels, (1.0, 0.1, 1.0), strict=True):
        zero, per = _scale(elements)
        boxes, medians = _of(elements, "box"), _of(elements, "median")
        # rows: (unknown) (no DAP: no box there), A, "B & C"
        a, b = boxes[-2:]
        # room A: 1..5 units -> quartiles 2 and 4, median 3
        assert float(a.get("x", 0)) == pytest.approx(zero + 2 * unit * per, abs=0.01)
        assert float(a.get("width", 0)) == pytest.approx(2 * unit * per, abs=0.01)
        assert float(medians[-2].get("x1", 0)) == pytest.approx(zero + 3 * unit * per, abs=0.01)
        top, bottom = float(a.get("y", 0)), float(a.get("y", 0)) + float(a.get("height", 0))
        whiskers = sorted({round(float(e.get("x1", 0)), 2) for e in _of(elements, "whisker")
                           if top <= float(e.get("y1", 0)) <= bottom})  # fmt: skip
        # A's whisker lines: from 1 to q1 and from 5 to q3 (and their caps at 1 and 5)
        assert whiskers == sorted({round(zero + v * unit * per, 2) for v in (1, 5)})
        # "B & C": 10 and 20 (fluoro 10 and 20 min) -> quartiles 12.5 and 17.5
        assert float(b.get("x", 0)) == pytest.approx(zero + 12.5 * unit * per, abs=0.01)
    dap, dose, _ = panels
    assert len(_of(dap[1], "study")) == 7 and len(_of(dose[1], "study")) == 8  # one DAP is null
    assert len(_of(dap[1], "box")) == 2  # the room without a DAP has no box, but a row
    assert len(_of(dose[1], "box")) == 3
    labels = [t.text for t in ET.fromstring(svg).iter(f"{NS}text")]
    assert {"A", "B & C", "(unknown)", "DAP (Gy.cm2)", "Fluoroscopy time (min)"} <= set(labels)
    assert "B &amp; C" in svg


def test_drl_bars_reach_the_p75_and_ticks_mark_the_level() -> None:
    drl = pl.DataFrame(
        {
            "procedure": ["pci", "tavi", "(unmapped)"],
            "dap_median_gy_cm2": [100.0, 80.0, 0.5],
            "dap_p75_drl_candidate_gy_cm2": [350.0, 80.0, None],
            "drl_dap_gy_cm2": [85.0, 130.0, None],
        }
    )
    svg = drl_chart(drl)
    assert svg is not None
    ((_, elements),) = _panels(svg)
    zero, per = _scale(elements)
    bars = [(float(e.get("x", 0)), float(e.get("width", 0))) for e in _of(elements, "bar")]
    assert bars == [pytest.approx((zero, 350 * per), abs=0.01),
                    pytest.approx((zero, 80 * per), abs=0.01)]  # fmt: skip
    levels = [float(e.get("x1", 0)) for e in _of(elements, "level")]
    assert levels == [pytest.approx(zero + 85 * per, abs=0.01),
                      pytest.approx(zero + 130 * per, abs=0.01)]  # fmt: skip
    assert drl_chart(drl.filter(pl.col("procedure") == "(unmapped)")) is None
    odd = drl_chart(drl.with_columns(drl_dap_gy_cm2=pl.Series([float("nan"), 130.0, None])))
    assert odd is not None and "nan" not in odd  # no tick where the level is not a number
    assert len(_of(_panels(odd)[0][1], "level")) == 1


def test_trend_lines_break_at_months_without_an_audit() -> None:
    trend = pl.DataFrame(
        {
            "month": ["2026-07", "2026-08", "2026-10"],
            "room_id": ["A"] * 3,
            "modality": ["fluoroscopy"] * 3,
            "study_count": [3, 4, 5],
            "dap_median_gy_cm2": [10.0, 20.0, 30.0],
        }
    )
    months = ["2026-07", "2026-08", "2026-09", "2026-10"]
    svg = trend_chart(trend, months)
    assert svg is not None
    root = ET.fromstring(svg)
    # per panel: one line through July and August, none across September, October a lone point
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts.count("2026-09") == 2 and "A (fluoroscopy)" in texts
