"""agency-scoped API keys: the MaDonVi a key is confined to (null: the whole province)

Revision ID: b7d2e4f6a813
Revises: 5e1a7c3b9d20
Create Date: 2026-12-02 10:30:00.000000

Existing keys keep null, so they stay province-wide as they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "b7d2e4f6a813"
down_revision: str | None = "5e1a7c3b9d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agency_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    # Dropping the column would turn every scoped key into a province-wide one: revoke them
    # first, so a downgrade can only take access away, never widen it.
    api_keys = sa.table(
        "api_keys",
        sa.column("agency_code", sa.String),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        api_keys.update()
        .where(api_keys.c.agency_code.is_not(None), api_keys.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("agency_code")
