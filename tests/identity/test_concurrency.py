"""Logins at once against a real cloud: load makes answers slower, never errors (issue 7, defect 1).

The password hash runs outside any database session, so a login in flight holds no
pooled connection; the pools are sized beyond the worker threads that can hold one.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from gureum.testing import RunningCloud, start_cloud
from tests.identity.helpers import new_member

CLIENTS = 64


def _logins_at_once(cloud: RunningCloud, clients: int, user: str = "admin", password: str | None = None,
                    project: str = "admin") -> Counter[int]:
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password or cloud.admin_password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    gate = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def login() -> None:
        with httpx.Client(timeout=300) as client:
            gate.wait()
            try:
                status = client.post(f"{cloud.auth_url}/auth/tokens", json=body).status_code
            except httpx.HTTPError:
                status = 0
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=login) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(statuses)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_64_password_logins_at_once_all_get_201(backend: str, request: pytest.FixtureRequest) -> None:
    cloud: RunningCloud = request.getfixturevalue("cloud" if backend == "sqlite" else "pg_cloud")
    statuses = _logins_at_once(cloud, CLIENTS)
    assert statuses == Counter({201: CLIENTS}), statuses
    assert "QueuePool limit" not in cloud.log()




@pytest.fixture(params=["sqlite", "postgresql"])
def lenient_cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningCloud]:
    """A cloud of its own (64 failures from 127.0.0.1 would throttle the session's cloud),
    on its own database; source throttling raised so every failure is counted, none refused."""
    args: tuple[str, ...] = ("--no-agent", "--no-guest-image")
    database = None
    if request.param == "postgresql":
        url = os.environ.get("GUREUM_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("GUREUM_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL and sets it)")
        database = f"gureum_lockout_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        args += ("--database-url", url.rsplit("/", 1)[0] + "/" + database)
    (tmp_path / "gureum.yaml").write_text(yaml.safe_dump({"lockout": {"source_max_failures": 1000}}))
    cloud = start_cloud(tmp_path, *args, timeout=120)
    yield cloud
    cloud.stop()
    if database:
        with psycopg.connect(os.environ["GUREUM_TEST_POSTGRES_URL"], autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def test_64_wrong_passwords_at_once_all_get_401(lenient_cloud: RunningCloud) -> None:
    """Each failure is a write (the lockout counters): writes queue, none errors, every one counts."""
    member = new_member(lenient_cloud)
    statuses = _logins_at_once(lenient_cloud, CLIENTS, member["user"], "not-" + member["password"], member["project"])
    assert statuses == Counter({401: CLIENTS}), statuses
    assert "Traceback" not in lenient_cloud.log()
    # The account locked after its tenth failure (user_max_failures), the right password is refused too.
    assert _logins_at_once(lenient_cloud, 1, member["user"], member["password"], member["project"]) == Counter({401: 1})
