"""Where a volume lives, and what its host must do for it.

Until an agent reports a volume backend, there is no host to place on: a volume is
then bookkeeping only (present at once, no data behind it), which is what this
module does today. Placement on a backend + host, claimed in one conditional UPDATE,
replaces it once agents report their backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.volume.models import Snapshot, Volume

if TYPE_CHECKING:
    from gureum.cloud import Cloud


class PlacementMixin:
    cloud: "Cloud"

    def _place(self, session: Session, volume: Volume) -> None:
        volume.observed_present = True
        volume.observed_size = volume.size
        volume.launched_at = utcnow()

    def _unplace(self, session: Session, volume: Volume) -> None:
        if volume.host is None:
            self._finish_delete(session, volume)

    def _place_snapshot(self, session: Session, volume: Volume, snapshot: Snapshot) -> None:
        snapshot.observed_present = True

    def _unplace_snapshot(self, session: Session, snapshot: Snapshot) -> None:
        volume = session.get(Volume, snapshot.volume_id)
        if volume is None or volume.host is None:
            session.delete(snapshot)

    def _request_extend(self, session: Session, volume: Volume) -> None:
        volume.observed_size = volume.size

    def _request_revert(self, session: Session, volume: Volume, snapshot: Snapshot) -> None:
        return None
