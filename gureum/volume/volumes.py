"""Volumes: create, list, show, update, delete, metadata and image metadata."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound
from gureum.volume import quotas, status
from gureum.volume.common import (
    as_bool,
    get_visible,
    metadata_dict,
    optional_str,
    parse_query_dict,
    positive_int,
    require_object,
    scoped,
)
from gureum.volume.listing import Page, paginate
from gureum.volume.models import Snapshot, Volume, VolumeAttachment, VolumeMetadata, VolumeTransfer
from gureum.volume.records import VolumeRecord, volume_record, volume_records

if TYPE_CHECKING:
    from gureum.cloud import Cloud

GiB = 1024**3
SORT_KEYS = {
    "id": Volume.id, "name": Volume.name, "display_name": Volume.name, "status": Volume.status,
    "size": Volume.size, "created_at": Volume.created_at, "updated_at": Volume.updated_at,
    "availability_zone": Volume.availability_zone, "bootable": Volume.bootable,
    "volume_type": Volume.volume_type_id, "description": Volume.description,
}
COLUMN_FILTERS = {"status": Volume.status, "availability_zone": Volume.availability_zone,
                  "volume_type": Volume.volume_type_id, "id": Volume.id, "size": Volume.size,
                  "snapshot_id": Volume.snapshot_id, "source_volid": Volume.source_volid}
CREATE_KEYS = frozenset({"size", "name", "display_name", "description", "display_description", "volume_type",
                         "availability_zone", "metadata", "snapshot_id", "source_volid", "imageRef",
                         "image_id", "backup_id", "multiattach", "consistencygroup_id", "group_id",
                         "scheduler_hints", "source_replica"})
UPDATE_KEYS = frozenset({"name", "display_name", "description", "display_description", "metadata"})
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing", "creating")


def target(row: Any) -> dict[str, Any]:
    return {"project_id": row.project_id}


class VolumesMixin:
    cloud: "Cloud"

    # -- helpers the other modules share ------------------------------------------------

    def _volume(self, session: Session, ctx: RequestContext, volume_id: str, action: str) -> Volume:
        volume = get_visible(session, Volume, ctx, volume_id, "Volume")
        self.cloud.policy.enforce(ctx, action, target(volume))
        return volume

    def _attachments_of(self, session: Session, volume_id: str) -> list[VolumeAttachment]:
        return list(session.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id)).scalars())

    def _refresh(self, session: Session, volume: Volume) -> None:
        session.flush()
        status.refresh(volume, self._attachments_of(session, volume.id))

    # -- create --------------------------------------------------------------------------

    def create_volume(self, ctx: RequestContext, body: Any, *, placed: bool = True) -> VolumeRecord:
        """POST volumes. `placed=False` (a server's boot volume): no backend yet; it goes where
        its server is placed (ServerAttachmentsMixin.bind_server_attachments)."""
        data = require_object(body, "volume")
        unknown = set(data) - CREATE_KEYS
        if unknown:
            raise BadRequest(f"Invalid input for field/attribute volume. Additional properties are not allowed "
                             f"({', '.join(sorted(map(repr, unknown)))} were unexpected)")
        name = optional_str(data, "name") if data.get("name") is not None else optional_str(data, "display_name")
        description = optional_str(data, "description", max_length=65535) if data.get("description") is not None \
            else optional_str(data, "display_description", max_length=65535)
        metadata = metadata_dict(data.get("metadata"))
        multiattach = as_bool(data["multiattach"], "multiattach") if data.get("multiattach") is not None else False
        size = positive_int(data["size"], "size") if data.get("size") is not None else None
        image_ref = data.get("imageRef") or data.get("image_id")
        for field in ("snapshot_id", "source_volid", "backup_id"):
            if data.get(field) is not None and not isinstance(data[field], str):
                raise BadRequest(f"Invalid input for field/attribute {field}. It must be a string.")
        if image_ref is not None and not isinstance(image_ref, str):
            raise BadRequest("Invalid input for field/attribute imageRef. It must be a string.")
        sources = [f for f in ("snapshot_id", "source_volid", "backup_id") if data.get(f)] + (["imageRef"] if image_ref else [])
        if len(sources) > 1:
            raise BadRequest(f"Invalid input received: only one of snapshot_id, source_volid, backup_id and "
                             f"imageRef may be given ({', '.join(sources)} were).")
        self.cloud.policy.enforce(ctx, "volume:create", {"project_id": ctx.project_id})
        image = self._image_source(ctx, image_ref) if image_ref else None
        with self.cloud.db.session() as session:
            vtype = self._resolve_type(session, ctx, data.get("volume_type"))
            zone = self._resolve_zone(session, data.get("availability_zone"))
            volume = Volume(project_id=ctx.project_id or "", user_id=ctx.user_id, name=name, description=description,
                            multiattach=multiattach, volume_type_id=vtype.id, availability_zone=zone,
                            status="creating")
            if data.get("snapshot_id"):
                snapshot = get_visible(session, Snapshot, ctx, data["snapshot_id"], "Snapshot")
                if snapshot.status != "available":
                    raise BadRequest(f"Invalid snapshot: Originating snapshot status must be one of 'available' "
                                     f"values, it is {snapshot.status}.")
                source_volume = session.get(Volume, snapshot.volume_id)
                size = size or snapshot.size
                if size < snapshot.size:
                    raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
                                     f"snapshot size {snapshot.size}GB. They must be >= original snapshot size.")
                volume.snapshot_id = snapshot.id
                if source_volume is not None:
                    volume.bootable = source_volume.bootable
                    volume.image_metadata = dict(source_volume.image_metadata or {})
                    if data.get("availability_zone") is None:
                        volume.availability_zone = source_volume.availability_zone
            elif data.get("source_volid"):
                source = get_visible(session, Volume, ctx, data["source_volid"], "Volume")
                if source.status not in ("available", "in-use"):
                    raise BadRequest(f"Invalid volume: Source volume status must be available or in-use, "
                                     f"it is {source.status}.")
                size = size or source.size
                if size < source.size:
                    raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
                                     f"source volume size {source.size}GB. They must be >= original volume size.")
                volume.source_volid = source.id
                volume.bootable = source.bootable
                volume.image_metadata = dict(source.image_metadata or {})
                if data.get("availability_zone") is None:
                    volume.availability_zone = source.availability_zone
            elif data.get("backup_id"):
                raise NotFound(f"Backup {data['backup_id']} could not be found.")
            elif image is not None:
                image_gb = max(1, math.ceil(int(image.get("size") or 0) / GiB))
                min_disk = int(image.get("min_disk") or 0)
                size = size or max(image_gb, min_disk)
                if size < min_disk:
                    raise BadRequest(f"Invalid input received: Volume size {size}GB cannot be smaller than the "
                                     f"image minDisk size {min_disk}GB.")
                if int(image.get("size") or 0) > size * GiB:
                    raise BadRequest(f"Invalid input received: Size of specified image {image_gb}GB is larger "
                                     f"than volume size {size}GB.")
                volume.image_id = image["id"]
                volume.bootable = True
                volume.image_metadata = image_metadata_of(image)
            if size is None:
                raise BadRequest("Invalid input received: size is required unless a snapshot, source volume, "
                                 "backup or image gives it.")
            volume.size = size
            quotas.check(session, volume.project_id, volumes=1, gigabytes=size, size=size)
            session.add(volume)
            session.flush()
            for key, value in metadata.items():
                session.add(VolumeMetadata(volume_id=volume.id, key=key, value=value))
            if placed:
                self._place(session, volume)
            self._refresh(session, volume)
            return volume_record(session, volume)

    def _image_source(self, ctx: RequestContext, image_ref: str) -> dict[str, Any]:
        try:
            image = self.cloud.image.get_image(ctx, image_ref)
        except NotFound:
            raise NotFound(f"Image {image_ref} could not be found.") from None
        if image.get("status") != "active":
            raise BadRequest(f"Invalid image identifier or unable to access requested image: image {image_ref} "
                             f"is {image.get('status')}, not active.")
        return image

    # -- read ----------------------------------------------------------------------------

    def get_volume(self, ctx: RequestContext, volume_id: str) -> VolumeRecord:
        with self.cloud.db.read() as session:
            volume = self._volume(session, ctx, volume_id, "volume:get")
            return volume_record(session, volume)

    def list_volumes(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[VolumeRecord], str | None]:
        self.cloud.policy.enforce(ctx, "volume:get_all", {"project_id": ctx.project_id})
        all_tenants = as_bool(params.get("all_tenants", "false"), "all_tenants") if params.get("all_tenants") \
            not in (None, "") else False
        with self.cloud.db.read() as session:
            stmt = self._filtered(session, ctx, params, all_tenants)
            page: Page = paginate(session, stmt, Volume, params, SORT_KEYS)
            return volume_records(session, page.rows), page.next_marker

    def _filtered(self, session: Session, ctx: RequestContext, params: dict[str, str], all_tenants: bool) -> Any:
        stmt = scoped(select(Volume), Volume, ctx, all_tenants)
        if ctx.is_admin and all_tenants and params.get("project_id"):
            stmt = stmt.where(Volume.project_id == params["project_id"])
        for key in ("name", "display_name"):
            if params.get(key) is not None:
                stmt = stmt.where(Volume.name == params[key])
        if params.get("name~") is not None:
            stmt = stmt.where(Volume.name.contains(params["name~"], autoescape=True))
        for key, column in COLUMN_FILTERS.items():
            if params.get(key) in (None, ""):
                continue
            value: Any = params[key]
            if key == "volume_type":
                value = self._type_id_for_filter(session, value)
            if key == "size":
                value = positive_int(value, "size", minimum=0)
            stmt = stmt.where(column == value)
        if params.get("bootable") not in (None, ""):
            stmt = stmt.where(Volume.bootable.is_(as_bool(params["bootable"], "bootable")))
        if params.get("metadata"):
            for key, value in parse_query_dict(params["metadata"], "metadata").items():
                stmt = stmt.where(exists().where(VolumeMetadata.volume_id == Volume.id, VolumeMetadata.key == key,
                                                 VolumeMetadata.value == value))
        return stmt

    def volume_summary(self, ctx: RequestContext, all_tenants: bool) -> tuple[int, int, dict[str, list[str]]]:
        self.cloud.policy.enforce(ctx, "volume:get_all", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            base = scoped(select(Volume), Volume, ctx, all_tenants).subquery()
            count, size = session.execute(select(func.count(base.c.id), func.coalesce(func.sum(base.c.size), 0))).one()
            metadata: dict[str, list[str]] = {}
            rows = session.execute(
                select(VolumeMetadata.key, VolumeMetadata.value).where(VolumeMetadata.volume_id.in_(select(base.c.id)))
                .distinct().order_by(VolumeMetadata.key, VolumeMetadata.value)
            ).all()
            for key, value in rows:
                metadata.setdefault(key, []).append(value)
            return int(count), int(size), metadata

    # -- update and delete ---------------------------------------------------------------

    def update_volume(self, ctx: RequestContext, volume_id: str, body: Any) -> VolumeRecord:
        data = require_object(body, "volume")
        unknown = set(data) - UPDATE_KEYS
        if unknown:
            raise BadRequest(f"Invalid input for field/attribute volume. Additional properties are not allowed "
                             f"({', '.join(sorted(map(repr, unknown)))} were unexpected)")
        if not data:
            raise BadRequest("Invalid input for field/attribute volume. It must name at least one of name, "
                             "description and metadata.")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:update")
            for key, column in (("name", "name"), ("display_name", "name"), ("description", "description"),
                                ("display_description", "description")):
                if key in data:
                    limit = 255 if column == "name" else 65535
                    setattr(volume, column, optional_str(data, key, max_length=limit))
            if "metadata" in data:
                self._replace_metadata(session, volume, metadata_dict(data["metadata"]))
            volume.updated_at = utcnow()
            session.flush()
            return volume_record(session, volume)

    def delete_volume(self, ctx: RequestContext, volume_id: str, *, cascade: bool = False, force: bool = False) -> None:
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:delete")
            if force:
                self.cloud.policy.enforce(ctx, "volume:force_delete", target(volume))
            if volume.deleted_at is not None:
                return
            attachments = self._attachments_of(session, volume.id)
            if attachments:
                raise BadRequest("Invalid volume: Volume status must be available or error or error_restoring or "
                                 "error_extending or error_managing and must not be migrating, attached, belong "
                                 f"to a group, have snapshots or be disassociated from snapshots after volume "
                                 f"transfer. (volume {volume.id} is attached to "
                                 f"{', '.join(a.instance_uuid or 'a reservation' for a in attachments)})")
            if not force and volume.status not in DELETABLE:
                raise BadRequest(f"Invalid volume: Volume status must be available or error or error_restoring "
                                 f"or error_extending or error_managing and must not be migrating, attached, "
                                 f"belong to a group, have snapshots or be disassociated from snapshots after "
                                 f"volume transfer. (it is {volume.status})")
            snapshots = list(session.execute(select(Snapshot).where(Snapshot.volume_id == volume.id)).scalars())
            if snapshots and not cascade:
                raise BadRequest(f"Invalid volume: Volume still has {len(snapshots)} dependent snapshots.")
            if cascade:
                for snapshot in snapshots:
                    if snapshot.status not in ("available", "error", "deleting") and not force:
                        raise BadRequest(f"Invalid volume: Snapshot {snapshot.id} is {snapshot.status}; a cascade "
                                         "delete needs every snapshot available or in error.")
            session.execute(delete(VolumeTransfer).where(VolumeTransfer.volume_id == volume.id))
            now = utcnow()
            for snapshot in snapshots:
                snapshot.deleted_at = snapshot.deleted_at or now
                status.refresh_snapshot(snapshot)
            volume.deleted_at = now
            volume.awaiting_transfer = False
            self._refresh(session, volume)
            self._unplace(session, volume)

    def _finish_delete(self, session: Session, volume: Volume) -> None:
        """The host reports the volume gone (or it never had one): drop its rows."""
        session.execute(delete(Snapshot).where(Snapshot.volume_id == volume.id))
        session.execute(delete(VolumeMetadata).where(VolumeMetadata.volume_id == volume.id))
        session.delete(volume)

    # -- metadata ------------------------------------------------------------------------

    def _replace_metadata(self, session: Session, volume: Volume, metadata: dict[str, str]) -> None:
        session.execute(delete(VolumeMetadata).where(VolumeMetadata.volume_id == volume.id))
        session.flush()
        for key, value in metadata.items():
            session.add(VolumeMetadata(volume_id=volume.id, key=key, value=value))
        session.flush()

    def _metadata_of(self, session: Session, volume_id: str) -> dict[str, str]:
        rows = session.execute(select(VolumeMetadata).where(VolumeMetadata.volume_id == volume_id)).scalars()
        return {row.key: row.value for row in rows}

    def get_volume_metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        with self.cloud.db.read() as session:
            volume = self._volume(session, ctx, volume_id, "volume:get_volume_metadata")
            return self._metadata_of(session, volume.id)

    def set_volume_metadata(self, ctx: RequestContext, volume_id: str, body: Any, *, replace: bool) -> dict[str, str]:
        if not isinstance(body, dict) or "metadata" not in body:
            raise BadRequest("Malformed request body: it must hold 'metadata'.")
        metadata = metadata_dict(body["metadata"])
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:update_volume_metadata")
            merged = metadata if replace else {**self._metadata_of(session, volume.id), **metadata}
            self._replace_metadata(session, volume, merged)
            volume.updated_at = utcnow()
            return merged

    def get_volume_metadata_item(self, ctx: RequestContext, volume_id: str, key: str) -> dict[str, str]:
        metadata = self.get_volume_metadata(ctx, volume_id)
        if key not in metadata:
            raise NotFound(f"Metadata item was not found (volume {volume_id} has no key {key!r}).")
        return {key: metadata[key]}

    def set_volume_metadata_item(self, ctx: RequestContext, volume_id: str, key: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
            raise BadRequest("Malformed request body: it must hold 'meta', an object of one item.")
        item = metadata_dict(body["meta"], "meta")
        if len(item) != 1:
            raise BadRequest("Request body contains too many items.")
        if key not in item:
            raise BadRequest("Request body and URI mismatch.")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:update_volume_metadata")
            row = session.get(VolumeMetadata, (volume.id, key))
            if row is None:
                session.add(VolumeMetadata(volume_id=volume.id, key=key, value=item[key]))
            else:
                row.value = item[key]
            volume.updated_at = utcnow()
            return item

    def delete_volume_metadata_item(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:delete_volume_metadata")
            row = session.get(VolumeMetadata, (volume.id, key))
            if row is None:
                raise NotFound(f"Metadata item was not found (volume {volume_id} has no key {key!r}).")
            session.delete(row)
            volume.updated_at = utcnow()

    # -- image metadata ------------------------------------------------------------------

    def set_image_metadata(self, ctx: RequestContext, volume_id: str, body: Any) -> dict[str, str]:
        data = require_object(body, "os-set_image_metadata")
        metadata = metadata_dict(data.get("metadata"))
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_image_metadata:set")
            volume.image_metadata = {**(volume.image_metadata or {}), **metadata}
            return dict(volume.image_metadata)

    def unset_image_metadata(self, ctx: RequestContext, volume_id: str, body: Any) -> None:
        data = require_object(body, "os-unset_image_metadata")
        key = data.get("key")
        if not isinstance(key, str):
            raise BadRequest("Invalid input for field/attribute key: it must be a string.")
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_image_metadata:remove")
            current = dict(volume.image_metadata or {})
            if key not in current:
                raise NotFound(f"Glance metadata for volume {volume_id} and key {key} cannot be found.")
            del current[key]
            volume.image_metadata = current

    def show_image_metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        with self.cloud.db.read() as session:
            volume = self._volume(session, ctx, volume_id, "volume_extension:volume_image_metadata:show")
            return dict(volume.image_metadata or {})


def image_metadata_of(image: dict[str, Any]) -> dict[str, str]:
    """Cinder's volume_image_metadata: the image's own fields and its properties, as strings."""
    own = ("id", "name", "container_format", "disk_format", "checksum", "min_disk", "min_ram", "size")
    skip = {"status", "visibility", "protected", "owner", "created_at", "updated_at", "file", "self", "schema",
            "tags", "locations", "direct_url", "os_hash_algo", "os_hash_value", "os_hidden", "virtual_size",
            "stores"}
    result = {f"image_{k}" if k in ("id", "name") else k: str(image[k]) for k in own if image.get(k) is not None}
    for key, value in image.items():
        if key not in own and key not in skip and value is not None and isinstance(value, (str, int, float, bool)):
            result[key] = str(value)
    return result
