"""API requests carry DATABASE_STATEMENT_TIMEOUT_S on PostgreSQL: a query that outruns it is
cancelled and answered 503 problem+json with Retry-After, while runs, the dispatcher and
migrations (app.state.session_factory) keep no timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import SessionFactory
from app.dependencies import SessionDep, SessionFactoryDep
from app.main import create_app
from tests.conftest import ADMIN_KEY, make_settings

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _show(session: Any) -> str:
    return str((await session.exec(text("SHOW statement_timeout"))).scalar_one())


def _app_with_probes(url: str, timeout_s: float) -> Any:
    app = create_app(make_settings(url, database_statement_timeout_s=timeout_s))

    async def sleep(session: SessionDep, seconds: float) -> dict[str, Any]:
        await session.exec(text("SELECT pg_sleep(:s)").bindparams(s=seconds))  # type: ignore[call-overload]
        return {"slept": seconds}

    async def show(session: SessionDep) -> dict[str, Any]:
        return {"request": await _show(session)}

    async def show_factory(factory: SessionFactoryDep) -> dict[str, Any]:
        async with factory() as session:
            first = await _show(session)
            await session.commit()
            # A new transaction of the same session sets it again.
            return {"factory": first, "after_commit": await _show(session)}

    app.add_api_route("/test/sleep", sleep)
    app.add_api_route("/test/show", show)
    app.add_api_route("/test/show-factory", show_factory)
    return app


async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recon.test") as http:
            yield http


@pytest.fixture
async def timed(postgres_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = _app_with_probes(postgres_url, 0.5)
    async for http in _client(app):
        yield app, http


@pytest.mark.postgres
async def test_a_slow_query_is_answered_503_with_retry_after(
    timed: tuple[Any, httpx.AsyncClient],
) -> None:
    _app, http = timed
    began = time.monotonic()
    response = await http.get("/test/sleep", params={"seconds": 5})
    elapsed = time.monotonic() - began
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == 503
    assert body["type"] == "/problems/unavailable"
    assert "took too long" in body["detail"]
    assert elapsed < 3, f"the 0.5 s timeout let the query run {elapsed:.1f} s"

    # A quick one still answers, on connections the pool got back.
    for _ in range(3):
        ok = await http.get("/test/sleep", params={"seconds": 0})
        assert ok.status_code == 200, ok.text


@pytest.mark.postgres
async def test_requests_carry_the_timeout_and_runs_do_not(
    timed: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = timed
    for _ in range(3):
        shown = await http.get("/test/show")
        assert shown.json() == {"request": "500ms"}
        through_factory = await http.get("/test/show-factory")
        assert through_factory.json() == {"factory": "500ms", "after_commit": "500ms"}
        # SET LOCAL ends with the request's transaction: the pooled connections the runs and
        # the dispatcher take from the same engine have no timeout.
        run_factory: SessionFactory = app.state.session_factory
        async with run_factory() as session:
            assert await _show(session) == "0"


@pytest.mark.postgres
async def test_a_real_endpoint_blocked_by_a_lock_answers_503(
    timed: tuple[Any, httpx.AsyncClient], postgres_url: str
) -> None:
    """A reader waiting on a lock (an ALTER, a VACUUM FULL) is cut off too, not left hanging."""
    _app, http = timed
    holder = create_async_engine(postgres_url)
    try:
        async with holder.connect() as connection:
            await connection.execute(text("LOCK TABLE agencies IN ACCESS EXCLUSIVE MODE"))
            began = time.monotonic()
            response = await http.get(
                "/dossiers/mismatches",
                params={"from": "2023-01-01", "to": "2023-12-31"},
                headers=AUTH,
            )
            elapsed = time.monotonic() - began
            await connection.rollback()
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "retry-after" in response.headers
        assert elapsed < 3
        after = await http.get(
            "/dossiers/mismatches",
            params={"from": "2023-01-01", "to": "2023-12-31"},
            headers=AUTH,
        )
        assert after.status_code == 200, after.text
    finally:
        await holder.dispose()


@pytest.mark.postgres
async def test_zero_disables_the_timeout(postgres_url: str) -> None:
    app = _app_with_probes(postgres_url, 0)
    async for http in _client(app):
        assert (await http.get("/test/show")).json() == {"request": "0"}
        slow = await http.get("/test/sleep", params={"seconds": 0.3})
        assert slow.status_code == 200


async def test_an_exhausted_pool_is_a_503_too(sqlite_url: str) -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    app = create_app(make_settings(sqlite_url))

    async def exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    app.add_api_route("/test/exhausted", exhausted)
    async for http in _client(app):
        response = await http.get("/test/exhausted")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "retry-after" in response.headers
        assert "busy" in response.json()["detail"]
