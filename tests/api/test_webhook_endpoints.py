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


JUNK_URLS = [
    pytest.param("https://example.com:99999/hook", id="port-out-of-range"),
    pytest.param("https://example.com:0/hook", id="port-zero"),
    pytest.param("https://[/", id="broken-ipv6-bracket"),
    pytest.param("https://a..b.example.com/hook", id="empty-label"),
    pytest.param(f"https://{'a' * 64}.example.com/hook", id="64-char-label"),
    pytest.param(f"https://{'a.' * 130}example.com/", id="over-long-host"),
    pytest.param("https://exa mple.com/", id="space-in-host"),
    pytest.param("https://xn--/", id="invalid-idna"),
    pytest.param("https://xn--zz-1a.example.com/", id="invalid-a-label"),
    pytest.param("https://%31%32%37.0.0.1/", id="percent-encoded-loopback"),
    pytest.param("https://%65xample.com/", id="percent-encoded-name"),
    pytest.param("https://user@example.com/", id="userinfo"),
    pytest.param("https://example.com/\x00hook", id="nul"),
    pytest.param("https://example.com/\x07hook", id="control-char"),
    pytest.param("https://exa\tmple.com/", id="tab"),
    pytest.param("https://example.com\\@evil.test/", id="backslash"),
    pytest.param("https://example.com/" + "x" * 2100, id="over-long-url"),
    pytest.param("https://localhost./hook", id="localhost-trailing-dot"),
    pytest.param("https://api.localhost/hook", id="sub-localhost"),
    pytest.param("https://ip6-localhost/hook", id="ip6-localhost"),
    pytest.param("https://metadata.google.internal/computeMetadata/v1/", id="gcp-metadata"),
    pytest.param("https://instance-data./latest/", id="aws-metadata-name"),
]


@pytest.mark.parametrize("url", JUNK_URLS)
async def test_junk_urls_are_problems_at_registration(strict: ServiceClient, url: str) -> None:
    response = await strict.post(PATH, json={"url": url})
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await strict.get(PATH)).json()["items"] == []


@pytest.mark.parametrize("url", JUNK_URLS)
async def test_junk_urls_are_problems_at_patch(strict: ServiceClient, url: str) -> None:
    created = await strict.post(PATH, json={"url": "https://8.8.8.8/hook"})
    assert created.status_code == 201, created.text
    path = f"{PATH}/{created.json()['id']}"
    response = await strict.http.patch(path, json={"url": url}, headers=strict.auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await strict.get(path)).json()["url"] == "https://8.8.8.8/hook"


@pytest.mark.parametrize("field", ["url", "enabled", "event_types", "description"])
async def test_patch_null_is_a_clear_problem(strict: ServiceClient, field: str) -> None:
    created = await strict.post(PATH, json={"url": "https://8.8.8.8/hook"})
    path = f"{PATH}/{created.json()['id']}"
    response = await strict.http.patch(path, json={field: None}, headers=strict.auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "may not be null" in response.text
    assert (await strict.get(path)).json()["url"] == "https://8.8.8.8/hook"


async def test_loopback_names_need_the_loopback_network(service: ServiceClient) -> None:
    # The permissive fixture lists 127.0.0.0/8: loopback by name is then as allowed as by IP.
    created = await service.post(PATH, json={"url": "http://localhost:9/hook"})
    assert created.status_code == 201, created.text
    # Metadata names stay refused whatever networks are allowed.
    refused = await service.post(PATH, json={"url": "http://metadata/computeMetadata/v1/"})
    assert refused.status_code == 422
    assert "metadata" in refused.json()["detail"]


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
    box = service.app.state.settings.webhook_secret_box()
    now = utcnow()
    async with factory() as session:
        during = await active_secrets(session, endpoint["id"], now, box=box)
        after = await active_secrets(session, endpoint["id"], now + timedelta(hours=2), box=box)
    assert during == [new_secret, old_secret]
    assert after == [new_secret]

    body = b'{"type":"mismatch.opened"}'
    headers = sign_headers("msg_1", now, body, during)
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(body, headers)
