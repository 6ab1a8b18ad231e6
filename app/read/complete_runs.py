"""Which run a read model stands on: the latest one whose part for a scope was complete.

An ``all`` run has two parts; each commits its findings and snapshot when it is complete, even
if the other part was not. So "the latest complete procedures run" may be an ``all`` run whose
overall status is ``partial``: the part's own status (in its counts) decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Run, RunScope, RunStatus

_LOOK_BACK = 20  # recent runs examined; a part that failed twenty times in a row is history


@dataclass(frozen=True, slots=True)
class CompletePart:
    run: Run
    counts: dict[str, Any]  # the part's counts (the run's own for a single-scope run)


async def latest_complete(
    session: AsyncSession,
    province_code: str,
    scope: RunScope,
    *,
    covering: tuple[date, date] | None = None,
) -> CompletePart | None:
    """The latest non-dry run whose ``scope`` part succeeded (covering the period, if given)."""
    query = select(Run).where(
        col(Run.province_code) == province_code,
        col(Run.scope).in_([scope, RunScope.ALL]),
        col(Run.status).in_([RunStatus.SUCCEEDED, RunStatus.PARTIAL]),
        col(Run.dry_run).is_(False),
    )
    if covering is not None:
        query = query.where(col(Run.period_from) <= covering[0], col(Run.period_to) >= covering[1])
    rows = await session.exec(query.order_by(col(Run.finished_at).desc()).limit(_LOOK_BACK))
    for run in rows.all():
        counts = run.counts or {}
        if run.scope != RunScope.ALL:
            if run.status == RunStatus.SUCCEEDED:
                return CompletePart(run, counts)
            continue
        part = counts.get(scope.value) or {}
        if part.get("status") == RunStatus.SUCCEEDED:
            return CompletePart(run, part)
    return None
