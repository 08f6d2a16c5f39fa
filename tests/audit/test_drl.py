"""drl_comparison and the shipped / user-edited reference-level and procedure files."""

from pathlib import Path

import polars as pl
import pytest
from builders.audit_tables import october
from polars.testing import assert_frame_equal

from xrf_assets.core.audit.drl import ReferenceLevels, compare_to_drl
from xrf_assets.core.audit.months import AuditConfigError
from xrf_assets.core.audit.procedures import ProcedureMap


def test_shipped_levels_are_the_european_drls() -> None:
    levels = ReferenceLevels.from_yaml()
    assert levels.dap_gy_cm2 == {
        "coronary_angiography": 35.0,
        "pci": 85.0,
        "tavi": 130.0,
        "electrophysiology": 12.0,
        "pacemaker_single_chamber": 2.5,
        "pacemaker_dual_chamber": 3.5,
        "crt": 18.0,
    }
    assert "Siiskonen" in levels.source


def test_median_against_the_drl_with_ratio_and_flag() -> None:
    df = compare_to_drl(october(), "2026-10", ReferenceLevels.from_yaml())
    expected = pl.DataFrame(
        {
            "month": ["2026-10"] * 4,
            "procedure": ["coronary_angiography", "electrophysiology", "pci", "tavi"],
            "study_count": [2, 1, 3, 1],
            "dap_study_count": [2, 1, 3, 1],
            # coronary angiography: S1 30 and S5 60 Gy.cm2 (S5's device total, not its events' 50)
            "dap_median_gy_cm2": [45.0, 8.0, 100.0, 80.0],
            "drl_dap_gy_cm2": [35.0, 12.0, 85.0, 130.0],
            "median_to_drl_ratio": [45 / 35, 8 / 12, 100 / 85, 80 / 130],
            "above_drl": [True, False, True, False],
        }
    )
    assert_frame_equal(df.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)


def test_a_procedure_without_a_level_is_listed_with_none(tmp_path: Path) -> None:
    drl = tmp_path / "drl.yaml"
    drl.write_text("source: local 2026\nreference_levels:\n  - {procedure: pci, dap_gy_cm2: 120}\n")
    df = compare_to_drl(october(), "2026-10", ReferenceLevels.from_yaml(drl))
    pci = df.filter(pl.col("procedure") == "pci").row(0, named=True)
    assert (pci["drl_dap_gy_cm2"], pci["above_drl"], pci["drl_source"]) == (
        120.0,
        False,
        "local 2026",
    )
    tavi = df.filter(pl.col("procedure") == "tavi").row(0, named=True)
    assert (tavi["drl_dap_gy_cm2"], tavi["above_drl"], tavi["drl_source"]) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reference_levels:\n  - {procedure: pci}\n", "needs procedure and dap_gy_cm2"),
        ("reference_levels:\n  - {procedure: pci, dap_gy_cm2: -3}\n", "not positive"),
        ("reference_levels: [\n", "cannot read"),
    ],
)
def test_a_broken_drl_file_is_refused_with_its_name(
    tmp_path: Path, text: str, message: str
) -> None:
    drl = tmp_path / "my-drl.yaml"
    drl.write_text(text)
    with pytest.raises(AuditConfigError, match=f"my-drl.yaml.*{message}"):
        ReferenceLevels.from_yaml(drl)


@pytest.mark.parametrize(
    ("description", "procedure"),
    [
        ("Coronary angiography", "coronary_angiography"),
        ("CORONARY ANGIO + PCI", "pci"),
        ("PTCA LAD", "pci"),
        ("TAVI", "tavi"),
        ("Pacemaker implant", "pacemaker"),
        ("Pacemaker dual chamber", "pacemaker_dual_chamber"),
        ("PPM single chamber pacemaker", "pacemaker_single_chamber"),
        ("CRT-D implant", "crt"),
        ("Electrophysiology", "electrophysiology"),
        ("AF ablation", "electrophysiology"),
        ("Barium swallow", "barium_swallow"),
        ("Hand X-ray", None),
        (None, None),
    ],
)
def test_shipped_procedure_rules(description: str | None, procedure: str | None) -> None:
    assert ProcedureMap.from_yaml().procedure(description) == procedure


def test_procedure_names_of_the_shipped_drls_are_reachable_from_the_shipped_rules() -> None:
    names = {rule.name for rule in ProcedureMap.from_yaml().rules}
    assert set(ReferenceLevels.from_yaml().dap_gy_cm2) <= names


def test_a_user_procedures_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    rules = tmp_path / "procedures.yaml"
    rules.write_text("procedures:\n  - {name: coronary_angiography, patterns: ['koronar']}\n")
    mapped = ProcedureMap.from_yaml(rules).map_descriptions(
        pl.Series(["Koronarangiographie", "PCI", None, "Koronarangiographie"])
    )
    assert mapped.to_list() == ["coronary_angiography", None, None, "coronary_angiography"]
    rules.write_text("procedures:\n  - {name: x, patterns: ['(']}\n")
    with pytest.raises(AuditConfigError, match="procedure 'x': bad pattern"):
        ProcedureMap.from_yaml(rules)
