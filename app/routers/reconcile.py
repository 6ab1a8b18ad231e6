"""POST /reconcile: start a run, join the identical active one, or refuse a different one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.dependencies import ExecutorDep, OperatorDep, ProvinceDep
from app.domain.records import Period
from app.domain.values import default_period, year_before
from app.errors import run_conflict
from app.models import RunScope
from app.reconcile.executor import RunConflict, RunRequest
from app.schemas.problems import problem_responses
from app.validation import Day

router = APIRouter(tags=["runs"])


class ReconcileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["procedures", "dossiers", "all"] = Field(
        default="procedures",
        description="procedures (§1–2), dossiers (§3) or all: both, as one run with one outcome.",
    )
    period_from: Day | None = Field(
        default=None, description="Local date, inclusive (Asia/Ho_Chi_Minh)."
    )
    period_to: Day | None = Field(default=None, description="Local date, inclusive.")
    dry_run: bool = False
    accept_drop: bool = Field(default=False, description="Accept a sharp drop in a listing's size.")
    full: bool = Field(
        default=False,
        description="Procedures: read every item of P (a full re-check, which also notices "
        "deletions) instead of only those changed since the last complete run.",
    )

    @model_validator(mode="after")
    def _period_is_ordered(self) -> ReconcileBody:
        if self.period_from and self.period_to and self.period_from > self.period_to:
            raise ValueError("period_from must not be after period_to")
        if self.period_from and self.period_to is None and self.period_from > default_period()[1]:
            raise ValueError("period_from must not be after today when period_to is not given")
        return self

    def period(self) -> Period:
        default_start, default_end = default_period()
        end = self.period_to or default_end
        start = self.period_from or (default_start if self.period_to is None else year_before(end))
        return Period(start, end)


class ReconcileAccepted(BaseModel):
    run_id: str
    status: str
    coalesced: bool
    link: str


@router.post(
    "/reconcile",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReconcileAccepted,
    summary="Start a run",
    description="Start a reconciliation run of the province (procedures, dossiers or both), or "
    "join the identical one already active (`coalesced: true`). A different request while a run "
    "is active is answered 409, naming the active run. Follow `link` for its outcome.",
    responses=problem_responses(
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        503,
        descriptions={409: "Another, different run of the province is active."},
        example={
            "run_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
            "status": "queued",
            "coalesced": False,
            "link": "/runs/0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
        },
        success=202,
    ),
)
async def reconcile(
    principal: OperatorDep,
    province: ProvinceDep,
    executor: ExecutorDep,
    body: Annotated[ReconcileBody | None, Body()] = None,
) -> ReconcileAccepted:
    request = body or ReconcileBody()
    try:
        submission = await executor.submit(
            province,
            RunRequest(
                scope=RunScope(request.scope),
                period=request.period(),
                dry_run=request.dry_run,
                accept_drop=request.accept_drop,
                full_check=request.full,
            ),
            trigger="api",
        )
    except RunConflict as exc:
        # One Conflict for every caller of this function: the console's runs page catches it.
        raise run_conflict(exc) from exc
    return ReconcileAccepted(
        run_id=submission.run.id,
        status=submission.run.status,
        coalesced=submission.coalesced,
        link=f"/runs/{submission.run.id}",
    )
