"""Running a real gureum for tests and benchmarks: a `gureum up` process on a free port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NETNS_DIR = Path("/run/netns")
NAME_PREFIX_FILE = "test-name-prefix"
# Every prefix this process handed out: a test session removes their namespaces at its end,
# also for tests that only delete their state dir.
PREFIXES_MADE: set[str] = set()
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningCloud:
    state_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    @property
    def admin_password(self) -> str:
        return (self.state_dir / "admin-password").read_text().strip()

    def env_for(self, username: str, password: str, project: str | None, domain: str = "Default") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(
            OS_AUTH_URL=self.auth_url,
            OS_USERNAME=username,
            OS_PASSWORD=password,
            OS_USER_DOMAIN_NAME=domain,
            OS_IDENTITY_API_VERSION="3",
            OS_REGION_NAME="RegionOne",
            OS_INTERFACE="public",
        )
        if project:
            env.update(OS_PROJECT_NAME=project, OS_PROJECT_DOMAIN_NAME=domain)
        env.update(self.extra_env)
        return env

    @property
    def admin_env(self) -> dict[str, str]:
        return self.env_for("admin", self.admin_password, "admin")

    def openstack(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real openstack CLI as a user would."""
        cmd = [str(VENV_BIN / "openstack"), *args]
        result = subprocess.run(cmd, env=env or self.admin_env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
        return result

    def openstack_json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.openstack(*args, "-f", "json", env=env).stdout)

    def token(self, username: str = "admin", password: str | None = None, project: str | None = "admin") -> str:
        body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"id": "default"}, "password": password or self.admin_password}}}}}
        if project:
            body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
        req = urllib.request.Request(f"{self.auth_url}/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.headers["X-Subject-Token"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_cloud(state_dir: Path, *extra_args: str, port: int | None = None, timeout: float = 60,
                env: dict[str, str] | None = None) -> RunningCloud:
    """Start `gureum up` and wait until it answers; raises with its log if it does not."""
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "gureum-up.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child process owns it
    if "--no-agent" not in extra_args and "--agent-netns" not in extra_args:
        # A test's agent never builds its dataplane in the machine's own namespace.
        prefix = test_name_prefix(state_dir)
        extra_args = (*extra_args, "--agent-netns", f"{prefix}-host", "--agent-name-prefix", prefix)
    if "--no-agent" not in extra_args and not any(a.startswith("--guest-dns-upstream") for a in extra_args):
        # Test guests' DNS queries never leave for the machine's own resolvers.
        extra_args = (*extra_args, "--no-guest-dns-upstream")
    cmd = [str(VENV_BIN / "gureum"), "up", "--state-dir", str(state_dir), "--listen", f"127.0.0.1:{port}",
           "--clouds-yaml", str(state_dir / "clouds.yaml"), *extra_args]
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    cloud = RunningCloud(state_dir=state_dir, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gureum up exited with {process.returncode}:\n{cloud.log()}")
        try:
            with urllib.request.urlopen(f"{cloud.base_url}/identity/v3", timeout=2):
                return cloud
        except OSError:
            time.sleep(0.1)
    cloud.stop()
    raise RuntimeError(f"gureum up did not answer within {timeout} s:\n{cloud.log()}")


def short_state_dir(prefix: str) -> Path:
    """QEMU's unix sockets live under the state dir and their paths must stay under 108 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@contextmanager
def cloud_in_fresh_state(prefix: str, *extra_args: str) -> Iterator[RunningCloud]:
    """A `gureum up` of its own for a fixture: a new short state dir, stopped and removed after
    (guests and namespaces too); GUREUM_KEEP_STATE keeps the dir to look at a failure."""
    state = short_state_dir(prefix)
    try:
        running = start_cloud(state, *extra_args)
        try:
            yield running
        finally:
            running.stop()
    finally:
        if os.environ.get("GUREUM_KEEP_STATE"):
            stop_leftover_guests(state)
        else:
            remove_state(state)


def test_name_prefix(state_dir: Path) -> str:
    """A short prefix for the namespaces of this state dir's agent, kept across restarts."""
    path = state_dir / NAME_PREFIX_FILE
    if not path.exists():
        path.write_text("gt" + os.urandom(3).hex())
    prefix = path.read_text().strip()
    PREFIXES_MADE.add(prefix)
    return prefix


def remove_namespaces(prefix: str) -> None:
    """Every namespace whose name starts with prefix, after killing what runs inside (dnsmasq...)."""
    if not NETNS_DIR.exists():
        return
    for entry in NETNS_DIR.iterdir():
        if not entry.name.startswith(prefix):
            continue
        pids = subprocess.run(["ip", "netns", "pids", entry.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", entry.name], capture_output=True)


def remove_state(state_dir: Path) -> None:
    stop_leftover_guests(state_dir)
    prefix_file = state_dir / NAME_PREFIX_FILE
    if prefix_file.exists():
        remove_namespaces(prefix_file.read_text().strip())
    shutil.rmtree(state_dir, ignore_errors=True)


def guest_processes(state_dir: Path) -> list[int]:
    """PIDs of QEMU processes whose files live under this state dir."""
    pids = []
    marker = str(state_dir.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("qemu-system") and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def stop_leftover_guests(state_dir: Path) -> None:
    """Guests outlive `gureum up` by design; a test run must not leave them behind."""
    for pid in guest_processes(state_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(predicate: Any, timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_for_compute(cloud: RunningCloud, timeout: float = 600) -> str:
    """Until the gureum-guest image is active and a compute host is up: a cloud that can boot."""

    def host_up() -> bool:
        return any(h.get("State") == "up" for h in cloud.openstack_json("hypervisor", "list"))

    def image() -> str | None:
        rows = cloud.openstack_json("image", "list", "--name", "gureum-guest", "--status", "active")
        return rows[0]["ID"] if rows else None

    wait_for(host_up, timeout, 2, "a compute host to register and be up")
    return wait_for(image, timeout, 2, "the gureum-guest image")
