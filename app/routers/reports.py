"""Monthly reports: freeze a month, read a frozen one (JSON or XLSX) with its change, list them."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request, Response

from app.dependencies import (
    LangDep,
    OperatorDep,
    ProvinceDep,
    ProvinceReaderDep,
    SessionDep,
    SettingsDep,
)
from app.errors import NotFound
from app.read.kpi import parse_month
from app.reports.change import answer_json
from app.reports.monthly import freeze_month, frozen_months, frozen_report, previous_frozen
from app.reports.workbook import report_workbook
from app.routers.export_params import FIGURE_FORMATS, chosen_format, with_exports
from app.schemas.problems import READER, problem_responses
from app.schemas.reports import FrozenMonths, MonthlyReportAnswer, MonthlyReportBody
from app.validation import Month

router = APIRouter(prefix="/reports", tags=["reports"])

REPORT_FORMATS: Final = tuple(fmt for fmt in FIGURE_FORMATS if fmt != "csv")  # json, xlsx
MonthParam = Annotated[
    Month, Query(description="The calendar month, YYYY-MM.", examples=["2023-11"])
]
ReportFormat = Annotated[
    Literal["json", "xlsx"] | None,
    Query(
        alias="format", description="`xlsx` for the workbook; else the `Accept` header; else JSON."
    ),
]

CHANGE_DESCRIPTION = """\
The answer is `{"report": <the stored body, byte for byte>, "previous_month": "2023-10" | null,
"change": {...} | null}`, keys in that (sorted) order, compact, UTF-8: the same two frozen
months always give the same bytes.

`change` compares the report with the latest month frozen before it (`previous_month`), from
the two frozen bodies only, never from live data. A rate changes in points
(`round((now − before) × 100, 2)`), a count by its difference; a value missing on one side
(a unit new this month, a rate over nothing) makes the change `null`, both values staying shown.
Lists are ordered by code (then level), not by rank:

- `levels.<tinh|huyen|xa>`: `rate`, `previous_rate`, `rate_points`, `not_synced`,
  `previous_not_synced`, `not_synced_change`, `fee_bearing`, `previous_fee_bearing`;
- `agencies[]`: per `agency_code` and `level`, the same rate and not-synced fields;
- `online_payment.month` and `.year_to_date`: `province` and `items[]` per top-level unit
  (`group`, `name`): `portal_rate`, `previous_portal_rate`, `portal_rate_points`,
  `verified_rate`, `previous_verified_rate`, `verified_rate_points`, `fee_bearing`,
  `previous_fee_bearing`, `fee_bearing_change`;
- `overdue`: `province` and `items[]` per top-level unit: `rate`, `previous_rate`,
  `rate_points`, `overdue`, `previous_overdue`, `overdue_change`, `open_past_due`,
  `previous_open_past_due`, `open_past_due_change`;
- `from_month`, `to_month`.

`format=xlsx` (or `Accept`): the same as a workbook, `bao-cao-thang-2023-11-H53.xlsx`: per level,
per agency, online payment of the departments (CapDonVi 1) and of the districts (CapDonVi 2)
worst first against the target, overdue per unit, and the change; headers in `lang`
(Vietnamese by default). Its creation date is the freeze's time, so it too is the same file
every time. 404 when the month is not frozen; agency-scoped keys get 403 (the report holds every
agency).
"""


def _not_frozen(province: str, month: str) -> NotFound:
    return NotFound(
        f"{month} is not frozen for {province}. An operator freezes it with "
        f"POST /reports/monthly?month={month} once the month has ended (add "
        "allow_incomplete=true to freeze figures no complete run covered); the report "
        "schedule freezes the month before on the 1st.",
        month=month,
    )


@router.post(
    "/monthly",
    response_model=MonthlyReportBody,
    status_code=201,
    summary="Freeze a month's report",
    description="Composes the month's figures (procedure sync per level and per agency, online "
    "payment and overdue per top-level unit, coverage) and stores them as they are now: 201 "
    "with the report. A month already frozen is never rewritten: 200 with the stored report. "
    "409 for a month that has not ended (Vietnam time), and for incomplete figures (no complete "
    "procedure run, or no complete dossier run covering the month) unless "
    '`allow_incomplete=true`, which freezes them with `"complete": false`.',
    responses={
        **problem_responses(*READER, 409),
        200: {"description": "Already frozen: the stored report.", "model": MonthlyReportBody},
    },
)
async def freeze(
    principal: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    month: MonthParam,
    allow_incomplete: Annotated[
        bool, Query(description="Freeze even if the figures are incomplete (said in the body).")
    ] = False,
) -> Response:
    year, number = parse_month(month, "month")
    frozen = await freeze_month(
        session,
        province,
        year,
        number,
        online_target=settings.online_target(year),
        allow_incomplete=allow_incomplete,
    )
    return Response(
        content=frozen.report.body.encode(),
        media_type="application/json",
        status_code=201 if frozen.created else 200,
    )


@router.get(
    "/monthly",
    response_model=MonthlyReportAnswer,
    summary="A frozen month's report",
    description=CHANGE_DESCRIPTION,
    responses=with_exports(problem_responses(*READER), REPORT_FORMATS),
)
async def monthly(
    request: Request,
    principal: ProvinceReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    lang: LangDep,
    month: MonthParam,
    format_: ReportFormat = None,
) -> Response:
    year, number = parse_month(month, "month")
    chosen = chosen_format(request, format_, REPORT_FORMATS)
    report = await frozen_report(session, province, f"{year:04d}-{number:02d}")
    if report is None:
        raise _not_frozen(province, month)
    previous = await previous_frozen(session, province, report.month)
    if chosen == "xlsx":
        return await report_workbook(
            json.loads(report.body),
            (previous.month, json.loads(previous.body)) if previous else None,
            lang,
        )
    body = answer_json(report.body, (previous.month, previous.body) if previous else None)
    return Response(content=body, media_type="application/json")


@router.get(
    "/monthly/months",
    response_model=FrozenMonths,
    summary="The frozen months",
    description="Every month frozen for the province, latest first, with when it was frozen, "
    "whether its figures were complete, the runs it stands on and its body's SHA-256.",
    responses=problem_responses(*READER),
)
async def months(
    principal: ProvinceReaderDep, session: SessionDep, province: ProvinceDep
) -> dict[str, Any]:
    return {
        "province_code": province,
        "items": [
            {
                "month": report.month,
                "frozen_at": report.frozen_at.isoformat(),
                "complete": bool(json.loads(report.body).get("complete")),
                "procedure_run_id": report.procedure_run_id,
                "dossier_run_id": report.dossier_run_id,
                "sha256": report.sha256,
                "link": f"/reports/monthly?month={report.month}&province={province}",
            }
            for report in await frozen_months(session, province)
        ],
    }
