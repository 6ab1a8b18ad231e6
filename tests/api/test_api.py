"""The HTTP surface: authentication and roles, problem+json for bad input, run coalescing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.simulator.faults import Faults
from app.simulator.server import SimulatorServer
from tests.conftest import ServiceClient, make_settings
from tests.integration.conftest import settings_for

PROBLEM = "application/problem+json"


@pytest.fixture
async def service(sqlite_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(make_settings(sqlite_url))
    return client


@pytest.fixture(scope="module")
def slow_small() -> Iterator[SimulatorServer]:
    with SimulatorServer("small", Faults(latency_ms=300)) as sim:
        yield sim


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("/problems/")
    return body


async def key_for(service: ServiceClient, role: str) -> str:
    response = await service.post("/keys", json={"name": f"{role} key", "role": role})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def test_open_endpoints_need_no_key(service: ServiceClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"):
        response = await service.http.get(path)
        assert response.status_code == 200, path
    assert "recon_upstream_requests_total" in (await service.http.get("/metrics")).text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}],
)
async def test_missing_or_wrong_key_is_401(service: ServiceClient, headers: dict[str, str]) -> None:
    for method, path in (("get", "/runs"), ("get", "/procedures/unsynced"), ("post", "/reconcile")):
        response = await getattr(service.http, method)(path, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_roles(service: ServiceClient) -> None:
    reader = {"Authorization": f"Bearer {await key_for(service, 'reader')}"}
    operator = {"Authorization": f"Bearer {await key_for(service, 'operator')}"}
    assert (await service.get("/procedures/unsynced", headers=reader)).status_code == 200
    assert_problem(await service.post("/reconcile", json={}, headers=reader), 403)
    assert_problem(await service.get("/keys", headers=operator), 403)
    assert_problem(
        await service.post("/keys", json={"name": "x", "role": "admin"}, headers=operator), 403
    )


async def test_keys_are_stored_hashed_and_can_be_revoked(service: ServiceClient) -> None:
    created = (await service.post("/keys", json={"name": "ops", "role": "reader"})).json()
    listed = (await service.get("/keys")).json()["items"]
    assert all("key" not in item and created["key"] not in str(item) for item in listed)
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await service.get("/runs", headers=headers)).status_code == 200
    assert (
        await service.http.delete(f"/keys/{created['id']}", headers=service.auth)
    ).status_code == 204
    assert_problem(await service.get("/runs", headers=headers), 401)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"scope": "everything"}, 422),
        ({"period_from": "2023-02-30"}, 422),
        ({"period_from": "yesterday"}, 422),
        ({"period_from": "2023-12-01", "period_to": "2023-01-01"}, 422),
        ({"dry_run": "perhaps"}, 422),
        ({"unknown_field": 1}, 422),
    ],
)
async def test_bad_reconcile_requests(
    service: ServiceClient, body: dict[str, Any], status: int
) -> None:
    assert_problem(await service.post("/reconcile", json=body), status)


async def test_malformed_json_is_a_problem(service: ServiceClient) -> None:
    response = await service.post(
        "/reconcile",
        content=b"{not json",
        headers={**service.auth, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/procedures/unsynced", {"limit": 0}, 422),
        ("/procedures/unsynced", {"limit": 5000}, 422),
        ("/procedures/unsynced", {"limit": "ten"}, 422),
        ("/procedures/unsynced", {"level": "quoc-gia"}, 422),
        ("/procedures/unsynced", {"reason": "bad_luck"}, 422),
        ("/procedures/unsynced", {"cursor": "not-a-cursor!"}, 400),
        ("/procedures/unsynced", {"cursor": "WyJhIiwiYiJd"}, 400),
        ("/procedures/orphans", {"cursor": "%%%"}, 400),
        ("/runs", {"cursor": "WyJub3QtYS1kYXRlIiwieCJd"}, 400),
        ("/runs", {"status": "sleeping"}, 422),
        ("/runs/does-not-exist", {}, 404),
        ("/procedures/1.999999", {}, 404),
        ("/procedures/not-a-code", {}, 422),
    ],
)
async def test_bad_queries_are_problems_never_500(
    service: ServiceClient, path: str, params: dict[str, Any], status: int
) -> None:
    assert_problem(await service.get(path, params=params), status)


async def test_identical_request_coalesces_and_a_different_one_conflicts(
    slow_small: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service: ServiceClient = await service_factory(settings_for(slow_small, sqlite_url))
    body = {"period_from": "2023-01-01", "period_to": "2023-11-30"}
    first = await service.post("/reconcile", json=body)
    again = await service.post("/reconcile", json=body)
    other = await service.post("/reconcile", json={**body, "dry_run": True})
    assert first.status_code == 202
    assert first.json()["coalesced"] is False
    assert again.status_code == 202
    assert again.json() | {"status": None} == first.json() | {"coalesced": True, "status": None}
    conflict = assert_problem(other, 409)
    assert conflict["active_run_id"] == first.json()["run_id"]
    assert first.json()["run_id"] in conflict["detail"]

    await service.app.state.executor.wait(first.json()["run_id"])
    runs = (await service.get("/runs")).json()["items"]
    assert [r["status"] for r in runs] == ["succeeded"]
    # Once the run is over, a different request starts its own run.
    assert (await service.post("/reconcile", json={**body, "dry_run": True})).status_code == 202


async def test_bad_upstream_credentials_fail_the_run(
    slow_small: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    settings = settings_for(slow_small, sqlite_url, national_client_secret="wrong")
    service: ServiceClient = await service_factory(settings)
    run = await service.reconcile()
    assert run["status"] == "failed"
    assert "authentication failed" in run["errors"][0]
    assert "wrong" not in str(run)
