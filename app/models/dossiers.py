"""Dossier tables: the staging area a run streams listings into, and what a complete run keeps.

Staging is keyed by (run, listing, key) so a repeated key from a later page replaces the earlier
one (the contract's paging rule) and the distinct count is a ``COUNT(*)``. A run that does not
commit a snapshot deletes its staging when it ends; one that does keeps its listings for as long as
snapshot rows refer to it: they are the records ``GET /dossiers/{code}`` shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime


class StageItem(SQLModel, table=True):
    __tablename__ = "stage_items"
    __table_args__ = (
        sa.Index("ix_stage_items_ref", "run_id", "listing", "ref"),
        sa.Index("ix_stage_items_link", "run_id", "listing", "link_key"),
    )

    run_id: str = Field(primary_key=True, max_length=40)
    listing: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=128)
    ref: str | None = Field(default=None, max_length=128)  # payment reference (P, transactions)
    link_key: str | None = Field(default=None, max_length=128)  # a transaction's MaHoSo
    moment: datetime | None = Field(default=None, sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class _DossierColumns(SQLModel):
    key: str = Field(primary_key=True, max_length=128)  # normalized MaHoSo
    code: str = Field(max_length=128)  # as P serves it
    agency_code: str = Field(max_length=32)
    procedure_code: str = Field(max_length=32)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fee_bearing: bool = False
    synced: bool = False  # N has it
    portal_counted: bool = False
    verified_online: bool = False
    paid_offline: bool = False
    payment_method: str | None = Field(default=None, max_length=32)
    fee_total: int = Field(default=0, sa_type=sa.BigInteger)
    reasons: list[str] = Field(default_factory=list, sa_type=JSONType)
    run_id: str = Field(max_length=40)


class DossierResult(_DossierColumns, table=True):
    """A run's verdicts, staged until the run's outcome is committed."""

    __tablename__ = "stage_dossier_results"
    __table_args__ = (sa.Index("ix_stage_dossier_results_run", "run_id"),)

    stage_run_id: str = Field(primary_key=True, max_length=40)


class Dossier(_DossierColumns, table=True):
    """Every P dossier of the last complete dossier run covering its received date."""

    __tablename__ = "dossiers"
    __table_args__ = (
        sa.Index("ix_dossiers_received", "province_code", "received_at"),
        sa.Index("ix_dossiers_agency", "province_code", "agency_code", "received_at"),
    )

    province_code: str = Field(primary_key=True, max_length=8)


class OrphanTransaction(SQLModel, table=True):
    __tablename__ = "orphan_transactions"
    __table_args__ = (sa.Index("ix_orphan_transactions_at", "province_code", "at"),)

    province_code: str = Field(primary_key=True, max_length=8)
    transaction_id: str = Field(primary_key=True, max_length=64)
    reference: str | None = Field(default=None, max_length=128)
    dossier_code: str = Field(max_length=128)
    agency_code: str = Field(max_length=32)
    amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    channel: str = Field(default="", max_length=32)
    run_id: str = Field(max_length=40)
