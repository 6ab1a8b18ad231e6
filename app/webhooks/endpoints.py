"""Webhook endpoint management: registration (with the SSRF guard), filters, secret rotation."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.normalize import normalize_code
from app.errors import NotFound, ProblemError
from app.models import WebhookEndpoint, WebhookSecret
from app.models.types import utcnow
from app.webhooks.delivery_admin import fail_pending
from app.webhooks.secretbox import SecretBox
from app.webhooks.signing import generate_secret
from app.webhooks.ssrf import SsrfPolicy, UrlRefused, check_url, resolve_and_check


class UrlNotAllowed(ProblemError):
    status, title, slug = 422, "Webhook URL not allowed", "webhook-url-refused"


def ssrf_policy(allowed_networks: str, allow_http: bool) -> SsrfPolicy:
    cidrs = [part.strip() for part in allowed_networks.split(",") if part.strip()]
    return SsrfPolicy.from_strings(cidrs, allow_http=allow_http)


async def validate_url(url: str, policy: SsrfPolicy) -> None:
    """Refuse at registration what delivery would refuse; delivery checks again after DNS."""
    try:
        checked = check_url(url, policy)
        # A name that does not resolve yet (a subscriber may register before its DNS exists)
        # is accepted: the connect-time check still guards every delivery.
        with contextlib.suppress(OSError):
            await resolve_and_check(checked.host, checked.port, policy)
    except UrlRefused as exc:
        raise UrlNotAllowed(f"{url}: {exc.reason}", reason=exc.reason) from None


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "agency_codes": endpoint.agency_codes,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        "created_at": endpoint.created_at.isoformat(),
        "updated_at": endpoint.updated_at.isoformat(),
    }


async def create_endpoint(
    session: AsyncSession,
    *,
    province_code: str,
    url: str,
    event_types: list[str],
    agency_codes: list[str],
    description: str,
    box: SecretBox,
) -> tuple[WebhookEndpoint, str]:
    now = utcnow()
    endpoint = WebhookEndpoint(
        province_code=province_code,
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        agency_codes=sorted({normalize_code(code) for code in agency_codes}),
        created_at=now,
        updated_at=now,
    )
    secret = generate_secret()
    sealed = box.seal(secret)
    session.add(endpoint)
    session.add(WebhookSecret(endpoint_id=endpoint.id, secret=sealed, created_at=now))
    await session.commit()
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, province_code: str, endpoint_id: str
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.province_code != province_code:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


async def list_endpoints(session: AsyncSession, province_code: str) -> list[WebhookEndpoint]:
    rows = await session.exec(
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.province_code) == province_code)
        .order_by(col(WebhookEndpoint.created_at))
    )
    return list(rows.all())


async def update_endpoint(
    session: AsyncSession, endpoint: WebhookEndpoint, changes: dict[str, Any]
) -> WebhookEndpoint:
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    if "agency_codes" in changes:
        changes["agency_codes"] = sorted({normalize_code(c) for c in changes["agency_codes"]})
    now = utcnow()
    if "enabled" in changes:
        # Re-enabling starts a fresh failure window; disabling by hand says so and parks the
        # queue as failed (recoverable), as an automatic disable does, without the event.
        if endpoint.enabled and not changes["enabled"]:
            await fail_pending(session, endpoint.id, reason="disabled by an operator", now=now)
        if changes["enabled"] != endpoint.enabled:
            changes["disabled_reason"] = None if changes["enabled"] else "disabled by an operator"
            changes["failing_since"] = None
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.updated_at = now
    session.add(endpoint)
    await session.commit()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    await session.exec(delete(WebhookSecret).where(col(WebhookSecret.endpoint_id) == endpoint.id))
    await session.delete(endpoint)
    await session.commit()


async def rotate_secret(
    session: AsyncSession, endpoint: WebhookEndpoint, grace: timedelta, *, box: SecretBox
) -> tuple[str, datetime]:
    """A new current secret; the previous ones keep signing until the grace period ends."""
    now = utcnow()
    until = now + grace
    rows = await session.exec(
        select(WebhookSecret).where(
            col(WebhookSecret.endpoint_id) == endpoint.id,
            col(WebhookSecret.expires_at).is_(None) | (col(WebhookSecret.expires_at) > until),
        )
    )
    for old in rows.all():
        old.expires_at = until
        session.add(old)
    secret = generate_secret()
    sealed = box.seal(secret)  # before anything changes: no key, no rotation
    session.add(WebhookSecret(endpoint_id=endpoint.id, secret=sealed, created_at=now))
    await session.commit()
    return secret, until


async def active_secrets(
    session: AsyncSession, endpoint_id: str, now: datetime, *, box: SecretBox
) -> list[str]:
    """Every secret a delivery is signed with right now (the current one first)."""
    rows = await session.exec(
        select(WebhookSecret)
        .where(
            col(WebhookSecret.endpoint_id) == endpoint_id,
            col(WebhookSecret.expires_at).is_(None) | (col(WebhookSecret.expires_at) > now),
        )
        .order_by(col(WebhookSecret.id).desc())
    )
    return [box.open(row.secret) for row in rows.all()]
