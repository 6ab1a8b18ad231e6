"""Per agency and level: what each agency has to sync, and why it is not — worst first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.dependencies import LangDep, ProvinceDep, ReaderDep, SessionDep, VisibleDep
from app.read.agencies import AgencySummaryQuery, agency_summary
from app.read.procedures import ListView
from app.routers.answers import AnswerCacheDep, json_body
from app.routers.export_params import (
    FIGURE_FORMATS,
    FormatParam,
    chosen_format,
    export_filters,
    with_exports,
)
from app.routers.figure_exports import export_agency_summary
from app.schemas.agencies import AgencySummary
from app.schemas.problems import READER, problem_responses
from app.validation import AgencyParam

router = APIRouter(prefix="/agencies", tags=["procedures"])


@router.get(
    "/summary",
    response_model=AgencySummary,
    summary="Sync figures per agency and level",
    description="Per agency (or, with `group=parent`, per top-level unit with its branches "
    "and communes) and level: fee-bearing, synced, not synced, the rate and how many not "
    "synced have each reason; worst first. `view=procedure` (default) counts procedures, the "
    "letters' unit; `view=configuration` counts (procedure, agency) pairs. An agency-scoped "
    "key sees its own units only. `format=xlsx|csv` for the table as a file.",
    responses=with_exports(problem_responses(*READER), FIGURE_FORMATS),
)
async def summary(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    view: Annotated[ListView, Query()] = "procedure",
    group: Annotated[Literal["agency", "parent"], Query()] = "agency",
    level: Annotated[Literal["tinh", "huyen", "xa"] | None, Query()] = None,
    agency: AgencyParam = None,
    include_descendants: bool = False,
    format_: FormatParam = None,
) -> Response:
    fmt = chosen_format(request, format_, FIGURE_FORMATS)
    query = AgencySummaryQuery(
        view=view,
        group=group,
        level=level,
        agency=agency,
        include_descendants=include_descendants,
        lang=lang,
        visible=visible,
    )
    if fmt != "json":
        body = await agency_summary(session, province, query)
        return await export_agency_summary(body, fmt, province, lang, export_filters(request))
    cached = await answers.answer(
        session, province, query, lambda: agency_summary(session, province, query)
    )
    return json_body(cached)
