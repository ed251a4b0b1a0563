"""POST /volumes/{id}/action: extend, bootable, readonly, reset-status, retype, revert,
force-delete, image metadata, and the legacy attach bookkeeping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound
from gureum.volume import quotas, status
from gureum.volume.common import as_bool, get_visible, positive_int, require_object
from gureum.volume.microversion import Microversion
from gureum.volume.models import Snapshot, Volume

if TYPE_CHECKING:
    from gureum.cloud import Cloud

LEGACY_ATTACH_ACTIONS = ("os-reserve", "os-unreserve", "os-attach", "os-detach", "os-begin_detaching",
                         "os-roll_detaching", "os-initialize_connection", "os-terminate_connection",
                         "os-force_detach")
VOLUME_STATUSES = ("available", "error", "creating", "deleting", "in-use", "attaching", "detaching",
                   "error_deleting", "maintenance", "reserved", "error_extending", "extending", "downloading",
                   "uploading", "retyping", "backing-up", "restoring-backup", "error_restoring",
                   "awaiting-transfer", "error_managing")
ATTACH_STATUSES = ("attached", "detached", "attaching", "detaching", "reserved", "error_attaching",
                   "error_detaching")


class ActionsMixin:
    cloud: "Cloud"

    def volume_action(self, ctx: RequestContext, volume_id: str, body: Any, version: Microversion) -> Any:
        """Run one action; returns what the API answers with (None for an empty 202)."""
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Invalid request body: a volume action is an object with exactly one key.")
        action, data = next(iter(body.items()))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BadRequest(f"Invalid input for field/attribute {action}: it must be an object.")
        if action in LEGACY_ATTACH_ACTIONS:
            return self.legacy_attach_action(ctx, volume_id, action, data)
        handler = {
            "os-extend": self._extend,
            "os-set_bootable": self._set_bootable,
            "os-update_readonly_flag": self._update_readonly,
            "os-reset_status": self._reset_status,
            "os-retype": self._retype,
            "revert": self._revert,
            "os-force_delete": self._force_delete,
        }.get(action)
        if action == "os-set_image_metadata":
            return {"metadata": self.set_image_metadata(ctx, volume_id, body)}
        if action == "os-unset_image_metadata":
            self.unset_image_metadata(ctx, volume_id, body)
            return 200, None
        if action == "os-show_image_metadata":
            return {"metadata": self.show_image_metadata(ctx, volume_id)}
        if action == "os-volume_upload_image":
            return self.upload_to_image(ctx, volume_id, data)
        if handler is None:
            with self.cloud.db.read() as session:
                self._volume(session, ctx, volume_id, "volume:get")
            raise BadRequest(f"There is no such action: {action}")
        if action == "revert" and not version.at_least(40):
            raise NotFound("The resource could not be found.")
        return handler(ctx, volume_id, data, version)

    def _extend(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], version: Microversion) -> None:
        if data.get("new_size") is None:
            raise BadRequest("Invalid input for field/attribute new_size. Value: None. None is not of type "
                             "'integer', 'string'")
        new_size = positive_int(data["new_size"], "new_size")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:extend")
            if volume.status == "in-use":
                if not version.at_least(42):
                    raise BadRequest("Invalid volume: Volume status must be 'available' to extend below "
                                     "microversion 3.42 (it is in-use).")
                self.cloud.policy.enforce(ctx, "volume:extend_attached_volume", {"project_id": volume.project_id})
            elif volume.status != "available":
                raise BadRequest(f"Invalid volume: Volume status must be 'available' or 'in-use' to extend, "
                                 f"it is {volume.status}.")
            if new_size <= volume.size:
                raise BadRequest(f"Invalid input received: New size for extend must be greater than current size. "
                                 f"(current: {volume.size}, extended: {new_size}).")
            quotas.check(session, volume.project_id, gigabytes=new_size - volume.size, size=new_size)
            old_size, volume.size = volume.size, new_size
            volume.extend_count += 1
            self._request_extend(session, volume, old_size)

    def _set_bootable(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], _v: Microversion) -> Any:
        if "bootable" not in data:
            raise BadRequest("Invalid input for field/attribute bootable: it is required.")
        bootable = as_bool(data["bootable"], "bootable")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_actions:set_bootable")
            volume.bootable = bootable
        return 200, None

    def _update_readonly(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], _v: Microversion) -> None:
        if "readonly" not in data:
            raise BadRequest("Invalid input for field/attribute readonly: it is required.")
        readonly = as_bool(data["readonly"], "readonly")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:update_readonly_flag")
            if volume.status != "available":
                raise BadRequest(f"Invalid volume: Volume status must be available to update readonly flag, "
                                 f"it is {volume.status}.")
            volume.readonly = readonly

    def _reset_status(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], _v: Microversion) -> None:
        new_status, attach_status = data.get("status"), data.get("attach_status")
        if new_status is None and attach_status is None and data.get("migration_status") is None:
            raise BadRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
        if new_status is not None and new_status not in VOLUME_STATUSES:
            raise BadRequest(f"Must specify a valid status (not {new_status!r}).")
        if attach_status is not None and attach_status not in ATTACH_STATUSES:
            raise BadRequest(f"Must specify a valid attach status (not {attach_status!r}).")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_admin_actions:reset_status")
            attachments = self._attachments_of(session, volume.id)
            if attach_status == "detached":
                # Cinder's way out of a stuck attach: the rows go, as a force-detach would.
                for attachment in attachments:
                    session.delete(attachment)
                session.flush()
                attachments = []
                self._refresh(session, volume)
            if new_status is not None:
                status.reset(volume, new_status, attachments)

    def _retype(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], _v: Microversion) -> None:
        new_type = data.get("new_type")
        if not isinstance(new_type, str) or not new_type:
            raise BadRequest("Retype requires a new volume type (new_type).")
        policy = data.get("migration_policy", "never")
        if policy not in (None, "never", "on-demand"):
            raise BadRequest(f"Invalid migration_policy {policy!r}: it must be never or on-demand.")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:retype")
            vtype = self._find_type(session, ctx, new_type)
            if volume.status not in ("available", "in-use"):
                raise BadRequest(f"Invalid volume: Volume status must be available or in-use to retype, "
                                 f"it is {volume.status}.")
            if vtype.id == volume.volume_type_id:
                raise BadRequest("Invalid input received: Retype cannot change to the same volume type.")
            # Every backend here serves every type: a retype changes the record only.
            volume.volume_type_id = vtype.id

    def _revert(self, ctx: RequestContext, volume_id: str, data: dict[str, Any], _v: Microversion) -> None:
        snapshot_id = data.get("snapshot_id")
        if not isinstance(snapshot_id, str):
            raise BadRequest("Invalid input for field/attribute snapshot_id: it is required.")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:revert_to_snapshot")
            snapshot = get_visible(session, Snapshot, ctx, snapshot_id, "Snapshot")
            if snapshot.volume_id != volume.id:
                raise BadRequest(f"Invalid input received: Snapshot {snapshot.id} is not a snapshot of volume "
                                 f"{volume.id}.")
            latest = session.execute(
                select(Snapshot.id).where(Snapshot.volume_id == volume.id, Snapshot.deleted_at.is_(None))
                .order_by(Snapshot.created_at.desc(), Snapshot.id.desc()).limit(1)
            ).scalar()
            if latest != snapshot.id:
                raise BadRequest("Invalid snapshot: Only the latest snapshot of a volume can be reverted to.")
            if volume.status != "available" or snapshot.status != "available":
                raise BadRequest(f"Invalid volume: Volume {volume.id} and snapshot {snapshot.id} must be available "
                                 f"to revert (they are {volume.status} and {snapshot.status}).")
            if volume.size != snapshot.size:
                raise BadRequest(f"Invalid volume: Volume {volume.id} is {volume.size}GB, but snapshot "
                                 f"{snapshot.id} is {snapshot.size}GB; revert needs equal sizes.")
            self._request_revert(session, volume, snapshot)

    def _force_delete(self, ctx: RequestContext, volume_id: str, _data: dict[str, Any], _v: Microversion) -> None:
        with self.cloud.db.read() as session:
            volume = get_visible(session, Volume, ctx, volume_id, "Volume")
            self.cloud.policy.enforce(ctx, "volume_extension:volume_admin_actions:force_delete",
                                      {"project_id": volume.project_id})
        self.delete_volume(ctx, volume_id, force=True, cascade=True)

    def upload_to_image(self, ctx: RequestContext, volume_id: str, data: dict[str, Any]) -> Any:
        """os-volume_upload_image: a queued image now; the volume's host converts and uploads it."""
        name = data.get("image_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute image_name: it is required (1 to 255 characters).")
        disk_format = data.get("disk_format", "raw")
        if disk_format not in ("raw", "qcow2"):
            raise BadRequest(f"Invalid disk-format '{disk_format}' specified: gureum uploads raw or qcow2.")
        container_format = data.get("container_format", "bare")
        if container_format != "bare":
            raise BadRequest(f"Invalid container-format '{container_format}' specified: only bare is supported.")
        force = as_bool(data["force"], "force") if data.get("force") is not None else False
        visibility = data.get("visibility", "private")
        protected = as_bool(data["protected"], "protected") if data.get("protected") is not None else False
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_actions:upload_image")
            allowed = ("available", "in-use") if force else ("available",)
            if volume.status not in allowed or volume.host is None:
                raise BadRequest(f"Invalid volume: Volume status must be available{' or in-use' if force else ''} "
                                 f"to upload it to an image, it is {volume.status}.")
            image = self.cloud.image.create_image(ctx, {
                "name": name, "disk_format": disk_format, "container_format": container_format,
                "visibility": visibility, "protected": protected,
                **{k: v for k, v in (volume.image_metadata or {}).items()
                   if k not in ("image_id", "image_name", "checksum", "size", "container_format", "disk_format",
                                "min_disk", "min_ram")},
            })
            volume.uploads = [*(volume.uploads or []), {"image_id": image["id"], "disk_format": disk_format}]
            volume.status = "uploading"
            self._refresh(session, volume)
            type_name = self._type_name(session, volume)
            return 202, {"os-volume_upload_image": {
                "id": volume.id, "updated_at": None, "status": "uploading",
                "display_description": volume.description, "size": volume.size, "volume_type": type_name,
                "image_id": image["id"], "container_format": container_format, "disk_format": disk_format,
                "image_name": name, "visibility": image.get("visibility", visibility),
                "protected": image.get("protected", protected),
            }}

    def _drop_failed_upload(self, volume: Volume, image_id: str) -> None:
        acting = RequestContext(user_id="gureum-volume", user_name="gureum-volume", user_domain_id="default",
                                user_domain_name="Default", roles=("admin", "member", "reader"),
                                project_id=volume.project_id)
        try:
            self.cloud.image.delete_image(acting, image_id)
        except NotFound:
            pass
