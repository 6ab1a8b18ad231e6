"""The procedure lists: unsynced configurations, orphans on N, one procedure in full."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.common import ApiModel, Cursor, Day, Fix, FreeForm, Rate, Timestamp


class LevelFigures(ApiModel):
    fee_bearing: int
    synced: int
    not_synced: int
    rate: Rate


class RunRef(ApiModel):
    """The complete run the list comes from."""

    run_id: str
    finished_at: Timestamp | None
    period_from: Day
    period_to: Day


class UnsyncedItem(ApiModel):
    procedure_code: str
    procedure_name: str | None
    agency_code: str
    agency_name: str | None
    level: str | None = Field(description="`tinh`, `huyen` or `xa`.")
    reasons: list[str]
    provincial: FreeForm | None = Field(description="P's configuration, raw beside parsed.")
    national: FreeForm | None = Field(description="N's payment information, raw beside parsed.")
    evidence: dict[str, Any] = Field(description="Per reason: the compared values of both sides.")
    first_seen_at: Timestamp | None
    fixes: list[Fix] = Field(
        default_factory=list, description="Per reason: its title, who acts and the fix (`lang`)."
    )


class ConfigurationBrief(ApiModel):
    """One configuration of a procedure, as the per-procedure view lists them."""

    agency_code: str
    agency_name: str | None
    synced: bool
    reasons: list[str]


class ProcedureItem(ApiModel):
    """One procedure at one level (`view=procedure`): the letters' unit. A procedure is synced
    at a level when every fee-bearing configuration of it at that level is."""

    procedure_code: str
    procedure_name: str | None
    level: str | None
    configurations: int
    synced_configurations: int
    agencies: list[ConfigurationBrief] = Field(
        description="Its configurations under the filters, agency by agency."
    )


class UnsyncedPage(ApiModel):
    summary: dict[str, LevelFigures] = Field(
        description="Per level (`tinh`, `huyen`, `xa`), counted in procedures: province-wide "
        "whatever the filters, or over the agencies an agency-scoped key sees."
    )
    as_of: RunRef | None
    view: str = Field(default="configuration", description="`configuration` or `procedure`.")
    items: list[UnsyncedItem] | list[ProcedureItem] = Field(
        description="Configurations (`view=configuration`, the default) or procedures "
        "(`view=procedure`)."
    )
    next_cursor: Cursor


UNSYNCED_EXAMPLE: dict[str, Any] = {
    "summary": {"tinh": {"fee_bearing": 543, "synced": 195, "not_synced": 348, "rate": 0.3591}},
    "as_of": {
        "run_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
        "finished_at": "2023-12-01T01:00:41.800000+00:00",
        "period_from": "2023-01-01",
        "period_to": "2023-11-30",
    },
    "items": [
        {
            "procedure_code": "1.001234",
            "procedure_name": "Cấp giấy phép xây dựng",
            "agency_code": "000.00.15.H53",
            "agency_name": "Sở Xây dựng",
            "level": "tinh",
            "reasons": ["account_mismatch"],
            "provincial": {"SoTaiKhoan": "0123456789"},
            "national": {"SoTaiKhoan": "0123456780"},
            "evidence": {
                "account_mismatch": {"provincial": "0123456789", "national": "0123456780"}
            },
            "first_seen_at": "2023-12-01T01:00:41.800000+00:00",
        }
    ],
    "next_cursor": None,
}


class OrphanItem(ApiModel):
    procedure_code: str
    agency_code: str
    agency_name: str | None
    provincial_configuration: str = Field(description="`absent` or `without_fees`.")
    national: FreeForm | None
    provincial: FreeForm | None
    fix: Fix | None = None


class OrphanPage(ApiModel):
    as_of: RunRef | None
    items: list[OrphanItem]
    next_cursor: Cursor


class FindingEventView(ApiModel):
    change: str
    run_id: str | None
    at: Timestamp
    evidence: Any


class ProcedureFinding(ApiModel):
    id: int | None
    agency_code: str
    reason: str
    status: str
    episode: int
    evidence: Any
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    seen_count: int
    resolved_at: Timestamp | None
    history: list[FindingEventView]


class Configuration(ApiModel):
    agency_code: str
    agency_name: str | None
    kind: str = Field(description="`configuration` (fee-bearing on P) or `orphan`.")
    level: str | None
    synced: bool | None
    reasons: list[str]
    provincial: FreeForm | None
    national: FreeForm | None


class ProcedureDetail(ApiModel):
    procedure_code: str
    procedure_name: str | None
    configurations: list[Configuration]
    open_findings: list[ProcedureFinding]
    history: list[ProcedureFinding] = Field(description="Resolved episodes.")
