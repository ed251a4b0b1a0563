"""The compute service in-process: Nova's guarded server actions, one transaction each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from gureum.cloud import Cloud
from gureum.compute import states
from gureum.compute.actions import Guard
from gureum.compute.boot import ServerRequest
from gureum.compute.flavors import flavor_snapshot
from gureum.compute.models import Allocation, Flavor, Host, Instance, InstanceAction
from gureum.config import Settings
from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from gureum.image.models import Image

PROJECT = "p" * 32


def flavor(name: str) -> dict[str, object]:
    """A seeded flavor as an instance keeps it."""
    return flavor_snapshot(find_flavor_by_name(name))


def flavor_id(name: str) -> str:
    return str(flavor(name)["id"])


_CLOUD: list[Cloud] = []


def find_flavor_by_name(name: str) -> Flavor:
    with _CLOUD[-1].db.read() as s:
        return s.execute(select(Flavor).where(Flavor.name == name)).scalar_one()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    _CLOUD.append(cloud)
    yield cloud
    _CLOUD.pop()
    cloud.image.stop()
    cloud.close()


def ctx(project_id: str = PROJECT, roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
    return RequestContext(
        user_id="u", user_name="u", user_domain_id="default", user_domain_name="Default",
        roles=roles, project_id=project_id,
    )


def admin() -> RequestContext:
    return ctx("a" * 32, ("admin", "member", "reader"))


def server(cloud: Cloud, vm_state: str = states.ACTIVE, *, on_host: bool = True, host_up: bool = True,
           **values: object) -> str:
    """A placed server row in the given state, as the agent would have left it (booted from an
    image unless image_ref="" says it boots from a volume)."""
    values.setdefault("image_ref", "11111111-1111-4111-8111-111111111111")
    with cloud.db.session() as s:
        host_id = None
        if on_host:
            host = s.execute(select(Host).where(Host.hostname == "node-1")).scalar_one_or_none()
            if host is None:
                host = Host(hostname="node-1", vcpus=8, memory_mb=8192, disk_gb=100, desired_revision=1)
                s.add(host)
            host.last_seen_at = utcnow() if host_up else None
            s.flush()
            host_id = host.id
        instance = Instance(name="vm", project_id=PROJECT, user_id="u", flavor=flavor("t2.nano"), vm_state=vm_state,
                            task_state=None, host_id=host_id, launched_at=utcnow(), **values)
        s.add(instance)
        s.flush()
        instance.task_state = None  # the column's default is "scheduling", which None does not override
        if host_id is not None:
            s.add(Allocation(instance_uuid=instance.uuid, host_id=host_id, vcpus=1, memory_mb=512, disk_gb=8))
            host.used_vcpus += 1
            host.used_memory_mb += 512
            host.used_disk_gb += 8
        return instance.uuid


def row(cloud: Cloud, server_id: str) -> Instance:
    with cloud.db.read() as s:
        instance = s.get(Instance, server_id)
        assert instance is not None
        return instance


def revision(cloud: Cloud) -> int:
    with cloud.db.read() as s:
        return s.execute(select(Host.desired_revision).where(Host.hostname == "node-1")).scalar_one()


def actions(cloud: Cloud, server_id: str) -> list[str]:
    with cloud.db.read() as s:
        return list(s.scalars(select(InstanceAction.action).where(InstanceAction.instance_uuid == server_id)
                              .order_by(InstanceAction.id)))


def test_stop_sets_desired_state_records_the_action_and_wakes_the_host(cloud: Cloud) -> None:
    sid = server(cloud)
    before = revision(cloud)
    cloud.compute.stop_server(ctx(), sid)
    got = row(cloud, sid)
    assert (got.vm_state, got.task_state, got.desired_power) == (states.ACTIVE, "powering-off", "stopped")
    assert revision(cloud) == before + 1
    assert actions(cloud, sid) == ["stop"]


def test_a_second_stop_while_the_first_is_under_way_is_409_in_novas_words(cloud: Cloud) -> None:
    sid = server(cloud)
    cloud.compute.stop_server(ctx(), sid)
    with pytest.raises(Conflict, match=f"Cannot 'stop' instance {sid} while it is in task_state powering-off"):
        cloud.compute.stop_server(ctx(), sid)
    assert actions(cloud, sid) == ["stop"]


def test_state_guard_names_the_vm_state(cloud: Cloud) -> None:
    sid = server(cloud, states.STOPPED)
    with pytest.raises(Conflict, match=f"Cannot 'pause' instance {sid} while it is in vm_state stopped"):
        cloud.compute.power_action(ctx(), sid, "pause")
    cloud.compute.start_server(ctx(), sid)
    assert row(cloud, sid).task_state == "powering-on"


def test_compare_and_swap_loses_to_a_write_after_the_check(cloud: Cloud) -> None:
    """What PostgreSQL does when another request commits between our read and our UPDATE."""
    sid = server(cloud)
    guard = Guard("stop", (states.ACTIVE,))
    with pytest.raises(Conflict, match="while it is in task_state powering-off"):
        with cloud.db.session() as s:
            instance = s.get(Instance, sid)
            assert instance is not None
            guard.check(ctx(), instance)
            # Another writer got there first; our loaded row does not know.
            s.execute(update(Instance).where(Instance.uuid == sid).values(task_state="powering-off")
                      .execution_options(synchronize_session=False))
            cloud.compute._swap(s, ctx(), instance, guard, {"task_state": "powering-off"})
    assert row(cloud, sid).task_state is None  # the whole transaction rolled back


def test_a_locked_server_refuses_its_owner_but_not_an_admin(cloud: Cloud) -> None:
    sid = server(cloud)
    cloud.compute.lock_server(ctx(), sid, "maintenance")
    assert (row(cloud, sid).locked, row(cloud, sid).locked_reason) == (True, "maintenance")
    for act in (lambda: cloud.compute.stop_server(ctx(), sid),
                lambda: cloud.compute.reboot_server(ctx(), sid, hard=False),
                lambda: cloud.compute.resize_server(ctx(), sid, flavor_id("t2.micro")),
                lambda: cloud.compute.delete_server(ctx(), sid)):
        with pytest.raises(Conflict, match=f"Instance {sid} is locked"):
            act()
    cloud.compute.stop_server(admin(), sid)
    cloud.compute.unlock_server(ctx(), sid)
    assert row(cloud, sid).locked is False


def test_another_projects_server_is_not_found(cloud: Cloud) -> None:
    sid = server(cloud)
    with pytest.raises(NotFound, match=f"Instance {sid} could not be found."):
        cloud.compute.stop_server(ctx("q" * 32), sid)
    with pytest.raises(NotFound):
        cloud.compute.show_server(ctx("q" * 32), sid)
    assert cloud.compute.show_server(admin(), sid).instance.uuid == sid


def test_policy_is_enforced_inside_the_service(cloud: Cloud) -> None:
    sid = server(cloud)
    with pytest.raises(Forbidden):
        cloud.compute.reset_state(ctx(), sid, "error")
    with pytest.raises(BadRequest, match="must be 'active' or 'error'"):
        cloud.compute.reset_state(admin(), sid, "stopped")
    cloud.compute.reset_state(admin(), sid, "error")
    assert row(cloud, sid).vm_state == states.ERROR


def test_hard_reboot_from_error_counts_once_and_goes_active(cloud: Cloud) -> None:
    sid = server(cloud, states.ERROR)
    cloud.compute.reboot_server(ctx(), sid, hard=True)
    got = row(cloud, sid)
    assert (got.vm_state, got.task_state, got.reboot_count, got.reboot_hard) == (
        states.ACTIVE, "rebooting_hard", 1, True)
    with pytest.raises(Conflict, match="task_state rebooting_hard"):
        cloud.compute.reboot_server(ctx(), sid, hard=False)
    soft = server(cloud)
    cloud.compute.reboot_server(ctx(), soft, hard=False)
    cloud.compute.reboot_server(ctx(), soft, hard=True)  # a hard reboot may follow a soft one under way
    assert (row(cloud, soft).reboot_count, row(cloud, soft).task_state) == (2, "rebooting_hard")


def test_resize_claims_the_new_size_and_an_unknown_flavor_is_400(cloud: Cloud) -> None:
    sid = server(cloud)
    with pytest.raises(BadRequest, match="Unable to find flavor"):
        cloud.compute.resize_server(ctx(), sid, "no-such-flavor")
    with pytest.raises(BadRequest, match="must change flavor"):
        cloud.compute.resize_server(ctx(), sid, flavor_id("t2.nano"))
    cloud.compute.resize_server(ctx(), sid, flavor_id("t2.micro"))
    got = row(cloud, sid)
    assert (got.task_state, got.resize_count, got.flavor["id"], got.old_flavor["id"]) == (
        "resize_migrating", 1, flavor_id("t2.micro"), flavor_id("t2.nano"))
    with cloud.db.read() as s:
        allocation = s.get(Allocation, {"instance_uuid": sid, "host_id": got.host_id})
        assert allocation is not None and allocation.memory_mb == got.flavor["ram"]
    with pytest.raises(Conflict, match="task_state resize_migrating"):
        cloud.compute.resize_server(ctx(), sid, flavor_id("t2.small"))


def test_a_resize_that_does_not_fit_leaves_the_claim_and_the_row(cloud: Cloud) -> None:
    sid = server(cloud)
    with cloud.db.session() as s:
        s.execute(update(Host).values(memory_mb=1200))  # 512 reserved, 512 used: 176 free
    with pytest.raises(ApiError, match="No valid host was found"):
        cloud.compute.resize_server(ctx(), sid, flavor_id("t2.micro"))
    got = row(cloud, sid)
    assert (got.task_state, got.flavor["id"], got.resize_count) == (None, flavor_id("t2.nano"), 0)


def test_confirm_and_revert_need_a_resized_server(cloud: Cloud) -> None:
    sid = server(cloud, states.RESIZED, old_flavor=flavor("t2.nano"))
    with pytest.raises(Conflict, match="Cannot 'revertResize'"):
        cloud.compute.revert_resize(ctx(), server(cloud))
    cloud.compute.revert_resize(ctx(), sid)
    assert row(cloud, sid).task_state == "resize_reverting"
    other = server(cloud, states.RESIZED, old_flavor=flavor("t2.nano"))
    cloud.compute.confirm_resize(ctx(), other)
    assert (row(cloud, other).vm_state, row(cloud, other).old_flavor) == (states.ACTIVE, None)


def test_delete_on_a_live_host_waits_for_the_agent_and_a_second_delete_is_404(cloud: Cloud) -> None:
    sid = server(cloud)
    cloud.compute.delete_server(ctx(), sid)
    got = row(cloud, sid)
    assert (got.deleted, got.vm_state, got.task_state) == (True, states.DELETED, "deleting")
    with cloud.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Allocation).where(Allocation.instance_uuid == sid)) == 1
    with pytest.raises(NotFound):
        cloud.compute.delete_server(ctx(), sid)


def test_delete_on_a_down_host_frees_the_claim_at_once(cloud: Cloud) -> None:
    sid = server(cloud, host_up=False)
    cloud.compute.delete_server(ctx(), sid)
    assert row(cloud, sid).task_state is None
    with cloud.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Allocation).where(Allocation.instance_uuid == sid)) == 0
        assert s.scalar(select(Host.used_memory_mb)) == 0


def test_restore_is_409_and_unknown_servers_404(cloud: Cloud) -> None:
    sid = server(cloud)
    with pytest.raises(Conflict, match="Cannot 'restore'"):
        cloud.compute.restore_server(ctx(), sid)
    with pytest.raises(NotFound):
        cloud.compute.stop_server(ctx(), "0" * 36)


def test_create_image_refuses_image_attributes_and_a_busy_server(cloud: Cloud) -> None:
    sid = server(cloud)
    with pytest.raises(BadRequest, match="is an image attribute"):
        cloud.compute.create_image(ctx(), sid, "snap", {"disk_format": "raw"})
    cloud.compute.stop_server(ctx(), sid)
    with pytest.raises(Conflict, match="Cannot 'createImage'"):
        cloud.compute.create_image(ctx(), sid, "snap", {})
    images, _ = cloud.image.list_images(ctx(), [])
    assert images == []  # the image and the request commit together or not at all


def test_create_image_queues_the_snapshot_with_its_image(cloud: Cloud) -> None:
    sid = server(cloud)
    image = cloud.compute.create_image(ctx(), sid, "snap", {"purpose": "backup"})
    got = row(cloud, sid)
    assert got.task_state == "image_snapshot"
    assert got.snapshot_requests == [{"image_id": image["id"], "name": "snap"}]
    assert (image["status"], image["purpose"], image["instance_uuid"]) == ("queued", "backup", sid)


def test_update_changes_only_what_put_may(cloud: Cloud) -> None:
    sid = server(cloud)
    shown = cloud.compute.update_server(ctx(), sid, {"name": "renamed", "vm_state": "error"})
    assert (shown.instance.name, shown.instance.vm_state) == ("renamed", states.ACTIVE)
    assert shown.host is not None and shown.host.hostname == "node-1"


def boot_image(cloud: Cloud, tmp_path: Path) -> str:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 4096)
    return cloud.image.register_image_from_file(PROJECT, disk, name="boot", disk_format="raw")["id"]


def test_create_checks_what_it_names_in_its_transaction_and_leaves_nothing(cloud: Cloud, tmp_path: Path) -> None:
    image_id = boot_image(cloud, tmp_path)
    nano = flavor_id("t2.nano")
    bad = {
        "Flavor no-such could not be found.": ServerRequest(name="x", image_id=image_id, flavor_ref="no-such"),
        "Invalid key_name provided": ServerRequest(name="x", image_id=image_id, flavor_ref=nano, key_name="nokey"),
        "Security group nosg not found for project": ServerRequest(name="x", image_id=image_id, flavor_ref=nano,
                                                                   security_groups=["nosg"]),
        "Invalid server group": ServerRequest(name="x", image_id=image_id, flavor_ref=nano, group_id="0" * 36),
    }
    for message, request in bad.items():
        with pytest.raises(BadRequest, match=message):
            cloud.compute.create_servers(ctx(), request)
    with cloud.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 0


def test_create_makes_rows_with_the_flavor_it_found_and_enforces_policy(cloud: Cloud, tmp_path: Path) -> None:
    image_id = boot_image(cloud, tmp_path)
    request = ServerRequest(name="many", image_id=image_id, flavor_ref=flavor_id("t2.nano"), networks="none",
                            min_count=2, max_count=2)
    instances, reservation = cloud.compute.create_servers(ctx(), request)
    assert [i.name for i in instances] == ["many-1", "many-2"] and reservation.startswith("r-")
    got = row(cloud, instances[0].uuid)
    assert got.flavor["name"] == "t2.nano" and got.project_id == PROJECT
    with pytest.raises(Forbidden):
        cloud.compute.create_servers(ctx(roles=("reader",)), request)


def network(cloud: Cloud, cidr: str) -> str:
    net = cloud.network.create(ctx(), "network", {"name": f"net-{cidr}"})
    cloud.network.create(ctx(), "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    return net["id"]


def test_list_filters_by_fixed_ip_as_a_regex_in_a_fixed_number_of_statements(cloud: Cloud, tmp_path: Path) -> None:
    from sqlalchemy import event  # noqa: PLC0415

    image_id = boot_image(cloud, tmp_path)
    net = network(cloud, "10.100.0.0/24")
    made = []
    for n in range(3):
        request = ServerRequest(name=f"ip-{n}", image_id=image_id, flavor_ref=flavor_id("t2.nano"),
                                networks=[{"uuid": net, "fixed_ip": f"10.100.0.{5 + n * 10}"}])
        made.append(cloud.compute.create_servers(ctx(), request)[0][0].uuid)
    shown, _ = cloud.compute.list_servers(ctx(), {"ip": "10.100.0.5"}, detailed=True)
    assert [s.instance.uuid for s in shown] == [made[0]]
    shown, _ = cloud.compute.list_servers(ctx(), {"ip": r"10\.100\.0\.[12]"}, detailed=False)
    assert sorted(s.instance.uuid for s in shown) == sorted(made[1:])
    assert cloud.compute.list_servers(ctx(), {"ip6": "fe80"}, detailed=True)[0] == []

    seen: list[str] = []
    for engine in {id(e): e for e in (cloud.db.engine, cloud.db.read_engine)}.values():
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    counts = []
    for params in ({}, {"limit": "1"}):
        seen.clear()
        page, _ = cloud.compute.list_servers(ctx(), params, detailed=True)
        assert all(p.addresses for p in page)
        counts.append(len([s for s in seen if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] and counts[0] > 0, counts  # batched: no statement per server


def test_nova_security_groups_proxy_onto_the_network_service(cloud: Cloud) -> None:
    compute = cloud.compute
    group = compute.create_nova_security_group(ctx(), " web ", "for the web")
    assert (group["name"], group["description"], group["tenant_id"], group["rules"]) == (
        " web ", "for the web", PROJECT, [])
    rule = compute.create_nova_security_group_rule(ctx(), {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                                           "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"})
    assert rule == {"id": rule["id"], "parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 22,
                    "to_port": 22, "group": {}, "ip_range": {"cidr": "10.0.0.0/8"}}
    from_group = compute.create_nova_security_group_rule(ctx(), {"parent_group_id": group["id"], "ip_protocol": "icmp",
                                                                 "from_port": -1, "to_port": -1, "group_id": group["id"]})
    assert (from_group["group"], from_group["ip_range"]) == ({"name": " web ", "tenant_id": PROJECT}, {})
    shown = compute.show_nova_security_group(ctx(), group["id"])
    assert sorted(r["id"] for r in shown["rules"]) == sorted([rule["id"], from_group["id"]])
    names = [g["name"] for g in compute.list_nova_security_groups(ctx())]
    assert names == [" web ", "default"]
    updated = compute.update_nova_security_group(ctx(), group["id"], "web2", "renamed")
    assert (updated["name"], updated["description"]) == ("web2", "renamed")
    compute.delete_nova_security_group_rule(ctx(), rule["id"])
    with pytest.raises(NotFound, match=f"Security group rule {rule['id']} could not be found."):
        compute.delete_nova_security_group_rule(ctx(), rule["id"])
    compute.delete_nova_security_group(ctx(), group["id"])
    with pytest.raises(NotFound, match=f"Security group {group['id']} not found."):
        compute.show_nova_security_group(ctx(), group["id"])
    default = next(g for g in compute.list_nova_security_groups(ctx()) if g["name"] == "default")
    with pytest.raises(BadRequest, match="default security group"):
        compute.delete_nova_security_group(ctx(), default["id"])
    for bad, message in ((("", "x"), "name should not be empty"), (("x" * 256, "x"), "greater than 255"),
                         (("x", None), "description is not a string"), (("  ", "x"), "name should not be empty")):
        with pytest.raises(BadRequest, match=message):
            compute.create_nova_security_group(ctx(), *bad)
    with pytest.raises(BadRequest, match="Invalid port range"):
        compute.create_nova_security_group_rule(ctx(), {"parent_group_id": default["id"], "ip_protocol": "tcp",
                                                        "from_port": 80, "to_port": 22})
    with pytest.raises(NotFound):
        compute.show_nova_security_group(ctx("q" * 32), default["id"])
    with pytest.raises(BadRequest, match="should be uuid"):
        compute.create_nova_security_group_rule(ctx(), {"parent_group_id": "not-an-id", "ip_protocol": "tcp",
                                                        "from_port": 22, "to_port": 22})


def test_a_failed_snapshot_dropped_in_a_report_that_rolls_back_keeps_its_bytes(cloud: Cloud, tmp_path: Path) -> None:
    image_id = boot_image(cloud, tmp_path)
    with cloud.db.read() as s:
        key = s.get(Image, image_id).data_key
    data = cloud.image.store.data_path(key)
    assert data.exists()
    with pytest.raises(RuntimeError), cloud.db.session():
        cloud.compute._drop_failed_snapshot(image_id, PROJECT, "upload failed")
        raise RuntimeError("the rest of the report failed")
    # The image row came back with the rollback, so its bytes must still be there.
    assert cloud.image.get_image(ctx(), image_id)["status"] == "active" and data.exists()
    with cloud.db.session():
        cloud.compute._drop_failed_snapshot(image_id, PROJECT, "upload failed")
        assert data.exists()  # only once the report commits
    assert not data.exists()
    with pytest.raises(NotFound):
        cloud.image.get_image(ctx(), image_id)
