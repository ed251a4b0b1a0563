"""The image service in-process: what compute will call, and start-up recovery."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.http.context import RequestContext
from gureum.http.errors import NotFound, PayloadTooLarge
from gureum.image.models import Image
from gureum.image.service import ImageDataRefused

PROJECT = "p" * 32
DEAD_LOCAL_HOLDER = f"{socket.gethostname()}:999999999:1"
OTHER_HOST_HOLDER = "another-controller.example:1234:5678"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    yield cloud
    cloud.image.stop()
    cloud.close()


def ctx(project_id: str = PROJECT, roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
    return RequestContext(
        user_id="u", user_name="u", user_domain_id="default", user_domain_name="Default",
        roles=roles, project_id=project_id,
    )


def test_register_image_from_file_and_find_its_data(cloud: Cloud, tmp_path: Path) -> None:
    source = tmp_path / "disk.raw"
    source.write_bytes(b"\1" * 100_000)
    image = cloud.image.register_image_from_file(
        PROJECT, source, name="seeded", disk_format="raw", properties={"os_type": "linux"}
    )
    assert (image["status"], image["owner"], image["visibility"]) == ("active", PROJECT, "private")
    assert image["checksum"] == hashlib.md5(source.read_bytes()).hexdigest()
    path = cloud.image.image_data_path(image["id"])
    assert path.read_bytes() == source.read_bytes()
    view, boot_path = cloud.image.image_for_server(ctx(), image["id"])
    assert view["os_type"] == "linux" and boot_path == path
    with pytest.raises(NotFound):
        cloud.image.image_for_server(ctx("q" * 32), image["id"])


def test_register_refuses_bad_data_and_leaves_nothing(cloud: Cloud, tmp_path: Path) -> None:
    source = tmp_path / "not.qcow2"
    source.write_bytes(b"\0" * 10_000)
    with pytest.raises(ImageDataRefused):
        cloud.image.register_image_from_file(PROJECT, source, name="bad", disk_format="qcow2")
    images, _ = cloud.image.list_images(ctx(), [])
    assert images == []
    assert list(cloud.image.store.tmp_dir.iterdir()) == []


def test_register_counts_against_quota(cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud.identity, "limit_for", lambda project, service, resource: 0)
    source = tmp_path / "disk.raw"
    source.write_bytes(b"x")
    with pytest.raises(PayloadTooLarge, match="image_count_total is over limit of 0"):
        cloud.image.register_image_from_file(PROJECT, source, name="x", disk_format="raw")


def test_missing_limits_fall_back_to_non_zero_defaults(cloud: Cloud) -> None:
    usage = cloud.image.usage(ctx())["usage"]
    assert usage["image_count_total"]["limit"] == 1000
    assert usage["image_size_total"]["limit"] == 1048576
    assert all(entry["limit"] > 0 for entry in usage.values())


def test_start_recovers_transfers_of_dead_processes(cloud: Cloud) -> None:
    def claimed(name: str, status: str, holder: str) -> str:
        image = cloud.image.create_image(ctx(), {"name": name, "disk_format": "raw", "container_format": "bare"})
        with cloud.db.session() as s:
            s.execute(update(Image).where(Image.id == image["id"]).values(status=status, transfer_holder=holder))
        return image["id"]

    saving = claimed("s", "saving", DEAD_LOCAL_HOLDER)
    importing = claimed("i", "importing", DEAD_LOCAL_HOLDER)
    elsewhere = claimed("e", "saving", OTHER_HOST_HOLDER)
    (cloud.image.store.tmp_dir / f"{DEAD_LOCAL_HOLDER}+abc.part").write_bytes(b"half an image")
    live = cloud.image.store.new_writer(cloud.image.holder)

    cloud.image.start()

    assert cloud.image.get_image(ctx(), saving)["status"] == "queued"
    recovered = cloud.image.get_image(ctx(), importing)
    assert recovered["status"] == "queued"
    assert recovered["os_glance_failed_import"] == "file"
    # Another controller's transfer is that controller's to judge.
    assert cloud.image.get_image(ctx(), elsewhere)["status"] == "saving"
    assert [p.name for p in cloud.image.store.tmp_dir.iterdir()] == [live.path.name]
    live.abort()
