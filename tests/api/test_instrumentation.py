"""Every request has an id (header, problem+json, log lines) and is timed by route template."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_settings


@pytest.fixture
async def service(sqlite_url: str, service_factory: Any) -> Any:
    return await service_factory(make_settings(sqlite_url))


async def test_each_answer_carries_a_request_id_and_problems_repeat_it(service: Any) -> None:
    first = await service.get("/runs")
    second = await service.get("/runs")
    assert first.status_code == 200
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    missing = await service.get("/procedures/9.999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


async def test_a_sane_caller_id_is_kept_and_anything_else_replaced(service: Any) -> None:
    kept = await service.get("/health/live", headers={"X-Request-ID": "lb-7f3a:01"})
    assert kept.headers["x-request-id"] == "lb-7f3a:01"
    for junk in ("a b", "x" * 129, "<script>", "đ"):
        replaced = await service.http.get("/health/live", headers={"X-Request-ID": junk.encode()})
        assert replaced.headers["x-request-id"] != junk
        assert len(replaced.headers["x-request-id"]) == 32


async def test_requests_are_timed_by_route_template_and_status(service: Any) -> None:
    await service.get("/procedures/1.000001")
    await service.get("/procedures/1.000002")
    await service.get("/no/such/path/12345")
    metrics = (await service.http.get("/metrics")).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("recon_http_request_duration_seconds_count")
    ]
    template = [line for line in counted if 'route="/procedures/{procedure_code}"' in line]
    assert template
    assert any('status="404"' in line for line in template)
    assert sum(float(line.rsplit(" ", 1)[1]) for line in template) >= 2
    assert not any("1.000001" in line or "12345" in line for line in counted)
    assert any('route="unmatched"' in line for line in counted)
    assert 'recon_build_info{commit="' in metrics
    assert 'version="0.1.0"' in metrics
