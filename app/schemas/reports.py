"""Frozen monthly reports: the body as frozen, the answer with its change, the frozen months."""

from __future__ import annotations

from pydantic import Field

from app.schemas.agencies import AgencySummary
from app.schemas.common import ApiModel, Day, FreeForm, Timestamp
from app.schemas.kpi import Coverage, OnlinePayment, Overdue
from app.schemas.procedures import LevelFigures, RunRef


class ReportProcedures(ApiModel):
    as_of: RunRef | None = Field(description="The complete procedure run the figures stand on.")
    levels: dict[str, LevelFigures] = Field(description="The province's figure per level.")


class ReportOnlinePayment(ApiModel):
    target: float = Field(description="The year's target (ONLINE_PAYMENT_TARGETS).")
    month: OnlinePayment = Field(
        description="The month, per top-level unit (`group=parent`); each item also has its "
        "`agency_level` (CapDonVi: 1 department, 2 district)."
    )
    year_to_date: OnlinePayment = Field(description="1 January to the month's last day.")


class MonthlyReportBody(ApiModel):
    """The report as it was frozen. Stored as canonical JSON text and served byte for byte."""

    version: int = Field(description="The body's layout (1).")
    province_code: str
    month: str = Field(description="YYYY-MM, the calendar month in Vietnam's local time.")
    from_: Day = Field(alias="from")
    to: Day
    frozen_at: Timestamp
    complete: bool = Field(
        description="`false` when frozen with `allow_incomplete=true` although figures were "
        "incomplete; `incomplete` says why."
    )
    incomplete: list[str]
    procedures: ReportProcedures
    agencies: AgencySummary = Field(description="Per agency and level, `view=procedure`.")
    online_payment: ReportOnlinePayment
    overdue: Overdue = Field(description="The month per top-level unit (`group=parent`).")
    coverage: Coverage = Field(description="The complete dossier run that covered the month.")


class MonthlyReportAnswer(ApiModel):
    report: MonthlyReportBody = Field(description="The stored body, byte for byte.")
    previous_month: str | None = Field(
        description="The latest month frozen before this one (null: none)."
    )
    change: FreeForm | None = Field(
        description="This month against `previous_month`, from the two frozen bodies only "
        "(see the route's description); null without a previous frozen month."
    )


class FrozenMonth(ApiModel):
    month: str
    frozen_at: Timestamp
    complete: bool
    procedure_run_id: str | None
    dossier_run_id: str | None
    sha256: str = Field(description="SHA-256 of the stored body's UTF-8 bytes.")
    link: str


class FrozenMonths(ApiModel):
    province_code: str
    items: list[FrozenMonth] = Field(description="Latest month first.")
