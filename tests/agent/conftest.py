"""Fixtures for the hypervisor tests: the real test guest, real QEMU, real namespaces."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import OwnNamespace

from gureum.agent.hypervisor import Accel, QemuHypervisor, detect_accel
from gureum.guest import GuestImage, build_guest_image, default_cache_dir


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    return build_guest_image(default_cache_dir())


@pytest.fixture(scope="session")
def accel() -> Accel:
    return detect_accel(cache_file=default_cache_dir() / "accel.json")


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ed25519 key pair; returns the private key path (public is .pub beside it)."""
    private = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gureum-test", "-f", str(private)],
                   check=True)
    return private


@pytest.fixture
def instances_dir() -> Iterator[Path]:
    # Short on purpose: unix socket paths inside must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="gi-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hypervisor(instances_dir: Path, accel: Accel) -> Iterator[QemuHypervisor]:
    hypervisor = QemuHypervisor(instances_dir / "instances", accel=accel)
    yield hypervisor
    # Whatever a test left, even after a failure: no QEMU outlives the test.
    for guest in hypervisor.list_guests():
        hypervisor.destroy(guest.instance_id)


@pytest.fixture
def netns() -> Iterator[OwnNamespace]:
    namespace = OwnNamespace(f"gureum-test-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", namespace.name], check=True)
    yield namespace
    # Processes first: a namespace lives on while anything runs inside it.
    for started in namespace.processes:
        started.kill()
        started.wait()
    subprocess.run(["ip", "netns", "del", namespace.name], check=True)


@pytest.fixture
def host_tap() -> Iterator[str]:
    """A tap named uniquely for this test. QEMU opens taps by name in its own
    namespace, so it starts in the host namespace; tests move it into theirs
    right after QEMU attached. Removed if a test failed before moving it."""
    tap = f"gt{secrets.token_hex(4)}"
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    yield tap
    if subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode == 0:
        subprocess.run(["ip", "link", "del", tap], check=True)
