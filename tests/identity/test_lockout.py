"""Brute-force protection: the seed needed fail2ban for this."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gureum.testing import RunningCloud, start_cloud


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """A cloud with a small lockout threshold, so the test need not guess ten times."""
    state = tmp_path_factory.mktemp("lockout")
    (state / "gureum.yaml").write_text(yaml.safe_dump({"lockout": {
        "user_max_failures": 3, "user_window_seconds": 600, "user_lock_seconds": 3600,
        "source_max_failures": 50, "source_window_seconds": 600, "source_lock_seconds": 600,
    }}))
    running = start_cloud(state)
    yield running
    running.stop()


def login(cloud: RunningCloud, user: str, password: str) -> tuple[int, dict]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}}
    req = urllib.request.Request(f"{cloud.auth_url}/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_user_is_locked_after_failures_and_admin_unlocks(strict_cloud: RunningCloud) -> None:
    cloud = strict_cloud
    cloud.openstack("user", "create", "--password", "right-pw", "mallory-target")
    for _ in range(3):
        assert login(cloud, "mallory-target", "wrong")[0] == 401
    status, body = login(cloud, "mallory-target", "right-pw")
    assert status == 401, "a locked account must refuse even the right password"
    # The answer for a locked user is the answer for a missing one: nothing leaks.
    missing_status, missing_body = login(cloud, "no-such-user", "whatever")
    assert (status, body["error"]["message"]) == (missing_status, missing_body["error"]["message"])
    log = cloud.log()
    assert "LOCKED user 'mallory-target'" in log and "127.0.0.1" in log
    # The admin releases the account by re-enabling it (or by setting a new password).
    cloud.openstack("user", "set", "--disable", "mallory-target")
    cloud.openstack("user", "set", "--enable", "mallory-target")
    assert login(cloud, "mallory-target", "right-pw")[0] == 201
    for _ in range(3):
        login(cloud, "mallory-target", "wrong")
    cloud.openstack("user", "set", "--password", "new-right-pw", "mallory-target")
    assert login(cloud, "mallory-target", "new-right-pw")[0] == 201


def test_unknown_users_are_counted_too(strict_cloud: RunningCloud) -> None:
    for _ in range(3):
        assert login(strict_cloud, "ghost-user", "x")[0] == 401
    assert "LOCKED user 'ghost-user'" in strict_cloud.log()


def test_source_address_is_throttled(tmp_path: Path) -> None:
    (tmp_path / "gureum.yaml").write_text(yaml.safe_dump({"lockout": {"source_max_failures": 4}}))
    cloud = start_cloud(tmp_path)
    try:
        for i in range(4):
            assert login(cloud, f"spray-{i}", "guess")[0] == 401
        # The admin's right password from the same address is now refused too.
        assert login(cloud, "admin", cloud.admin_password)[0] == 401
        assert "THROTTLED source 127.0.0.1" in cloud.log()
    finally:
        cloud.stop()
