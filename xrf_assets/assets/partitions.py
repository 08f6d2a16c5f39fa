"""Monthly partitions over study date, keyed YYYY-MM like the ``month=`` folders of the tables."""

from dagster import MonthlyPartitionsDefinition

# end_offset=1 keeps the running month materializable (a partial month, re-run when it closes);
# the monthly schedule targets the month that ended.
monthly_partitions = MonthlyPartitionsDefinition(start_date="2000-01", fmt="%Y-%m", end_offset=1)
