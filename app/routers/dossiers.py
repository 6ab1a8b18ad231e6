"""Dossier lists: mismatches to fix, offline payments to move online, one dossier in full."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from app.dependencies import ProvinceDep, ReaderDep, SessionDep
from app.read import dossiers
from app.reconcile.dossier_rules import DOSSIER_REASONS
from app.routers.answers import AnswerCacheDep, json_body

router = APIRouter(prefix="/dossiers", tags=["dossiers"])

Reason = Literal[DOSSIER_REASONS]  # type: ignore[valid-type]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Agency = Annotated[str | None, Query(max_length=64, description="MaDonVi")]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("/mismatches")
async def mismatches(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    reason: Reason | None = None,
    agency: Agency = None,
    include_descendants: bool = False,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
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
    from_: Annotated[date, Query(alias="from")],
    to: date,
    agency: Agency = None,
    include_descendants: bool = True,
    limit: Limit = 100,
    cursor: Cursor = None,
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
    agency: Agency = None,
    include_descendants: bool = True,
    limit: Limit = 100,
    cursor: Cursor = None,
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


@router.get("/{code}")
async def detail(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    code: Annotated[str, Path(max_length=128)],
) -> dict[str, Any]:
    return await dossiers.dossier_detail(session, province, code)
