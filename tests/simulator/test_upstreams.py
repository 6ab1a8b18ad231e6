"""The simulated upstreams' HTTP contract, fault injection and concurrency guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.domain.values import parse_local_time
from app.simulator.faults import Credentials, Faults
from app.simulator.scenarios.registry import get_scenario
from app.simulator.server import SimulatorServer
from app.simulator.upstreams import create_simulator_app

CREDS = Credentials()
Params = dict[str, str | int]
PERIOD = {"TuNgay": "20230101000000", "DenNgay": "20231130235959"}
PAYMENT_INFO = "/national/api/v1/thanh-toan/thong-tin-thu-huong"
STATS = "/national/api/v1/ho-so/thong-ke-tthc"
PROCEDURES = "/provincial/v1/procedures"


def _client(scenario: str = "small", faults: Faults | None = None) -> httpx.AsyncClient:
    app = create_simulator_app(scenario, faults)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with _client() as client:
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer("small") as running:
        yield running


async def p_token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/provincial/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CREDS.provincial_client_id,
            "client_secret": CREDS.provincial_client_secret,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    return {"Authorization": f"Bearer {body['access_token']}"}


async def n_token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/national/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CREDS.national_client_id, CREDS.national_client_secret),
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def set_faults(client: httpx.AsyncClient, **changes: Any) -> None:
    response = await client.patch("/_sim/faults", json=changes)
    assert response.status_code == 200, response.text


def _n_key(item: dict[str, Any]) -> tuple[str, str]:
    return (item["MaTTHC"].strip().upper(), item["MaDonVi"].strip().upper())


# ---- P ---------------------------------------------------------------------------------------


async def test_p_token_rejects_wrong_credentials(sim: httpx.AsyncClient) -> None:
    response = await sim.post(
        "/provincial/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


async def test_p_listing_needs_a_valid_token(sim: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, await n_token(sim)):
        response = await sim.get(PROCEDURES, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_token"}


async def test_p_spring_pages_read_everything(sim: httpx.AsyncClient) -> None:
    headers = await p_token(sim)
    scenario = get_scenario("small")
    default = (await sim.get(PROCEDURES, headers=headers)).json()
    assert set(default) == {"content", "number", "size", "totalElements", "totalPages", "last"}
    assert (default["number"], default["size"], default["last"]) == (0, 100, True)
    pages = []
    for page in range(5):
        body = (await sim.get(PROCEDURES, params={"page": page, "size": 5}, headers=headers)).json()
        assert body["number"] == page
        assert body["totalElements"] == len(scenario.procedures)
        assert body["totalPages"] == 5
        assert body["last"] == (page == 4)
        pages.extend(body["content"])
    assert pages == scenario.procedures
    past = (await sim.get(PROCEDURES, params={"page": 9, "size": 5}, headers=headers)).json()
    assert past["content"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": 1001}, "size must be <= 1000"),
        ({"size": 0}, "size must be >= 1"),
        ({"page": -1}, "page must be >= 0"),
        ({"size": "many"}, "size must be >= 1"),
        ({"updatedSince": "2023-01-01"}, "updatedSince must be yyyyMMddHHmmss"),
    ],
)
async def test_p_bad_requests(sim: httpx.AsyncClient, params: dict[str, Any], message: str) -> None:
    response = await sim.get(PROCEDURES, params=params, headers=await p_token(sim))
    assert response.status_code == 400
    assert response.json() == {"status": 400, "error": "Bad Request", "message": message}


async def test_p_size_1000_is_allowed_and_agencies_are_listed(sim: httpx.AsyncClient) -> None:
    headers = await p_token(sim)
    assert (await sim.get(PROCEDURES, params={"size": 1000}, headers=headers)).status_code == 200
    agencies = (await sim.get("/provincial/v1/agencies", headers=headers)).json()["content"]
    assert agencies == get_scenario("small").agencies
    assert set(agencies[0]) == {"MaDonVi", "TenDonVi", "CapDonVi", "MaDonViCha"}


async def test_p_updated_since_filters(sim: httpx.AsyncClient) -> None:
    headers = await p_token(sim)
    since = "20230601000000"
    body = (
        await sim.get(PROCEDURES, params={"updatedSince": since, "size": 1000}, headers=headers)
    ).json()
    # An unparseable NgayCapNhat cannot be compared, so the item is always sent.
    expected = [
        p
        for p in get_scenario("small").procedures
        if parse_local_time(p["NgayCapNhat"]) is None or p["NgayCapNhat"] >= since
    ]
    assert any(parse_local_time(p["NgayCapNhat"]) is None for p in expected)
    assert body["content"] == expected
    assert 0 < body["totalElements"] < len(get_scenario("small").procedures)


async def test_p_dossiers_are_not_simulated_yet(sim: httpx.AsyncClient) -> None:
    response = await sim.get("/provincial/v1/dossiers", headers=await p_token(sim))
    assert response.status_code == 501


# ---- N ---------------------------------------------------------------------------------------


async def test_n_token_uses_http_basic(sim: httpx.AsyncClient) -> None:
    wrong = await sim.post(
        "/national/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b")
    )
    assert wrong.status_code == 401
    in_form = await sim.post(
        "/national/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CREDS.national_client_id,
            "client_secret": CREDS.national_client_secret,
        },
    )
    assert in_form.status_code == 401


async def test_n_envelope_and_one_based_pages(sim: httpx.AsyncClient) -> None:
    headers = await n_token(sim)
    scenario = get_scenario("small")
    first = (await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=headers)).json()
    assert (first["error_code"], first["message"]) == ("0", "")
    assert set(first["result"]) == {"total", "pageIndex", "pageSize", "data"}
    assert (first["result"]["pageIndex"], first["result"]["pageSize"]) == (1, 100)
    assert first["result"]["data"] == scenario.payment_infos
    collected = []
    for index in (1, 2, 3):
        params = {"MaTinh": "H53", "pageIndex": index, "pageSize": 10}
        body = (await sim.get(PAYMENT_INFO, params=params, headers=headers)).json()
        assert body["result"]["total"] == len(scenario.payment_infos)
        collected.extend(body["result"]["data"])
    assert collected == scenario.payment_infos
    params = {"MaTinh": "H53", "pageIndex": 4, "pageSize": 10}
    past = (await sim.get(PAYMENT_INFO, params=params, headers=headers)).json()
    assert past["error_code"] == "0"
    assert past["result"]["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"MaTinh": "H01"},
        {"MaTinh": "H53", "pageSize": 501},
        {"MaTinh": "H53", "pageSize": 0},
        {"MaTinh": "H53", "pageIndex": 0},
        {"MaTinh": "H53", "pageIndex": "x"},
    ],
)
async def test_n_invalid_request_is_error_code_1(
    sim: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await sim.get(PAYMENT_INFO, params=params, headers=await n_token(sim))
    assert response.status_code == 200
    assert response.json()["error_code"] == "1"


async def test_n_page_size_500_is_allowed(sim: httpx.AsyncClient) -> None:
    params: Params = {"MaTinh": "H53", "pageSize": 500}
    body = (await sim.get(PAYMENT_INFO, params=params, headers=await n_token(sim))).json()
    assert body["error_code"] == "0"


async def test_n_token_errors(sim: httpx.AsyncClient) -> None:
    missing = await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"})
    assert missing.status_code == 401
    for headers in ({"Authorization": "Bearer nope"}, await p_token(sim)):
        response = await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=headers)
        assert response.status_code == 200
        assert response.json()["error_code"] == "401"


async def test_n_procedure_stats_window(sim: httpx.AsyncClient) -> None:
    headers = await n_token(sim)
    scenario = get_scenario("small")
    body = (await sim.get(STATS, params={"MaTinh": "H53", **PERIOD}, headers=headers)).json()
    data = body["result"]["data"]
    assert data == scenario.period_stats()
    assert all(item["SoHoSoDongBo"] >= 1 for item in data)
    assert set(data[0]) == {
        "MaTTHC",
        "SoHoSoDongBo",
        "SoHoSoCoPhi",
        "SoHoSoThanhToanTrucTuyen",
    }
    # The procedure whose fee dossiers all fall outside the period shows up in December only.
    outside = {s.ma_tthc.strip() for s in scenario.monthly_stats if s.month == 12}
    december = {"MaTinh": "H53", "TuNgay": "20231201000000", "DenNgay": "20231231235959"}
    dec = (await sim.get(STATS, params=december, headers=headers)).json()["result"]["data"]
    assert {item["MaTTHC"].strip() for item in dec} == {
        s.ma_tthc.strip() for s in scenario.monthly_stats if (s.year, s.month) == (2023, 12)
    }
    assert outside
    for bad in ({"TuNgay": "2023"}, {"TuNgay": "20231130000000", "DenNgay": "20230101000000"}):
        params = {"MaTinh": "H53", **PERIOD, **bad}
        assert (await sim.get(STATS, params=params, headers=headers)).json()["error_code"] == "1"


# ---- tokens expire -----------------------------------------------------------------------------


async def test_tokens_expire_after_ttl() -> None:
    async with _client(faults=Faults(token_ttl_s=0.2)) as sim:
        p, n = await p_token(sim), await n_token(sim)
        assert (await sim.get(PROCEDURES, headers=p)).status_code == 200
        await asyncio.sleep(0.25)
        assert (await sim.get(PROCEDURES, headers=p)).status_code == 401
        body = (await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=n)).json()
        assert body["error_code"] == "401"
        assert (await sim.get(PROCEDURES, headers=await p_token(sim))).status_code == 200


async def test_tokens_expire_after_uses_and_can_be_revoked() -> None:
    async with _client(faults=Faults(token_max_uses=2)) as sim:
        p = await p_token(sim)
        codes = [(await sim.get(PROCEDURES, headers=p)).status_code for _ in range(3)]
        assert codes == [200, 200, 401]
        await set_faults(sim, token_max_uses=None)
        p = await p_token(sim)
        assert (await sim.get(PROCEDURES, headers=p)).status_code == 200
        assert (await sim.post("/_sim/revoke-tokens")).json()["revoked"] >= 1
        assert (await sim.get(PROCEDURES, headers=p)).status_code == 401


# ---- faults --------------------------------------------------------------------------------------


async def test_faults_endpoint_round_trip(sim: httpx.AsyncClient) -> None:
    assert (await sim.get("/_sim/faults")).json() == Faults().model_dump()
    new = Faults(latency_ms=5, rate_429=0.5, fail_pages=["provincial.procedures:1"])
    assert (await sim.put("/_sim/faults", json=new.model_dump())).json() == new.model_dump()
    await set_faults(sim, rate_429=0.0)
    assert (await sim.get("/_sim/faults")).json()["latency_ms"] == 5
    bad = await sim.patch("/_sim/faults", json={"fail_pages": ["nowhere:1"]})
    assert bad.status_code == 422
    assert (await sim.put("/_sim/faults", json={"rate_503": 2})).status_code == 422


async def test_rate_faults(sim: httpx.AsyncClient) -> None:
    p, n = await p_token(sim), await n_token(sim)
    await set_faults(sim, rate_429=1.0, retry_after_s=7)
    response = await sim.get(PROCEDURES, headers=p)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    await set_faults(sim, rate_429=0.0, rate_503=1.0)
    response = await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=n)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
    assert response.headers["content-type"].startswith("text/plain")
    await set_faults(sim, rate_503=0.0, rate_n_busy=1.0)
    codes = set()
    for _ in range(12):
        body = (await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=n)).json()
        codes.add(body["error_code"])
    assert codes == {"99", "-1"}
    # P has no envelope: rate_n_busy does not touch it.
    assert (await sim.get(PROCEDURES, headers=p)).status_code == 200


async def test_failing_page_fails_for_good(sim: httpx.AsyncClient) -> None:
    n = await n_token(sim)
    await set_faults(sim, fail_pages=["national.thong-tin-thu-huong:2"])
    for index, expected in ((1, 200), (2, 503), (2, 503), (3, 200)):
        params: Params = {"MaTinh": "H53", "pageIndex": index, "pageSize": 5}
        assert (await sim.get(PAYMENT_INFO, params=params, headers=n)).status_code == expected


async def _read_pass(sim: httpx.AsyncClient, headers: dict[str, str], size: int) -> tuple[int, int]:
    """One pass over N's payment info: (distinct keys, reported total)."""
    keys: set[tuple[str, str]] = set()
    index, total = 1, 0
    while True:
        params: Params = {"MaTinh": "H53", "pageIndex": index, "pageSize": size}
        result = (await sim.get(PAYMENT_INFO, params=params, headers=headers)).json()["result"]
        total = result["total"]
        if not result["data"]:
            break
        keys.update(_n_key(item) for item in result["data"])
        index += 1
    return len(keys), total


async def test_shifted_passes_are_transient(sim: httpx.AsyncClient) -> None:
    n = await n_token(sim)
    await set_faults(sim, shift_passes=1)
    assert await _read_pass(sim, n, 5) == (21, 22)
    assert await _read_pass(sim, n, 5) == (22, 22)
    await set_faults(sim, shift_passes=2)
    assert await _read_pass(sim, n, 5) == (21, 22)
    assert await _read_pass(sim, n, 5) == (21, 22)
    assert await _read_pass(sim, n, 5) == (22, 22)


async def test_faults_never_change_what_a_complete_read_returns() -> None:
    faults = Faults(rate_429=0.2, rate_503=0.2, rate_n_busy=0.2, retry_after_s=0, seed=3)
    async with _client(faults=faults) as sim:
        n = await n_token(sim)
        items: list[dict[str, Any]] = []
        index = 1
        while True:
            params: Params = {"MaTinh": "H53", "pageIndex": index, "pageSize": 4}
            response = await sim.get(PAYMENT_INFO, params=params, headers=n)
            if response.status_code != 200 or response.json()["error_code"] != "0":
                continue
            data = response.json()["result"]["data"]
            if not data:
                break
            items.extend(data)
            index += 1
        assert items == get_scenario("small").payment_infos
        stats = (await sim.get("/_sim/stats")).json()
        outcomes = stats["responses"]["national.thong-tin-thu-huong"]
        assert {"429", "503"} <= set(outcomes)
        assert "200:99" in outcomes or "200:-1" in outcomes


# ---- over real HTTP: concurrency guard, stats, truth ---------------------------------------


async def test_concurrency_guard_over_http(server: SimulatorServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        await client.post("/_sim/reset")
        await set_faults(client, latency_ms=150)
        headers = await p_token(client)
        try:
            statuses = await asyncio.gather(
                *(client.get(PROCEDURES, headers=headers) for _ in range(8))
            )
            assert sorted(r.status_code for r in statuses).count(429) >= 1
            rejected = next(r for r in statuses if r.status_code == 429)
            assert rejected.headers["Retry-After"] == "1"
            stats = (await client.get("/_sim/stats")).json()
            assert stats["max_in_flight"][CREDS.provincial_client_id] > 4
            assert stats["concurrency_rejections"] >= 1

            await client.post("/_sim/reset")
            limit = asyncio.Semaphore(4)

            async def polite() -> int:
                async with limit:
                    return (await client.get(PROCEDURES, headers=headers)).status_code

            assert set(await asyncio.gather(*(polite() for _ in range(12)))) == {200}
            stats = (await client.get("/_sim/stats")).json()
            assert stats["max_in_flight"][CREDS.provincial_client_id] == 4
            assert stats["requests"]["provincial.procedures"] == 12
            assert stats["concurrency_rejections"] == 0
        finally:
            await client.put("/_sim/faults", json=Faults().model_dump())


def test_server_serves_truth_and_scenario(server: SimulatorServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        truth = client.get("/_sim/truth").json()
        assert truth == get_scenario("small").truth.model_dump(mode="json")
        info = client.get("/_sim/scenario").json()
        assert (info["name"], info["province_code"], info["period_start"]) == (
            "small",
            "H53",
            "2023-01-01",
        )
    env = server.environment()
    assert env["NATIONAL_TOKEN_URL"] == f"{server.base_url}/national/oauth/token"
    assert env["PROVINCIAL_BASE_URL"].endswith("/provincial")


def test_server_stops_cleanly() -> None:
    with SimulatorServer("small") as running:
        url = running.base_url
        assert httpx.get(f"{url}/_sim/faults").status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/_sim/faults", timeout=1)


# ---- hostile upstreams ---------------------------------------------------------------------------


async def test_failures_come_in_deterministic_streaks() -> None:
    async with _client(faults=Faults(streak_every=5, streak_length=2)) as sim:
        p, n = await p_token(sim), await n_token(sim)
        p_codes = [(await sim.get(PROCEDURES, headers=p)).status_code for _ in range(15)]
        # Streak 0 is 429s, streak 1 503s, streak 2 P's 502s: two in a row out of every five.
        assert p_codes == [
            429,
            429,
            200,
            200,
            200,
            503,
            503,
            200,
            200,
            200,
            502,
            502,
            200,
            200,
            200,
        ]
        n_codes = []
        for _ in range(15):
            response = await sim.get(PAYMENT_INFO, params={"MaTinh": "H53"}, headers=n)
            n_codes.append(response.json()["error_code"] if response.status_code == 200 else "")
        # N counts its own requests; its third kind is "99" inside the envelope.
        assert n_codes[10:12] == ["99", "99"]
        assert n_codes[:2] == ["", ""]
        assert n_codes[2] == "0"


async def test_misbehaving_listings() -> None:
    async with _client() as sim:
        p = await p_token(sim)
        await set_faults(sim, misbehave=["provincial.procedures:endless"])
        pages = [
            (await sim.get(PROCEDURES, params={"page": i, "size": 10}, headers=p)).json()
            for i in (0, 50)
        ]
        assert [page["totalPages"] for page in pages] == [2, 52]
        assert all(page["content"] for page in pages)

        await set_faults(sim, misbehave=["provincial.procedures:huge_total"])
        page = (await sim.get(PROCEDURES, headers=p)).json()
        assert page["totalElements"] == 10**8

        await set_faults(sim, misbehave=["provincial.procedures:deep_json"])
        body = (await sim.get(PROCEDURES, headers=p)).content
        assert body.startswith(b"[" * 1000)
        assert len(body) == 200_000

        await set_faults(sim, misbehave=["provincial.procedures:padded"], pad_bytes=3_000_000)
        response = await sim.get(PROCEDURES, headers=p)
        assert len(response.content) > 3_000_000
        assert response.json()["content"]  # still JSON: the padding is whitespace

        await set_faults(sim, misbehave=["provincial.procedures:trickle"], trickle_interval_s=0.001)
        response = await sim.get(PROCEDURES, params={"size": 1}, headers=p)
        assert response.json()["totalElements"] > 0


async def test_an_unknown_misbehaviour_is_refused(sim: httpx.AsyncClient) -> None:
    response = await sim.patch("/_sim/faults", json={"misbehave": ["provincial.procedures:nap"]})
    assert response.status_code == 422
