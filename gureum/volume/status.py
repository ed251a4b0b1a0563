"""A volume's status, derived from what is asked for and what its hosts report.

Nothing sets `available` or `in-use` by hand: `derive` computes the status from the
volume's desired state (deleted, pending one-shot actions), its attachments and
what the hosts observe, and `refresh` stores the result in the `status` column so
lists filter and sort on it in SQL. Because it is recomputed from facts, a status
cannot stick: a lost message only delays the next observation.
"""

from __future__ import annotations

from collections.abc import Iterable

from gureum.volume.models import Snapshot, Volume, VolumeAttachment

# Statuses a one-shot action holds until the host reports it done.
PENDING_ACTIONS = ("extending", "uploading", "backing-up", "restoring-backup", "retyping", "reverting",
                   "downloading")


def derive(volume: Volume, attachments: Iterable[VolumeAttachment]) -> str:
    if volume.deleted_at is not None:
        return "deleting"
    if volume.status == "error" and volume.status_reason and not volume.observed_present:
        # An impossible source (an image bigger than the volume): nothing will change it.
        return "error"
    if not volume.observed_present:
        # The host tried and failed (retried every pass: a later success makes it available).
        return "error" if volume.observed_error else "creating"
    if volume.status in PENDING_ACTIONS:
        return volume.status
    if volume.awaiting_transfer:
        return "awaiting-transfer"
    states = {a.attach_status for a in attachments}
    if "detaching" in states:
        return "detaching"
    if "attached" in states:
        return "in-use"
    if "attaching" in states:
        return "attaching"
    if "reserved" in states:
        return "reserved"
    return "available"


def refresh(volume: Volume, attachments: Iterable[VolumeAttachment]) -> None:
    """Store the derived status. An admin's os-reset_status holds until the facts change:
    `status_override` keeps what the facts said when the admin overrode them."""
    status = derive(volume, attachments)
    if volume.status_override is not None:
        if status == volume.status_override:
            return
        volume.status_override = None
    volume.status = status


def reset(volume: Volume, new_status: str, attachments: Iterable[VolumeAttachment]) -> None:
    volume.status_override = derive(volume, attachments)
    volume.status = new_status


def derive_snapshot(snapshot: Snapshot) -> str:
    if snapshot.deleted_at is not None:
        return "deleting"
    if snapshot.status == "error" and snapshot.status_reason:
        return "error"
    return "available" if snapshot.observed_present else "creating"


def refresh_snapshot(snapshot: Snapshot) -> None:
    status = derive_snapshot(snapshot)
    if snapshot.status_override is not None:
        if status == snapshot.status_override:
            return
        snapshot.status_override = None
    snapshot.status = status


def reset_snapshot(snapshot: Snapshot, new_status: str) -> None:
    snapshot.status_override = derive_snapshot(snapshot)
    snapshot.status = new_status
