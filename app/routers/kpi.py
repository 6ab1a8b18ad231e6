"""The province's figures (semantics §4): online payment and overdue dossiers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.dependencies import (
    LangDep,
    ProvinceDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    VisibleDep,
)
from app.read import kpi
from app.routers.answers import AnswerCacheDep, json_body
from app.routers.export_params import (
    FIGURE_FORMATS,
    FormatParam,
    chosen_format,
    export_filters,
    with_exports,
)
from app.routers.figure_exports import export_online_payment, export_overdue
from app.schemas.kpi import ONLINE_PAYMENT_EXAMPLE, OnlinePayment, Overdue
from app.schemas.problems import READER, problem_responses
from app.validation import Day, Month

router = APIRouter(prefix="/kpi", tags=["figures"])

GroupParam = Annotated[Literal["agency", "parent", "province"], Query()]


@router.get(
    "/online-payment",
    response_model=OnlinePayment,
    summary="Online payment rate",
    description="Per group (agency, parent unit or province): fee-bearing dossiers received in "
    "the period, paid online as the portal counts them and as verified on the platform, both "
    "rates against the year's target; the province's total; worst first. `sections` splits "
    "the units as the letters print them (departments, districts) with how many met the "
    "target. `coverage` says whether one complete dossier run covered the period. "
    "`format=xlsx|csv` for the table as a file.",
    responses=with_exports(
        problem_responses(*READER, example=ONLINE_PAYMENT_EXAMPLE), FIGURE_FORMATS
    ),
)
async def online_payment(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    visible: VisibleDep,
    lang: LangDep,
    from_: Annotated[Day, Query(alias="from")],
    to: Day,
    group: GroupParam = "agency",
    level: Annotated[int | None, Query(ge=0, le=9)] = None,
    format_: FormatParam = None,
) -> Response:
    """Fee-bearing dossiers received in the period and paid online, portal-counted and verified,
    against the year's target; worst first."""
    fmt = chosen_format(request, format_, FIGURE_FORMATS)
    target = settings.online_target(to.year)
    query = kpi.OnlinePaymentQuery(
        start=from_, end=to, target=target, group=group, level=level, visible=visible, lang=lang
    )
    if fmt != "json":
        body = await kpi.online_payment(session, province, query)
        return await export_online_payment(body, fmt, province, lang, export_filters(request))
    cached = await answers.answer(
        session, province, query, lambda: kpi.online_payment(session, province, query)
    )
    return json_body(cached)


@router.get(
    "/overdue",
    response_model=Overdue,
    summary="Overdue dossiers per month",
    description="Per group and calendar month: dossiers finished, finished late, the rate, its "
    "change in points against the previous month, and dossiers open past due at month end; "
    "worst first. `group=parent` rolls branches into their office and communes into their "
    "district, as the letters report. At most 36 months. `format=xlsx|csv` for a file.",
    responses=with_exports(problem_responses(*READER), FIGURE_FORMATS),
)
async def overdue(
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    visible: VisibleDep,
    lang: LangDep,
    from_month: Annotated[Month, Query(examples=["2023-09"])],
    to_month: Annotated[Month, Query(examples=["2023-11"])],
    group: GroupParam = "agency",
    format_: FormatParam = None,
) -> Response:
    """Per group and calendar month: finished, overdue, rate, change in points, open past due."""
    fmt = chosen_format(request, format_, FIGURE_FORMATS)
    query = kpi.OverdueQuery(from_month=from_month, to_month=to_month, group=group, visible=visible)
    if fmt != "json":
        body = await kpi.overdue(session, province, query)
        return await export_overdue(body, fmt, province, lang, export_filters(request))
    cached = await answers.answer(
        session, province, query, lambda: kpi.overdue(session, province, query)
    )
    return json_body(cached)
