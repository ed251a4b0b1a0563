"""The unchanged `openstack` CLI (cinderclient and openstacksdk paths) against gureum's block storage."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gureum.testing import RunningCloud, wait_for
from tests.conftest import unique


def status_of(cloud: RunningCloud, name: str, env: dict[str, str] | None = None) -> str:
    return cloud.openstack_json("volume", "show", name, env=env)["status"]


def test_volume_walk_create_snapshot_clone_set_delete(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    name, snap, clone = unique("data"), unique("snap"), unique("clone")
    created = cloud.openstack_json("volume", "create", "--size", "1", "--property", "tier=gold", name, env=member_env)
    assert created["size"] == 1 and created["name"] == name
    wait_for(lambda: status_of(cloud, name, member_env) == "available", 60, what="volume available")
    listed = cloud.openstack_json("volume", "list", env=member_env)
    assert [v["Name"] for v in listed] == [name]
    cloud.openstack("volume", "set", "--name", name + "-r", "--description", "about", "--property", "k=v",
                    "--bootable", name, env=member_env)
    name += "-r"
    shown = cloud.openstack_json("volume", "show", name, env=member_env)
    assert shown["description"] == "about" and shown["bootable"] is True
    assert json.dumps(shown["properties"]).count("gold") == 1
    cloud.openstack("volume", "snapshot", "create", "--volume", name, snap, env=member_env)
    wait_for(lambda: cloud.openstack_json("volume", "snapshot", "show", snap, env=member_env)["status"] == "available",
             60, what="snapshot available")
    cloud.openstack("volume", "create", "--snapshot", snap, clone, env=member_env)
    wait_for(lambda: status_of(cloud, clone, member_env) == "available", 60, what="clone available")
    cloud.openstack("volume", "set", "--size", "2", name, env=member_env)
    assert cloud.openstack_json("volume", "show", name, env=member_env)["size"] == 2
    failed = cloud.openstack("volume", "delete", name, env=member_env, check=False)
    assert failed.returncode != 0 and "dependent snapshots" in failed.stderr
    cloud.openstack("volume", "delete", clone, env=member_env)
    cloud.openstack("volume", "delete", "--purge", name, env=member_env)
    wait_for(lambda: cloud.openstack_json("volume", "list", env=member_env) == [], 60, what="volumes gone")


def test_summary_types_transfer_and_quota(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    name = unique("moving")
    cloud.openstack("volume", "create", "--size", "1", name, env=member_env)
    summary = cloud.openstack_json("volume", "summary", env=member_env)
    assert summary["Total Count"] == 1 and summary["Total Size"] == 1
    types = cloud.openstack_json("volume", "type", "list")
    assert "__DEFAULT__" in [t["Name"] for t in types]
    vtype = unique("fast")
    cloud.openstack("volume", "type", "create", "--property", "speed=fast", vtype)
    assert cloud.openstack_json("volume", "type", "show", vtype)["properties"] == {"speed": "fast"}
    cloud.openstack("volume", "type", "delete", vtype)
    request = cloud.openstack_json("volume", "transfer", "request", "create", name, env=member_env)
    assert status_of(cloud, name, member_env) == "awaiting-transfer"
    cloud.openstack("volume", "transfer", "request", "accept", "--auth-key", request["auth_key"], request["id"])
    assert cloud.openstack_json("volume", "show", name)["status"] == "available"
    project = member_env["OS_PROJECT_NAME"]
    cloud.openstack("quota", "set", "--volumes", "0", "--gigabytes", "5", project)
    shown = cloud.openstack_json("quota", "show", project)
    if isinstance(shown, list):  # OSC 10 prints one row per resource
        shown = {row["Resource"]: row["Limit"] for row in shown}
    assert shown["volumes"] == 0 and shown["gigabytes"] == 5
    refused = cloud.openstack("volume", "create", "--size", "1", unique("over"), env=member_env, check=False)
    assert refused.returncode != 0 and "VolumeLimitExceeded" in refused.stderr
    cloud.openstack("volume", "delete", name)


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_errors_and_versions_in_cinder_format(cloud: RunningCloud) -> None:
    token = {"X-Auth-Token": cloud.token()}
    status, body = _get(f"{cloud.base_url}/volume/v3/volumes", {**token, "OpenStack-API-Version": "volume 3.99"})
    assert status == 406 and body["computeFault"]["code"] == 406
    status, body = _get(f"{cloud.base_url}/volume/v3/volumes/nope", token)
    assert (status, body) == (404, {"itemNotFound": {"code": 404, "message": "Volume nope could not be found."}})
    status, body = _get(f"{cloud.base_url}/volume/v3", {})
    assert status == 200 and body["versions"][0]["version"] == "3.71"
