"""Scheduled ticks: the row that lets exactly one replica fire a tick, and what came of it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class TickOutcome:
    CLAIMED = "claimed"  # the replica that claimed it has not recorded an outcome (yet)
    STARTED = "started"
    SKIPPED = "skipped"  # a run of the province was active
    FAILED = "failed"  # the run could not be submitted, or the job raised (detail: its error)


class ScheduleTick(SQLModel, table=True):
    """One tick of one scope (a run scope, or a job such as ``report``) of one province. Its
    primary key is the claim: every replica tries to insert the tick's row and only the one whose
    insert succeeds fires it, on SQLite and PostgreSQL alike, with nothing to expire or renew."""

    __tablename__ = "schedule_ticks"
    __table_args__ = (sa.Index("ix_schedule_ticks_due", "province_code", "scope", "due_at"),)

    province_code: str = Field(primary_key=True, max_length=8)
    scope: str = Field(primary_key=True, max_length=16)
    # The same number in every replica for the same tick (app/cadence.py): on an interval,
    # whole intervals since the Unix epoch; on a cron, the epoch seconds of its fire time.
    slot: int = Field(
        primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    # On an interval, the interval; on a cron, the seconds since its previous fire time (the
    # length of the month before a monthly tick, say).
    interval_s: int
    due_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime = Field(sa_type=UTCDateTime)
    owner: str = Field(max_length=64)
    outcome: str = Field(default=TickOutcome.CLAIMED, max_length=16)
    run_id: str | None = Field(default=None, max_length=36)
    detail: str | None = Field(default=None, max_length=1024)
