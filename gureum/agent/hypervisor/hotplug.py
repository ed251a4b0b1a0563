"""Volumes in and out of a running QEMU over QMP, level-triggered.

A = the disks the guest must have; O = its `volume-<id>` devices (query-block).
A−O: object-add (TLS-PSK, secrets), blockdev-add, device_add. O−A: device_del,
wait for that device's DEVICE_DELETED, then blockdev-del; without the event the
unplug is pending (the guest decides), retried next pass. Block nodes left
without a device (an agent that died between the two steps) are removed.
Every step first looks at what is there, so repeats and crashes converge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gureum.agent.hypervisor.base import DiskSpec
from gureum.agent.hypervisor.qemu_command import volume_blockdev, volume_device
from gureum.agent.hypervisor.qmp import QmpClient, QmpError

# The guest gets this long to release a disk (it saw DEVICE_DELETED in <1 s here).
FIRST_UNPLUG_WAIT_SECONDS = 10.0
# A guest that ignored the first request: look again briefly, do not hold up the pass.
RETRY_UNPLUG_WAIT_SECONDS = 1.0

_VOLUME_DEVICE = re.compile(r"(?:^|/)(volume-[A-Za-z0-9_-]+)(?:/|$)")
_VOLUME_NODE = re.compile(r"^v[0-9a-f]{30}$")


@dataclass(frozen=True)
class GuestDisks:
    devices: dict[str, str]  # device id -> node name it shows
    nodes: set[str]  # our volume block nodes, with a device or not


def observe(qmp: QmpClient) -> GuestDisks:
    devices: dict[str, str] = {}
    for block in qmp.execute("query-block"):
        match = _VOLUME_DEVICE.search(block.get("qdev") or "")
        if match:
            devices[match.group(1)] = (block.get("inserted") or {}).get("node-name", "")
    nodes = {n["node-name"] for n in qmp.execute("query-named-block-nodes", {"flat": True})
             if _VOLUME_NODE.match(n.get("node-name") or "")}
    return GuestDisks(devices, nodes)


def attach(qmp: QmpClient, disk: DiskSpec, seen: GuestDisks) -> None:
    if disk.device_id in seen.devices:
        return
    existing_objects = {o["name"] for o in qmp.execute("qom-list", {"path": "/objects"})}
    for obj in disk.objects:
        if obj["id"] not in existing_objects:
            qmp.execute("object-add", obj)
    if disk.node_name not in seen.nodes:
        qmp.execute("blockdev-add", volume_blockdev(disk))
    qmp.execute("device_add", volume_device(disk, boot=False))


def detach(qmp: QmpClient, device_id: str, node_name: str, wait_seconds: float) -> bool:
    """Unplug one volume device; True once it and its node are gone."""
    try:
        qmp.execute("device_del", {"id": device_id})
    except QmpError as error:
        # Already asked (unplug under way) or already gone: look for the event all the same.
        if "DeviceNotFound" not in str(error) and "process of unplug" not in str(error):
            raise
    released = qmp.wait_for_event(
        lambda e: e.get("event") == "DEVICE_DELETED" and (e.get("data") or {}).get("device") == device_id,
        wait_seconds)
    if not released and device_id in observe(qmp).devices:
        return False
    if node_name:
        remove_node(qmp, node_name)
    return True


def remove_node(qmp: QmpClient, node_name: str) -> None:
    try:
        qmp.execute("blockdev-del", {"node-name": node_name})
    except QmpError as error:
        if "Failed to find node" not in str(error) and "Cannot find" not in str(error):
            raise
    for object_id in owned_objects(node_name):
        try:
            qmp.execute("object-del", {"id": object_id})
        except QmpError:
            pass  # never made (a local file needs none)


def owned_objects(node_name: str) -> list[str]:
    """Ids of the objects a volume's blockdev may use (see gureum.agent.volume_disks)."""
    return [f"tls-{node_name}", f"sec-{node_name}"]


def object_args(kind: str, node_name: str, **arguments: Any) -> dict[str, Any]:
    prefix = {"tls-creds-psk": "tls", "secret": "sec"}[kind]
    return {"qom-type": kind, "id": f"{prefix}-{node_name}", **arguments}
