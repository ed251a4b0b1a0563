"""Shared fixtures: a real `gureum up` process, driven over HTTP and by the real CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing import (  # noqa: F401  (short_state_dir: tests import it from here)
    PREFIXES_MADE, RunningCloud, cloud_in_fresh_state, remove_namespaces, short_state_dir, start_cloud,
)


@pytest.fixture(scope="session", autouse=True)
def no_namespaces_left() -> Iterator[None]:
    """Whatever namespaces the session's agents made go with the session."""
    yield
    for prefix in sorted(PREFIXES_MADE):
        remove_namespaces(prefix)


@pytest.fixture(scope="session")
def cloud() -> Iterator[RunningCloud]:
    """One all-in-one cloud for the session, on SQLite, with this host's agent."""
    with cloud_in_fresh_state("gc-") as running:
        yield running


@pytest.fixture(scope="session")
def pg_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """The same cloud on PostgreSQL, when the test setup provides a server."""
    url = os.environ.get("GUREUM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("GUREUM_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL and sets it)")
    running = start_cloud(tmp_path_factory.mktemp("pgcloud"), "--database-url", url, "--no-agent",
                          "--no-guest-image")
    yield running
    running.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def member_env(cloud: RunningCloud) -> dict[str, str]:
    """A fresh non-admin user with the member role on a fresh project; their CLI env."""
    project, user, password = unique("proj"), unique("user"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    return cloud.env_for(user, password, project)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: boots real guests or runs long; still part of CI")
    os.environ.setdefault("GUREUM_REPO", str(Path(__file__).resolve().parent.parent))


BROWSER_TESTS = Path(__file__).resolve().parent / "dashboard" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an asyncio loop running in the
    main thread until the session ends, and pyroute2 (the dataplane, run in-process by
    tests/dataplane) then fails with 'This event loop is already running'."""
    items.sort(key=lambda item: BROWSER_TESTS in Path(str(item.path)).parents)
