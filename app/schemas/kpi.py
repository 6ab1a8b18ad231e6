"""The province's figures (semantics §4)."""

from __future__ import annotations

from pydantic import Field

from app.schemas.common import ApiModel, Day, Rate, Timestamp


class Coverage(ApiModel):
    complete: bool = Field(description="One complete dossier run covered the whole period.")
    run_id: str | None
    as_of: Timestamp | None


class OnlinePaymentRow(ApiModel):
    group: str = Field(description="The agency, parent unit or `province`.")
    name: str | None
    fee_bearing: int
    portal_counted: int
    verified_online: int
    portal_rate: Rate
    verified_rate: Rate
    target: float
    met: bool


class OnlinePaymentSection(ApiModel):
    section: str = Field(description="`departments` (CapDonVi 1), `districts` (2) or `other`.")
    title: str = Field(description="The section's title in `lang`.")
    units: int
    met: int = Field(description="Units of the section that met the target.")
    items: list[OnlinePaymentRow] = Field(description="Worst portal rate first.")


class OnlinePayment(ApiModel):
    from_: Day = Field(alias="from")
    to: Day
    group: str
    target: float
    coverage: Coverage
    province: OnlinePaymentRow
    items: list[OnlinePaymentRow] = Field(description="Worst portal rate first.")
    sections: list[OnlinePaymentSection] = Field(
        default_factory=list,
        description="The items as the letters print them: departments, then districts (each "
        "unit under its top-level unit's section); empty with `group=province`.",
    )


class OverdueMonth(ApiModel):
    month: str = Field(description="YYYY-MM")
    finished: int
    overdue: int
    rate: Rate
    change_points: float | None = Field(description="Against the previous month, in points.")
    open_past_due: int


class OverdueGroup(ApiModel):
    group: str
    name: str | None
    months: list[OverdueMonth]


class Overdue(ApiModel):
    from_month: str
    to_month: str
    group: str
    coverage: Coverage
    province: list[OverdueMonth]
    items: list[OverdueGroup] = Field(
        description="Worst first: the highest overdue rate of the last month."
    )


ONLINE_PAYMENT_EXAMPLE = {
    "from": "2023-01-01",
    "to": "2023-10-23",
    "group": "parent",
    "target": 0.3,
    "coverage": {
        "complete": True,
        "run_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
        "as_of": "2023-10-24T01:00:00+00:00",
    },
    "province": {
        "group": "province",
        "name": "Toàn tỉnh",
        "fee_bearing": 256939,
        "portal_counted": 43109,
        "verified_online": 41200,
        "portal_rate": 0.1678,
        "verified_rate": 0.1604,
        "target": 0.3,
        "met": False,
    },
    "items": [],
}
