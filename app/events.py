"""Event payloads (Standard Webhooks shape ``{"type", "timestamp", "data"}``) for the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import OutboxEvent

MISMATCH_OPENED: Final = "mismatch.opened"
MISMATCH_UPDATED: Final = "mismatch.updated"
MISMATCH_RESOLVED: Final = "mismatch.resolved"
RUN_COMPLETED: Final = "run.completed"
RUN_FAILED: Final = "run.failed"
EVENT_TYPES: Final = (
    MISMATCH_OPENED,
    MISMATCH_UPDATED,
    MISMATCH_RESOLVED,
    RUN_COMPLETED,
    RUN_FAILED,
)


def add_event(
    session: AsyncSession,
    *,
    province_code: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    agency_code: str | None = None,
) -> OutboxEvent:
    """Stage an event in the caller's transaction: it exists exactly when the change commits."""
    event = OutboxEvent(
        province_code=province_code,
        event_type=event_type,
        agency_code=agency_code,
        payload={"type": event_type, "timestamp": at.isoformat(), "data": data},
        created_at=at,
    )
    session.add(event)
    return event
