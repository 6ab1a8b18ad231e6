"""Agencies worst first, and one agency's worklist: what to fix, where, and who acts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
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


async def summary_query(
    page: PageDep,
    level: Level = None,
    group: Group = "agency",
    view: Annotated[ListView, Query()] = "procedure",
) -> AgencySummaryQuery:
    """The agencies page's filters, shared by its download."""
    return AgencySummaryQuery(
        view=view, group=group, level=level, lang=page.lang, visible=page.visible
    )


SummaryQueryDep = Annotated[AgencySummaryQuery, Depends(summary_query)]


@router.get("", response_class=HTMLResponse)
async def agencies(page: PageDep, query: SummaryQueryDep) -> HTMLResponse:
    page.nav = "agencies"
    return page.render(
        "agencies.html",
        summary=await agency_summary(page.session, page.province, query),
        level=query.level,
        group=query.group,
        view=query.view,
        level_name=level_name,
    )


@router.get("/export")
async def agencies_export(page: PageDep, query: SummaryQueryDep, format: str = "xlsx") -> Response:
    body = await agency_summary(page.session, page.province, query)
    fmt = file_format(format)
    return await export_agency_summary(body, fmt, page.province, page.lang, filters_of(page))


@dataclass(frozen=True, slots=True)
class WorklistFilters:
    """What a worklist page and its download are filtered by."""

    tab: str
    level: str | None
    reason_code: str | None
    include_descendants: bool


async def worklist_filters(
    tab: Tab = "unsynced",
    level: Level = None,
    reason_code: Annotated[str | None, Query(alias="reason", max_length=64)] = None,
    include_descendants: bool = False,
) -> WorklistFilters:
    # A reason narrows the unsynced list only: a synced configuration has none.
    return WorklistFilters(
        tab, level, reason_code if tab == "unsynced" else None, include_descendants
    )


WorklistFiltersDep = Annotated[WorklistFilters, Depends(worklist_filters)]


def _worklist_query(
    page: PageDep, agency_code: str, filters: WorklistFilters, cursor: str | None
) -> ConfigurationsQuery:
    return ConfigurationsQuery(
        synced=filters.tab == "synced",
        level=filters.level,
        agency=agency_code,
        include_descendants=filters.include_descendants,
        reason=filters.reason_code,
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
    filters: WorklistFiltersDep,
    cursor: CursorParam = None,
) -> HTMLResponse:
    page.nav = "agencies"
    page.see_agency(agency_code)
    tree = await hierarchy(page.session, page.province)
    listed = await configurations(
        page.session, page.province, _worklist_query(page, agency_code, filters, cursor)
    )
    counts = await agency_summary(
        page.session,
        page.province,
        AgencySummaryQuery(
            view="configuration",
            agency=agency_code,
            include_descendants=filters.include_descendants,
            level=filters.level,
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
        tab=filters.tab,
        level=filters.level,
        reason_code=filters.reason_code,
        include_descendants=filters.include_descendants,
        reasons=[(code, reason(code).title.get(page.lang)) for code in PROCEDURE_CODES],
        level_name=level_name,
        filters=filters_of(page),
    )


@router.get("/{agency_code}/export")
async def worklist_export(
    page: PageDep,
    agency_code: Annotated[AgencyCode, Path()],
    filters: WorklistFiltersDep,
    format: str = "xlsx",
) -> Response:
    page.see_agency(agency_code)
    fmt = file_format(format)
    query = _worklist_query(page, agency_code, filters, None)
    return await download_list(page, SYNCED if filters.tab == "synced" else UNSYNCED, query, fmt)
