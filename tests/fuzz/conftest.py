"""The fuzz tests' own cloud: destructive calls here cannot break the other tests.

The fuzzers get an admin token and a few records of every kind made for them, whose
ids they may put in paths so that requests reach past the 404 of an unknown id. Nothing the bootstrap made (the admin
user, project, roles, the default domain) is ever handed to them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gureum.testing import RunningCloud, remove_state, start_cloud


@pytest.fixture(scope="session")
def fuzz_cloud() -> Iterator[RunningCloud]:
    """A cloud of their own for the fuzzers: identity and image need no agent nor guest image.

    On SQLite; GUREUM_FUZZ_DATABASE_URL puts it on an empty database of your choosing
    (it must be empty: the bootstrap's admin password lives in the state dir). PostgreSQL
    refuses what SQLite takes, NUL characters in text for one.
    """
    state = Path(tempfile.mkdtemp(prefix="gfz-", dir="/tmp"))
    database = os.environ.get("GUREUM_FUZZ_DATABASE_URL")
    try:
        running = start_cloud(state, "--no-agent", "--no-guest-image",
                              *(("--database-url", database) if database else ()))
    except Exception:
        remove_state(state)
        raise
    yield running
    running.stop()
    remove_state(state)


@pytest.fixture(scope="session")
def admin_token(fuzz_cloud: RunningCloud) -> str:
    return fuzz_cloud.token()


@pytest.fixture(scope="session")
def http(fuzz_cloud: RunningCloud, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_cloud.base_url, headers={"X-Auth-Token": admin_token}, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def fuzz_ids(http: httpx.Client) -> dict[str, list[str]]:
    """Records made for the fuzzers, by the path parameter names that take their ids."""
    tag = uuid.uuid4().hex[:6]

    def create(path: str, key: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str | None:
        resp = http.post(path, json={key: body}, headers=headers)
        if resp.status_code != 201:
            # Routes still being built may refuse; their ids just stay generated.
            return None
        return resp.json()[key]["id"]

    def found(*values: str | None) -> list[str]:
        return [v for v in values if v]

    domain = create("/identity/v3/domains", "domain", {"name": f"fuzz-dom-{tag}"})
    project = create("/identity/v3/projects", "project", {"name": f"fuzz-proj-{tag}", "tags": ["t1", "t2"]})
    password = uuid.uuid4().hex
    user = create("/identity/v3/users", "user", {"name": f"fuzz-user-{tag}", "password": password,
                                                   "default_project_id": project})
    assert domain and project and user, "the fuzz cloud cannot create a domain, project and user"
    roles = found(*(create("/identity/v3/roles", "role", {"name": f"fuzz-role-{tag}-{i}"}) for i in range(3)))
    region = create("/identity/v3/regions", "region", {"description": "fuzz"})
    service = create("/identity/v3/services", "service", {"type": f"fuzz-{tag}", "name": "fuzz"})
    endpoint = create("/identity/v3/endpoints", "endpoint", {"service_id": service, "interface": "public",
                                                              "url": "http://fuzz.invalid/"})
    group = create("/identity/v3/groups", "group", {"name": f"fuzz-group-{tag}"})
    http.put(f"/identity/v3/projects/{project}/users/{user}/roles/{roles[0]}")
    http.put(f"/identity/v3/roles/{roles[0]}/implies/{roles[1]}")
    if group:
        http.put(f"/identity/v3/groups/{group}/users/{user}")
    credential = create("/identity/v3/credentials", "credential", {"user_id": user, "type": "ec2",
                                                                     "project_id": project,
                                                                     "blob": '{"access": "a", "secret": "s"}'})
    registered_limit = limit = None
    if service:
        resp = http.post("/identity/v3/registered_limits", json={"registered_limits": [
            {"service_id": service, "resource_name": f"fuzz{tag}", "default_limit": 5}]})
        if resp.status_code == 201:
            registered_limit = resp.json()["registered_limits"][0]["id"]
            resp = http.post("/identity/v3/limits", json={"limits": [
                {"service_id": service, "project_id": project, "resource_name": f"fuzz{tag}",
                 "resource_limit": 3}]})
            limit = resp.json()["limits"][0]["id"] if resp.status_code == 201 else None
    # An application credential is made by its owner, with a token of their own.
    app_cred = None
    token = http.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"id": user, "password": password}}},
        "scope": {"project": {"id": project}}}}, headers={"X-Auth-Token": ""})
    if token.status_code == 201:
        app_cred = create(f"/identity/v3/users/{user}/application_credentials", "application_credential",
                          {"name": f"fuzz-ac-{tag}"}, headers={"X-Auth-Token": token.headers["X-Subject-Token"]})
    ids = {
        "domain_id": [domain],
        "project_id": [project],
        "user_id": [user],
        "role_id": roles,
        "prior_role_id": roles[:2],
        "implied_role_id": roles[1:],
        "region_id": found(region),
        "service_id": found(service),
        "endpoint_id": found(endpoint),
        "group_id": found(group),
        "credential_id": found(credential),
        "registered_limit_id": found(registered_limit),
        "limit_id": found(limit),
        "application_credential_id": found(app_cred),
        "tag": ["t1", "t2"],
        "name": ["image", "images", "member", "members", "metadefs/namespace"],
    }
    image = http.post("/image/v2/images", json={"name": f"fuzz-img-{tag}", "disk_format": "raw",
                                                "container_format": "bare"})
    if image.status_code == 201:
        ids["image_id"] = [image.json()["id"]]
        # A second one with data, so download, deactivate and friends have something to act on.
        second = http.post("/image/v2/images", json={"name": f"fuzz-img2-{tag}", "disk_format": "raw",
                                                     "container_format": "bare"})
        if second.status_code == 201:
            image2 = second.json()["id"]
            http.put(f"/image/v2/images/{image2}/file", content=b"\0" * 4096,
                     headers={"Content-Type": "application/octet-stream"})
            ids["image_id"].append(image2)
            http.post(f"/image/v2/images/{image2}/members", json={"member": project})
        ids["member_id"] = [project]
    return {name: values for name, values in ids.items() if values}
