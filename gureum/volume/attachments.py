"""Attachments: one row per volume on a server, for Cinder's attachments API, its legacy
actions and Nova's block device mappings alike.

A plain (not multiattach) volume has at most one attachment: `exclusive_volume_id` is
unique, so two concurrent attach requests give one attachment and one 400, whichever
API they came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.volume import status
from gureum.volume.common import get_visible, require_object, scoped
from gureum.volume.listing import paginate
from gureum.volume.models import Snapshot, Volume, VolumeAttachment

if TYPE_CHECKING:
    from gureum.cloud import Cloud

SORT_KEYS = {"id": VolumeAttachment.id, "created_at": VolumeAttachment.created_at,
             "volume_id": VolumeAttachment.volume_id, "instance_uuid": VolumeAttachment.instance_uuid,
             "attach_status": VolumeAttachment.attach_status}
ATTACH_MODES = ("rw", "ro")


class AttachmentsMixin:
    cloud: "Cloud"

    # -- the shared steps ---------------------------------------------------------------

    def _reserve(self, session: Session, volume: Volume, instance_uuid: str | None, *, mode: str = "rw",
                 project_id: str | None = None) -> VolumeAttachment:
        """A new attachment row (reserved), refused unless the volume can take one more."""
        if mode not in ATTACH_MODES:
            raise BadRequest(f"Invalid input for field/attribute mode: {mode!r}; it must be rw or ro.")
        allowed = ("available", "in-use", "reserved", "attaching") if volume.multiattach else ("available",)
        if volume.deleted_at is not None or volume.status not in allowed:
            raise BadRequest(f"Invalid volume: Volume {volume.id} status must be available to reserve, but the "
                             f"current status is: {volume.status}.")
        attachment = VolumeAttachment(
            volume_id=volume.id, exclusive_volume_id=None if volume.multiattach else volume.id,
            instance_uuid=instance_uuid, project_id=project_id or volume.project_id, attach_status="reserved",
            attach_mode="ro" if volume.readonly else mode,
        )
        try:
            with session.begin_nested():
                session.add(attachment)
                session.flush()
        except IntegrityError:
            raise BadRequest(f"Invalid volume: Volume {volume.id} is already attached or reserved.") from None
        self._refresh(session, volume)
        return attachment

    def _connect(self, session: Session, volume: Volume, attachment: VolumeAttachment,
                 connector: dict[str, Any] | None) -> dict[str, Any]:
        attachment.connector = dict(connector or {})
        attachment.attached_host = (connector or {}).get("host") or attachment.attached_host
        if (connector or {}).get("mountpoint"):
            attachment.device = str(connector["mountpoint"])[:64]
        if attachment.attach_status == "reserved":
            attachment.attach_status = "attaching"
        self._refresh(session, volume)
        return self._connection_info(volume, attachment)

    def _complete(self, session: Session, volume: Volume, attachment: VolumeAttachment) -> None:
        attachment.attach_status = "attached"
        attachment.attached_at = attachment.attached_at or utcnow()
        self._refresh(session, volume)

    def _detach(self, session: Session, volume: Volume, attachment: VolumeAttachment) -> None:
        """The attachment goes; the volume is available again once nothing holds it."""
        session.delete(attachment)
        session.flush()
        self._refresh(session, volume)

    @staticmethod
    def _connection_info(volume: Volume, attachment: VolumeAttachment) -> dict[str, Any]:
        # Nova calls in-process and QEMU is driven by the agent: this only says where the volume is.
        return {
            "driver_volume_type": volume.backend or "file",
            "data": {"volume_id": volume.id, "access_mode": attachment.attach_mode, "host": volume.host,
                     "serial": volume.id, "attachment_id": attachment.id},
        }

    def _attachment(self, session: Session, ctx: RequestContext, attachment_id: str, action: str) -> VolumeAttachment:
        attachment = get_visible(session, VolumeAttachment, ctx, attachment_id, "VolumeAttachment")
        self.cloud.policy.enforce(ctx, action, {"project_id": attachment.project_id})
        return attachment

    # -- the attachments API (3.27+) -----------------------------------------------------

    def create_attachment(self, ctx: RequestContext, body: Any) -> tuple[VolumeAttachment, dict[str, Any] | None]:
        data = require_object(body, "attachment")
        volume_id = data.get("volume_uuid")
        if not isinstance(volume_id, str):
            raise BadRequest("Invalid input for field/attribute volume_uuid: it is required.")
        instance_uuid = data.get("instance_uuid")
        if instance_uuid is not None and not isinstance(instance_uuid, str):
            raise BadRequest("Invalid input for field/attribute instance_uuid: it must be a string.")
        connector = data.get("connector")
        if connector is not None and not isinstance(connector, dict):
            raise BadRequest("Invalid input for field/attribute connector: it must be an object.")
        mode = data.get("mode", "rw")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:attachment_create")
            attachment = self._reserve(session, volume, instance_uuid, mode=mode if isinstance(mode, str) else "")
            info = self._connect(session, volume, attachment, connector) if connector else None
            return attachment, info

    def update_attachment(self, ctx: RequestContext, attachment_id: str, body: Any) -> tuple[VolumeAttachment, dict[str, Any]]:
        data = require_object(body, "attachment")
        connector = data.get("connector")
        if not isinstance(connector, dict):
            raise BadRequest("Invalid input for field/attribute connector: it is required and must be an object.")
        with self.cloud.db.session() as session:
            attachment = self._attachment(session, ctx, attachment_id, "volume:attachment_update")
            volume = session.get(Volume, attachment.volume_id)
            assert volume is not None
            return attachment, self._connect(session, volume, attachment, connector)

    def complete_attachment(self, ctx: RequestContext, attachment_id: str) -> None:
        with self.cloud.db.session() as session:
            attachment = self._attachment(session, ctx, attachment_id, "volume:attachment_complete")
            volume = session.get(Volume, attachment.volume_id)
            assert volume is not None
            self._complete(session, volume, attachment)

    def delete_attachment(self, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
        with self.cloud.db.session() as session:
            attachment = self._attachment(session, ctx, attachment_id, "volume:attachment_delete")
            volume = session.get(Volume, attachment.volume_id)
            assert volume is not None
            self._detach(session, volume, attachment)
            return attachment

    def get_attachment(self, ctx: RequestContext, attachment_id: str) -> tuple[VolumeAttachment, dict[str, Any]]:
        with self.cloud.db.read() as session:
            attachment = self._attachment(session, ctx, attachment_id, "volume:attachment_get")
            volume = session.get(Volume, attachment.volume_id)
            assert volume is not None
            return attachment, self._connection_info(volume, attachment)

    def list_attachments(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[VolumeAttachment], str | None]:
        self.cloud.policy.enforce(ctx, "volume:attachment_get_all", {"project_id": ctx.project_id})
        all_tenants = params.get("all_tenants", "").lower() in ("1", "true", "yes")
        with self.cloud.db.read() as session:
            stmt = scoped(select(VolumeAttachment), VolumeAttachment, ctx, all_tenants)
            if params.get("volume_id"):
                stmt = stmt.where(VolumeAttachment.volume_id == params["volume_id"])
            if params.get("instance_id"):
                stmt = stmt.where(VolumeAttachment.instance_uuid == params["instance_id"])
            if params.get("status"):
                stmt = stmt.where(VolumeAttachment.attach_status == params["status"])
            page = paginate(session, stmt, VolumeAttachment, params, SORT_KEYS)
            return page.rows, page.next_marker

    # -- legacy actions (bookkeeping, as tempest's test_volumes_actions uses them) --------

    def _only_attachment(self, session: Session, volume: Volume, attachment_id: str | None = None,
                         states: tuple[str, ...] | None = None) -> VolumeAttachment:
        rows = [a for a in self._attachments_of(session, volume.id)
                if (attachment_id is None or a.id == attachment_id) and (states is None or a.attach_status in states)]
        if not rows:
            raise BadRequest(f"Invalid volume: Volume {volume.id} has no such attachment.")
        return rows[0]

    def legacy_attach_action(self, ctx: RequestContext, volume_id: str, action: str, data: dict[str, Any]) -> Any:
        with self.cloud.db.session() as session:
            policy = "volume_extension:volume_admin_actions:force_detach" if action == "os-force_detach" \
                else f"volume_extension:volume_actions:{action[3:]}"
            volume = self._volume(session, ctx, volume_id, policy)
            if action == "os-reserve":
                # Cinder's legacy reserve shows the volume attaching (the attachments API: reserved).
                attachment = self._reserve(session, volume, None)
                attachment.attach_status = "attaching"
                self._refresh(session, volume)
                return None
            if action == "os-unreserve":
                for attachment in self._attachments_of(session, volume.id):
                    if attachment.attach_status in ("reserved", "attaching") and attachment.instance_uuid is None:
                        self._detach(session, volume, attachment)
                return None
            if action == "os-attach":
                instance_uuid, host_name = data.get("instance_uuid"), data.get("host_name")
                if not instance_uuid and not host_name:
                    raise BadRequest("Invalid request to attach volume to an invalid target: give instance_uuid "
                                     "or host_name.")
                mountpoint = data.get("mountpoint")
                if not isinstance(mountpoint, str) or not mountpoint:
                    raise BadRequest("Invalid input for field/attribute mountpoint: it is required.")
                mode = data.get("mode", "rw")
                reserved = [a for a in self._attachments_of(session, volume.id)
                            if a.attach_status in ("reserved", "attaching") and a.instance_uuid in (None, instance_uuid)]
                attachment = reserved[0] if reserved else self._reserve(session, volume, instance_uuid,
                                                                        mode=mode if isinstance(mode, str) else "")
                attachment.instance_uuid = instance_uuid
                attachment.attached_host = host_name
                attachment.device = mountpoint[:64]
                self._complete(session, volume, attachment)
                return None
            if action == "os-begin_detaching":
                if volume.status != "in-use":
                    raise BadRequest(f"Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
                                     f"attach_status must be 'attached' to detach, it is {volume.status}.")
                attachment = self._only_attachment(session, volume, states=("attached",))
                attachment.attach_status = "detaching"
                self._refresh(session, volume)
                return None
            if action == "os-roll_detaching":
                for attachment in self._attachments_of(session, volume.id):
                    if attachment.attach_status == "detaching":
                        attachment.attach_status = "attached"
                self._refresh(session, volume)
                return None
            if action in ("os-detach", "os-force_detach"):
                attachment_id = data.get("attachment_id")
                attachments = self._attachments_of(session, volume.id)
                if not attachments:
                    return None  # already detached: a repeated detach changes nothing
                if attachment_id is None and len(attachments) > 1:
                    raise BadRequest("Invalid volume: the volume has several attachments; give attachment_id.")
                self._detach(session, volume, self._only_attachment(session, volume, attachment_id))
                return None
            if action == "os-initialize_connection":
                connector = data.get("connector")
                if not isinstance(connector, dict):
                    raise BadRequest("Must specify 'connector'.")
                attachments = self._attachments_of(session, volume.id)
                attachment = attachments[0] if attachments else None
                if attachment is None:
                    raise BadRequest(f"Invalid volume: Volume {volume.id} must be reserved or attached first.")
                return {"connection_info": self._connection_info(volume, attachment)}
            if action == "os-terminate_connection":
                if not isinstance(data.get("connector"), dict):
                    raise BadRequest("Must specify 'connector'.")
                return None
            raise NotFound(f"There is no such action: {action}")


# -- Nova's side: a server's block device mappings are these same rows --------------------

# Nova's device names are guesses (guests number disks in probe order); /dev/vda is the
# root disk, or the boot volume of a server booted from one.
DEVICE_NAMES = tuple(f"/dev/vd{c}" for c in "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class ServerAttachment:
    """One of a server's volumes, as Nova's block device mapping shows it."""

    attachment_id: str
    volume_id: str
    instance_uuid: str
    device: str | None
    tag: str | None
    delete_on_termination: bool
    boot_index: int | None
    attach_status: str

    @property
    def is_root(self) -> bool:
        return self.boot_index == 0


def server_attachment(row: VolumeAttachment) -> ServerAttachment:
    return ServerAttachment(row.id, row.volume_id, row.instance_uuid or "", row.device, row.tag,
                            bool(row.delete_on_termination), row.boot_index, row.attach_status)


class ServerAttachmentsMixin:
    """What Nova calls in-process, as nova/volume/cinder.py calls Cinder over HTTP
    (attachment_create, then the host connects and completes; attachment_delete).

    The compute service has found and authorized the server and checked its state; these
    methods check the volume (visible to the caller, policy, free to attach) and write in
    the caller's transaction, so a refused attach leaves nothing behind.
    """

    cloud: "Cloud"

    def attach_to_server(self, ctx: RequestContext, volume_id: str, instance_uuid: str, host: str | None, *,
                         device: str | None = None, tag: str | None = None, delete_on_termination: bool = False,
                         boot_index: int | None = None) -> ServerAttachment:
        """Reserve the volume for the server and ask its host to plug it in: attaching until
        the guest's QEMU shows the disk, then attached (the volume in-use)."""
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:attachment_create")
            mine = list(session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == instance_uuid)).scalars())
            if any(a.volume_id == volume.id for a in mine):
                raise BadRequest(f"Invalid volume: volume {volume.id} already attached")
            if host is not None and volume.host is not None and volume.host != host:
                raise BadRequest(f"Invalid volume: volume {volume.id} is held by storage host {volume.host} and "
                                 f"the server runs on {host}; attaching across hosts is not wired yet.")
            taken = {a.device for a in mine} | ({"/dev/vda"} if boot_index != 0 else set())
            if device is not None and device in taken:
                raise Conflict(f"The supplied device path ({device}) is in use.")
            attachment = self._reserve(session, volume, instance_uuid)
            attachment.device = device or ("/dev/vda" if boot_index == 0 else
                                           next((d for d in DEVICE_NAMES if d not in taken), None))
            attachment.tag, attachment.delete_on_termination = tag, delete_on_termination
            attachment.boot_index, attachment.attached_host = boot_index, host
            # Its host plugs it in (a guest not placed yet gets it at launch); the report completes it.
            attachment.attach_status = "attaching"
            self._refresh(session, volume)
            return server_attachment(attachment)

    def create_server_volume(self, ctx: RequestContext, instance_uuid: str, *, size: int | None,
                             image_id: str | None = None, snapshot_id: str | None = None,
                             boot_index: int | None = None, delete_on_termination: bool = False,
                             tag: str | None = None, device: str | None = None) -> ServerAttachment:
        """A volume made with its server (BDM source image, snapshot or blank to a volume), as
        Nova asks Cinder for one: checked and counted like any volume create, in the caller's
        transaction; placed once the server is, on the server's host."""
        body: dict[str, Any] = {"name": "", "size": size}
        if image_id:
            body["imageRef"] = image_id
        if snapshot_id:
            body["snapshot_id"] = snapshot_id
        with self.cloud.db.session() as session:
            record = self.create_volume(ctx, {"volume": body}, placed=False)  # type: ignore[attr-defined]
            volume = session.get(Volume, record.volume.id)
            assert volume is not None
            taken = {a.device for a in session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == instance_uuid)).scalars()} | ({"/dev/vda"} if boot_index != 0 else set())
            attachment = VolumeAttachment(
                volume_id=volume.id, exclusive_volume_id=volume.id, instance_uuid=instance_uuid,
                project_id=volume.project_id, attach_status="attaching", attach_mode="rw", boot_index=boot_index,
                delete_on_termination=delete_on_termination, tag=tag,
                device=device or ("/dev/vda" if boot_index == 0 else next((d for d in DEVICE_NAMES if d not in taken),
                                                                           None)))
            session.add(attachment)
            self._refresh(session, volume)  # type: ignore[attr-defined]
            return server_attachment(attachment)

    def bind_server_attachments(self, session: Session, instance_uuid: str, host: str) -> None:
        """The server was placed on `host`: its volumes are plugged in there, and the volumes
        made with it are placed on that host (attached locally, no network hop)."""
        for attachment in list(session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == instance_uuid, VolumeAttachment.attached_host.is_(None))).scalars()):
            attachment.attached_host = host
            volume = session.get(Volume, attachment.volume_id)
            if volume is not None and volume.host is None and volume.deleted_at is None:
                self._place(session, volume, near_host=host)  # type: ignore[attr-defined]
                self._refresh(session, volume)  # type: ignore[attr-defined]

    def boot_volume_ready(self, session: Session, instance_uuids: list[str]) -> dict[str, str | None]:
        """Per server booted from a volume: None while its boot volume is being made, else why it
        cannot be (the volume's error, in plain words) or "" once it is there to boot from."""
        result: dict[str, str | None] = {}
        if not instance_uuids:
            return result
        rows = session.execute(select(VolumeAttachment, Volume).join(
            Volume, Volume.id == VolumeAttachment.volume_id).where(
            VolumeAttachment.instance_uuid.in_(instance_uuids), VolumeAttachment.boot_index == 0)).all()
        for attachment, volume in rows:
            instance_uuid = attachment.instance_uuid or ""
            if volume.host and attachment.attached_host and volume.host != attachment.attached_host:
                result[instance_uuid] = (f"Boot volume {volume.id} is held by storage host {volume.host} and the "
                                         f"server was placed on {attachment.attached_host}; booting from a volume "
                                         "of another host is not wired yet.")
            elif volume.observed_present and volume.deleted_at is None:
                result[instance_uuid] = ""
            elif volume.status == "error":
                result[instance_uuid] = (f"Boot volume {volume.id} could not be made: "
                                         f"{volume.status_reason or volume.observed_error or 'see the volume'}")
            else:
                result[instance_uuid] = None
        return result

    def detach_from_server(self, ctx: RequestContext, instance_uuid: str, volume_id: str) -> None:
        """Ask the host to unplug: the row goes once the guest's report no longer shows the disk
        (at once when the server has no host to ask)."""
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:attachment_delete")
            attachment = session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == instance_uuid, VolumeAttachment.volume_id == volume.id)
            ).scalars().first()
            if attachment is None:
                raise NotFound(f"Instance {instance_uuid} is not attached to volume {volume_id}")
            if attachment.boot_index == 0:
                raise BadRequest("Cannot detach a root device volume")
            if attachment.attach_status == "detaching":
                return  # asked already: the host is on it
            if attachment.attached_host or attachment.observed_attached:
                attachment.attach_status = "detaching"
                self._refresh(session, volume)
            else:
                self._detach(session, volume, attachment)

    def server_attachments(self, ctx: RequestContext, instance_uuids: list[str]) -> dict[str, list[ServerAttachment]]:
        """Every listed server's volumes in one statement, in attach order (Nova's BDMs for
        views and os-volume_attachments; the compute service has authorized the servers)."""
        if not instance_uuids:
            return {}
        with self.cloud.db.read() as session:
            rows = session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid.in_(instance_uuids))
                .order_by(VolumeAttachment.created_at, VolumeAttachment.id)).scalars()
            result: dict[str, list[ServerAttachment]] = {}
            for row in rows:
                result.setdefault(row.instance_uuid or "", []).append(server_attachment(row))
            return result

    def release_server(self, ctx: RequestContext, instance_uuid: str) -> list[str]:
        """Server delete: its attachments go in the caller's transaction, and its
        delete_on_termination volumes are deleted (desired absent: their host removes each
        once the guest has let go). Returns the ids of the volumes deleted."""
        with self.cloud.db.session() as session:
            rows = list(session.execute(select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == instance_uuid)).scalars())
            doomed: list[Volume] = []
            for attachment in rows:
                volume = session.get(Volume, attachment.volume_id)
                session.delete(attachment)
                session.flush()
                if volume is None:
                    continue
                self._refresh(session, volume)
                if attachment.delete_on_termination:
                    doomed.append(volume)
            deleted = []
            for volume in doomed:
                still_attached = session.execute(select(VolumeAttachment.id).where(
                    VolumeAttachment.volume_id == volume.id)).first()
                has_snapshots = session.execute(select(Snapshot.id).where(
                    Snapshot.volume_id == volume.id, Snapshot.deleted_at.is_(None))).first()
                # As Cinder refuses Nova's delete of a volume with snapshots: that one stays.
                if volume.deleted_at is None and still_attached is None and has_snapshots is None:
                    volume.deleted_at = utcnow()
                    deleted.append(volume.id)
                    self._refresh(session, volume)
                    self._unplace(session, volume)
            return deleted
