"""PostgreSQL connections cut under the pool (a restart, a failover, a proxy's idle timeout):
the service reconnects instead of pinging before every request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from app import db
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


async def _cut_every_other_connection(service: Any) -> int:
    async with service.app.state.engine.connect() as connection:
        killed = await connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return int(killed.scalar_one())


async def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    postgres_url: str, service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await service_factory(make_settings(postgres_url))
    assert (await service.get("/runs")).status_code == 200
    assert await _cut_every_other_connection(service) >= 1
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection is "idle"
    for _ in range(3):
        response = await service.get("/runs")
        assert response.status_code == 200, response.text


async def test_a_busy_connection_cut_fails_one_request_at_most(
    postgres_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(postgres_url))
    assert (await service.get("/runs")).status_code == 200
    await _cut_every_other_connection(service)
    answers = [(await service.get("/runs")).status_code for _ in range(4)]
    # Not pinged (used a moment ago): the cut connection's error invalidates it, answered 503
    # with Retry-After; the pool then connects anew and the rest succeed.
    assert answers.count(200) >= 3, answers
    assert all(code in (200, 503) for code in answers), answers
