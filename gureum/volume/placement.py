"""Where a volume lives: a backend on an agent host, claimed in one conditional UPDATE.

A volume goes next to what it needs: a clone or a volume from a snapshot on its
source's host and backend (the data is there), a boot volume on its server's host
(attached locally, no network hop), any other on the host of its zone with the most
room. The claim adds the size to the backend's `allocated_gb` only if it still fits
its capacity, so two controllers placing at once never overfill one (the pattern of
gureum/compute/scheduler.py:claim). A volume no host can take is `error`, with the
room each candidate has in the reason. Until some host reports a backend, volumes
wait `creating` and are placed when one does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.volume.models import Snapshot, Volume, VolumeAttachment, VolumeHost

if TYPE_CHECKING:
    from gureum.cloud import Cloud

HOST_DOWN_AFTER = timedelta(seconds=60)
DEFAULT_BACKEND = "file"


class NoRoom(Exception):
    """No backend can take the volume; the message says what each one has."""


def candidates(session: Session, zone: str, size: int, *, hostname: str | None = None,
               backend: str | None = None) -> list[VolumeHost]:
    """Live, enabled backends of the zone (or the one host/backend asked for), roomiest first."""
    stmt = select(VolumeHost).where(VolumeHost.disabled.is_(False),
                                    VolumeHost.last_seen_at >= utcnow() - HOST_DOWN_AFTER)
    if hostname is not None:
        stmt = stmt.where(VolumeHost.hostname == hostname)
    else:
        stmt = stmt.where(VolumeHost.availability_zone == zone)
    if backend is not None:
        stmt = stmt.where(VolumeHost.backend == backend)
    rows = list(session.execute(stmt).scalars())
    return sorted(rows, key=lambda h: (h.capacity_gb - h.allocated_gb, h.free_gb), reverse=True)


def claim(session: Session, host: VolumeHost, size: int) -> bool:
    """Reserve `size` GiB on the backend if it still fits: one conditional UPDATE."""
    result = session.execute(
        update(VolumeHost)
        .where(VolumeHost.id == host.id, VolumeHost.allocated_gb + size <= VolumeHost.capacity_gb)
        .values(allocated_gb=VolumeHost.allocated_gb + size)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(host)
    return True


def release(session: Session, hostname: str | None, backend: str | None, size: int) -> None:
    if not hostname or not backend or size <= 0:
        return
    session.execute(
        update(VolumeHost).where(VolumeHost.hostname == hostname, VolumeHost.backend == backend)
        .values(allocated_gb=VolumeHost.allocated_gb - size).execution_options(synchronize_session=False)
    )


def describe(rows: list[VolumeHost]) -> str:
    return "; ".join(f"{h.hostname} ({h.backend}) has {max(0, h.capacity_gb - h.allocated_gb)} GiB free of "
                     f"{h.capacity_gb} GiB" for h in rows)


class PlacementMixin:
    cloud: "Cloud"

    def _place(self, session: Session, volume: Volume, *, near_host: str | None = None) -> None:
        """Put the volume on a backend; leave it waiting when no host has reported any yet."""
        hostname, backend = near_host, None
        source = None
        if volume.snapshot_id:
            snapshot = session.get(Snapshot, volume.snapshot_id)
            source = session.get(Volume, snapshot.volume_id) if snapshot is not None else None
        elif volume.source_volid:
            source = session.get(Volume, volume.source_volid)
        if source is not None:
            hostname, backend = source.host, source.backend
        if source is not None and not source.host:
            return  # placed once its source is
        if not session.execute(select(VolumeHost.id).limit(1)).first():
            return  # no storage host yet: placed when the first reports (observe.py)
        rows = candidates(session, volume.availability_zone, volume.size, hostname=hostname, backend=backend)
        for host in rows:
            if claim(session, host, volume.size):
                volume.host, volume.backend = host.hostname, host.backend
                volume.status_reason = None
                return
        where = f"host {hostname}" if hostname else f"availability zone {volume.availability_zone}"
        if not rows:
            reason = f"No storage host in {where} is up to hold this {volume.size} GiB volume."
        else:
            reason = (f"No storage backend in {where} has room for this {volume.size} GiB volume: "
                      f"{describe(rows)}.")
        volume.status, volume.status_reason = "error", reason

    def place_waiting(self, session: Session) -> None:
        """Place the volumes that waited for a storage host (called when hosts report)."""
        # A volume made with a server waits for the server's host instead (bind_server_attachments).
        for_server = exists().where(VolumeAttachment.volume_id == Volume.id, VolumeAttachment.attached_host.is_(None),
                                    VolumeAttachment.instance_uuid.is_not(None))
        waiting = session.execute(
            select(Volume).where(Volume.host.is_(None), Volume.deleted_at.is_(None), Volume.status == "creating",
                                 ~for_server)
            .order_by(Volume.created_at).limit(100)
        ).scalars().all()
        for volume in waiting:
            self._place(session, volume)
            self._refresh(session, volume)

    def _unplace(self, session: Session, volume: Volume) -> None:
        """A deleted volume that no host holds goes now; one on a host goes when it reports it gone."""
        if volume.host is None:
            self._finish_delete(session, volume)

    def _place_snapshot(self, session: Session, volume: Volume, snapshot: Snapshot) -> None:
        """A snapshot is taken by the host of its volume (it is in that volume's desired state)."""
        if volume.host is None:
            snapshot.status, snapshot.status_reason = "error", "The volume has no host to take the snapshot on."

    def _unplace_snapshot(self, session: Session, snapshot: Snapshot) -> None:
        volume = session.get(Volume, snapshot.volume_id)
        if volume is None or volume.host is None or snapshot.status == "error":
            session.delete(snapshot)

    def _request_extend(self, session: Session, volume: Volume, old_size: int) -> None:
        """Claim the growth on the volume's backend, then let the host grow it."""
        host = session.execute(select(VolumeHost).where(VolumeHost.hostname == volume.host,
                                                        VolumeHost.backend == volume.backend)).scalar_one_or_none()
        grow = volume.size - old_size
        if host is not None and not claim(session, host, grow):
            from gureum.http.errors import BadRequest  # noqa: PLC0415

            raise BadRequest(f"Invalid volume: backend {host.backend} on {host.hostname} has "
                             f"{max(0, host.capacity_gb - host.allocated_gb)} GiB free; extending by {grow} GiB "
                             "does not fit.")
        volume.status = "extending"
        self._refresh(session, volume)

    def _request_revert(self, session: Session, volume: Volume, snapshot: Snapshot) -> None:
        volume.revert_count += 1
        volume.revert_snapshot_id = snapshot.id
        volume.status = "reverting"
        self._refresh(session, volume)
