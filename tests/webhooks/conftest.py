"""A real receiver over HTTP, the service in process, and helpers to emit and deliver events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from app.events import add_event
from app.models import WebhookDelivery, WebhookEndpoint
from app.models.types import utcnow
from app.webhooks.dispatcher import Dispatcher
from tests.conftest import ReceiverServer, ServiceClient, make_settings

ENDPOINTS = "/webhooks/endpoints"
AGENCY = "000.00.15.H53"


def hook_settings(database_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "webhook_allowed_networks": "127.0.0.0/8",
        "webhook_allow_http": True,
        "webhook_retry_schedule": "20ms,20ms,20ms",
        "webhook_timeout_s": 5,
        **overrides,
    }
    return make_settings(database_url, **values)


class Hooks:
    """The service plus its dispatcher, driven pass by pass, and a receiver."""

    def __init__(self, service: ServiceClient, receiver: ReceiverServer) -> None:
        self.service = service
        self.receiver = receiver
        self.factory = service.app.state.session_factory
        self.dispatcher: Dispatcher = service.app.state.dispatcher

    async def register(self, path: str, **fields: Any) -> dict[str, Any]:
        response = await self.service.post(
            ENDPOINTS, json={"url": f"{self.receiver.base_url}{path}", **fields}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        self.receiver.app.expect(path, body["secret"])
        return body

    async def emit(
        self,
        event_type: str = "mismatch.opened",
        *,
        count: int = 1,
        agency_code: str | None = AGENCY,
        data: dict[str, Any] | None = None,
    ) -> list[str]:
        """Commit ``count`` events in one transaction, as a run does; returns their ids."""
        async with self.factory() as session:
            now = utcnow()
            ids = [
                add_event(
                    session,
                    province_code="H53",
                    event_type=event_type,
                    data={"n": n, **(data or {})},
                    at=now,
                    agency_code=agency_code,
                ).id
                for n in range(count)
            ]
            await session.commit()
        return ids

    async def deliver_until(self, done: Callable[[], bool], *, within_s: float = 15.0) -> None:
        async with asyncio.timeout(within_s):
            while not done():
                if not await self.dispatcher.run_once():
                    await asyncio.sleep(0.02)

    async def deliveries(self, endpoint_id: str) -> list[WebhookDelivery]:
        async with self.factory() as session:
            rows = await session.exec(
                select(WebhookDelivery)
                .where(col(WebhookDelivery.endpoint_id) == endpoint_id)
                .order_by(col(WebhookDelivery.id))
            )
            return list(rows.all())

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        async with self.factory() as session:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)
            assert endpoint is not None
            return endpoint

    async def backdate_failing_since(self, endpoint_id: str, by: timedelta) -> None:
        async with self.factory() as session:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)
            assert endpoint is not None
            assert endpoint.failing_since is not None
            endpoint.failing_since -= by
            session.add(endpoint)
            await session.commit()


@pytest.fixture
async def hooks(database_url: str, service_factory: Any, receiver: ReceiverServer) -> Hooks:
    service = await service_factory(hook_settings(database_url))
    return Hooks(service, receiver)
