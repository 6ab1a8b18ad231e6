"""Runs, the reconcile request's answer and schedules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from app.models import RunStatus
from app.schemas.common import ApiModel, Cursor, Day, FreeForm, Timestamp


class RunSummary(ApiModel):
    run_id: str
    province_code: str
    scope: str = Field(description="`procedures`, `dossiers` or `all`.")
    status: RunStatus
    trigger: str = Field(description="`api` or `schedule`.")
    period_from: Day
    period_to: Day
    dry_run: bool
    accept_drop: bool
    full: bool = Field(description="A full re-check of P's procedures was asked for.")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    counts: FreeForm = Field(
        description="Per part: items read, keys, findings opened/updated/resolved, the "
        "province's summary, timings (`timings_s`), `peak_rss_mb`, `mode`, `sequence`…"
    )
    errors: list[str] = Field(description="Why the run is partial or failed.")


class RunDetail(RunSummary):
    listings: FreeForm = Field(description="Per listing: pages, items read, complete or why not.")
    upstream_stats: FreeForm = Field(description="Per upstream: requests, retries, status codes.")
    warnings: list[FreeForm] = Field(description="Data-quality warnings, with the item's key.")
    dry_run_sample: FreeForm = Field(
        description="A dry run: a sample of the changes it would make."
    )


class RunPage(ApiModel):
    items: list[RunSummary]
    next_cursor: Cursor


RUN_EXAMPLE: dict[str, Any] = {
    "run_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
    "province_code": "H53",
    "scope": "procedures",
    "status": "succeeded",
    "trigger": "api",
    "period_from": "2023-01-01",
    "period_to": "2023-11-30",
    "dry_run": False,
    "accept_drop": False,
    "full": False,
    "created_at": "2023-12-01T01:00:00+00:00",
    "started_at": "2023-12-01T01:00:00.120000+00:00",
    "finished_at": "2023-12-01T01:00:41.800000+00:00",
    "counts": {"mode": "full", "opened": 642, "updated": 0, "resolved": 0},
    "errors": [],
}


class ScheduleTickView(ApiModel):
    due_at: Timestamp
    due_local: Timestamp = Field(description="`due_at` in the schedule's time zone.")
    claimed_at: Timestamp
    replica: str = Field(description="The replica that fired the tick.")
    outcome: str = Field(
        description="`started`, `skipped` (a run was active), `failed` (the run could not be "
        "submitted, or the job raised: `detail` says why) or `claimed` (no outcome recorded yet)."
    )
    run_id: str | None
    link: str | None
    detail: str | None = Field(description="Why it was skipped or failed; a job's own summary.")


class ScopeSchedule(ApiModel):
    scope: str = Field(
        description="`procedures` or `dossiers` (a run), or `report` (the monthly report's "
        "freeze, a job)."
    )
    kind: Literal["run", "job"]
    every_s: float | None = Field(description="The interval in seconds; null: a cron, or off.")
    cron: str | None = Field(
        description="The cron expression, in local times of `timezone`; null: an interval, or off."
    )
    timezone: str = Field(description="The zone of `cron` and `next_due_local`.")
    enabled: bool = Field(
        description="Ticks fire: the scheduler is on, the scope has an interval or a cron, and "
        "(a job) the job is registered."
    )
    next_due_at: Timestamp | None = Field(description="The next tick, UTC; null: not enabled.")
    next_due_local: Timestamp | None = Field(description="The next tick in `timezone`.")
    ticks: list[ScheduleTickView] = Field(description="The last ticks, newest first.")


class Schedules(ApiModel):
    province_code: str
    schedules: list[ScopeSchedule]
