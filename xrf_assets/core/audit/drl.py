"""The month's median DAP per procedure against diagnostic reference levels (DRLs).

A DRL applies to the typical (median) study of a procedure at a site, not to single patients: a
median above the level calls for a review of that procedure's practice. Levels are published in
Gy.cm2; the table is user-editable YAML (``defaults/drl.yaml`` ships with the European levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xrf_assets.core.audit.months import AuditConfigError, conform
from xrf_assets.core.settings_files import read_yaml_mapping

DEFAULT_DRL_FILE = Path(__file__).resolve().parents[2] / "defaults" / "drl.yaml"


@dataclass(frozen=True)
class ReferenceLevels:
    """DAP reference level (Gy.cm2) per standard procedure name, and where the levels come from."""

    dap_gy_cm2: dict[str, float]
    source: str

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> ReferenceLevels:
        path = Path(path) if path is not None else DEFAULT_DRL_FILE
        raw = read_yaml_mapping(path, "reference levels", AuditConfigError)
        levels: dict[str, float] = {}
        for i, entry in enumerate(raw.get("reference_levels") or []):
            try:
                name, value = str(entry["procedure"]), float(entry["dap_gy_cm2"])
            except (TypeError, KeyError, ValueError) as exc:
                raise AuditConfigError(
                    f"{path}: reference level #{i + 1} needs procedure and dap_gy_cm2 (a number)"
                ) from exc
            if value <= 0 or name in levels:
                raise AuditConfigError(
                    f"{path}: reference level {name!r} is not positive or is listed twice"
                )
            levels[name] = value
        return cls(levels, str(raw.get("source") or path.name))

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"procedure": list(self.dap_gy_cm2), "drl_dap_gy_cm2": list(self.dap_gy_cm2.values())},
            schema={"procedure": pl.String, "drl_dap_gy_cm2": pl.Float64},
        )


def compare_to_drl(study_dose: pl.DataFrame, month: str, levels: ReferenceLevels) -> pl.DataFrame:
    """``drl_comparison``: one row per mapped procedure with studies in the month."""
    medians = (
        study_dose.filter(pl.col("procedure").is_not_null())
        .group_by("procedure")
        .agg(
            study_count=pl.len(),
            dap_study_count=pl.col("dap_total_gy_cm2").count(),
            dap_median_gy_cm2=pl.col("dap_total_gy_cm2").median(),
        )
    )
    out = (
        medians.join(levels.frame(), on="procedure", how="left")
        .with_columns(
            month=pl.lit(month),
            median_to_drl_ratio=pl.col("dap_median_gy_cm2") / pl.col("drl_dap_gy_cm2"),
            above_drl=pl.col("dap_median_gy_cm2") > pl.col("drl_dap_gy_cm2"),
            drl_source=pl.when(pl.col("drl_dap_gy_cm2").is_not_null()).then(pl.lit(levels.source)),
        )
        .sort("procedure")
    )
    return conform("drl_comparison", out)
