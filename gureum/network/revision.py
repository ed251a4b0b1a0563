"""One counter for every change that may alter some host's dataplane.

Any flush that adds, deletes or changes a network row (beyond its status, which
the dataplane itself reports) bumps the "network" revision in the same
transaction, and after the commit every agent's long poll wakes and reads its
desired state again. One counter for all hosts keeps this simple and always
right; a host whose networking did not change just finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from gureum.db.revision import RevisionWatch
from gureum.network.models import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

DATAPLANE_MODELS = (Network, Subnet, Port, IPAllocation, SecurityGroup, SecurityGroupRule, Router, FloatingIP)
# Attributes no dataplane reads: changing only these wakes nobody.
NOT_DATAPLANE = frozenset({"status", "updated_at", "revision_number", "name", "description"})
_PENDING = "gureum.network.bumped"


def touches_dataplane(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, DATAPLANE_MODELS):
            return True
    for obj in session.dirty:
        if not isinstance(obj, DATAPLANE_MODELS):
            continue
        state = inspect(obj)
        for attr in state.attrs:
            if attr.key not in NOT_DATAPLANE and attr.history.has_changes():
                return True
    return False


def watch_network_changes(factory: sessionmaker[Session], revision: RevisionWatch,
                          on_commit: Callable[[], None]) -> None:
    """Bump `revision` in every write transaction that touches the dataplane; call on_commit after."""

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        if session.info.get(_PENDING) or not touches_dataplane(session):
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
