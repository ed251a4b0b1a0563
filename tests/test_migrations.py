"""Migrations and models agree, on SQLite and (when the test setup has one) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from gureum.db.engine import make_engine
from gureum.db.migrate import current_revision, head_revision, upgrade
from gureum.tables import metadata


def assert_no_drift(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
        assert diff == [], f"models changed without a migration: {diff}"
        upgrade(engine)  # a second start is a no-op
    finally:
        engine.dispose()


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert_no_drift(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_schema_matches_models() -> None:
    url = os.environ.get("GUREUM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("GUREUM_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL and sets it)")
    name = "mig_" + uuid.uuid4().hex[:8]
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        assert_no_drift(url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()
