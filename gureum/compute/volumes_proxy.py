"""Nova's os-volumes and os-snapshots: a proxy onto the volume service (to microversion 2.35).

Nova kept these as a thin translation onto Cinder; so does gureum, through the volume
service's public methods (which check Cinder's policy and input in their own
transaction). Shapes are Nova's camelCase views: displayName, availabilityZone,
createdAt, attachments as [{}] when the volume is not attached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gureum.http.context import RequestContext
from gureum.policy import enforces

if TYPE_CHECKING:
    from gureum.cloud import Cloud
    from gureum.volume.records import SnapshotRecord, VolumeRecord

POLICY = "os_compute_api:os-volumes:"


def _when(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def nova_volume(record: "VolumeRecord") -> dict[str, Any]:
    """Nova's _translate_volume_summary_view (the detail view is the same)."""
    volume = record.volume
    attached = [a for a in record.attachments if a.attach_status == "attached" and a.instance_uuid]
    attachments: list[dict[str, Any]] = [{}]
    if attached:
        first = attached[0]
        attachments = [{"id": volume.id, "volumeId": volume.id, "serverId": first.instance_uuid,
                        **({"device": first.device} if first.device else {})}]
    return {"id": volume.id, "status": volume.status, "size": volume.size,
            "availabilityZone": volume.availability_zone, "createdAt": _when(volume.created_at),
            "attachments": attachments, "displayName": volume.name, "displayDescription": volume.description,
            "volumeType": record.type_name or volume.volume_type_id, "snapshotId": volume.snapshot_id,
            "metadata": dict(record.metadata or {})}


def nova_snapshot(record: "SnapshotRecord") -> dict[str, Any]:
    snapshot = record.snapshot
    return {"id": snapshot.id, "volumeId": snapshot.volume_id, "status": snapshot.status, "size": snapshot.size,
            "createdAt": _when(snapshot.created_at), "displayName": snapshot.name,
            "displayDescription": snapshot.description}


class VolumeProxy:
    """The os-volumes and os-snapshots methods of ComputeService."""

    cloud: "Cloud"

    def list_proxy_volumes(self, ctx: RequestContext, detailed: bool = False) -> list[dict[str, Any]]:
        """In Cinder's order (newest first), as Nova relays it; Nova's summary and detail are one view."""
        self.cloud.policy.enforce(ctx, POLICY + ("detail" if detailed else "list"), {"project_id": ctx.project_id})
        records, _marker = self.cloud.volume.list_volumes(ctx, {})
        return [nova_volume(r) for r in records]

    @enforces(POLICY + "show")
    def show_proxy_volume(self, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
        return nova_volume(self.cloud.volume.get_volume(ctx, volume_id))

    @enforces(POLICY + "create")
    def create_proxy_volume(self, ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
        """`data`: Nova's volume body (size, display_name, display_description, volume_type,
        metadata, snapshot_id, availability_zone), form-checked by the API."""
        body = {"size": data.get("size"), "name": data.get("display_name"),
                "description": data.get("display_description"), "volume_type": data.get("volume_type"),
                "metadata": data.get("metadata"), "snapshot_id": data.get("snapshot_id"),
                "availability_zone": data.get("availability_zone")}
        return nova_volume(self.cloud.volume.create_volume(ctx, {"volume": body}))

    @enforces(POLICY + "delete")
    def delete_proxy_volume(self, ctx: RequestContext, volume_id: str) -> None:
        self.cloud.volume.delete_volume(ctx, volume_id)

    def list_proxy_snapshots(self, ctx: RequestContext, detailed: bool = False) -> list[dict[str, Any]]:
        self.cloud.policy.enforce(ctx, POLICY + ("snapshots:detail" if detailed else "snapshots:list"),
                                  {"project_id": ctx.project_id})
        records, _marker = self.cloud.volume.list_snapshots(ctx, {})
        return [nova_snapshot(r) for r in records]

    @enforces(POLICY + "snapshots:show")
    def show_proxy_snapshot(self, ctx: RequestContext, snapshot_id: str) -> dict[str, Any]:
        return nova_snapshot(self.cloud.volume.get_snapshot(ctx, snapshot_id))

    @enforces(POLICY + "snapshots:create")
    def create_proxy_snapshot(self, ctx: RequestContext, data: dict[str, Any]) -> dict[str, Any]:
        body = {"volume_id": data.get("volume_id"), "force": data.get("force"),
                "name": data.get("display_name"), "description": data.get("display_description")}
        return nova_snapshot(self.cloud.volume.create_snapshot(ctx, {"snapshot": body}))

    @enforces(POLICY + "snapshots:delete")
    def delete_proxy_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        self.cloud.volume.delete_snapshot(ctx, snapshot_id)
