"""The letters' figure per level, counted over the stored procedure snapshot, for the agencies
a key sees: ``app.read.procedures`` wraps it in its API schema for the lists, the agencies'
summary, the monthly report and the console's overview. (A run keeps the province's figure as
it judged it, ``counts.summary``, from the pure ``app.reconcile.procedures.summarize``.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import ProcedureSnapshot
from app.reconcile.procedures import KNOWN_LEVELS, LevelFigure

__all__ = ["configuration_conditions", "level_figures", "level_key"]


def level_key() -> Any:
    """A configuration without a level groups (and pages) under ""."""
    return func.coalesce(col(ProcedureSnapshot.level), "")


def configuration_conditions(
    province_code: str, level: str | None, agencies: frozenset[str] | None
) -> list[Any]:
    """The snapshot's configurations of the province, at ``level`` and of ``agencies`` if given."""
    conditions: list[Any] = [
        col(ProcedureSnapshot.province_code) == province_code,
        col(ProcedureSnapshot.kind) == "configuration",
    ]
    if level:
        conditions.append(col(ProcedureSnapshot.level) == level)
    if agencies is not None:
        conditions.append(col(ProcedureSnapshot.agency_code).in_(agencies))
    return conditions


async def level_figures(
    session: AsyncSession,
    province_code: str,
    agencies: frozenset[str] | None,
    level: str | None = None,
) -> dict[str, LevelFigure]:
    """The letters' figure per level over the configurations of ``agencies`` (all: ``None``):
    a procedure is synced at a level when every one of those configurations of it is."""
    conditions = configuration_conditions(province_code, level, agencies)
    # One expression object in both clauses: PostgreSQL matches them by their parameters.
    key = level_key()
    rows = await session.exec(
        select(
            key,
            col(ProcedureSnapshot.procedure_code),
            func.min(case((col(ProcedureSnapshot.synced).is_(True), 1), else_=0)),
        )
        .where(*conditions)
        .group_by(key, col(ProcedureSnapshot.procedure_code))
    )
    counts: dict[str, list[int]] = {}
    for level_code, _, all_synced in rows.all():
        figure = counts.setdefault(level_code, [0, 0])
        figure[0] += 1
        figure[1] += int(all_synced or 0)
    ordered = [lvl for lvl in KNOWN_LEVELS if lvl in counts]
    ordered += sorted(lvl for lvl in counts if lvl not in KNOWN_LEVELS)
    return {
        lvl: LevelFigure(
            fee_bearing=counts[lvl][0],
            synced=counts[lvl][1],
            not_synced=counts[lvl][0] - counts[lvl][1],
            rate=round(counts[lvl][1] / counts[lvl][0], 4) if counts[lvl][0] else None,
        )
        for lvl in ordered
    }
