"""Fixtures for server tests: the session cloud's guest image and a key pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.testing import RunningCloud, wait_for_compute


@pytest.fixture(scope="session")
def guest_image(cloud: RunningCloud) -> str:
    """The gureum-guest image `gureum up` registers, once the host's agent is up too."""
    return wait_for_compute(cloud)


@pytest.fixture(scope="session")
def keypair(cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`openstack keypair create mykey > mykey.pem`, as the seed did."""
    pem = tmp_path_factory.mktemp("keys") / "mykey.pem"
    result = cloud.openstack("keypair", "create", "mykey")
    pem.write_text(result.stdout)
    pem.chmod(0o600)
    return "mykey", pem
