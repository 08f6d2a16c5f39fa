"""Month arithmetic shared by the audit modules."""

from datetime import date

import pytest

from xrf_assets.core.audit.months import (
    month_end,
    month_window,
    parse_month,
    shift_month,
)


@pytest.mark.parametrize(
    ("month", "delta", "expected"),
    [
        ("2026-10", -1, "2026-09"),
        ("2026-01", -1, "2025-12"),
        ("2026-12", 1, "2027-01"),
        ("2026-10", -22, "2024-12"),
    ],
)
def test_shift_month(month: str, delta: int, expected: str) -> None:
    assert shift_month(month, delta) == expected


def test_window_and_month_end() -> None:
    assert month_window("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    assert [month_end(m) for m in ("2028-02", "2026-02", "2026-12")] == [
        date(2028, 2, 29),
        date(2026, 2, 28),
        date(2026, 12, 31),
    ]
    with pytest.raises(ValueError, match="at least one month"):
        month_window("2026-02", 0)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-10", "2026/10"])
def test_malformed_months_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(bad)
