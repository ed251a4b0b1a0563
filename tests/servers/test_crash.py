"""Crashes at the worst moments converge after a restart: no orphan QEMU, overlay or claim."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing import RunningCloud, cloud_in_fresh_state, guest_processes, start_cloud, wait_for, wait_for_compute
from tests.conftest import unique
from tests.servers.test_lifecycle import qemu_pids, wait_status


def agent_pids(cloud: RunningCloud) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "gureum.cli agent" in cmdline and str(cloud.state_dir) in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_agent(cloud: RunningCloud) -> None:
    pids = wait_for(lambda: agent_pids(cloud), 60, 0.2, "the agent process")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def crash_cloud(guest_image: str) -> Iterator[RunningCloud]:
    """A cloud of its own: these tests kill its processes."""
    with cloud_in_fresh_state("gcc-") as cloud:
        yield cloud


def wait_for_guest_image(cloud: RunningCloud) -> None:
    wait_for_compute(cloud)


def test_agent_killed_while_a_guest_boots_and_while_one_is_deleted(crash_cloud: RunningCloud) -> None:
    cloud = crash_cloud
    wait_for_guest_image(cloud)
    name = unique("boot")
    server_id = cloud.openstack_json("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", name)["id"]
    kill_agent(cloud)
    wait_status(cloud, name, "ACTIVE", timeout=180)
    assert len(qemu_pids(cloud, server_id)) == 1, "the restarted agent must adopt, not start a second guest"

    cloud.openstack("server", "delete", name)
    kill_agent(cloud)
    instance_dir = cloud.state_dir / "agent" / "instances" / server_id
    wait_for(lambda: not qemu_pids(cloud, server_id) and not instance_dir.exists(), 180, 1,
             "the deleted guest's process and files to be gone")
    # The claim is released when the agent's next report confirms the guest is gone, a moment
    # after the files go: wait for it rather than race it.
    wait_for(lambda: _host_is_empty(cloud), 60, 1, "the host's usage to drop to nothing")


def _host_is_empty(cloud: RunningCloud) -> bool:
    stats = cloud.openstack_json("hypervisor", "stats", "show")
    return stats["running_vms"] == 0 and stats["vcpus_used"] == 0


def test_controller_killed_in_the_middle_of_a_create(crash_cloud: RunningCloud) -> None:
    cloud = crash_cloud
    wait_for_guest_image(cloud)
    name = unique("mid")
    cloud.openstack("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", name)
    cloud.process.send_signal(signal.SIGKILL)
    cloud.process.wait()
    # The agent follows its controller down (it must not be orphaned)...
    try:
        wait_for(lambda: not agent_pids(cloud), 30, 0.5, "the agent to stop with its controller")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the log ends:\n{cloud.log()[-6000:]}") from None
    # ...and the guests do not: they are their own processes.
    restarted = start_cloud(cloud.state_dir, port=cloud.port)
    cloud.process = restarted.process
    wait_status(cloud, name, "ACTIVE", timeout=180)
    server_id = cloud.openstack_json("server", "show", name)["id"]
    assert len(qemu_pids(cloud, server_id)) == 1
    assert len(guest_processes(cloud.state_dir)) == 1
    stats = cloud.openstack_json("hypervisor", "stats", "show")
    assert stats["running_vms"] == 1 and stats["memory_mb_used"] >= 512
    cloud.openstack("server", "delete", "--wait", name)
    wait_for(lambda: not guest_processes(cloud.state_dir), 120, 1, "no guest left")
