"""Claims: due pending deliveries leased to one dispatcher, with what sending them needs.

``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never claim the same row; on SQLite the
conditional ``UPDATE`` itself is the claim, and one dispatcher is expected. At most
``batch_size`` per pass and per endpoint, skipping endpoints whose lane is full. Leases of
everything held are renewed until it is recorded; a lease that expires (a dispatcher killed
mid-send) lets whoever claims next send the same message again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.events import encode_payload
from app.models import (
    DeliveryStatus,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from app.models.types import utcnow


@dataclass
class Claimed:
    delivery_id: int
    endpoint_id: str
    event_id: str
    cycle_attempts: int
    body: bytes | None = None  # None: the event is gone (retention); it can never be sent


@dataclass
class Target:
    url: str
    secrets: list[str]
    failing_since: datetime | None


@dataclass
class Lane:
    """One endpoint's deliveries held by this dispatcher and the task that sends them."""

    endpoint_id: str
    target: Target
    queue: deque[Claimed] = field(default_factory=deque)
    held: set[int] = field(default_factory=set)  # claimed and not yet recorded
    task: asyncio.Task[None] | None = None
    stopped: bool = False  # disabled, or (ordered) a failure: take nothing more


@dataclass
class Claim:
    """What one claim leased: the deliveries (bodies filled in) and their endpoints."""

    items: list[Claimed]
    targets: dict[str, Target]


async def claim_due(
    factory: SessionFactory,
    *,
    owner: str,
    lease: timedelta,
    batch_size: int,
    ordered: bool,
    capacity: int,
    lanes: dict[str, Lane],
    held: set[int],
    reveal: Callable[[WebhookSecret], str],
) -> Claim | None:
    """Lease due deliveries to ``owner``, within each lane's remaining ``capacity``; the leased
    ids join ``held`` (left out again if reading their endpoints or payloads fails)."""
    now = utcnow()
    full = [
        endpoint_id
        for endpoint_id, lane in lanes.items()
        if not lane.stopped and len(lane.held) >= capacity
    ]
    room = {
        endpoint_id: capacity - len(lane.held)
        for endpoint_id, lane in lanes.items()
        if not lane.stopped
    }
    lease_free = or_(
        col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now
    )
    query = (
        select(col(WebhookDelivery.id), col(WebhookDelivery.endpoint_id))
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(
            col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
            col(WebhookDelivery.next_attempt_at) <= now,
            lease_free,
            col(WebhookEndpoint.enabled).is_(True),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(batch_size)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if full:
        query = query.where(col(WebhookDelivery.endpoint_id).not_in(full))
    if ordered:
        # Strict order: nothing starts while an earlier delivery of the endpoint is still
        # pending and not ours to send next (backing off, or leased by another replica).
        earlier = aliased(WebhookDelivery)
        query = query.where(
            ~exists().where(
                col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
                col(earlier.id) < col(WebhookDelivery.id),
                col(earlier.status) == DeliveryStatus.PENDING.value,
                or_(
                    col(earlier.next_attempt_at) > now,
                    and_(
                        col(earlier.lease_until) >= now,
                        col(earlier.lease_owner) != owner,
                    ),
                ),
            )
        )
    async with factory() as session:
        due = await session.exec(query)
        ids: list[int] = []
        for delivery_id, endpoint_id in due.all():
            left = room.get(endpoint_id, capacity)
            if delivery_id is not None and left > 0:
                ids.append(delivery_id)
                room[endpoint_id] = left - 1
        if not ids:
            await session.rollback()
            return None
        # The lease conditions are repeated so that the UPDATE alone decides who claimed a
        # row where SKIP LOCKED does not exist (SQLite serialises writers).
        claimed = await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_(ids),
                col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                lease_free,
            )
            .values(lease_owner=owner, lease_until=now + lease)
            .returning(
                col(WebhookDelivery.id),
                col(WebhookDelivery.endpoint_id),
                col(WebhookDelivery.event_id),
                col(WebhookDelivery.cycle_attempts),
            )
        )
        rows = sorted(claimed.all(), key=lambda row: row[0])
        await session.commit()
        if not rows:
            return None
        items = [Claimed(*row) for row in rows]
        held.update(item.delivery_id for item in items)
        try:
            targets = await load_targets(session, {c.endpoint_id for c in items}, now, reveal)
            payloads = await load_payloads(session, {c.event_id for c in items})
        except BaseException:
            held.difference_update(item.delivery_id for item in items)
            raise
    for item in items:
        item.body = payloads.get(item.event_id)
    return Claim(items, targets)


async def load_targets(
    session: AsyncSession,
    endpoint_ids: set[str],
    now: datetime,
    reveal: Callable[[WebhookSecret], str],
) -> dict[str, Target]:
    endpoints = await session.exec(
        select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
    )
    secrets: dict[str, list[str]] = defaultdict(list)
    secret_rows = await session.exec(
        select(WebhookSecret)
        .where(
            col(WebhookSecret.endpoint_id).in_(endpoint_ids),
            or_(col(WebhookSecret.expires_at).is_(None), col(WebhookSecret.expires_at) > now),
        )
        .order_by(col(WebhookSecret.id).desc())
    )
    for secret in secret_rows.all():
        secrets[secret.endpoint_id].append(reveal(secret))
    return {
        endpoint.id: Target(endpoint.url, secrets[endpoint.id], endpoint.failing_since)
        for endpoint in endpoints.all()
    }


async def load_payloads(session: AsyncSession, event_ids: Iterable[str]) -> dict[str, bytes]:
    rows = await session.exec(
        select(col(OutboxEvent.id), col(OutboxEvent.payload)).where(
            col(OutboxEvent.id).in_(list(event_ids))
        )
    )
    return {event_id: encode_payload(payload) for event_id, payload in rows.all()}


async def renew_leases(
    factory: SessionFactory, held: Iterable[int], *, owner: str, lease: timedelta
) -> None:
    """Extend the leases ``owner`` still holds on ``held`` by ``lease`` from now."""
    async with factory() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_(list(held)),
                col(WebhookDelivery.lease_owner) == owner,
            )
            .values(lease_until=utcnow() + lease)
        )
        await session.commit()
