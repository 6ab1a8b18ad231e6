"""The latest snapshot of both sides per procedure configuration key, and agencies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow


class Agency(SQLModel, table=True):
    __tablename__ = "agencies"

    province_code: str = Field(primary_key=True, max_length=8)
    code: str = Field(primary_key=True, max_length=32)  # normalized MaDonVi
    raw_code: str = Field(max_length=64)
    name: str = Field(max_length=512)
    level: int
    parent_code: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProcedureSnapshot(SQLModel, table=True):
    """One row per key seen on either side by the last complete procedure run.

    ``kind`` is ``configuration`` (fee-bearing, compared), ``unpaid`` (P configuration without
    fees) or ``orphan`` (on N only, or matching no fee-bearing P configuration).
    """

    __tablename__ = "procedure_snapshots"
    __table_args__ = (
        Index("ix_procedure_snapshots_lookup", "province_code", "kind", "level", "synced"),
        Index("ix_procedure_snapshots_procedure", "province_code", "procedure_code"),
        Index("ix_procedure_snapshots_agency", "province_code", "agency_code"),
    )

    province_code: str = Field(primary_key=True, max_length=8)
    key: str = Field(primary_key=True, max_length=96)
    procedure_code: str = Field(max_length=32)
    agency_code: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    level: str | None = Field(default=None, max_length=8)
    procedure_name: str | None = Field(default=None, max_length=1024)
    synced: bool | None = None
    reasons: list[str] = Field(default_factory=list, sa_type=JSONType)
    provincial: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    national: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # Of everything the row (and its findings) derive from; equal next run: nothing to redo.
    fingerprint: str | None = Field(default=None, max_length=64)
    # Of P's item alone, so a run that reads only P's changes can fingerprint the others.
    provincial_fingerprint: str | None = Field(default=None, max_length=64)
    run_id: str = Field(max_length=36)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
