"""Read models for runs."""

from __future__ import annotations

from typing import Any

from sqlmodel import and_, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models import Run
from app.pagination import RunCursor, decode_cursor, encode_cursor


def run_view(run: Run, *, detail: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "run_id": run.id,
        "province_code": run.province_code,
        "scope": run.scope,
        "status": run.status,
        "trigger": run.trigger,
        "period_from": run.period_from.isoformat(),
        "period_to": run.period_to.isoformat(),
        "dry_run": run.dry_run,
        "accept_drop": run.accept_drop,
        "full": run.full_check,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "errors": run.errors,
    }
    if detail:
        view |= {
            "listings": run.listings,
            "upstream_stats": run.upstream_stats,
            "warnings": run.warnings,
            "dry_run_sample": run.dry_run_sample,
        }
    return view


async def get_run(session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    return run


async def list_runs(
    session: AsyncSession, *, province_code: str, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    position = decode_cursor(cursor, RunCursor)
    query = select(Run).where(col(Run.province_code) == province_code)
    if status:
        query = query.where(col(Run.status) == status)
    if position:
        created, run_id = position.created_at, position.run_id
        query = query.where(
            or_(
                col(Run.created_at) < created,
                and_(col(Run.created_at) == created, col(Run.id) < run_id),
            )
        )
    rows = list(
        (
            await session.exec(
                query.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit + 1)
            )
        ).all()
    )
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [run_view(run) for run in page],
        "next_cursor": encode_cursor([page[-1].created_at.isoformat(), page[-1].id])
        if more and page
        else None,
    }
