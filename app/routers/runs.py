"""GET /runs and /runs/{run_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from app.dependencies import ProvinceDep, ProvinceReaderDep, SessionDep
from app.models import RunStatus
from app.read.runs import get_run, list_runs, run_view
from app.schemas.problems import READER, problem_responses
from app.schemas.runs import RUN_EXAMPLE, RunDetail, RunPage
from app.validation import CursorParam, Text

router = APIRouter(tags=["runs"])


@router.get(
    "/runs",
    response_model=RunPage,
    summary="List runs",
    description="The province's runs, newest first, with their status, period, counts and "
    "errors. Page with `next_cursor`.",
    responses=problem_responses(*READER, example={"items": [RUN_EXAMPLE], "next_cursor": None}),
)
async def runs(
    principal: ProvinceReaderDep,
    session: SessionDep,
    province: ProvinceDep,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    return await list_runs(
        session,
        province_code=province,
        status=status,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="One run in full",
    description="A run with everything it recorded: per-listing completeness, upstream request "
    "and retry statistics, data-quality warnings and, for a dry run, a sample of the changes.",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def run(
    principal: ProvinceReaderDep,
    session: SessionDep,
    run_id: Annotated[Text, Path(max_length=64)],
) -> dict[str, Any]:
    return run_view(await get_run(session, run_id), detail=True)
