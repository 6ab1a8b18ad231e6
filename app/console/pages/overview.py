"""The province at a glance: procedures synced per level against the year's target and its
trend, online payment per group against its target, overdue per month, and how old the data is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from app.console import formatting
from app.console.charts import bar_chart, trend_chart
from app.console.deps import Page, PageDep
from app.console.periods import dossier_period, month_of, months_back
from app.models import Run, RunScope
from app.models.types import utcnow
from app.read.freshness import SCOPES, scope_freshness
from app.read.kpi import OnlinePaymentQuery, OverdueQuery, online_payment, overdue
from app.read.procedures import level_figures
from app.settings import Settings

router = APIRouter(include_in_schema=False)
TREND_RUNS = 30
LEVEL_NAMES = {
    "tinh": ("Cấp tỉnh", "Province level"),
    "huyen": ("Cấp huyện", "District level"),
    "xa": ("Cấp xã", "Commune level"),
}


def level_name(level: str, lang: str) -> str:
    vi, en = LEVEL_NAMES.get(level, (level, level))
    return vi if lang == "vi" else en


async def _trend(page: Page) -> list[tuple[Run, dict[str, Any]]]:
    """The complete procedure runs with their figures per level, oldest first."""
    rows = await page.session.exec(
        select(Run)
        .where(
            col(Run.province_code) == page.province,
            col(Run.scope).in_([RunScope.PROCEDURES, RunScope.ALL]),
            col(Run.dry_run).is_(False),
            col(Run.finished_at).is_not(None),
        )
        .order_by(col(Run.finished_at).desc())
        .limit(TREND_RUNS * 2)
    )
    points = []
    for run in rows.all():
        counts = run.counts or {}
        part = counts.get("procedures", {}) if run.scope == RunScope.ALL else counts
        if run.scope == RunScope.ALL and part.get("status") != "succeeded":
            continue
        if run.scope != RunScope.ALL and run.status != "succeeded":
            continue
        if part.get("summary"):
            # The province's figure per level as this run left it (counts.summary).
            points.append((run, part["summary"]))
    return list(reversed(points[:TREND_RUNS]))


async def _last_runs(page: Page) -> dict[str, Run | None]:
    last: dict[str, Run | None] = {}
    for scope in ("procedures", "dossiers", "all"):
        rows = await page.session.exec(
            select(Run)
            .where(col(Run.province_code) == page.province, col(Run.scope) == scope)
            .order_by(col(Run.created_at).desc())
            .limit(1)
        )
        last[scope] = rows.first()
    return last


@router.get("/", response_class=HTMLResponse)
async def overview(page: PageDep) -> HTMLResponse:
    page.nav = "overview"
    settings: Settings = page.request.app.state.settings
    session, province = page.session, page.province
    levels = await level_figures(session, province, page.visible)
    start, end = await dossier_period(session, province)
    sync_target = settings.sync_target(end.year)
    online_target = settings.online_target(end.year)
    payment = await online_payment(
        session,
        province,
        OnlinePaymentQuery(
            start=start,
            end=end,
            target=online_target,
            group="parent",
            visible=page.visible,
            lang=page.lang,
        ),
    )
    late = await overdue(
        session,
        province,
        OverdueQuery(
            from_month=months_back(end, 3),
            to_month=month_of(end),
            group="province",
            visible=page.visible,
        ),
    )
    # Runs keep the province's figures only: an agency key sees its own tiles, no trend.
    trend = await _trend(page) if page.visible is None else []
    shown_levels = list(levels) or ["tinh"]
    trend_svg = trend_chart(
        [formatting.moment(run.finished_at, page.lang)[:5] for run, _ in trend],
        [
            (
                level_name(level, page.lang),
                [figures.get(level, {}).get("rate") for _, figures in trend],
            )
            for level in shown_levels
        ],
        sync_target,
    )
    groups = [
        (item.get("name") or item["group"], item.get("portal_rate"))
        for item in payment["items"]
        if item.get("fee_bearing")
    ]
    now = utcnow()
    fresh = {scope.value: await scope_freshness(session, province, scope) for scope in SCOPES}
    return page.render(
        "overview.html",
        levels=levels,
        level_name=level_name,
        sync_target=sync_target,
        trend=trend,
        trend_svg=trend_svg,
        payment=payment,
        payment_svg=bar_chart(groups[:20], online_target),
        online_target=online_target,
        overdue=late,
        period=(start, end),
        fresh=fresh,
        now=now,
        last_runs=await _last_runs(page) if page.user.principal.agency_code is None else {},
    )
