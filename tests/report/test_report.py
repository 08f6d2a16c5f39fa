"""The audit report of a month with known values: its figures read back from the HTML."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import polars as pl
import pydicom
import pytest
from builders.audit_tables import known_events, known_images, known_links, known_studies
from builders.corpus import corpus_file
from builders.report_html import MONTH, Reported, parse, rows
from dagster import AssetKey, DagsterInstance, materialize

from pipelines.cli import main
from pipelines.definitions import defs
from pipelines.jobs import monthly_audit_job
from xrf_assets.assets import audit, report, skin
from xrf_assets.assets.report import report_settings
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.statistics import dose_by_room
from xrf_assets.core.audit.study_dose import build_study_dose
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.report.content import load_month
from xrf_assets.core.report.html import HEADINGS, render
from xrf_assets.core.report.pdf import find_chromium
from xrf_assets.core.report.settings import ReportSettings
from xrf_assets.core.report.write import write_report
from xrf_assets.core.store import TableStore, frame_from_rows
from xrf_assets.resources import XrfSettings

NONE = "\u2013"  # en dash: a cell without a value


def test_every_section_in_order_ending_with_the_signature(reported: Reported) -> None:
    assert parse(reported.html).headings == list(HEADINGS.values())
    assert all(
        re.search(r"\((count|Gy|Gy\.cm2|min|s|unit|units|date)", h) for h in HEADINGS.values()
    )
    assert "Reviewed by (name, role)" in reported.html


def test_studies_per_room_and_procedure(reported: Reported) -> None:
    table = {r["procedure"]: (r["room A"], r["room B"], r["all rooms"]) for r in rows(
        reported.html, "studies"
    )}  # fmt: skip
    assert table == {
        "(unmapped)": ("1", "2", "3"),  # S12 (images only), S10, S11
        "coronary_angiography": ("1", "1", "2"),
        "electrophysiology": ("0", "1", "1"),
        "pci": ("3", "0", "3"),
        "tavi": ("0", "1", "1"),
        "all procedures": ("5", "5", "10"),
    }


def test_room_medians_and_p75(reported: Reported) -> None:
    # room A: DAP 30, 100, 100, 600 Gy.cm2 (S12 has none); B: 1, 8, 60, 80
    got = {
        (r["room"], r["kind"]): (
            r["studies"],
            r["DAP median (Gy.cm2)"],
            r["DAP p75 (Gy.cm2)"],
            r["fluoro time median (min)"],
        )
        for r in rows(reported.html, "rooms")
    }
    assert got == {
        ("A", "fluoroscopy"): ("5", "100", "225", "12.5"),  # 5, 10, 15, 40 min
        ("B", "fluoroscopy"): ("4", "34", "65", "1.25"),  # 0, 0.5, 2, 70 min
        ("B", "radiography"): ("1", "0.1", "0.1", "0"),
    }
    assert reported.html.count("<svg") >= 4  # rooms, procedures, DRL, trend charts


def test_local_drl_candidates_against_the_reference_levels(reported: Reported) -> None:
    got = {
        r["procedure"]: (
            r["median DAP (Gy.cm2)"],
            r["local DRL candidate p75 (Gy.cm2)"],
            r["reference level (Gy.cm2)"],
            r["p75 / reference level (1)"],
            r["p75 above reference level"],
        )
        for r in rows(reported.html, "drl")
    }
    assert got == {
        "(unmapped)": ("0.55", "0.775", NONE, NONE, NONE),
        "coronary_angiography": ("45", "52.5", "35", "1.5", "yes"),
        "electrophysiology": ("8", "8", "12", "0.6667", "no"),
        "pci": ("100", "350", "85", "4.118", "yes"),
        "tavi": ("80", "80", "130", "0.6154", "no"),
    }


def test_every_alert_with_figure_rule_and_source(reported: Reported) -> None:
    alerts = rows(reported.html, "alerts")
    assert len(alerts) == 7
    study = [
        (a["rule"], a["value"], a["threshold"], a["unit"], a["source of the value"], a["room"],
         a["study or patient"])
        for a in alerts if a["scope"] == "study"
    ]  # fmt: skip
    assert study == [
        ("study_dap_gy_cm2", "600", "500", "Gy.cm2", "device_total", "A", "study S3"),
        ("study_dose_rp_gy", "5.5", "5", "Gy", "device_total", "A", "study S3"),
        ("study_fluoro_time_min", "70", "60", "min", "event_sum", "B", "study S4"),
    ]
    patients = {(a["rule"], a["value"], a["study or patient"]) for a in alerts} - set(
        (s[0], s[1], s[6]) for s in study
    )
    assert ("patient_window_dose_rp_gy", "5", "patient P6 (2 studies)") in patients


def test_flagged_studies_unlinked_images_and_files(reported: Reported) -> None:
    flagged = rows(reported.html, "flagged")
    dap = [(f["study"], f["flags"], f["DAP report total (Gy.cm2)"], f["DAP event sum (Gy.cm2)"])
           for f in flagged]  # fmt: skip
    assert dap == [("S5", "DAP/Dose (RP) total differs from its events", "60", "50")]
    assert [tuple(r.values()) for r in rows(reported.html, "unlinked")] == [
        ("no_dose_report", "A", "1"),
        ("outside_window", "A", "1"),  # im9 (no image row, no month) is left out
    ]
    assert "2 of 4 images of the month's studies are linked" in reported.html
    assert [tuple(r.values()) for r in rows(reported.html, "files")] == [
        ("rejected", "not a DICOM file: no DICM prefix", "0", "2"),
        ("duplicate", "same SOP Instance UID as # (kept)", "1", "1"),
        ("rejected", "truncated: file ends inside element (#,#) at byte #", "1", "1"),
    ]


def test_settings_and_no_paths_in_pseudonymize_mode(reported: Reported) -> None:
    settings = {r["setting"]: r["value"] for r in rows(reported.html, "settings")}
    assert settings["privacy mode"] == "pseudonymize"
    assert settings["alert: study DAP (Gy.cm2)"] == "500"
    assert settings["rooms file"] == "none: room names from the device identity"
    assert settings["linking: tolerance_s"] == "2.0"
    assert settings["settings"] == "recorded by the audit run of the month"
    assert "input folder" not in settings
    out = str(reported.settings.output_path())
    assert out not in reported.html and "reports/r1.dcm" not in reported.html
    assert "<dc:date>" not in reported.html  # no date in the SVG metadata


def test_identified_mode_names_files_and_folders(tmp_path: Path) -> None:
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text("rooms: []\n", encoding="utf-8")
    files = {"rooms file": str(rooms)}
    folders = {"input folder": "/archive/in", "output folder": "/archive/out"}
    shown = dict(ReportSettings.resolve("identified", "EU", files, folders).rows())
    hidden = dict(ReportSettings.resolve("pseudonymize", "EU", files, folders).rows())
    assert shown["rooms file"].startswith(f"{rooms} (sha256 ")
    assert hidden["rooms file"].startswith("rooms.yaml (sha256 ")
    assert hidden["rooms file"] == shown["rooms file"].replace(str(tmp_path) + "/", "")
    assert shown["output folder"] == "/archive/out" and "output folder" not in hidden
    roundtrip = ReportSettings.from_json(ReportSettings.resolve("identified", "EU", files, folders)
                                         .to_json())  # fmt: skip
    assert roundtrip == ReportSettings.resolve("identified", "EU", files, folders)


def test_the_trend_is_the_12_months_ending_with_the_month(
    reported: Reported, tmp_path: Path
) -> None:
    """September 2026 (S6, room A, 200 Gy.cm2) is in October's trend; October 2025, 13 months
    back, is not."""
    out = tmp_path / "out"
    shutil.copytree(reported.settings.output_path(), out, ignore=shutil.ignore_patterns("reports"))
    store = TableStore(out)
    september = build_study_dose(
        known_studies(), known_events(), known_images(), known_links(), "2026-09",
        ProcedureMap.from_yaml(),
    )  # fmt: skip
    store.write("dose_by_room_month", dose_by_room(september, "2026-09"), "2026-09")
    store.write(
        "dose_by_room_month",
        dose_by_room(september, "2026-09").with_columns(month=pl.lit("2025-10")),
        "2025-10",
    )
    content = load_month(store, MONTH, 3.0)
    assert content.trend_months[0] == "2025-11" and content.trend_months[-1] == MONTH
    html = render(content, ReportSettings("pseudonymize", "EU"))
    trend = [
        (r["month"], r["room"], r["kind"], r["studies"], r["DAP median (Gy.cm2)"])
        for r in rows(html, "trend")
    ]
    assert trend == [
        ("2026-09", "A", "fluoroscopy", "1", "200"),
        ("2026-10", "A", "fluoroscopy", "5", "100"),
        ("2026-10", "B", "fluoroscopy", "4", "34"),
        ("2026-10", "B", "radiography", "1", "0.1"),
    ]
    assert "months with a published audit: 2026-09, 2026-10" in html


def test_the_monthly_audit_job_writes_the_report() -> None:
    graph = defs.resolve_asset_graph()
    selected = monthly_audit_job.selection.resolve(graph)
    assert AssetKey("audit_report") in selected
    assert graph.get(AssetKey("audit_report")).parent_keys >= {
        AssetKey(t) for t in ("study_dose", "dose_alerts", "drl_comparison", "skin_dose")
    }


def test_the_report_depends_on_its_trend_months_tables() -> None:
    """Declared to Dagster, so a backfill orders each report after its trend's months."""
    graph = defs.resolve_asset_graph()
    child, trend, study = (
        AssetKey("audit_report"),
        AssetKey("dose_by_room_month"),
        AssetKey("study_dose"),
    )
    first = graph.get(child).partitions_def.get_first_partition_key()

    def parents(month: str, parent: AssetKey) -> list[str]:
        found = graph.get_parent_partition_keys_for_child(month, parent, child)
        return sorted(found.partitions_subset.get_partition_keys())

    assert parents("2026-10", trend) == [f"2025-{m}" for m in ("11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 11)
    ]
    assert parents("2026-10", study) == ["2026-10"]
    assert parents(first, trend) == [first]  # no partitions before the first: none asked for


def test_asset_metadata_links_the_report(reported: Reported) -> None:
    meta = reported.result.asset_materializations_for_node("audit_report")[0].metadata
    html = reported.folder / "audit.html"
    assert meta["report_html"].value == str(html)
    assert meta["open_report"].value == html.as_uri()
    figures = {k: meta[k].value for k in ("studies", "alerts", "procedures_p75_above_drl",
                                           "studies_flagged", "unlinked_images",
                                           "files_not_read_in_full")}  # fmt: skip
    assert figures == {
        "studies": 10,
        "alerts": 7,
        "procedures_p75_above_drl": 2,
        "studies_flagged": 1,
        "unlinked_images": 2,
        "files_not_read_in_full": 4,
    }
    assert "12. Review and signature" in str(meta["sections"].value)


def test_cli_rebuilds_the_same_bytes_with_the_recorded_settings(
    reported: Reported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    shutil.copytree(reported.settings.output_path(), out)
    folder = out / "reports" / MONTH
    assert (folder / "audit.pdf").exists() == (find_chromium() is not None)
    monkeypatch.setenv("XRF_CHROMIUM", "no-such-chromium")  # the PDF: skipped, named, removed
    monkeypatch.setenv("XRF_ROOMS_FILE", "/elsewhere/rooms.yaml")  # not what the audit used
    assert main(["report", "--month", MONTH, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report (HTML): {folder / 'audit.html'}" in printed
    assert "report (PDF): skipped: no Chromium found" in printed
    assert (folder / "audit.html").read_bytes() == (reported.folder / "audit.html").read_bytes()
    assert not (folder / "audit.pdf").exists()  # no PDF older than its HTML


def test_cli_refuses_a_month_without_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--month", "2026-11", "--output", str(tmp_path)]) == 1
    assert "no published audit for 2026-11" in capsys.readouterr().err
    assert main(["report", "--month", "2026-13", "--output", str(tmp_path)]) == 1
    assert "month must be YYYY-MM" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_without_chromium_or_recorded_settings_the_html_is_written_and_says_so(
    reported: Reported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRF_CHROMIUM", "no-such-chromium")
    out = tmp_path / "out"
    shutil.copytree(reported.settings.output_path(), out, ignore=shutil.ignore_patterns("reports"))
    store = TableStore(out)
    files = write_report(store, MONTH, ReportSettings("pseudonymize", "EU"), audit_run=False)
    assert files.pdf is None and files.pdf_skipped and "no Chromium found" in files.pdf_skipped
    shown = {r["setting"]: r["value"] for r in rows(files.html.read_text("utf-8"), "settings")}
    assert shown["settings"].startswith("as this command resolved them")
    assert not (files.html.parent / "settings.json").exists()
    assert not (files.html.parent / "audit.pdf").exists()
    # the asset: a warning and the reason in its metadata, never a failed run
    settings = XrfSettings(input_dir=str(tmp_path / "in"), output_dir=str(out))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [report.audit_report], partition_key=MONTH, resources={"settings": settings},
            instance=instance,
        )  # fmt: skip
        warnings = [
            e.message
            for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "PDF skipped" in e.message
        ]
    meta = result.asset_materializations_for_node("audit_report")[0].metadata
    assert str(meta["report_pdf"].value).startswith("skipped: no Chromium found")
    assert warnings == [f"audit report {MONTH}: PDF skipped: {files.pdf_skipped}"]
    assert (files.html.parent / "settings.json").exists()


def test_skin_dose_map_of_a_real_report_over_the_alert_level(tmp_path: Path) -> None:
    """RF-RDSR-Philips_Azurion.dcm (89 events, 2018-10), PSD 0.349 Gy, at a site whose PSD
    follow-up level is 0.3 Gy: the report shows its map and the alert, whose source is skin_dose."""
    name = "RF-RDSR-Philips_Azurion.dcm"
    extract = extract_report(pydicom.dcmread(corpus_file(name), stop_before_pixels=True), name)
    store = TableStore(tmp_path / "out")
    events = frame_from_rows("irradiation_events", extract.events)
    store.write("irradiation_events", with_room_ids(events, RoomDirectory()))
    store.write("accumulated_dose", frame_from_rows("accumulated_dose", extract.accumulated))
    for table in ("images", "event_image_links"):
        store.write(table, frame_from_rows(table, []))
    settings = XrfSettings(
        input_dir=str(tmp_path / "in"), output_dir=str(store.root), alert_peak_skin_dose_gy=0.3
    )
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [*audit.assets, *skin.assets],
            partition_key="2018-10",
            resources={"settings": settings},
            instance=instance,
        ).success
    psd = store.read("skin_dose", "2018-10").get_column("peak_skin_dose_gy").to_list()
    assert psd == [pytest.approx(0.34918, abs=1e-5)]
    files = write_report(store, "2018-10", report_settings(settings), audit_run=True, pdf=False)
    html = files.html.read_text("utf-8")
    assert "peak skin dose 0.3492 Gy (at or over the 0.3 Gy alert level)" in html
    assert "Skin dose map, PSD 0.349 Gy" in html  # the skin asset's SVG, inline
    alert = [a for a in rows(html, "alerts") if a["rule"] == "study_peak_skin_dose_gy"]
    assert [(a["value"], a["threshold"], a["source of the value"]) for a in alert] == [
        ("0.3492", "0.3", "skin_dose")
    ]
    assert files.figures["studies_psd_at_or_over_alert"] == 1
