"""webhook secrets encrypted at rest: a longer column, clear rows encrypted when a key is set

Revision ID: 5e1a7c3b9d20
Revises: ff646a4bbffc
Create Date: 2026-12-02 06:40:00.000000

Rows are encrypted here when WEBHOOK_SECRET_KEY is in the environment; otherwise the service
encrypts them at its next start with its configured key (app/webhooks/secretbox.py), and
refuses to start without one outside simulator mode. Downgrading decrypts them again, which
needs the key.
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "5e1a7c3b9d20"
down_revision: str | None = "ff646a4bbffc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "fernet:"
secrets = sa.table("webhook_secrets", sa.column("id", sa.Integer), sa.column("secret", sa.String))


def _box() -> object | None:
    raw = os.environ.get("WEBHOOK_SECRET_KEY", "")
    if not raw.strip():
        return None
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(k.strip().encode()) for k in raw.split(",") if k.strip()])


def upgrade() -> None:
    with op.batch_alter_table("webhook_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=128),
            type_=sqlmodel.sql.sqltypes.AutoString(length=512),
            existing_nullable=False,
        )
    box = _box()
    if box is None:
        return
    connection = op.get_bind()
    for secret_id, stored in connection.execute(sa.select(secrets.c.id, secrets.c.secret)).all():
        if stored.startswith(PREFIX):
            continue
        token = box.encrypt(stored.encode()).decode()  # type: ignore[attr-defined]
        connection.execute(
            secrets.update().where(secrets.c.id == secret_id).values(secret=PREFIX + token)
        )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(secrets.c.id, secrets.c.secret)).all()
    if any(stored.startswith(PREFIX) for _, stored in rows):
        box = _box()
        if box is None:
            raise RuntimeError("downgrading decrypts webhook secrets: set WEBHOOK_SECRET_KEY")
        for secret_id, stored in rows:
            if stored.startswith(PREFIX):
                clear = box.decrypt(stored[len(PREFIX) :].encode()).decode()  # type: ignore[attr-defined]
                connection.execute(
                    secrets.update().where(secrets.c.id == secret_id).values(secret=clear)
                )
    with op.batch_alter_table("webhook_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=512),
            type_=sqlmodel.sql.sqltypes.AutoString(length=128),
            existing_nullable=False,
        )
