"""The lists agencies act on: unsynced configurations, orphans, one procedure's full picture."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from app.dependencies import ProvinceDep, ReaderDep, SessionDep
from app.read.procedures import orphans_on_national, procedure_detail, unsynced_procedures
from app.routers.answers import AnswerCacheDep, json_body
from app.schemas.problems import READER, problem_responses
from app.schemas.procedures import (
    UNSYNCED_EXAMPLE,
    OrphanPage,
    ProcedureDetail,
    UnsyncedPage,
)
from app.validation import AgencyParam, CursorParam, ProcedureCode, ProcedureReason

router = APIRouter(prefix="/procedures", tags=["procedures"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


@router.get(
    "/unsynced",
    response_model=UnsyncedPage,
    summary="Unsynced fee-bearing configurations",
    description="Every (procedure, agency) configuration the last complete procedure run found "
    "not synchronised, with every reason, both sides' raw values and the evidence; filter by "
    "level, agency or reason. `summary` is the province's figure per level, whatever the "
    "filters. Page with `next_cursor`.",
    responses=problem_responses(*READER, example=UNSYNCED_EXAMPLE),
)
async def unsynced(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    level: Literal["tinh", "huyen", "xa"] | None = None,
    agency: AgencyParam = None,
    reason: ProcedureReason | None = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    body = await answers.answer(
        session,
        province,
        ("procedures/unsynced", level, agency, reason, limit, cursor),
        lambda: unsynced_procedures(
            session,
            province_code=province,
            level=level,
            agency=agency,
            reason=reason,
            limit=limit,
            cursor=cursor,
        ),
    )
    return json_body(body)


@router.get(
    "/orphans",
    response_model=OrphanPage,
    summary="Orphans on national",
    description="N's payment information that matches no fee-bearing P configuration: P has no "
    "such item (`absent`) or charges no fee there (`without_fees`).",
    responses=problem_responses(*READER),
)
async def orphans(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    body = await answers.answer(
        session,
        province,
        ("procedures/orphans", limit, cursor),
        lambda: orphans_on_national(session, province_code=province, limit=limit, cursor=cursor),
    )
    return json_body(body)


@router.get(
    "/{procedure_code}",
    response_model=ProcedureDetail,
    summary="One procedure in full",
    description="Every configuration of the procedure (both sides), its open findings and "
    "their history, resolved episodes included.",
    responses=problem_responses(*READER),
)
async def procedure(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    procedure_code: Annotated[ProcedureCode, Path(description="MaTTHC, e.g. 1.000032.")],
) -> dict[str, Any]:
    return await procedure_detail(session, province_code=province, procedure_code=procedure_code)
