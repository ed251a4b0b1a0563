"""/v3/credentials: ec2, totp and cert credentials, for admins and for their owners."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from gureum.testing import RunningCloud
from tests.conftest import unique
from tests.identity.helpers import call as _call, new_member as _new_member


def _member(cloud: RunningCloud) -> tuple[str, str, str]:
    """A member of a fresh project: (user id, project id, token)."""
    m = _new_member(cloud)
    return m["user_id"], m["project_id"], m["token"]


def test_ec2_credential_through_cli(cloud: RunningCloud) -> None:
    user = unique("ec2u")
    cloud.openstack("user", "create", "--password", "pw-ec2", user)
    access = unique("AKIA")
    blob = json.dumps({"access": access, "secret": "s3cr3t"})
    created = cloud.openstack_json("credential", "create", "--type", "ec2", "--project", "admin", user, blob)
    assert created["id"] == hashlib.sha256(access.encode()).hexdigest()
    assert created["type"] == "ec2" and json.loads(created["blob"])["access"] == access
    rows = cloud.openstack_json("credential", "list", "--user", user)
    assert [r["ID"] for r in rows] == [created["id"]]
    again = cloud.openstack("credential", "create", "--type", "ec2", "--project", "admin", user, blob, check=False)
    assert again.returncode != 0
    assert f"Conflict occurred attempting to store credential - Duplicate entry found with ID {created['id']}." in again.stderr
    cloud.openstack("credential", "delete", created["id"])
    assert cloud.openstack_json("credential", "list", "--user", user) == []


def test_totp_and_cert_through_cli(cloud: RunningCloud) -> None:
    user = unique("totpu")
    cloud.openstack("user", "create", "--password", "pw-totp", user)
    totp = cloud.openstack_json("credential", "create", "--type", "totp", user, "GEZDGNBVGY3TQOJQ")
    assert totp["project_id"] is None and totp["blob"] == "GEZDGNBVGY3TQOJQ"
    cert = cloud.openstack_json("credential", "create", "--type", "cert", user, "-----BEGIN CERTIFICATE-----")
    rows = cloud.openstack_json("credential", "list", "--user", user, "--type", "totp")
    assert [r["ID"] for r in rows] == [totp["id"]]
    cloud.openstack("credential", "set", "--type", "totp", "--data", "NEWSEED", "--user", user, totp["id"])
    assert cloud.openstack_json("credential", "show", totp["id"])["blob"] == "NEWSEED"
    cloud.openstack("credential", "delete", totp["id"], cert["id"])


def test_http_shapes_and_validation(cloud: RunningCloud) -> None:
    admin = cloud.token()
    user_id, project_id, _ = _member(cloud)
    resp = _call(cloud, "POST", "/credentials", admin, json={"credential": {
        "type": "cert", "user_id": user_id, "blob": "PEM", "note": "kept as extra"}})
    assert resp.status_code == 201
    cred = resp.json()["credential"]
    assert set(cred) == {"id", "user_id", "project_id", "type", "blob", "links", "note"}
    assert cred["links"]["self"] == f"{cloud.auth_url}/credentials/{cred['id']}"

    def bad(**fields: Any) -> httpx.Response:
        return _call(cloud, "POST", "/credentials", admin, json={"credential": {"user_id": user_id, **fields}})

    no_project = bad(type="ec2", blob=json.dumps({"access": "a"}))
    assert no_project.status_code == 400
    assert no_project.json()["error"]["message"].startswith("Expecting to find project_id in credential.")
    not_json = bad(type="ec2", project_id=project_id, blob="{not json")
    assert not_json.status_code == 400 and not_json.json()["error"]["message"] == "Invalid blob in credential"
    no_access = bad(type="ec2", project_id=project_id, blob=json.dumps({"secret": "x"}))
    assert no_access.status_code == 400
    assert no_access.json()["error"]["message"].startswith("Expecting to find access in credential.")
    assert bad(type="totp").status_code == 400  # no blob
    ghost = _call(cloud, "POST", "/credentials", admin, json={"credential": {"type": "totp", "user_id": "ghost", "blob": "x"}})
    assert ghost.status_code == 404 and ghost.json()["error"]["message"] == "Could not find user: ghost."
    missing = _call(cloud, "GET", "/credentials/nope", admin)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Could not find credential: nope."
    change_id = _call(cloud, "PATCH", f"/credentials/{cred['id']}", admin, json={"credential": {"id": "other"}})
    assert change_id.status_code == 400 and change_id.json()["error"]["message"] == "Cannot change ID"


def test_owner_manages_own_credentials_only(cloud: RunningCloud) -> None:
    user_id, project_id, token = _member(cloud)
    other_id, _, other_token = _member(cloud)
    blob = json.dumps({"access": unique("own"), "secret": "x"})
    mine = _call(cloud, "POST", "/credentials", token, json={"credential": {
        "type": "ec2", "user_id": user_id, "project_id": project_id, "blob": blob}})
    assert mine.status_code == 201
    cred_id = mine.json()["credential"]["id"]
    for_other = _call(cloud, "POST", "/credentials", token, json={"credential": {
        "type": "totp", "user_id": other_id, "blob": "x"}})
    assert for_other.status_code == 403
    assert for_other.json()["error"]["message"] == (
        "You are not authorized to perform the requested action: identity:create_credential."
    )
    # Listing shows each caller their own credentials only.
    assert [c["id"] for c in _call(cloud, "GET", "/credentials", token).json()["credentials"]] == [cred_id]
    assert _call(cloud, "GET", "/credentials", other_token).json()["credentials"] == []
    assert _call(cloud, "GET", f"/credentials/{cred_id}", other_token).status_code == 403
    assert _call(cloud, "DELETE", f"/credentials/{cred_id}", other_token).status_code == 403
    # Nor can the owner hand it to someone else.
    moved = _call(cloud, "PATCH", f"/credentials/{cred_id}", token, json={"credential": {"user_id": other_id}})
    assert moved.status_code == 403
    admin_view = _call(cloud, "GET", f"/credentials?user_id={user_id}", cloud.token()).json()["credentials"]
    assert [c["id"] for c in admin_view] == [cred_id]
    assert _call(cloud, "DELETE", f"/credentials/{cred_id}", token).status_code == 204


def test_restricted_app_cred_cannot_create_ec2(cloud: RunningCloud) -> None:
    user_id, project_id, token = _member(cloud)
    app = _call(cloud, "POST", f"/users/{user_id}/application_credentials", token,
                json={"application_credential": {"name": unique("ac")}}).json()["application_credential"]
    issued = httpx.post(f"{cloud.auth_url}/auth/tokens", timeout=30, json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {"id": app["id"], "secret": app["secret"]}}}})
    app_token = issued.headers["X-Subject-Token"]
    resp = _call(cloud, "POST", "/credentials", app_token, json={"credential": {
        "type": "ec2", "user_id": user_id, "project_id": project_id, "blob": json.dumps({"access": unique("a")})}})
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == (
        "You are not authorized to perform the requested action: Using method 'application_credential' "
        "is not allowed for managing additional credentials."
    )
