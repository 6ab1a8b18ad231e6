"""Signing in to the console: an API key is exchanged for a session cookie.

The cookie carries a random token; the database keeps only its SHA-256, with the CSRF token every
form must send back and the session's language. Each request re-reads the key behind the
session, so revoking a key (or narrowing its agency) signs its browsers out at once, on every
replica. A session ends at ``expires_at`` (``CONSOLE_SESSION_HOURS`` after sign-in) or at
sign-out, which deletes its row.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal, Role, hash_key
from app.domain.reasons import Lang
from app.models import ApiKey, ConsoleSession

COOKIE = "recon_session"


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    token_hash: str
    csrf_token: str
    lang: Lang
    expires_at: datetime


async def open_session(
    session: AsyncSession,
    principal: Principal,
    *,
    admin_key: str | None,
    lang: Lang,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, datetime]:
    """Store a session for ``principal`` and return the cookie's token and its expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(
        ConsoleSession(
            token_hash=hash_key(token),
            api_key_id=principal.key_id,
            admin_key_hash=hash_key(admin_key) if principal.key_id is None and admin_key else None,
            csrf_token=secrets.token_urlsafe(32),
            lang=lang,
            created_at=now,
            expires_at=expires_at,
        )
    )
    # Expired rows of anybody go with each sign-in: the table holds live sessions only.
    await session.exec(delete(ConsoleSession).where(col(ConsoleSession.expires_at) <= now))
    await session.commit()
    return token, expires_at


async def resolve_session(
    session: AsyncSession, token: str | None, *, admin_key: str | None, now: datetime
) -> SignedIn | None:
    """The signed-in principal behind a cookie's token, or None: unknown, expired, or its key
    revoked (or, for the bootstrap admin key, that key changed or removed)."""
    if not token:
        return None
    token_hash = hash_key(token)
    row = await session.get(ConsoleSession, token_hash)
    if row is None or row.expires_at <= now:
        return None
    if row.api_key_id is None:
        if not admin_key or row.admin_key_hash is None:
            return None
        if not hmac.compare_digest(row.admin_key_hash, hash_key(admin_key)):
            return None
        principal = Principal(
            name="RECON_ADMIN_KEY", role=Role.ADMIN, key_id=None, agency_code=None
        )
    else:
        key = (
            await session.exec(
                select(ApiKey).where(
                    col(ApiKey.id) == row.api_key_id, col(ApiKey.revoked_at).is_(None)
                )
            )
        ).first()
        if key is None:
            return None
        principal = Principal(
            name=key.name, role=Role(key.role), key_id=key.id, agency_code=key.agency_code
        )
    lang: Lang = "en" if row.lang == "en" else "vi"
    return SignedIn(principal, token_hash, row.csrf_token, lang, row.expires_at)


async def close_session(session: AsyncSession, token_hash: str) -> None:
    await session.exec(delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash))
    await session.commit()


async def set_language(session: AsyncSession, token_hash: str, lang: Lang) -> None:
    row = await session.get(ConsoleSession, token_hash)
    if row is not None:
        row.lang = lang
        session.add(row)
        await session.commit()


def same_token(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())
