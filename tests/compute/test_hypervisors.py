"""Hypervisors, compute services and availability zones through the real CLI.

Hosts come the way they do in production: an agent reports through /agent/v1 (these
tests report as one, with the seed's compute node numbers: 6 vCPUs, 7683 MB, 61 GB).
Each test removes the hosts it registered, so no server of another test lands there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from gureum.compute import hosts
from gureum.compute.models import Host
from gureum.testing import RunningCloud
from tests.compute.nova_api import agent_api_available, call, register_host, token


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fake_host(cloud: RunningCloud) -> Iterator[str]:
    """A compute host registered through the agent API (and deleted afterwards)."""
    if not agent_api_available(cloud):
        pytest.skip("the agent API (/agent/v1) is not served by this cloud yet")
    names: list[str] = []

    def make(zone: str = "nova", **capacity: int) -> str:
        name = unique("fake-compute")
        register_host(cloud, name, zone=zone, **capacity)
        names.append(name)
        return name

    yield make  # type: ignore[misc]
    for name in names:
        services = call(cloud, "GET", f"/os-services?host={name}", version="2.53").body["services"]
        for service in services:
            call(cloud, "DELETE", f"/os-services/{service['id']}", version="2.53")


@pytest.fixture(scope="module")
def member_token(cloud: RunningCloud) -> tuple[dict, str]:
    project, user, password = unique("hproj"), unique("huser"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    return cloud.env_for(user, password, project), token(cloud, user, password, project)


# -- liveness, without HTTP -----------------------------------------------------------------


def test_a_host_is_up_while_its_agent_reports() -> None:
    now = datetime.now(timezone.utc)
    host = Host(hostname="h", last_seen_at=now - timedelta(seconds=5), forced_down=False)
    assert hosts.is_up(host, now)
    host.last_seen_at = now - timedelta(seconds=hosts.HOST_DOWN_SECONDS + 1)
    assert not hosts.is_up(host, now)
    host.last_seen_at, host.forced_down = now, True
    assert not hosts.is_up(host, now)
    assert not hosts.is_up(Host(hostname="never", last_seen_at=None, forced_down=False), now)


# -- the controller's own services ----------------------------------------------------------


def test_compute_service_list_shows_the_controller(cloud: RunningCloud) -> None:
    services = cloud.openstack_json("compute", "service", "list")
    internal = {s["Binary"]: s for s in services if s["Zone"] == "internal"}
    assert set(internal) == {"nova-scheduler", "nova-conductor"}
    for service in internal.values():
        assert (service["Status"], service["State"]) == ("enabled", "up")
        uuid.UUID(service["ID"])
    old = call(cloud, "GET", "/os-services").body["services"]
    assert {s["id"] for s in old if s["zone"] == "internal"} == {1, 2}
    assert "forced_down" not in old[0]
    assert "forced_down" in call(cloud, "GET", "/os-services", version="2.11").body["services"][0]
    scheduler = next(s for s in call(cloud, "GET", "/os-services", version="2.53").body["services"]
                     if s["binary"] == "nova-scheduler")
    refused = call(cloud, "PUT", f"/os-services/{scheduler['id']}", {"status": "disabled"}, version="2.53")
    assert refused.status == 400
    assert refused.body["badRequest"]["message"] == (
        "Updating a nova-scheduler service is not supported. Only nova-compute services can be updated.")
    assert call(cloud, "PUT", "/os-services/not-a-uuid", {"status": "disabled"}, version="2.53").status == 400
    missing = call(cloud, "PUT", f"/os-services/{uuid.uuid4()}", {"status": "disabled"}, version="2.53")
    assert missing.status == 404


def test_members_may_not_see_hypervisors_or_services(cloud: RunningCloud, member_token: tuple[dict, str]) -> None:
    env, member = member_token
    for path in ("/os-hypervisors", "/os-hypervisors/detail", "/os-hypervisors/statistics", "/os-services",
                 "/os-availability-zone/detail"):
        answer = call(cloud, "GET", path, auth=member)
        assert answer.status == 403, path
        assert answer.body["forbidden"]["message"].startswith("Policy doesn't allow os_compute_api:")
    assert call(cloud, "GET", "/os-availability-zone", auth=member).status == 200
    assert cloud.openstack("hypervisor", "list", env=env, check=False).returncode != 0


def test_statistics_with_no_enabled_host_are_zeros(cloud: RunningCloud) -> None:
    stats = call(cloud, "GET", "/os-hypervisors/statistics").body["hypervisor_statistics"]
    assert set(stats) == {"count", "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
                          "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least"}
    assert all(isinstance(v, int) for v in stats.values())


# -- hosts registered by an agent ------------------------------------------------------------


def test_hypervisor_list_show_and_stats(cloud: RunningCloud, fake_host) -> None:  # type: ignore[no-untyped-def]
    name = fake_host()
    listed = {h["Hypervisor Hostname"]: h for h in cloud.openstack_json("hypervisor", "list")}
    row = listed[name]
    assert (row["Hypervisor Type"], row["Host IP"], row["State"]) == ("QEMU", "192.168.100.102", "up")
    uuid.UUID(row["ID"])  # 2.53+: the host's uuid
    shown = cloud.openstack_json("hypervisor", "show", name)
    assert (shown["vcpus"], shown["memory_mb"], shown["local_gb"]) == (6, 7683, 61)
    used = (shown["memory_mb_used"], shown["free_ram_mb"], shown["vcpus_used"], shown["running_vms"])
    assert used == (512, 7171, 0, 0)
    assert shown["state"] == "up" and shown["status"] == "enabled" and shown["service_host"] == name
    assert shown["cpu_info"]["arch"] == "x86_64"

    detail = call(cloud, "GET", "/os-hypervisors/detail", version="2.53").body["hypervisors"]
    stats = cloud.openstack_json("hypervisor", "stats", "show")
    enabled = [h for h in detail if h["status"] == "enabled"]
    assert stats["count"] == len(enabled)
    for key in ("vcpus", "memory_mb", "local_gb", "memory_mb_used", "free_ram_mb", "local_gb_used", "running_vms"):
        assert stats[key] == sum(h[key] for h in enabled), key


def test_hypervisor_shapes_per_microversion(cloud: RunningCloud, fake_host) -> None:  # type: ignore[no-untyped-def]
    name = fake_host()
    old = next(h for h in call(cloud, "GET", "/os-hypervisors/detail").body["hypervisors"]
               if h["hypervisor_hostname"] == name)
    assert isinstance(old["id"], int) and isinstance(old["service"]["id"], int)
    assert isinstance(old["cpu_info"], str)  # a JSON string before 2.28
    assert old["service"] == {"id": old["service"]["id"], "host": name, "disabled_reason": None}
    v228 = call(cloud, "GET", f"/os-hypervisors/{old['id']}", version="2.28").body["hypervisor"]
    assert v228["cpu_info"]["topology"]["cores"] == 6
    new = next(h for h in call(cloud, "GET", "/os-hypervisors/detail", version="2.53").body["hypervisors"]
               if h["hypervisor_hostname"] == name)
    uuid.UUID(new["id"]) and uuid.UUID(new["service"]["id"])
    # 2.53 ids are uuids: an integer is a 400 there, a uuid a 404 before it.
    bad = call(cloud, "GET", f"/os-hypervisors/{old['id']}", version="2.53")
    assert bad.status == 400 and bad.body["badRequest"]["message"] == f"Invalid uuid {old['id']}"
    assert call(cloud, "GET", f"/os-hypervisors/{new['id']}").status == 404
    gone = call(cloud, "GET", f"/os-hypervisors/{uuid.uuid4()}", version="2.53")
    assert gone.status == 404 and gone.body["itemNotFound"]["message"].startswith("Hypervisor with ID")
    # Searching: a path before 2.53, a query parameter from 2.53.
    found = call(cloud, "GET", f"/os-hypervisors/{name}/search").body["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == [name]
    pattern = call(cloud, "GET", f"/os-hypervisors?hypervisor_hostname_pattern={name}&with_servers=true",
                   version="2.75").body["hypervisors"]
    assert [h["hypervisor_hostname"] for h in pattern] == [name] and pattern[0]["servers"] == []
    nothing = call(cloud, "GET", "/os-hypervisors?hypervisor_hostname_pattern=no-such-host", version="2.53")
    assert nothing.status == 404
    assert nothing.body["itemNotFound"]["message"] == "No hypervisor matching 'no-such-host' could be found."
    paged = call(cloud, "GET", "/os-hypervisors?limit=1", version="2.53").body
    assert len(paged["hypervisors"]) == 1 and paged["hypervisors_links"][0]["rel"] == "next"
    uptime = call(cloud, "GET", f"/os-hypervisors/{new['id']}/uptime", version="2.53")
    assert uptime.status == 501  # agents do not report uptime (yet); the CLI copes with 501


def test_disable_and_enable_a_compute_service(cloud: RunningCloud, fake_host) -> None:  # type: ignore[no-untyped-def]
    name = fake_host()
    cloud.openstack("compute", "service", "set", "--disable", "--disable-reason", "maintenance", name, "nova-compute")
    service = next(s for s in cloud.openstack_json("compute", "service", "list", "--long")
                   if s["Host"] == name)
    assert (service["Binary"], service["Status"], service["State"], service["Zone"]) == (
        "nova-compute", "disabled", "up", "nova")
    assert service["Disabled Reason"] == "maintenance"
    hypervisor = next(h for h in call(cloud, "GET", "/os-hypervisors/detail", version="2.53").body["hypervisors"]
                      if h["hypervisor_hostname"] == name)
    assert hypervisor["status"] == "disabled" and hypervisor["service"]["disabled_reason"] == "maintenance"
    counted = [h["hypervisor_hostname"] for h in call(cloud, "GET", "/os-hypervisors/detail").body["hypervisors"]
               if h["status"] == "enabled"]
    assert call(cloud, "GET", "/os-hypervisors/statistics").body["hypervisor_statistics"]["count"] == len(counted)
    cloud.openstack("compute", "service", "set", "--enable", name, "nova-compute")
    service = next(s for s in cloud.openstack_json("compute", "service", "list", "--long") if s["Host"] == name)
    assert service["Status"] == "enabled" and service["Disabled Reason"] is None
    # The 2.1 action form.
    disabled = call(cloud, "PUT", "/os-services/disable-log-reason",
                    {"host": name, "binary": "nova-compute", "disabled_reason": "old style"})
    assert disabled.body == {"service": {"host": name, "binary": "nova-compute", "status": "disabled",
                                         "disabled_reason": "old style"}}
    enabled = call(cloud, "PUT", "/os-services/enable", {"host": name, "binary": "nova-compute"})
    assert enabled.body == {"service": {"host": name, "binary": "nova-compute", "status": "enabled"}}
    unknown = call(cloud, "PUT", "/os-services/enable", {"host": "nowhere", "binary": "nova-compute"})
    assert unknown.status == 404
    assert unknown.body["itemNotFound"]["message"] == "Could not find binary nova-compute on host nowhere."


def test_delete_a_compute_service(cloud: RunningCloud, fake_host) -> None:  # type: ignore[no-untyped-def]
    name = fake_host()
    service = next(s for s in cloud.openstack_json("compute", "service", "list") if s["Host"] == name)
    cloud.openstack("compute", "service", "delete", service["ID"])
    assert name not in {s["Host"] for s in cloud.openstack_json("compute", "service", "list")}
    assert name not in {h["Hypervisor Hostname"] for h in cloud.openstack_json("hypervisor", "list")}
    assert call(cloud, "DELETE", f"/os-services/{service['ID']}", version="2.53").status == 404
    assert call(cloud, "DELETE", "/os-services/abc", version="2.1").status == 400


def test_availability_zones(cloud: RunningCloud, fake_host, member_token: tuple[dict, str]) -> None:  # type: ignore[no-untyped-def]
    zone = unique("az")
    name = fake_host(zone=zone)
    zones = {z["Zone Name"]: z for z in cloud.openstack_json("availability", "zone", "list", "--compute")}
    assert zones[zone]["Zone Status"] == "available"
    long = cloud.openstack_json("availability", "zone", "list", "--compute", "--long")
    row = next(z for z in long if z["Zone Name"] == zone)
    assert (row["Host Name"], row["Service Name"]) == (name, "nova-compute")
    assert row["Service Status"].startswith("enabled :-) ")
    summary = call(cloud, "GET", "/os-availability-zone", auth=member_token[1]).body["availabilityZoneInfo"]
    assert {"zoneName": zone, "zoneState": {"available": True}, "hosts": None} in summary
    assert "internal" not in {z["zoneName"] for z in summary}
    detail = call(cloud, "GET", "/os-availability-zone/detail").body["availabilityZoneInfo"]
    internal = next(z for z in detail if z["zoneName"] == "internal")
    assert set(next(iter(internal["hosts"].values()))) == {"nova-scheduler", "nova-conductor"}
    # Nova makes an aggregate of each zone; `hypervisor show` reads them.
    aggregates = {a["name"]: a for a in call(cloud, "GET", "/os-aggregates").body["aggregates"]}
    assert aggregates[zone]["hosts"] == [name]
    assert aggregates[zone]["metadata"] == {"availability_zone": zone}
    shown = cloud.openstack_json("hypervisor", "show", name)
    assert shown["aggregates"] == [zone]
    # A zone whose only host is disabled is not available.
    cloud.openstack("compute", "service", "set", "--disable", name, "nova-compute")
    summary = call(cloud, "GET", "/os-availability-zone").body["availabilityZoneInfo"]
    assert {"zoneName": zone, "zoneState": {"available": False}, "hosts": None} in summary
