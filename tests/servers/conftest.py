"""Fixtures for server tests: the session cloud's guest image and a key pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.testing import RunningCloud, wait_for


@pytest.fixture(scope="session")
def guest_image(cloud: RunningCloud) -> str:
    """The gureum-guest image `gureum up` builds and registers in the background."""

    def registered() -> str | None:
        rows = cloud.openstack_json("image", "list", "--name", "gureum-guest", "--status", "active")
        return rows[0]["ID"] if rows else None

    return wait_for(registered, timeout=600, interval=2, what="the gureum-guest image")


@pytest.fixture(scope="session")
def keypair(cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`openstack keypair create mykey > mykey.pem`, as the seed did."""
    pem = tmp_path_factory.mktemp("keys") / "mykey.pem"
    result = cloud.openstack("keypair", "create", "mykey")
    pem.write_text(result.stdout)
    pem.chmod(0o600)
    return "mykey", pem
