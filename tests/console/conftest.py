"""A reconciled province served over real HTTP for the console's tests: the simulator's Tây Ninh,
one ``all`` run, and a key of each role plus an agency-scoped one."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.settings import Settings
from app.simulator.server import SimulatorServer
from tests.conftest import ADMIN_KEY, _require_postgres, make_settings

SCREENSHOTS = Path(__file__).parents[2] / "build" / "screenshots"


class LiveService:
    """The whole service (lifespan included) under uvicorn on a free port, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host="127.0.0.1",
                port=0,
                log_level="warning",
                log_config=None,
                timeout_keep_alive=5,
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="console service", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Province:
    """The served province, its keys and an API client with the admin key."""

    base_url: str
    keys: dict[str, str]  # role (or "agency") → clear key
    agency: str  # the agency-scoped key's MaDonVi
    other_agency: str  # an agency that key must not see
    api: httpx.Client
    backend: str
    database_url: str

    def get(self, path: str, **params: Any) -> Any:
        response = self.api.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def get_as(self, role: str, path: str, **params: Any) -> Any:
        """The API's answer to the key of ``role`` (``agency``: the agency-scoped one)."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        response = self.api.get(path, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()


def sign_in(client: httpx.Client, key: str, next_path: str = "/") -> httpx.Response:
    """Sign a plain HTTP client in through the login form, as a browser would."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/login",
        data={"api_key": key, "csrf_token": token.group(1), "next": next_path},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, html[:500]
    return token.group(1)


def _create_key(api: httpx.Client, role: str, agency: str | None = None) -> str:
    body: dict[str, Any] = {"name": f"console {role} {agency or ''}".strip(), "role": role}
    if agency:
        body["agency"] = agency
    response = api.post("/keys", json=body)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def _serve(database_url: str, backend: str, sim: SimulatorServer) -> Iterator[Province]:
    env = {key.lower(): value for key, value in sim.environment().items()}
    # The webhook pages' tests register an endpoint on loopback (no dispatcher runs here).
    hooks = {"webhook_allowed_networks": "127.0.0.0/8", "webhook_allow_http": True}
    settings = make_settings(database_url, **env, **hooks)
    with LiveService(settings) as base_url:
        api = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120
        )
        period = sim.state.scenario
        started = api.post(
            "/reconcile",
            json={
                "scope": "all",
                "period_from": period.period_start.isoformat(),
                "period_to": period.period_end.isoformat(),
            },
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        deadline = time.monotonic() + 600
        while True:
            run = api.get(f"/runs/{run_id}").json()
            if run["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.5)
        assert run["status"] == "succeeded", run
        worst = api.get("/agencies/summary", params={"level": "tinh"}).json()["items"]
        agency, other = worst[0]["agency_code"], worst[1]["agency_code"]
        keys = {
            "admin": ADMIN_KEY,
            "operator": _create_key(api, "operator"),
            "reader": _create_key(api, "reader"),
            "agency": _create_key(api, "reader", agency),
        }
        yield Province(base_url, keys, agency, other, api, backend, database_url)
        api.close()


@pytest.fixture(scope="package")
def tay_ninh_sim() -> Iterator[SimulatorServer]:
    with SimulatorServer("tay-ninh-2023") as sim:
        yield sim


@pytest.fixture(scope="package")
def province(
    tmp_path_factory: pytest.TempPathFactory, tay_ninh_sim: SimulatorServer
) -> Iterator[Province]:
    """Tây Ninh reconciled on SQLite."""
    path = tmp_path_factory.mktemp("console") / "recon.db"
    yield from _serve(f"sqlite+aiosqlite:///{path}", "sqlite", tay_ninh_sim)


def _database_statement(sql: str) -> None:
    """One statement on the PostgreSQL server, from a thread of its own: the browser's
    Playwright already runs an event loop in this one."""

    async def run() -> None:
        engine = create_async_engine(_require_postgres(), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(sql))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(asyncio.run, run()).result()


@pytest.fixture(scope="package")
def postgres_province(tay_ninh_sim: SimulatorServer) -> Iterator[Province]:
    """Tây Ninh reconciled on a fresh PostgreSQL database, dropped afterwards."""
    name = f"recon_console_{uuid.uuid4().hex[:12]}"
    _database_statement(f'CREATE DATABASE "{name}"')
    url = make_url(_require_postgres()).set(database=name).render_as_string(hide_password=False)
    try:
        yield from _serve(url, "postgres", tay_ninh_sim)
    finally:
        _database_statement(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def signed_in(province: Province) -> Iterator[Any]:
    """``signed_in(role)``: an HTTP client with the console's session cookie for that role."""
    clients: list[httpx.Client] = []

    def make(role: str = "admin") -> httpx.Client:
        client = httpx.Client(base_url=province.base_url, timeout=60)
        clients.append(client)
        response = sign_in(client, province.keys[role])
        assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        client.close()


# The browser is shared by every console test that drives one (tests/console/browser.py).
from tests.console.browser import browser  # noqa: E402, F401
