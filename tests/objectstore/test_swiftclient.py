"""python-swiftclient and the swift CLI as users run them: SLO, DLO, TempURL, bulk."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import httpx
from swiftclient import client as swiftclient
from swiftclient.utils import generate_temp_url

from gureum.testing import VENV_BIN, RunningCloud
from tests.objectstore.conftest import SwiftUser, unique


def connection(user: SwiftUser) -> swiftclient.Connection:
    return swiftclient.Connection(preauthurl=user.account_url, preauthtoken=user.token, retries=0)


def swift_cli(user: SwiftUser, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(VENV_BIN / "swift"), "--os-auth-token", user.token, "--os-storage-url", user.account_url, *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_slo_upload_download_and_delete(owner: SwiftUser, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(data)
    name = unique()
    swift_cli(owner, "upload", "--use-slo", "-S", str(1024 * 1024), name, "big.bin", cwd=tmp_path)
    conn = connection(owner)
    headers = conn.head_object(name, "big.bin")
    assert headers["x-static-large-object"] == "True"
    segments = conn.get_container(f"{name}_segments")[1]
    assert len(segments) == 4
    expected = hashlib.md5("".join(s["hash"] for s in segments).encode()).hexdigest()
    assert headers["etag"] == f'"{expected}"'
    assert conn.get_object(name, "big.bin")[1] == data
    ranged = conn.get_object(name, "big.bin", headers={"Range": f"bytes={1024 * 1024 - 5}-{1024 * 1024 + 4}"})[1]
    assert ranged == data[1024 * 1024 - 5: 1024 * 1024 + 5]
    manifest = conn.get_object(name, "big.bin", query_string="multipart-manifest=get")[1]
    assert b'"bytes"' in manifest
    swift_cli(owner, "delete", name, "big.bin", cwd=tmp_path)
    assert conn.get_container(f"{name}_segments")[1] == []


def test_slo_manifest_is_checked_at_put(owner: SwiftUser) -> None:
    conn = connection(owner)
    name = unique()
    conn.put_container(name)
    conn.put_object(name, "seg", b"abc")
    bad = '[{"path": "/%s/seg", "etag": "%s", "size_bytes": 3}]' % (name, "0" * 32)
    with httpx.Client(headers={"X-Auth-Token": owner.token}) as http:
        response = http.put(f"{owner.account_url}/{name}/m", params={"multipart-manifest": "put"}, content=bad)
        assert response.status_code == 400 and "Etag Mismatch" in response.text
        missing = '[{"path": "/%s/nothing"}]' % name
        response = http.put(f"{owner.account_url}/{name}/m", params={"multipart-manifest": "put"}, content=missing)
        assert response.status_code == 400 and "404 Not Found" in response.text
        assert http.put(f"{owner.account_url}/{name}/m", params={"multipart-manifest": "put"},
                        content="not json").status_code == 400
    assert conn.get_container(name)[1][0]["name"] == "seg"


def test_dlo(owner: SwiftUser) -> None:
    conn = connection(owner)
    name = unique()
    conn.put_container(name)
    for i, part in enumerate((b"aa", b"bb", b"cc")):
        conn.put_object(name, f"parts/{i:03d}", part)
    conn.put_object(name, "whole", b"", headers={"X-Object-Manifest": f"{name}/parts/"})
    headers, body = conn.get_object(name, "whole")
    assert body == b"aabbcc"
    etags = "".join(hashlib.md5(p).hexdigest() for p in (b"aa", b"bb", b"cc"))
    assert headers["etag"] == f'"{hashlib.md5(etags.encode()).hexdigest()}"'
    conn.put_object(name, "parts/003", b"dd")  # consistent listings: seen at once
    assert conn.get_object(name, "whole")[1] == b"aabbccdd"


def test_tempurl(owner: SwiftUser, os_cloud: RunningCloud) -> None:
    conn = connection(owner)
    name = unique()
    conn.put_container(name)
    conn.put_object(name, "o", b"secret")
    conn.post_account({"X-Account-Meta-Temp-URL-Key": "k1"})
    full_path = f"/object-store/v1/AUTH_{owner.project_id}/{name}/o"
    for path in (full_path, f"/v1/AUTH_{owner.project_id}/{name}/o"):
        signed = generate_temp_url(path, 60, "k1", "GET", digest="sha256")
        url = os_cloud.base_url + (signed if signed.startswith("/object-store") else "/object-store" + signed)
        got = httpx.get(url)
        assert got.status_code == 200 and got.content == b"secret"
    sha1 = generate_temp_url(full_path, 60, "k1", "GET", digest="sha1")
    assert httpx.get(os_cloud.base_url + sha1).status_code == 200
    wrong_method = generate_temp_url(full_path, 60, "k1", "PUT", digest="sha256")
    denied = httpx.get(os_cloud.base_url + wrong_method)
    assert denied.status_code == 401 and "signature does not match" in denied.text
    expired = generate_temp_url(full_path, int(time.time()) - 10, "k1", "GET", absolute=True, digest="sha256")
    late = httpx.get(os_cloud.base_url + expired)
    assert late.status_code == 401 and "expired" in late.text
    put_path = f"/object-store/v1/AUTH_{owner.project_id}/{name}/new"
    put_url = generate_temp_url(put_path, 60, "k1", "PUT", digest="sha256")
    assert httpx.put(os_cloud.base_url + put_url, content=b"via tempurl").status_code == 201
    assert conn.get_object(name, "new")[1] == b"via tempurl"
    conn.post_container(name, {"X-Container-Meta-Temp-URL-Key": "ck"})
    prefix_url = generate_temp_url(f"/v1/AUTH_{owner.project_id}/{name}/", 60, "ck", "GET",
                                   prefix=True, digest="sha256")
    assert httpx.get(os_cloud.base_url + "/object-store" + prefix_url.replace("?", "o?", 1)).status_code == 200


def test_many_deletes_through_the_cli(owner: SwiftUser, tmp_path: Path) -> None:
    conn = connection(owner)
    name = unique()
    conn.put_container(name)
    for i in range(25):
        conn.put_object(name, f"o{i}", b"x")
    swift_cli(owner, "delete", name, cwd=tmp_path)  # > 20 objects: ?bulk-delete
    assert name not in [c["name"] for c in conn.get_account()[1]]
