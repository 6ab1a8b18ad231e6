"""Dossier lists: mismatches to fix, offline payments to move online, one dossier in full."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from app.dependencies import ProvinceDep, ReaderDep, SessionDep
from app.read import dossiers
from app.routers.answers import AnswerCacheDep, json_body
from app.validation import AgencyParam, CursorParam, Day, DossierReason, Text

router = APIRouter(prefix="/dossiers", tags=["dossiers"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
DossierCode = Annotated[
    Text,
    Path(
        min_length=1,
        max_length=256,
        description="MaHoSo as stored, any characters (`/`, spaces, Vietnamese letters), "
        "percent-encoded once in the URL.",
    ),
]


@router.get("/mismatches")
async def mismatches(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    reason: DossierReason | None = None,
    agency: AgencyParam = None,
    include_descendants: bool = False,
    from_: Annotated[Day | None, Query(alias="from")] = None,
    to: Day | None = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    body = await answers.answer(
        session,
        province,
        ("dossiers/mismatches", reason, agency, include_descendants, from_, to, limit, cursor),
        lambda: dossiers.mismatches(
            session,
            province_code=province,
            reason=reason,
            agency=agency,
            descendants=include_descendants,
            start=from_,
            end=to,
            limit=limit,
            cursor=cursor,
        ),
    )
    return json_body(body)


@router.get("/offline")
async def offline(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    from_: Annotated[Day, Query(alias="from")],
    to: Day,
    agency: AgencyParam = None,
    include_descendants: bool = True,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    body = await answers.answer(
        session,
        province,
        ("dossiers/offline", from_, to, agency, include_descendants, limit, cursor),
        lambda: dossiers.offline(
            session,
            province_code=province,
            agency=agency,
            descendants=include_descendants,
            start=from_,
            end=to,
            limit=limit,
            cursor=cursor,
        ),
    )
    return json_body(body)


@router.get("/orphan-transactions")
async def orphan_transactions(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    agency: AgencyParam = None,
    include_descendants: bool = True,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    """Verified platform payments that match no dossier of the reconciled period."""
    body = await answers.answer(
        session,
        province,
        ("dossiers/orphan-transactions", agency, include_descendants, limit, cursor),
        lambda: dossiers.orphan_transactions(
            session,
            province_code=province,
            agency=agency,
            descendants=include_descendants,
            limit=limit,
            cursor=cursor,
        ),
    )
    return json_body(body)


@router.get("/{code:path}")
async def detail(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    code: DossierCode,
) -> dict[str, Any]:
    return await dossiers.dossier_detail(session, province, code)
