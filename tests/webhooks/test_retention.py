"""Retention: old webhook traffic and scheduled ticks go; anything still to be sent stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select, update

from app.db import SessionFactory, create_engine, create_session_factory
from app.events import add_event
from app.migrate import upgrade
from app.models import (
    DeliveryStatus,
    OutboxEvent,
    ScheduleTick,
    WebhookAttempt,
    WebhookDelivery,
)
from app.models.types import utcnow
from app.retention import purge_expired
from app.webhooks.endpoints import create_endpoint
from app.webhooks.fan_out import fan_out
from app.webhooks.secretbox import SecretBox
from tests.conftest import TEST_SECRET_KEY

KEEP = timedelta(days=90)


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_old_traffic_goes_and_pending_work_stays(factory: SessionFactory) -> None:
    now = utcnow()
    old = now - KEEP - timedelta(days=1)
    async with factory() as session:
        await create_endpoint(
            session,
            province_code="H53",
            url="https://hooks.example.vn/recon",
            event_types=[],
            agency_codes=[],
            description="Sở Tài chính",
            box=SecretBox(TEST_SECRET_KEY),
        )
        delivered, waiting, recent = (
            add_event(
                session, province_code="H53", event_type="mismatch.opened", data={"n": n}, at=at
            ).id
            for n, at in enumerate((old, old, now))
        )
        for slot, claimed in enumerate((old, now)):
            session.add(
                ScheduleTick(
                    province_code="H53",
                    scope="procedures",
                    slot=slot,
                    interval_s=900,
                    due_at=claimed,
                    claimed_at=claimed,
                    owner="replica",
                )
            )
        await session.commit()
    await fan_out(factory)
    async with factory() as session:
        await session.exec(
            update(OutboxEvent)
            .where(col(OutboxEvent.id).in_([delivered, waiting]))
            .values(created_at=old)
        )
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.event_id).in_([delivered, recent]))
            .values(status=DeliveryStatus.DELIVERED)
        )
        (delivery,) = (
            await session.exec(
                select(WebhookDelivery).where(col(WebhookDelivery.event_id) == delivered)
            )
        ).all()
        assert delivery.id is not None
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivered,
                attempted_at=old,
                outcome="delivered",
                status_code=200,
            )
        )
        await session.commit()

    purged = await purge_expired(factory, now=now, keep=KEEP)
    assert (purged.events, purged.ticks) == (1, 1)
    async with factory() as session:
        events = {e.id for e in (await session.exec(select(OutboxEvent))).all()}
        deliveries = {d.event_id for d in (await session.exec(select(WebhookDelivery))).all()}
        attempts = (await session.exec(select(WebhookAttempt))).all()
        slots = [t.slot for t in (await session.exec(select(ScheduleTick))).all()]
    assert events == {waiting, recent}  # the old pending one is still to be sent
    assert deliveries == {waiting, recent}
    assert attempts == []
    assert slots == [1]
