"""Engine and sessions.

SQLite in WAL mode lets readers run beside one writer, but a transaction that
reads and then writes fails at once (SQLITE_BUSY) if another writer committed
in between. So on SQLite a unit of work that may write begins IMMEDIATE (it
waits for the write lock up front, under busy_timeout), and read-only units
begin deferred and are refused if they try to write. PostgreSQL and MariaDB
need neither: both kinds of session are ordinary transactions there.

Sessions join (as oslo.db's enginefacade): inside an open `session()`, another
`session()` or a `read()` yields that same session, so a service owns its
transaction and still composes atomically with another service's method; the
outermost block commits. A `session()` opened inside a `read()` is a bug
(`WriteInsideRead`): the caller must open the write session first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY_KEY = "gureum.read_only"
AFTER_COMMIT_KEY = "gureum.after_commit"
log = logging.getLogger(__name__)


class ReadOnlySessionWrite(RuntimeError):
    """A bug: something tried to write inside `Database.read()`."""


class WriteInsideRead(RuntimeError):
    """A bug: `Database.session()` was opened inside `Database.read()`."""


def _normalize(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("mysql://") or url.startswith("mariadb://"):
        return "mysql+pymysql://" + url.split("://", 1)[1]
    return url


# Pools larger than the worker threads that can hold a session at once (anyio's 40
# plus the background workers), so load waits on the database, never on the pool
# (a pool wait past its timeout is a 500). SQLite connections are a file handle each;
# PostgreSQL's 60 stay well inside its default max_connections of 100.
SQLITE_POOL = {"pool_size": 5, "max_overflow": 75, "pool_timeout": 120}
SERVER_POOL = {"pool_size": 10, "max_overflow": 50, "pool_timeout": 120}


def _sqlite_engine(url: str, begin: str) -> Engine:
    in_memory = url.rstrip("/").endswith("sqlite:") or ":memory:" in url  # a single-connection pool
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        **({} if in_memory else SQLITE_POOL),
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def make_engine(url: str) -> Engine:
    url = _normalize(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, "BEGIN IMMEDIATE")
    return create_engine(url, pool_pre_ping=True, **SERVER_POOL)


class Database:
    """`session()` is a unit of work that commits or rolls back whole; `read()` only reads."""

    def __init__(self, url: str) -> None:
        self.url = _normalize(url)
        self.engine = make_engine(url)
        self.is_sqlite = self.url.startswith("sqlite")
        read_engine = _sqlite_engine(self.url, "BEGIN") if self.is_sqlite else self.engine
        self.read_engine = read_engine
        self._sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessionmaker = sessionmaker(read_engine, expire_on_commit=False)
        # The session the current task or thread is inside, if any (one per Database:
        # tests run several clouds in one process).
        self._current: ContextVar[Session | None] = ContextVar(f"gureum.db.session.{id(self)}", default=None)

    @property
    def write_factory(self) -> sessionmaker[Session]:
        """The factory of write sessions, for services that listen to what is written."""
        return self._sessionmaker

    @property
    def current(self) -> Session | None:
        """The session this code runs inside, if any."""
        return self._current.get()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that may write; joins the enclosing write session."""
        outer = self._current.get()
        if outer is not None:
            if outer.info.get(READ_ONLY_KEY):
                raise WriteInsideRead("Database.session() inside Database.read(); open the write session first")
            yield outer
            return
        session = self._sessionmaker()
        reset = self._current.set(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            self._current.reset(reset)
            session.close()
        # Only a committed unit of work runs its after-commit steps, each outside any session.
        for step in session.info.pop(AFTER_COMMIT_KEY, []):
            try:
                step()
            except Exception:  # noqa: BLE001 - the commit stands; a leftover is reconciled later
                log.exception("an after-commit step failed")

    def after_commit(self, step: Callable[[], None]) -> None:
        """Run step once the enclosing write session commits (at once outside one): for work
        that cannot roll back, such as removing stored bytes a deleted row referred to."""
        outer = self._current.get()
        if outer is None or outer.info.get(READ_ONLY_KEY):
            step()
            return
        outer.info.setdefault(AFTER_COMMIT_KEY, []).append(step)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work; joins the enclosing session of either kind."""
        outer = self._current.get()
        if outer is not None:
            yield outer
            return
        session = self._read_sessionmaker()
        session.info[READ_ONLY_KEY] = True
        reset = self._current.set(session)
        try:
            yield session
        finally:
            self._current.reset(reset)
            # close() ends the transaction and detaches rows with what they loaded;
            # a rollback() would expire them and break reads after the block.
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


@event.listens_for(Session, "before_flush")
def _refuse_writes_in_read_sessions(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY_KEY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlySessionWrite("a read-only session tried to write; use Database.session()")
