"""Snapshots: create, list, show, update, delete, metadata, admin status actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select
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
    require_object,
    scoped,
)
from gureum.volume.listing import paginate
from gureum.volume.models import Snapshot, SnapshotMetadata, Volume
from gureum.volume.records import SnapshotRecord, snapshot_record, snapshot_records

if TYPE_CHECKING:
    from gureum.cloud import Cloud

SORT_KEYS = {"id": Snapshot.id, "name": Snapshot.name, "display_name": Snapshot.name, "status": Snapshot.status,
             "size": Snapshot.size, "created_at": Snapshot.created_at, "updated_at": Snapshot.updated_at,
             "volume_id": Snapshot.volume_id}
CREATE_KEYS = frozenset({"volume_id", "name", "display_name", "description", "display_description", "force",
                         "metadata"})
UPDATE_KEYS = frozenset({"name", "display_name", "description", "display_description"})
SNAPSHOT_STATUSES = ("available", "error", "creating", "deleting", "error_deleting", "restoring", "unmanaging",
                     "backing-up")


class SnapshotsMixin:
    cloud: "Cloud"

    def _snapshot(self, session: Session, ctx: RequestContext, snapshot_id: str, action: str) -> Snapshot:
        snapshot = get_visible(session, Snapshot, ctx, snapshot_id, "Snapshot")
        self.cloud.policy.enforce(ctx, action, {"project_id": snapshot.project_id})
        return snapshot

    def create_snapshot(self, ctx: RequestContext, body: Any) -> SnapshotRecord:
        data = require_object(body, "snapshot")
        unknown = set(data) - CREATE_KEYS
        if unknown:
            raise BadRequest(f"Invalid input for field/attribute snapshot. Additional properties are not allowed "
                             f"({', '.join(sorted(map(repr, unknown)))} were unexpected)")
        volume_id = data.get("volume_id")
        if volume_id is None:
            raise NotFound("Volume None could not be found.")
        if not isinstance(volume_id, str) or not volume_id:
            raise BadRequest("Invalid input for field/attribute volume_id: a snapshot needs the id of its volume.")
        force = as_bool(data["force"], "force") if data.get("force") is not None else False
        name = optional_str(data, "name") if data.get("name") is not None else optional_str(data, "display_name")
        description = optional_str(data, "description", max_length=65535) if data.get("description") is not None \
            else optional_str(data, "display_description", max_length=65535)
        metadata = metadata_dict(data.get("metadata"))
        with self.cloud.db.session() as session:
            volume = get_visible(session, Volume, ctx, volume_id, "Volume")
            self.cloud.policy.enforce(ctx, "volume:create_snapshot", {"project_id": volume.project_id})
            allowed = ("available", "in-use") if force else ("available",)
            if volume.status not in allowed:
                raise BadRequest(f"Invalid volume: Volume {volume.id} status must be available"
                                 f"{' or in-use' if force else ''}, but current status is: {volume.status}.")
            quotas.check(session, volume.project_id, snapshots=1, gigabytes=volume.size)
            snapshot = Snapshot(volume_id=volume.id, project_id=volume.project_id, user_id=ctx.user_id, name=name,
                                description=description, size=volume.size, status="creating")
            session.add(snapshot)
            session.flush()
            for key, value in metadata.items():
                session.add(SnapshotMetadata(snapshot_id=snapshot.id, key=key, value=value))
            self._place_snapshot(session, volume, snapshot)
            status.refresh_snapshot(snapshot)
            session.flush()
            return snapshot_record(session, snapshot)

    def get_snapshot(self, ctx: RequestContext, snapshot_id: str) -> SnapshotRecord:
        with self.cloud.db.read() as session:
            return snapshot_record(session, self._snapshot(session, ctx, snapshot_id, "volume:get_snapshot"))

    def list_snapshots(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[SnapshotRecord], str | None]:
        self.cloud.policy.enforce(ctx, "volume:get_all_snapshots", {"project_id": ctx.project_id})
        all_tenants = as_bool(params["all_tenants"], "all_tenants") if params.get("all_tenants") not in (None, "") \
            else False
        with self.cloud.db.read() as session:
            stmt = scoped(select(Snapshot), Snapshot, ctx, all_tenants)
            for key in ("name", "display_name"):
                if params.get(key) is not None:
                    stmt = stmt.where(Snapshot.name == params[key])
            if params.get("status"):
                stmt = stmt.where(Snapshot.status == params["status"])
            if params.get("volume_id"):
                stmt = stmt.where(Snapshot.volume_id == params["volume_id"])
            if params.get("project_id") and ctx.is_admin and all_tenants:
                stmt = stmt.where(Snapshot.project_id == params["project_id"])
            if params.get("metadata"):
                for key, value in parse_query_dict(params["metadata"], "metadata").items():
                    stmt = stmt.where(exists().where(SnapshotMetadata.snapshot_id == Snapshot.id,
                                                     SnapshotMetadata.key == key, SnapshotMetadata.value == value))
            page = paginate(session, stmt, Snapshot, params, SORT_KEYS)
            return snapshot_records(session, page.rows), page.next_marker

    def update_snapshot(self, ctx: RequestContext, snapshot_id: str, body: Any) -> SnapshotRecord:
        data = require_object(body, "snapshot")
        unknown = set(data) - UPDATE_KEYS
        if unknown:
            raise BadRequest(f"Invalid input for field/attribute snapshot. Additional properties are not allowed "
                             f"({', '.join(sorted(map(repr, unknown)))} were unexpected)")
        if not data:
            raise BadRequest("Invalid input for field/attribute snapshot: name or description is required.")
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume:update_snapshot")
            for key, column in (("name", "name"), ("display_name", "name"), ("description", "description"),
                                ("display_description", "description")):
                if key in data:
                    setattr(snapshot, column, optional_str(data, key, max_length=255 if column == "name" else 65535))
            snapshot.updated_at = utcnow()
            session.flush()
            return snapshot_record(session, snapshot)

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str, *, force: bool = False) -> None:
        with self.cloud.db.session() as session:
            action = "volume_extension:snapshot_admin_actions:force_delete" if force else "volume:delete_snapshot"
            snapshot = self._snapshot(session, ctx, snapshot_id, action)
            if snapshot.deleted_at is not None:
                return
            if not force and snapshot.status not in ("available", "error", "creating"):
                raise BadRequest(f"Invalid snapshot: Snapshot status must be available or error, "
                                 f"it is {snapshot.status}.")
            children = session.execute(select(Volume.id).where(Volume.snapshot_id == snapshot.id,
                                                               Volume.status == "creating")).first()
            if children:
                raise BadRequest(f"Invalid snapshot: volume {children[0]} is still being created from it.")
            snapshot.deleted_at = utcnow()
            status.refresh_snapshot(snapshot)
            self._unplace_snapshot(session, snapshot)

    def reset_snapshot_status(self, ctx: RequestContext, snapshot_id: str, body: Any) -> None:
        data = require_object(body, "os-reset_status")
        new_status = data.get("status")
        if new_status not in SNAPSHOT_STATUSES:
            raise BadRequest(f"Invalid input for field/attribute status: {new_status!r} is not a snapshot status.")
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume_extension:snapshot_admin_actions:reset_status")
            status.reset_snapshot(snapshot, new_status)

    def update_snapshot_status(self, ctx: RequestContext, snapshot_id: str, data: Any) -> None:
        """What a volume driver reports about a snapshot it makes (Cinder's os-update_snapshot_status)."""
        if not isinstance(data, dict) or data.get("status") not in ("creating", "available", "error", "deleting",
                                                                    "error_deleting"):
            raise BadRequest("Invalid input for field/attribute status: it must be a snapshot status.")
        progress = data.get("progress")
        if progress is not None and (not isinstance(progress, str) or len(progress) > 255):
            raise BadRequest("Invalid input for field/attribute progress: it must be a string.")
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id,
                                      "snapshot_extension:snapshot_actions:update_snapshot_status")
            status.reset_snapshot(snapshot, data["status"])
            if progress is not None:
                snapshot.progress = progress

    def snapshot_action(self, ctx: RequestContext, snapshot_id: str, body: Any) -> None:
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Invalid request body: one action expected.")
        action = next(iter(body))
        if action == "os-reset_status":
            return self.reset_snapshot_status(ctx, snapshot_id, body)
        if action == "os-force_delete":
            return self.delete_snapshot(ctx, snapshot_id, force=True)
        if action == "os-update_snapshot_status":
            return self.update_snapshot_status(ctx, snapshot_id, body[action])
        with self.cloud.db.read() as session:
            self._snapshot(session, ctx, snapshot_id, "volume:get_snapshot")
        raise BadRequest(f"There is no such action: {action}")

    # -- metadata ------------------------------------------------------------------------

    def _snapshot_metadata(self, session: Session, snapshot_id: str) -> dict[str, str]:
        rows = session.execute(select(SnapshotMetadata).where(SnapshotMetadata.snapshot_id == snapshot_id)).scalars()
        return {r.key: r.value for r in rows}

    def get_snapshot_metadata(self, ctx: RequestContext, snapshot_id: str) -> dict[str, str]:
        with self.cloud.db.read() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume:get_snapshot_metadata")
            return self._snapshot_metadata(session, snapshot.id)

    def set_snapshot_metadata(self, ctx: RequestContext, snapshot_id: str, body: Any, *, replace: bool) -> dict[str, str]:
        if not isinstance(body, dict) or "metadata" not in body:
            raise BadRequest("Malformed request body: it must hold 'metadata'.")
        metadata = metadata_dict(body["metadata"])
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume:update_snapshot_metadata")
            merged = metadata if replace else {**self._snapshot_metadata(session, snapshot.id), **metadata}
            session.execute(delete(SnapshotMetadata).where(SnapshotMetadata.snapshot_id == snapshot.id))
            session.flush()
            for key, value in merged.items():
                session.add(SnapshotMetadata(snapshot_id=snapshot.id, key=key, value=value))
            snapshot.updated_at = utcnow()
            return merged

    def get_snapshot_metadata_item(self, ctx: RequestContext, snapshot_id: str, key: str) -> dict[str, str]:
        metadata = self.get_snapshot_metadata(ctx, snapshot_id)
        if key not in metadata:
            raise NotFound(f"Metadata item was not found (snapshot {snapshot_id} has no key {key!r}).")
        return {key: metadata[key]}

    def set_snapshot_metadata_item(self, ctx: RequestContext, snapshot_id: str, key: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
            raise BadRequest("Malformed request body: it must hold 'meta', an object of one item.")
        item = metadata_dict(body["meta"], "meta")
        if len(item) != 1:
            raise BadRequest("Request body contains too many items.")
        if key not in item:
            raise BadRequest("Request body and URI mismatch.")
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume:update_snapshot_metadata")
            row = session.get(SnapshotMetadata, (snapshot.id, key))
            if row is None:
                session.add(SnapshotMetadata(snapshot_id=snapshot.id, key=key, value=item[key]))
            else:
                row.value = item[key]
            return item

    def delete_snapshot_metadata_item(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.cloud.db.session() as session:
            snapshot = self._snapshot(session, ctx, snapshot_id, "volume:delete_snapshot_metadata")
            row = session.get(SnapshotMetadata, (snapshot.id, key))
            if row is None:
                raise NotFound(f"Metadata item was not found (snapshot {snapshot_id} has no key {key!r}).")
            session.delete(row)
