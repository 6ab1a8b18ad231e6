"""schedule ticks

Revision ID: 5c4e1d2a9b07
Revises: c0e6f6f724da
Create Date: 2026-11-23 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import app.models.types

revision: str = "5c4e1d2a9b07"
down_revision: str | None = "c0e6f6f724da"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_ticks",
        sa.Column("province_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("due_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("province_code", "scope", "slot"),
    )
    with op.batch_alter_table("schedule_ticks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_schedule_ticks_due", ["province_code", "scope", "due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("schedule_ticks", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_ticks_due")
    op.drop_table("schedule_ticks")
