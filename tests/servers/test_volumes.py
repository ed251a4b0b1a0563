"""Volumes on a real TCG guest through the unchanged openstack CLI: server add/remove volume
(the guest sees a new virtio disk), volumes_attached, and server delete's delete_on_termination."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from gureum.guest import BANNER_PREFIX
from gureum.testing import RunningCloud, wait_for
from tests.conftest import unique
from tests.servers.test_lifecycle import console

pytestmark = pytest.mark.slow


def volume_status(cloud: RunningCloud, name: str, env: dict[str, str] | None = None) -> str:
    return cloud.openstack_json("volume", "show", name, env=env)["status"]


def attached_ids(cloud: RunningCloud, server: str, env: dict[str, str] | None = None) -> list[str]:
    shown = cloud.openstack_json("server", "show", server, env=env)
    return [v["id"] for v in shown["volumes_attached"]]


def disks_seen(cloud: RunningCloud, server: str) -> list[str]:
    """The virtio disks the guest's kernel announced on its console ("virtio_blk virtio4: [vdb] ...")."""
    return re.findall(r"virtio_blk \S+ \[(vd[a-z]+)\]", console(cloud, server))


def api(cloud: RunningCloud, method: str, path: str, body: Any = None, token: str | None = None,
        version: str = "2.79") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{cloud.base_url}/compute/v2.1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Auth-Token": token or cloud.token(), "Content-Type": "application/json",
                                          "OpenStack-API-Version": f"compute {version}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_add_and_remove_volume_on_a_running_guest(cloud: RunningCloud, guest_image: str) -> None:
    vm, data, scratch = unique("vm"), unique("data"), unique("scratch")
    server = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.micro", "--image",
                                  "gureum-guest", "--wait", vm)
    wait_for(lambda: BANNER_PREFIX in console(cloud, vm), 180, 2, "the guest's banner on the console")
    before = disks_seen(cloud, vm)
    data_id = cloud.openstack_json("volume", "create", "--size", "1", data)["id"]
    scratch_id = cloud.openstack_json("volume", "create", "--size", "1", scratch)["id"]
    wait_for(lambda: volume_status(cloud, data) == volume_status(cloud, scratch) == "available", 60,
             what="both volumes available")

    cloud.openstack("server", "add", "volume", "--tag", "db", vm, data)
    wait_for(lambda: volume_status(cloud, data) == "in-use", 90, 1, "the volume in-use")
    wait_for(lambda: len(disks_seen(cloud, vm)) > len(before), 90, 2, "the guest to see a new virtio disk")
    new_disk = disks_seen(cloud, vm)[-1]
    assert new_disk not in before
    assert attached_ids(cloud, vm) == [data_id]
    listed = cloud.openstack_json("server", "volume", "list", vm)
    assert [(v["Volume ID"], v["Server ID"], v["Tag"]) for v in listed] == [(data_id, server["id"], "db")]
    shown = cloud.openstack_json("volume", "show", data)
    assert [a["server_id"] for a in shown["attachments"]] == [server["id"]]

    # Bad input is a 4xx naming the problem, and changes nothing.
    token = cloud.token()
    path = f"/servers/{server['id']}/os-volume_attachments"
    status, body = api(cloud, "POST", path, {"volumeAttachment": {"volumeId": data_id}}, token)
    assert status == 400 and "already attached" in body["badRequest"]["message"]
    status, body = api(cloud, "POST", path, {"volumeAttachment": {"volumeId": "not-a-uuid"}}, token)
    assert status == 400 and "volumeId" in body["badRequest"]["message"]
    status, body = api(cloud, "POST", path, {"volumeAttachment": {"volumeId": scratch_id, "bogus": 1}}, token)
    assert status == 400 and "bogus" in body["badRequest"]["message"]
    status, body = api(cloud, "POST", path, {"volumeAttachment": {"volumeId": scratch_id, "tag": "x"}}, token,
                       version="2.48")
    assert status == 400 and "tag" in body["badRequest"]["message"]
    status, body = api(cloud, "POST", path, {"volumeAttachment": {"volumeId": "0" * 8 + "-0000-4000-8000-" + "0" * 12}},
                       token)
    assert status == 404 and "could not be found" in body["itemNotFound"]["message"]
    status, body = api(cloud, "DELETE", f"{path}/{scratch_id}", token=token)
    assert status == 404 and "is not attached" in body["itemNotFound"]["message"]
    assert volume_status(cloud, scratch) == "available" and attached_ids(cloud, vm) == [data_id]

    cloud.openstack("server", "remove", "volume", vm, data)
    wait_for(lambda: volume_status(cloud, data) == "available", 90, 1, "the volume detached")
    assert attached_ids(cloud, vm) == []

    # Attached with delete_on_termination, the volume goes with the server; the other stays.
    cloud.openstack("server", "add", "volume", "--enable-delete-on-termination", vm, scratch)
    wait_for(lambda: volume_status(cloud, scratch) == "in-use", 90, 1, "the scratch volume in-use")
    shown = cloud.openstack_json("server", "show", vm)
    assert shown["volumes_attached"] == [{"id": scratch_id, "delete_on_termination": True}]
    cloud.openstack("server", "delete", "--wait", vm)
    wait_for(lambda: scratch not in cloud.openstack("volume", "list", "-f", "value", "-c", "Name").stdout, 90, 1,
             "the delete_on_termination volume gone")
    assert volume_status(cloud, data) == "available"
    cloud.openstack("volume", "delete", data)


def test_another_projects_volume_is_not_found(cloud: RunningCloud, guest_image: str,
                                              member_env: dict[str, str]) -> None:
    theirs = cloud.openstack_json("volume", "create", "--size", "1", unique("theirs"))["id"]
    vm = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.nano", "--image", "gureum-guest",
                              "--wait", unique("mine"), env=member_env)["id"]
    member_token = cloud.token(member_env["OS_USERNAME"], member_env["OS_PASSWORD"], member_env["OS_PROJECT_NAME"])
    status, body = api(cloud, "POST", f"/servers/{vm}/os-volume_attachments",
                       {"volumeAttachment": {"volumeId": theirs}}, member_token)
    assert status == 404 and f"Volume {theirs} could not be found" in body["itemNotFound"]["message"]
    cloud.openstack("server", "delete", "--wait", vm, env=member_env)
    wait_for(lambda: volume_status(cloud, theirs) == "available", 60, what="their volume available")
    cloud.openstack("volume", "delete", theirs)


def test_boot_from_volume_with_the_cli(cloud: RunningCloud, guest_image: str) -> None:
    # --image X --boot-from-volume N: Nova makes the boot volume from the image (it outlives the server).
    vm = unique("bfv")
    server = cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.micro", "--image",
                                  "gureum-guest", "--boot-from-volume", "1", "--wait", vm)
    wait_for(lambda: BANNER_PREFIX in console(cloud, vm), 240, 2, "the guest's banner, booted from its volume")
    assert "SYSLINUX" in console(cloud, vm)  # the boot loader on the volume
    shown = cloud.openstack_json("server", "show", vm)
    [boot_id] = [v["id"] for v in shown["volumes_attached"]]
    assert shown["status"] == "ACTIVE" and "booted from volume" in str(shown["image"])
    assert not (cloud.state_dir / "agent" / "instances" / server["id"] / "disk").exists()
    boot = cloud.openstack_json("volume", "show", boot_id)
    assert boot["status"] == "in-use" and boot["bootable"] in (True, "true") and boot["size"] == 1
    failed = cloud.openstack("server", "remove", "volume", vm, boot_id, check=False)
    assert failed.returncode != 0 and "Cannot detach a root device volume" in failed.stderr
    cloud.openstack("server", "delete", "--wait", vm)
    wait_for(lambda: volume_status(cloud, boot_id) == "available", 90, 1, "the boot volume released")

    # --volume V: boot from that volume, here the one the first server left.
    vm2 = unique("bfv")
    cloud.openstack("volume", "set", "--name", unique("boot"), boot_id)
    cloud.openstack_json("server", "create", "--nic", "none", "--flavor", "t2.micro", "--volume", boot_id,
                         "--wait", vm2)
    wait_for(lambda: BANNER_PREFIX in console(cloud, vm2), 240, 2, "the second guest's banner")
    assert attached_ids(cloud, vm2) == [boot_id] and volume_status(cloud, boot_id) == "in-use"
    cloud.openstack("server", "delete", "--wait", vm2)
    wait_for(lambda: volume_status(cloud, boot_id) == "available", 90, 1, "the boot volume released again")
    cloud.openstack("volume", "delete", boot_id)

    # A mapping the create cannot honour is a 400 naming it, and makes nothing.
    before = cloud.openstack("volume", "list", "-f", "value", "-c", "ID").stdout
    micro = cloud.openstack_json("flavor", "show", "t2.micro")["id"]
    status, body = api(cloud, "POST", "/servers", {"server": {
        "name": unique("bad"), "flavorRef": micro, "imageRef": "", "networks": "none",
        "block_device_mapping_v2": [{"source_type": "image", "destination_type": "volume", "uuid": guest_image,
                                     "boot_index": 0}]}})
    assert status == 400 and "need to have a non-zero size" in body["badRequest"]["message"]
    status, body = api(cloud, "POST", "/servers", {"server": {
        "name": unique("bad"), "flavorRef": micro, "imageRef": "", "networks": "none",
        "block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume", "boot_index": 0,
                                     "uuid": "0" * 8 + "-0000-4000-8000-" + "0" * 12}]}})
    assert status == 400 and "failed to get volume" in body["badRequest"]["message"]
    assert cloud.openstack("volume", "list", "-f", "value", "-c", "ID").stdout == before
