"""Agency-scoped API keys: created over HTTP and by the CLI, shown in listings, carried by the
Principal, refused for admins, and revoked at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app import cli as cli_module
from app.auth import Principal, Role, authenticate, create_key
from app.cli import cli
from app.db import create_engine, create_session_factory
from app.errors import Unauthorized
from tests.api.test_api import assert_problem
from tests.conftest import ADMIN_KEY, ServiceClient, make_settings

AGENCY = "000.00.15.H53"


@pytest.fixture
async def service(sqlite_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(make_settings(sqlite_url))
    return client


@pytest.fixture
async def both(database_url: str, service_factory: Any) -> ServiceClient:
    """The service on SQLite, then on PostgreSQL."""
    client: ServiceClient = await service_factory(make_settings(database_url))
    return client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("role", ["reader", "operator"])
async def test_a_scoped_key_is_created_normalized_and_listed(
    service: ServiceClient, role: str
) -> None:
    created = await service.post(
        "/keys", json={"name": "Sở Tài nguyên", "role": role, "agency": " 000.00.15.h53 "}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["role"], body["agency_code"], body["name"]) == (role, AGENCY, "Sở Tài nguyên")
    wide = (await service.post("/keys", json={"name": "tỉnh", "role": role})).json()
    assert wide["agency_code"] is None

    listed = {item["id"]: item for item in (await service.get("/keys")).json()["items"]}
    assert listed[body["id"]]["agency_code"] == AGENCY
    assert listed[wide["id"]]["agency_code"] is None
    # The role still applies: a scoped reader cannot start a run, and neither manages keys.
    scoped = bearer(body["key"])
    assert_problem(await service.get("/keys", headers=scoped), 403)
    run = await service.post("/reconcile", json={"dry_run": True}, headers=scoped)
    if role == "reader":
        assert_problem(run, 403)
    else:
        assert run.status_code == 202, run.text
        await service.app.state.executor.wait(run.json()["run_id"])


async def test_an_agency_that_does_not_exist_yet_is_accepted(service: ServiceClient) -> None:
    """No run has happened, so no agency is known; the key is made all the same."""
    created = await service.post(
        "/keys", json={"name": "future", "role": "reader", "agency": "XYZ.99"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["agency_code"] == "XYZ.99"


async def test_a_scoped_admin_is_refused(service: ServiceClient) -> None:
    response = await service.post("/keys", json={"name": "boss", "role": "admin", "agency": AGENCY})
    body = assert_problem(response, 422)
    assert "cannot be 'admin'" in body["detail"]
    assert "whole province" in body["detail"]
    assert (await service.get("/keys")).json()["items"] == []
    # An admin for the whole province is still fine, with the agency omitted or null.
    for extra in ({}, {"agency": None}):
        created = await service.post("/keys", json={"name": "boss", "role": "admin", **extra})
        assert created.status_code == 201, created.text
        assert created.json()["agency_code"] is None


@pytest.mark.parametrize(
    "agency",
    [
        "",
        "   ",
        "000 00 15",  # a space inside
        "０００.00.15.H53",  # full-width digits
        "٠٠٠.00.15.H53",  # Arabic-Indic digits
        ".000.15",  # must start with a letter or digit
        "000/15",
        "A\x00",
        "A" * 33,  # longer than the agency_code columns
        123,
    ],
)
async def test_a_malformed_agency_is_422(service: ServiceClient, agency: Any) -> None:
    response = await service.post("/keys", json={"name": "x", "role": "reader", "agency": agency})
    body = assert_problem(response, 422)
    assert any(error["location"][-1] == "agency" for error in body["errors"]), body
    assert (await service.get("/keys")).json()["items"] == []


async def test_the_longest_agency_fits(service: ServiceClient) -> None:
    code = "A" * 32
    created = await service.post(
        "/keys", json={"name": "x", "role": "reader", "agency": f"  {code.lower()} "}
    )
    assert created.status_code == 201, created.text
    assert created.json()["agency_code"] == code


async def test_a_misspelt_agency_field_is_refused_not_ignored(service: ServiceClient) -> None:
    """``agency_code`` instead of ``agency`` would otherwise make a province-wide key."""
    response = await service.post(
        "/keys", json={"name": "x", "role": "reader", "agency_code": AGENCY}
    )
    assert_problem(response, 422)
    assert (await service.get("/keys")).json()["items"] == []


async def test_the_principal_carries_the_agency(both: ServiceClient) -> None:
    factory = both.app.state.session_factory
    async with factory() as session:
        _, scoped = await create_key(session, name="s", role=Role.OPERATOR, agency_code=AGENCY)
        _, wide = await create_key(session, name="w", role=Role.READER)
        with pytest.raises(ValueError, match="cannot be 'admin'"):
            await create_key(session, name="a", role=Role.ADMIN, agency_code=AGENCY)
        principal = await authenticate(session, f"Bearer {scoped}", ADMIN_KEY)
        assert principal.agency_code == AGENCY
        assert principal.role is Role.OPERATOR
        assert (await authenticate(session, f"Bearer {wide}", ADMIN_KEY)).agency_code is None
        bootstrap = await authenticate(session, f"Bearer {ADMIN_KEY}", ADMIN_KEY)
        assert bootstrap == Principal(
            name="RECON_ADMIN_KEY", role=Role.ADMIN, key_id=None, agency_code=None
        )


async def test_a_revoked_scoped_key_fails_on_its_very_next_request(both: ServiceClient) -> None:
    created = (
        await both.post("/keys", json={"name": "s", "role": "reader", "agency": AGENCY})
    ).json()
    headers = bearer(created["key"])
    assert (await both.get("/procedures/unsynced", headers=headers)).status_code == 200
    revoked = await both.http.delete(f"/keys/{created['id']}", headers=both.auth)
    assert revoked.status_code == 204, revoked.text
    assert_problem(await both.get("/procedures/unsynced", headers=headers), 401)
    listed = (await both.get("/keys")).json()["items"]
    assert [(k["agency_code"], k["revoked_at"] is not None) for k in listed] == [(AGENCY, True)]
    async with both.app.state.session_factory() as session:
        with pytest.raises(Unauthorized):
            await authenticate(session, f"Bearer {created['key']}", ADMIN_KEY)


def _principal_of(url: str, key: str) -> Principal:
    async def run() -> Principal:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return await authenticate(session, f"Bearer {key}", None)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_cli_creates_and_lists_scoped_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(cli_module, "console", Console(width=200))  # no column cut short
    runner = CliRunner()

    made = runner.invoke(
        cli, ["keys", "create", "--name", "Sở", "--role", "reader", "--agency", " 000.00.15.h53"]
    )
    assert made.exit_code == 0, made.output
    assert f"for agency {AGENCY}" in made.output
    key = made.output.strip().splitlines()[-1]
    assert _principal_of(url, key).agency_code == AGENCY

    wide = runner.invoke(cli, ["keys", "create", "--role", "admin"])
    assert wide.exit_code == 0, wide.output
    assert _principal_of(url, wide.output.strip().splitlines()[-1]).agency_code is None

    admin = runner.invoke(cli, ["keys", "create", "--role", "admin", "--agency", AGENCY])
    assert admin.exit_code == 2
    assert "cannot be 'admin'" in admin.output
    bad = runner.invoke(cli, ["keys", "create", "--role", "reader", "--agency", "０００"])
    assert bad.exit_code == 2
    assert "not a MaDonVi" in bad.output

    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if " reader " in line or " admin " in line]
    assert len(rows) == 2, listed.output
    assert AGENCY in rows[0]
    assert "(province)" in rows[1]


async def test_a_key_revoked_on_one_replica_stops_working_on_another_within_a_second(
    database_url: str, service_factory: Any
) -> None:
    """Each replica keeps verified keys in memory (app/key_cache.py); a revocation elsewhere
    reaches it through the key table's fingerprint, polled twice a second."""
    first = await service_factory(make_settings(database_url))
    second = await service_factory(make_settings(database_url))
    created = (await first.post("/keys", json={"name": "shared", "role": "reader"})).json()
    headers = bearer(created["key"])
    for replica in (first, second):  # both have it cached now
        assert (await replica.get("/runs", headers=headers)).status_code == 200
    assert (
        await first.http.delete(f"/keys/{created['id']}", headers=first.auth)
    ).status_code == 204
    assert_problem(await first.get("/runs", headers=headers), 401)  # at once on its replica
    deadline = asyncio.get_running_loop().time() + 1.5
    while (await second.get("/runs", headers=headers)).status_code == 200:
        assert asyncio.get_running_loop().time() < deadline, "still accepted after 1.5 s"
        await asyncio.sleep(0.05)
    assert_problem(await second.get("/runs", headers=headers), 401)
