"""The dossier worklists: open mismatches (counted per reason and per agency, then listed),
dossiers paid offline and orphan platform transactions, each downloadable as the API's
workbook; and one dossier in full.

Every list is the API's own read (``app/read/dossiers.py``) under the same query object, so a
count or a row on the page is the one ``/dossiers/...`` answers for the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from app.console.deps import Page, PageDep
from app.console.downloads import download_list, file_format
from app.console.periods import dossier_period, parse_day
from app.domain.reasons import CATALOGUE, DOSSIER_CODES
from app.errors import BadRequest
from app.exports.dossier_lists import MISMATCHES, OFFLINE, ORPHAN_TRANSACTIONS
from app.read import dossiers
from app.read.dossiers import MismatchesQuery, OfflineQuery, OrphanTransactionsQuery
from app.read.kpi import hierarchy

router = APIRouter(include_in_schema=False)

Tab = Literal["mismatches", "offline", "orphans"]
TABS: Final[tuple[Tab, ...]] = ("mismatches", "offline", "orphans")
PAGE_SIZE: Final = 50


def _tab(value: str | None) -> Tab:
    if not value:
        return "mismatches"
    for tab in TABS:
        if value == tab:
            return tab
    raise BadRequest(f"The tabs are {', '.join(TABS)}; not {value!r}.")


def _reason(value: str | None) -> str | None:
    if not value:
        return None
    if value not in DOSSIER_CODES:
        raise BadRequest(f"{value!r} is not a dossier reason.", reasons=list(DOSSIER_CODES))
    return value


def _agency(page: Page, value: str | None) -> str | None:
    """An agency filter the key may use: another agency's is 404, as on the API's lists."""
    code = (value or "").strip() or None
    if code is not None:
        page.see_agency(code)
    return code


def list_link(page: Page, path: str = "/console/dossiers", **params: str | None) -> str:
    """A URL of the lists with these filters (empty ones left out), in the page's province."""
    if len(page.provinces) > 1:
        params = {"province": page.province, **params}
    kept = {key: value for key, value in params.items() if value}
    return path + ("?" + urlencode(kept) if kept else "")


def reason_title(code: str, lang: str) -> str:
    entry = CATALOGUE.get(code)
    if entry is None:
        return code
    return entry.title.vi if lang == "vi" else entry.title.en


def _mismatches_query(
    page: Page, reason: str | None, agency: str | None, cursor: str | None
) -> MismatchesQuery:
    return MismatchesQuery(
        reason=reason,
        agency=agency,
        lang=page.lang,
        visible=page.visible,
        limit=PAGE_SIZE,
        cursor=cursor,
    )


async def _offline_query(
    page: Page, agency: str | None, start: str | None, end: str | None, cursor: str | None
) -> OfflineQuery:
    default_start, default_end = await dossier_period(page.session, page.province)
    return OfflineQuery(
        start=parse_day(start, default_start),
        end=parse_day(end, default_end),
        agency=agency,
        lang=page.lang,
        visible=page.visible,
        limit=PAGE_SIZE,
        cursor=cursor,
    )


def _orphans_query(page: Page, agency: str | None, cursor: str | None) -> OrphanTransactionsQuery:
    return OrphanTransactionsQuery(
        agency=agency, lang=page.lang, visible=page.visible, limit=PAGE_SIZE, cursor=cursor
    )


@dataclass(frozen=True, slots=True)
class DossierFilters:
    """What the dossier lists and their downloads are filtered by, checked."""

    tab: Tab
    reason: str | None
    agency: str | None
    start: str | None
    end: str | None


async def dossier_filters(
    page: PageDep,
    tab: str | None = None,
    reason: str | None = None,
    agency: str | None = None,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
) -> DossierFilters:
    shown = _tab(tab)
    chosen = _reason(reason) if shown == "mismatches" else None
    return DossierFilters(shown, chosen, _agency(page, agency), from_, to)


FiltersDep = Annotated[DossierFilters, Depends(dossier_filters)]


@router.get("/console/dossiers", response_class=HTMLResponse)
async def dossier_lists(
    page: PageDep, filters: FiltersDep, cursor: str | None = None
) -> HTMLResponse:
    page.nav = "dossiers"
    code = filters.agency
    names = (await hierarchy(page.session, page.province)).names
    context: dict[str, Any] = {
        "tab": filters.tab,
        "agency": code or "",
        "reason": filters.reason or "",
        "cursor": cursor,
    }
    if filters.tab == "mismatches":
        query = _mismatches_query(page, filters.reason, code, cursor)
        context |= {
            "body": await dossiers.mismatches(page.session, page.province, query),
            "per_agency": await dossiers.mismatches_per_agency(page.session, page.province, query),
            # The agencies to filter by: those with findings of the chosen reason, any agency.
            "agency_choices": await dossiers.mismatch_agencies(
                page.session, page.province, _mismatches_query(page, filters.reason, None, None)
            ),
            "reasons": DOSSIER_CODES,
        }
    elif filters.tab == "offline":
        offline_query = await _offline_query(page, code, filters.start, filters.end, cursor)
        context |= {
            "body": await dossiers.offline(page.session, page.province, offline_query),
            "start": offline_query.start,
            "end": offline_query.end,
        }
    else:
        context["body"] = await dossiers.orphan_transactions(
            page.session, page.province, _orphans_query(page, code, cursor)
        )
    return page.render(
        "dossiers.html",
        names=names,
        reason_title=reason_title,
        link=lambda path="/console/dossiers", **params: list_link(page, path, **params),
        **context,
    )


@router.get("/console/dossiers/export")
async def dossier_list_file(
    page: PageDep, filters: FiltersDep, format_: str = Query("xlsx", alias="format")
) -> Response:
    """The tab's whole list under its filters, as the API's workbook (or CSV)."""
    fmt = file_format(format_)
    code = filters.agency
    if filters.tab == "mismatches":
        query = _mismatches_query(page, filters.reason, code, None)
        return await download_list(page, MISMATCHES, query, fmt)
    if filters.tab == "offline":
        offline_query = await _offline_query(page, code, filters.start, filters.end, None)
        return await download_list(page, OFFLINE, offline_query, fmt)
    return await download_list(page, ORPHAN_TRANSACTIONS, _orphans_query(page, code, None), fmt)


@router.get("/console/dossiers/{code:path}", response_class=HTMLResponse)
async def dossier(page: PageDep, code: str) -> HTMLResponse:
    """One dossier: both sides' records, the platform's transactions and its findings. Another
    agency's dossier is 404 for an agency key, as on ``GET /dossiers/{code}``."""
    page.nav = "dossiers"
    detail = await dossiers.dossier_detail(
        page.session, page.province, code, page.visible, page.lang
    )
    return page.render("dossiers_detail.html", code=code, detail=detail, reason_title=reason_title)
