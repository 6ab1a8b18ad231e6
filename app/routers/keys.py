"""API key management (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, select

from app.auth import Role, check_scope, create_key
from app.dependencies import AdminDep, SessionDep
from app.errors import NotFound
from app.models import ApiKey
from app.models.types import utcnow
from app.schemas.admin import CreatedKey, KeyList
from app.schemas.problems import problem_responses
from app.validation import AgencyScope, RowId, Text

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyCreate(BaseModel):
    # A misspelt field (``agency_code`` for ``agency``) must be a 422, not a key that silently
    # sees the whole province.
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=128)
    role: Role
    agency: AgencyScope | None = Field(
        default=None,
        description="Confine the key to this agency (MaDonVi, e.g. `000.00.15.H53`; trimmed "
        "and upper-cased) and the units below it; omitted or null: the whole province. The "
        "agency need not be known yet: agencies appear after the first run, so a key may be "
        "made before it. Not with the `admin` role.",
        examples=["000.00.15.H53"],
    )

    @model_validator(mode="after")
    def _admin_is_province_wide(self) -> KeyCreate:
        check_scope(self.role, self.agency)
        return self


def _view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "agency_code": key.agency_code,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedKey,
    summary="Create an API key",
    description="A new key of the role, for the whole province or confined to one agency and "
    "the units below it (`agency`; a scoped key cannot be `admin`); the key itself is in the "
    "answer, once (only its SHA-256 is stored).",
    responses=problem_responses(
        400, 401, 403, 413, 422, 503, descriptions={400: "The body cannot be parsed."}, success=201
    ),
)
async def create(principal: AdminDep, session: SessionDep, body: KeyCreate) -> dict[str, Any]:
    row, clear = await create_key(session, name=body.name, role=body.role, agency_code=body.agency)
    return {**_view(row), "key": clear}


@router.get(
    "",
    response_model=KeyList,
    summary="List API keys",
    description="Every key, revoked ones included, without the keys themselves.",
    responses=problem_responses(401, 403, 503),
)
async def list_keys(principal: AdminDep, session: SessionDep) -> dict[str, Any]:
    rows = await session.exec(select(ApiKey).order_by(col(ApiKey.id)))
    return {"items": [_view(k) for k in rows.all()]}


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    description="The key stops working at once; revoking a revoked key changes nothing.",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def revoke(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    key_id: Annotated[RowId, Path(description="The key's id (1 … 2,147,483,647).")],
) -> None:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        await session.commit()
        # This replica forgets it at once; the others within a poll (app/key_cache.py).
        request.app.state.key_cache.invalidate()
