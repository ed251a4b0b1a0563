"""Interoperable import (glance-direct, web-download), size quotas, and crash recovery."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from gureum.testing import RunningCloud, start_cloud
from tests.image.conftest import ImageClient, client_for, new_member, set_project_limit
from tests.image.test_api import store_files

MIB = 1024 * 1024


def wait_status(client: ImageClient, image_id: str, wanted: tuple[str, ...], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        image = client.show(image_id).json()
        if image["status"] in wanted or time.monotonic() > deadline:
            return image
        time.sleep(0.1)


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for web-download, serving one folder."""
    root = tmp_path_factory.mktemp("web")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_glance_direct(cloud: RunningCloud, admin: ImageClient, disk_images: dict[str, Path]) -> None:
    data = disk_images["qcow2"].read_bytes()
    image = admin.create_ok(disk_format="qcow2")
    not_staged = admin.http.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert not_staged.status_code == 409
    assert admin.stage(image["id"], data).status_code == 204
    staged = admin.show(image["id"]).json()
    assert (staged["status"], staged["size"]) == ("uploading", len(data))
    assert admin.stage(image["id"], data).status_code == 409
    response = admin.http.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert response.status_code == 202
    done = wait_status(admin, image["id"], ("active", "queued"))
    assert done["status"] == "active", done
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert done["virtual_size"] == 64 * MIB
    assert "os_glance_import_task" not in done
    assert admin.download(image["id"]).content == data
    assert store_files(cloud, "staging") == []


def test_glance_direct_format_mismatch_fails_back_to_queued(cloud: RunningCloud, admin: ImageClient) -> None:
    image = admin.create_ok(disk_format="qcow2")
    assert admin.stage(image["id"], b"\0" * 50_000).status_code == 204
    assert admin.http.post(f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}).status_code == 202
    failed = wait_status(admin, image["id"], ("queued",))
    assert failed["status"] == "queued"
    assert failed["os_glance_failed_import"] == "file"
    assert "does not match" in failed["os_glance_import_error"]
    assert store_files(cloud, "staging") == []


def test_web_download(admin: ImageClient, web_root: tuple[str, Path], disk_images: dict[str, Path]) -> None:
    base, root = web_root
    (root / "cloud.qcow2").write_bytes(disk_images["qcow2"].read_bytes())
    image = admin.create_ok(disk_format="qcow2")
    body = {"method": {"name": "web-download", "uri": f"{base}/cloud.qcow2"}}
    assert admin.http.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    done = wait_status(admin, image["id"], ("active", "queued"))
    assert done["status"] == "active", done
    assert done["os_hash_value"] == hashlib.sha512(disk_images["qcow2"].read_bytes()).hexdigest()
    again = admin.http.post(f"/v2/images/{image['id']}/import", json=body)
    assert again.status_code == 409


def test_web_download_failure_is_recorded(admin: ImageClient, web_root: tuple[str, Path]) -> None:
    base, _root = web_root
    image = admin.create_ok()
    body = {"method": {"name": "web-download", "uri": f"{base}/missing.img"}}
    assert admin.http.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    failed = wait_status(admin, image["id"], ("queued",))
    assert failed["status"] == "queued"
    assert "404" in failed["os_glance_import_error"]
    # The failure does not stop a retry.
    assert admin.upload(image["id"], b"now it works").status_code == 204


def test_import_body_is_checked(admin: ImageClient) -> None:
    image = admin.create_ok()
    url = f"/v2/images/{image['id']}/import"
    assert admin.http.post(url, json={}).status_code == 400
    assert admin.http.post(url, json={"method": {}}).status_code == 400
    unknown = admin.http.post(url, json={"method": {"name": "copy-image"}})
    assert unknown.status_code == 400 and "Unknown import method name" in unknown.text
    assert admin.http.post(url, json={"method": {"name": "web-download", "uri": "file:///etc/passwd"}}).status_code == 400


def test_size_quota_stops_the_stream(cloud: RunningCloud) -> None:
    client, _env = new_member(cloud)
    set_project_limit(cloud, client.project_id, "image_size_total", 1)
    image = client.create_ok()
    response = client.upload(image["id"], b"x" * (3 * MIB))
    assert response.status_code == 413
    message = response.json()["message"]
    assert f"Project {client.project_id} is over a limit for [Resource image_size_total is over limit of 1" in message
    assert client.show(image["id"]).json()["status"] == "queued"
    assert store_files(cloud, "tmp") == []
    assert client.upload(image["id"], b"x" * (MIB // 2)).status_code == 204
    usage = client.http.get("/v2/info/usage").json()["usage"]
    assert usage["image_size_total"] == {"limit": 1, "usage": 0}
    assert usage["image_count_total"]["usage"] == 1


def test_stage_and_uploading_quotas(cloud: RunningCloud) -> None:
    client, _env = new_member(cloud)
    set_project_limit(cloud, client.project_id, "image_stage_total", 1)
    image = client.create_ok()
    too_big = client.stage(image["id"], b"z" * (2 * MIB))
    assert too_big.status_code == 413
    assert "Resource image_stage_total is over limit of 1" in too_big.json()["message"]
    assert client.show(image["id"]).json()["status"] == "queued"

    set_project_limit(cloud, client.project_id, "image_count_uploading", 0)
    refused = client.upload(image["id"], b"bytes")
    assert refused.status_code == 413
    assert "Resource image_count_uploading is over limit of 0 due to current usage 0 and delta 1" in refused.text
    assert client.show(image["id"]).json()["status"] == "queued"


def test_restart_puts_an_abandoned_upload_back(tmp_path: Path) -> None:
    """kill -9 mid-upload, start again: the image is queued, the half-written file gone."""
    state = tmp_path / "crash"
    first = start_cloud(state)
    try:
        client = client_for(first, "admin", first.admin_password, "admin")
        image = client.create_ok()
        request = (
            f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Auth-Token: {client.http.headers['X-Auth-Token']}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\n"
        ).encode()
        conn = socket.create_connection(("127.0.0.1", first.port))
        conn.sendall(request + b"y" * 4_000_000)
        deadline = time.monotonic() + 10
        while client.show(image["id"]).json()["status"] != "saving" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.show(image["id"]).json()["status"] == "saving"
        time.sleep(0.5)
        assert store_files(first, "tmp") != []
        first.process.kill()
        first.process.wait()
        conn.close()
    finally:
        first.stop()

    second = start_cloud(state)
    try:
        client = client_for(second, "admin", second.admin_password, "admin")
        after = client.show(image["id"]).json()
        assert (after["status"], after["size"]) == ("queued", None)
        assert store_files(second, "tmp") == []
        assert client.upload(image["id"], b"second try").status_code == 204
    finally:
        second.stop()
