"""Object storage test helpers: one cloud for the module files, users made over the identity API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gureum.testing import RunningCloud, cloud_in_fresh_state


@dataclass
class SwiftUser:
    """One user's token and storage URL, with an HTTP client rooted at the account."""

    cloud: RunningCloud
    name: str
    password: str
    user_id: str
    project: str
    project_id: str
    token: str

    @property
    def account_url(self) -> str:
        return f"{self.cloud.base_url}/object-store/v1/AUTH_{self.project_id}"

    def client(self, token: bool = True) -> httpx.Client:
        headers = {"X-Auth-Token": self.token} if token else {}
        return httpx.Client(base_url=self.account_url, headers=headers, timeout=60)


class Identity:
    """Just enough keystone over HTTP to make projects, users and grants fast."""

    def __init__(self, cloud: RunningCloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(base_url=cloud.auth_url, headers={"X-Auth-Token": cloud.token()}, timeout=60)

    def role_id(self, name: str) -> str:
        roles = self.http.get("/roles", params={"name": name}).json()["roles"]
        if roles:
            return roles[0]["id"]
        return self.http.post("/roles", json={"role": {"name": name}}).json()["role"]["id"]

    def user(self, role: str = "member", project_id: str | None = None) -> SwiftUser:
        tag = uuid.uuid4().hex[:8]
        if project_id is None:
            project = self.http.post("/projects", json={"project": {"name": f"os-{tag}", "domain_id": "default"}})
            project_id = project.json()["project"]["id"]
        project_name = self.http.get(f"/projects/{project_id}").json()["project"]["name"]
        password = uuid.uuid4().hex
        user = self.http.post("/users", json={"user": {"name": f"u-{tag}", "password": password,
                                                       "domain_id": "default"}}).json()["user"]
        grant = self.http.put(f"/projects/{project_id}/users/{user['id']}/roles/{self.role_id(role)}")
        assert grant.status_code == 204, grant.text
        token = self.cloud.token(user["name"], password, project_name)
        return SwiftUser(self.cloud, user["name"], password, user["id"], project_name, project_id, token)


@pytest.fixture(scope="session")
def os_cloud() -> Iterator[RunningCloud]:
    """A cloud without an agent or guest image: object storage needs neither."""
    with cloud_in_fresh_state("gos-", "--no-agent", "--no-guest-image") as running:
        yield running


@pytest.fixture(scope="session")
def identity(os_cloud: RunningCloud) -> Identity:
    return Identity(os_cloud)


@pytest.fixture
def owner(identity: Identity) -> SwiftUser:
    return identity.user("member")


@pytest.fixture
def swift(owner: SwiftUser) -> Iterator[httpx.Client]:
    with owner.client() as client:
        yield client


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
