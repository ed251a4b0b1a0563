"""Application credentials: create through the CLI, authenticate with them, restrictions, revocation."""

from __future__ import annotations

import os
from typing import Any

import httpx

from gureum.testing import RunningCloud
from tests.conftest import unique
from tests.identity.helpers import call as _call, new_member as _new_member, validate as _validate


def _app_cred_env(cloud: RunningCloud, cred_id: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=cloud.auth_url,
        OS_AUTH_TYPE="v3applicationcredential",
        OS_APPLICATION_CREDENTIAL_ID=cred_id,
        OS_APPLICATION_CREDENTIAL_SECRET=secret,
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
        OS_INTERFACE="public",
    )
    return env


def _app_cred_token(cloud: RunningCloud, cred_id: str, secret: str) -> httpx.Response:
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id, "secret": secret}}}}
    return httpx.post(f"{cloud.auth_url}/auth/tokens", json=body, timeout=30)


def test_create_then_issue_a_token_with_the_cli(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env = cloud.env_for(m["user"], m["password"], m["project"])
    name = unique("ci")
    created = cloud.openstack_json("application", "credential", "create", "--description", "for ci", name, env=env)
    assert created["Name"] == name and created["Description"] == "for ci"
    assert created["Secret"] and len(created["Secret"]) >= 64
    assert {r["name"] for r in created["Roles"]} == {"member", "reader"}
    assert created["Unrestricted"] is False
    token = cloud.openstack_json(
        "--os-auth-type", "v3applicationcredential",
        "--os-application-credential-id", created["ID"],
        # One argument with '=': a secret may begin with '-' (url-safe base64), which argparse
        # would take for an option (a 1-in-32 CI failure).
        f"--os-application-credential-secret={created['Secret']}",
        "token", "issue",
        env=_app_cred_env(cloud, created["ID"], created["Secret"]),
    )
    assert token["project_id"] == m["project_id"] and token["user_id"] == m["user_id"]
    # The credential works for real API calls too.
    rows = cloud.openstack_json("application", "credential", "list", env=_app_cred_env(cloud, created["ID"], created["Secret"]))
    assert name in {r["Name"] for r in rows}


def test_secret_is_shown_once_and_stored_hashed(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env, token, user_id = cloud.env_for(m["user"], m["password"], m["project"]), m["token"], m["user_id"]
    name = unique("once")
    created = cloud.openstack_json("application", "credential", "create", "--secret", "my-own-secret", name, env=env)
    assert created["Secret"] == "my-own-secret"
    shown = _call(cloud, "GET", f"/users/{user_id}/application_credentials/{created['ID']}", token).json()
    assert "secret" not in shown["application_credential"] and "secret_hash" not in shown["application_credential"]
    listed = _call(cloud, "GET", f"/users/{user_id}/application_credentials", token).json()
    assert all("secret" not in c for c in listed["application_credentials"])
    for stored in cloud.state_dir.glob("gureum.db*"):
        assert b"my-own-secret" not in stored.read_bytes()
    assert _app_cred_token(cloud, created["ID"], "my-own-secret").status_code == 201
    assert _app_cred_token(cloud, created["ID"], "wrong-secret").status_code == 401


def test_http_shape_and_name_filter(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    token, user_id = m["token"], m["user_id"]
    base = f"/users/{user_id}/application_credentials"
    name = unique("shape")
    resp = _call(cloud, "POST", base, token, json={"application_credential": {
        "name": name, "roles": [{"name": "reader"}], "expires_at": "2099-01-02T03:04:05"}})
    assert resp.status_code == 201
    body = resp.json()["application_credential"]
    assert set(body) == {"id", "name", "description", "user_id", "project_id", "system", "expires_at",
                         "unrestricted", "roles", "links", "secret"}
    assert body["expires_at"] == "2099-01-02T03:04:05.000000"
    assert [r["name"] for r in body["roles"]] == ["reader"]
    assert body["links"]["self"] == f"{cloud.auth_url}{base}/{body['id']}"
    dup = _call(cloud, "POST", base, token, json={"application_credential": {"name": name}})
    assert dup.status_code == 409
    assert dup.json()["error"]["message"] == (
        f"Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}."
    )
    other = unique("other")
    assert _call(cloud, "POST", base, token, json={"application_credential": {"name": other}}).status_code == 201
    filtered = _call(cloud, "GET", f"{base}?name={name}", token).json()["application_credentials"]
    assert [c["id"] for c in filtered] == [body["id"]]
    assert len(_call(cloud, "GET", base, token).json()["application_credentials"]) == 2
    missing = _call(cloud, "GET", f"{base}/nope", token)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Could not find Application Credential: nope."


def test_roles_must_be_held_and_inputs_are_checked(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    token, user_id = m["token"], m["user_id"]
    base = f"/users/{user_id}/application_credentials"

    def create(**fields: Any) -> httpx.Response:
        return _call(cloud, "POST", base, token, json={"application_credential": {"name": unique("x"), **fields}})

    escalate = create(roles=[{"name": "admin"}])
    assert escalate.status_code == 400
    assert escalate.json()["error"]["message"] == (
        "Invalid application credential: Cannot create an application credential with unassigned role"
    )
    unknown = create(roles=[{"name": "no-such-role"}])
    assert unknown.status_code == 404
    past = create(expires_at="2001-01-01T00:00:00Z")
    assert past.status_code == 400 and past.json()["error"]["message"].startswith("The 'expires_at' must not be before now.")
    garbage = create(expires_at="next tuesday")
    assert garbage.status_code == 400 and garbage.json()["error"]["message"].startswith("Timestamp not in expected format.")
    rules = create(access_rules=[{"service": "compute", "path": "/v2.1/servers", "method": "GET"}])
    assert rules.status_code == 400 and "access_rules" in rules.json()["error"]["message"]
    assert create(access_rules=[]).status_code == 201
    # Someone else's user id in the path: the owner rule refuses.
    admin_id = _call(cloud, "GET", "/users?name=admin", cloud.token()).json()["users"][0]["id"]
    foreign = _call(cloud, "POST", f"/users/{admin_id}/application_credentials", token,
                    json={"application_credential": {"name": unique("y")}})
    assert foreign.status_code == 403


def test_token_from_app_cred_has_only_its_roles(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    token, user_id = m["token"], m["user_id"]
    resp = _call(cloud, "POST", f"/users/{user_id}/application_credentials", token,
                 json={"application_credential": {"name": unique("ro"), "roles": [{"name": "reader"}]}})
    cred = resp.json()["application_credential"]
    issued = _app_cred_token(cloud, cred["id"], cred["secret"])
    assert issued.status_code == 201
    body = issued.json()["token"]
    assert [r["name"] for r in body["roles"]] == ["reader"]
    assert body["methods"] == ["application_credential"]
    assert body["application_credential"] == {"id": cred["id"], "name": cred["name"], "restricted": True}


def test_restricted_app_cred_cannot_manage_app_creds(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env = cloud.env_for(m["user"], m["password"], m["project"])
    created = cloud.openstack_json("application", "credential", "create", unique("r"), env=env)
    app_env = _app_cred_env(cloud, created["ID"], created["Secret"])
    result = cloud.openstack("application", "credential", "create", unique("nested"), env=app_env, check=False)
    assert result.returncode != 0
    assert ("You are not authorized to perform the requested action: Using method 'application_credential' "
            "is not allowed for managing additional application credentials.") in result.stderr
    result = cloud.openstack("application", "credential", "delete", created["ID"], env=app_env, check=False)
    assert result.returncode != 0 and "403" in result.stderr
    # An unrestricted one may.
    free = cloud.openstack_json("application", "credential", "create", "--unrestricted", unique("u"), env=env)
    free_env = _app_cred_env(cloud, free["ID"], free["Secret"])
    nested = cloud.openstack_json("application", "credential", "create", unique("nested"), env=free_env)
    assert nested["Secret"]


def test_delete_revokes_its_tokens(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env = cloud.env_for(m["user"], m["password"], m["project"])
    name = unique("gone")
    created = cloud.openstack_json("application", "credential", "create", name, env=env)
    issued = _app_cred_token(cloud, created["ID"], created["Secret"])
    app_token = issued.headers["X-Subject-Token"]
    admin = cloud.token()
    assert _validate(cloud, admin, app_token) == 200
    cloud.openstack("application", "credential", "delete", name, env=env)
    assert _validate(cloud, admin, app_token) == 404
    assert _app_cred_token(cloud, created["ID"], created["Secret"]).status_code == 401
    assert name not in {r["Name"] for r in cloud.openstack_json("application", "credential", "list", env=env)}


def test_expired_app_cred_cannot_authenticate(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    env = cloud.env_for(m["user"], m["password"], m["project"])
    created = cloud.openstack_json(
        "application", "credential", "create", "--expiration", "2099-12-31T23:59:59", unique("exp"), env=env
    )
    assert created["Expires At"].startswith("2099-12-31T23:59:59")
    issued = _app_cred_token(cloud, created["ID"], created["Secret"])
    assert issued.status_code == 201
    # A token never outlives its credential.
    assert issued.json()["token"]["expires_at"] <= "2099-12-31T23:59:59.000000Z"


def test_admin_may_list_and_delete_others_app_creds(cloud: RunningCloud) -> None:
    m = _new_member(cloud)
    user_id = m["user_id"]
    created = _call(cloud, "POST", f"/users/{user_id}/application_credentials", m["token"],
                    json={"application_credential": {"name": unique("seen")}}).json()["application_credential"]
    admin = cloud.token()
    listed = _call(cloud, "GET", f"/users/{user_id}/application_credentials", admin).json()
    assert created["id"] in {c["id"] for c in listed["application_credentials"]}
    assert _call(cloud, "DELETE", f"/users/{user_id}/application_credentials/{created['id']}", admin).status_code == 204


def test_other_users_cannot_see_my_app_creds(cloud: RunningCloud) -> None:
    owner = _new_member(cloud)
    owner_id = owner["user_id"]
    created = _call(cloud, "POST", f"/users/{owner_id}/application_credentials", owner["token"],
                    json={"application_credential": {"name": unique("mine")}}).json()["application_credential"]
    other = _new_member(cloud)
    stranger, stranger_id = other["token"], other["user_id"]
    assert _call(cloud, "GET", f"/users/{owner_id}/application_credentials", stranger).status_code == 403
    # Naming the stranger's own user id in the path does not reach the owner's credential.
    peek = _call(cloud, "GET", f"/users/{stranger_id}/application_credentials/{created['id']}", stranger)
    assert peek.status_code == 403
