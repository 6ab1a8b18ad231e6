"""GET /schedules: what runs on its own, when it runs next, and what its last ticks did."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.dependencies import ProvinceDep, ReaderDep, SessionDep, SettingsDep
from app.models import ScheduleTick
from app.models.types import utcnow
from app.scheduler import recent_ticks, slot_start, tick_slot
from app.schemas.problems import READER, problem_responses
from app.schemas.runs import Schedules

router = APIRouter(tags=["runs"])


def _tick_view(tick: ScheduleTick) -> dict[str, Any]:
    return {
        "due_at": tick.due_at.isoformat(),
        "claimed_at": tick.claimed_at.isoformat(),
        "replica": tick.owner,
        "outcome": tick.outcome,
        "run_id": tick.run_id,
        "link": f"/runs/{tick.run_id}" if tick.run_id else None,
        "detail": tick.detail,
    }


@router.get(
    "/schedules",
    response_model=Schedules,
    summary="Scheduled runs",
    description="Per scope: the interval, whether it is on, the next tick, and the last ticks "
    "(`started`, or `skipped` with the active run that blocked it; which replica fired each).",
    responses=problem_responses(*READER),
)
async def schedules(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    ticks: Annotated[int, Query(ge=0, le=200, description="Recent ticks per scope.")] = 20,
) -> dict[str, Any]:
    province_code = province
    intervals = settings.schedule_intervals()
    now = utcnow()
    scopes = []
    for scope in ("procedures", "dossiers"):
        every = intervals.get(scope)
        scopes.append(
            {
                "scope": scope,
                "every_s": every.total_seconds() if every else None,
                "enabled": settings.scheduler_enabled and every is not None,
                "next_due_at": slot_start(tick_slot(now, every) + 1, every).isoformat()
                if every and settings.scheduler_enabled
                else None,
                "ticks": [
                    _tick_view(t) for t in await recent_ticks(session, province_code, scope, ticks)
                ],
            }
        )
    return {"province_code": province_code, "schedules": scopes}
