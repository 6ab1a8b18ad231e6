"""The province's figures as the letters print them: online payment per department, district
and other unit against the year's target (the Đồng Tháp table), overdue dossiers per month with
the change in points, and the frozen monthly reports, each downloadable as a workbook.

Province-wide only: the reports and the tables carry every agency's figures. The tables are
``app/read/kpi.py``'s under the same queries as ``/kpi/online-payment`` and ``/kpi/overdue``
with ``group=parent``, so the page shows what the API answers.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from app.console.charts import bar_chart
from app.console.deps import Page, PageDep
from app.console.downloads import file_format, filters_of
from app.console.pages.dossiers import list_link
from app.console.periods import dossier_period, month_of, months_back, parse_day
from app.errors import NotFound
from app.read.kpi import (
    OnlinePaymentQuery,
    OverdueQuery,
    online_payment,
    overdue,
    parse_month,
)
from app.reports.monthly import frozen_months, frozen_report, previous_frozen
from app.reports.workbook import report_workbook
from app.routers.figure_exports import export_online_payment, export_overdue
from app.settings import Settings

router = APIRouter(include_in_schema=False)
OVERDUE_MONTHS = 3  # the letters compare the last quarter, month by month


async def _payment_query(page: Page, start: str | None, end: str | None) -> OnlinePaymentQuery:
    default_start, default_end = await dossier_period(page.session, page.province)
    first, last = parse_day(start, default_start), parse_day(end, default_end)
    settings: Settings = page.request.app.state.settings
    return OnlinePaymentQuery(
        start=first,
        end=last,
        target=settings.online_target(last.year),
        group="parent",
        visible=page.visible,
        lang=page.lang,
    )


def _month(text: str | None, fallback: str, name: str) -> str:
    """A YYYY-MM month as the API spells it; anything unreadable is a 400 naming the field."""
    if not text:
        return fallback
    year, number = parse_month(text, name)
    return f"{year:04d}-{number:02d}"


def _overdue_query(
    page: Page, end: date, from_month: str | None, to_month: str | None
) -> OverdueQuery:
    return OverdueQuery(
        from_month=_month(from_month, months_back(end, OVERDUE_MONTHS), "from_month"),
        to_month=_month(to_month, month_of(end), "to_month"),
        group="parent",
        visible=page.visible,
    )


@router.get("/console/figures", response_class=HTMLResponse)
async def figures(
    page: PageDep,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> HTMLResponse:
    page.province_wide()
    page.nav = "figures"
    payment_query = await _payment_query(page, from_, to)
    payment = await online_payment(page.session, page.province, payment_query)
    overdue_query = _overdue_query(page, payment_query.end, from_month, to_month)
    late = await overdue(page.session, page.province, overdue_query)
    # One chart of every unit, section after section: a page has one hatch pattern (its id is
    # the one the stylesheet fills a bar below the target with).
    rows = [
        (item["name"] or item["group"], item["portal_rate"])
        for section in payment["sections"]
        for item in section["items"]
    ]
    chart = bar_chart(rows, payment_query.target) if rows else None
    reports = [
        {
            "month": report.month,
            "frozen_at": report.frozen_at,
            "complete": bool(json.loads(report.body).get("complete")),
        }
        for report in await frozen_months(page.session, page.province)
    ]
    return page.render(
        "figures.html",
        payment=payment,
        chart=chart,
        target=payment_query.target,
        start=payment_query.start,
        end=payment_query.end,
        overdue=late,
        overdue_query=overdue_query,
        reports=reports,
        payment_file=list_link(
            page,
            "/console/figures/online-payment",
            format="xlsx",
            **{"from": payment_query.start.isoformat(), "to": payment_query.end.isoformat()},
        ),
        overdue_file=list_link(
            page,
            "/console/figures/overdue",
            format="xlsx",
            from_month=overdue_query.from_month,
            to_month=overdue_query.to_month,
        ),
        report_file=lambda month: list_link(page, f"/console/figures/reports/{month}.xlsx"),
    )


@router.get("/console/figures/online-payment")
async def online_payment_file(
    page: PageDep,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    format_: str = Query("xlsx", alias="format"),
) -> Response:
    """The table as ``GET /kpi/online-payment?group=parent&format=…`` serves it."""
    page.province_wide()
    fmt = file_format(format_)
    query = await _payment_query(page, from_, to)
    body = await online_payment(page.session, page.province, query)
    return await export_online_payment(body, fmt, page.province, page.lang, filters_of(page))


@router.get("/console/figures/overdue")
async def overdue_file(
    page: PageDep,
    from_month: str | None = None,
    to_month: str | None = None,
    format_: str = Query("xlsx", alias="format"),
) -> Response:
    """The report as ``GET /kpi/overdue?group=parent&format=…`` serves it."""
    page.province_wide()
    fmt = file_format(format_)
    _, end = await dossier_period(page.session, page.province)
    query = _overdue_query(page, end, from_month, to_month)
    body = await overdue(page.session, page.province, query)
    return await export_overdue(body, fmt, page.province, page.lang, filters_of(page))


@router.get("/console/figures/reports/{month}")
async def monthly_report_file(page: PageDep, month: str) -> Response:
    """A frozen month's workbook, the same file as ``GET /reports/monthly?format=xlsx``."""
    page.province_wide()
    wanted = _month(month.removesuffix(".xlsx"), "", "month")
    report = await frozen_report(page.session, page.province, wanted)
    if report is None:
        raise NotFound(f"{wanted} is not frozen for {page.province}.", month=wanted)
    previous = await previous_frozen(page.session, page.province, report.month)
    loaded: dict[str, Any] = json.loads(report.body)
    return await report_workbook(
        loaded,
        (previous.month, json.loads(previous.body)) if previous else None,
        page.lang,
    )
