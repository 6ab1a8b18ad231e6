"""Property: whatever goes into any parameter of any endpoint, the answer is never a 5xx, and
every 4xx is an RFC 9457 problem (hypothesis drives arbitrary text, integers, dates and JSON
values into each endpoint's query, path and body, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_api import PROBLEM
from tests.conftest import ServiceClient, make_settings

NASTY = [
    "\x00",
    "a\x00b",
    "２０２３-01-01",
    "٢٠٢٣-٠١-٠١",
    "2023-0²",
    "²",
    "9" * 5000,
    str(2**64),
    str(2**31),
    "-1",
    "0",
    "0001-01-01",
    "9999-12-31",
    "2024-02-29",
    "0001-01",
    "2023-13",
    "2023-01-01T00:00:00",
    "2023-01-01T00:00:00+00:00",
    "",
    " ",
    "%",
    "%00",
    "../..",
    "NaN",
    "HS 2023/0001",
    "Hồ sơ",
    "WyJhIl0",  # a cursor: ["a"]
    "WyIyMDIzLTAxLTAxVDAwOjAwOjAwIiwieCJd",  # ["2023-01-01T00:00:00","x"]: naive
]
# URLs carry no lone surrogate (UTF-8 cannot encode one); JSON bodies can (\ud800).
url_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40), st.sampled_from(NASTY)
)
any_int = st.integers(min_value=-(2**70), max_value=2**70)
url_value = st.one_of(
    url_text, any_int.map(str), st.dates().map(str), st.datetimes().map(lambda d: d.isoformat())
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    any_int,
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)
json_value = st.one_of(json_scalar, st.lists(json_scalar, max_size=3))


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {p} is a path parameter
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    path_values: tuple[str, ...] = field(default=())


ENDPOINTS = [
    Endpoint(
        "GET",
        "/procedures/unsynced",
        ("level", "agency", "reason", "limit", "cursor", "province"),
    ),
    Endpoint("GET", "/procedures/orphans", ("limit", "cursor")),
    Endpoint("GET", "/procedures/{p}"),
    Endpoint("GET", "/kpi/online-payment", ("from", "to", "group", "level")),
    Endpoint("GET", "/kpi/overdue", ("from_month", "to_month", "group")),
    Endpoint(
        "GET",
        "/dossiers/mismatches",
        ("reason", "agency", "include_descendants", "from", "to", "limit", "cursor"),
    ),
    Endpoint("GET", "/dossiers/offline", ("from", "to", "agency", "include_descendants", "cursor")),
    Endpoint("GET", "/dossiers/orphan-transactions", ("agency", "limit", "cursor")),
    Endpoint("GET", "/dossiers/{p}"),
    Endpoint("GET", "/runs", ("status", "limit", "cursor")),
    Endpoint("GET", "/runs/{p}"),
    Endpoint("GET", "/schedules", ("ticks",)),
    Endpoint("DELETE", "/keys/{p}"),
    Endpoint("POST", "/keys", body=("name", "role")),
    Endpoint(
        "POST",
        "/reconcile",
        body=("scope", "period_from", "period_to", "dry_run", "accept_drop", "full"),
    ),
    Endpoint(
        "POST", "/webhooks/endpoints", body=("url", "event_types", "agency_codes", "description")
    ),
    Endpoint("PATCH", "/webhooks/endpoints/{p}", body=("description", "enabled", "agency_codes")),
    Endpoint("POST", "/webhooks/endpoints/{p}/recover", body=("since", "until")),
    Endpoint("GET", "/webhooks/endpoints/{p}/deliveries", ("status", "event_type", "cursor")),
    Endpoint("GET", "/webhooks/endpoints/{p}/attempts", ("limit", "cursor")),
]


@pytest.fixture
async def service(database_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(
        make_settings(
            database_url,
            webhook_allowed_networks="127.0.0.0/8",
            webhook_allow_http=True,
            upstream_max_attempts=1,
        )
    )
    return client


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    path = endpoint.path
    if "{p}" in path:
        path = path.replace("{p}", quote(draw(url_value), safe="") or "x")
    names = draw(st.lists(st.sampled_from(endpoint.query), unique=True)) if endpoint.query else []
    query = {name: draw(url_value) for name in names}
    content = None
    if endpoint.body:
        fields = draw(st.lists(st.sampled_from(endpoint.body), unique=True))
        body: dict[str, Any] = {name: draw(json_value) for name in fields}
        if "url" in body and draw(st.booleans()):
            body["url"] = "http://127.0.0.1:9/" + str(body["url"])
        content = json.dumps(body).encode()  # ASCII: a lone surrogate travels as \ud800
    return endpoint.method, path, query, content


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
async def test_no_input_gives_a_5xx(
    service: ServiceClient, request: tuple[str, str, dict[str, str], bytes | None]
) -> None:
    method, path, query, content = request
    headers = {**service.auth, "content-type": "application/json"}
    response = await service.http.request(
        method, path, params=query, content=content, headers=headers
    )
    assert response.status_code < 500, (method, path, query, content, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["type"].startswith("/problems/")
        assert problem["detail"]
