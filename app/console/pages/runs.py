"""Console pages: the province's runs, one run in full with its live progress, and starting a run.

Runs carry every agency's counts, so these pages are province-wide (no agency key). They read
the same models as ``GET /runs`` and ``GET /runs/{id}``, and the start form calls the very route
function of ``POST /reconcile``, so a run started here is one started through the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.auth import Role
from app.console.deps import FormPageDep, Page, PageDep
from app.dependencies import get_executor
from app.errors import BadRequest, Conflict
from app.models import ACTIVE_STATUSES, Run, RunStatus
from app.models.types import utcnow
from app.read.runs import get_run, list_runs, run_view
from app.reconcile.executor import RunExecutor
from app.routers.reconcile import ReconcileBody, reconcile

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
SCOPES = ("procedures", "dossiers", "all")


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _duration_s(view: dict[str, Any]) -> float | None:
    started, finished = _moment(view["started_at"]), _moment(view["finished_at"])
    if started is None:
        return None
    return ((finished or utcnow()) - started).total_seconds()


def _status_filter(status: str) -> RunStatus | None:
    if not status:
        return None
    try:
        return RunStatus(status)
    except ValueError:
        raise BadRequest(
            f"No run status {status!r}; one of {', '.join(s.value for s in RunStatus)}."
        ) from None


async def _list_page(
    page: Page,
    *,
    status: str = "",
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    problem: str | None = None,
    active_run_id: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listing = await list_runs(
        page.session,
        province_code=page.province,
        status=_status_filter(status),
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    return page.render(
        "runs.html",
        status_code=status_code,
        runs=listing["items"],
        next_cursor=listing["next_cursor"],
        paged=bool(cursor),
        status=status,
        statuses=[s.value for s in RunStatus],
        scopes=SCOPES,
        duration_s=_duration_s,
        form=form or {"scope": "procedures", "period_from": "", "period_to": ""},
        problem=problem,
        active_run_id=active_run_id,
    )


@router.get("/console/runs", response_class=HTMLResponse)
async def runs(page: PageDep, status: str = "", cursor: str = "") -> HTMLResponse:
    page.nav = "runs"
    page.province_wide()
    return await _list_page(page, status=status, cursor=cursor)


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'period'}: {error['msg']}"
        for error in exc.errors()
    )


@router.post("/console/runs", response_class=HTMLResponse)
async def start_run(
    page: FormPageDep,
    scope: Annotated[str, Form()] = "procedures",
    period_from: Annotated[str, Form()] = "",
    period_to: Annotated[str, Form()] = "",
) -> Response:
    page.nav = "runs"
    page.province_wide()
    page.require(Role.OPERATOR)
    form = {"scope": scope, "period_from": period_from, "period_to": period_to}
    try:
        body = ReconcileBody.model_validate(
            {"scope": scope, "period_from": period_from or None, "period_to": period_to or None}
        )
    except ValidationError as exc:
        return await _list_page(page, form=form, problem=_validation_message(exc), status_code=422)
    try:
        accepted = await reconcile(
            principal=page.user.principal,
            province=page.province,
            executor=await get_executor(page.request),
            body=body,
        )
    except Conflict as exc:
        # Another run of the province is active: say so on the page, with a link to it.
        return await _list_page(
            page,
            form=form,
            problem=exc.detail,
            active_run_id=exc.extra.get("active_run_id"),
            status_code=409,
        )
    path = f"/console/runs/{accepted.run_id}"
    if len(page.provinces) > 1:
        path += f"?province={page.province}"
    return RedirectResponse(path, status_code=303)


def _live_pages(page: Page, run: Run) -> dict[str, int] | None:
    """Pages read per listing while the run executes on this replica; None when it is not
    here (another replica runs it, or it has ended): then only its record is shown."""
    executor: RunExecutor = page.request.app.state.executor
    return executor.progress(run.id) if run.status in ACTIVE_STATUSES else None


@router.get("/console/runs/{run_id}", response_class=HTMLResponse)
async def run_detail(page: PageDep, run_id: str) -> HTMLResponse:
    page.nav = "runs"
    page.province_wide()
    run = await get_run(page.session, run_id)
    view = run_view(run, detail=True)
    return page.render(
        "runs_detail.html",
        run=view,
        active=run.status in ACTIVE_STATUSES,
        live_pages=_live_pages(page, run),
        duration_s=_duration_s,
    )


@router.get("/console/runs/{run_id}/progress", response_class=HTMLResponse)
async def run_progress(page: PageDep, run_id: str) -> HTMLResponse:
    """The htmx fragment of the run page: polls itself while the run is active, and answers
    its final state without a trigger once it has ended, which stops the polling."""
    page.province_wide()
    run = await get_run(page.session, run_id)
    return page.render(
        "runs_progress.html",
        run=run_view(run, detail=True),
        active=run.status in ACTIVE_STATUSES,
        live_pages=_live_pages(page, run),
        duration_s=_duration_s,
    )
