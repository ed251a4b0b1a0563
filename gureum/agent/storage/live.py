"""Volume operations done by the QEMU that has the volume open, over its QMP monitor.

While a QEMU holds a qcow2 volume, nothing else may write it, and reads from outside
see stale data; its snapshots and its size change through that QEMU only.
"""

from __future__ import annotations

from typing import Any

from gureum.agent.hypervisor.qmp import QmpClient, QmpError
from gureum.agent.storage.base import LiveOwner, VolumeError


def _node(owner: LiveOwner) -> dict[str, Any]:
    with QmpClient(owner.qmp_socket) as qmp:
        for node in qmp.execute("query-named-block-nodes", {"flat": True}):
            if node.get("node-name") == owner.node_name:
                return node
    raise VolumeError(f"QEMU at {owner.qmp_socket} has no block node {owner.node_name}")


def image_info(owner: LiveOwner) -> dict[str, Any]:
    """The qcow2 image as its QEMU sees it: virtual-size, snapshots (qemu-img info's shape)."""
    return dict(_node(owner).get("image") or {})


def create_snapshot(owner: LiveOwner, name: str) -> None:
    _execute(owner, "blockdev-snapshot-internal-sync", {"device": owner.node_name, "name": name},
             f"could not take snapshot {name}")


def delete_snapshot(owner: LiveOwner, name: str) -> None:
    _execute(owner, "blockdev-snapshot-delete-internal-sync", {"device": owner.node_name, "name": name},
             f"could not delete snapshot {name}")


def resize(owner: LiveOwner, size_bytes: int) -> None:
    _execute(owner, "block_resize", {"node-name": owner.node_name, "size": size_bytes},
             "could not grow the attached volume")


def _execute(owner: LiveOwner, command: str, arguments: dict[str, Any], failure: str) -> Any:
    try:
        with QmpClient(owner.qmp_socket) as qmp:
            return qmp.execute(command, arguments)
    except (OSError, QmpError) as exc:
        raise VolumeError(f"{failure}: {exc}") from exc
