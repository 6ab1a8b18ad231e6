"""GET /runs and /runs/{run_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from app.dependencies import ProvinceDep, ReaderDep, SessionDep
from app.models import RunStatus
from app.read.runs import get_run, list_runs, run_view
from app.validation import CursorParam, Text

router = APIRouter(tags=["runs"])


@router.get("/runs")
async def runs(
    principal: ReaderDep,
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


@router.get("/runs/{run_id}")
async def run(
    principal: ReaderDep,
    session: SessionDep,
    run_id: Annotated[Text, Path(max_length=64)],
) -> dict[str, Any]:
    return run_view(await get_run(session, run_id), detail=True)
