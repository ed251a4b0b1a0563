"""The real `openstack` CLI against gureum's image API, as the seed's operators used it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from gureum.testing import RunningCloud
from tests.image.conftest import new_member


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_seed_image_create_then_list_show_save_set_delete(
    cloud: RunningCloud, disk_images: dict[str, Path], tmp_path: Path
) -> None:
    name = f"Rocky Linux 9 Generic Cloud {uuid.uuid4().hex[:6]}"
    qcow2 = disk_images["qcow2"]
    created = cloud.openstack_json(
        "image", "create", name, "--file", str(qcow2), "--disk-format", "qcow2", "--container-format", "bare",
        "--public", "--property", "os_type=linux", "--property", "architecture=x86_64",
        "--property", "hypervisor_type=kvm",
    )
    assert created["status"] == "active"
    assert created["visibility"] == "public"
    assert created["checksum"] == hashlib.md5(qcow2.read_bytes()).hexdigest()
    assert created["virtual_size"] == 64 * 1024 * 1024
    assert created["properties"]["os_type"] == "linux"

    listed = cloud.openstack_json("image", "list")
    assert {"ID": created["id"], "Name": name, "Status": "active"} in listed

    saved = tmp_path / "saved.qcow2"
    cloud.openstack("image", "save", "--file", str(saved), name)
    assert saved.read_bytes() == qcow2.read_bytes()

    cloud.openstack("image", "set", "--property", "hw_disk_bus=virtio", "--tag", "cli", "--min-ram", "256", name)
    cloud.openstack("image", "unset", "--property", "hypervisor_type", name)
    shown = cloud.openstack_json("image", "show", name)
    assert shown["properties"]["hw_disk_bus"] == "virtio"
    assert "hypervisor_type" not in shown["properties"]
    assert shown["tags"] == ["cli"] and shown["min_ram"] == 256

    cloud.openstack("image", "set", "--protected", name)
    refused = cloud.openstack("image", "delete", name, check=False)
    assert refused.returncode != 0
    cloud.openstack("image", "set", "--unprotected", name)
    cloud.openstack("image", "delete", name)
    assert name not in [i["Name"] for i in cloud.openstack_json("image", "list")]


def test_format_mismatch_and_backing_file_refused(
    cloud: RunningCloud, disk_images: dict[str, Path], tmp_path: Path
) -> None:
    not_qcow2 = tmp_path / "random.bin"
    not_qcow2.write_bytes(uuid.uuid4().bytes * 10_000)
    name = unique("mismatch")
    result = cloud.openstack(
        "image", "create", name, "--file", str(not_qcow2), "--disk-format", "qcow2", "--container-format", "bare",
        check=False,
    )
    assert result.returncode != 0
    assert "Image disk_format qcow2 does not match stream data raw" in result.stderr

    name = unique("backing")
    result = cloud.openstack(
        "image", "create", name, "--file", str(disk_images["with_backing"]), "--disk-format", "qcow2",
        "--container-format", "bare", check=False,
    )
    assert result.returncode != 0
    assert "backing file" in result.stderr
    # The SDK deletes what it could not fill; nothing half-made is left behind.
    assert name not in [i["Name"] for i in cloud.openstack_json("image", "list")]


def test_non_admin_cannot_create_public_images(cloud: RunningCloud, disk_images: dict[str, Path]) -> None:
    _client, env = new_member(cloud)
    name = unique("public-try")
    result = cloud.openstack(
        "image", "create", name, "--file", str(disk_images["qcow2"]), "--disk-format", "qcow2",
        "--container-format", "bare", "--public", env=env, check=False,
    )
    assert result.returncode != 0
    assert "403" in result.stderr and "publicize_image" in result.stderr
    shared = cloud.openstack_json(
        "image", "create", unique("mine"), "--file", str(disk_images["qcow2"]), "--disk-format", "qcow2",
        "--container-format", "bare", env=env,
    )
    assert shared["status"] == "active"


def test_members_flow_with_the_cli(cloud: RunningCloud, disk_images: dict[str, Path]) -> None:
    _owner_client, owner_env = new_member(cloud)
    consumer_client, consumer_env = new_member(cloud)
    name = unique("shared")
    image = cloud.openstack_json(
        "image", "create", name, "--file", str(disk_images["qcow2"]), "--disk-format", "qcow2",
        "--container-format", "bare", "--shared", env=owner_env,
    )
    consumer_project = consumer_env["OS_PROJECT_NAME"]
    membership = cloud.openstack_json(
        "image", "add", "project", image["id"], consumer_client.project_id, env=owner_env
    )
    assert membership["status"] == "pending"
    assert image["id"] not in [i["ID"] for i in cloud.openstack_json("image", "list", env=consumer_env)]

    cloud.openstack("image", "set", "--accept", image["id"], env=consumer_env)
    assert image["id"] in [i["ID"] for i in cloud.openstack_json("image", "list", env=consumer_env)]
    members = cloud.openstack_json("image", "member", "list", image["id"], env=owner_env)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(consumer_client.project_id, "accepted")]

    cloud.openstack("image", "remove", "project", image["id"], consumer_client.project_id, env=owner_env)
    assert image["id"] not in [i["ID"] for i in cloud.openstack_json("image", "list", env=consumer_env)]
    assert consumer_project


def test_glance_direct_import_with_the_cli(cloud: RunningCloud, disk_images: dict[str, Path]) -> None:
    name = unique("imported")
    cloud.openstack(
        "image", "create", name, "--import", "--file", str(disk_images["qcow2"]), "--disk-format", "qcow2",
        "--container-format", "bare",
    )
    shown = wait_for_status(cloud, name, "active")
    assert shown["checksum"] == hashlib.md5(disk_images["qcow2"].read_bytes()).hexdigest()


def wait_for_status(cloud: RunningCloud, name: str, status: str, env: dict[str, str] | None = None) -> dict:
    import time

    deadline = time.monotonic() + 60
    while True:
        shown = cloud.openstack_json("image", "show", name, env=env)
        if shown["status"] == status or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert shown["status"] == status, shown
    return shown


def ensure_registered_limit(cloud: RunningCloud, resource: str, default: int) -> None:
    """Keystone wants a registered limit before a project limit; other tests share this cloud."""
    existing = cloud.openstack_json("registered", "limit", "list", "--service", "glance", "--resource-name", resource)
    if not existing:
        cloud.openstack(
            "registered", "limit", "create", "--service", "glance", "--default-limit", str(default), resource
        )


@pytest.mark.parametrize("resource", ["image_count_total"])
def test_quota_exceeded_is_glances_413(cloud: RunningCloud, resource: str) -> None:
    client, env = new_member(cloud)
    ensure_registered_limit(cloud, resource, 1000)
    cloud.openstack(
        "limit", "create", "--service", "glance", "--project", env["OS_PROJECT_NAME"], "--resource-limit", "1",
        resource,
    )
    cloud.openstack("image", "create", unique("first"), "--disk-format", "raw", "--container-format", "bare", env=env)
    result = cloud.openstack(
        "image", "create", unique("second"), "--disk-format", "raw", "--container-format", "bare", env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "413" in result.stderr
    expected = (
        f"Project {client.project_id} is over a limit for "
        "[Resource image_count_total is over limit of 1 due to current usage 1 and delta 1]"
    )
    assert expected in result.stderr
