"""The Glance v2 API over HTTP against a real `gureum up`: shapes, codes and rules."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from pathlib import Path

import httpx

from gureum.testing import RunningCloud
from tests.image.conftest import ImageClient


def store_files(cloud: RunningCloud, area: str) -> list[Path]:
    root = cloud.state_dir / "images" / area
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- discovery -------------------------------------------------------------------------


def test_version_discovery(cloud: RunningCloud) -> None:
    root = httpx.get(f"{cloud.base_url}/image/")
    assert root.status_code == 300
    versions = root.json()["versions"]
    assert {"rel": "self", "href": f"{cloud.base_url}/image/v2/"} in versions[0]["links"]
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert httpx.get(f"{cloud.base_url}/image/versions").status_code == 200


def test_schemas_and_import_info(admin: ImageClient) -> None:
    image = admin.http.get("/v2/schemas/image").json()
    assert image["name"] == "image"
    assert image["additionalProperties"] == {"type": "string"}
    assert "qcow2" in image["properties"]["disk_format"]["enum"]
    assert admin.http.get("/v2/schemas/images").json()["properties"]["images"]["items"]["name"] == "image"
    assert admin.http.get("/v2/schemas/members").json()["name"] == "members"
    assert admin.http.get("/v2/schemas/nope").status_code == 404
    methods = admin.http.get("/v2/info/import").json()["import-methods"]["value"]
    assert methods == ["glance-direct", "web-download"]
    assert admin.http.get("/v2/info/stores").status_code == 404
    usage = admin.http.get("/v2/info/usage").json()["usage"]
    assert usage["image_count_total"]["limit"] > 0


def test_no_token_is_401(cloud: RunningCloud) -> None:
    assert httpx.get(f"{cloud.base_url}/image/v2/images").status_code == 401


# -- records -----------------------------------------------------------------------------


def test_create_show_shape(admin: ImageClient) -> None:
    response = admin.create(name="shape", disk_format="qcow2", container_format="bare", os_type="linux", tags=["a"])
    assert response.status_code == 201
    assert response.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"
    image = response.json()
    assert response.headers["Location"].endswith(f"/image/v2/images/{image['id']}")
    expected_keys = {
        "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo", "os_hash_value",
        "owner", "size", "virtual_size", "container_format", "disk_format", "created_at", "updated_at", "tags",
        "min_ram", "min_disk", "self", "file", "schema", "os_type",
    }
    assert set(image) == expected_keys
    assert image["status"] == "queued" and image["visibility"] == "shared"
    assert image["owner"] == admin.project_id
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["created_at"].endswith("Z")
    assert admin.show(image["id"]).json() == image


def test_bad_input_is_4xx_naming_the_field(admin: ImageClient) -> None:
    bad_format = admin.create(name="x", disk_format="floppy")
    assert bad_format.status_code == 400
    assert "disk_format" in bad_format.text and "qcow2" in bad_format.text
    assert admin.create(name="x", status="active").status_code == 403
    assert "Attribute 'status' is read-only." in admin.create(name="x", status="active").json()["message"]
    assert admin.create(name="x", os_glance_thing="1").status_code == 403
    assert admin.create(name="x", min_ram=-1).status_code == 400
    assert admin.create(name="x", extra=1).status_code == 400  # free-form properties are strings
    not_json = admin.http.post("/v2/images", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert admin.show("not-a-uuid").status_code == 404
    assert admin.show(str(uuid.uuid4())).status_code == 404
    assert "No image found with ID" in admin.show(str(uuid.uuid4())).json()["message"]


def test_errors_are_html_unless_json_is_asked_for(cloud: RunningCloud, admin: ImageClient) -> None:
    response = httpx.get(
        f"{cloud.base_url}/image/v2/images/{uuid.uuid4()}", headers={"X-Auth-Token": admin.http.headers["X-Auth-Token"]}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404 Not Found" in response.text


def test_patch_core_and_free_form_properties(admin: ImageClient) -> None:
    image = admin.create_ok(name="before")
    ops = [
        {"op": "replace", "path": "/name", "value": "after"},
        {"op": "add", "path": "/os_distro", "value": "rocky"},
        {"op": "add", "path": "/min_ram", "value": 512},
        {"op": "replace", "path": "/tags", "value": ["x", "y"]},
    ]
    patched = admin.patch(image["id"], ops)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["os_distro"], body["min_ram"], sorted(body["tags"])) == ("after", "rocky", 512, ["x", "y"])
    removed = admin.patch(image["id"], [{"op": "remove", "path": "/os_distro"}]).json()
    assert "os_distro" not in removed
    assert admin.patch(image["id"], [{"op": "remove", "path": "/os_distro"}]).status_code == 409
    assert admin.patch(image["id"], [{"op": "replace", "path": "/nothing", "value": "v"}]).status_code == 409
    assert admin.patch(image["id"], [{"op": "remove", "path": "/name"}]).status_code == 403


def test_patch_refusals(admin: ImageClient) -> None:
    image = admin.create_ok()
    read_only = admin.patch(image["id"], [{"op": "replace", "path": "/checksum", "value": "0" * 32}])
    assert read_only.status_code == 403
    assert read_only.json()["message"] == "Attribute 'checksum' is read-only."
    wrong_type = admin.patch(image["id"], [{"op": "replace", "path": "/name", "value": "x"}], "application/json")
    assert wrong_type.status_code == 415
    assert "openstack-images-v2.1-json-patch" in wrong_type.headers["Accept-Patch"]
    assert admin.patch(image["id"], [{"op": "move", "path": "/name"}]).status_code == 400
    assert admin.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "floppy"}]).status_code == 400
    assert admin.patch(image["id"], {"op": "replace"}).status_code == 400  # type: ignore[arg-type]
    assert admin.patch(image["id"], [{"op": "replace", "path": "/name/x", "value": "v"}]).status_code == 400


def test_formats_are_frozen_once_active(admin: ImageClient) -> None:
    image = admin.uploaded(b"data")
    response = admin.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
    assert response.status_code == 403
    assert "can be only replaced for a queued image" in response.text


def test_protected_image_cannot_be_deleted(admin: ImageClient) -> None:
    image = admin.create_ok(protected=True)
    response = admin.delete(image["id"])
    assert response.status_code == 403
    assert response.json()["message"] == f"Image {image['id']} is protected and cannot be deleted."
    admin.patch(image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert admin.delete(image["id"]).status_code == 204
    assert admin.show(image["id"]).status_code == 404


def test_tags(admin: ImageClient) -> None:
    image = admin.create_ok()
    assert admin.http.put(f"/v2/images/{image['id']}/tags/blue").status_code == 204
    assert admin.http.put(f"/v2/images/{image['id']}/tags/blue").status_code == 204
    assert admin.show(image["id"]).json()["tags"] == ["blue"]
    assert admin.http.delete(f"/v2/images/{image['id']}/tags/blue").status_code == 204
    assert admin.http.delete(f"/v2/images/{image['id']}/tags/blue").status_code == 404


# -- listing -------------------------------------------------------------------------------


def test_list_filters_sort_and_pages(member: ImageClient) -> None:
    marker = uuid.uuid4().hex[:8]
    made = [
        member.create_ok(name=f"{marker}-{i}", tags=[marker], os_flavor=f"f{i % 2}", min_disk=i, protected=i == 0)
        for i in range(5)
    ]
    listed = member.list(tag=marker, sort="name:asc").json()
    assert [i["name"] for i in listed["images"]] == [f"{marker}-{i}" for i in range(5)]
    assert listed["schema"] == "/v2/schemas/images"
    assert member.list(tag=marker, os_flavor="f1").json()["images"].__len__() == 2
    assert len(member.list(tag=marker, protected="true").json()["images"]) == 1
    assert len(member.list(name=f"in:{marker}-1,{marker}-2").json()["images"]) == 2
    assert member.list(tag=marker, sort_key="name", sort_dir="desc").json()["images"][0]["name"] == f"{marker}-4"

    seen, params = [], {"tag": marker, "limit": 2, "sort": "name:asc"}
    page = member.list(**params).json()
    assert page["first"].startswith("/v2/images?")
    while True:
        seen += [i["name"] for i in page["images"]]
        if "next" not in page:
            break
        page = member.http.get(page["next"]).json()
    assert seen == [f"{marker}-{i}" for i in range(5)]
    assert len(made) == 5


def test_list_rejects_bad_parameters(admin: ImageClient) -> None:
    assert admin.list(sort_key="bogus").status_code == 400
    assert admin.list(sort_dir="sideways").status_code == 400
    assert admin.list(limit="x").status_code == 400
    assert admin.list(visibility="everyone").status_code == 400
    assert admin.list(member_status="maybe").status_code == 400
    assert admin.list(protected="perhaps").status_code == 400
    assert admin.list(marker=str(uuid.uuid4())).status_code == 400
    assert admin.list(sort="name", sort_key="name").status_code == 400


def test_hidden_images_are_listed_only_on_request(member: ImageClient) -> None:
    image = member.create_ok(os_hidden=True)
    assert image["id"] not in [i["id"] for i in member.list(limit=1000).json()["images"]]
    assert image["id"] in [i["id"] for i in member.list(os_hidden="true").json()["images"]]


# -- visibility, policy and members ----------------------------------------------------------


def test_visibility_between_projects(admin: ImageClient, member: ImageClient, other_member: ImageClient) -> None:
    private = member.create_ok(visibility="private")
    community = member.create_ok(visibility="community")
    public = admin.create_ok(visibility="public")
    assert other_member.show(private["id"]).status_code == 404
    assert other_member.show(community["id"]).status_code == 200
    assert other_member.show(public["id"]).status_code == 200
    listed = [i["id"] for i in other_member.list(limit=1000).json()["images"]]
    assert public["id"] in listed and community["id"] not in listed and private["id"] not in listed
    assert community["id"] in [i["id"] for i in other_member.list(visibility="community").json()["images"]]
    assert other_member.delete(public["id"]).status_code == 403
    assert other_member.patch(public["id"], [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403


def test_only_admin_publicizes(member: ImageClient) -> None:
    refused = member.create(name="pub", disk_format="raw", container_format="bare", visibility="public")
    assert refused.status_code == 403
    assert "publicize_image" in refused.text
    image = member.create_ok()
    assert member.patch(image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 403
    assert member.patch(image["id"], [{"op": "replace", "path": "/visibility", "value": "community"}]).status_code == 200


def test_non_admin_cannot_create_for_another_owner(member: ImageClient, other_member: ImageClient) -> None:
    response = member.create(name="x", owner=other_member.project_id)
    assert response.status_code == 403


def test_members_flow(member: ImageClient, other_member: ImageClient) -> None:
    image = member.uploaded(b"shared bytes", visibility="shared")
    iid = image["id"]
    added = member.http.post(f"/v2/images/{iid}/members", json={"member": other_member.project_id})
    assert added.status_code == 200, added.text
    assert added.json()["status"] == "pending"
    assert added.json()["schema"] == "/v2/schemas/member"
    duplicate = member.http.post(f"/v2/images/{iid}/members", json={"member": other_member.project_id})
    assert duplicate.status_code == 409

    # Pending: visible by id, not in the default list, listed with member_status=pending.
    assert other_member.show(iid).status_code == 200
    assert iid not in [i["id"] for i in other_member.list(limit=1000).json()["images"]]
    assert iid in [i["id"] for i in other_member.list(member_status="pending").json()["images"]]

    # The owner cannot accept for the member; the member can.
    owner_try = member.http.put(f"/v2/images/{iid}/members/{other_member.project_id}", json={"status": "accepted"})
    assert owner_try.status_code == 403
    bad = other_member.http.put(f"/v2/images/{iid}/members/{other_member.project_id}", json={"status": "maybe"})
    assert bad.status_code == 400
    accepted = other_member.http.put(f"/v2/images/{iid}/members/{other_member.project_id}", json={"status": "accepted"})
    assert accepted.json()["status"] == "accepted"
    assert iid in [i["id"] for i in other_member.list(limit=1000).json()["images"]]
    assert other_member.download(iid).content == b"shared bytes"

    members = member.http.get(f"/v2/images/{iid}/members").json()
    assert members["schema"] == "/v2/schemas/members"
    assert [m["member_id"] for m in members["members"]] == [other_member.project_id]
    assert member.http.delete(f"/v2/images/{iid}/members/{other_member.project_id}").status_code == 204
    assert other_member.show(iid).status_code == 404


def test_members_only_for_shared_images(member: ImageClient) -> None:
    image = member.create_ok(visibility="private")
    response = member.http.post(f"/v2/images/{image['id']}/members", json={"member": "someone"})
    assert response.status_code == 403
    assert response.json()["message"] == "Only shared images have members."


# -- data ------------------------------------------------------------------------------------


def test_upload_download_checksums_and_ranges(admin: ImageClient) -> None:
    data = bytes(range(256)) * 4096
    image = admin.uploaded(data)
    assert image["status"] == "active"
    assert image["size"] == len(data) == image["virtual_size"]
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()

    full = admin.download(image["id"])
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["Content-MD5"] == image["checksum"]
    assert full.headers["Content-Type"] == "application/octet-stream"

    part = admin.download(image["id"], Range="bytes=10-19")
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, data[10:20], f"bytes 10-19/{len(data)}")
    assert admin.download(image["id"], Range="bytes=-5").content == data[-5:]
    assert admin.download(image["id"], Range=f"bytes={len(data) - 3}-").content == data[-3:]
    beyond = admin.download(image["id"], Range=f"bytes={len(data)}-")
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"


def test_second_upload_conflicts_and_queued_download_is_empty(admin: ImageClient) -> None:
    image = admin.create_ok()
    assert admin.download(image["id"]).status_code == 204
    assert admin.upload(image["id"], b"one").status_code == 204
    assert admin.upload(image["id"], b"two").status_code == 409


def test_upload_needs_formats(admin: ImageClient) -> None:
    image = admin.create(name="no formats").json()
    response = admin.upload(image["id"], b"x")
    assert response.status_code == 400
    assert "must be set prior to saving data" in response.text
    assert admin.show(image["id"]).json()["status"] == "queued"


def test_format_mismatch_is_refused_and_leaves_nothing(
    cloud: RunningCloud, admin: ImageClient, disk_images: dict[str, Path]
) -> None:
    image = admin.create_ok(disk_format="qcow2")
    before = set(store_files(cloud, "data"))
    response = admin.upload(image["id"], b"\0" * 100_000)
    assert response.status_code == 400
    assert "does not match" in response.json()["message"]
    after = admin.show(image["id"]).json()
    assert (after["status"], after["size"], after["checksum"]) == ("queued", None, None)
    assert set(store_files(cloud, "data")) == before
    assert store_files(cloud, "tmp") == []
    # The real thing then goes in.
    assert admin.upload(image["id"], disk_images["qcow2"].read_bytes()).status_code == 204
    assert admin.show(image["id"]).json()["virtual_size"] == 64 * 1024 * 1024


def test_qcow2_with_backing_file_is_refused(admin: ImageClient, disk_images: dict[str, Path]) -> None:
    image = admin.create_ok(disk_format="qcow2")
    response = admin.upload(image["id"], disk_images["with_backing"].read_bytes())
    assert response.status_code == 400
    assert "backing file" in response.json()["message"]
    assert admin.show(image["id"]).json()["status"] == "queued"


def test_deactivated_image_data_is_for_admins_only(admin: ImageClient, member: ImageClient) -> None:
    image = member.uploaded(b"bytes", visibility="shared")
    assert member.http.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    assert member.show(image["id"]).json()["status"] == "deactivated"
    assert member.download(image["id"]).status_code == 403
    assert admin.download(image["id"]).content == b"bytes"
    assert member.http.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 204
    assert member.download(image["id"]).content == b"bytes"
    queued = member.create_ok()
    assert member.http.post(f"/v2/images/{queued['id']}/actions/deactivate").status_code == 403


def test_delete_removes_data_unless_shared_by_content(cloud: RunningCloud, admin: ImageClient) -> None:
    data = uuid.uuid4().bytes * 1000
    first, second = admin.uploaded(data), admin.uploaded(data)
    key = hashlib.sha512(data).hexdigest()
    data_file = cloud.state_dir / "images" / "data" / key[:2] / key
    assert data_file.exists()
    admin.delete(first["id"])
    assert data_file.exists() and admin.download(second["id"]).content == data
    admin.delete(second["id"])
    assert not data_file.exists()


def test_client_that_leaves_mid_upload_leaves_a_queued_image(cloud: RunningCloud, admin: ImageClient) -> None:
    image = admin.create_ok()
    request = (
        f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Auth-Token: {admin.http.headers['X-Auth-Token']}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", cloud.port)) as conn:
        conn.sendall(request + b"x" * 3_000_000)  # promises 10 MB, sends 3, leaves
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while admin.show(image["id"]).json()["status"] != "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert admin.show(image["id"]).json()["status"] == "queued"
    assert store_files(cloud, "tmp") == []


def test_lost_data_is_a_204_not_a_broken_stream(cloud: RunningCloud, admin: ImageClient) -> None:
    data = uuid.uuid4().bytes * 100
    image = admin.uploaded(data)
    key = image["os_hash_value"]
    (cloud.state_dir / "images" / "data" / key[:2] / key).unlink()
    assert admin.download(image["id"]).status_code == 204
