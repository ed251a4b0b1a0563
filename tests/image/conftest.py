"""Image test helpers: an HTTP client per user on the real cloud, and real disk images."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gureum.image.quota import DEFAULT_LIMITS
from gureum.testing import RunningCloud

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


@dataclass
class ImageClient:
    """Glance v2 over HTTP as one user; returns httpx responses, asserts nothing."""

    http: httpx.Client
    project_id: str

    def create(self, **fields: Any) -> httpx.Response:
        return self.http.post("/v2/images", json=fields)

    def create_ok(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"img-{uuid.uuid4().hex[:8]}")
        fields.setdefault("disk_format", "raw")
        fields.setdefault("container_format", "bare")
        response = self.create(**fields)
        assert response.status_code == 201, response.text
        return response.json()

    def show(self, image_id: str) -> httpx.Response:
        return self.http.get(f"/v2/images/{image_id}")

    def patch(self, image_id: str, ops: list[dict[str, Any]], content_type: str = PATCH_TYPE) -> httpx.Response:
        return self.http.patch(f"/v2/images/{image_id}", json=ops, headers={"Content-Type": content_type})

    def upload(self, image_id: str, data: Any, **headers: str) -> httpx.Response:
        return self.http.put(
            f"/v2/images/{image_id}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream", **headers},
        )

    def stage(self, image_id: str, data: Any) -> httpx.Response:
        return self.http.put(
            f"/v2/images/{image_id}/stage", content=data, headers={"Content-Type": "application/octet-stream"}
        )

    def download(self, image_id: str, **headers: str) -> httpx.Response:
        return self.http.get(f"/v2/images/{image_id}/file", headers=headers)

    def delete(self, image_id: str) -> httpx.Response:
        return self.http.delete(f"/v2/images/{image_id}")

    def list(self, **params: Any) -> httpx.Response:
        return self.http.get("/v2/images", params=params)

    def uploaded(self, data: bytes, **fields: Any) -> dict[str, Any]:
        image = self.create_ok(**fields)
        response = self.upload(image["id"], data)
        assert response.status_code == 204, response.text
        return self.show(image["id"]).json()


def _project_id(cloud: RunningCloud, token: str) -> str:
    response = httpx.get(
        f"{cloud.auth_url}/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=30
    )
    response.raise_for_status()
    return response.json()["token"]["project"]["id"]


def client_for(cloud: RunningCloud, username: str, password: str, project: str) -> ImageClient:
    token = cloud.token(username, password, project)
    http = httpx.Client(
        base_url=f"{cloud.base_url}/image",
        headers={"X-Auth-Token": token, "Accept": "application/json"},
        timeout=120,
    )
    return ImageClient(http, _project_id(cloud, token))


@pytest.fixture(scope="session")
def admin(cloud: RunningCloud) -> Iterator[ImageClient]:
    client = client_for(cloud, "admin", cloud.admin_password, "admin")
    yield client
    client.http.close()


def identity_admin(cloud: RunningCloud) -> httpx.Client:
    return httpx.Client(base_url=f"{cloud.auth_url}", headers={"X-Auth-Token": cloud.token()}, timeout=60)


def new_member(cloud: RunningCloud) -> tuple[ImageClient, dict[str, str]]:
    """A fresh user with the member role on a fresh project: (HTTP client, CLI env).

    Made through the identity API (the CLI would cost seconds per call); the image
    tests that are about the CLI still drive the CLI for everything they check.
    """
    project, user, password = f"proj-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with identity_admin(cloud) as keystone:
        project_id = keystone.post("/projects", json={"project": {"name": project, "domain_id": "default"}})
        project_id.raise_for_status()
        pid = project_id.json()["project"]["id"]
        made = keystone.post("/users", json={"user": {"name": user, "password": password, "domain_id": "default",
                                                      "default_project_id": pid}})
        made.raise_for_status()
        uid = made.json()["user"]["id"]
        role = keystone.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]
        keystone.put(f"/projects/{pid}/users/{uid}/roles/{role}").raise_for_status()
    return client_for(cloud, user, password, project), cloud.env_for(user, password, project)


def set_project_limit(cloud: RunningCloud, project_id: str, resource: str, limit: int) -> None:
    """A unified limit for one project (keystone needs a registered limit first)."""
    with identity_admin(cloud) as keystone:
        services = keystone.get("/services", params={"type": "image"}).json()["services"]
        service_id = services[0]["id"]
        registered = keystone.get(
            "/registered_limits", params={"service_id": service_id, "resource_name": resource}
        ).json()["registered_limits"]
        if not registered:
            keystone.post("/registered_limits", json={"registered_limits": [{
                "service_id": service_id, "resource_name": resource, "default_limit": DEFAULT_LIMITS[resource],
                "region_id": "RegionOne"}]}).raise_for_status()
        keystone.post("/limits", json={"limits": [{
            "service_id": service_id, "project_id": project_id, "resource_name": resource,
            "resource_limit": limit, "region_id": "RegionOne"}]}).raise_for_status()


@pytest.fixture
def member(cloud: RunningCloud) -> Iterator[ImageClient]:
    client, _env = new_member(cloud)
    yield client
    client.http.close()


@pytest.fixture
def other_member(cloud: RunningCloud) -> Iterator[ImageClient]:
    client, _env = new_member(cloud)
    yield client
    client.http.close()


def qemu_img(*args: str) -> None:
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is missing: scripts/install installs qemu-utils (scripts/packages/image.txt)")
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def disk_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real images made by qemu-img, good and hostile."""
    root = tmp_path_factory.mktemp("disk-images")
    made = {
        "qcow2": root / "good.qcow2",
        "backing": root / "base.qcow2",
        "with_backing": root / "child.qcow2",
        "with_data_file": root / "datafile.qcow2",
        "vmdk": root / "disk.vmdk",
        "vmdk_flat": root / "flat.vmdk",
        "vhd": root / "disk.vhd",
        "vdi": root / "disk.vdi",
        "vhdx": root / "disk.vhdx",
    }
    qemu_img("create", "-f", "qcow2", str(made["qcow2"]), "64M")
    qemu_img("create", "-f", "qcow2", str(made["backing"]), "64M")
    qemu_img("create", "-f", "qcow2", "-F", "qcow2", "-b", str(made["backing"]), str(made["with_backing"]))
    qemu_img(
        "create", "-f", "qcow2", "-o", f"data_file={root / 'datafile.raw'},data_file_raw=on",
        str(made["with_data_file"]), "16M",
    )
    qemu_img("create", "-f", "vmdk", str(made["vmdk"]), "32M")
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(made["vmdk_flat"]), "1M")
    qemu_img("create", "-f", "vpc", str(made["vhd"]), "32M")
    qemu_img("create", "-f", "vdi", str(made["vdi"]), "32M")
    qemu_img("create", "-f", "vhdx", str(made["vhdx"]), "8M")
    return made
