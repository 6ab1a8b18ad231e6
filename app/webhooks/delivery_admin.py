"""What operators do with deliveries: read them and their attempts, redeliver, recover, test.

Redelivery and recovery put a delivery back to ``pending`` with a fresh retry cycle; the message
keeps its id, so a subscriber that already processed it recognises the ``webhook-id``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import BadRequest, Conflict, NotFound
from app.events import ENDPOINT_DISABLED, EVENT_TYPES, add_event
from app.models import DeliveryStatus, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.models.types import utcnow
from app.pagination import RowIdCursor, decode_cursor, encode_cursor
from app.webhooks.examples import example_data


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "message_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempt_count,
        "next_attempt_at": (
            delivery.next_attempt_at.isoformat()
            if delivery.status == DeliveryStatus.PENDING
            else None
        ),
        "in_flight": delivery.lease_until is not None and delivery.lease_until > utcnow(),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }


def attempt_view(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "message_id": attempt.event_id,
        "attempted_at": attempt.attempted_at.isoformat(),
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "response": attempt.response_excerpt,
        "error": attempt.error,
    }


Row = TypeVar("Row", WebhookDelivery, WebhookAttempt)


def _page(rows: list[Row], limit: int, view: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    """``rows`` holds one more than a page when another page follows (keyset on the id)."""
    page = rows[:limit]
    last = page[-1].id if len(rows) > limit and page else None
    return {
        "items": [view(row) for row in page],
        "next_cursor": encode_cursor([str(last)]) if last is not None else None,
    }


def _after(cursor: str | None) -> int | None:
    position = decode_cursor(cursor, RowIdCursor)
    return None if position is None else position.after


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None,
    event_type: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Newest first."""
    query = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status.value)
    if event_type is not None:
        query = query.where(col(WebhookDelivery.event_type) == event_type)
    after = _after(cursor)
    if after is not None:
        query = query.where(col(WebhookDelivery.id) < after)
    rows = await session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1))
    return _page(list(rows.all()), limit, delivery_view)


async def list_attempts(
    session: AsyncSession, endpoint_id: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The endpoint's attempt log, newest first."""
    query = select(WebhookAttempt).where(col(WebhookAttempt.endpoint_id) == endpoint_id)
    after = _after(cursor)
    if after is not None:
        query = query.where(col(WebhookAttempt.id) < after)
    rows = await session.exec(query.order_by(col(WebhookAttempt.id).desc()).limit(limit + 1))
    return _page(list(rows.all()), limit, attempt_view)


async def _delivery(session: AsyncSession, endpoint_id: str, message_id: str) -> WebhookDelivery:
    row = await session.exec(
        select(WebhookDelivery).where(
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.event_id) == message_id,
        )
    )
    delivery = row.first()
    if delivery is None:
        raise NotFound(f"Message {message_id} was never sent to endpoint {endpoint_id}.")
    return delivery


async def get_delivery(session: AsyncSession, endpoint_id: str, message_id: str) -> dict[str, Any]:
    """One delivery with its message and every attempt, oldest first."""
    delivery = await _delivery(session, endpoint_id, message_id)
    event = await session.get(OutboxEvent, message_id)
    attempts = await session.exec(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id) == delivery.id)
        .order_by(col(WebhookAttempt.id))
    )
    return {
        **delivery_view(delivery),
        "payload": event.payload if event else None,
        "attempt_log": [attempt_view(a) for a in attempts.all()],
    }


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first "
            'with PATCH {"enabled": true}.',
        )


def _requeue_values(now: datetime) -> dict[str, Any]:
    return {
        "status": DeliveryStatus.PENDING.value,
        "cycle_attempts": 0,
        "next_attempt_at": now,
        "updated_at": now,
    }


async def redeliver(
    session: AsyncSession, endpoint: WebhookEndpoint, message_id: str
) -> dict[str, Any]:
    """Send one message again (whatever its status), with the same ``webhook-id``."""
    _require_enabled(endpoint)
    delivery = await _delivery(session, endpoint.id, message_id)
    now = utcnow()
    changed = await session.exec(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery.id,
            # One being attempted right now finishes first; its outcome is what the caller sees.
            (col(WebhookDelivery.lease_until).is_(None)) | (col(WebhookDelivery.lease_until) < now),
        )
        .values(**_requeue_values(now))
    )
    if changed.rowcount != 1:
        raise Conflict(f"Message {message_id} is being delivered right now; try again shortly.")
    await session.commit()
    await session.refresh(delivery)
    return delivery_view(delivery)


async def recover(
    session: AsyncSession, endpoint: WebhookEndpoint, since: datetime, until: datetime | None
) -> int:
    """Requeue every failed delivery of the endpoint created in ``[since, until)``."""
    _require_enabled(endpoint)
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise BadRequest("Give since/until with a time zone, e.g. 2026-11-20T00:00:00+07:00.")
    query = update(WebhookDelivery).where(
        col(WebhookDelivery.endpoint_id) == endpoint.id,
        col(WebhookDelivery.status) == DeliveryStatus.FAILED.value,
        col(WebhookDelivery.created_at) >= since,
    )
    if until is not None:
        query = query.where(col(WebhookDelivery.created_at) < until)
    changed = await session.exec(query.values(**_requeue_values(utcnow())))
    await session.commit()
    return int(changed.rowcount)


async def send_test_event(
    session: AsyncSession, endpoint: WebhookEndpoint, event_type: str
) -> dict[str, Any]:
    """An example event of ``event_type`` (marked ``"test": true``) to this endpoint only."""
    _require_enabled(endpoint)
    if event_type not in EVENT_TYPES:
        raise BadRequest(f"Unknown event type {event_type!r}.")
    now = utcnow()
    data = {**example_data(event_type), "test": True}
    event = add_event(
        session, province_code=endpoint.province_code, event_type=event_type, data=data, at=now
    )
    event.fanned_out_at = now  # it goes to this endpoint only, not through the fan-out
    await session.flush()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=event_type,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.commit()
    return {"message_id": event.id, "event_type": event_type, "payload": event.payload}


async def fail_pending(
    session: AsyncSession, endpoint_id: str, *, reason: str, now: datetime
) -> None:
    """A disabled endpoint's queue: failed, with why, so that recovery can requeue it later."""
    await session.exec(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            last_error=f"endpoint disabled: {reason}"[:1024],
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )


async def disable_endpoint(
    session: AsyncSession, endpoint_id: str, *, reason: str, now: datetime, emit: bool
) -> bool:
    """Disable an endpoint and fail its pending deliveries (recoverable later), in the caller's
    transaction. Only the transaction that flips ``enabled`` emits ``endpoint.disabled``, so
    dispatchers racing on PostgreSQL emit it once. Returns whether this call disabled it."""
    flipped = await session.exec(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.enabled).is_(True))
        .values(enabled=False, disabled_reason=reason[:256], updated_at=now)
        .returning(
            col(WebhookEndpoint.province_code),
            col(WebhookEndpoint.url),
            col(WebhookEndpoint.failing_since),
        )
    )
    row = flipped.first()
    if row is None:
        return False
    province_code, url, failing_since = row
    await fail_pending(session, endpoint_id, reason=reason, now=now)
    if emit:
        add_event(
            session,
            province_code=province_code,
            event_type=ENDPOINT_DISABLED,
            data={
                "endpoint_id": endpoint_id,
                "url": url,
                "reason": reason,
                "failing_since": failing_since.isoformat() if failing_since else None,
                "disabled_at": now.isoformat(),
                "link": f"/webhooks/endpoints/{endpoint_id}",
            },
            at=now,
        )
    return True
