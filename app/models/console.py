"""Console sign-in sessions: a browser's cookie names one row, by the SHA-256 of its token."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class ConsoleSession(SQLModel, table=True):
    __tablename__ = "console_sessions"

    # SHA-256 of the cookie's random token: a stolen table signs nobody in.
    token_hash: str = Field(primary_key=True, max_length=64)
    # The API key signed in with; None for the bootstrap RECON_ADMIN_KEY, which is then
    # re-checked against admin_key_hash so that changing that setting signs its sessions out.
    api_key_id: int | None = Field(default=None, index=True)
    admin_key_hash: str | None = Field(default=None, max_length=64)
    csrf_token: str = Field(max_length=64)
    lang: str = Field(default="vi", max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
