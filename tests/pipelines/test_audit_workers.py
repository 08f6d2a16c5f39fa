"""``xrf-dose run`` audits months side by side in worker processes: the same outputs, byte for
byte, as one month at a time, on real dose reports of four months that one 12-month trend spans."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from builders.corpus import corpus_file
from dagster import AssetKey, instance_for_test

from pipelines.headless import RunSummary, run_all
from xrf_assets.resources import XrfSettings

KEY = "audit-workers-test-key-0123456789ab"
REPORTS = (  # 2017-11 (two), 2018-01, 2018-04, 2018-10 (Azurion: a skin dose map)
    "RF-No-kVp-and-others.dcm",
    "RF-Pat-Orientation-Modifier-Missing.dcm",
    "RF-RDSR-Eurocolumbus.dcm",
    "Dual-RDSR-RF.dcm",
    "RF-RDSR-Philips_Azurion.dcm",
)


def _run(tree: Path, output: Path, workers: int) -> RunSummary:
    settings = XrfSettings(input_dir=str(tree), output_dir=str(output), workers=workers)
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        mp.setenv("XRF_CHROMIUM", "no-such-chromium")  # the PDFs differ by their creation time
        summary = run_all(settings, instance)
        audits = [r for r in instance.get_runs() if r.job_name == "monthly_audit"]
        if workers > 1:  # one run of each month's tables, then one of its report, begun only
            # once every month's tables were published (its trend reads the earlier months')
            reports = {r.run_id for r in audits if r.asset_selection == {AssetKey("audit_report")}}
            assert len(reports) == len(audits) - len(reports) == len(summary.months)
            stats = {r.run_id: instance.get_run_stats(r.run_id) for r in audits}
            tables_end = max(s.end_time or 0.0 for i, s in stats.items() if i not in reports)
            assert min(stats[i].start_time or 0.0 for i in reports) >= tables_end
        else:
            assert len(audits) == len(summary.months)
    return summary


def _outputs(root: Path) -> dict[str, Path]:
    """Every published file, the run's own state left out."""
    files = {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}
    return {
        name: p
        for name, p in files.items()
        if not any(part.startswith(("_", ".")) for part in Path(name).parts)
    }


def _trend_months(report: Path) -> set[str]:
    """The months the report's trend names as published."""
    found = re.search(r"months with a published audit: ([^.<]*)\.", report.read_text())
    assert found, report
    return set(found.group(1).split(", "))


def test_months_audited_side_by_side_equal_one_month_at_a_time(tmp_path: Path) -> None:
    tree = tmp_path / "dicom"
    tree.mkdir()
    for name in REPORTS:
        shutil.copy(corpus_file(name), tree / name)
    serial = _run(tree, tmp_path / "serial", workers=1)
    side_by_side = _run(tree, tmp_path / "side_by_side", workers=2)
    assert serial.months == side_by_side.months == ["2017-11", "2018-01", "2018-04", "2018-10"]
    assert side_by_side.failed_months == serial.failed_months == []
    assert side_by_side.month_findings == serial.month_findings

    one, many = _outputs(tmp_path / "serial"), _outputs(tmp_path / "side_by_side")
    assert sorted(one) == sorted(many)
    assert sum(name.endswith("audit.html") for name in one) == 4
    for name, path in one.items():
        if path.suffix == ".parquet":
            assert pl.read_parquet(path).equals(pl.read_parquet(many[name])), name
        else:
            assert path.read_bytes() == many[name].read_bytes(), name
    # the last month's trend holds the three months audited beside it
    trend = _trend_months(tmp_path / "side_by_side" / "reports" / "2018-10" / "audit.html")
    assert {"2017-11", "2018-01", "2018-04", "2018-10"} <= trend
