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


def test_upload_an_object_from_the_page_by_script_or_plain_form(admin: TestClient) -> None:
    if 'href="/dashboard/containers/"' not in admin.get("/dashboard/").text:
        pytest.skip("no object storage in this cloud")
    post(admin, "/dashboard/containers/", "/dashboard/containers/", name="uploads")
    page = admin.get("/dashboard/containers/uploads/").text
    assert 'data-put-object="/dashboard/containers/uploads/objects/"' in page
    csrf = csrf_of(page)
    # What the page script sends: one PUT with the file as the body, the CSRF token in a header.
    put = admin.put("/dashboard/containers/uploads/objects/dir/a%20b.txt", content=b"from the browser",
                    headers={"Origin": ORIGIN, "X-CSRF-Token": csrf, "Content-Type": "text/plain"})
    assert put.status_code == 204, put.text
    got = admin.get("/dashboard/containers/uploads/objects/dir/a%20b.txt")
    assert got.text == "from the browser" and got.headers["content-type"].startswith("text/plain")
    # Without the token nothing is written.
    refused = admin.put("/dashboard/containers/uploads/objects/forged.txt", content=b"x", headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    assert ">forged.txt</a>" not in admin.get("/dashboard/containers/uploads/").text
    # A form without script: multipart, the object named after the file unless a name is given.
    sent = admin.post("/dashboard/containers/uploads/objects", headers={"Origin": ORIGIN},
                      data={"csrf_token": csrf, "object": ""}, files={"file": ("plain.bin", b"\0\1\2", "application/x-thing")})
    assert sent.status_code == 303 and "Uploaded%20plain.bin" in sent.headers["location"], sent.text
    listing = admin.get("/dashboard/containers/uploads/").text
    assert ">plain.bin</a>" in listing and ">dir/a b.txt</a>" in listing
    empty = admin.post("/dashboard/containers/uploads/objects", headers={"Origin": ORIGIN}, data={"csrf_token": csrf})
    assert "field%20%27file%27" in empty.headers["location"]
    missing = admin.put("/dashboard/containers/no-such/objects/x", content=b"x",
                        headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
    assert missing.status_code == 404
