"""Webhook endpoint management over the API: SSRF refusals, filters, secrets and rotation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from app.models.types import utcnow
from app.webhooks.endpoints import active_secrets
from app.webhooks.signing import sign_headers
from tests.conftest import ServiceClient, make_settings

PATH = "/webhooks/endpoints"


@pytest.fixture
async def service(sqlite_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(
        make_settings(sqlite_url, webhook_allowed_networks="127.0.0.0/8", webhook_allow_http=True)
    )
    return client


@pytest.fixture
async def strict(sqlite_url: str, service_factory: Any) -> ServiceClient:
    client: ServiceClient = await service_factory(make_settings(sqlite_url))
    return client


async def test_create_returns_the_secret_once_and_applies_filters(service: ServiceClient) -> None:
    created = await service.post(
        PATH,
        json={
            "url": "http://127.0.0.1:9999/hooks",
            "event_types": ["mismatch.opened", "mismatch.resolved", "mismatch.opened"],
            "agency_codes": [" 000.00.15.h53 "],
            "description": "Cổng một cửa",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["mismatch.opened", "mismatch.resolved"]
    assert body["agency_codes"] == ["000.00.15.H53"]
    assert body["description"] == "Cổng một cửa"
    fetched = (await service.get(f"{PATH}/{body['id']}")).json()
    listed = (await service.get(PATH)).json()["items"]
    assert "secret" not in fetched
    assert body["secret"] not in str(listed)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://example.com/hook",
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
    ],
)
async def test_refused_urls_are_problems(strict: ServiceClient, url: str) -> None:
    response = await strict.post(PATH, json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/webhook-url-refused"
    assert (await strict.get(PATH)).json()["items"] == []


async def test_unknown_event_type_is_rejected(service: ServiceClient) -> None:
    response = await service.post(PATH, json={"url": "http://127.0.0.1/x", "event_types": ["x"]})
    assert response.status_code == 422


async def test_only_admins_manage_endpoints(service: ServiceClient) -> None:
    key = (await service.post("/keys", json={"name": "ops", "role": "operator"})).json()["key"]
    response = await service.get(PATH, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


async def test_update_disable_enable_and_delete(service: ServiceClient) -> None:
    endpoint = (await service.post(PATH, json={"url": "http://127.0.0.1:1/a"})).json()
    url = f"{PATH}/{endpoint['id']}"
    disabled = (await service.http.patch(url, json={"enabled": False}, headers=service.auth)).json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "disabled by an operator")
    enabled = (await service.http.patch(url, json={"enabled": True}, headers=service.auth)).json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    refused = await service.http.patch(
        url, json={"url": "https://10.0.0.1/x"}, headers=service.auth
    )
    assert refused.status_code == 422
    assert (await service.http.delete(url, headers=service.auth)).status_code == 204
    assert (await service.get(url)).status_code == 404


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    service: ServiceClient,
) -> None:
    endpoint = (await service.post(PATH, json={"url": "http://127.0.0.1:1/a"})).json()
    rotated = await service.post(f"{PATH}/{endpoint['id']}/rotate-secret", json={"grace_hours": 1})
    assert rotated.status_code == 200, rotated.text
    new_secret, old_secret = rotated.json()["secret"], endpoint["secret"]
    assert new_secret != old_secret

    factory = service.app.state.session_factory
    now = utcnow()
    async with factory() as session:
        during = await active_secrets(session, endpoint["id"], now)
        after = await active_secrets(session, endpoint["id"], now + timedelta(hours=2))
    assert during == [new_secret, old_secret]
    assert after == [new_secret]

    body = b'{"type":"mismatch.opened"}'
    headers = sign_headers("msg_1", now, body, during)
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(body, headers)
