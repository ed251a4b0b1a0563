"""A cloud with the network API: the real one once mounted, else the test wrapper."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing import RunningCloud, free_port, stop_leftover_guests

WRAPPER = Path(__file__).with_name("gureum_with_network.py")


def start_network_cloud(state: Path, timeout: float = 60) -> RunningCloud:
    port = free_port()
    log_path = state / "gureum-up.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child process owns it
    cmd = [sys.executable, str(WRAPPER), "up", "--state-dir", str(state), "--listen", f"127.0.0.1:{port}",
           "--clouds-yaml", str(state / "clouds.yaml"), "--no-agent", "--no-guest-image"]
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                               cwd=str(Path(__file__).resolve().parents[2]))
    cloud = RunningCloud(state_dir=state, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gureum up exited with {process.returncode}:\n{cloud.log()}")
        try:
            with urllib.request.urlopen(f"{cloud.base_url}/network/", timeout=2):
                return cloud
        except OSError:
            time.sleep(0.1)
    cloud.stop()
    raise RuntimeError(f"gureum up did not answer within {timeout} s:\n{cloud.log()}")


@pytest.fixture(scope="session")
def cloud() -> Iterator[RunningCloud]:
    """Overrides the shared fixture: the same all-in-one cloud, with /network mounted."""
    state = Path(tempfile.mkdtemp(prefix="gn-", dir="/tmp"))
    running = start_network_cloud(state)
    yield running
    running.stop()
    stop_leftover_guests(state)
    shutil.rmtree(state, ignore_errors=True)
