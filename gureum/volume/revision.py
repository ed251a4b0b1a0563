"""One counter for every change that may alter what some host does for block storage.

As the network's (gureum/network/revision.py): a flush that adds or deletes a volume,
snapshot or attachment, or changes what an agent reads of one, bumps the "volume"
revision in the same transaction; after the commit every agent's long poll wakes. The
columns the agents' own reports fill (observed_*, status) wake nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from gureum.db.revision import RevisionWatch
from gureum.volume.models import Snapshot, Volume, VolumeAttachment

WATCHED = (Volume, Snapshot, VolumeAttachment)
# What agents report or only the API shows: changing only these wakes nobody.
NOT_DESIRED = frozenset({
    "status", "status_override", "status_reason", "updated_at", "observed_present", "observed_size",
    "observed_error", "observed_attached", "name", "description", "launched_at", "attached_at", "progress",
    "bootable", "image_metadata", "awaiting_transfer", "project_id", "user_id", "tag",
})
_PENDING = "gureum.volume.bumped"


def touches_hosts(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, WATCHED):
            return True
    for obj in session.dirty:
        if not isinstance(obj, WATCHED):
            continue
        for attr in inspect(obj).attrs:
            if attr.key not in NOT_DESIRED and attr.history.has_changes():
                return True
    return False


def watch_volume_changes(factory: sessionmaker[Session], revision: RevisionWatch,
                         on_commit: Callable[[], None]) -> None:
    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        if session.info.get(_PENDING) or not touches_hosts(session):
            return
        session.info[_PENDING] = True
        revision.bump(session)

    def after_commit(session: Session) -> None:
        if session.info.pop(_PENDING, False):
            on_commit()

    def after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)

    event.listen(factory, "before_flush", before_flush)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)
