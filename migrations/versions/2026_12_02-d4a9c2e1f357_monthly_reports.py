"""monthly reports: each month's figures frozen once, served byte for byte

Revision ID: d4a9c2e1f357
Revises: b7d2e4f6a813
Create Date: 2026-12-02 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import app.models.types

revision: str = "d4a9c2e1f357"
down_revision: str | None = "b7d2e4f6a813"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monthly_reports",
        sa.Column("province_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("frozen_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("procedure_run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("dossier_run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("province_code", "month"),
    )


def downgrade() -> None:
    op.drop_table("monthly_reports")
