"""GET /schedules: what runs on its own, when it runs next, and what its last ticks did."""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.cadence import Cron, Interval
from app.dependencies import ProvinceDep, ProvinceReaderDep, SessionDep, SettingsDep
from app.models import ScheduleTick
from app.models.types import utcnow
from app.scheduler import RUN_SCOPES, fireable, recent_ticks, registered_jobs
from app.schemas.problems import READER, problem_responses
from app.schemas.runs import Schedules

router = APIRouter(tags=["runs"])
SCOPES = ("procedures", "dossiers", "report")


def _tick_view(tick: ScheduleTick, zone: tzinfo) -> dict[str, Any]:
    return {
        "due_at": tick.due_at.isoformat(),
        "due_local": tick.due_at.astimezone(zone).isoformat(),
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
    description="Per scope (the runs of `procedures` and `dossiers`, the `report` job): its "
    "interval or cron expression and time zone, whether it is on, the next tick (UTC and local), "
    "and the last ticks (`started`, `skipped` with the active run that blocked it, or `failed`; "
    "which replica fired each).",
    responses=problem_responses(*READER),
)
async def schedules(
    request: Request,
    principal: ProvinceReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    ticks: Annotated[int, Query(ge=0, le=200, description="Recent ticks per scope.")] = 20,
) -> dict[str, Any]:
    province_code = province
    zone = settings.schedule_zone()
    configured = settings.schedule_cadences()
    firing = fireable(configured, registered_jobs(request.app.state))
    now = utcnow()
    scopes = []
    for scope in SCOPES:
        cadence = configured.get(scope)
        enabled = settings.scheduler_enabled and scope in firing
        next_due = cadence.slot_at(now).next_due_at if cadence and enabled else None
        scopes.append(
            {
                "scope": scope,
                "kind": "run" if scope in RUN_SCOPES else "job",
                "every_s": cadence.every.total_seconds() if isinstance(cadence, Interval) else None,
                "cron": cadence.expression if isinstance(cadence, Cron) else None,
                "timezone": zone.key,
                "enabled": enabled,
                "next_due_at": next_due.isoformat() if next_due else None,
                "next_due_local": next_due.astimezone(zone).isoformat() if next_due else None,
                "ticks": [
                    _tick_view(t, zone)
                    for t in await recent_ticks(session, province_code, scope, ticks)
                ],
            }
        )
    return {"province_code": province_code, "schedules": scopes}
