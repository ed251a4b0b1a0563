"""Groups, membership, and roles that come through groups: the real CLI and raw HTTP."""

from __future__ import annotations

from gureum.testing import RunningCloud
from tests.conftest import unique
from tests.identity.helpers import call as _call, new_member as _new_member, validate as _validate


def _user_with_group_role(cloud: RunningCloud) -> tuple[str, str, str, str]:
    """A project, a user, and a group holding member on the project with the user in it."""
    admin = cloud.token()
    project, user, group = unique("gp"), unique("gu"), unique("grp")
    project_id = _call(cloud, "POST", "/projects", admin, json={"project": {"name": project}}).json()["project"]["id"]
    user_id = _call(cloud, "POST", "/users", admin,
                    json={"user": {"name": user, "password": "pw-group-1"}}).json()["user"]["id"]
    group_id = _call(cloud, "POST", "/groups", admin, json={"group": {"name": group}}).json()["group"]["id"]
    assert _call(cloud, "PUT", f"/groups/{group_id}/users/{user_id}", admin).status_code == 204
    role_id = _call(cloud, "GET", "/roles?name=member", admin).json()["roles"][0]["id"]
    assert _call(cloud, "PUT", f"/projects/{project_id}/groups/{group_id}/roles/{role_id}", admin).status_code == 204
    return project, user, group, "pw-group-1"


def test_group_crud_through_cli(cloud: RunningCloud) -> None:
    name = unique("ops")
    created = cloud.openstack_json("group", "create", "--description", "the ops team", name)
    assert created["name"] == name and created["domain_id"] == "default"
    assert created["description"] == "the ops team"
    shown = cloud.openstack_json("group", "show", name)
    assert shown["id"] == created["id"]
    assert name in {g["Name"] for g in cloud.openstack_json("group", "list")}
    assert [g["Name"] for g in cloud.openstack_json("group", "list", "--domain", "default") if g["Name"] == name] == [name]
    renamed = unique("ops2")
    cloud.openstack("group", "set", "--name", renamed, "--description", "renamed", name)
    shown = cloud.openstack_json("group", "show", renamed)
    assert shown["description"] == "renamed" and shown["id"] == created["id"]
    cloud.openstack("group", "delete", renamed)
    result = cloud.openstack("group", "show", renamed, check=False)
    assert result.returncode != 0


def test_group_http_shapes_and_errors(cloud: RunningCloud) -> None:
    admin = cloud.token()
    name = unique("shape")
    resp = _call(cloud, "POST", "/groups", admin, json={"group": {"name": name, "domain_id": "default"}})
    assert resp.status_code == 201
    group = resp.json()["group"]
    assert set(group) == {"id", "name", "domain_id", "description", "links"}
    assert group["links"]["self"] == f"{cloud.auth_url}/groups/{group['id']}"
    dup = _call(cloud, "POST", "/groups", admin, json={"group": {"name": name}})
    assert dup.status_code == 409
    assert dup.json()["error"]["message"] == (
        f"Conflict occurred attempting to store group - Duplicate entry found with name {name} at domain ID default."
    )
    listed = _call(cloud, "GET", f"/groups?name={name}", admin).json()
    assert [g["id"] for g in listed["groups"]] == [group["id"]]
    assert set(listed["links"]) == {"self", "previous", "next"}
    missing = _call(cloud, "GET", "/groups/nope", admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Could not find group: nope."
    bad_domain = _call(cloud, "POST", "/groups", admin, json={"group": {"name": unique("x"), "domain_id": "nowhere"}})
    assert bad_domain.status_code == 404 and bad_domain.json()["error"]["message"] == "Could not find domain: nowhere."
    no_name = _call(cloud, "POST", "/groups", admin, json={"group": {"description": "x"}})
    assert no_name.status_code == 400 and "name" in no_name.json()["error"]["message"]
    move = _call(cloud, "PATCH", f"/groups/{group['id']}", admin, json={"group": {"domain_id": "elsewhere"}})
    assert move.status_code == 400 and move.json()["error"]["message"] == "Cannot change Domain ID"
    assert _call(cloud, "DELETE", f"/groups/{group['id']}", admin).status_code == 204
    assert _call(cloud, "DELETE", f"/groups/{group['id']}", admin).status_code == 404


def test_membership_through_cli(cloud: RunningCloud) -> None:
    group, user = unique("team"), unique("member")
    cloud.openstack("group", "create", group)
    cloud.openstack("user", "create", "--password", "pw-member", user)
    cloud.openstack("group", "add", "user", group, user)
    assert f"{user} in group {group}" in cloud.openstack("group", "contains", "user", group, user).stdout
    assert [g["Name"] for g in cloud.openstack_json("group", "list", "--user", user)] == [group]
    assert [u["Name"] for u in cloud.openstack_json("user", "list", "--group", group)] == [user]
    # Adding twice is fine, as in keystone.
    cloud.openstack("group", "add", "user", group, user)
    cloud.openstack("group", "remove", "user", group, user)
    # The CLI says so on stderr and still exits 0.
    assert f"{user} not in group {group}" in cloud.openstack("group", "contains", "user", group, user).stderr
    assert cloud.openstack_json("group", "list", "--user", user) == []


def test_membership_http_statuses(cloud: RunningCloud) -> None:
    admin = cloud.token()
    group = _call(cloud, "POST", "/groups", admin, json={"group": {"name": unique("m")}}).json()["group"]
    user = _call(cloud, "POST", "/users", admin, json={"user": {"name": unique("mu"), "password": "pw-m-1"}}).json()["user"]
    member = f"/groups/{group['id']}/users/{user['id']}"
    assert _call(cloud, "HEAD", member, admin).status_code == 404
    missing = _call(cloud, "GET", member, admin)
    assert missing.json()["error"]["message"] == f"User '{user['id']}' not found in group '{group['id']}'"
    assert _call(cloud, "PUT", member, admin).status_code == 204
    assert _call(cloud, "HEAD", member, admin).status_code == 204
    assert _call(cloud, "GET", member, admin).status_code == 204
    users = _call(cloud, "GET", f"/groups/{group['id']}/users", admin).json()
    assert [u["id"] for u in users["users"]] == [user["id"]]
    groups = _call(cloud, "GET", f"/users/{user['id']}/groups", admin).json()
    assert [g["id"] for g in groups["groups"]] == [group["id"]]
    no_user = _call(cloud, "PUT", f"/groups/{group['id']}/users/ghost", admin)
    assert no_user.status_code == 404 and no_user.json()["error"]["message"] == "Could not find user: ghost."
    no_group = _call(cloud, "PUT", f"/groups/ghost/users/{user['id']}", admin)
    assert no_group.status_code == 404 and no_group.json()["error"]["message"] == "Could not find group: ghost."
    assert _call(cloud, "DELETE", member, admin).status_code == 204
    assert _call(cloud, "DELETE", member, admin).status_code == 404
    # Deleting a group takes its memberships with it.
    assert _call(cloud, "PUT", member, admin).status_code == 204
    assert _call(cloud, "DELETE", f"/groups/{group['id']}", admin).status_code == 204
    assert _call(cloud, "GET", f"/users/{user['id']}/groups", admin).json()["groups"] == []


def test_group_grant_gives_a_scoped_token(cloud: RunningCloud) -> None:
    project, user, group, password = _user_with_group_role(cloud)
    env = cloud.env_for(user, password, project)
    token = cloud.openstack_json("token", "issue", env=env)
    assert token["project_id"]
    effective = cloud.openstack_json("role", "assignment", "list", "--names", "--effective", "--user", user)
    assert {r["Role"] for r in effective} == {"member", "reader"}
    rows = cloud.openstack_json("role", "assignment", "list", "--names", "--group", group)
    assert [r["Role"] for r in rows] == ["member"]


def test_removing_user_from_group_stops_its_tokens(cloud: RunningCloud) -> None:
    project, user, group, password = _user_with_group_role(cloud)
    token = cloud.token(user, password, project)
    admin = cloud.token()
    assert _validate(cloud, admin, token) == 200
    cloud.openstack("group", "remove", "user", group, user)
    assert _validate(cloud, admin, token) == 404
    result = cloud.openstack("token", "issue", env=cloud.env_for(user, password, project), check=False)
    assert result.returncode != 0


def test_deleting_group_removes_its_grants_and_stops_tokens(cloud: RunningCloud) -> None:
    project, user, group, password = _user_with_group_role(cloud)
    group_id = cloud.openstack_json("group", "show", group)["id"]
    token = cloud.token(user, password, project)
    admin = cloud.token()
    assert _validate(cloud, admin, token) == 200
    cloud.openstack("group", "delete", group)
    assert _validate(cloud, admin, token) == 404
    rows = _call(cloud, "GET", f"/role_assignments?group.id={group_id}", admin).json()["role_assignments"]
    assert rows == []


def test_group_role_loss_keeps_direct_roles(cloud: RunningCloud) -> None:
    """A token whose user also holds a direct role stays valid, with the group's extra role gone."""
    project, user, group, password = _user_with_group_role(cloud)
    admin = cloud.token()
    project_id = _call(cloud, "GET", f"/projects?name={project}", admin).json()["projects"][0]["id"]
    user_id = _call(cloud, "GET", f"/users?name={user}", admin).json()["users"][0]["id"]
    group_id = _call(cloud, "GET", f"/groups?name={group}", admin).json()["groups"][0]["id"]
    reader = _call(cloud, "GET", "/roles?name=reader", admin).json()["roles"][0]["id"]
    extra_name = unique("group-extra")
    extra = _call(cloud, "POST", "/roles", admin, json={"role": {"name": extra_name}}).json()["role"]["id"]
    assert _call(cloud, "PUT", f"/projects/{project_id}/users/{user_id}/roles/{reader}", admin).status_code == 204
    assert _call(cloud, "PUT", f"/projects/{project_id}/groups/{group_id}/roles/{extra}", admin).status_code == 204
    token = cloud.token(user, password, project)
    before = _call(cloud, "GET", "/auth/tokens", admin, headers={"X-Subject-Token": token}).json()
    assert {"member", extra_name, "reader"} <= {r["name"] for r in before["token"]["roles"]}
    cloud.openstack("group", "remove", "user", group, user)
    after = _call(cloud, "GET", "/auth/tokens", admin, headers={"X-Subject-Token": token}).json()
    assert {r["name"] for r in after["token"]["roles"]} == {"reader"}


def test_group_policy_for_non_admin(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    member_env = cloud.env_for(m["user"], m["password"], m["project"])
    result = cloud.openstack("group", "create", unique("nope"), env=member_env, check=False)
    assert result.returncode != 0
    assert "You are not authorized to perform the requested action: identity:create_group." in result.stderr
    result = cloud.openstack("group", "list", env=member_env, check=False)
    assert "identity:list_groups" in result.stderr
    # A user may list their own groups (by id: looking a user up by name is for admins).
    user_id = m["user_id"]
    assert cloud.openstack_json("group", "list", "--user", user_id, env=member_env) == []
    admin = cloud.token()
    assert _call(cloud, "GET", f"/users/{user_id}/groups", m["token"]).json()["groups"] == []
    someone_else = _call(cloud, "GET", "/users?name=admin", admin).json()["users"][0]["id"]
    result = cloud.openstack("group", "list", "--user", someone_else, env=member_env, check=False)
    assert "identity:list_groups_for_user" in result.stderr
