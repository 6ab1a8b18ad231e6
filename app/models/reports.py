"""Frozen monthly reports: a month's figures as they stood when the month was frozen."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class MonthlyReport(SQLModel, table=True):
    """One province's report of one calendar month, written once and never rewritten, so that
    November's report reads the same in March. ``body`` is the canonical JSON text (sorted keys,
    fixed separators, UTF-8 NFC), kept as text rather than JSON so that it is served byte for
    byte: a JSON column would hand back a re-serialized, possibly reordered document."""

    __tablename__ = "monthly_reports"

    province_code: str = Field(primary_key=True, max_length=8)
    month: str = Field(primary_key=True, max_length=7)  # "YYYY-MM", local calendar month
    frozen_at: datetime = Field(sa_type=UTCDateTime)
    # The complete procedure run the figures stand on (none: frozen with allow_incomplete).
    procedure_run_id: str | None = Field(default=None, max_length=36)
    # The complete dossier run that covered the month (none: coverage incomplete).
    dossier_run_id: str | None = Field(default=None, max_length=36)
    body: str = Field(sa_type=sa.Text)
    sha256: str = Field(max_length=64)  # of body's UTF-8 bytes
