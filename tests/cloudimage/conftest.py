"""tests/cloudimage: a real distribution image (gureum.testing_cloudimage) booted on a gureum cloud."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cloudimage: boots a Debian 12 cloud image built from Debian's packages (minutes under TCG); "
                   "a run can leave it to a phase of its own with -m 'not cloudimage'")
