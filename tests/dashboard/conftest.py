"""The dashboard in-process: a real Cloud on SQLite in a temp dir, driven by Starlette's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gureum.app import build_app
from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.identity.bootstrap import read_admin_password

ORIGIN = "http://testserver"


@dataclass
class Site:
    cloud: Cloud
    admin_password: str

    def client(self) -> TestClient:
        return TestClient(build_app(self.cloud), base_url=ORIGIN, follow_redirects=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    cloud = Cloud(Settings(state_dir=Path(tmp_path_factory.mktemp("dash")) / "state"))
    cloud.start()
    yield Site(cloud, read_admin_password(cloud))
    cloud.close()


def login(client: TestClient, user: str, password: str, domain: str = "Default") -> None:
    answer = client.post("/dashboard/login", data={"username": user, "password": password, "domain": domain,
                                                   "next": "/dashboard/"}, headers={"Origin": ORIGIN})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def admin(site: Site) -> TestClient:
    client = site.client()
    login(client, "admin", site.admin_password)
    return client
