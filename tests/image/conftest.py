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


def new_member(cloud: RunningCloud) -> tuple[ImageClient, dict[str, str]]:
    """A fresh user with the member role on a fresh project: (HTTP client, CLI env)."""
    project, user, password = f"proj-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    return client_for(cloud, user, password, project), cloud.env_for(user, password, project)


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
