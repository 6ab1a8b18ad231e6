"""The lists agencies act on: synced and unsynced configurations, orphans, one procedure."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from app.dependencies import LangDep, ProvinceDep, ReaderDep, SessionDep, VisibleDep
from app.exports.procedure_lists import ORPHANS, SYNCED, UNSYNCED
from app.read.procedures import (
    ConfigurationsQuery,
    ListView,
    OrphansQuery,
    ProcedureQuery,
    procedure_detail,
)
from app.routers.answers import AnswerCacheDep
from app.routers.export_params import (
    FIGURE_FORMATS,
    FigureFormatParam,
    FormatParam,
    json_or_file,
    with_exports,
)
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
Level = Annotated[Literal["tinh", "huyen", "xa"] | None, Query()]
Descendants = Annotated[
    bool, Query(description="With `agency`: also every unit below it (branches, communes).")
]
View = Annotated[
    ListView,
    Query(
        description="`configuration`: one item per (procedure, agency); `procedure`: one per "
        "procedure and level, the letters' unit."
    ),
]


@router.get(
    "/unsynced",
    response_model=UnsyncedPage,
    summary="Unsynced fee-bearing configurations",
    description="Every (procedure, agency) configuration the last complete procedure run found "
    "not synchronised, with every reason, both sides' raw values, the evidence and the fix "
    "(in `lang`); filter by level, agency (with its units) or reason; `view=procedure` for one "
    "item per procedure and level. `summary` is the province's figure per level, whatever the "
    "filters. Page with `next_cursor`.",
    responses=with_exports(problem_responses(*READER, example=UNSYNCED_EXAMPLE)),
)
async def unsynced(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    level: Level = None,
    agency: AgencyParam = None,
    include_descendants: Descendants = False,
    reason: ProcedureReason | None = None,
    view: View = "configuration",
    format_: FormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    query = ConfigurationsQuery(
        synced=False,
        level=level,
        agency=agency,
        include_descendants=include_descendants,
        reason=reason,
        view=view,
        lang=lang,
        visible=visible,
        limit=limit,
        cursor=cursor,
    )
    return await json_or_file(request, session, province, answers, query, format_, UNSYNCED)


@router.get(
    "/synced",
    response_model=UnsyncedPage,
    summary="Synced fee-bearing configurations",
    description="The other half of `/procedures/unsynced`, with the same filters: every "
    "fee-bearing configuration (or, with `view=procedure`, every procedure per level) the last "
    "complete procedure run found synchronised.",
    responses=with_exports(problem_responses(*READER)),
)
async def synced(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    level: Level = None,
    agency: AgencyParam = None,
    include_descendants: Descendants = False,
    view: View = "configuration",
    format_: FormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    query = ConfigurationsQuery(
        synced=True,
        level=level,
        agency=agency,
        include_descendants=include_descendants,
        view=view,
        lang=lang,
        visible=visible,
        limit=limit,
        cursor=cursor,
    )
    return await json_or_file(request, session, province, answers, query, format_, SYNCED)


@router.get(
    "/orphans",
    response_model=OrphanPage,
    summary="Orphans on national",
    description="N's payment information that matches no fee-bearing P configuration: P has no "
    "such item (`absent`) or charges no fee there (`without_fees`).",
    responses=with_exports(problem_responses(*READER), FIGURE_FORMATS),
)
async def orphans(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    lang: LangDep,
    visible: VisibleDep,
    format_: FigureFormatParam = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    query = OrphansQuery(lang=lang, visible=visible, limit=limit, cursor=cursor)
    return await json_or_file(request, session, province, answers, query, format_, ORPHANS)


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
    visible: VisibleDep,
    procedure_code: Annotated[ProcedureCode, Path(description="MaTTHC, e.g. 1.000032.")],
) -> dict[str, Any]:
    query = ProcedureQuery(procedure_code=procedure_code, visible=visible)
    return await procedure_detail(session, province, query)
