"""API keys and roles. Keys are random tokens shown once; only their SHA-256 is stored.

SHA-256 (not a slow password hash) is right here: a key has 256 bits of entropy, so there is
nothing to brute-force, and every request must verify one quickly.

A key may be scoped to an agency (a normalized MaDonVi): it then sees that agency and the units
below it, never the rest of the province. The key is looked up on every request, so revoking
one (or its scope) takes effect on the very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden, Unauthorized
from app.models import ApiKey
from app.models.types import utcnow

if TYPE_CHECKING:
    from app.key_cache import KeyCache

KEY_PREFIX = "rk_"


class Role(StrEnum):
    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.READER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    key_id: int | None  # None for the bootstrap RECON_ADMIN_KEY
    # The normalized MaDonVi the key is confined to; None: the whole province (and always for
    # RECON_ADMIN_KEY). No default, so that no Principal is made province-wide by omission.
    agency_code: str | None


SCOPED_ADMIN_REFUSED = (
    "a key scoped to an agency cannot be 'admin': admins manage keys and webhook endpoints "
    "for the whole province; give it the 'reader' or 'operator' role, or no agency"
)


def check_scope(role: Role, agency_code: str | None) -> None:
    """Refuse the one combination that makes no sense: an admin confined to an agency."""
    if agency_code is not None and role is Role.ADMIN:
        raise ValueError(SCOPED_ADMIN_REFUSED)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    session: AsyncSession, *, name: str, role: Role, agency_code: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its clear text, which is never retrievable again.

    ``agency_code`` is a normalized MaDonVi (``normalize_code``) or None for the whole province;
    a scoped admin is refused (ValueError), whoever asks."""
    check_scope(role, agency_code)
    clear = generate_key()
    row = ApiKey(
        name=name,
        role=role,
        prefix=clear[:10],
        key_hash=hash_key(clear),
        created_at=utcnow(),
        agency_code=agency_code,
    )
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return row, clear


async def authenticate(
    session: AsyncSession,
    authorization: str | None,
    admin_key: str | None,
    cache: KeyCache | None = None,
) -> Principal:
    """The principal of a bearer key; with ``cache``, a key verified lately is not read again
    (``app/key_cache.py`` says how revocations still reach every replica within a second)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return Principal(name="RECON_ADMIN_KEY", role=Role.ADMIN, key_id=None, agency_code=None)
    key_hash = hash_key(token)

    async def lookup() -> Principal | None:
        rows = await session.exec(
            select(ApiKey).where(col(ApiKey.key_hash) == key_hash, col(ApiKey.revoked_at).is_(None))
        )
        key = rows.first()
        if key is None:
            return None
        return Principal(
            name=key.name, role=Role(key.role), key_id=key.id, agency_code=key.agency_code
        )

    principal = await (cache.cached(key_hash, lookup) if cache is not None else lookup())
    if principal is None:
        raise Unauthorized("The API key is not valid.")
    return principal


def require_role(principal: Principal, role: Role) -> Principal:
    if _RANK[principal.role] < _RANK[role]:
        raise Forbidden(
            f"This needs the '{role}' role; the key '{principal.name}' has '{principal.role}'."
        )
    return principal
