"""Liveness, readiness and Prometheus metrics: no key needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

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
    last_runs: dict[str, dict[str, Any] | None] = {}
    if checks.get("database") == "ok":
        for province_code in settings.province_codes():
            last_runs[province_code] = await _last_run(session, province_code)
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": checks,
        # The newest finished run of any province, and each province's.
        "last_run": max(
            (run for run in last_runs.values() if run),
            key=lambda run: str(run["finished_at"]),
            default=None,
        ),
        "last_runs": last_runs,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
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
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _last_run(session: AsyncSession, province_code: str) -> dict[str, Any] | None:
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
    if run is None or run.finished_at is None:
        return None
    return {
        "run_id": run.id,
        "scope": run.scope,
        "status": run.status,
        "finished_at": run.finished_at.isoformat(),
        "age_seconds": round((utcnow() - run.finished_at).total_seconds(), 1),
    }
