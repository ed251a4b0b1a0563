"""Swift v1 core against a real cloud over HTTP: statuses, bodies, listings, ranges, conditions."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from gureum.testing import RunningCloud
from tests.objectstore.conftest import Identity, SwiftUser, unique

TRANS_ID = re.compile(r"^tx[0-9a-f]{21}-[0-9a-f]{10}$")


def make(swift: httpx.Client, container: str, *objects: str, data: bytes = b"x") -> None:
    assert swift.put(f"/{container}").status_code in (201, 202)
    for name in objects:
        assert swift.put(f"/{container}/{name}", content=data).status_code == 201


def test_info_healthcheck_and_trans_id(os_cloud: RunningCloud) -> None:
    info = httpx.get(f"{os_cloud.base_url}/object-store/info")
    assert info.status_code == 200
    body = info.json()
    assert body["swift"]["container_listing_limit"] == 10000
    assert {"slo", "tempurl", "bulk_delete", "account_quotas", "container_quotas"} <= set(body)
    assert TRANS_ID.match(info.headers["x-trans-id"])
    assert info.headers["x-openstack-request-id"] == info.headers["x-trans-id"]
    health = httpx.get(f"{os_cloud.base_url}/object-store/healthcheck")
    assert health.status_code == 200 and health.text == "OK"


def test_container_lifecycle(swift: httpx.Client) -> None:
    name = unique()
    assert swift.put(f"/{name}", headers={"X-Container-Meta-Color": "blue"}).status_code == 201
    assert swift.put(f"/{name}").status_code == 202
    head = swift.head(f"/{name}")
    assert head.status_code == 204
    assert head.headers["x-container-meta-color"] == "blue"
    assert head.headers["x-container-object-count"] == "0"
    assert swift.post(f"/{name}", headers={"X-Remove-Container-Meta-Color": "x"}).status_code == 204
    assert "x-container-meta-color" not in swift.head(f"/{name}").headers
    assert swift.put(f"/{name}/o", content=b"abc").status_code == 201
    conflict = swift.delete(f"/{name}")
    assert conflict.status_code == 409 and "conflict" in conflict.text.lower()
    assert swift.delete(f"/{name}/o").status_code == 204
    assert swift.delete(f"/{name}/o").status_code == 404
    assert swift.delete(f"/{name}").status_code == 204
    assert swift.head(f"/{name}").status_code == 404
    assert swift.put(f"/{name}", headers={"X-Storage-Policy": "gold"}).status_code == 400


def test_object_put_get_and_errors(swift: httpx.Client, os_cloud: RunningCloud) -> None:
    name = unique()
    assert swift.put(f"/{name}/o", content=b"data").status_code == 404  # no auto-create
    make(swift, name)
    put = swift.put(f"/{name}/o", content=b"hello", headers={"X-Object-Meta-Kind": "greeting",
                                                          "Content-Type": "text/plain"})
    assert put.status_code == 201
    assert put.headers["etag"] == hashlib.md5(b"hello").hexdigest()  # unquoted
    get = swift.get(f"/{name}/o")
    assert get.content == b"hello" and get.headers["x-object-meta-kind"] == "greeting"
    assert get.headers["content-type"] == "text/plain" and get.headers["accept-ranges"] == "bytes"
    assert re.match(r"^\d+\.\d{5}$", get.headers["x-timestamp"])
    bad = swift.put(f"/{name}/p", content=b"hello", headers={"ETag": "0" * 32})
    assert bad.status_code == 422
    assert swift.head(f"/{name}/p").status_code == 404
    assert swift.put(f"/{name}/o", content=b"x", headers={"If-None-Match": "*"}).status_code == 412
    assert swift.post(f"/{name}/o", headers={"X-Object-Meta-New": "1"}).status_code == 202
    head = swift.head(f"/{name}/o")
    assert head.headers["x-object-meta-new"] == "1" and "x-object-meta-kind" not in head.headers
    # 411: neither Content-Length nor chunked.
    url = urlparse(f"{str(swift.base_url).rstrip('/')}/{name}/q")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("PUT", url.path)
    conn.putheader("X-Auth-Token", swift.headers["x-auth-token"])
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()
    # Chunked uploads work.
    chunked = swift.put(f"/{name}/chunked", content=iter([b"ab", b"cd"]))
    assert chunked.status_code == 201 and swift.get(f"/{name}/chunked").content == b"abcd"


def test_names_and_metadata_limits(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name)
    assert swift.put(f"/{name}/{'o' * 1025}", content=b"x").status_code == 400
    assert swift.put(f"/{'c' * 257}").status_code == 400
    assert swift.put(f"/{name}/a%00b", content=b"x").status_code == 400
    assert swift.get(f"/{name}/a%00b").status_code == 404
    assert swift.put(f"/{name}/o", content=b"x", headers={"X-Object-Meta-" + "k" * 129: "v"}).status_code == 400
    assert swift.put(f"/{name}/o", content=b"x", headers={"X-Object-Meta-K": "v" * 257}).status_code == 400
    many = {f"X-Container-Meta-K{i}": "v" for i in range(91)}
    assert swift.post(f"/{name}", headers=many).status_code == 400
    # A name with dot segments is only a name: it never leaves the container.
    assert swift.put(f"/{name}/a/%2E%2E/%2E%2E/b", content=b"x").status_code == 201
    listing = swift.get(f"/{name}", params={"format": "json"}).json()
    assert [row["name"] for row in listing] == ["a/../../b"]


def test_listings_byte_order_and_paging(swift: httpx.Client) -> None:
    name = unique()
    names = ["A", "a-b", "a/b", "aB", "a_b", "ab", "b", "d/1", "d/2", "d/e/3", "é"]
    make(swift, name, *names)
    assert swift.get(f"/{name}", params={"format": "json"}).json()[0]["name"] == "A"
    plain = swift.get(f"/{name}")
    assert plain.text.splitlines() == sorted(names, key=lambda n: n.encode())
    rows = swift.get(f"/{name}", params={"format": "json", "marker": "a_b", "limit": 2}).json()
    assert [r["name"] for r in rows] == ["ab", "b"]
    rows = swift.get(f"/{name}", params={"format": "json", "end_marker": "a/b"}).json()
    assert [r["name"] for r in rows] == ["A", "a-b"]
    rows = swift.get(f"/{name}", params={"format": "json", "reverse": "true", "limit": 2}).json()
    assert [r["name"] for r in rows] == ["é", "d/e/3"]
    rows = swift.get(f"/{name}", params={"format": "json", "prefix": "d/", "delimiter": "/"}).json()
    assert rows[:2] == [r for r in rows[:2] if "name" in r] and [r.get("name", r.get("subdir")) for r in rows] == \
        ["d/1", "d/2", "d/e/"]
    rows = swift.get(f"/{name}", params={"format": "json", "delimiter": "/"}).json()
    assert [r.get("name", r.get("subdir")) for r in rows] == ["A", "a-b", "a/", "aB", "a_b", "ab", "b", "d/", "é"]
    rows = swift.get(f"/{name}", params={"format": "json", "delimiter": "/", "reverse": "1"}).json()
    assert [r.get("name", r.get("subdir")) for r in rows][:3] == ["é", "d/", "b"]
    rows = swift.get(f"/{name}", params={"format": "json", "path": "d"}).json()
    assert [r.get("name", r.get("subdir")) for r in rows] == ["d/1", "d/2", "d/e/"]
    xml = swift.get(f"/{name}", params={"format": "xml", "prefix": "d/", "delimiter": "/"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert '<subdir name="d/e/"><name>d/e/</name></subdir>' in xml.text
    assert swift.get(f"/{name}", params={"limit": 10001}).status_code == 412
    empty = swift.get(f"/{name}", params={"prefix": "zzz"})
    assert empty.status_code == 204
    assert swift.get(f"/{name}", params={"prefix": "zzz", "format": "json"}).json() == []


def test_counters_are_immediate(swift: httpx.Client, owner: SwiftUser) -> None:
    name = unique()
    make(swift, name)
    before = swift.head("").headers
    for i in range(5):
        swift.put(f"/{name}/o{i}", content=b"x" * 10)
    swift.put(f"/{name}/o0", content=b"x" * 3)  # overwrite: bytes change, count does not
    head = swift.head(f"/{name}").headers
    assert head["x-container-object-count"] == "5" and head["x-container-bytes-used"] == "43"
    after = swift.head("").headers
    assert int(after["x-account-object-count"]) - int(before["x-account-object-count"]) == 5
    assert int(after["x-account-bytes-used"]) - int(before["x-account-bytes-used"]) == 43
    listing = swift.get("", params={"format": "json", "prefix": name}).json()
    assert listing[0]["count"] == 5 and listing[0]["bytes"] == 43


def test_ranges(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name, "o", data=b"0123456789")
    one = swift.get(f"/{name}/o", headers={"Range": "bytes=2-4"})
    assert one.status_code == 206 and one.content == b"234"
    assert one.headers["content-range"] == "bytes 2-4/10"
    assert swift.get(f"/{name}/o", headers={"Range": "bytes=-3"}).content == b"789"
    several = swift.get(f"/{name}/o", headers={"Range": "bytes=0-0,8-"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 0-0/10" in several.content and b"Content-Range: bytes 8-9/10" in several.content
    assert int(several.headers["content-length"]) == len(several.content)
    past = swift.get(f"/{name}/o", headers={"Range": "bytes=20-30"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */10"


def test_conditional_requests(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name, "o", data=b"abc")
    etag = hashlib.md5(b"abc").hexdigest()
    assert swift.get(f"/{name}/o", headers={"If-None-Match": etag}).status_code == 304
    assert swift.get(f"/{name}/o", headers={"If-None-Match": "other"}).status_code == 200
    assert swift.get(f"/{name}/o", headers={"If-Match": "other"}).status_code == 412
    assert swift.get(f"/{name}/o", headers={"If-Match": f'"{etag}"'}).status_code == 200
    modified = swift.head(f"/{name}/o").headers["last-modified"]
    assert swift.get(f"/{name}/o", headers={"If-Modified-Since": modified}).status_code == 304
    assert swift.get(f"/{name}/o", headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 412


def test_copy_both_ways(swift: httpx.Client) -> None:
    src, dst = unique(), unique()
    make(swift, src)
    make(swift, dst)
    swift.put(f"/{src}/o", content=b"payload", headers={"X-Object-Meta-A": "1"})
    copied = swift.put(f"/{dst}/o2", headers={"X-Copy-From": f"{src}/o", "Content-Length": "0"})
    assert copied.status_code == 201 and copied.headers["x-copied-from"] == f"{src}/o"
    got = swift.get(f"/{dst}/o2")
    assert got.content == b"payload" and got.headers["x-object-meta-a"] == "1"
    moved = swift.request("COPY", f"/{src}/o", headers={"Destination": f"/{dst}/o3", "X-Object-Meta-B": "2"})
    assert moved.status_code == 201
    head = swift.head(f"/{dst}/o3").headers
    assert head["x-object-meta-a"] == "1" and head["x-object-meta-b"] == "2"
    assert swift.put(f"/{dst}/o4", headers={"X-Copy-From": f"{src}/missing", "Content-Length": "0"}).status_code == 404


def test_expiry(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name)
    assert swift.put(f"/{name}/o", content=b"x", headers={"X-Delete-After": "1"}).status_code == 201
    assert "x-delete-at" in swift.head(f"/{name}/o").headers
    time.sleep(2.1)
    assert swift.get(f"/{name}/o").status_code == 404
    assert swift.get(f"/{name}", params={"format": "json"}).json() == []
    assert swift.put(f"/{name}/p", content=b"x", headers={"X-Delete-At": "100"}).status_code == 400


def test_quotas(swift: httpx.Client, identity: Identity, owner: SwiftUser) -> None:
    name = unique()
    make(swift, name)
    assert swift.post(f"/{name}", headers={"X-Container-Meta-Quota-Bytes": "10"}).status_code == 204
    assert swift.put(f"/{name}/a", content=b"x" * 8).status_code == 201
    assert swift.put(f"/{name}/b", content=b"x" * 8).status_code == 413
    assert swift.put(f"/{name}/a", content=b"x" * 10).status_code == 201  # an overwrite counts the old size out
    assert swift.post(f"/{name}", headers={"X-Container-Meta-Quota-Count": "1"}).status_code == 204
    assert swift.put(f"/{name}/c", content=b"").status_code == 413
    # Account quotas: only a ResellerAdmin sets them.
    assert swift.post("", headers={"X-Account-Meta-Quota-Bytes": "5"}).status_code == 403
    reseller = identity.user("ResellerAdmin")
    with httpx.Client(headers={"X-Auth-Token": reseller.token}, timeout=30) as http:
        assert http.post(owner.account_url, headers={"X-Account-Meta-Quota-Bytes": "5"}).status_code == 204
    other = unique()
    make(swift, other)
    assert swift.put(f"/{other}/big", content=b"x" * 6).status_code == 413


def test_roles_and_other_projects(identity: Identity, owner: SwiftUser, swift: httpx.Client) -> None:
    name = unique()
    make(swift, name, "o")
    stranger = identity.user("member")
    with stranger.client() as other:
        for method, path in (("GET", ""), ("HEAD", ""), ("GET", f"/{name}"), ("GET", f"/{name}/o"),
                             ("PUT", f"/{name}/p"), ("DELETE", f"/{name}/o"), ("POST", "")):
            response = other.request(method, owner.account_url + path)
            assert response.status_code == 403, (method, path, response.status_code)
    reader = identity.user("reader", owner.project_id)
    with reader.client() as ro:
        assert ro.get(f"/{name}/o").status_code == 200
        assert ro.get("", params={"format": "json"}).status_code == 200
        assert ro.put(f"/{name}/p", content=b"x").status_code == 403
        assert ro.delete(f"/{name}/o").status_code == 403
    with owner.client(token=False) as anonymous:
        assert anonymous.get(f"/{name}/o").status_code == 401
        assert anonymous.get("").status_code == 401
    with httpx.Client(headers={"X-Auth-Token": "nonsense"}) as bad:
        assert bad.get(owner.account_url).status_code == 401
    assert swift.delete("").status_code == 405


def test_container_acls(identity: Identity, owner: SwiftUser, swift: httpx.Client) -> None:
    public, shared = unique(), unique()
    make(swift, public, "o")
    make(swift, shared, "o")
    swift.post(f"/{public}", headers={"X-Container-Read": ".r:*,.rlistings"})
    with owner.client(token=False) as anonymous:
        assert anonymous.get(f"/{public}/o").content == b"x"
        assert anonymous.get(f"/{public}").text == "o\n"
        assert anonymous.put(f"/{public}/p", content=b"x").status_code == 401
    friend = identity.user("member")
    swift.post(f"/{shared}", headers={"X-Container-Read": f"{friend.project_id}:{friend.user_id}",
                                       "X-Container-Write": f"{friend.project_id}:*"})
    with friend.client() as other:
        assert other.get(owner.account_url + f"/{shared}/o").status_code == 200
        assert other.put(owner.account_url + f"/{shared}/p", content=b"y").status_code == 201
        assert other.post(owner.account_url + f"/{shared}", headers={"X-Container-Read": ".r:*"}).status_code == 403
        assert "x-container-read" not in other.head(owner.account_url + f"/{shared}").headers
    assert swift.head(f"/{shared}").headers["x-container-read"] == f"{friend.project_id}:{friend.user_id}"


def test_versioning(swift: httpx.Client) -> None:
    base, versions = unique(), unique()
    make(swift, versions)
    assert swift.put(f"/{base}", headers={"X-Versions-Location": versions}).status_code == 201
    swift.put(f"/{base}/o", content=b"one")
    swift.put(f"/{base}/o", content=b"two")
    assert swift.head(f"/{versions}").headers["x-container-object-count"] == "1"
    assert swift.get(f"/{base}/o").content == b"two"
    assert swift.delete(f"/{base}/o").status_code == 204
    assert swift.get(f"/{base}/o").content == b"one"
    assert swift.head(f"/{versions}").headers["x-container-object-count"] == "0"
    assert swift.delete(f"/{base}/o").status_code == 204
    assert swift.get(f"/{base}/o").status_code == 404


def test_bulk_delete(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name, "a", "b c")
    body = f"/{name}/a\n/{name}/b%20c\n/{name}/missing\n"
    result = swift.post("", params={"bulk-delete": ""}, content=body,
                        headers={"Accept": "application/json", "Content-Type": "text/plain"})
    assert result.status_code == 200
    assert result.json()["Number Deleted"] == 2 and result.json()["Number Not Found"] == 1
    assert swift.head(f"/{name}").headers["x-container-object-count"] == "0"


def test_tar_upload(swift: httpx.Client, tmp_path: Path) -> None:
    import io
    import tarfile

    name = unique()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in ((f"{name}/x.txt", b"xx"), (f"{name}/d/y.txt", b"yyy")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = swift.put("", params={"extract-archive": "tar.gz"}, content=buffer.getvalue(),
                       headers={"Accept": "application/json"})
    assert result.status_code == 200 and result.json()["Number Files Created"] == 2, result.text
    assert swift.get(f"/{name}/d/y.txt").content == b"yyy"


def test_aborted_upload_leaves_nothing(swift: httpx.Client, os_cloud: RunningCloud) -> None:
    name = unique()
    make(swift, name)
    objects = os_cloud.state_dir / "objects"
    before = {p.name for p in objects.rglob("*") if p.is_file()}
    url = urlparse(f"{str(swift.base_url).rstrip('/')}/{name}/partial")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("PUT", url.path)
    conn.putheader("X-Auth-Token", swift.headers["x-auth-token"])
    conn.putheader("Content-Length", str(10 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"x" * (2 * 1024 * 1024))
    conn.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {p.name for p in objects.rglob("*") if p.is_file()} - before
        if not left:
            break
        time.sleep(0.2)
    assert not left
    assert swift.head(f"/{name}/partial").status_code == 404
    assert swift.head(f"/{name}").headers["x-container-bytes-used"] == "0"


def test_cors(swift: httpx.Client, owner: SwiftUser) -> None:
    name = unique()
    make(swift, name, "o")
    swift.post(f"/{name}", headers={"X-Container-Meta-Access-Control-Allow-Origin": "http://app.example",
                                     "X-Container-Meta-Access-Control-Max-Age": "60"})
    with owner.client(token=False) as anonymous:
        ok = anonymous.options(f"/{name}/o", headers={"Origin": "http://app.example",
                                                      "Access-Control-Request-Method": "GET"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://app.example"
        no = anonymous.options(f"/{name}/o", headers={"Origin": "http://evil.example",
                                                      "Access-Control-Request-Method": "GET"})
        assert no.status_code == 401


def test_json_listing_of_account(swift: httpx.Client) -> None:
    name = unique()
    make(swift, name, "o")
    rows = swift.get("", params={"format": "json", "prefix": name}).json()
    assert rows == [{"name": name, "count": 1, "bytes": 1, "last_modified": rows[0]["last_modified"]}]
    assert json.loads(swift.get("", params={"format": "json", "prefix": "nothing-"}).text) == []
