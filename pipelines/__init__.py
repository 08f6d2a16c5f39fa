"""The Dagster code location: resources, jobs, schedules, sensors; definitions.py assembles."""
