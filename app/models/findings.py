"""Findings: (subject, reason) with a lifecycle; one row per episode, events as history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class SubjectKind(StrEnum):
    PROCEDURE = "procedure_configuration"
    DOSSIER = "dossier"


class Finding(SQLModel, table=True):
    __tablename__ = "findings"
    __table_args__ = (
        # At most one open episode per (subject, reason): enforced by the database.
        Index(
            "uq_findings_open_subject_reason",
            "province_code",
            "subject_kind",
            "subject_key",
            "reason",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_findings_subject", "province_code", "subject_kind", "subject_key"),
        Index("ix_findings_open_reason", "province_code", "status", "reason"),
        Index("ix_findings_agency", "province_code", "agency_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    province_code: str = Field(max_length=8)
    subject_kind: str = Field(max_length=32)
    subject_key: str = Field(max_length=96)
    procedure_code: str | None = Field(default=None, max_length=32)
    agency_code: str | None = Field(default=None, max_length=32)
    level: str | None = Field(default=None, max_length=8)
    reason: str = Field(max_length=48)
    status: str = Field(default=FindingStatus.OPEN, max_length=16)
    episode: int = 1
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    evidence_hash: str = Field(max_length=64)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_count: int = 1
    first_run_id: str = Field(max_length=36)
    last_run_id: str = Field(max_length=36)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_run_id: str | None = Field(default=None, max_length=36)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FindingEvent(SQLModel, table=True):
    """History: every state change of a finding, with the evidence at that moment."""

    __tablename__ = "finding_events"

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="findings.id", index=True)
    run_id: str = Field(max_length=36)
    change: str = Field(max_length=16)  # opened | updated | resolved
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
