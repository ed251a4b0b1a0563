"""Brute-force protection: lock a user after repeated failures, throttle a source.

Counters live in the database so every controller sees the same count. The
caller answers a locked account exactly like a wrong password, so the response
never tells whether the user exists or is locked; the log tells the operator.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gureum.config import LockoutSettings
from gureum.db.base import utcnow
from gureum.identity.models import AuthFailure

log = logging.getLogger("gureum.identity.lockout")


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def unknown_user_key(domain: str, name: str) -> str:
    return f"name:{domain}/{name}"


def source_key(address: str) -> str:
    return f"addr:{address}"


class Lockout:
    def __init__(self, settings: LockoutSettings) -> None:
        self.settings = settings

    def is_locked(self, session: Session, key: str) -> bool:
        row = session.get(AuthFailure, key)
        return bool(row and row.locked_until and row.locked_until > utcnow())

    def has_failures(self, session: Session, key: str) -> bool:
        return session.get(AuthFailure, key) is not None

    def _record(self, session: Session, key: str, max_failures: int, window: int, lock: int) -> AuthFailure:
        now = utcnow()
        row = _locked_row(session, key, now)
        if row.window_started_at + timedelta(seconds=window) < now:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        if max_failures > 0 and row.failures >= max_failures and not (row.locked_until and row.locked_until > now):
            row.locked_until = now + timedelta(seconds=lock)
        return row

    def record_failure(self, session: Session, account_key: str, account_label: str, address: str) -> None:
        s = self.settings
        account = self._record(session, account_key, s.user_max_failures, s.user_window_seconds, s.user_lock_seconds)
        source = self._record(
            session, source_key(address), s.source_max_failures, s.source_window_seconds, s.source_lock_seconds
        )
        log.warning(
            "authentication failed for %s from %s (%d failure(s) in the window)",
            account_label,
            address or "unknown address",
            account.failures,
        )
        if account.locked_until and account.failures == s.user_max_failures:
            log.warning(
                "LOCKED %s until %s after %d failures; last from %s",
                account_label,
                account.locked_until.isoformat(),
                account.failures,
                address or "unknown address",
            )
        if source.locked_until and source.failures == s.source_max_failures:
            log.warning(
                "THROTTLED source %s until %s after %d failed logins",
                address,
                source.locked_until.isoformat(),
                source.failures,
            )

    def record_success(self, session: Session, account_key: str) -> None:
        session.execute(delete(AuthFailure).where(AuthFailure.key == account_key))

    def unlock(self, session: Session, account_key: str) -> None:
        session.execute(delete(AuthFailure).where(AuthFailure.key == account_key))


def _locked_row(session: Session, key: str, now: datetime) -> AuthFailure:
    """The counter row, created if missing and locked for this transaction.

    Failures of one account arrive at once (a brute force, a misconfigured client):
    a get-then-insert would race on PostgreSQL (a duplicate key, a 500). Insert-or-
    nothing, then SELECT ... FOR UPDATE, counts every one. (SQLite's write sessions
    begin IMMEDIATE, so they are serial anyway.)
    """
    values = {"key": key, "failures": 0, "window_started_at": now}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(AuthFailure).values(**values).on_conflict_do_nothing(index_elements=["key"])
    elif dialect == "sqlite":
        statement = sqlite_insert(AuthFailure).values(**values).on_conflict_do_nothing(index_elements=["key"])
    else:
        statement = insert(AuthFailure).values(**values).prefix_with("IGNORE")
    session.execute(statement)
    query = select(AuthFailure).where(AuthFailure.key == key).with_for_update().execution_options(populate_existing=True)
    return session.execute(query).scalar_one()
