"""Agencies worst first, and one agency's worklist: what to fix, where, and who acts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from app.console.deps import PageDep
from app.console.downloads import download_list, file_format, filters_of
from app.console.pages.overview import level_name
from app.domain.reasons import PROCEDURE_CODES, reason
from app.exports.procedure_lists import SYNCED, UNSYNCED
from app.read.agencies import AgencySummaryQuery, agency_summary
from app.read.kpi import hierarchy
from app.read.procedures import ConfigurationsQuery, ListView, configurations
from app.routers.figure_exports import export_agency_summary
from app.validation import AgencyCode, CursorParam

router = APIRouter(prefix="/console/agencies", include_in_schema=False)
PAGE_SIZE = 50
Level = Annotated[Literal["tinh", "huyen", "xa"] | None, Query()]
Group = Annotated[Literal["agency", "parent"], Query()]
Tab = Annotated[Literal["unsynced", "synced"], Query()]


def _summary_query(
    page: PageDep, view: ListView, group: str, level: str | None
) -> AgencySummaryQuery:
    return AgencySummaryQuery(
        view=view,
        group="parent" if group == "parent" else "agency",
        level=level,
        lang=page.lang,
        visible=page.visible,
    )


@router.get("", response_class=HTMLResponse)
async def agencies(
    page: PageDep,
    level: Level = None,
    group: Group = "agency",
    view: Annotated[ListView, Query()] = "procedure",
) -> HTMLResponse:
    page.nav = "agencies"
    body = await agency_summary(
        page.session, page.province, _summary_query(page, view, group, level)
    )
    return page.render(
        "agencies.html",
        summary=body,
        level=level,
        group=group,
        view=view,
        level_name=level_name,
        reason_title=lambda code: reason(code).title.get(page.lang),
    )


@router.get("/export")
async def agencies_export(
    page: PageDep,
    level: Level = None,
    group: Group = "agency",
    view: Annotated[ListView, Query()] = "procedure",
    format: str = "xlsx",
) -> Response:
    fmt = file_format(format)
    body = await agency_summary(
        page.session, page.province, _summary_query(page, view, group, level)
    )
    return await export_agency_summary(body, fmt, page.province, page.lang, filters_of(page))


def _worklist_query(
    page: PageDep,
    agency_code: str,
    tab: str,
    level: str | None,
    reason_code: str | None,
    include_descendants: bool,
    cursor: str | None,
) -> ConfigurationsQuery:
    return ConfigurationsQuery(
        synced=tab == "synced",
        level=level,
        agency=agency_code,
        include_descendants=include_descendants,
        reason=reason_code if tab == "unsynced" else None,
        view="configuration",
        lang=page.lang,
        visible=page.visible,
        limit=PAGE_SIZE,
        cursor=cursor,
    )


@router.get("/{agency_code}", response_class=HTMLResponse)
async def worklist(
    page: PageDep,
    agency_code: Annotated[AgencyCode, Path()],
    tab: Tab = "unsynced",
    level: Level = None,
    reason_code: Annotated[str | None, Query(alias="reason", max_length=64)] = None,
    include_descendants: bool = False,
    cursor: CursorParam = None,
) -> HTMLResponse:
    page.nav = "agencies"
    page.see_agency(agency_code)
    tree = await hierarchy(page.session, page.province)
    query = _worklist_query(page, agency_code, tab, level, reason_code, include_descendants, cursor)
    listed = await configurations(page.session, page.province, query)
    counts = await agency_summary(
        page.session,
        page.province,
        AgencySummaryQuery(
            view="configuration",
            agency=agency_code,
            include_descendants=include_descendants,
            level=level,
            lang=page.lang,
            visible=page.visible,
        ),
    )
    return page.render(
        "worklist.html",
        agency_code=agency_code,
        agency_name=tree.names.get(agency_code),
        listed=listed,
        counts=counts,
        tab=tab,
        level=level,
        reason_code=reason_code,
        include_descendants=include_descendants,
        reasons=[(code, reason(code).title.get(page.lang)) for code in PROCEDURE_CODES],
        level_name=level_name,
        filters=filters_of(page),
    )


@router.get("/{agency_code}/export")
async def worklist_export(
    page: PageDep,
    agency_code: Annotated[AgencyCode, Path()],
    tab: Tab = "unsynced",
    level: Level = None,
    reason_code: Annotated[str | None, Query(alias="reason", max_length=64)] = None,
    include_descendants: bool = False,
    format: str = "xlsx",
) -> Response:
    page.see_agency(agency_code)
    fmt = file_format(format)
    query = _worklist_query(page, agency_code, tab, level, reason_code, include_descendants, None)
    return await download_list(page, SYNCED if tab == "synced" else UNSYNCED, query, fmt)
