"""What the database keeps, and for how long: webhook traffic and scheduled ticks age out.

Runs and findings (with their history) are the audit trail and are kept. An event leaves with
its deliveries and their attempts, and only when none of its deliveries is still pending:
nothing waiting to be sent is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlmodel import col

from app.db import SessionFactory
from app.models import DeliveryStatus, OutboxEvent, ScheduleTick, WebhookAttempt, WebhookDelivery


@dataclass(frozen=True, slots=True)
class Purged:
    events: int
    ticks: int


async def purge_expired(factory: SessionFactory, *, now: datetime, keep: timedelta) -> Purged:
    cutoff = now - keep
    pending = exists().where(
        col(WebhookDelivery.event_id) == col(OutboxEvent.id),
        col(WebhookDelivery.status) == DeliveryStatus.PENDING,
    )
    expired = select(col(OutboxEvent.id)).where(
        col(OutboxEvent.created_at) < cutoff,
        col(OutboxEvent.fanned_out_at).is_not(None),
        ~pending,
    )
    async with factory() as session:
        ids = list((await session.exec(expired)).scalars().all())  # type: ignore[call-overload]
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            deliveries = select(col(WebhookDelivery.id)).where(
                col(WebhookDelivery.event_id).in_(chunk)
            )
            await session.exec(
                delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries))
            )
            await session.exec(
                delete(WebhookDelivery).where(col(WebhookDelivery.event_id).in_(chunk))
            )
            await session.exec(delete(OutboxEvent).where(col(OutboxEvent.id).in_(chunk)))
        ticks = await session.exec(
            delete(ScheduleTick).where(col(ScheduleTick.claimed_at) < cutoff)
        )
        await session.commit()
    return Purged(events=len(ids), ticks=int(ticks.rowcount or 0))
