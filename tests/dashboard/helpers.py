"""Setting up what the pages show, through the APIs (as a user would with the CLI)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient


def token(client: TestClient, user: str, password: str, project: str | None = "admin") -> str:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    answer = client.post("/identity/v3/auth/tokens", json=body)
    assert answer.status_code == 201, answer.text
    return answer.headers["x-subject-token"]


def api(client: TestClient, tok: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"X-Auth-Token": tok, **kwargs.pop("headers", {})}
    if path.startswith("/compute/"):
        headers.setdefault("OpenStack-API-Version", "compute 2.79")
    answer = client.request(method, path, headers=headers, **kwargs)
    assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json() if answer.content else None


def image(client: TestClient, tok: str, name: str) -> str:
    made = api(client, tok, "POST", "/image/v2/images", json={"name": name, "disk_format": "raw",
                                                               "container_format": "bare"})
    api(client, tok, "PUT", f"/image/v2/images/{made['id']}/file", content=b"\0" * 1024,
        headers={"Content-Type": "application/octet-stream"})
    return made["id"]


def network(client: TestClient, tok: str, name: str, cidr: str = "10.9.0.0/24") -> str:
    net = api(client, tok, "POST", "/network/v2.0/networks", json={"network": {"name": name}})["network"]
    api(client, tok, "POST", "/network/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": cidr, "ip_version": 4, "name": name + "-subnet"}})
    return net["id"]


def member(client: TestClient, admin_tok: str) -> tuple[str, str, str]:
    """A fresh user with the member role on a fresh project: (user, password, project)."""
    suffix = uuid.uuid4().hex[:8]
    project = api(client, admin_tok, "POST", "/identity/v3/projects", json={"project": {
        "name": f"p-{suffix}", "domain_id": "default"}})["project"]
    password = uuid.uuid4().hex
    user = api(client, admin_tok, "POST", "/identity/v3/users", json={"user": {
        "name": f"u-{suffix}", "password": password, "domain_id": "default", "default_project_id": project["id"]}})["user"]
    roles = api(client, admin_tok, "GET", "/identity/v3/roles", params={"name": "member"})["roles"]
    client.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{roles[0]['id']}",
               headers={"X-Auth-Token": admin_tok})
    return user["name"], password, project["name"]
