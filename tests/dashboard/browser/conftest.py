"""Real-browser tests: Playwright drives Debian's chromium by executable_path (never
`playwright install`), one browser per session, against the session's real `gureum up`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing import RunningCloud, cloud_in_fresh_state, wait_for_compute

# Chromium's own background traffic is refused by this closed network, many times at start.
QUIET_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions"]


def chromium_binary() -> str | None:
    """The real binary (the /usr/bin/chromium wrapper script is about twice as slow)."""
    if shutil.which("dpkg"):
        listed = subprocess.run(["dpkg", "-L", "chromium"], capture_output=True, text=True).stdout.splitlines()
        for path in listed:
            if path.endswith("/chromium/chromium") and Path(path).exists():
                return path
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def cloud() -> Iterator[RunningCloud]:
    """A cloud of the browser tests' own: they count on what a fresh cloud holds (one image, the
    admin project's one network, one router), which the shared cloud no longer does once the
    rest of the suite has run against it."""
    with cloud_in_fresh_state("gb-") as running:
        wait_for_compute(running)  # the tests boot guests from their first minute
        yield running


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Debian's chromium is not installed (scripts/packages/test.txt lists it)")
    return {**browser_type_launch_args, "executable_path": binary, "headless": True, "args": QUIET_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], cloud: RunningCloud) -> dict[str, Any]:
    return {**browser_context_args, "base_url": cloud.base_url, "viewport": {"width": 1280, "height": 860},
            "accept_downloads": True}


@pytest.fixture(scope="session")
def shots(pytestconfig: pytest.Config) -> Iterator[Path]:
    """Screenshots of the main pages, under the test run's output directory."""
    folder = Path(pytestconfig.getoption("--output")) / "dashboard-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
