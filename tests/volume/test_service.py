"""The block storage service in-process: what the API and compute call, and its guards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from gureum.agent.protocol import HostCapacity, HostReport, ObservedBackend, ObservedVolume
from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Forbidden, NotFound
from gureum.volume.microversion import Microversion
from gureum.volume.quotas import OverLimit

PROJECT, OTHER = "p" * 32, "q" * 32
V30, V342 = Microversion(3, 0), Microversion(3, 42)


HOST = "storage-1"
GiB = 1024**3


def report(cloud: Cloud, *, total_gb: int = 100, present: bool = True, errors: dict[str, str] | None = None,
           hostname: str = HOST) -> None:
    """One pass of the host's agent, as the gateway sees it: hold what is desired, report it.

    The agent is not what these tests are about; the controller's half of the protocol is."""
    desired = cloud.compute.desired_state(hostname)
    volumes = [ObservedVolume(id=v.id, present=present and not (errors or {}).get(v.id), size_gb=v.size_gb,
                              snapshots=list(v.snapshots), revert_count=v.revert_count,
                              error=(errors or {}).get(v.id)) for v in desired.volumes]
    cloud.compute.apply_report(HostReport(
        hostname=hostname, capacity=HostCapacity(vcpus=2, memory_mb=2048, disk_gb=20), instances=[],
        volumes=volumes, volume_backends=[ObservedBackend("file", total_gb * GiB, total_gb * GiB)]))


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    report(cloud)
    yield cloud
    cloud.image.stop()
    cloud.close()


def ctx(project_id: str = PROJECT, roles: tuple[str, ...] = ("member", "reader"), user: str = "u" * 32) -> RequestContext:
    return RequestContext(user_id=user, user_name="u", user_domain_id="default", user_domain_name="Default",
                          roles=roles, project_id=project_id)


ADMIN = ctx(roles=("admin", "member", "reader"))


def make(cloud: Cloud, **fields: object) -> str:
    body = {"size": 1, **fields}
    volume_id = cloud.volume.create_volume(ctx(), {"volume": body}).volume.id
    report(cloud)
    return volume_id


def test_create_show_update_and_the_default_type(cloud: Cloud) -> None:
    record = cloud.volume.create_volume(ctx(), {"volume": {"size": "2", "display_name": "data",
                                                           "metadata": {"k": "v"}}})
    assert (record.volume.status, record.volume.size, record.type_name) == ("creating", 2, "__DEFAULT__")
    assert record.volume.host == HOST and record.volume.backend == "file"
    report(cloud)
    assert cloud.volume.get_volume(ctx(), record.volume.id).volume.status == "available"
    updated = cloud.volume.update_volume(ctx(), record.volume.id, {"volume": {"display_name": "renamed",
                                                                              "display_description": "d"}})
    assert (updated.volume.name, updated.volume.description, updated.metadata) == ("renamed", "d", {"k": "v"})
    with pytest.raises(NotFound):
        cloud.volume.get_volume(ctx(OTHER), record.volume.id)


@pytest.mark.parametrize("body", [{}, {"size": 0}, {"size": -1}, {"size": "#$%"}, {"size": True},
                                  {"size": 1, "bogus": 1}, {"size": 1, "metadata": {"k": 1}},
                                  {"size": 1, "availability_zone": "nowhere"}])
def test_bad_create_bodies_are_400_and_leave_nothing(cloud: Cloud, body: dict) -> None:
    with pytest.raises(BadRequest):
        cloud.volume.create_volume(ctx(), {"volume": body})
    assert cloud.volume.list_volumes(ctx(), {})[0] == []


def test_unknown_sources_are_404(cloud: Cloud) -> None:
    for field in ("snapshot_id", "source_volid", "volume_type"):
        with pytest.raises(NotFound):
            cloud.volume.create_volume(ctx(), {"volume": {"size": 1, field: "0" * 8 + "-0000-0000-0000-" + "0" * 12}})


def test_list_filters_sorts_and_pages_in_a_fixed_number_of_statements(cloud: Cloud) -> None:
    cloud.volume.update_quotas(ADMIN, PROJECT, {"quota_set": {"volumes": -1}})
    ids = [make(cloud, name=f"v{i}", metadata={"Type": "work" if i % 2 else "home"}) for i in range(6)]
    work, _ = cloud.volume.list_volumes(ctx(), {"metadata": "{'Type': 'work'}"})
    assert {r.volume.id for r in work} == {ids[1], ids[3], ids[5]}
    by_name, _ = cloud.volume.list_volumes(ctx(), {"sort": "name:asc"})
    assert [r.volume.name for r in by_name] == [f"v{i}" for i in range(6)]
    seen, marker = [], None
    while True:
        query = {"sort": "name:asc", "limit": "2", **({"marker": marker} if marker else {})}
        page, marker = cloud.volume.list_volumes(ctx(), query)
        seen += [r.volume.name for r in page]
        if marker is None:
            break
    assert seen == [f"v{i}" for i in range(6)]
    offset, _ = cloud.volume.list_volumes(ctx(), {"sort": "name:asc", "offset": "4"})
    assert [r.volume.name for r in offset] == ["v4", "v5"]
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(cloud.db.read_engine, "before_cursor_execute", listener)
    try:
        cloud.volume.list_volumes(ctx(), {})
        few = len(statements)
        statements.clear()
        for i in range(10):
            make(cloud, name=f"more{i}")
        statements.clear()
        cloud.volume.list_volumes(ctx(), {})
        assert len(statements) == few
    finally:
        event.remove(cloud.db.read_engine, "before_cursor_execute", listener)


def test_snapshots_volumes_from_them_and_cascade_delete(cloud: Cloud) -> None:
    volume_id = make(cloud, size=2)
    snapshot = cloud.volume.create_snapshot(ctx(), {"snapshot": {"volume_id": volume_id, "name": "s1"}})
    assert snapshot.snapshot.status == "creating" and snapshot.snapshot.size == 2
    report(cloud)
    assert cloud.volume.get_snapshot(ctx(), snapshot.snapshot.id).snapshot.status == "available"
    with pytest.raises(BadRequest):
        cloud.volume.create_volume(ctx(), {"volume": {"snapshot_id": snapshot.snapshot.id, "size": 1}})
    clone = cloud.volume.create_volume(ctx(), {"volume": {"snapshot_id": snapshot.snapshot.id}})
    assert clone.volume.size == 2 and clone.volume.snapshot_id == snapshot.snapshot.id
    assert clone.volume.host == HOST
    desired = {v.id: v for v in cloud.compute.desired_state(HOST).volumes}
    assert desired[clone.volume.id].source.kind == "snapshot"
    assert desired[clone.volume.id].source.volume_id == volume_id
    report(cloud)
    with pytest.raises(BadRequest, match="dependent snapshots"):
        cloud.volume.delete_volume(ctx(), volume_id)
    cloud.volume.delete_volume(ctx(), volume_id, cascade=True)
    # Deleting until the host reports it gone; then nothing is left.
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "deleting"
    assert volume_id not in {v.id for v in cloud.compute.desired_state(HOST).volumes}
    report(cloud)
    with pytest.raises(NotFound):
        cloud.volume.get_snapshot(ctx(), snapshot.snapshot.id)
    with pytest.raises(NotFound):
        cloud.volume.get_volume(ctx(), volume_id)


def test_attached_volume_cannot_be_deleted_and_two_reservations_give_one(cloud: Cloud) -> None:
    volume_id = make(cloud)
    results: list[str] = []

    def reserve() -> None:
        try:
            cloud.volume.volume_action(ctx(), volume_id, {"os-reserve": {}}, V30)
            results.append("ok")
        except BadRequest:
            results.append("400")

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["400", "400", "400", "ok"]
    # Cinder's legacy os-reserve shows attaching (the attachments API shows reserved).
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "attaching"
    cloud.volume.volume_action(ctx(), volume_id, {"os-attach": {"instance_uuid": "i" * 36, "mountpoint": "/dev/vdb"}},
                               V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "in-use"
    with pytest.raises(BadRequest, match="attached"):
        cloud.volume.delete_volume(ctx(), volume_id)
    cloud.volume.volume_action(ctx(), volume_id, {"os-begin_detaching": {}}, V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "detaching"
    cloud.volume.volume_action(ctx(), volume_id, {"os-detach": {}}, V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "available"
    cloud.volume.delete_volume(ctx(), volume_id)


def test_attachments_api_reserve_update_complete_delete(cloud: Cloud) -> None:
    volume_id = make(cloud)
    attachment, info = cloud.volume.create_attachment(ctx(), {"attachment": {"volume_uuid": volume_id,
                                                                             "instance_uuid": "i" * 36}})
    assert info is None and cloud.volume.get_volume(ctx(), volume_id).volume.status == "reserved"
    _, info = cloud.volume.update_attachment(ctx(), attachment.id, {"attachment": {"connector": {"host": "h"}}})
    assert info["data"]["volume_id"] == volume_id
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "attaching"
    cloud.volume.complete_attachment(ctx(), attachment.id)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "in-use"
    cloud.volume.delete_attachment(ctx(), attachment.id)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "available"


def test_extend_needs_a_larger_size_and_3_42_when_attached(cloud: Cloud) -> None:
    volume_id = make(cloud)
    for size in (1, 0, None, "x"):
        with pytest.raises(BadRequest):
            cloud.volume.volume_action(ctx(), volume_id, {"os-extend": {"new_size": size}}, V30)
    cloud.volume.volume_action(ctx(), volume_id, {"os-extend": {"new_size": 3}}, V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "extending"
    report(cloud)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.size == 3
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "available"
    cloud.volume.volume_action(ctx(), volume_id, {"os-attach": {"instance_uuid": "i" * 36, "mountpoint": "/dev/vdb"}},
                               V30)
    with pytest.raises(BadRequest, match="3.42"):
        cloud.volume.volume_action(ctx(), volume_id, {"os-extend": {"new_size": 4}}, V30)
    cloud.volume.volume_action(ctx(), volume_id, {"os-extend": {"new_size": 4}}, V342)


def test_quotas_refuse_with_413_and_admin_sets_them(cloud: Cloud) -> None:
    with pytest.raises(Forbidden):
        cloud.volume.update_quotas(ctx(), PROJECT, {"quota_set": {"volumes": 1}})
    cloud.volume.update_quotas(ADMIN, PROJECT, {"quota_set": {"volumes": 1, "gigabytes": 5}})
    make(cloud)
    with pytest.raises(OverLimit, match="volumes"):
        make(cloud)
    assert cloud.volume.get_quotas(ctx(), PROJECT, usage=True)["volumes"] == {
        "limit": 1, "in_use": 1, "reserved": 0, "allocated": 0}
    with pytest.raises(BadRequest):
        cloud.volume.update_quotas(ADMIN, PROJECT, {"quota_set": {"volumes": 0}})


def test_reset_status_is_admin_and_holds_until_the_facts_change(cloud: Cloud) -> None:
    volume_id = make(cloud)
    with pytest.raises(Forbidden):
        cloud.volume.volume_action(ctx(), volume_id, {"os-reset_status": {"status": "error"}}, V30)
    cloud.volume.volume_action(ADMIN, volume_id, {"os-reset_status": {"status": "error"}}, V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "error"
    cloud.volume.volume_action(ADMIN, volume_id, {"os-reset_status": {"status": "available"}}, V30)
    cloud.volume.volume_action(ctx(), volume_id, {"os-reserve": {}}, V30)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "attaching"


def test_transfer_moves_the_volume_to_whoever_has_the_key(cloud: Cloud) -> None:
    volume_id = make(cloud)
    transfer, key = cloud.volume.create_transfer(ctx(), {"transfer": {"volume_id": volume_id}}, allow_no_snapshots=True)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "awaiting-transfer"
    with pytest.raises(BadRequest, match="invalid auth key"):
        cloud.volume.accept_transfer(ctx(OTHER), transfer.id, {"accept": {"auth_key": "wrong"}})
    cloud.volume.accept_transfer(ctx(OTHER, user="w" * 32), transfer.id, {"accept": {"auth_key": key}})
    assert cloud.volume.get_volume(ctx(OTHER), volume_id).volume.status == "available"
    with pytest.raises(NotFound):
        cloud.volume.get_volume(ctx(), volume_id)


def test_types_are_admin_managed_and_in_use_types_stay(cloud: Cloud) -> None:
    with pytest.raises(Forbidden):
        cloud.volume.create_type(ctx(), {"volume_type": {"name": "fast"}})
    vtype = cloud.volume.create_type(ADMIN, {"volume_type": {"name": "fast", "extra_specs": {"a": "b"}}})
    make(cloud, volume_type="fast")
    with pytest.raises(BadRequest, match="in use"):
        cloud.volume.delete_type(ADMIN, vtype.id)
    with pytest.raises(BadRequest):
        cloud.volume.delete_type(ADMIN, cloud.volume.get_type(ctx(), "default").id)


def test_placement_names_the_free_space_and_waits_for_a_host(cloud: Cloud, tmp_path: Path) -> None:
    cloud.volume.update_quotas(ADMIN, PROJECT, {"quota_set": {"gigabytes": -1, "per_volume_gigabytes": -1}})
    big = cloud.volume.create_volume(ctx(), {"volume": {"size": 500}}).volume
    assert big.status == "error" and "has 100 GiB free of 100 GiB" in (big.status_reason or "")
    cloud.volume.delete_volume(ctx(), big.id)  # an error volume always deletes, at once
    with pytest.raises(NotFound):
        cloud.volume.get_volume(ctx(), big.id)
    # Two volumes that together overfill the backend: the second is refused by the claim.
    first = cloud.volume.create_volume(ctx(), {"volume": {"size": 60}}).volume
    second = cloud.volume.create_volume(ctx(), {"volume": {"size": 60}}).volume
    assert first.host == HOST and (second.host, second.status) == (None, "error")


def test_host_errors_show_as_error_and_clear_when_the_host_succeeds(cloud: Cloud) -> None:
    volume_id = cloud.volume.create_volume(ctx(), {"volume": {"size": 1}}).volume.id
    report(cloud, errors={volume_id: "qemu-img create failed: No space left on device"})
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "error"
    report(cloud)
    assert cloud.volume.get_volume(ctx(), volume_id).volume.status == "available"


def test_a_volume_waits_creating_until_a_storage_host_reports(tmp_path: Path) -> None:
    fresh = Cloud(Settings(state_dir=tmp_path / "fresh"))
    fresh.start()
    try:
        volume_id = fresh.volume.create_volume(ctx(), {"volume": {"size": 1}}).volume.id
        assert fresh.volume.get_volume(ctx(), volume_id).volume.status == "creating"
        report(fresh)  # the first report registers the backend and places what waited
        assert fresh.volume.get_volume(ctx(), volume_id).volume.host == HOST
        report(fresh)
        assert fresh.volume.get_volume(ctx(), volume_id).volume.status == "available"
    finally:
        fresh.image.stop()
        fresh.close()
