"""Dossier lists: mismatches to fix, offline payments to move online, one dossier in full."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.dependencies import LangDep, ProvinceDep, ReaderDep, SessionDep, VisibleDep
from app.exports.dossier_lists import MISMATCHES, OFFLINE, ORPHAN_TRANSACTIONS
from app.read import dossiers
from app.read.dossiers import MismatchesQuery, OfflineQuery, OrphanTransactionsQuery
from app.routers.answers import AnswerCacheDep
from app.routers.export_params import (
    FIGURE_FORMATS,
    FigureFormatParam,
    FormatParam,
    json_or_file,
    with_exports,
)
from app.schemas.dossiers import (
    DossierDetail,
    MismatchPage,
    OfflinePage,
    OrphanTransactionPage,
)
from app.schemas.problems import READER, problem_responses
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


@router.get(
    "/mismatches",
    response_model=MismatchPage,
    summary="Open dossier findings",
    description="Fee-bearing dossiers whose payment is missing, wrong or not synchronised "
    "(semantics §3), one item per (dossier, reason), with counts per reason; filter by reason, "
    "agency (and its units) and received date.",
    responses=with_exports(problem_responses(*READER)),
)
async def mismatches(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    reason: DossierReason | None = None,
    agency: AgencyParam = None,
    include_descendants: bool = False,
    from_: Annotated[Day | None, Query(alias="from")] = None,
    to: Day | None = None,
    format_: FormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    query = MismatchesQuery(
        reason=reason,
        agency=agency,
        include_descendants=include_descendants,
        start=from_,
        end=to,
        lang=lang,
        visible=visible,
        limit=limit,
        cursor=cursor,
    )
    return await json_or_file(request, session, province, answers, query, format_, MISMATCHES)


@router.get(
    "/offline",
    response_model=OfflinePage,
    summary="Dossiers paid offline",
    description="Fee-bearing dossiers received in the period and paid outside the platform: "
    "per agency and payment method, then the dossiers.",
    responses=with_exports(problem_responses(*READER)),
)
async def offline(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    from_: Annotated[Day, Query(alias="from")],
    to: Day,
    agency: AgencyParam = None,
    include_descendants: bool = True,
    format_: FormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    query = OfflineQuery(
        start=from_,
        end=to,
        agency=agency,
        include_descendants=include_descendants,
        lang=lang,
        visible=visible,
        limit=limit,
        cursor=cursor,
    )
    return await json_or_file(request, session, province, answers, query, format_, OFFLINE)


@router.get(
    "/orphan-transactions",
    response_model=OrphanTransactionPage,
    summary="Orphan platform transactions",
    description="Verified platform payments of the reconciled period that match no dossier: "
    "listed apart, never findings; with their count and amount.",
    responses=with_exports(problem_responses(*READER), FIGURE_FORMATS),
)
async def orphan_transactions(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    agency: AgencyParam = None,
    include_descendants: bool = True,
    format_: FigureFormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    """Verified platform payments that match no dossier of the reconciled period."""
    query = OrphanTransactionsQuery(
        agency=agency,
        include_descendants=include_descendants,
        lang=lang,
        visible=visible,
        limit=limit,
        cursor=cursor,
    )
    return await json_or_file(
        request, session, province, answers, query, format_, ORPHAN_TRANSACTIONS
    )


@router.get(
    "/{code:path}",
    response_model=DossierDetail,
    summary="One dossier in full",
    description="The dossier as last judged, both sides' records (raw beside parsed), the "
    "platform's transactions for it and its findings with evidence.",
    responses=problem_responses(*READER),
)
async def detail(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    lang: LangDep,
    visible: VisibleDep,
    code: DossierCode,
) -> dict[str, Any]:
    return await dossiers.dossier_detail(session, province, code, visible, lang)
