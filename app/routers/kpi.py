"""The province's figures (semantics §4): online payment and overdue dossiers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.dependencies import ProvinceDep, ReaderDep, SessionDep, SettingsDep, VisibleDep
from app.read import kpi
from app.routers.answers import AnswerCacheDep, json_body
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
    "rates against the year's target; the province's total; worst first. `coverage` says "
    "whether one complete dossier run covered the period.",
    responses=problem_responses(*READER, example=ONLINE_PAYMENT_EXAMPLE),
)
async def online_payment(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    visible: VisibleDep,
    from_: Annotated[Day, Query(alias="from")],
    to: Day,
    group: GroupParam = "agency",
    level: Annotated[int | None, Query(ge=0, le=9)] = None,
) -> Response:
    """Fee-bearing dossiers received in the period and paid online, portal-counted and verified,
    against the year's target; worst first."""
    target = settings.online_target(to.year)
    query = kpi.OnlinePaymentQuery(
        start=from_, end=to, target=target, group=group, level=level, visible=visible
    )
    body = await answers.answer(
        session, province, query, lambda: kpi.online_payment(session, province, query)
    )
    return json_body(body)


@router.get(
    "/overdue",
    response_model=Overdue,
    summary="Overdue dossiers per month",
    description="Per group and calendar month: dossiers finished, finished late, the rate, its "
    "change in points against the previous month, and dossiers open past due at month end. "
    "At most 36 months.",
    responses=problem_responses(*READER),
)
async def overdue(
    principal: ReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    answers: AnswerCacheDep,
    visible: VisibleDep,
    from_month: Annotated[Month, Query(examples=["2023-09"])],
    to_month: Annotated[Month, Query(examples=["2023-11"])],
    group: GroupParam = "agency",
) -> Response:
    """Per group and calendar month: finished, overdue, rate, change in points, open past due."""
    query = kpi.OverdueQuery(from_month=from_month, to_month=to_month, group=group, visible=visible)
    body = await answers.answer(
        session, province, query, lambda: kpi.overdue(session, province, query)
    )
    return json_body(body)
