"""The lists agencies act on: unsynced configurations, orphans, one procedure's full picture."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from app.dependencies import ProvinceDep, ReaderDep, SessionDep
from app.read.procedures import orphans_on_national, procedure_detail, unsynced_procedures
from app.reconcile.procedures import REASON_CODES

router = APIRouter(prefix="/procedures", tags=["procedures"])

ReasonCode = Literal[REASON_CODES]  # type: ignore[valid-type]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


@router.get("/unsynced")
async def unsynced(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    level: Literal["tinh", "huyen", "xa"] | None = None,
    agency: Annotated[str | None, Query(max_length=64, description="MaDonVi")] = None,
    reason: ReasonCode | None = None,
    limit: Limit = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    return await unsynced_procedures(
        session,
        province_code=province,
        level=level,
        agency=agency,
        reason=reason,
        limit=limit,
        cursor=cursor,
    )


@router.get("/orphans")
async def orphans(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    limit: Limit = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    return await orphans_on_national(session, province_code=province, limit=limit, cursor=cursor)


@router.get("/{procedure_code}")
async def procedure(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    procedure_code: Annotated[str, Path(max_length=32, pattern=r"^\s*\d\.\d{6}\s*$")],
) -> dict[str, Any]:
    return await procedure_detail(session, province_code=province, procedure_code=procedure_code)
