"""Server groups through the real CLI and over HTTP: policies before and after 2.64, rules,
visibility per project, all_projects for admins, the server_groups quota."""

from __future__ import annotations

import uuid

import pytest

from gureum.testing import RunningCloud
from tests.compute.nova_api import call, project_id, token


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def member(cloud: RunningCloud) -> dict:
    project, user, password = unique("gproj"), unique("guser"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    return {"env": cloud.env_for(user, password, project), "project": project,
            "project_id": project_id(cloud, project), "token": token(cloud, user, password, project)}


def test_create_list_show_delete_with_the_cli(cloud: RunningCloud, member: dict) -> None:
    name = unique("web")
    created = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity", name, env=member["env"])
    assert created["name"] == name and created["policy"] == "anti-affinity" and created["members"] == []
    assert created["project_id"] == member["project_id"]
    uuid.UUID(created["id"])
    listed = {g["Name"]: g for g in cloud.openstack_json("server", "group", "list", env=member["env"])}
    assert listed[name]["Policy"] == "anti-affinity"
    shown = cloud.openstack_json("server", "group", "show", name, env=member["env"])
    assert shown["id"] == created["id"]
    cloud.openstack("server", "group", "delete", name, env=member["env"])
    assert name not in {g["Name"] for g in cloud.openstack_json("server", "group", "list", env=member["env"])}


def test_rules_and_soft_policies(cloud: RunningCloud, member: dict) -> None:
    name = unique("spread")
    created = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity", "--rule",
                                   "max_server_per_host=2", name, env=member["env"])
    assert created["rules"] == {"max_server_per_host": 2}
    soft = cloud.openstack_json("server", "group", "create", "--policy", "soft-affinity", unique("soft"),
                                env=member["env"])
    assert soft["policy"] == "soft-affinity"
    refused = call(cloud, "POST", "/os-server-groups",
                   {"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}},
                   version="2.64", auth=member["token"])
    assert refused.status == 400
    assert refused.body["badRequest"]["message"] == "Only anti-affinity policy supports rules."
    for group in (created["id"], soft["id"]):
        call(cloud, "DELETE", f"/os-server-groups/{group}", auth=member["token"])


def test_shapes_per_microversion(cloud: RunningCloud, member: dict) -> None:
    old = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": unique("old"),
                                                                     "policies": ["affinity"]}},
               auth=member["token"])
    assert old.status == 200
    group = old.body["server_group"]
    assert set(group) == {"id", "name", "policies", "members", "metadata"}
    assert group["policies"] == ["affinity"] and group["metadata"] == {} and group["members"] == []
    v213 = call(cloud, "GET", f"/os-server-groups/{group['id']}", version="2.13", auth=member["token"]).body
    assert v213["server_group"]["project_id"] == member["project_id"] and "user_id" in v213["server_group"]
    v264 = call(cloud, "GET", f"/os-server-groups/{group['id']}", version="2.64", auth=member["token"]).body
    assert v264["server_group"]["policy"] == "affinity" and v264["server_group"]["rules"] == {}
    assert "policies" not in v264["server_group"] and "metadata" not in v264["server_group"]
    # soft-* came in 2.15; a policies list is gone at 2.64.
    soft_early = call(cloud, "POST", "/os-server-groups",
                      {"server_group": {"name": "s", "policies": ["soft-affinity"]}}, version="2.14",
                      auth=member["token"])
    assert soft_early.status == 400
    listed_old_style = call(cloud, "POST", "/os-server-groups",
                            {"server_group": {"name": "s", "policies": ["affinity"]}}, version="2.64",
                            auth=member["token"])
    assert listed_old_style.status == 400
    two = call(cloud, "POST", "/os-server-groups",
               {"server_group": {"name": "s", "policies": ["affinity", "anti-affinity"]}}, auth=member["token"])
    assert two.status == 400
    assert call(cloud, "DELETE", f"/os-server-groups/{group['id']}", auth=member["token"]).status == 204
    missing = call(cloud, "GET", f"/os-server-groups/{group['id']}", auth=member["token"])
    assert missing.status == 404
    assert missing.body["itemNotFound"]["message"] == f"Instance group {group['id']} could not be found."


def test_projects_see_their_own_and_admins_all(cloud: RunningCloud, member: dict) -> None:
    mine = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": unique("mine"),
                                                                      "policies": ["affinity"]}},
                auth=member["token"]).body["server_group"]
    admins = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": unique("admins"),
                                                                        "policies": ["affinity"]}}).body["server_group"]
    try:
        seen = {g["id"] for g in call(cloud, "GET", "/os-server-groups", auth=member["token"]).body["server_groups"]}
        assert mine["id"] in seen and admins["id"] not in seen
        # all_projects is for admins; from a member it lists their own, as nova does.
        seen = {g["id"] for g in call(cloud, "GET", "/os-server-groups?all_projects=True",
                                      auth=member["token"]).body["server_groups"]}
        assert admins["id"] not in seen
        everything = {g["Name"] for g in cloud.openstack_json("server", "group", "list", "--all-projects")}
        assert {mine["name"], admins["name"]} <= everything
        assert call(cloud, "GET", f"/os-server-groups/{admins['id']}", auth=member["token"]).status == 403
        assert call(cloud, "DELETE", f"/os-server-groups/{admins['id']}", auth=member["token"]).status == 403
        paged = call(cloud, "GET", "/os-server-groups?all_projects=1&limit=1").body["server_groups"]
        assert len(paged) == 1
    finally:
        call(cloud, "DELETE", f"/os-server-groups/{mine['id']}", auth=member["token"])
        call(cloud, "DELETE", f"/os-server-groups/{admins['id']}")


def test_server_groups_quota(cloud: RunningCloud, member: dict) -> None:
    cloud.openstack("quota", "set", "--server-groups", "1", member["project"])
    made = []
    try:
        first = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": "a", "policies": ["affinity"]}},
                     auth=member["token"])
        assert first.status == 200
        made.append(first.body["server_group"]["id"])
        over = call(cloud, "POST", "/os-server-groups", {"server_group": {"name": "b", "policies": ["affinity"]}},
                    auth=member["token"])
        assert over.status == 403
        assert over.body == {"forbidden": {"code": 403, "message": "Quota exceeded, too many server groups."}}
        limits = call(cloud, "GET", "/limits", auth=member["token"]).body["limits"]["absolute"]
        assert limits["totalServerGroupsUsed"] == 1 and limits["maxServerGroups"] == 1
    finally:
        for group in made:
            call(cloud, "DELETE", f"/os-server-groups/{group}", auth=member["token"])
        call(cloud, "DELETE", f"/os-quota-sets/{member['project_id']}")
