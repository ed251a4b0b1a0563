"""config drive as asked: existing servers keep the drive the old forced default gave them

Until this revision every server got a config drive whatever its create said (the
`force_config_drive` setting, on by default), while the column held only what was asked.
The column now decides, so servers made before it are marked as having one.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE compute_instances SET config_drive = :on").bindparams(on=True))


def downgrade() -> None:
    pass  # the old code ignored the column's false; nothing to undo
