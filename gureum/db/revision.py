"""Revision counters: a cheap way for several controllers to notice stale caches.

A write that changes cached data bumps its counter in the same transaction.
Readers compare the counter (read at most once per `poll_seconds`) with the one
their cache was built at. In one process, `bump` marks the cache stale at once.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from gureum.db.engine import Database
from gureum.identity.models import Revision


class RevisionWatch:
    def __init__(self, db: Database, name: str, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.name = name
        self.poll_seconds = poll_seconds
        self._value = -1
        self._read_at = 0.0
        self._lock = threading.Lock()

    def ensure_row(self) -> None:
        with self.db.session() as s:
            if s.get(Revision, self.name) is None:
                s.add(Revision(name=self.name, value=0))

    def bump(self, session: Session) -> None:
        session.execute(update(Revision).where(Revision.name == self.name).values(value=Revision.value + 1))
        # Re-read only after commit: a reader must not cache the old value past the write.
        event.listen(session, "after_commit", self._force_reread, once=True)

    def _force_reread(self, _session: Session) -> None:
        self._read_at = 0.0

    def current(self) -> int:
        now = time.monotonic()
        if now - self._read_at < self.poll_seconds:
            return self._value
        with self._lock:
            if now - self._read_at >= self.poll_seconds:
                with self.db.read() as s:
                    value = s.execute(select(Revision.value).where(Revision.name == self.name)).scalar_one_or_none()
                self._value = value if value is not None else 0
                self._read_at = time.monotonic()
        return self._value
