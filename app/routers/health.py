"""Liveness, readiness and Prometheus metrics: no key needed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.dependencies import SessionDep, SettingsDep
from app.metrics import (
    DATA_AGE,
    LAST_COMPLETE_RUN,
    OPEN_FINDINGS,
    WEBHOOK_BACKLOG,
    WEBHOOK_OLDEST_PENDING,
)
from app.migrate import has_pending_migrations
from app.models import DeliveryStatus, Finding, FindingStatus, WebhookDelivery
from app.models.types import utcnow
from app.read.freshness import Freshness, freshness
from app.runs_history import last_finished
from app.schemas.admin import READY_EXAMPLE, Live, Ready
from app.schemas.problems import problem_responses
from app.settings import Settings

router = APIRouter(tags=["health"])


@router.get(
    "/health/live",
    response_model=Live,
    summary="Liveness",
    description="The process answers. No key needed.",
)
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Ready,
    summary="Readiness",
    description="`ok`; `degraded` (still 200) when a scope's last complete run is older than "
    "HEALTH_MAX_DATA_AGE_* or there is none although expected; `unavailable` (503, same body) "
    "when the database is unreachable or migrations are pending. No key needed.",
    responses={
        200: {"content": {"application/json": {"example": READY_EXAMPLE}}},
        503: {
            "model": Ready,
            "description": "The database is unreachable or migrations are "
            "pending (`status: unavailable`).",
        },
    },
)
async def ready(request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        checks["database"] = "ok"
        pending = await has_pending_migrations(request.app.state.engine)
        checks["migrations"] = "pending" if pending else "ok"
        healthy = not pending
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        healthy = False
    last_runs: dict[str, dict[str, Any] | None] = {}
    degraded: list[dict[str, Any]] = []
    if checks.get("database") == "ok" and checks.get("migrations") == "ok":
        for province_code in settings.province_codes():
            last_runs[province_code] = await _last_run(session, province_code)
        degraded = _degraded(
            await freshness(session, settings.province_codes()), settings, utcnow()
        )
    status = "unavailable" if not healthy else "degraded" if degraded else "ok"
    body = {
        "status": status,
        "checks": checks,
        # Why the status is "degraded": per province and scope, data too old or never complete.
        "degraded": degraded,
        # The newest finished run of any province, and each province's.
        "last_run": max(
            (run for run in last_runs.values() if run),
            key=lambda run: str(run["finished_at"]),
            default=None,
        ),
        "last_runs": last_runs,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    description="The Prometheus text exposition format: open findings, webhook backlog, data "
    "age per province and scope, run and upstream counters. No key needed.",
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text format (version 0.0.4).",
        },
        503: problem_responses(503)[503],
    },
)
async def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    # Open findings live in the database (shared by every replica), so read them at scrape time.
    rows = await session.exec(
        select(col(Finding.province_code), col(Finding.reason), func.count())
        .where(
            col(Finding.province_code).in_(settings.province_codes()),
            col(Finding.status) == FindingStatus.OPEN,
        )
        .group_by(col(Finding.province_code), col(Finding.reason))
    )
    OPEN_FINDINGS.clear()
    for province_code, reason, count in rows.all():
        OPEN_FINDINGS.labels(province_code, reason).set(count)
    # Webhook backlog (every replica's, from the shared database): what alerting watches.
    backlog = await session.exec(
        select(col(WebhookDelivery.status), func.count(), func.min(WebhookDelivery.created_at))
        .where(col(WebhookDelivery.status).in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]))
        .group_by(col(WebhookDelivery.status))
    )
    WEBHOOK_BACKLOG.clear()
    WEBHOOK_OLDEST_PENDING.set(0)
    for status, count, oldest in backlog.all():
        WEBHOOK_BACKLOG.labels(status).set(count)
        if status == DeliveryStatus.PENDING and oldest is not None:
            WEBHOOK_OLDEST_PENDING.set((utcnow() - oldest).total_seconds())
    # Freshness per province and scope (no sample without a complete run).
    now = utcnow()
    LAST_COMPLETE_RUN.clear()
    DATA_AGE.clear()
    for fresh in await freshness(session, settings.province_codes()):
        if fresh.finished_at is not None:
            LAST_COMPLETE_RUN.labels(fresh.province_code, fresh.scope).set(
                fresh.finished_at.timestamp()
            )
            DATA_AGE.labels(fresh.province_code, fresh.scope).set(
                max(0.0, (now - fresh.finished_at).total_seconds())
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _degraded(fresh: list[Freshness], settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The scopes whose data is older than allowed (``too_old``), or never complete although
    expected: the scope is scheduled, or has been run (``no_complete_run``)."""
    max_ages = settings.health_max_data_ages()
    scheduled = settings.schedule_cadences()
    reasons: list[dict[str, Any]] = []
    for item in fresh:
        max_age = max_ages.get(item.scope)
        if max_age is None:
            continue
        age = item.age(now)
        if age is None and (item.scope in scheduled or item.has_runs):
            why = "has runs, none complete" if item.has_runs else "scheduled, never run"
            reason, detail = "no_complete_run", f"no complete {item.scope} run ({why})"
        elif age is not None and age > max_age:
            reason = "too_old"
            detail = (
                f"the last complete {item.scope} run ({item.run_id}) finished more than "
                f"{_duration(max_age)} ago"
            )
        else:
            continue
        reasons.append(
            {
                "province": item.province_code,
                "scope": item.scope,
                "reason": reason,
                "detail": detail,
                "age_seconds": None if age is None else round(age.total_seconds(), 1),
                "max_age_seconds": max_age.total_seconds(),
            }
        )
    return reasons


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def _last_run(session: AsyncSession, province_code: str) -> dict[str, Any] | None:
    run = await last_finished(session, province_code)
    if run is None or run.finished_at is None:
        return None
    return {
        "run_id": run.id,
        "scope": run.scope,
        "status": run.status,
        "finished_at": run.finished_at.isoformat(),
        "age_seconds": round((utcnow() - run.finished_at).total_seconds(), 1),
    }
