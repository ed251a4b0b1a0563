"""Identity API calls the identity tests share: HTTP setup that is not what the tests are about."""

from __future__ import annotations

from typing import Any

import httpx

from gureum.testing import RunningCloud
from tests.conftest import unique


def call(cloud: RunningCloud, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
    return httpx.request(method, f"{cloud.auth_url}{path}", headers=headers, timeout=30, **kwargs)


def new_member(cloud: RunningCloud, role: str = "member") -> dict[str, str]:
    """A user with `role` on a fresh project, made over HTTP (setup is not what these tests are about)."""
    admin = cloud.token()
    project, user, password = unique("p"), unique("u"), "pw-" + unique("x")
    project_id = call(cloud, "POST", "/projects", admin,
                       json={"project": {"name": project, "domain_id": "default"}}).json()["project"]["id"]
    user_id = call(cloud, "POST", "/users", admin, json={"user": {
        "name": user, "password": password, "domain_id": "default", "default_project_id": project_id}}).json()["user"]["id"]
    role_id = call(cloud, "GET", f"/roles?name={role}", admin).json()["roles"][0]["id"]
    assert call(cloud, "PUT", f"/projects/{project_id}/users/{user_id}/roles/{role_id}", admin).status_code == 204
    return {"project": project, "project_id": project_id, "user": user, "user_id": user_id, "password": password,
            "token": cloud.token(user, password, project)}


def validate(cloud: RunningCloud, admin: str, subject: str) -> int:
    return call(cloud, "GET", "/auth/tokens", admin, headers={"X-Subject-Token": subject}).status_code
