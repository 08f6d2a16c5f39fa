"""The known month, audited and reported once per test process."""

import pytest
from builders.report_html import Reported, audit_and_report


@pytest.fixture(scope="session")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    """The known month audited and reported by the assets (PDF included where Chromium is)."""
    return audit_and_report(tmp_path_factory.mktemp("report"))
