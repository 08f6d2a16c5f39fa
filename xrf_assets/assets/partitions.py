"""Monthly partitions over study date, keyed YYYY-MM like the ``month=`` folders of the tables.

The first partition is ``$XRF_FIRST_MONTH`` (YYYY-MM), default :data:`DEFAULT_FIRST_MONTH`.
Partitions are part of the definitions, so the variable is read once, when the code location is
loaded (``dagster dev``, ``xrf-dose run``), not per run: after changing it, reload the code
location. A month before it has no partition: ``xrf-dose run`` names such months, unaudited.
"""

import os
import re

from dagster import MonthlyPartitionsDefinition

FIRST_MONTH_ENV = "XRF_FIRST_MONTH"
# The earliest report of the real OpenREM corpus is from 2016-03; fluoroscopy dose SRs (TID 10003)
# from before 2016 are rare, and each earlier month is one more empty partition in the UI.
DEFAULT_FIRST_MONTH = "2016-01"


def first_month(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    month = (environ.get(FIRST_MONTH_ENV) or "").strip() or DEFAULT_FIRST_MONTH
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise ValueError(f"{FIRST_MONTH_ENV} must be a month YYYY-MM, not {month!r}")
    return month


# end_offset=1 keeps the running month materializable (a partial month, re-run when it closes);
# the monthly schedule targets the month that ended.
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=first_month(), fmt="%Y-%m", end_offset=1
)
