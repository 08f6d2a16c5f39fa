"""The end-of-run summary names each month's alerts by rule and the procedures above their DRL,
read from the published dose_alerts and drl_comparison of the known audit tables."""

from __future__ import annotations

from pathlib import Path

from builders.audit_tables import known_store
from dagster import DagsterInstance, materialize

from pipelines.headless import RunSummary, month_findings
from xrf_assets.assets import audit, skin
from xrf_assets.resources import XrfSettings

# 7 alert rows, as test_audit_assets asserts: 3 study rules (2 studies), 4 patient-window rows
# (3 patients); coronary angiography and PCI have their median DAP above the DRL
FINDINGS = (
    "alerts 7 (patient_window_dap_gy_cm2 1, patient_window_dose_rp_gy 2, "
    "patient_window_fluoro_time_min 1, study_dap_gy_cm2 1, study_dose_rp_gy 1, "
    "study_fluoro_time_min 1); above DRL: coronary_angiography, pci"
)


def test_summary_lists_alerts_by_rule_and_drl_exceedances(tmp_path: Path) -> None:
    store = known_store(tmp_path / "out")
    settings = XrfSettings(input_dir=str(tmp_path / "in"), output_dir=str(store.root))
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [*audit.assets, *skin.assets, *audit.asset_checks],
            partition_key="2026-10",
            resources={"settings": settings},
            instance=instance,
        ).success
    found = month_findings(store, "2026-10")
    assert found == FINDINGS
    summary = RunSummary(store.root, ["2026-10"], month_findings={"2026-10": found})
    assert f"               2026-10: {FINDINGS}" in summary.render().splitlines()
