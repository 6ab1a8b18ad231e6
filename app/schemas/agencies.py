"""Per agency and level: how many fee-bearing procedures (or configurations) are synced, why not."""

from __future__ import annotations

from pydantic import Field

from app.schemas.common import ApiModel, Rate
from app.schemas.procedures import LevelFigures, RunRef


class AgencyLevelFigures(ApiModel):
    """One agency (or, with `group=parent`, one top-level unit with its units) at one level."""

    agency_code: str
    agency_name: str | None
    agency_level: int | None = Field(
        description="CapDonVi: 1 province-level department, 2 district, 3 commune."
    )
    level: str = Field(description='CapThucHien: `tinh`, `huyen`, `xa` (`""` when absent).')
    fee_bearing: int = Field(description="Procedures (or configurations) with fees here.")
    synced: int
    not_synced: int
    rate: Rate
    reasons: dict[str, int] = Field(
        description="Of the not synced, how many have each reason (one may have several)."
    )


class AgencySummary(ApiModel):
    view: str = Field(
        description="`procedure`: distinct procedures, synced when every configuration of it in "
        "the unit at the level is (the letters' unit); `configuration`: (procedure, agency) pairs."
    )
    group: str = Field(description="`agency` or `parent` (top-level unit with its units).")
    as_of: RunRef | None
    province: dict[str, LevelFigures] = Field(
        description="The province's figure per level, over the agencies the key sees."
    )
    reason_titles: dict[str, str] = Field(description="Each reason counted, titled in `lang`.")
    items: list[AgencyLevelFigures] = Field(
        description="Worst first: lowest rate, then most not synced, then agency code."
    )
