"""read path indexes

Revision ID: 9f3b7c21d4e8
Revises: 5c4e1d2a9b07
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9f3b7c21d4e8"
down_revision: str | None = "5c4e1d2a9b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_province_finished", ["province_code", "finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_province_finished")
