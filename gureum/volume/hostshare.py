"""Block storage's share of the host gateway: what a host must hold and attach, and what it says.

The gateway (compute's desired_state/apply_report today, gureum/hosts/ later) calls
`desired_for_host` and `attachments_for_instances` to assemble a host's desired state,
and `observe_report` with each report. Everything is read or written in the session
the gateway opened; statements are batched per host, never per volume.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gureum.agent.protocol import (
    DesiredAttachment,
    DesiredExport,
    DesiredVolume,
    DesiredVolumeUpload,
    HostReport,
    VolumeSource,
    VolumeTransport,
)
from gureum.db.base import utcnow
from gureum.volume import status
from gureum.volume.models import Snapshot, Volume, VolumeAttachment, VolumeHost

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)
GiB = 1024**3


class HostShareMixin:
    cloud: "Cloud"

    # -- desired ------------------------------------------------------------------------

    def desired_for_host(self, session: Session, hostname: str) -> tuple[list[DesiredVolume], list[DesiredExport]]:
        """The volumes this host must hold (a deleted one is absent: the host removes it)."""
        volumes = list(session.execute(
            select(Volume).where(Volume.host == hostname, Volume.deleted_at.is_(None))
            .order_by(Volume.created_at)
        ).scalars())
        if not volumes:
            return [], []
        ids = [v.id for v in volumes]
        snapshots: dict[str, list[str]] = defaultdict(list)
        sources: dict[str, str] = {}
        for snap_id, volume_id in session.execute(
            select(Snapshot.id, Snapshot.volume_id).where(Snapshot.volume_id.in_(ids), Snapshot.deleted_at.is_(None),
                                                        Snapshot.status != "error").order_by(Snapshot.created_at)
        ).all():
            snapshots[volume_id].append(snap_id)
        snapshot_ids = [v.snapshot_id for v in volumes if v.snapshot_id]
        if snapshot_ids:
            sources = dict(session.execute(select(Snapshot.id, Snapshot.volume_id)
                                           .where(Snapshot.id.in_(snapshot_ids))).all())
        desired = [
            DesiredVolume(
                id=v.id, backend=v.backend or "file", size_gb=v.size, project_id=v.project_id,
                source=self._source_of(v, sources), snapshots=snapshots.get(v.id, []),
                revert_count=v.revert_count, revert_snapshot_id=v.revert_snapshot_id or "",
                uploads=[DesiredVolumeUpload(u["image_id"], u.get("disk_format", "raw")) for u in v.uploads or []],
            )
            for v in volumes
        ]
        return desired, []

    @staticmethod
    def _source_of(volume: Volume, snapshot_volumes: dict[str, str]) -> VolumeSource:
        if volume.snapshot_id:
            return VolumeSource("snapshot", volume.snapshot_id, snapshot_volumes.get(volume.snapshot_id, ""))
        if volume.source_volid:
            return VolumeSource("volume", volume.source_volid)
        if volume.image_id:
            return VolumeSource("image", volume.image_id)
        return VolumeSource()

    def attachments_for_instances(self, session: Session, hostname: str,
                                  instance_uuids: list[str]) -> dict[str, list[DesiredAttachment]]:
        """Per guest of this host, the volumes it must have plugged in (detaching ones are not)."""
        if not instance_uuids:
            return {}
        rows = session.execute(
            select(VolumeAttachment, Volume).join(Volume, Volume.id == VolumeAttachment.volume_id)
            .where(VolumeAttachment.instance_uuid.in_(instance_uuids),
                   VolumeAttachment.attach_status.in_(("attaching", "attached")),
                   Volume.observed_present.is_(True), Volume.deleted_at.is_(None))
            .order_by(VolumeAttachment.created_at)
        ).all()
        result: dict[str, list[DesiredAttachment]] = defaultdict(list)
        for attachment, volume in rows:
            if volume.host != hostname:
                # Another host's volume reaches this guest over an NBD export: not wired yet.
                continue
            result[attachment.instance_uuid or ""].append(DesiredAttachment(
                attachment_id=attachment.id, volume_id=volume.id, serial=volume.id,
                boot_index=attachment.boot_index, readonly=attachment.attach_mode == "ro" or volume.readonly,
                transport=VolumeTransport(kind="file"),
            ))
        return dict(result)

    # -- observed -----------------------------------------------------------------------

    def observe_report(self, session: Session, report: HostReport) -> None:
        self._observe_backends(session, report)
        self._observe_volumes(session, report)
        self._observe_attachments(session, report)
        self.place_waiting(session)

    def _observe_backends(self, session: Session, report: HostReport) -> None:
        if not report.volume_backends:
            return
        zone = report.capacity.availability_zone or "nova"
        existing = {h.backend: h for h in session.execute(
            select(VolumeHost).where(VolumeHost.hostname == report.hostname)).scalars()}
        allocated = dict(session.execute(
            select(Volume.backend, func.coalesce(func.sum(Volume.size), 0)).where(Volume.host == report.hostname)
            .group_by(Volume.backend)).all())
        for seen in report.volume_backends:
            host = existing.get(seen.name)
            if host is None:
                host = VolumeHost(hostname=report.hostname, backend=seen.name)
                session.add(host)
                log.info("storage backend %s on %s registered itself", seen.name, report.hostname)
            host.availability_zone = zone
            # A backend that reports a problem takes nothing new.
            host.capacity_gb = 0 if seen.error else seen.total_bytes // GiB
            host.free_gb = seen.free_bytes // GiB
            host.allocated_gb = int(allocated.get(seen.name, 0))
            host.last_seen_at = utcnow()
        session.flush()

    def _observe_volumes(self, session: Session, report: HostReport) -> None:
        seen_by_id = {v.id: v for v in report.volumes}
        volumes = list(session.execute(select(Volume).where(Volume.host == report.hostname)).scalars())
        if not volumes:
            return
        ids = [v.id for v in volumes]
        snapshots: dict[str, list[Snapshot]] = defaultdict(list)
        for snapshot in session.execute(select(Snapshot).where(Snapshot.volume_id.in_(ids))).scalars():
            snapshots[snapshot.volume_id].append(snapshot)
        attachments: dict[str, list[VolumeAttachment]] = defaultdict(list)
        for attachment in session.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id.in_(ids))).scalars():
            attachments[attachment.volume_id].append(attachment)
        for volume in volumes:
            seen = seen_by_id.get(volume.id)
            present = bool(seen and seen.present)
            if volume.deleted_at is not None:
                if not present:
                    session.execute(delete(VolumeAttachment).where(VolumeAttachment.volume_id == volume.id))
                    self._finish_delete(session, volume)
                elif seen is not None and seen.error and volume.status_reason != seen.error:
                    volume.status_reason = f"Deleting: {seen.error} (retried every pass)"
                continue
            if seen is None:
                continue
            volume.observed_present = present
            volume.observed_error = None if present or seen.busy else seen.error
            if present:
                volume.observed_size = seen.size_gb
                volume.launched_at = volume.launched_at or utcnow()
            volume.status_reason = seen.error
            self._finish_actions(session, volume, seen)
            for snapshot in snapshots.get(volume.id, []):
                held = snapshot.id in seen.snapshots
                if snapshot.deleted_at is not None and not held:
                    session.delete(snapshot)
                    continue
                snapshot.observed_present = held
                status.refresh_snapshot(snapshot)
            status.refresh(volume, attachments.get(volume.id, []))

    def _finish_actions(self, session: Session, volume: Volume, seen: Any) -> None:
        if volume.status == "extending" and (seen.size_gb or 0) >= volume.size:
            volume.status = "available"
        if volume.status == "reverting" and seen.revert_count >= volume.revert_count:
            volume.status = "available"
        if volume.uploads:
            done = set(seen.uploads_done) | set(seen.uploads_failed)
            for image_id, reason in seen.uploads_failed.items():
                log.warning("upload of volume %s to image %s failed: %s", volume.id, image_id, reason)
                self._drop_failed_upload(volume, image_id)
            remaining = [u for u in volume.uploads if u["image_id"] not in done]
            if len(remaining) != len(volume.uploads):
                volume.uploads = remaining
            if not remaining and volume.status == "uploading":
                volume.status = "available"

    def _observe_attachments(self, session: Session, report: HostReport) -> None:
        observed = {i.uuid: i for i in report.instances}
        if not observed:
            return
        rows = list(session.execute(select(VolumeAttachment).where(
            VolumeAttachment.instance_uuid.in_(list(observed)))).scalars())
        touched: set[str] = set()
        for attachment in rows:
            seen = observed[attachment.instance_uuid or ""]
            plugged = attachment.id in seen.volumes_attached or attachment.id in seen.detach_pending
            attachment.observed_error = seen.volume_errors.get(attachment.id)
            if attachment.attach_status == "detaching":
                if not plugged:
                    session.delete(attachment)
                    touched.add(attachment.volume_id)
                continue
            if plugged != attachment.observed_attached:
                attachment.observed_attached = plugged
                if plugged and attachment.attach_status == "attaching":
                    attachment.attach_status = "attached"
                    attachment.attached_at = attachment.attached_at or utcnow()
                touched.add(attachment.volume_id)
        if touched:
            session.flush()
            for volume in session.execute(select(Volume).where(Volume.id.in_(touched))).scalars():
                self._refresh(session, volume)
