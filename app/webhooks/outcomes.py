"""Outcomes: recording what an attempt came to, and when the delivery is tried again.

Each answered attempt is logged and its delivery marked delivered, rescheduled with back-off
(the retry schedule, capped ``Retry-After``) or failed; a message removed by retention fails
its delivery; leases of deliveries not started are given back. The endpoint's failure window
moves with the answers, and an endpoint that answered 410 Gone or has failed for longer than
the window is disabled, in the same transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.models.types import utcnow
from app.webhooks.claims import Claimed, Lane
from app.webhooks.delivery_admin import disable_endpoint
from app.webhooks.sending import AttemptResult, next_attempt_delay

DELIVERIES_TABLE: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
ATTEMPTS_TABLE: Table = WebhookAttempt.__table__  # type: ignore[attr-defined]


@dataclass
class Sent:
    claimed: Claimed
    at: datetime
    result: AttemptResult


@dataclass
class Entry:
    """One thing to write: an attempt, a vanished message, or leases to give back."""

    lane: Lane
    sent: Sent | None = None
    vanished: Claimed | None = None
    released: list[int] = field(default_factory=list)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


async def write_outcomes(
    factory: SessionFactory,
    group: list[Entry],
    *,
    owner: str,
    schedule: tuple[timedelta, ...],
    retry_after_cap: timedelta,
    disable_after: timedelta,
) -> None:
    """Write a group of entries in one transaction: attempts logged, deliveries delivered,
    rescheduled with back-off or failed, vanished messages failed, leases given back; endpoints
    that answered 410 or have failed for longer than ``disable_after`` are disabled (and
    ``endpoint.disabled`` emitted) in the same transaction, then their lanes stopped."""
    now = utcnow()
    sent = [(entry.lane, entry.sent) for entry in group if entry.sent is not None]
    vanished = [entry.vanished.delivery_id for entry in group if entry.vanished is not None]
    released = [delivery_id for entry in group for delivery_id in entry.released]
    async with factory() as session:
        if sent:
            connection = await session.connection()
            # Core executemany: the ORM's bulk path costs more per row than the insert.
            await connection.execute(
                insert(ATTEMPTS_TABLE),
                [
                    {
                        "delivery_id": s.claimed.delivery_id,
                        "endpoint_id": lane.endpoint_id,
                        "event_id": s.claimed.event_id,
                        "attempted_at": s.at,
                        "outcome": s.result.outcome,
                        "status_code": s.result.status_code,
                        "duration_ms": round(s.result.duration_ms, 3),
                        "response_excerpt": s.result.response_excerpt,
                        "error": (s.result.error or "")[:1024] or None,
                        "dispatcher": owner[:128],
                    }
                    for lane, s in sent
                ],
            )
            # Core executemany (one statement, many rows); the lease check fences off a
            # dispatcher whose lease expired and was taken over while it was sending.
            table = DELIVERIES_TABLE
            await connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.lease_owner == owner)
                .values(
                    status=bindparam("b_status"),
                    cycle_attempts=bindparam("b_cycle"),
                    attempt_count=table.c.attempt_count + 1,
                    next_attempt_at=bindparam("b_next"),
                    last_status_code=bindparam("b_code"),
                    last_error=bindparam("b_error"),
                    delivered_at=bindparam("b_delivered"),
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                ),
                [
                    transition(s, now, schedule=schedule, retry_after_cap=retry_after_cap)
                    for _, s in sent
                ],
            )
        if vanished:
            await session.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(vanished))
                .values(
                    status=DeliveryStatus.FAILED.value,
                    last_error="the message no longer exists (removed by retention)",
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
        if released:
            await session.exec(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_(released),
                    col(WebhookDelivery.lease_owner) == owner,
                )
                .values(lease_owner=None, lease_until=None)
            )
        by_lane: dict[int, tuple[Lane, list[Sent]]] = {}
        for lane, s in sent:
            by_lane.setdefault(id(lane), (lane, []))[1].append(s)
        health = [
            (
                lane,
                await update_endpoint_health(
                    session, lane, lane_sent, now, disable_after=disable_after
                ),
            )
            for lane, lane_sent in by_lane.values()
        ]
        await session.commit()
    for lane, (failing_since, disabled) in health:
        lane.target.failing_since = failing_since
        if disabled:
            lane.stopped = True


def transition(
    sent: Sent, now: datetime, *, schedule: tuple[timedelta, ...], retry_after_cap: timedelta
) -> dict[str, Any]:
    """The delivery row's new state after one attempt (the parameters of the UPDATE)."""
    result = sent.result
    cycle = sent.claimed.cycle_attempts + 1
    common = {
        "b_id": sent.claimed.delivery_id,
        "b_cycle": cycle,
        "b_code": result.status_code,
        "b_error": (result.error or "")[:1024] or None,
        "b_delivered": None,
        "b_next": now,
    }
    if result.outcome == "delivered":
        return {**common, "b_status": DeliveryStatus.DELIVERED.value, "b_delivered": now}
    delay = None
    if result.outcome != "gone":
        delay = next_attempt_delay(
            cycle,
            schedule,
            retry_after=result.retry_after,
            retry_after_cap=retry_after_cap,
        )
    if delay is None:
        return {**common, "b_status": DeliveryStatus.FAILED.value}
    return {**common, "b_status": DeliveryStatus.PENDING.value, "b_next": now + delay}


async def update_endpoint_health(
    session: AsyncSession,
    lane: Lane,
    sent: list[Sent],
    now: datetime,
    *,
    disable_after: timedelta,
) -> tuple[datetime | None, bool]:
    """The endpoint's failure window after ``sent``: (failing since, disabled now)."""
    endpoint_id, target = lane.endpoint_id, lane.target
    last = sent[-1]
    if last.result.outcome == "delivered":
        if target.failing_since is not None:
            await session.exec(
                update(WebhookEndpoint)
                .where(col(WebhookEndpoint.id) == endpoint_id)
                .values(failing_since=None)
            )
        return None, False
    if last.result.outcome == "gone":
        await disable_endpoint(
            session, endpoint_id, reason="the receiver answered 410 Gone", now=now, emit=True
        )
        return target.failing_since, True
    # The failure window starts at the first failure after the last success.
    succeeded_now = any(s.result.outcome == "delivered" for s in sent)
    failing_since = target.failing_since
    if failing_since is None or succeeded_now:
        failing_since = last.at
        await session.exec(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == endpoint_id)
            .values(failing_since=failing_since)
        )
    if now - failing_since >= disable_after:
        hours = disable_after.total_seconds() / 3600
        await disable_endpoint(
            session,
            endpoint_id,
            reason=f"no successful delivery for {hours:g} h (last error: {last.result.error})",
            now=now,
            emit=True,
        )
        return failing_since, True
    return failing_since, False
