"""incremental polling: a run's full re-check flag, P's fingerprint per snapshot row

Revision ID: ff646a4bbffc
Revises: 9f3b7c21d4e8
Create Date: 2026-11-23 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "ff646a4bbffc"
down_revision: str | None = "9f3b7c21d4e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("full_check", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("procedure_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "provincial_fingerprint",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("procedure_snapshots", schema=None) as batch_op:
        batch_op.drop_column("provincial_fingerprint")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("full_check")
