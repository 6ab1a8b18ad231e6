"""Dossier lists and one dossier in full."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.common import ApiModel, Cursor, Day, Fix, FreeForm, Timestamp


class DossierView(ApiModel):
    code: str
    agency_code: str
    agency_name: str | None
    procedure_code: str | None
    received_at: Timestamp | None
    due_at: Timestamp | None
    finished_at: Timestamp | None
    fee_bearing: bool
    fee_total: int
    payment_method: str | None
    synced: bool = Field(description="N has the dossier.")
    portal_counted: bool
    verified_online: bool
    paid_offline: bool
    reasons: list[str]
    run_id: str
    fix: Fix | None = Field(default=None, description="In the offline list: how to move it online.")


class MismatchItem(ApiModel):
    """The dossier's fields (only `code` when the dossier is no longer stored), then the
    finding's."""

    code: str
    agency_code: str | None = None
    agency_name: str | None = None
    procedure_code: str | None = None
    received_at: Timestamp | None = None
    due_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    fee_bearing: bool | None = None
    fee_total: int | None = None
    payment_method: str | None = None
    synced: bool | None = None
    portal_counted: bool | None = None
    verified_online: bool | None = None
    paid_offline: bool | None = None
    reasons: list[str] | None = None
    run_id: str | None = None
    reason: str
    evidence: Any
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    link: str
    fix: Fix | None = None


class MismatchPage(ApiModel):
    summary: dict[str, int] = Field(description="Open findings per reason, under the filters.")
    items: list[MismatchItem]
    next_cursor: Cursor


class OfflineAgency(ApiModel):
    agency_code: str
    agency_name: str | None
    paid_offline: int
    by_method: dict[str, int]


class OfflinePage(ApiModel):
    from_: Day = Field(alias="from")
    to: Day
    agencies: list[OfflineAgency] = Field(description="Most paid-offline dossiers first.")
    items: list[DossierView]
    next_cursor: Cursor


class OrphanTransactionsSummary(ApiModel):
    transactions: int
    amount: int


class OrphanTransaction(ApiModel):
    transaction_id: str
    dossier_code: str | None
    reference: str | None
    agency_code: str | None
    agency_name: str | None
    amount: int | None
    at: Timestamp | None
    channel: str
    run_id: str
    fix: Fix | None = None


class OrphanTransactionPage(ApiModel):
    summary: OrphanTransactionsSummary
    items: list[OrphanTransaction]
    next_cursor: Cursor


class DossierFinding(ApiModel):
    reason: str
    status: str
    episode: int
    evidence: Any
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    resolved_at: Timestamp | None
    fix: Fix | None = None


class DossierDetail(ApiModel):
    dossier: DossierView | None
    provincial: FreeForm | None = Field(description="P's record: raw values beside parsed ones.")
    national: FreeForm | None = Field(description="N's synced dossier: raw beside parsed.")
    transactions: list[FreeForm] = Field(description="The platform's transactions for it.")
    findings: list[DossierFinding]
