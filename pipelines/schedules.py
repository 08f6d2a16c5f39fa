"""The monthly audit runs on the 1st of each month for the month that just ended.

The monthly partitions have ``end_offset=1`` (the running month is materializable as a partial
month), so Dagster's "latest partition" on the 1st is the new month: the schedule computes the
previous month from its own tick time instead.
"""

import os

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from pipelines.jobs import monthly_audit_job
from xrf_assets.core.audit.months import MONTH_FORMAT, shift_month

# 06:00 on the 1st: the last evening's reports have had the night to arrive and be ingested. The
# time zone is the site's (XRF_TIMEZONE, an IANA name), so the month has ended locally: study dates
# are local dates, and 06:00 UTC is still the previous day in the Americas.
MONTHLY_AUDIT_CRON = "0 6 1 * *"
SCHEDULE_TIMEZONE = os.environ.get("XRF_TIMEZONE") or "UTC"


@schedule(
    name="monthly_audit_schedule",
    job=monthly_audit_job,
    cron_schedule=MONTHLY_AUDIT_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,  # a user turns it on (UI): no surprise runs
    description="On the 1st of each month, audit the month that ended.",
)
def monthly_audit_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    month = shift_month(context.scheduled_execution_time.strftime(MONTH_FORMAT), -1)
    return RunRequest(run_key=f"monthly_audit-{month}", partition_key=month)


schedules = [monthly_audit_schedule]
