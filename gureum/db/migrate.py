"""Schema migrations through alembic, run programmatically at start-up.

Migration files are named `<revision>_<slug>.py` with revisions that sort in
order, so the head is known without importing alembic; a start on an
up-to-date database skips alembic altogether (it is slow to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def head_revision() -> str:
    revisions = sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    return revisions[-1] if revisions else ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config  # noqa: PLC0415

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    if current_revision(engine) == head_revision():
        return
    from alembic import command  # noqa: PLC0415

    command.upgrade(alembic_config(engine), "head")
