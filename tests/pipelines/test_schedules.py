"""The monthly audit schedule targets the month that ended, whatever the month lengths."""

from datetime import UTC, datetime

import pytest
from dagster import RunRequest, build_schedule_context

from pipelines.jobs import monthly_audit_job
from pipelines.schedules import MONTHLY_AUDIT_CRON, monthly_audit_schedule, schedules
from xrf_assets.assets.partitions import monthly_partitions


@pytest.mark.parametrize(
    ("tick", "month"),
    [
        (datetime(2026, 11, 1, 6, tzinfo=UTC), "2026-10"),
        (datetime(2027, 1, 1, 6, tzinfo=UTC), "2026-12"),  # across the year
        (datetime(2028, 3, 1, 6, tzinfo=UTC), "2028-02"),  # after a leap February
    ],
)
def test_tick_on_the_first_requests_the_previous_month(tick: datetime, month: str) -> None:
    request = monthly_audit_schedule(build_schedule_context(scheduled_execution_time=tick))
    assert isinstance(request, RunRequest)
    assert request.partition_key == month
    assert request.run_key == f"monthly_audit-{month}"
    # the requested month is a closed partition at that time, not the running one
    keys = monthly_partitions.get_partition_keys(current_time=tick)
    assert keys[-1] == tick.strftime("%Y-%m") and keys[-2] == month


def test_schedule_runs_the_audit_job_at_06_utc_on_the_first() -> None:
    assert schedules == [monthly_audit_schedule]
    assert monthly_audit_schedule.job_name == monthly_audit_job.name
    assert MONTHLY_AUDIT_CRON == "0 6 1 * *"
    assert monthly_audit_schedule.cron_schedule == MONTHLY_AUDIT_CRON
    assert monthly_audit_schedule.execution_timezone == "UTC"  # XRF_TIMEZONE unset
