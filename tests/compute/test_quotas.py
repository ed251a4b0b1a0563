"""Quotas and limits: `quota show`/`quota set`/`limits show` through the real CLI, the shapes of
os-quota-sets, os-quota-class-sets and /limits per microversion, and the checks servers use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gureum.compute import quotas
from gureum.compute.models import Instance, QuotaLimit, ServerGroup
from gureum.db.base import Base
from gureum.http.errors import Forbidden
from gureum.testing import RunningCloud
from tests.compute.nova_api import call, project_id, token

DEFAULTS_2_1 = {
    "cores": 20, "fixed_ips": -1, "floating_ips": -1, "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255, "injected_files": 5, "instances": 10, "key_pairs": 100, "metadata_items": 128,
    "ram": 51200, "security_group_rules": -1, "security_groups": -1, "server_groups": 10, "server_group_members": 10,
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def tenant(cloud: RunningCloud) -> dict:
    project, user, password = unique("qproj"), unique("quser"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    return {"env": cloud.env_for(user, password, project), "project": project,
            "project_id": project_id(cloud, project), "token": token(cloud, user, password, project)}


def cli_quota(cloud: RunningCloud, *args: str, env: dict | None = None) -> dict:
    rows = cloud.openstack_json("quota", "show", *args, env=env)
    return {row["Resource"]: row for row in rows}


# -- the CLI ------------------------------------------------------------------------------


def test_quota_show_set_and_delete(cloud: RunningCloud, tenant: dict) -> None:
    shown = cli_quota(cloud, "--compute", tenant["project"])
    assert {k: shown[k]["Limit"] for k in ("cores", "instances", "ram", "key-pairs", "server-groups",
                                           "server-group-members", "properties", "injected-files")} == {
        "cores": 20, "instances": 10, "ram": 51200, "key-pairs": 100, "server-groups": 10,
        "server-group-members": 10, "properties": 128, "injected-files": 5}
    cloud.openstack("quota", "set", "--instances", "5", "--cores", "8", "--ram", "4096", tenant["project"])
    shown = cli_quota(cloud, "--compute", tenant["project"])
    assert (shown["instances"]["Limit"], shown["cores"]["Limit"], shown["ram"]["Limit"]) == (5, 8, 4096)
    usage = cli_quota(cloud, "--usage", "--compute", tenant["project"])
    assert usage["instances"]["In Use"] == 0 and usage["instances"]["Limit"] == 5
    defaults = cli_quota(cloud, "--default", "--compute", tenant["project"])
    assert defaults["instances"]["Limit"] == 10
    cloud.openstack("quota", "delete", "--compute", tenant["project"])
    assert cli_quota(cloud, "--compute", tenant["project"])["instances"]["Limit"] == 10


def test_quota_show_of_every_service_works_without_network_and_volume(cloud: RunningCloud) -> None:
    """`quota show` asks compute, volume and network; absent services are skipped."""
    result = cloud.openstack("quota", "show", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert "cores" in result.stdout and "instances" in result.stdout


def test_a_member_reads_their_quota_but_cannot_set_it(cloud: RunningCloud, tenant: dict) -> None:
    shown = cli_quota(cloud, "--compute", env=tenant["env"])
    assert shown["instances"]["Limit"] == 10
    result = cloud.openstack("quota", "set", "--instances", "50", tenant["project_id"], env=tenant["env"], check=False)
    assert result.returncode != 0
    assert "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed." in result.stderr
    admin_project = project_id(cloud, "admin")
    other = call(cloud, "GET", f"/os-quota-sets/{admin_project}", auth=tenant["token"])
    assert other.status == 403


def test_limits_show_absolute(cloud: RunningCloud, tenant: dict) -> None:
    rows = {r["Name"]: r["Value"] for r in cloud.openstack_json("limits", "show", "--absolute", env=tenant["env"])}
    # The CLI shows the SDK's names for nova's maxTotalInstances, totalCoresUsed, ...
    assert (rows["max_total_instances"], rows["max_total_cores"], rows["max_total_ram_size"]) == (10, 20, 51200)
    assert (rows["total_instances_used"], rows["total_cores_used"], rows["total_ram_used"]) == (0, 0, 0)
    assert rows["max_total_keypairs"] == 100 and rows["max_server_meta"] == 128
    assert rows["max_server_groups"] == 10 and rows["max_server_group_members"] == 10


# -- os-quota-sets over HTTP ----------------------------------------------------------------


def test_quota_set_shapes_per_microversion(cloud: RunningCloud, tenant: dict) -> None:
    pid = tenant["project_id"]
    old = call(cloud, "GET", f"/os-quota-sets/{pid}").body["quota_set"]
    assert old == {"id": pid, **DEFAULTS_2_1}
    v236 = call(cloud, "GET", f"/os-quota-sets/{pid}", version="2.36").body["quota_set"]
    assert not {"fixed_ips", "floating_ips", "security_groups", "security_group_rules"} & set(v236)
    assert v236["injected_files"] == 5
    v257 = call(cloud, "GET", f"/os-quota-sets/{pid}", version="2.57").body["quota_set"]
    assert v257 == {"id": pid, "cores": 20, "instances": 10, "key_pairs": 100, "metadata_items": 128, "ram": 51200,
                    "server_groups": 10, "server_group_members": 10}
    detail = call(cloud, "GET", f"/os-quota-sets/{pid}/detail").body["quota_set"]
    assert detail["id"] == pid
    assert detail["cores"] == {"in_use": 0, "limit": 20, "reserved": 0}
    assert detail["key_pairs"] == {"in_use": 0, "limit": 100, "reserved": 0}
    defaults = call(cloud, "GET", f"/os-quota-sets/{pid}/defaults").body["quota_set"]
    assert defaults == {"id": pid, **DEFAULTS_2_1}
    updated = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"cores": "45", "instances": 12}})
    assert updated.status == 200
    assert updated.body["quota_set"] == {**DEFAULTS_2_1, "cores": 45, "instances": 12}  # no id in an update
    assert call(cloud, "DELETE", f"/os-quota-sets/{pid}").status == 202
    assert call(cloud, "GET", f"/os-quota-sets/{pid}").body["quota_set"]["cores"] == 20


def test_quota_update_refuses_bad_values_and_limits_below_usage(cloud: RunningCloud, tenant: dict) -> None:
    pid = tenant["project_id"]
    group = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": "g", "policies": ["affinity"]}},
                 auth=tenant["token"]).body["server_group"]["id"]
    try:
        below = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"server_groups": 0}})
        assert below.status == 400
        assert below.body["badRequest"]["message"] == (
            "Quota limit 0 for server_groups must be greater than or equal to already used and reserved 1.")
        forced = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"server_groups": 0, "force": True}})
        assert forced.status == 200 and forced.body["quota_set"]["server_groups"] == 0
        unlimited = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"server_groups": -1}})
        assert unlimited.body["quota_set"]["server_groups"] == -1
        too_small = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"cores": -2}})
        assert too_small.status == 400
        assert too_small.body["badRequest"]["message"] == (
            "Invalid input for field/attribute cores. Value: -2. -2 is less than the minimum of -1")
        unknown = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"gpus": 1}})
        assert unknown.status == 400 and "gpus" in unknown.body["badRequest"]["message"]
        gone = call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"floating_ips": 1}}, version="2.36")
        assert gone.status == 400
        nobody = call(cloud, "GET", "/os-quota-sets/no-such-project")
        assert nobody.status == 400
        assert nobody.body["badRequest"]["message"] == "Project ID no-such-project is not a valid project."
    finally:
        call(cloud, "DELETE", f"/os-server-groups/{group}", auth=tenant["token"])
        call(cloud, "DELETE", f"/os-quota-sets/{pid}")


def test_default_quota_class(cloud: RunningCloud, tenant: dict) -> None:
    shown = call(cloud, "GET", "/os-quota-class-sets/default").body["quota_class_set"]
    assert shown["id"] == "default" and shown["instances"] == 10 and "server_groups" not in shown
    v250 = call(cloud, "GET", "/os-quota-class-sets/default", version="2.50").body["quota_class_set"]
    assert v250["server_groups"] == 10 and "floating_ips" not in v250
    try:
        updated = call(cloud, "PUT", "/os-quota-class-sets/default", {"quota_class_set": {"instances": 20}})
        assert updated.status == 200 and updated.body["quota_class_set"]["instances"] == 20
        assert "id" not in updated.body["quota_class_set"]
        # The default class is every project's default.
        pid = tenant["project_id"]
        assert call(cloud, "GET", f"/os-quota-sets/{pid}").body["quota_set"]["instances"] == 20
        assert call(cloud, "GET", f"/os-quota-sets/{pid}/defaults").body["quota_set"]["instances"] == 20
        refused = call(cloud, "PUT", "/os-quota-class-sets/default", {"quota_class_set": {"instances": 1}},
                       auth=tenant["token"])
        assert refused.status == 403
    finally:
        call(cloud, "PUT", "/os-quota-class-sets/default", {"quota_class_set": {"instances": 10}})


# -- /limits -------------------------------------------------------------------------------------


def test_limits_shapes_per_microversion(cloud: RunningCloud, tenant: dict) -> None:
    old = call(cloud, "GET", "/limits", auth=tenant["token"]).body["limits"]
    assert old["rate"] == []
    assert old["absolute"] == {
        "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240, "maxSecurityGroupRules": -1,
        "maxSecurityGroups": -1, "maxServerMeta": 128, "maxTotalCores": 20, "maxTotalFloatingIps": -1,
        "maxTotalInstances": 10, "maxTotalKeypairs": 100, "maxTotalRAMSize": 51200, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "totalCoresUsed": 0, "totalInstancesUsed": 0, "totalRAMUsed": 0,
        "totalSecurityGroupsUsed": 0, "totalFloatingIpsUsed": 0, "totalServerGroupsUsed": 0,
    }
    v236 = call(cloud, "GET", "/limits", version="2.36", auth=tenant["token"]).body["limits"]["absolute"]
    assert "maxSecurityGroups" not in v236 and "totalFloatingIpsUsed" not in v236 and "maxImageMeta" in v236
    v239 = call(cloud, "GET", "/limits", version="2.39", auth=tenant["token"]).body["limits"]["absolute"]
    assert "maxImageMeta" not in v239 and "maxPersonality" in v239
    v257 = call(cloud, "GET", "/limits", version="2.57", auth=tenant["token"]).body["limits"]["absolute"]
    assert set(v257) == {"maxServerMeta", "maxTotalCores", "maxTotalInstances", "maxTotalKeypairs",
                         "maxTotalRAMSize", "maxServerGroups", "maxServerGroupMembers", "totalCoresUsed",
                         "totalInstancesUsed", "totalRAMUsed", "totalServerGroupsUsed"}


def test_limits_of_another_project_is_for_admins(cloud: RunningCloud, tenant: dict) -> None:
    pid = tenant["project_id"]
    call(cloud, "PUT", f"/os-quota-sets/{pid}", {"quota_set": {"instances": 3}})
    try:
        seen = call(cloud, "GET", f"/limits?tenant_id={pid}").body["limits"]["absolute"]
        assert seen["maxTotalInstances"] == 3
        refused = call(cloud, "GET", f"/limits?tenant_id={project_id(cloud, 'admin')}", auth=tenant["token"])
        assert refused.status == 403
    finally:
        call(cloud, "DELETE", f"/os-quota-sets/{pid}")


# -- the checks the servers API uses (real SQLite, no HTTP) ------------------------------------


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Instance.__table__, QuotaLimit.__table__, ServerGroup.__table__])
    with Session(engine) as s:
        yield s


def _instance(session: Session, project: str, vcpus: int, ram: int, user: str = "u", deleted: bool = False) -> None:
    session.add(Instance(name="vm", project_id=project, user_id=user, deleted=deleted,
                         flavor={"id": "f", "name": "f", "vcpus": vcpus, "ram": ram, "disk": 1, "ephemeral": 0,
                                 "swap": 0, "extra_specs": {}}))
    session.flush()


def test_usage_counts_live_instances_by_their_flavor(session: Session) -> None:
    _instance(session, "p", 2, 2048)
    _instance(session, "p", 1, 512)
    _instance(session, "p", 8, 8192, deleted=True)
    _instance(session, "q", 4, 4096)
    used = quotas.usage_for(session, "p")
    assert (used["instances"], used["cores"], used["ram"]) == (2, 3, 2560)


def test_check_quota_message_is_novas(session: Session) -> None:
    for _ in range(19):
        _instance(session, "p", 1, 512)
    quotas.check_quota(session, "p", {"cores": 1, "ram": 512})
    with pytest.raises(Forbidden) as caught:
        quotas.check_quota(session, "p", {"cores": 2, "ram": 1024})
    assert caught.value.message == "Quota exceeded for cores: Requested 2, but already used 19 of 20 cores"
    quotas.set_limits(session, "p", {"ram": 10000})
    with pytest.raises(Forbidden) as caught:
        quotas.check_quota(session, "p", {"cores": 2, "ram": 1024})
    assert caught.value.message == ("Quota exceeded for cores, ram: Requested 2, 1024, but already used 19, 9728 "
                                    "of 20, 10000 cores, ram")
    quotas.set_limits(session, "p", {"cores": -1, "ram": -1})
    quotas.check_quota(session, "p", {"cores": 1000, "ram": 10**6})


def test_check_instances_counts_what_fits(session: Session) -> None:
    for _ in range(8):
        _instance(session, "p", 1, 1024)
    assert quotas.check_instances(session, "p", vcpus=2, ram=2048, min_count=1, max_count=5) == 2
    with pytest.raises(Forbidden) as caught:
        quotas.check_instances(session, "p", vcpus=2, ram=2048, min_count=3, max_count=5)
    assert caught.value.message == ("Quota exceeded for instances: Requested 3-5, but already used 8 of 10 "
                                    "instances")
    with pytest.raises(Forbidden) as caught:
        quotas.check_instances(session, "p", vcpus=16, ram=1024)
    assert caught.value.message == "Quota exceeded for cores: Requested 16, but already used 8 of 20 cores"


def test_server_group_members_quota(session: Session) -> None:
    group = ServerGroup(name="g", project_id="p", user_id="u", policy="affinity", rules={})
    session.add(group)
    session.flush()
    quotas.set_limits(session, "p", {"server_group_members": 1})
    quotas.check_server_group_members(session, "p", group.id, "u")
    session.add(Instance(name="vm", project_id="p", user_id="u", server_group_id=group.id, flavor={}))
    session.flush()
    with pytest.raises(Forbidden, match="Quota exceeded, too many servers in group"):
        quotas.check_server_group_members(session, "p", group.id, "u")
