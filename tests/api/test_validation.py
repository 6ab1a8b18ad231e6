"""Validation at the edge: every bad input the fuzzer found is a 4xx problem, on both databases.

Text without NUL or lone surrogates, ASCII codes and dates in range, cursors checked against
their listing's schema, ids within the column's range, bodies capped before anything reads them.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import date
from typing import Any

import pytest

from app.domain.values import year_before
from tests.api.test_api import assert_problem
from tests.conftest import ServiceClient, make_settings

ENDPOINT = "/webhooks/endpoints"


@pytest.fixture
async def service(database_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(
        make_settings(
            database_url,
            webhook_allowed_networks="127.0.0.0/8",
            webhook_allow_http=True,
            max_body_bytes=4096,
        )
    )
    return client


def cursor(position: Any) -> str:
    """A cursor as the service makes them, around any JSON (``\\ud800`` stays an escape)."""
    raw = position if isinstance(position, str) else json.dumps(position)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


YEAR = {"from": "2023-01-01", "to": "2023-12-31"}

BAD_QUERIES: list[tuple[str, dict[str, Any], int]] = [
    # NUL and look-alike digits in every kind of query text.
    ("/procedures/unsynced", {"agency": "000.00.15.H53\x00"}, 422),
    ("/procedures/unsynced", {"agency": "０００.00.15.H53"}, 422),
    ("/procedures/unsynced", {"cursor": "abc\x00"}, 422),
    ("/procedures/unsynced", {"province": "H5\x00"}, 422),
    ("/procedures/unsynced", {"province": "Ｈ53"}, 422),
    ("/dossiers/mismatches", {"agency": "\x00"}, 422),
    ("/dossiers/mismatches", {"reason": "invalid_dossier_code\x00"}, 422),
    ("/dossiers/orphan-transactions", {"agency": "A B"}, 422),
    ("/dossiers/offline", {**YEAR, "agency": "Sở\x00"}, 422),
    # Dates: ASCII digits only, 2000-01-01 … 2100-12-31, never a bare number.
    ("/dossiers/mismatches", {"from": "２０２３-01-01"}, 422),
    ("/dossiers/mismatches", {"from": "٢٠٢٣-01-01"}, 422),
    ("/dossiers/mismatches", {"to": "0001-01-01"}, 422),
    ("/dossiers/mismatches", {"to": "9999-12-31"}, 422),
    ("/dossiers/mismatches", {"to": "1700000000"}, 422),
    ("/dossiers/offline", {"from": "1999-12-31", "to": "2023-01-01"}, 422),
    ("/kpi/online-payment", {"from": "0001-01-01", "to": "0001-12-31"}, 422),
    ("/kpi/online-payment", {"from": "2023-01-01", "to": "2101-01-01"}, 422),
    ("/kpi/online-payment", {"from": "2023-01-01T00:00", "to": "2023-12-31"}, 422),
    ("/kpi/overdue", {"from_month": "２０２３-09", "to_month": "2023-11"}, 422),
    ("/kpi/overdue", {"from_month": "2023-09", "to_month": "2023-1²"}, 422),
    ("/kpi/overdue", {"from_month": "0001-01", "to_month": "0001-02"}, 422),
    ("/kpi/overdue", {"from_month": "2023-13", "to_month": "2023-11"}, 400),  # as before
    ("/kpi/overdue", {"from_month": "2023-09", "to_month": "9999-12"}, 422),
    # Cursors: checked against the schema of their listing.
    ("/procedures/unsynced", {"cursor": cursor(["\x00"])}, 400),
    ("/procedures/unsynced", {"cursor": cursor('["\\ud800"]')}, 400),
    ("/procedures/unsynced", {"cursor": cursor([1])}, 400),
    ("/procedures/unsynced", {"cursor": cursor(["k" * 600])}, 400),
    ("/procedures/orphans", {"cursor": cursor([["nested"]])}, 400),
    ("/procedures/orphans", {"cursor": "A" * 5000}, 400),
    ("/procedures/orphans", {"cursor": "ｗｙｊ"}, 400),
    ("/dossiers/mismatches", {"cursor": cursor(["HS-1", "bad_luck"])}, 400),
    ("/dossiers/mismatches", {"cursor": cursor(["HS-1"])}, 400),
    ("/dossiers/offline", {**YEAR, "cursor": cursor({"key": "HS-1"})}, 400),
    ("/dossiers/orphan-transactions", {"cursor": cursor([None])}, 400),
    ("/runs", {"cursor": cursor(["2023-01-01T00:00:00", "x"])}, 400),  # naive
    ("/runs", {"cursor": cursor(["0001-01-01T00:00:00+00:00", "x"])}, 400),
    ("/runs", {"cursor": cursor(["２０２３-01-01T00:00:00+00:00", "x"])}, 400),
    ("/runs", {"cursor": cursor('["2023-01-01T00:00:00+00:00", "\\udfff"]')}, 400),
    ("/runs", {"cursor": cursor(["2023-01-01T00:00:00+00:00", "x", "y"])}, 400),
    ("/runs", {"cursor": cursor([1700000000, "x"])}, 400),
    ("/runs", {"cursor": cursor("[" + "9" * 5000 + "]")}, 400),
    # Paths: NUL, look-alike digits, ids beyond the column.
    ("/runs/%00", {}, 422),
    ("/runs/" + "r" * 65, {}, 422),
    ("/procedures/１.０００００１", {}, 422),
    ("/procedures/1.00000²", {}, 422),
    ("/dossiers/HS%00X", {}, 422),
    (f"{ENDPOINT}/ep%00", {}, 422),
    (f"{ENDPOINT}/ep_unknown/deliveries/%00", {}, 422),
]


@pytest.mark.parametrize(("path", "params", "status"), BAD_QUERIES)
async def test_bad_queries_are_4xx_problems(
    service: ServiceClient, path: str, params: dict[str, Any], status: int
) -> None:
    assert_problem(await service.get(path, params=params), status)


@pytest.mark.parametrize(
    "position",
    [
        ["²"],
        ["1" * 5000],
        [str(2**64)],
        [2**64],
        [str(2**31)],
        ["-1"],
        ["١٢"],
        [True],
    ],
)
async def test_bad_delivery_cursors_are_400(service: ServiceClient, position: Any) -> None:
    created = await service.post(ENDPOINT, json={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    for listing in ("deliveries", "attempts"):
        response = await service.get(
            f"{ENDPOINT}/{endpoint}/{listing}", params={"cursor": cursor(position)}
        )
        assert_problem(response, 400)
    # A cursor the service made still works.
    good = await service.get(f"{ENDPOINT}/{endpoint}/attempts", params={"cursor": cursor(["7"])})
    assert good.status_code == 200, good.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/keys/428109888330", 422),  # beyond int4: overflowed the driver before
        (f"/keys/{2**31}", 422),
        ("/keys/0", 422),
        ("/keys/-5", 422),
        ("/keys/１２", 422),
        (f"/keys/{2**31 - 1}", 404),  # in range: the usual "no such key"
    ],
)
async def test_key_ids_are_bounded(service: ServiceClient, path: str, status: int) -> None:
    assert_problem(await service.http.delete(path, headers=service.auth), status)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/keys", {"name": "ops\x00", "role": "reader"}),
        ("/keys", '{"name": "ops\\ud800", "role": "reader"}'),
        ("/reconcile", {"period_from": "0001-01-01", "period_to": "0001-12-31"}),
        ("/reconcile", {"period_to": "0001-01-01"}),
        ("/reconcile", {"period_from": "２０２３-01-01"}),
        ("/reconcile", {"period_from": 20230101}),
        ("/reconcile", {"period_to": "2101-01-01"}),
        ("/reconcile", {"period_from": "2100-12-31"}),  # after today, the default end
        (ENDPOINT, {"url": "http://127.0.0.1:9/hook\x00"}),
        (ENDPOINT, {"url": "http://127.0.0.1:9/hook", "description": "a\x00b"}),
        (ENDPOINT, '{"url": "http://127.0.0.1:9/hook", "description": "a\\udc00"}'),
        (ENDPOINT, {"url": "http://127.0.0.1:9/hook", "agency_codes": ["０００.00.15.H53"]}),
        (ENDPOINT, {"url": "http://127.0.0.1:9/hook", "agency_codes": ["A\x00"]}),
        (f"{ENDPOINT}/ep_x/recover", {"since": "0001-01-01T00:00:00+00:00"}),
        (f"{ENDPOINT}/ep_x/recover", {"since": "2023-01-01T00:00:00"}),
        (f"{ENDPOINT}/ep_x/recover", {"since": 1700000000}),
        (f"{ENDPOINT}/ep_x/recover", {"since": "２０２３-01-01T00:00:00+00:00"}),
        (f"{ENDPOINT}/ep_x/recover", {"since": "2023-01-01T00:00:00Z", "until": "9999-12-31"}),
    ],
)
async def test_bad_bodies_are_422(service: ServiceClient, path: str, body: Any) -> None:
    if isinstance(body, str):
        response = await service.post(
            path,
            content=body.encode(),
            headers={**service.auth, "content-type": "application/json"},
        )
    else:
        response = await service.post(path, json=body)
    assert_problem(response, 422)


async def test_a_failed_key_creation_logs_no_prefix_or_hash(
    service: ServiceClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error while storing a key (here: the same key twice, a unique violation) is
    a 500 whose log line carries no parameter of the statement: no prefix, no hash."""
    from app import auth

    clear = "rk_" + "s" * 43
    monkeypatch.setattr(auth, "generate_key", lambda: clear)
    first = await service.post("/keys", json={"name": "a", "role": "reader"})
    assert first.status_code == 201, first.text
    with caplog.at_level(logging.DEBUG):
        again = await service.post("/keys", json={"name": "b", "role": "reader"})
    assert_problem(again, 500)
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert "unhandled database error" in logged
    assert "unique" in logged.lower()
    assert "INSERT INTO api_keys" in logged
    for secret in (clear, clear[:10], auth.hash_key(clear)):
        assert secret not in logged


async def test_the_default_period_before_29_february(service: ServiceClient) -> None:
    response = await service.post("/reconcile", json={"period_to": "2024-02-29"})
    assert response.status_code == 202, response.text
    run = (await service.get(response.json()["link"])).json()
    assert (run["period_from"], run["period_to"]) == ("2023-02-28", "2024-02-29")
    await service.app.state.executor.wait(run["run_id"])


def test_year_before() -> None:
    assert year_before(date(2023, 11, 30)) == date(2022, 11, 30)
    assert year_before(date(2024, 2, 29)) == date(2023, 2, 28)
    assert year_before(date(2024, 3, 1)) == date(2023, 3, 1)
    assert year_before(date(2000, 1, 1)) == date(1999, 1, 1)


async def test_bodies_are_capped_before_parsing_and_authentication(
    service: ServiceClient,
) -> None:
    big = b'{"name": "' + b"x" * 5000 + b'", "role": "reader"}'
    no_key = {"content-type": "application/json"}
    # Declared too large: refused at once, before the (missing) key is looked at.
    body = assert_problem(await service.http.post("/keys", content=big, headers=no_key), 413)
    assert body["max_bytes"] == 4096
    assert "MAX_BODY_BYTES" in body["detail"]

    # Streamed without a length (chunked): counted as it arrives.
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    streamed = await service.http.post("/reconcile", content=chunks(), headers=no_key)
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413)
    # A body within the cap goes on to authentication, parsing and validation as before.
    small = b'{"name": "' + b"x" * 100 + b'", "role": "reader"}'
    assert_problem(await service.http.post("/keys", content=small, headers=no_key), 401)
    created = await service.post("/keys", content=small, headers={**service.auth, **no_key})
    assert created.status_code == 201, created.text
    assert_problem(await service.http.post("/keys", content=big, headers=service.auth), 413)
