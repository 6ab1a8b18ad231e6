"""Fan-out: outbox events not yet fanned out become one ``webhook_deliveries`` row per enabled
endpoint of the event's province whose filters match (event type; agency, for events with one).
"""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.db import SessionFactory
from app.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from app.models.types import utcnow

FAN_OUT_BATCH = 500


def endpoint_wants(endpoint: WebhookEndpoint, event: OutboxEvent) -> bool:
    """An endpoint's filters: empty means everything; events without an agency pass the agency
    filter (a subscriber following one agency still hears that runs completed or failed)."""
    if endpoint.event_types and event.event_type not in endpoint.event_types:
        return False
    return not (
        endpoint.agency_codes
        and event.agency_code is not None
        and event.agency_code not in endpoint.agency_codes
    )


async def fan_out(factory: SessionFactory, limit: int = FAN_OUT_BATCH) -> int:
    """Turn up to ``limit`` new outbox events into deliveries; returns how many events."""
    async with factory() as session:
        rows = await session.exec(
            select(OutboxEvent)
            .where(col(OutboxEvent.fanned_out_at).is_(None))
            .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        events = list(rows.all())
        if not events:
            return 0
        provinces = {event.province_code for event in events}
        endpoint_rows = await session.exec(
            select(WebhookEndpoint)
            .where(
                col(WebhookEndpoint.enabled).is_(True),
                col(WebhookEndpoint.province_code).in_(provinces),
            )
            .order_by(col(WebhookEndpoint.created_at))
        )
        endpoints = list(endpoint_rows.all())
        now = utcnow()
        deliveries = [
            {
                "endpoint_id": endpoint.id,
                "event_id": event.id,
                "event_type": event.event_type,
                "status": DeliveryStatus.PENDING.value,
                "cycle_attempts": 0,
                "attempt_count": 0,
                "next_attempt_at": now,
                "created_at": event.created_at,
                "updated_at": now,
            }
            for event in events
            for endpoint in endpoints
            if endpoint.province_code == event.province_code and endpoint_wants(endpoint, event)
        ]
        try:
            if deliveries:
                await session.exec(insert(WebhookDelivery), params=deliveries)
            await session.exec(
                update(OutboxEvent)
                .where(col(OutboxEvent.id).in_([event.id for event in events]))
                .values(fanned_out_at=now)
            )
            await session.commit()
        except IntegrityError:
            # Only possible on SQLite with two dispatchers (no SKIP LOCKED): another one fanned
            # these events out first. Nothing is lost; its rows stand.
            await session.rollback()
            return 0
        return len(events)
