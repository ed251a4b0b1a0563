"""Nova's images proxy (/v2.1/images) over gureum's own image service."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from gureum.testing import RunningCloud, wait_for, wait_for_compute
from tests.compute.nova_api import call, token, user_token
from tests.conftest import unique


def _glance(cloud: RunningCloud, method: str, path: str, body: Any = None, auth: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{cloud.base_url}/image/v2{path}", data=data, method=method)
    request.add_header("X-Auth-Token", auth or token(cloud))
    if data is not None:
        request.add_header("Content-Type", "application/openstack-images-v2.1-json-patch" if method == "PATCH"
                           else "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def _image(cloud: RunningCloud, **extra: Any) -> dict[str, Any]:
    return _glance(cloud, "POST", "/images", {"name": unique("img"), "disk_format": "qcow2",
                                              "container_format": "bare", **extra})


def test_show_list_and_delete(cloud: RunningCloud) -> None:
    server_id = "3c5e1f38-2ed1-4c5e-9d38-6d4a6f0e7a11"
    image = _image(cloud, min_ram=64, min_disk=2, instance_uuid=server_id, auto_disk_config="True", flavor="big")
    shown = call(cloud, "GET", f"/images/{image['id']}")
    assert shown.status == 200
    body = shown.body["image"]
    assert body["id"] == image["id"] and body["name"] == image["name"]
    assert (body["minRam"], body["minDisk"], body["status"], body["progress"]) == (64, 2, "SAVING", 25)
    assert body["metadata"] == {"instance_uuid": server_id, "auto_disk_config": "True", "flavor": "big"}
    assert body["server"]["id"] == server_id and body["OS-DCF:diskConfig"] == "AUTO"
    assert body["OS-EXT-IMG-SIZE:size"] is None and body["created"].endswith("Z")
    rels = [link["rel"] for link in body["links"]]
    assert rels == ["self", "bookmark", "alternate"]
    assert body["links"][2]["href"].endswith(f"/image/images/{image['id']}")
    # Every key glance gives an image without properties is an attribute, not metadata.
    plain = _image(cloud)
    assert call(cloud, "GET", f"/images/{plain['id']}/metadata").body == {"metadata": {}}

    listed = call(cloud, "GET", "/images").body["images"]
    entry = next(i for i in listed if i["id"] == image["id"])
    assert set(entry) == {"id", "name", "links"}
    detailed = call(cloud, "GET", "/images/detail?server=" + server_id).body["images"]
    assert [i["id"] for i in detailed] == [image["id"]]
    assert [i["id"] for i in call(cloud, "GET", "/images/detail?property-flavor=big&minRam=64").body["images"]] \
        == [image["id"]]
    assert image["id"] not in [i["id"] for i in call(cloud, "GET", "/images?minRam=65").body["images"]]
    assert call(cloud, "GET", f"/images?name={plain['name']}").body["images"][0]["id"] == plain["id"]
    page = call(cloud, "GET", "/images?limit=1").body
    assert len(page["images"]) == 1 and "marker=" in page["images_links"][0]["href"]
    after = call(cloud, "GET", f"/images?limit=1&marker={page['images'][0]['id']}").body["images"]
    assert after and after[0]["id"] != page["images"][0]["id"]

    for bad in ("/images?limit=x", "/images?minRam=-1", "/images?marker=nope"):
        assert call(cloud, "GET", bad).status == 400, bad
    assert call(cloud, "DELETE", f"/images/{image['id']}").status == 204
    gone = call(cloud, "GET", f"/images/{image['id']}")
    assert gone.status == 404 and gone.fault()["message"] == "Image not found."
    assert call(cloud, "DELETE", f"/images/{image['id']}").status == 404
    assert call(cloud, "GET", "/images/not-an-id").status == 404
    # Above 2.35 the proxy is gone, as in Nova.
    assert call(cloud, "GET", f"/images/{plain['id']}", version="2.36").status == 404
    assert call(cloud, "GET", f"/images/{plain['id']}/metadata", version="2.38").status == 200
    assert call(cloud, "GET", f"/images/{plain['id']}/metadata", version="2.39").status == 404


def test_protected_and_foreign_images(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    protected = _image(cloud, protected=True, visibility="public")
    answer = call(cloud, "DELETE", f"/images/{protected['id']}")
    assert answer.status == 403
    private = _image(cloud, visibility="private")
    member = user_token(cloud, member_env)
    assert call(cloud, "GET", f"/images/{private['id']}", auth=member).status == 404
    assert call(cloud, "GET", f"/images/{protected['id']}", auth=member).status == 200
    refused = call(cloud, "POST", f"/images/{protected['id']}/metadata", {"metadata": {"a": "b"}}, auth=member)
    assert refused.status == 403
    _glance(cloud, "PATCH", f"/images/{protected['id']}", [{"op": "replace", "path": "/protected", "value": False}])
    assert call(cloud, "DELETE", f"/images/{protected['id']}").status == 204


def test_metadata(cloud: RunningCloud) -> None:
    image = _image(cloud, os_distro="cirros")
    base = f"/images/{image['id']}/metadata"
    assert call(cloud, "GET", base).body == {"metadata": {"os_distro": "cirros"}}
    merged = call(cloud, "POST", base, {"metadata": {"a": "1", "os_distro": "debian"}})
    assert merged.status == 200 and merged.body == {"metadata": {"os_distro": "debian", "a": "1"}}
    replaced = call(cloud, "PUT", base, {"metadata": {"b": "2"}})
    assert replaced.body == {"metadata": {"b": "2"}}
    assert call(cloud, "GET", base).body == {"metadata": {"b": "2"}}
    assert call(cloud, "GET", f"{base}/b").body == {"meta": {"b": "2"}}
    assert call(cloud, "GET", f"{base}/a").status == 404
    assert call(cloud, "PUT", f"{base}/c", {"meta": {"c": "3"}}).body == {"meta": {"c": "3"}}
    assert call(cloud, "GET", base).body == {"metadata": {"b": "2", "c": "3"}}
    assert call(cloud, "DELETE", f"{base}/b").status == 204
    assert call(cloud, "DELETE", f"{base}/b").status == 404
    assert call(cloud, "GET", base).body == {"metadata": {"c": "3"}}
    # The glance side sees the same properties.
    glance = _glance(cloud, "GET", f"/images/{image['id']}")
    assert glance["c"] == "3" and "b" not in glance and "os_distro" not in glance

    for method, path, body in (
        ("PUT", f"{base}/c", {"meta": {"d": "4"}}),  # body and URI mismatch
        ("PUT", f"{base}/c", {"meta": {"c": "1", "d": "4"}}),
        ("PUT", f"{base}/c", {"meta": {"c": 5}}),
        ("POST", base, {"metadata": ["x"]}),
        ("POST", base, {"meta": {"a": "1"}}),
        ("POST", base, {"metadata": {"name": "renamed"}}),  # an attribute, not metadata
        ("POST", base, {"metadata": {"": "empty key"}}),
        ("PUT", base, None),
    ):
        answer = call(cloud, method, path, body)
        assert answer.status == 400, (method, path, body, answer.body)
    assert call(cloud, "GET", f"/images/{image['id']}").body["image"]["name"] == image["name"]
    missing = "/images/3c5e1f38-0000-4c5e-9d38-6d4a6f0e7a11/metadata"
    assert call(cloud, "GET", missing).status == 404
    assert call(cloud, "POST", missing, {"metadata": {"a": "b"}}).status == 404
    project = cloud.openstack_json("project", "show", "admin")["id"]
    cloud.openstack("quota", "set", "--properties", "2", project)
    try:
        over = call(cloud, "POST", base, {"metadata": {"x": "1", "y": "2"}})
        assert over.status == 403 and "limit exceeded" in over.fault()["message"]
    finally:
        cloud.openstack("quota", "set", "--properties", "128", project)


def test_blank_id_is_404(cloud: RunningCloud) -> None:
    assert call(cloud, "DELETE", "/images/").status == 404
    assert call(cloud, "DELETE", "/images").status == 404


def test_snapshot_through_the_proxy(cloud: RunningCloud) -> None:
    """createImage with the caller's metadata (over the snapshot's own), then the snapshot in /v2.1/images."""
    wait_for_compute(cloud)
    name = unique("snapvm")
    server = cloud.openstack_json("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", "--nic", "none",
                                  "--wait", name)
    action = f"/servers/{server['id']}/action"
    for metadata in ({"": "empty key"}, {"a" * 256: "b"}, {"k": 5}, ["x"], {"visibility": "public"}):
        answer = call(cloud, "POST", action, {"createImage": {"name": "bad", "metadata": metadata}})
        assert answer.status == 400, (metadata, answer.body)
    snap = unique("snap")
    made = call(cloud, "POST", action, {"createImage": {"name": snap, "metadata": {"image_type": "test", "k": "v"}}})
    assert made.status == 202
    location = next(v for k, v in made.headers.items() if k.lower() == "location")
    image_id = location.rsplit("/", 1)[-1]
    wait_for(lambda: call(cloud, "GET", f"/images/{image_id}").body["image"]["status"] == "ACTIVE", 120, 1,
             "the snapshot ACTIVE in the images proxy")
    image = call(cloud, "GET", f"/images/{image_id}").body["image"]
    assert image["name"] == snap and image["progress"] == 100 and image["OS-EXT-IMG-SIZE:size"] > 0
    assert image["metadata"]["image_type"] == "test" and image["metadata"]["k"] == "v"
    assert image["server"]["id"] == server["id"]
    filtered = call(cloud, "GET", f"/images/detail?server={server['id']}&type=test").body["images"]
    assert [i["id"] for i in filtered] == [image_id]
    wait_for(lambda: cloud.openstack_json("server", "show", name)["OS-EXT-STS:task_state"] is None, 60, 1,
             "the snapshot task to end")
    cloud.openstack("server", "delete", "--wait", name)
    assert call(cloud, "DELETE", f"/images/{image_id}").status == 204
