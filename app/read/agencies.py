"""Per agency and level: the fee-bearing procedures synced and not, and why — worst first.

What the letters ask each agency to act on, counted two ways: per procedure (the letters' unit:
a procedure is synced in a unit at a level when every configuration of it there is) and per
configuration (procedure × agency). Rows are folded in Python from one narrow read of the
snapshot: a province holds a few thousand configurations, not millions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.reasons import Lang, reason
from app.models import ProcedureSnapshot, RunScope
from app.read.kpi import hierarchy
from app.read.procedures import ListView, level_figures, run_ref
from app.read.visibility import agency_set
from app.reconcile.procedures import KNOWN_LEVELS
from app.runs_history import latest_complete
from app.schemas.agencies import AgencyLevelFigures, AgencySummary

SummaryGroup = Literal["agency", "parent"]


@dataclass(frozen=True, slots=True)
class AgencySummaryQuery:
    view: ListView = "procedure"
    group: SummaryGroup = "agency"
    level: str | None = None
    agency: str | None = None
    include_descendants: bool = False
    lang: Lang = "vi"
    visible: frozenset[str] | None = None


@dataclass(slots=True)
class _Tally:
    fee_bearing: int = 0
    synced: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, synced: bool, reasons: set[str]) -> None:
        self.fee_bearing += 1
        if synced:
            self.synced += 1
        else:
            self.reasons.update(reasons)


def _level_order(level: str) -> tuple[int, str]:
    return (KNOWN_LEVELS.index(level) if level in KNOWN_LEVELS else len(KNOWN_LEVELS), level)


async def agency_summary(
    session: AsyncSession, province_code: str, query: AgencySummaryQuery
) -> AgencySummary:
    complete = await latest_complete(session, province_code, RunScope.PROCEDURES)
    tree = await hierarchy(session, province_code)
    chosen = agency_set(tree, query.agency, query.include_descendants, query.visible)
    conditions = [
        col(ProcedureSnapshot.province_code) == province_code,
        col(ProcedureSnapshot.kind) == "configuration",
    ]
    if query.level:
        conditions.append(col(ProcedureSnapshot.level) == query.level)
    if chosen is not None:
        conditions.append(col(ProcedureSnapshot.agency_code).in_(chosen))
    # Five columns: sqlmodel's select types at most four, so SQLAlchemy's own, on the session's
    # connection (the session's ``execute`` is sqlmodel's deprecated path).
    connection = await session.connection()
    rows = await connection.execute(
        select(
            col(ProcedureSnapshot.agency_code),
            col(ProcedureSnapshot.level),
            col(ProcedureSnapshot.procedure_code),
            col(ProcedureSnapshot.synced),
            col(ProcedureSnapshot.reasons),
        ).where(*conditions)
    )
    # Per (unit, level, procedure): synced when all its configurations are, with their reasons.
    procedures: dict[tuple[str, str, str], tuple[bool, set[str]]] = {}
    tallies: dict[tuple[str, str], _Tally] = {}
    for agency, level, procedure, synced, reasons in rows.all():
        unit = tree.root(agency) if query.group == "parent" else agency
        is_synced = bool(synced)
        open_reasons = set() if is_synced else set(reasons or [])
        if query.view == "configuration":
            tallies.setdefault((unit, level or ""), _Tally()).add(is_synced, open_reasons)
            continue
        key = (unit, level or "", procedure)
        before = procedures.get(key, (True, set()))
        procedures[key] = (before[0] and is_synced, before[1] | open_reasons)
    for (unit, level, _), (is_synced, open_reasons) in procedures.items():
        tallies.setdefault((unit, level), _Tally()).add(is_synced, open_reasons)

    items = [
        AgencyLevelFigures(
            agency_code=unit,
            agency_name=tree.names.get(unit),
            agency_level=tree.levels.get(unit),
            level=level,
            fee_bearing=tally.fee_bearing,
            synced=tally.synced,
            not_synced=tally.fee_bearing - tally.synced,
            rate=round(tally.synced / tally.fee_bearing, 4) if tally.fee_bearing else None,
            reasons=dict(sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for (unit, level), tally in tallies.items()
    ]
    items.sort(
        key=lambda item: (
            item.rate if item.rate is not None else 2.0,
            -item.not_synced,
            item.agency_code,
            _level_order(item.level),
        )
    )
    counted = sorted({code for item in items for code in item.reasons})
    return AgencySummary(
        view=query.view,
        group=query.group,
        as_of=run_ref(complete.run if complete else None),
        province=await level_figures(session, province_code, query.visible),
        reason_titles={code: reason(code).title.get(query.lang) for code in counted},
        items=items,
    )
