"""Real guests under TCG, driven by the real CLI: each action does what it says on the QEMU process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gureum.guest import BANNER_PREFIX
from gureum.testing import RunningCloud, guest_processes, wait_for
from tests.conftest import unique


def status_of(cloud: RunningCloud, name: str, env: dict[str, str] | None = None) -> str:
    return cloud.openstack_json("server", "show", name, env=env)["status"]


def wait_status(cloud: RunningCloud, name: str, wanted: str, timeout: float = 120,
                env: dict[str, str] | None = None) -> None:
    wait_for(lambda: status_of(cloud, name, env) == wanted, timeout, 1, f"{name} to be {wanted}")


def qemu_pids(cloud: RunningCloud, server_id: str) -> list[int]:
    return [p for p in guest_processes(cloud.state_dir) if server_id in Path(f"/proc/{p}/cmdline").read_text()]


def console(cloud: RunningCloud, name: str) -> str:
    return cloud.openstack("console", "log", "show", name).stdout


def test_server_walk(cloud: RunningCloud, guest_image: str, keypair: tuple[str, Path]) -> None:
    name = unique("vm")
    created = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.micro", "--image", "gureum-guest",
                                   "--key-name", keypair[0], "--wait", name)
    server_id = created["id"]
    assert created["status"] == "ACTIVE" and created["key_name"] == "mykey"
    assert len(qemu_pids(cloud, server_id)) == 1
    wait_for(lambda: BANNER_PREFIX in console(cloud, name), 180, 2, "the guest's banner on the console")

    cloud.openstack("server", "stop", name)
    wait_status(cloud, name, "SHUTOFF")
    assert qemu_pids(cloud, server_id) == []

    cloud.openstack("server", "start", name)
    wait_status(cloud, name, "ACTIVE")
    first_pid = qemu_pids(cloud, server_id)
    assert len(first_pid) == 1

    cloud.openstack("server", "reboot", "--hard", name)
    wait_status(cloud, name, "ACTIVE")
    wait_for(lambda: qemu_pids(cloud, server_id) and qemu_pids(cloud, server_id) != first_pid, 60, 1,
             "a new QEMU process after the hard reboot")

    cloud.openstack("server", "pause", name)
    wait_status(cloud, name, "PAUSED")
    cloud.openstack("server", "unpause", name)
    wait_status(cloud, name, "ACTIVE")

    cloud.openstack("server", "delete", "--wait", name)
    assert name not in cloud.openstack("server", "list", "-f", "value", "-c", "Name").stdout
    instance_dir = cloud.state_dir / "agent" / "instances" / server_id
    wait_for(lambda: not qemu_pids(cloud, server_id) and not instance_dir.exists(), 60, 1,
             "the guest's process and files to be gone")


def test_no_host_fits_says_why(cloud: RunningCloud, guest_image: str) -> None:
    flavor = unique("huge")
    cloud.openstack("quota", "set", "--ram", "-1", "admin")
    cloud.openstack("flavor", "create", "--vcpus", "1", "--ram", "10000000", "--disk", "1", flavor)
    name = unique("toobig")
    result = cloud.openstack("server", "create", "--nic", "none", "--flavor", flavor, "--image", "gureum-guest", "--wait", name,
                             check=False)
    assert result.returncode != 0
    server = cloud.openstack_json("server", "show", name)
    assert server["status"] == "ERROR"
    message = server["fault"]["message"]
    assert f"{flavor} needs 10000000 MB of RAM; the most free on any host is" in message, message
    assert "Exhausted all hosts" not in message
    cloud.openstack("server", "delete", "--wait", name)


def test_member_sees_only_own_servers(cloud: RunningCloud, guest_image: str, member_env: dict[str, str]) -> None:
    admin_server = unique("admins")
    cloud.openstack("server", "create", "--nic", "none", "--flavor", "t2.nano", "--image", "gureum-guest", "--wait", admin_server)
    mine = unique("mine")
    cloud.openstack("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", "--wait", mine,
                    env=member_env)
    names = cloud.openstack("server", "list", "-f", "value", "-c", "Name", env=member_env).stdout.split()
    assert names == [mine]
    result = cloud.openstack("server", "show", admin_server, env=member_env, check=False)
    assert result.returncode != 0 and "No Server found" in result.stderr
    everyone = cloud.openstack("server", "list", "--all-projects", "-f", "value", "-c", "Name").stdout.split()
    assert {mine, admin_server} <= set(everyone)
    refused = cloud.openstack("server", "list", "--all-projects", env=member_env, check=False)
    assert refused.returncode != 0 and "get_all_tenants" in refused.stderr
    cloud.openstack("server", "delete", "--wait", mine, env=member_env)
    cloud.openstack("server", "delete", "--wait", admin_server)


def test_quota_refuses_with_nova_message(cloud: RunningCloud, guest_image: str, member_env: dict[str, str]) -> None:
    project = member_env["OS_PROJECT_NAME"]
    cloud.openstack("quota", "set", "--instances", "0", project)
    result = cloud.openstack("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", unique("q"),
                             env=member_env, check=False)
    assert result.returncode != 0
    assert "Quota exceeded for instances" in result.stderr


def test_bad_input_is_a_clear_400(cloud: RunningCloud, guest_image: str) -> None:
    result = cloud.openstack("server", "create", "--flavor", "no-such-flavor", "--image", "gureum-guest", "x",
                             check=False)
    assert result.returncode != 0 and "No Flavor found for no-such-flavor" in result.stderr
    token = cloud.token()
    body = json.dumps({"server": {"name": "x", "flavorRef": "t2.micro", "imageRef": guest_image,
                                  "min_count": "many"}})
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "%{http_code}", "-X", "POST",
                          f"{cloud.base_url}/compute/v2.1/servers", "-H", f"X-Auth-Token: {token}",
                          "-H", "Content-Type: application/json", "-d", body], capture_output=True, text=True).stdout
    assert out.endswith("400") and "min_count" in out


def test_rebuild_resize_and_snapshot(cloud: RunningCloud, guest_image: str, keypair: tuple[str, Path]) -> None:
    name = unique("vm")
    server = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.nano", "--image", "gureum-guest",
                                  "--key-name", keypair[0], "--wait", name)
    server_id = server["id"]
    spec = cloud.state_dir / "agent" / "instances" / server_id / "spec.json"

    cloud.openstack("server", "rebuild", "--image", "gureum-guest", "--wait", name)
    assert status_of(cloud, name) == "ACTIVE"

    cloud.openstack("server", "resize", "--flavor", "t2.micro", "--wait", name)
    assert status_of(cloud, name) == "VERIFY_RESIZE"
    assert json.loads(spec.read_text())["memory_mib"] == 1024
    cloud.openstack("server", "resize", "revert", name)
    wait_status(cloud, name, "ACTIVE")
    assert cloud.openstack_json("server", "show", name)["flavor"]["name"] == "t2.nano"
    wait_for(lambda: json.loads(spec.read_text())["memory_mib"] == 512, 60, 1, "the guest back at 512 MiB")
    cloud.openstack("server", "resize", "--flavor", "t2.micro", "--wait", name)
    cloud.openstack("server", "resize", "confirm", name)
    wait_status(cloud, name, "ACTIVE")
    assert cloud.openstack_json("server", "show", name)["flavor"]["name"] == "t2.micro"

    snapshot = unique("snap")
    cloud.openstack("server", "image", "create", "--name", snapshot, "--wait", name)
    image = cloud.openstack_json("image", "show", snapshot)
    assert image["status"] == "active" and image["disk_format"] == "qcow2"
    wait_for(lambda: cloud.openstack_json("server", "show", name)["OS-EXT-STS:task_state"] is None, 60, 1,
             "the snapshot task to end")

    from_snapshot = unique("fromsnap")
    booted = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.micro", "--image", snapshot, "--wait",
                                  from_snapshot)
    assert booted["status"] == "ACTIVE"
    wait_for(lambda: BANNER_PREFIX in console(cloud, from_snapshot), 180, 2, "the snapshot guest's banner")
    for victim in (name, from_snapshot):
        cloud.openstack("server", "delete", "--wait", victim)
    cloud.openstack("image", "delete", snapshot)
