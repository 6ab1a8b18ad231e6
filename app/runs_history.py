"""Run history: which run the service stands on, read by both the pipelines and the read models.

Below ``app/reconcile`` and ``app/read`` alike (it imports only ``app.models``), so that a run
can find the run before it without importing the read layer, and every answer (lists, exports,
reports, ``/metrics``, ``/health/ready``) names its run by the same rule.

"Complete" is per part: an ``all`` run has two parts; each commits its findings and snapshot
when it is complete, even if the other part was not. So "the latest complete procedures run" may
be an ``all`` run whose overall status is ``partial``: the part's own status (in its counts)
decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Run, RunScope, RunStatus

__all__ = ["CompletePart", "has_runs", "last_finished", "latest_complete"]

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
    """The latest non-dry run whose ``scope`` part succeeded (covering the period, if given):
    what the read models show, and the previous run a new run compares itself with."""
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


async def has_runs(session: AsyncSession, province_code: str, scope: RunScope) -> bool:
    """Whether the province has any non-dry run of ``scope`` (or ``all``), whatever its outcome."""
    rows = await session.exec(
        select(col(Run.id))
        .where(
            col(Run.province_code) == province_code,
            col(Run.scope).in_([scope, RunScope.ALL]),
            col(Run.dry_run).is_(False),
        )
        .limit(1)
    )
    return rows.first() is not None


async def last_finished(session: AsyncSession, province_code: str) -> Run | None:
    """The province's newest finished run of any scope and outcome (``/health``'s last run)."""
    rows = await session.exec(
        select(Run)
        .where(
            col(Run.province_code) == province_code,
            col(Run.status).not_in([RunStatus.QUEUED, RunStatus.RUNNING]),
        )
        .order_by(col(Run.finished_at).desc())
        .limit(1)
    )
    run = rows.first()
    return run if run is not None and run.finished_at is not None else None
