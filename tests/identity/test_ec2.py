"""What object storage needs of identity, over HTTP and the real CLI: the per-token
catalog, ResellerAdmin, OS-EC2 credentials, and tokens from signed S3/EC2 requests
(signed by botocore, the signer boto3 and the aws cli use)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV2Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gureum.testing import RunningCloud
from tests.conftest import unique
from tests.identity.helpers import call, new_member


def _system_token(cloud: RunningCloud) -> str:
    resp = call(cloud, "POST", "/auth/tokens", "", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}}},
        "scope": {"system": {"all": True}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def _endpoints(body: dict[str, Any], service_id: str) -> list[str]:
    for service in body["token"].get("catalog", []):
        if service["id"] == service_id:
            return sorted(e["url"] for e in service["endpoints"])
    raise AssertionError(f"service {service_id} is not in the catalog")


def test_catalog_substitutes_the_project_per_token(cloud: RunningCloud) -> None:
    admin = cloud.token()
    service_id = call(cloud, "POST", "/services", admin, json={"service": {
        "type": unique("store"), "name": unique("swiftish")}}).json()["service"]["id"]
    try:
        for interface, url in (("public", "http://store.test/v1/AUTH_%(project_id)s"),
                               ("internal", "http://store.test/v1/AUTH_$(tenant_id)s"),
                               ("admin", "http://store.test")):
            resp = call(cloud, "POST", "/endpoints", admin, json={"endpoint": {
                "service_id": service_id, "interface": interface, "url": url, "region_id": "RegionOne"}})
            assert resp.status_code == 201, resp.text
        member = new_member(cloud)
        issued = call(cloud, "POST", "/auth/tokens", "", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": member["user"], "domain": {"id": "default"}, "password": member["password"]}}},
            "scope": {"project": {"id": member["project_id"]}}}})
        pid = member["project_id"]
        assert _endpoints(issued.json(), service_id) == [
            "http://store.test", f"http://store.test/v1/AUTH_{pid}", f"http://store.test/v1/AUTH_{pid}"]
        validated = call(cloud, "GET", "/auth/tokens", admin, headers={"X-Subject-Token": member["token"]})
        assert _endpoints(validated.json(), service_id) == _endpoints(issued.json(), service_id)
        catalog = call(cloud, "GET", "/auth/catalog", member["token"]).json()["catalog"]
        ours = next(s for s in catalog if s["id"] == service_id)
        assert {e["url"] for e in ours["endpoints"]} == {"http://store.test", f"http://store.test/v1/AUTH_{pid}"}
        # A token without a project leaves the project's endpoints out, and keeps the rest.
        system = call(cloud, "GET", "/auth/tokens", admin, headers={"X-Subject-Token": _system_token(cloud)})
        assert _endpoints(system.json(), service_id) == ["http://store.test"]
        # The stored endpoint keeps its template.
        listed = call(cloud, "GET", f"/endpoints?service_id={service_id}", admin).json()["endpoints"]
        assert "http://store.test/v1/AUTH_%(project_id)s" in {e["url"] for e in listed}
    finally:
        call(cloud, "DELETE", f"/services/{service_id}", admin)


def test_reseller_admin_role_exists(cloud: RunningCloud) -> None:
    roles = cloud.openstack_json("role", "list")
    assert [r["Name"] for r in roles].count("ResellerAdmin") == 1


def test_ec2_credentials_through_cli(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    created = json.loads(cloud.openstack("ec2", "credentials", "create", "-f", "json", env=member_env).stdout)
    access, secret = created["access"], created["secret"]
    assert len(access) == 32 and len(secret) == 32
    project_id = created["project_id"]
    assert project_id and created["user_id"]
    listed = json.loads(cloud.openstack("ec2", "credentials", "list", "-f", "json", env=member_env).stdout)
    assert [(r["Access"], r["Secret"], r["Project ID"]) for r in listed] == [(access, secret, project_id)]
    shown = json.loads(cloud.openstack("ec2", "credentials", "show", access, "-f", "json", env=member_env).stdout)
    assert (shown["access"], shown["secret"], shown["project_id"]) == (access, secret, project_id)
    # The same credential, as /v3/credentials shows it (the admin sees everyone's).
    generic = cloud.openstack_json("credential", "show", hashlib.sha256(access.encode()).hexdigest())
    assert generic["type"] == "ec2" and json.loads(generic["blob"])["secret"] == secret
    cloud.openstack("ec2", "credentials", "delete", access, env=member_env)
    assert json.loads(cloud.openstack("ec2", "credentials", "list", "-f", "json", env=member_env).stdout) == []
    gone = cloud.openstack("ec2", "credentials", "show", access, env=member_env, check=False)
    assert gone.returncode != 0 and "Could not find credential" in gone.stderr


def test_ec2_credential_shapes_and_policy(cloud: RunningCloud) -> None:
    owner, other, admin = new_member(cloud), new_member(cloud), cloud.token()
    base = f"/users/{owner['user_id']}/credentials/OS-EC2"
    resp = call(cloud, "POST", base, owner["token"], json={"tenant_id": owner["project_id"]})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["credential"]
    assert set(cred) == {"access", "secret", "user_id", "tenant_id", "trust_id", "links"}
    assert (cred["user_id"], cred["tenant_id"], cred["trust_id"]) == (owner["user_id"], owner["project_id"], None)
    assert cred["links"]["self"] == f"{cloud.auth_url}{base}/{cred['access']}"
    listed = call(cloud, "GET", base, owner["token"]).json()
    assert [c["access"] for c in listed["credentials"]] == [cred["access"]] and "links" in listed
    # Another user may not list, read, create for or delete the owner's credentials; an admin may.
    assert call(cloud, "GET", base, other["token"]).status_code == 403
    assert call(cloud, "GET", f"{base}/{cred['access']}", other["token"]).status_code == 403
    assert call(cloud, "POST", base, other["token"], json={"tenant_id": other["project_id"]}).status_code == 403
    assert call(cloud, "DELETE", f"{base}/{cred['access']}", other["token"]).status_code == 403
    assert call(cloud, "GET", f"{base}/{cred['access']}", admin).json()["credential"] == cred
    # Bad input: a clear 4xx, nothing stored.
    assert call(cloud, "POST", base, owner["token"], json={}).status_code == 400
    ghost = call(cloud, "POST", base, owner["token"], json={"tenant_id": "ghost"})
    assert ghost.status_code == 404 and ghost.json()["error"]["message"] == "Could not find project: ghost."
    missing = call(cloud, "GET", f"{base}/nope", owner["token"])
    assert missing.status_code == 404
    assert len(call(cloud, "GET", base, owner["token"]).json()["credentials"]) == 1
    assert call(cloud, "DELETE", f"{base}/{cred['access']}", owner["token"]).status_code == 204
    assert call(cloud, "GET", f"{base}/{cred['access']}", owner["token"]).status_code == 404


def _ec2_credential(cloud: RunningCloud, member: dict[str, str]) -> Credentials:
    resp = call(cloud, "POST", f"/users/{member['user_id']}/credentials/OS-EC2", member["token"],
                json={"tenant_id": member["project_id"]})
    cred = resp.json()["credential"]
    return Credentials(cred["access"], cred["secret"])


def _s3tokens(cloud: RunningCloud, access: str, string_to_sign: str, signature: str) -> Any:
    token = base64.urlsafe_b64encode(string_to_sign.encode()).decode()
    return call(cloud, "POST", "/s3tokens", "", json={"credentials": {
        "access": access, "token": token, "signature": signature}})


def _sigv4_parts(creds: Credentials, url: str, region: str = "RegionOne") -> tuple[str, str]:
    """(string to sign, signature) of a SigV4 S3 request, as botocore signs it."""
    request = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    auth = S3SigV4Auth(creds, "s3", region)
    auth.add_auth(request)
    signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    del request.headers["Authorization"]  # the string to sign is over the request before signing
    string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
    return string_to_sign, signature


def test_s3tokens_checks_sigv4_and_sigv2(cloud: RunningCloud) -> None:
    member = new_member(cloud)
    creds = _ec2_credential(cloud, member)
    string_to_sign, signature = _sigv4_parts(creds, "http://s3.test/bucket/key")
    assert string_to_sign.startswith("AWS4-HMAC-SHA256\n")
    resp = _s3tokens(cloud, creds.access_key, string_to_sign, signature)
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    assert token["project"]["id"] == member["project_id"] and token["user"]["id"] == member["user_id"]
    assert token["methods"] == ["ec2credential"]
    assert {r["name"] for r in token["roles"]} >= {"member", "reader"}
    assert "X-Subject-Token" not in resp.headers

    # SigV2 (HMAC-SHA1): the string to sign botocore's HmacV1Auth builds.
    request = AWSRequest(method="PUT", url="http://s3.test/bucket/key", headers={"Date": "Wed, 02 Dec 2026 05:00:00 GMT"})
    v1 = HmacV1Auth(creds)
    v1.add_auth(request)
    v2_string = v1.canonical_string("PUT", urlsplit(request.url), request.headers)
    v2_signature = request.headers["Authorization"].split(":", 1)[1]
    assert _s3tokens(cloud, creds.access_key, v2_string, v2_signature).status_code == 200

    mismatch = _s3tokens(cloud, creds.access_key, string_to_sign, "0" * 64)
    assert mismatch.status_code == 401
    assert mismatch.json()["error"]["message"] == "Credential signature mismatch"
    other_secret = Credentials(creds.access_key, "not-the-secret")
    assert _s3tokens(cloud, creds.access_key, *_sigv4_parts(other_secret, "http://s3.test/b")).status_code == 401
    unknown = _s3tokens(cloud, "no-such-access", string_to_sign, signature)
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "EC2 access key not found."
    assert call(cloud, "POST", "/s3tokens", "", json={"credentials": {}}).status_code == 401
    assert call(cloud, "POST", "/s3tokens", "", content=b"").status_code == 400
    # A signature over another service's scope is not an S3 signature.
    iam_string = string_to_sign.replace("/s3/aws4_request", "/iam/aws4_request")
    assert _s3tokens(cloud, creds.access_key, iam_string, signature).status_code == 401


def test_s3tokens_follows_role_changes(cloud: RunningCloud) -> None:
    member, admin = new_member(cloud), cloud.token()
    creds = _ec2_credential(cloud, member)
    parts = _sigv4_parts(creds, "http://s3.test/b")
    assert _s3tokens(cloud, creds.access_key, *parts).status_code == 200
    role_id = call(cloud, "GET", "/roles?name=member", admin).json()["roles"][0]["id"]
    path = f"/projects/{member['project_id']}/users/{member['user_id']}/roles/{role_id}"
    assert call(cloud, "DELETE", path, admin).status_code == 204
    refused = _s3tokens(cloud, creds.access_key, *parts)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "User not valid for project."


def _ec2_body(creds: Credentials, request: AWSRequest, params: dict[str, str], headers: dict[str, str]) -> Any:
    split = urlsplit(request.url)
    return {"credentials": {
        "access": creds.access_key, "host": split.netloc, "verb": request.method, "path": split.path or "/",
        "params": params, "headers": headers, "body_hash": hashlib.sha256(b"").hexdigest(),
        "signature": params.pop("Signature", None) or params.pop("X-Amz-Signature", None) or
        headers["Authorization"].rsplit("Signature=", 1)[1]}}


def test_ec2tokens_checks_v2_and_v4(cloud: RunningCloud) -> None:
    member = new_member(cloud)
    creds = _ec2_credential(cloud, member)
    # SignatureVersion 2 in the query, as the EC2 API clients send.
    request = AWSRequest(method="GET", url="http://ec2.test:8773/", params={"Action": "DescribeInstances"})
    SigV2Auth(creds).add_auth(request)
    params = {k: str(v) for k, v in request.params.items()}
    body = _ec2_body(creds, request, params, {})
    resp = call(cloud, "POST", "/ec2tokens", "", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["token"]["project"]["id"] == member["project_id"]
    issued = resp.headers["X-Subject-Token"]
    check = call(cloud, "GET", "/auth/tokens", cloud.token(), headers={"X-Subject-Token": issued})
    assert check.status_code == 200 and check.json()["token"]["methods"] == ["ec2credential"]

    # SigV4 in the Authorization header.
    v4 = AWSRequest(method="GET", url="http://ec2.test:8773/?Action=DescribeRegions")
    SigV4Auth(creds, "ec2", "RegionOne").add_auth(v4)
    headers = {"Host": "ec2.test:8773", **dict(v4.headers.items())}  # what the EC2 front end received
    v4_body = _ec2_body(creds, v4, dict(parse_qsl(urlsplit(v4.url).query)), headers)
    assert call(cloud, "POST", "/ec2tokens", "", json=v4_body).status_code == 200
    v4_body["credentials"]["signature"] = "0" * 64
    bad = call(cloud, "POST", "/ec2tokens", "", json=v4_body)
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "Invalid EC2 signature."
    # A parameter changed after signing (here the timestamp) breaks the signature.
    signature = body["credentials"]["signature"]
    stale = _ec2_body(creds, request, {**params, "Timestamp": "2020-01-01T00:00:00Z", "Signature": signature}, {})
    assert call(cloud, "POST", "/ec2tokens", "", json=stale).status_code == 401
