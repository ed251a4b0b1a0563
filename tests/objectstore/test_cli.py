"""The user's walk through the real `openstack` CLI: container and object commands over the catalog."""

from __future__ import annotations

import os
from pathlib import Path

from gureum.testing import RunningCloud
from tests.objectstore.conftest import SwiftUser, unique


def test_openstack_cli_walk(os_cloud: RunningCloud, owner: SwiftUser, tmp_path: Path) -> None:
    env = os_cloud.env_for(owner.name, owner.password, owner.project)
    container = unique("backups")
    data = os.urandom(300_000)
    (tmp_path / "db.tar.gz").write_bytes(data)
    made = os_cloud.openstack_json("container", "create", container, env=env)
    assert made[0]["container"] == container
    os_cloud.openstack("container", "set", "--property", "team=ops", container, env=env)
    shown = os_cloud.openstack_json("container", "show", container, env=env)
    assert shown["properties"] == {"Team": "ops"} or shown["properties"] == {"team": "ops"}
    os.chdir(tmp_path)
    created = os_cloud.openstack_json("object", "create", container, "db.tar.gz", env=env)
    assert created[0]["object"] == "db.tar.gz"
    listed = os_cloud.openstack_json("object", "list", container, env=env)
    assert [row["Name"] for row in listed] == ["db.tar.gz"]
    os_cloud.openstack("object", "save", "--file", str(tmp_path / "back"), container, "db.tar.gz", env=env)
    assert (tmp_path / "back").read_bytes() == data
    show = os_cloud.openstack_json("object", "show", container, "db.tar.gz", env=env)
    assert int(show["content-length"]) == len(data)
    account = os_cloud.openstack_json("object", "store", "account", "show", env=env)
    assert account["Account"] == f"AUTH_{owner.project_id}"
    os_cloud.openstack("object", "delete", container, "db.tar.gz", env=env)
    assert os_cloud.openstack_json("object", "list", container, env=env) == []
    os_cloud.openstack("container", "delete", container, env=env)
    assert container not in [c["Name"] for c in os_cloud.openstack_json("container", "list", env=env)]
