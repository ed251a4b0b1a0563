"""The exact JSON of Cinder's v3 API, by microversion.

Records come from the service with their child rows batched (`records.py`); nothing
here touches the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from gureum.http.context import RequestContext
from gureum.volume.microversion import MAX_VERSION, MIN_VERSION, Microversion, version_string
from gureum.volume.records import SnapshotRecord, VolumeRecord
from gureum.volume.models import Backup, VolumeAttachment, VolumeHost, VolumeTransfer, VolumeType

MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]
UPDATED = "2023-08-31T00:00:00Z"


def iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


# -- discovery ---------------------------------------------------------------------


def v3_document(root: str) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": version_string(MAX_VERSION),
        "min_version": version_string(MIN_VERSION),
        "updated": UPDATED,
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": f"{root}/v3/"},
        ],
        "media-types": MEDIA_TYPES,
    }


def versions_view(root: str) -> dict[str, Any]:
    return {"versions": [v3_document(root)]}


# -- links -------------------------------------------------------------------------


def links(root: str, project_id: str, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"href": f"{root}/v3/{project_id}/{collection}/{item_id}", "rel": "self"},
        {"href": f"{root}/{project_id}/{collection}/{item_id}", "rel": "bookmark"},
    ]


def collection_links(request_url: str, next_marker: str | None, query: dict[str, str]) -> list[dict[str, str]]:
    """The next page: the URL this page was asked on (with or without the project), marker moved."""
    if not next_marker:
        return []
    params = {k: v for k, v in query.items() if k != "marker"}
    params["marker"] = next_marker
    return [{"href": f"{request_url.split('?', 1)[0]}?{urlencode(params)}", "rel": "next"}]


# -- volumes -----------------------------------------------------------------------


def attachment_summary(attachment: VolumeAttachment) -> dict[str, Any]:
    return {
        "server_id": attachment.instance_uuid,
        "attachment_id": attachment.id,
        "attached_at": iso(attachment.attached_at),
        "host_name": attachment.attached_host,
        "volume_id": attachment.volume_id,
        "device": attachment.device,
        "id": attachment.volume_id,
    }


def volume_summary(record: VolumeRecord, root: str) -> dict[str, Any]:
    v = record.volume
    return {"id": v.id, "name": v.name, "links": links(root, v.project_id, "volumes", v.id)}


def volume_detail(record: VolumeRecord, root: str, ctx: RequestContext, version: Microversion, *,
                  extended: bool = True) -> dict[str, Any]:
    """Cinder's detail view; `extended` adds what its GET-only extensions add (tenant, host,
    migration status, image metadata), which create and update answers lack."""
    v = record.volume
    metadata = dict(record.metadata)
    if v.readonly is not None:
        metadata.setdefault("readonly", "True" if v.readonly else "False")
    body: dict[str, Any] = {
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "status": v.status,
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": iso(v.created_at),
        "updated_at": iso(v.updated_at),
        "attachments": [attachment_summary(a) for a in record.attachments
                        if a.attach_status in ("attached", "detaching")],
        "links": links(root, v.project_id, "volumes", v.id),
        "metadata": metadata,
        "bootable": "true" if v.bootable else "false",
        "encrypted": False,
        "multiattach": v.multiattach,
        "replication_status": None,
        "consistencygroup_id": None,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "user_id": v.user_id,
        "volume_type": record.type_name,
    }
    if ctx.is_admin:
        body["migration_status"] = None
    if extended:
        body["os-vol-tenant-attr:tenant_id"] = v.project_id
        if v.image_metadata:
            body["volume_image_metadata"] = dict(v.image_metadata)
    if extended and ctx.is_admin:
        body["os-vol-host-attr:host"] = f"{v.host}@{v.backend}#{v.backend}" if v.host and v.backend else None
        body["os-vol-mig-status-attr:migstat"] = None
        body["os-vol-mig-status-attr:name_id"] = None
    if version.at_least(13):
        body["group_id"] = None
    if version.at_least(21) and ctx.is_admin:
        body["provider_id"] = None
    if version.at_least(48):
        body["service_uuid"] = None
        body["shared_targets"] = None if version.at_least(69) else False
    if version.at_least(61) and ctx.is_admin:
        body["cluster_name"] = None
    if version.at_least(63):
        body["volume_type_id"] = v.volume_type_id
    if version.at_least(64):
        body["encryption_key_id"] = None
    if version.at_least(65):
        body["consumes_quota"] = True
    return body


def volume_summary_totals(count: int, size: int, metadata: dict[str, list[str]], version: Microversion) -> dict[str, Any]:
    body: dict[str, Any] = {"total_size": size, "total_count": count}
    if version.at_least(36):
        body["metadata"] = metadata
    return {"volume-summary": body}


# -- snapshots ---------------------------------------------------------------------


def snapshot_view(record: SnapshotRecord, version: Microversion, *, extended: bool) -> dict[str, Any]:
    s = record.snapshot
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "status": s.status,
        "size": s.size,
        "volume_id": s.volume_id,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "metadata": dict(record.metadata),
    }
    if version.at_least(14):
        body["group_snapshot_id"] = None
    if version.at_least(41):
        body["user_id"] = s.user_id
    if version.at_least(65):
        body["consumes_quota"] = True
    if extended:
        body["os-extended-snapshot-attributes:progress"] = s.progress or ("100%" if s.status == "available" else "0%")
        body["os-extended-snapshot-attributes:project_id"] = s.project_id
    return body


# -- types -------------------------------------------------------------------------


def type_view(vtype: VolumeType, *, show_specs: bool, show_qos: bool = False,
              show_access: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "is_public": vtype.is_public,
    }
    if show_access:
        body["os-volume-type-access:is_public"] = vtype.is_public
    if show_qos:
        body["qos_specs_id"] = None
    if show_specs:
        body["extra_specs"] = dict(vtype.extra_specs or {})
    return body


# -- attachments (3.27) ------------------------------------------------------------


def attachment_view(attachment: VolumeAttachment, connection_info: dict[str, Any] | None = None,
                    *, detail: bool = True) -> dict[str, Any]:
    status = {"reserved": "reserved", "attaching": "attaching", "attached": "attached",
              "detaching": "detaching"}.get(attachment.attach_status, attachment.attach_status)
    body: dict[str, Any] = {
        "id": attachment.id,
        "status": status,
        "instance": attachment.instance_uuid,
        "volume_id": attachment.volume_id,
    }
    if detail:
        body.update({
            "attached_at": iso(attachment.attached_at),
            "detached_at": None,
            "attach_mode": attachment.attach_mode,
            "connection_info": connection_info or {},
        })
    return body


# -- transfers ---------------------------------------------------------------------


def transfer_view(transfer: VolumeTransfer, root: str, version: Microversion, *, detail: bool = True,
                  auth_key: str | None = None, collection: str = "os-volume-transfer") -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": transfer.id,
        "name": transfer.name,
        "volume_id": transfer.volume_id,
        "links": links(root, transfer.project_id, collection, transfer.id),
    }
    if detail:
        body["created_at"] = iso(transfer.created_at)
    if version.at_least(55) and detail:
        body["no_snapshots"] = transfer.no_snapshots
    if version.at_least(57) and detail:
        body["destination_project_id"] = None
        body["source_project_id"] = transfer.project_id
        body["accepted"] = False
    if auth_key is not None:
        body["auth_key"] = auth_key
    return body


# -- backups -----------------------------------------------------------------------


def backup_view(backup: Backup, root: str, *, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": backup.id,
        "name": backup.name,
        "links": links(root, backup.project_id, "backups", backup.id),
    }
    if detail:
        body.update({
            "status": backup.status,
            "description": backup.description,
            "availability_zone": backup.availability_zone,
            "volume_id": backup.volume_id,
            "snapshot_id": backup.snapshot_id,
            "container": backup.container,
            "size": backup.size,
            "object_count": backup.object_count,
            "fail_reason": backup.status_reason,
            "is_incremental": backup.is_incremental,
            "has_dependent_backups": False,
            "created_at": iso(backup.created_at),
            "updated_at": iso(backup.updated_at),
            "data_timestamp": iso(backup.data_timestamp or backup.created_at),
        })
    return body


# -- services and zones ------------------------------------------------------------


def service_view(host: VolumeHost, up: bool, version: Microversion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "binary": "cinder-volume",
        "host": f"{host.hostname}@{host.backend}",
        "zone": host.availability_zone,
        "status": "disabled" if host.disabled else "enabled",
        "state": "up" if up else "down",
        "updated_at": iso(host.last_seen_at),
        "disabled_reason": host.disabled_reason,
        "frozen": False,
        "replication_status": "disabled",
        "active_backend_id": None,
    }
    if version.at_least(7):
        body["cluster"] = None
    if version.at_least(49):
        body["backend_state"] = "up" if up else "down"
    return body


def scheduler_service_view(hostname: str, zone: str, updated: datetime | None, version: Microversion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "binary": "cinder-scheduler",
        "host": hostname,
        "zone": zone,
        "status": "enabled",
        "state": "up",
        "updated_at": iso(updated),
        "disabled_reason": None,
    }
    if version.at_least(7):
        body["cluster"] = None
    return body
