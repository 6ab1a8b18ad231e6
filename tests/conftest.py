"""Shared fixtures: databases (SQLite file, real PostgreSQL), settings and the in-process app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.background_server import BackgroundServer
from app.main import create_app
from app.reconcile.executor import Upstreams, default_upstreams
from app.settings import Settings
from app.webhooks.receiver import Receiver

POSTGRES_URL = os.environ.get("RECON_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
ADMIN_KEY = "test-admin-key-" + "x" * 24


def _require_postgres() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if IN_CI:
        pytest.fail(
            "CI=true but RECON_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI"
        )
    pytest.skip("set RECON_TEST_POSTGRES_URL to run PostgreSQL tests")


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards (tests may run several processes)."""
    base = _require_postgres()
    name = f"recon_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """Both backends: tests using this run once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


# A fixed Fernet key for webhook secrets at rest (tests only).
TEST_SECRET_KEY = "x2b8OeGJf3_mXnbfUvb1FHX3xTQrzWjQJ1o9nS1DOVY="


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "recon_admin_key": ADMIN_KEY,
        "provincial_base_url": "http://provincial.test/api",
        "provincial_token_url": "http://provincial.test/oauth/token",
        "provincial_client_id": "recon",
        "provincial_client_secret": "p-secret",
        "national_base_url": "http://national.test/gateway",
        "national_token_url": "http://national.test/oauth/token",
        "national_client_id": "recon",
        "national_client_secret": "n-secret",
        "national_province_code": "H53",
        "webhook_secret_key": TEST_SECRET_KEY,
        "upstream_retry_initial_wait_s": 0.0,
        "upstream_retry_max_wait_s": 0.0,
        "upstream_retry_after_cap_s": 0.0,
        "upstream_round_pause_s": 0.0,
        "janitor_interval_seconds": 3600,
        # Tests drive the dispatcher themselves (run_once); the ones that need it running say so.
        "webhook_dispatcher_enabled": False,
        # Scheduled runs would race the runs tests start; tests/integration/test_scheduler.py
        # drives the scheduler's ticks itself.
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class ServiceClient:
    """The in-process service, reached over ASGI with an admin key by default."""

    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.auth)
        return await self.http.get(path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.auth)
        return await self.http.post(path, **kwargs)

    async def reconcile(self, **body: Any) -> dict[str, Any]:
        """Start a run and wait for its outcome."""
        response = await self.post("/reconcile", json=body)
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
        await self.app.state.executor.wait(run_id)
        run = await self.get(f"/runs/{run_id}")
        assert run.status_code == 200, run.text
        result: dict[str, Any] = run.json()
        return result

    async def all_unsynced(self, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        summary: dict[str, Any] = {}
        while True:
            query = {**params, "limit": 500}
            if cursor:
                query["cursor"] = cursor
            response = await self.get("/procedures/unsynced", params=query)
            assert response.status_code == 200, response.text
            body = response.json()
            summary = body["summary"]
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                return summary, items


async def start_service(settings: Settings, upstreams: Upstreams = default_upstreams) -> Any:
    app = create_app(settings, upstreams=upstreams)
    manager = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
    await manager.__aenter__()
    transport = httpx.ASGITransport(app=manager.app)
    http = httpx.AsyncClient(transport=transport, base_url="http://recon.test")
    return manager, ServiceClient(app, http)


@pytest.fixture
async def service_factory() -> AsyncIterator[Any]:
    """Start services with given settings; all are shut down at the end of the test."""
    started: list[tuple[Any, ServiceClient]] = []

    async def factory(
        settings: Settings, upstreams: Upstreams = default_upstreams
    ) -> ServiceClient:
        manager, client = await start_service(settings, upstreams)
        started.append((manager, client))
        return client

    yield factory
    for manager, client in reversed(started):
        await client.http.aclose()
        await manager.__aexit__(None, None, None)


@dataclass
class ReceiverServer:
    app: Receiver
    base_url: str


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    app = Receiver()
    with BackgroundServer(app, name="receiver") as server:
        yield ReceiverServer(app, server.base_url)
