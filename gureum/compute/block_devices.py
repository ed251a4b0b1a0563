"""Nova's block device mappings: attach, detach and list a server's volumes.

A mapping is the volume service's attachment row (one table for both APIs), so this
module keeps none of its own: it does what nova/compute/api.py does before it calls
Cinder (find the server, enforce Nova's policy on it, check its lock and state) and
calls the volume service's public methods in the same transaction, as the guarded
actions of actions.py do: the server's state is written back by compare-and-swap, so
an attach that races a delete or a resize loses with Nova's 409 and leaves no row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from gureum.compute import states
from gureum.compute.actions import Guard
from gureum.compute.boot import BlockDevice
from gureum.compute.models import Host, Instance
from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from gureum.cloud import Cloud
    from gureum.volume.attachments import ServerAttachment

# Nova's check_instance_state for attach_volume and detach_volume (no shelve, no soft delete here).
VOLUME_STATES = (states.ACTIVE, states.PAUSED, states.STOPPED, states.RESIZED)
POLICY = "os_compute_api:os-volumes-attachments:"


@dataclass(frozen=True)
class Mapping:
    """One volume on a server, as os-volume_attachments and the server views show it."""

    volume_id: str
    server_id: str
    device: str | None
    tag: str | None
    delete_on_termination: bool
    attachment_id: str
    boot_index: int | None = None


def mapping_of(row: "ServerAttachment") -> Mapping:
    return Mapping(row.volume_id, row.instance_uuid, row.device, row.tag, row.delete_on_termination,
                   row.attachment_id, row.boot_index)


class BlockDevices:
    """The block device methods of ComputeService (a mixin over ServerActions' guard and swap)."""

    cloud: "Cloud"
    _authorize: Callable[..., Instance]
    _bump_host: Callable[..., None]
    _swap: Callable[..., None]
    _wake: Callable[..., None]

    def attach_volume(self, ctx: RequestContext, server_id: str, volume_id: str, *, device: str | None = None,
                      tag: str | None = None, delete_on_termination: bool = False) -> Mapping:
        """POST os-volume_attachments: the volume reserved for the server, its host told to plug it in."""
        guard = Guard("attach_volume", VOLUME_STATES)
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, POLICY + "create", guard)
            host_id = instance.host_id
            self._bump_host(session, host_id)  # hosts lock before the rows they hold
            row = self.cloud.volume.attach_to_server(ctx, volume_id, instance.uuid, self._hostname(session, instance),
                                                     device=device, tag=tag,
                                                     delete_on_termination=delete_on_termination)
            self._swap(session, ctx, instance, guard, {"updated_at": utcnow()})
        self._wake(host_id)
        return mapping_of(row)

    def detach_volume(self, ctx: RequestContext, server_id: str, volume_id: str) -> None:
        """DELETE os-volume_attachments/{volume_id}: detaching until the guest lets the disk go."""
        guard = Guard("detach_volume", VOLUME_STATES)
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, POLICY + "delete", guard)
            host_id = instance.host_id
            self._bump_host(session, host_id)
            self.cloud.volume.detach_from_server(ctx, instance.uuid, volume_id)
            self._swap(session, ctx, instance, guard, {"updated_at": utcnow()})
        self._wake(host_id)

    def prepare_block_devices(self, session: Session, ctx: RequestContext, instances: list[Instance],
                              block_devices: list[BlockDevice]) -> None:
        """The create's block-device step (Nova's _validate_bdm and its Cinder calls), in the
        create's transaction: each existing volume reserved for the server, each volume the
        mapping makes (from an image, a snapshot or blank) created and reserved; all are
        plugged in where the server is placed, the boot_index 0 one as the disk it boots from."""
        if len(instances) > 1 and any(b.source == "volume" for b in block_devices):
            raise BadRequest("Block Device Mapping is Invalid: one volume cannot be attached to several "
                             "servers; launch them one by one.")
        for instance in instances:
            for bdm in block_devices:
                try:
                    self._prepare(ctx, instance, bdm)
                except NotFound as exc:
                    # Nova: a mapping naming what the caller cannot see is an invalid request (400).
                    raise BadRequest(f"Block Device Mapping is Invalid: failed to get {bdm.source} {bdm.uuid}. "
                                     f"{exc.message}") from exc

    def _prepare(self, ctx: RequestContext, instance: Instance, bdm: BlockDevice) -> None:
        if bdm.source == "volume":
            assert bdm.uuid is not None
            if bdm.boot_index == 0 and not self.cloud.volume.get_volume(ctx, bdm.uuid).volume.bootable:
                raise BadRequest(f"Block Device {bdm.uuid} is not bootable.")
            self.cloud.volume.attach_to_server(ctx, bdm.uuid, instance.uuid, None, device=bdm.device_name,
                                               tag=bdm.tag, delete_on_termination=bdm.delete_on_termination,
                                               boot_index=bdm.boot_index)
        else:
            self.cloud.volume.create_server_volume(
                ctx, instance.uuid, size=bdm.volume_size,
                image_id=bdm.uuid if bdm.source == "image" else None,
                snapshot_id=bdm.uuid if bdm.source == "snapshot" else None,
                boot_index=bdm.boot_index, delete_on_termination=bdm.delete_on_termination, tag=bdm.tag,
                device=bdm.device_name)

    def volume_attachments(self, ctx: RequestContext, server_id: str) -> list[Mapping]:
        with self.cloud.db.read() as session:
            instance = self._authorize(session, ctx, server_id, POLICY + "index")
            rows = self.cloud.volume.server_attachments(ctx, [instance.uuid]).get(instance.uuid, [])
            return [mapping_of(r) for r in rows]

    def volume_attachment(self, ctx: RequestContext, server_id: str, volume_id: str) -> Mapping:
        with self.cloud.db.read() as session:
            instance = self._authorize(session, ctx, server_id, POLICY + "show")
            for row in self.cloud.volume.server_attachments(ctx, [instance.uuid]).get(instance.uuid, []):
                if row.volume_id == volume_id:
                    return mapping_of(row)
        raise NotFound(f"Instance {server_id} is not attached to volume {volume_id}")

    def mappings_of(self, ctx: RequestContext, server_ids: list[str]) -> dict[str, list[Mapping]]:
        """For server views: every listed server's mappings in one statement."""
        rows = self.cloud.volume.server_attachments(ctx, server_ids)
        return {uuid: [mapping_of(r) for r in items] for uuid, items in rows.items()}

    @staticmethod
    def _hostname(session: Session, instance: Instance) -> str | None:
        host = session.get(Host, instance.host_id) if instance.host_id is not None else None
        return host.hostname if host is not None else None

