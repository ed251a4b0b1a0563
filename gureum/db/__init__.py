"""Database: one engine per controller process, models per service, alembic migrations."""
