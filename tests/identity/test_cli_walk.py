"""The identity part of the seed's walk, through the real openstack CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gureum.testing import RunningCloud
from tests.conftest import unique


def test_token_issue(cloud: RunningCloud) -> None:
    token = cloud.openstack_json("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]


def test_project_user_role_walk(cloud: RunningCloud) -> None:
    project, user = unique("demo"), unique("alice")
    created = cloud.openstack_json("project", "create", "--description", "demo project", project)
    assert created["name"] == project and created["domain_id"] == "default"
    cloud.openstack("user", "create", "--password", "s3cret-pw", "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    rows = cloud.openstack_json("role", "assignment", "list", "--names", "--user", user)
    assert rows == [
        {"Role": "member", "User": f"{user}@Default", "Group": "", "Project": f"{project}@Default",
         "Domain": "", "System": "", "Inherited": False}
    ]
    effective = cloud.openstack_json("role", "assignment", "list", "--names", "--effective", "--user", user)
    assert {r["Role"] for r in effective} == {"member", "reader"}
    names = {u["Name"] for u in cloud.openstack_json("user", "list")}
    assert {"admin", user} <= names
    env = cloud.env_for(user, "s3cret-pw", project)
    token = cloud.openstack_json("token", "issue", env=env)
    assert token["project_id"] == created["id"]


def test_endpoint_list_for_glance(cloud: RunningCloud) -> None:
    rows = cloud.openstack_json("endpoint", "list", "--service", "glance")
    assert {r["Interface"] for r in rows} == {"public", "internal", "admin"}
    assert all(r["URL"] == f"{cloud.base_url}/image" and r["Region"] == "RegionOne" for r in rows)


def test_non_admin_is_refused_admin_actions(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    result = cloud.openstack("project", "create", unique("nope"), env=member_env, check=False)
    assert result.returncode != 0
    assert "You are not authorized to perform the requested action: identity:create_project" in result.stderr
    result = cloud.openstack("user", "list", env=member_env, check=False)
    assert "identity:list_users" in result.stderr
    # ...but they can see themselves and their token.
    assert cloud.openstack_json("token", "issue", env=member_env)["id"]


def test_password_change_revokes_old_tokens(cloud: RunningCloud) -> None:
    project, user = unique("p"), unique("u")
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", "first-pw", "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    old_token = cloud.token(user, "first-pw", project)
    cloud.openstack("user", "set", "--password", "second-pw", user)
    admin = cloud.token()
    status = _validate(cloud, admin, old_token)
    assert status == 404
    new_token = cloud.token(user, "second-pw", project)
    assert _validate(cloud, admin, new_token) == 200


def test_disabled_user_cannot_log_in_and_tokens_stop(cloud: RunningCloud) -> None:
    project, user = unique("p"), unique("u")
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", "pw-123456", "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    token = cloud.token(user, "pw-123456", project)
    cloud.openstack("user", "set", "--disable", user)
    assert _validate(cloud, cloud.token(), token) == 404
    result = cloud.openstack("token", "issue", env=cloud.env_for(user, "pw-123456", project), check=False)
    assert result.returncode != 0 and "401" in result.stderr


def test_role_removal_applies_at_once(cloud: RunningCloud) -> None:
    project, user = unique("p"), unique("u")
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", "pw-abcdef", user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    token = cloud.token(user, "pw-abcdef", project)
    admin = cloud.token()
    assert _validate(cloud, admin, token) == 200
    cloud.openstack("role", "remove", "--project", project, "--user", user, "member")
    assert _validate(cloud, admin, token) == 404


def test_token_revoke(cloud: RunningCloud) -> None:
    token = cloud.openstack_json("token", "issue")["id"]
    env = dict(cloud.admin_env)
    cloud.openstack("token", "revoke", token, env=env)
    assert _validate(cloud, cloud.token(), token) == 404


def test_implied_roles_show_in_token(cloud: RunningCloud) -> None:
    admin = cloud.token()
    body = _get(cloud, admin, "/v3/auth/tokens", subject=admin)
    names = {r["name"] for r in body["token"]["roles"]}
    assert names == {"admin", "member", "reader"}
    catalog_types = {s["type"] for s in body["token"]["catalog"]}
    assert {"identity", "image"} <= catalog_types


def _get(cloud: RunningCloud, token: str, path: str, subject: str | None = None) -> dict:
    headers = {"X-Auth-Token": token}
    if subject:
        headers["X-Subject-Token"] = subject
    req = urllib.request.Request(f"{cloud.auth_url}{path.removeprefix('/v3')}", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _validate(cloud: RunningCloud, admin_token: str, subject: str) -> int:
    req = urllib.request.Request(
        f"{cloud.auth_url}/auth/tokens", headers={"X-Auth-Token": admin_token, "X-Subject-Token": subject}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_unknown_version_path_is_404_in_keystone_format(cloud: RunningCloud) -> None:
    try:
        urllib.request.urlopen(f"{cloud.base_url}/identity/v3/nothing-here", timeout=10)
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
        assert exc.code == 404 and body["error"]["code"] == 404
    else:
        raise AssertionError("expected 404")
