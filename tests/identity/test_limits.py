"""Unified limits: the seed's commands, keystone's shapes and errors, and what services read."""

from __future__ import annotations

import json

import pytest

from gureum.testing import RunningCloud
from tests.conftest import unique
from tests.identity.helpers import call as _call, new_member as _new_member


@pytest.fixture(scope="module")
def glance_id(cloud: RunningCloud) -> str:
    return cloud.openstack_json("service", "show", "glance")["id"]


def _resource() -> str:
    """A resource name of its own per test, so tests do not collide on the shared cloud."""
    return unique("res").replace("-", "_")


def test_seed_commands(cloud: RunningCloud, glance_id: str) -> None:
    # Glance's defaults are registered at start (issue 7, defect 9): visible and editable.
    rows = {r["Resource Name"]: r for r in cloud.openstack_json("registered", "limit", "list", "--service", "glance")}
    assert {k: rows[k]["Default Limit"] for k in rows} == {
        "image_count_total": 1000, "image_count_uploading": 100, "image_size_total": 1048576,
        "image_stage_total": 1048576}
    registered = rows["image_count_total"]
    assert registered["Region ID"] == "RegionOne"
    again = cloud.openstack(
        "registered", "limit", "create", "--service", "glance", "--default-limit", "10", "--region", "RegionOne",
        "image_count_total", check=False,
    )
    assert again.returncode != 0 and "Duplicate entry" in again.stderr
    cloud.openstack("registered", "limit", "set", "--default-limit", "1001", registered["ID"])
    assert cloud.openstack_json("registered", "limit", "show", registered["ID"])["default_limit"] == 1001
    cloud.openstack("registered", "limit", "set", "--default-limit", "1000", registered["ID"])
    cloud.openstack("project", "create", "--or-show", "demo")
    limit = cloud.openstack_json(
        "limit", "create", "--project", "demo", "--service", "glance", "--resource-limit", "5", "image_count_total"
    )
    demo_id = cloud.openstack_json("project", "show", "demo")["id"]
    assert limit["project_id"] == demo_id and limit["resource_limit"] == 5
    # keystone needs the region to match exactly; gureum takes the only registered one.
    assert limit["region_id"] == "RegionOne"
    assert [r["Resource Limit"] for r in cloud.openstack_json("limit", "list", "--project", "demo")] == [5]
    cloud.openstack("limit", "delete", limit["id"])


def test_project_limit_on_registered_default_is_enforced_at_once(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env = cloud.env_for(m["user"], m["password"], m["project"])
    limit = cloud.openstack_json("limit", "create", "--project", m["project"], "--service", "glance",
                                 "--resource-limit", "2", "image_count_total")
    try:
        for name in ("one", "two"):
            cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", unique(name),
                            env=env)
        third = cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                                unique("three"), env=env, check=False)
        assert third.returncode != 0 and "image_count_total is over limit of 2" in third.stderr
    finally:
        cloud.openstack("limit", "delete", limit["id"])


def test_non_admin_gets_keystones_403(cloud: RunningCloud, glance_id: str) -> None:
    m = _new_member(cloud)
    member_env = cloud.env_for(m["user"], m["password"], m["project"])
    # Through the CLI a member stops earlier, at looking the service up (admin-only, as in keystone)...
    result = cloud.openstack(
        "registered", "limit", "create", "--service", "glance", "--default-limit", "10", "--region", "RegionOne",
        _resource(), env=member_env, check=False,
    )
    assert result.returncode != 0 and "You are not authorized to perform the requested action" in result.stderr
    # ...so the create itself is checked over HTTP with the member's token.
    token = m["token"]
    resp = _call(cloud, "POST", "/registered_limits", token, json={"registered_limits": [
        {"service_id": glance_id, "region_id": "RegionOne", "resource_name": _resource(), "default_limit": 10}]})
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == (
        "You are not authorized to perform the requested action: identity:create_registered_limits."
    )
    # ...but anyone authenticated may read registered limits.
    assert isinstance(cloud.openstack_json("registered", "limit", "list", env=member_env), list)
    assert _call(cloud, "GET", "/registered_limits", token).status_code == 200


def test_registered_limit_http_shapes(cloud: RunningCloud, glance_id: str) -> None:
    admin = cloud.token()
    name = _resource()
    resp = _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [
        {"service_id": glance_id, "resource_name": name, "default_limit": 3, "description": "three"},
        {"service_id": glance_id, "region_id": "RegionOne", "resource_name": name, "default_limit": 4},
    ]})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"registered_limits"}
    first, second = body["registered_limits"]
    assert set(first) == {"id", "service_id", "region_id", "resource_name", "default_limit", "description", "links"}
    assert first["region_id"] is None and first["description"] == "three"
    assert second["region_id"] == "RegionOne" and second["description"] is None
    assert first["links"]["self"] == f"{cloud.auth_url}/registered_limits/{first['id']}"
    listed = _call(cloud, "GET", f"/registered_limits?resource_name={name}", admin).json()
    assert {r["id"] for r in listed["registered_limits"]} == {first["id"], second["id"]}
    assert set(listed["links"]) == {"self", "previous", "next"}
    by_region = _call(cloud, "GET", f"/registered_limits?resource_name={name}&region_id=RegionOne", admin).json()
    assert [r["id"] for r in by_region["registered_limits"]] == [second["id"]]
    shown = _call(cloud, "GET", f"/registered_limits/{first['id']}", admin).json()
    assert shown == {"registered_limit": first}
    patched = _call(cloud, "PATCH", f"/registered_limits/{first['id']}", admin,
                    json={"registered_limit": {"default_limit": 30, "description": None}})
    assert patched.status_code == 200
    assert patched.json()["registered_limit"]["default_limit"] == 30
    assert patched.json()["registered_limit"]["description"] is None
    assert _call(cloud, "DELETE", f"/registered_limits/{first['id']}", admin).status_code == 204
    gone = _call(cloud, "GET", f"/registered_limits/{first['id']}", admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"Could not find registered limit for {first['id']}."


def test_registered_limit_errors(cloud: RunningCloud, glance_id: str) -> None:
    admin = cloud.token()
    name = _resource()
    one = {"service_id": glance_id, "region_id": "RegionOne", "resource_name": name, "default_limit": 1}
    assert _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [one]}).status_code == 201
    dup = _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [one]})
    assert dup.status_code == 409
    assert dup.json()["error"]["message"] == "Conflict occurred attempting to store registered_limit - Duplicate entry."
    no_service = _call(cloud, "POST", "/registered_limits", admin,
                       json={"registered_limits": [{**one, "service_id": "ffff", "resource_name": _resource()}]})
    assert no_service.status_code == 400
    assert no_service.json()["error"]["message"].startswith("Expecting to find service_id in registered_limit.")
    no_region = _call(cloud, "POST", "/registered_limits", admin,
                      json={"registered_limits": [{**one, "region_id": "Atlantis", "resource_name": _resource()}]})
    assert no_region.status_code == 400
    assert no_region.json()["error"]["message"].startswith("Expecting to find region_id in registered_limit.")
    too_low = _call(cloud, "POST", "/registered_limits", admin,
                    json={"registered_limits": [{**one, "default_limit": -2, "resource_name": _resource()}]})
    assert too_low.status_code == 400 and "default_limit" in too_low.json()["error"]["message"]
    empty = _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": []})
    assert empty.status_code == 400
    # Nothing of a failed batch is kept.
    half = _resource()
    batch = [{**one, "resource_name": half}, {**one, "service_id": "ffff", "resource_name": _resource()}]
    assert _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": batch}).status_code == 400
    assert _call(cloud, "GET", f"/registered_limits?resource_name={half}", admin).json()["registered_limits"] == []


def test_limits_http_shapes_and_rules(cloud: RunningCloud, glance_id: str) -> None:
    admin = cloud.token()
    name = _resource()
    project = _call(cloud, "POST", "/projects", admin, json={"project": {"name": unique("lp")}}).json()["project"]
    registered = _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [
        {"service_id": glance_id, "region_id": "RegionOne", "resource_name": name, "default_limit": 10}]})
    reg_id = registered.json()["registered_limits"][0]["id"]
    no_reg = _call(cloud, "POST", "/limits", admin, json={"limits": [
        {"project_id": project["id"], "service_id": glance_id, "region_id": "RegionOne",
         "resource_name": _resource(), "resource_limit": 1}]})
    assert no_reg.status_code == 403
    assert no_reg.json()["error"]["message"] == "Unable to create a limit that has no corresponding registered limit."
    bad_project = _call(cloud, "POST", "/limits", admin, json={"limits": [
        {"project_id": "ghost", "service_id": glance_id, "region_id": "RegionOne", "resource_name": name,
         "resource_limit": 1}]})
    assert bad_project.status_code == 400
    assert bad_project.json()["error"]["message"].startswith("Expecting to find project_id in limit.")
    limit_ref = {"project_id": project["id"], "service_id": glance_id, "region_id": "RegionOne",
                 "resource_name": name, "resource_limit": 7}
    created = _call(cloud, "POST", "/limits", admin, json={"limits": [limit_ref]})
    assert created.status_code == 201
    limit = created.json()["limits"][0]
    assert set(limit) == {"id", "project_id", "domain_id", "service_id", "region_id", "resource_name",
                          "resource_limit", "description", "links"}
    assert limit["domain_id"] is None and limit["project_id"] == project["id"]
    assert limit["links"]["self"] == f"{cloud.auth_url}/limits/{limit['id']}"
    dup = _call(cloud, "POST", "/limits", admin, json={"limits": [limit_ref]})
    assert dup.status_code == 409
    assert dup.json()["error"]["message"] == "Conflict occurred attempting to store limit - Duplicate entry."
    # A registered limit with limits under it stays as it is, as in keystone.
    locked = _call(cloud, "DELETE", f"/registered_limits/{reg_id}", admin)
    assert locked.status_code == 403
    assert locked.json()["error"]["message"] == (
        f"Unable to update or delete registered limit {reg_id} because there are project limits associated with it."
    )
    patched = _call(cloud, "PATCH", f"/limits/{limit['id']}", admin, json={"limit": {"resource_limit": 0}})
    assert patched.status_code == 200 and patched.json()["limit"]["resource_limit"] == 0
    listed = _call(cloud, "GET", f"/limits?project_id={project['id']}", admin).json()
    assert [x["id"] for x in listed["limits"]] == [limit["id"]]
    model = _call(cloud, "GET", "/limits/model", admin).json()
    assert model == {"model": {"name": "flat", "description": (
        "Limit enforcement and validation does not take project hierarchy into consideration.")}}
    assert _call(cloud, "DELETE", f"/limits/{limit['id']}", admin).status_code == 204
    missing = _call(cloud, "GET", f"/limits/{limit['id']}", admin)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == f"Could not find limit for {limit['id']}."
    assert _call(cloud, "DELETE", f"/registered_limits/{reg_id}", admin).status_code == 204


def test_domain_limit(cloud: RunningCloud, glance_id: str) -> None:
    admin = cloud.token()
    name = _resource()
    _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [
        {"service_id": glance_id, "resource_name": name, "default_limit": 10}]})
    resp = _call(cloud, "POST", "/limits", admin, json={"limits": [
        {"domain_id": "default", "service_id": glance_id, "resource_name": name, "resource_limit": 100}]})
    assert resp.status_code == 201
    limit = resp.json()["limits"][0]
    assert limit["domain_id"] == "default" and limit["project_id"] is None and limit["region_id"] is None
    both = _call(cloud, "POST", "/limits", admin, json={"limits": [
        {"domain_id": "default", "project_id": "x", "service_id": glance_id, "resource_name": name,
         "resource_limit": 1}]})
    assert both.status_code == 400


def test_members_see_their_projects_limits_only(cloud: RunningCloud, glance_id: str) -> None:
    admin = cloud.token()
    name = _resource()
    _call(cloud, "POST", "/registered_limits", admin, json={"registered_limits": [
        {"service_id": glance_id, "region_id": "RegionOne", "resource_name": name, "default_limit": 10}]})
    me, other = _new_member(cloud), _new_member(cloud)
    mine, theirs = me["project_id"], other["project_id"]
    ids = {}
    for pid, value in ((mine, 1), (theirs, 2)):
        resp = _call(cloud, "POST", "/limits", admin, json={"limits": [
            {"project_id": pid, "service_id": glance_id, "region_id": "RegionOne", "resource_name": name,
             "resource_limit": value}]})
        ids[pid] = resp.json()["limits"][0]["id"]
    token = me["token"]
    listed = _call(cloud, "GET", f"/limits?resource_name={name}", token).json()["limits"]
    assert [x["id"] for x in listed] == [ids[mine]]
    assert _call(cloud, "GET", f"/limits/{ids[mine]}", token).status_code == 200
    other = _call(cloud, "GET", f"/limits/{ids[theirs]}", token)
    assert other.status_code == 403
    assert other.json()["error"]["message"] == "You are not authorized to perform the requested action: identity:get_limit."
    assert _call(cloud, "PATCH", f"/limits/{ids[mine]}", token, json={"limit": {"resource_limit": 99}}).status_code == 403
    assert _call(cloud, "GET", "/limits/model", token).status_code == 200
    assert len(_call(cloud, "GET", f"/limits?resource_name={name}", admin).json()["limits"]) == 2


def test_image_quota_follows_limits(cloud: RunningCloud, request: pytest.FixtureRequest) -> None:
    """What glance reads: the project's limit, else the registered default (via limit_for)."""
    m = _new_member(cloud)
    project = m["project"]
    env = cloud.env_for(m["user"], m["password"], project)
    registered = cloud.openstack("registered", "limit", "create", "--service", "glance", "--default-limit", "10",
                                 "--region", "RegionOne", "image_count_total", "-f", "json", check=False)
    # The session's cloud is shared: remove the default of 10 images again, or later tests starve.
    def cleanup() -> None:
        for row in cloud.openstack_json("limit", "list", "--project", project):
            cloud.openstack("limit", "delete", row["ID"], check=False)
        if registered.returncode == 0:
            cloud.openstack("registered", "limit", "delete", json.loads(registered.stdout)["id"], check=False)

    request.addfinalizer(cleanup)
    cloud.openstack("limit", "create", "--project", project, "--service", "glance", "--resource-limit", "1",
                    "--region", "RegionOne", "image_count_total")
    cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", unique("one"), env=env)
    result = cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", unique("two"),
                             env=env, check=False)
    assert result.returncode != 0
    limit_id = cloud.openstack_json("limit", "list", "--project", project)[0]["ID"]
    cloud.openstack("limit", "set", "--resource-limit", "5", limit_id)
    cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", unique("two"), env=env)
