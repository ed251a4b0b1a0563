"""Nova's side of block storage in-process: os-volume_attachments' service methods over the
volume service, what the guest's host is asked for and reports, and server delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gureum.agent.protocol import HostCapacity, HostReport, ObservedBackend, ObservedInstance, ObservedVolume
from gureum.cloud import Cloud
from gureum.compute import states
from gureum.compute.actions import RebuildRequest
from gureum.compute.boot import BlockDevice, ServerRequest
from gureum.compute.models import Instance
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.volume.models import VolumeAttachment
from tests.compute.test_service import (  # noqa: F401  (cloud: the in-process cloud fixture)
    admin, boot_image, cloud, ctx, flavor_id, server,
)

HOST = "node-1"
GiB = 1024**3
OTHER = "q" * 32


def report(cloud: Cloud, plugged: dict[str, list[str]] | None = None) -> None:
    """One pass of node-1's agent: it holds every desired volume and its guests run with the
    attachments `plugged` names (server id -> attachment ids)."""
    desired = cloud.compute.desired_state(HOST)
    plugged = plugged or {}
    cloud.compute.apply_report(HostReport(
        hostname=HOST, capacity=HostCapacity(vcpus=8, memory_mb=8192, disk_gb=100),
        instances=[ObservedInstance(uuid=i.uuid, power_state=states.RUNNING,
                                    volumes_attached=plugged.get(i.uuid, [])) for i in desired.instances],
        volumes=[ObservedVolume(id=v.id, present=True, size_gb=v.size_gb) for v in desired.volumes],
        volume_backends=[ObservedBackend("file", 100 * GiB, 100 * GiB)]))


def volume(cloud: Cloud, project_ctx=None) -> str:  # type: ignore[no-untyped-def]
    volume_id = cloud.volume.create_volume(project_ctx or ctx(), {"volume": {"size": 1}}).volume.id
    report(cloud)
    return volume_id


def status(cloud: Cloud, volume_id: str) -> str:
    return cloud.volume.get_volume(admin(), volume_id).volume.status


def desired_attachments(cloud: Cloud, server_id: str) -> list[str]:
    for instance in cloud.compute.desired_state(HOST).instances:
        if instance.uuid == server_id:
            return [a.volume_id for a in instance.volumes]
    return []


def attachment_rows(cloud: Cloud) -> int:
    with cloud.db.read() as s:
        return int(s.execute(select(func.count()).select_from(VolumeAttachment)).scalar_one())


def test_attach_plugs_in_on_the_guests_host_and_shows_on_the_server(cloud: Cloud) -> None:
    vm = server(cloud)
    report(cloud)
    data = volume(cloud)
    mapping = cloud.compute.attach_volume(ctx(), vm, data, tag="db")
    assert (mapping.device, mapping.server_id, mapping.tag, mapping.delete_on_termination) == \
        ("/dev/vdb", vm, "db", False)
    assert status(cloud, data) == "attaching"
    assert desired_attachments(cloud, vm) == [data]
    report(cloud, {vm: [mapping.attachment_id]})
    assert status(cloud, data) == "in-use"
    assert cloud.compute.show_server(ctx(), vm).volumes == [(data, False)]
    assert [m.volume_id for m in cloud.compute.volume_attachments(ctx(), vm)] == [data]
    assert cloud.compute.volume_attachment(ctx(), vm, data).attachment_id == mapping.attachment_id
    shown, _ = cloud.compute.list_servers(ctx(), {}, detailed=True)
    assert shown[0].volumes == [(data, False)]
    second = cloud.compute.attach_volume(ctx(), vm, volume(cloud), delete_on_termination=True)
    assert second.device == "/dev/vdc" and second.delete_on_termination


def test_attach_refusals_name_the_problem_and_leave_no_row(cloud: Cloud) -> None:
    vm, other_vm = server(cloud), server(cloud)
    report(cloud)
    data = volume(cloud)
    cloud.compute.attach_volume(ctx(), vm, data)
    with pytest.raises(BadRequest, match="already attached"):
        cloud.compute.attach_volume(ctx(), vm, data)
    with pytest.raises(BadRequest, match="must be available"):
        cloud.compute.attach_volume(ctx(), other_vm, data)
    with pytest.raises(NotFound, match="could not be found"):
        cloud.compute.attach_volume(ctx(), vm, "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    theirs = volume(cloud, ctx(OTHER))
    with pytest.raises(NotFound, match=f"Volume {theirs} could not be found"):
        cloud.compute.attach_volume(ctx(), vm, theirs)
    free = volume(cloud)
    with pytest.raises(Conflict, match=r"device path \(/dev/vdb\) is in use"):
        cloud.compute.attach_volume(ctx(), vm, free, device="/dev/vdb")
    with pytest.raises(NotFound):
        cloud.compute.attach_volume(ctx(OTHER), vm, free)
    building = server(cloud, states.BUILDING)
    with pytest.raises(Conflict, match="vm_state building"):
        cloud.compute.attach_volume(ctx(), building, free)
    locked = server(cloud, locked=True)
    with pytest.raises(Conflict, match="is locked"):
        cloud.compute.attach_volume(ctx(), locked, free)
    busy = server(cloud)
    cloud.compute.stop_server(ctx(), busy)
    with pytest.raises(Conflict, match="task_state powering-off"):
        cloud.compute.attach_volume(ctx(), busy, free)
    assert attachment_rows(cloud) == 1 and status(cloud, free) == "available"


def test_detach_waits_for_the_guest_to_let_go(cloud: Cloud) -> None:
    vm = server(cloud)
    report(cloud)
    data = volume(cloud)
    mapping = cloud.compute.attach_volume(ctx(), vm, data)
    report(cloud, {vm: [mapping.attachment_id]})
    cloud.compute.detach_volume(ctx(), vm, data)
    assert status(cloud, data) == "detaching" and desired_attachments(cloud, vm) == []
    cloud.compute.detach_volume(ctx(), vm, data)  # asked again while the host is on it: no change
    report(cloud, {vm: [mapping.attachment_id]})  # the guest still holds it
    assert status(cloud, data) == "detaching"
    report(cloud)
    assert status(cloud, data) == "available" and cloud.compute.volume_attachments(ctx(), vm) == []
    with pytest.raises(NotFound, match=f"Instance {vm} is not attached to volume {data}"):
        cloud.compute.detach_volume(ctx(), vm, data)
    with pytest.raises(NotFound):
        cloud.compute.volume_attachment(ctx(), vm, data)


def test_a_root_volume_cannot_be_detached(cloud: Cloud) -> None:
    vm = server(cloud)
    report(cloud)
    root = volume(cloud)
    cloud.volume.attach_to_server(ctx(), root, vm, HOST, boot_index=0)
    assert cloud.compute.volume_attachment(ctx(), vm, root).device == "/dev/vda"
    with pytest.raises(BadRequest, match="Cannot detach a root device volume"):
        cloud.compute.detach_volume(ctx(), vm, root)


def test_server_delete_releases_its_volumes_and_deletes_delete_on_termination_ones(cloud: Cloud) -> None:
    vm = server(cloud)
    report(cloud)
    keep, scratch = volume(cloud), volume(cloud)
    a = cloud.compute.attach_volume(ctx(), vm, keep)
    b = cloud.compute.attach_volume(ctx(), vm, scratch, delete_on_termination=True)
    report(cloud, {vm: [a.attachment_id, b.attachment_id]})
    cloud.compute.delete_server(ctx(), vm)
    assert status(cloud, keep) == "available" and status(cloud, scratch) == "deleting"
    assert attachment_rows(cloud) == 0
    report(cloud)  # the host lets the deleted volume go
    with pytest.raises(NotFound):
        cloud.volume.get_volume(admin(), scratch)


def bfv_request(image_id: str, **fields: object) -> ServerRequest:
    return ServerRequest(name="bfv", image_id="", flavor_ref=flavor_id("t2.nano"), networks="none",
                         block_devices=[BlockDevice("image", image_id, boot_index=0, volume_size=1, **fields)])


def instance_row(cloud: Cloud, server_id: str) -> Instance:
    with cloud.db.read() as s:
        got = s.get(Instance, server_id)
        assert got is not None
        return got


def test_boot_from_a_volume_made_from_an_image(cloud: Cloud, tmp_path: Path) -> None:
    report(cloud)
    image_id = boot_image(cloud, tmp_path)
    [instance], _ = cloud.compute.create_servers(ctx(), bfv_request(image_id, delete_on_termination=True))
    [mapping] = cloud.compute.volume_attachments(ctx(), instance.uuid)
    assert (mapping.device, mapping.boot_index, mapping.delete_on_termination) == ("/dev/vda", 0, True)
    boot = cloud.volume.get_volume(ctx(), mapping.volume_id).volume
    assert (boot.host, boot.image_id, boot.size, boot.bootable) == (HOST, image_id, 1, True)
    # Not built until its volume is there to boot from.
    assert [i.uuid for i in cloud.compute.desired_state(HOST).instances] == []
    report(cloud)
    [want] = cloud.compute.desired_state(HOST).instances
    assert (want.uuid, want.image_id, want.root_gb) == (instance.uuid, "", 0)
    assert [(a.volume_id, a.boot_index) for a in want.volumes] == [(mapping.volume_id, 0)]
    report(cloud, {instance.uuid: [mapping.attachment_id]})
    got = instance_row(cloud, instance.uuid)
    assert (got.vm_state, got.image_ref) == (states.ACTIVE, "")
    assert status(cloud, mapping.volume_id) == "in-use"
    assert cloud.compute.show_server(ctx(), instance.uuid).volumes == [(mapping.volume_id, True)]
    with pytest.raises(BadRequest, match="root device"):
        cloud.compute.detach_volume(ctx(), instance.uuid, mapping.volume_id)
    with pytest.raises(BadRequest, match="volume-backed"):
        cloud.compute.rebuild_server(ctx(), instance.uuid, RebuildRequest(image_id=image_id))
    cloud.compute.delete_server(ctx(), instance.uuid)
    assert status(cloud, mapping.volume_id) == "deleting"


def test_boot_from_an_existing_volume_and_what_a_create_refuses(cloud: Cloud, tmp_path: Path) -> None:
    report(cloud)
    image_id = boot_image(cloud, tmp_path)
    plain = volume(cloud)
    bootable = cloud.volume.create_volume(ctx(), {"volume": {"size": 1, "imageRef": image_id}}).volume.id
    report(cloud)
    nano = flavor_id("t2.nano")
    missing = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    bad = {
        f"Block Device {plain} is not bootable": [BlockDevice("volume", plain, boot_index=0)],
        f"failed to get volume {missing}": [BlockDevice("volume", missing, boot_index=0)],
        f"failed to get image {missing}": [BlockDevice("image", missing, boot_index=0, volume_size=1)],
    }
    for message, bdms in bad.items():
        with pytest.raises(BadRequest, match=message):
            cloud.compute.create_servers(ctx(), ServerRequest(name="x", image_id="", flavor_ref=nano,
                                                              networks="none", block_devices=bdms))
    with pytest.raises(BadRequest, match="several servers"):
        cloud.compute.create_servers(ctx(), ServerRequest(name="x", image_id="", flavor_ref=nano, networks="none",
                                                          min_count=2, max_count=2,
                                                          block_devices=[BlockDevice("volume", bootable, boot_index=0)]))
    with cloud.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 0
    assert attachment_rows(cloud) == 0 and len(cloud.volume.list_volumes(ctx(), {})[0]) == 2
    [instance], _ = cloud.compute.create_servers(ctx(), ServerRequest(
        name="x", image_id="", flavor_ref=nano, networks="none",
        block_devices=[BlockDevice("volume", bootable, boot_index=0), BlockDevice("blank", volume_size=1)]))
    root, blank = cloud.compute.volume_attachments(ctx(), instance.uuid)
    assert (root.volume_id, root.device, blank.device) == (bootable, "/dev/vda", "/dev/vdb")
    report(cloud)
    assert [a.volume_id for a in cloud.compute.desired_state(HOST).instances[0].volumes] == [bootable, blank.volume_id]
    cloud.compute.delete_server(ctx(), instance.uuid)
    assert status(cloud, bootable) == "available" and status(cloud, blank.volume_id) == "available"


def test_a_boot_volume_that_cannot_be_made_fails_the_server_saying_why(cloud: Cloud, tmp_path: Path) -> None:
    report(cloud)
    [instance], _ = cloud.compute.create_servers(ctx(), bfv_request(boot_image(cloud, tmp_path)))
    [mapping] = cloud.compute.volume_attachments(ctx(), instance.uuid)
    cloud.compute.apply_report(HostReport(
        hostname=HOST, capacity=HostCapacity(vcpus=8, memory_mb=8192, disk_gb=100), instances=[],
        volumes=[ObservedVolume(id=mapping.volume_id, present=False, error="image is not a disk")],
        volume_backends=[ObservedBackend("file", 100 * GiB, 100 * GiB)]))
    got = instance_row(cloud, instance.uuid)
    assert got.vm_state == states.ERROR and "image is not a disk" in (got.fault or {}).get("message", "")


def test_the_os_volumes_proxy_translates_onto_the_volume_service(cloud: Cloud) -> None:
    report(cloud)
    created = cloud.compute.create_proxy_volume(ctx(), {"size": "1", "display_name": "old", "metadata": {"k": "v"}})
    assert (created["displayName"], created["size"], created["attachments"], created["metadata"]) == \
        ("old", 1, [{}], {"k": "v"})
    report(cloud)
    shown = cloud.compute.show_proxy_volume(ctx(), created["id"])
    assert shown["status"] == "available" and shown["volumeType"] == "__DEFAULT__"
    assert cloud.compute.list_proxy_volumes(ctx(), detailed=True) == [shown]
    for size in ("", "0", "#$%"):
        with pytest.raises(BadRequest, match="size"):
            cloud.compute.create_proxy_volume(ctx(), {"size": size})
    snapshot = cloud.compute.create_proxy_snapshot(ctx(), {"volume_id": created["id"], "display_name": "s"})
    assert (snapshot["volumeId"], snapshot["displayName"]) == (created["id"], "s")
    assert [s["id"] for s in cloud.compute.list_proxy_snapshots(ctx())] == [snapshot["id"]]
    with pytest.raises(NotFound):
        cloud.compute.show_proxy_volume(ctx(OTHER), created["id"])
    cloud.compute.delete_proxy_snapshot(ctx(), snapshot["id"])
    report(cloud)  # the host lets the snapshot go
    cloud.compute.delete_proxy_volume(ctx(), created["id"])
    assert cloud.compute.show_proxy_volume(ctx(), created["id"])["status"] == "deleting"
