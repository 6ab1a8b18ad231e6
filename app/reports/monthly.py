"""Freezing a month's report: its figures composed from the reads once, stored, never rewritten.

A report is frozen after its month has ended (local time, Asia/Ho_Chi_Minh), by the ``report``
schedule on the 1st or by an operator for any past month. It holds:

- ``procedures``: the province's figure per level (the letters' unit) and the complete
  procedure run it stands on;
- ``agencies``: per agency and level, procedures synced and not, and why (``view=procedure``);
- ``online_payment``: per top-level unit, the month's and the year-to-date's fee-bearing dossiers
  paid online against the year's target, each unit with its ``agency_level`` (CapDonVi);
- ``overdue``: per top-level unit, the month's finished, overdue, rate, change in points against
  the month before and open past due at its end;
- ``coverage``: the complete dossier run that covered the month, if one did.

Procedure figures are a snapshot, not a history: they are those of the latest complete procedure
run when the month is frozen (which is why the schedule freezes on the 1st). Dossier figures are
per period and read the same whenever the month is frozen, as long as the dossier snapshot
still covers it.

The body is canonical JSON (app/reports/canonical.py) stored as text: what is served later is
those bytes, whatever the data have become since.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.domain.values import LOCAL_TZ, local_today
from app.errors import Conflict
from app.models import MonthlyReport, Run, RunScope
from app.models.types import utcnow
from app.read import kpi
from app.read.agencies import AgencySummaryQuery, agency_summary
from app.read.procedures import level_figures
from app.reports.canonical import canonical_json, sha256_of
from app.runs_history import latest_complete

REPORT_VERSION: Final = 1  # the body's layout; a reader of old rows may need to know it


def month_text(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_days(year: int, month: int) -> tuple[date, date]:
    """The month's first and last day."""
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date(year, month, 1), following - timedelta(days=1)


def month_before(moment: datetime) -> tuple[int, int]:
    """The calendar month before the one ``moment`` falls in, in Vietnam's local time: a tick
    due at 07:00 on 1 December (00:00 UTC) reports November."""
    local = moment.astimezone(LOCAL_TZ)
    return (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)


@dataclass(frozen=True, slots=True)
class Frozen:
    report: MonthlyReport
    created: bool  # frozen by this call (False: it already was)


async def frozen_report(
    session: AsyncSession, province_code: str, month: str
) -> MonthlyReport | None:
    return await session.get(MonthlyReport, (province_code, month))


async def previous_frozen(
    session: AsyncSession, province_code: str, month: str
) -> MonthlyReport | None:
    """The latest month frozen before ``month`` ("YYYY-MM" sorts as text as it does in time)."""
    rows = await session.exec(
        select(MonthlyReport)
        .where(col(MonthlyReport.province_code) == province_code, col(MonthlyReport.month) < month)
        .order_by(col(MonthlyReport.month).desc())
        .limit(1)
    )
    return rows.first()


async def frozen_months(session: AsyncSession, province_code: str) -> list[MonthlyReport]:
    rows = await session.exec(
        select(MonthlyReport)
        .where(col(MonthlyReport.province_code) == province_code)
        .order_by(col(MonthlyReport.month).desc())
    )
    return list(rows.all())


def _run_ref(run: Run) -> dict[str, Any]:
    """The run as the procedure reads name it (``RunRef``)."""
    return {
        "run_id": run.id,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "period_from": run.period_from.isoformat(),
        "period_to": run.period_to.isoformat(),
    }


def _with_levels(answer: dict[str, Any], tree: kpi.Hierarchy) -> dict[str, Any]:
    """The online-payment answer with each unit's CapDonVi, so that the report can tell the
    departments (1) from the districts (2) without the agency table of later days."""
    items = [{**item, "agency_level": tree.levels.get(item["group"])} for item in answer["items"]]
    return {**answer, "items": items}


async def compose(
    session: AsyncSession,
    province_code: str,
    year: int,
    month: int,
    *,
    online_target: float,
    frozen_at: datetime,
) -> dict[str, Any]:
    """The month's figures from the reads, as the body to freeze (not yet checked complete)."""
    first, last = month_days(year, month)
    text = month_text(year, month)
    procedures = await latest_complete(session, province_code, RunScope.PROCEDURES)
    levels = await level_figures(session, province_code, None)
    agencies = await agency_summary(session, province_code, AgencySummaryQuery(view="procedure"))
    tree = await kpi.hierarchy(session, province_code)
    in_month = await kpi.online_payment(
        session,
        province_code,
        kpi.OnlinePaymentQuery(start=first, end=last, target=online_target, group="parent"),
    )
    year_to_date = await kpi.online_payment(
        session,
        province_code,
        kpi.OnlinePaymentQuery(
            start=date(year, 1, 1), end=last, target=online_target, group="parent"
        ),
    )
    overdue = await kpi.overdue(
        session, province_code, kpi.OverdueQuery(from_month=text, to_month=text, group="parent")
    )
    coverage = await kpi.coverage(session, province_code, first, last)
    procedure_ref = _run_ref(procedures.run) if procedures else None
    incomplete = []
    if procedures is None:
        incomplete.append("no complete procedure run")
    if not coverage["complete"]:
        incomplete.append(f"no complete dossier run covered {first.isoformat()}…{last.isoformat()}")
    return {
        "version": REPORT_VERSION,
        "province_code": province_code,
        "month": text,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "frozen_at": frozen_at.isoformat(),
        "complete": not incomplete,
        "incomplete": incomplete,
        "procedures": {
            "as_of": procedure_ref,
            "levels": {level: f.model_dump(mode="json") for level, f in levels.items()},
        },
        "agencies": agencies.model_dump(mode="json"),
        "online_payment": {
            "target": online_target,
            "month": _with_levels(in_month, tree),
            "year_to_date": _with_levels(year_to_date, tree),
        },
        "overdue": overdue,
        "coverage": coverage,
    }


async def freeze_month(
    session: AsyncSession,
    province_code: str,
    year: int,
    month: int,
    *,
    online_target: float,
    allow_incomplete: bool = False,
    now: datetime | None = None,
) -> Frozen:
    """The month's report, frozen now or earlier. Raises ``Conflict`` (409) for a month that has
    not ended, and for incomplete figures (no complete procedure run, or no complete dossier run
    covering the month) unless ``allow_incomplete``: the body then says ``"complete": false`` and
    lists why in ``incomplete``. A frozen month is returned as it is, never rewritten."""
    text = month_text(year, month)
    existing = await frozen_report(session, province_code, text)
    if existing is not None:
        return Frozen(existing, created=False)
    moment = (now or utcnow()).astimezone(UTC)
    _, last = month_days(year, month)
    if local_today(moment) <= last:
        # Not even with allow_incomplete: the month's figures are still moving.
        raise Conflict(
            f"{text} has not ended yet (Vietnam time); it can be frozen from "
            f"{(last + timedelta(days=1)).isoformat()}.",
            month=text,
        )
    frozen_at = moment.replace(microsecond=0)  # what the body says and the column holds alike
    body = await compose(
        session, province_code, year, month, online_target=online_target, frozen_at=frozen_at
    )
    if not body["complete"] and not allow_incomplete:
        raise Conflict(
            f"The figures of {text} are incomplete: {'; '.join(body['incomplete'])}. Run a "
            "complete reconciliation covering the month first, or freeze it as it is with "
            "allow_incomplete=true.",
            month=text,
            incomplete=body["incomplete"],
        )
    text_body = canonical_json(body)
    procedures = body["procedures"]["as_of"]
    report = MonthlyReport(
        province_code=province_code,
        month=text,
        frozen_at=frozen_at,
        procedure_run_id=procedures["run_id"] if procedures else None,
        dossier_run_id=body["coverage"]["run_id"],
        body=text_body,
        sha256=sha256_of(text_body),
    )
    session.add(report)
    try:
        await session.commit()
    except IntegrityError:
        # Another replica (or request) froze it meanwhile: theirs stands.
        await session.rollback()
        existing = await frozen_report(session, province_code, text)
        if existing is None:
            raise
        return Frozen(existing, created=False)
    return Frozen(report, created=True)


def scheduled_freeze(
    factory: SessionFactory, online_target: Callable[[int], float]
) -> Callable[[str, datetime], Awaitable[str | None]]:
    """The ``report`` job (app/scheduler.py): freezes the month before the tick's due time
    (local). Incomplete figures are refused (``Conflict``), so the tick records ``failed``
    with the reason; an operator can then run a reconciliation and freeze on demand."""

    async def freeze(province_code: str, due_at: datetime) -> str | None:
        year, month = month_before(due_at)
        async with factory() as session:
            frozen = await freeze_month(
                session, province_code, year, month, online_target=online_target(year)
            )
        report = frozen.report
        state = "frozen" if frozen.created else "already frozen"
        return f"{report.month} {state} at {report.frozen_at.isoformat()} (sha256 {report.sha256})"

    return freeze
