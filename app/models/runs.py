"""A reconciliation run: what was asked, what was read, how it ended."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunScope(StrEnum):
    PROCEDURES = "procedures"
    DOSSIERS = "dossiers"
    ALL = "all"  # procedures and dossiers, one outcome


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_province_scope_status", "province_code", "scope", "status"),
        Index("ix_runs_province_created", "province_code", "created_at"),
        # Every read asks for the province's latest finished run (the answer cache's key, the
        # latest complete part): a backward walk of this index, however many runs pile up.
        Index("ix_runs_province_finished", "province_code", "finished_at"),
    )

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    province_code: str = Field(max_length=8)
    scope: str = Field(max_length=16)
    status: str = Field(default=RunStatus.QUEUED, max_length=16)
    trigger: str = Field(default="api", max_length=16)
    period_from: date
    period_to: date
    dry_run: bool = False
    accept_drop: bool = False
    # Asked for a full re-check of the procedures (every item of P), not only what changed.
    full_check: bool = False
    # Identical requests coalesce onto the active run; this is what "identical" means.
    request_key: str = Field(max_length=64)
    # Set to the province code while the run is queued or running, NULL after: a UNIQUE index on
    # it makes "one active run per province" a database fact, across every replica.
    active_province: str | None = Field(
        default=None, sa_column=Column(String(8), unique=True, nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    listings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    upstream_stats: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    errors: list[str] = Field(default_factory=list, sa_type=JSONType)
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    dry_run_sample: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
