"""API keys: stored as SHA-256 digests of high-entropy random tokens, never in clear."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    prefix: str = Field(max_length=16)  # shown in listings so a key can be recognised
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The normalized MaDonVi the key is confined to (the agency and the units below it);
    # None: the whole province. Not a foreign key: agencies appear only after the first run.
    agency_code: str | None = Field(default=None, max_length=32)
