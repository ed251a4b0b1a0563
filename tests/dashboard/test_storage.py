"""Volumes and containers pages: shown when the catalog has the service, through its API."""

from __future__ import annotations

import re
import time

import pytest

from starlette.testclient import TestClient

from tests.dashboard.conftest import ORIGIN, csrf_of


def post(client: TestClient, path: str, page: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, headers={"Origin": ORIGIN}, data={"csrf_token": csrf_of(client.get(page).text), **data})


def test_nav_follows_the_catalog(admin: TestClient) -> None:
    page = admin.get("/dashboard/").text
    assert ('href="/dashboard/volumes/"' in page) == ("volumev3" in admin.get(
        "/identity/v3/auth/catalog", headers={"X-Auth-Token": admin.cookies.get("gureum_token")}).text)


def test_volume_create_and_list(admin: TestClient) -> None:
    if 'href="/dashboard/volumes/"' not in admin.get("/dashboard/").text:
        pytest.skip("no block storage in this cloud")
    bad = post(admin, "/dashboard/volumes/", "/dashboard/volumes/", name="data", size="zero")
    assert "field%20%27size%27" in bad.headers["location"]
    made = post(admin, "/dashboard/volumes/", "/dashboard/volumes/", name="data", size="1")
    assert made.status_code == 303
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = admin.get("/dashboard/volumes/").text
        if re.search(r'<th scope="row">data</th><td><span class="status ok">available', listing):
            break
        time.sleep(0.5)
    assert '<th scope="row">data</th>' in listing and "1 GB" in listing


def test_container_create_and_objects(admin: TestClient) -> None:
    if 'href="/dashboard/containers/"' not in admin.get("/dashboard/").text:
        pytest.skip("no object storage in this cloud")
    made = post(admin, "/dashboard/containers/", "/dashboard/containers/", name="backups")
    assert made.status_code == 303, made.text
    assert '>backups</a>' in admin.get("/dashboard/containers/").text
    token = admin.cookies.get("gureum_token")
    catalog = admin.get("/identity/v3/auth/catalog", headers={"X-Auth-Token": token}).json()["catalog"]
    url = next(e["url"] for s in catalog if s["type"] == "object-store" for e in s["endpoints"]
               if e["interface"] == "public")
    path = re.sub(r"^https?://[^/]+", "", url)
    assert admin.put(f"{path}/backups/notes.txt", content=b"hello", headers={"X-Auth-Token": token}).status_code == 201
    objects = admin.get("/dashboard/containers/backups/").text
    assert ">notes.txt</a>" in objects
    got = admin.get("/dashboard/containers/backups/objects/notes.txt")
    assert got.text == "hello" and got.headers["content-disposition"] == 'attachment; filename="notes.txt"'
