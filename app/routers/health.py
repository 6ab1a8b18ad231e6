"""Liveness, readiness and Prometheus metrics: no key needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlmodel import col, select

from app.dependencies import SessionDep, SettingsDep
from app.metrics import OPEN_FINDINGS, WEBHOOK_BACKLOG, WEBHOOK_OLDEST_PENDING
from app.migrate import has_pending_migrations
from app.models import DeliveryStatus, Finding, FindingStatus, Run, RunStatus, WebhookDelivery
from app.models.types import utcnow

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
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
    last: dict[str, Any] | None = None
    if checks.get("database") == "ok":
        rows = await session.exec(
            select(Run)
            .where(
                col(Run.province_code) == settings.national_province_code,
                col(Run.status).not_in([RunStatus.QUEUED, RunStatus.RUNNING]),
            )
            .order_by(col(Run.finished_at).desc())
            .limit(1)
        )
        run = rows.first()
        if run is not None and run.finished_at is not None:
            last = {
                "run_id": run.id,
                "scope": run.scope,
                "status": run.status,
                "finished_at": run.finished_at.isoformat(),
                "age_seconds": round((utcnow() - run.finished_at).total_seconds(), 1),
            }
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, "last_run": last}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    # Open findings live in the database (shared by every replica), so read them at scrape time.
    rows = await session.exec(
        select(col(Finding.reason), func.count())
        .where(
            col(Finding.province_code) == settings.national_province_code,
            col(Finding.status) == FindingStatus.OPEN,
        )
        .group_by(col(Finding.reason))
    )
    OPEN_FINDINGS.clear()
    for reason, count in rows.all():
        OPEN_FINDINGS.labels(settings.national_province_code, reason).set(count)
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
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
