"""Runs and jobs on a schedule, from every replica, each tick fired by exactly one of them.

A tick is (province, scope, slot), the slot being the number app/cadence.py gives the moment (an
interval's count since the Unix epoch, a cron's latest fire time in epoch seconds), so every
replica computes the same tick for the same moment. Firing starts with inserting the tick's row:
the primary key lets one insert succeed and the others fail, whichever replica gets there first,
and the row then records what came of the tick. A tick that finds a run of the province active
is skipped and recorded (semantics §0: one run per province at a time). A replica that dies
between claiming and firing loses that one tick; the next fires as usual.

A scope is a run scope (procedures, dossiers: the tick submits a run) or the name of a job, an
async callback ``(province_code, due_at) -> detail`` such as the monthly report's freeze: the
tick awaits it and records ``started`` with what it returned, or ``failed`` with its error. The
poll waits for it too, so a job that takes long should start its own task and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.cadence import Cadence, Slot
from app.db import SessionFactory
from app.domain.records import Period
from app.domain.values import default_period
from app.metrics import SCHEDULE_TICKS
from app.models import RunScope, ScheduleTick, TickOutcome
from app.models.types import utcnow
from app.reconcile.executor import RunConflict, RunExecutor, RunRequest

logger = logging.getLogger(__name__)

Job = Callable[[str, datetime], Awaitable[str | None]]
RUN_SCOPES = frozenset({RunScope.PROCEDURES.value, RunScope.DOSSIERS.value})
DETAIL_MAX = 1024  # ScheduleTick.detail


def registered_jobs(state: Any) -> dict[str, Job]:
    """The jobs the app registered as ``app.state.scheduled_jobs`` (scope -> callback), if any."""
    return dict(getattr(state, "scheduled_jobs", None) or {})


def fireable(cadences: Mapping[str, Cadence], jobs: Mapping[str, Job]) -> dict[str, Cadence]:
    """The scheduled scopes something can fire: a run scope, or a job registered under the
    scope's name (the report schedule waits for its job to be registered)."""
    return {scope: c for scope, c in cadences.items() if scope in RUN_SCOPES or scope in jobs}


@dataclass(frozen=True, slots=True)
class Fired:
    province_code: str
    scope: str
    slot: int
    outcome: str
    run_id: str | None
    detail: str | None


class Scheduler:
    def __init__(
        self,
        factory: SessionFactory,
        executor: RunExecutor,
        *,
        provinces: Sequence[str],
        cadences: Mapping[str, Cadence],
        poll_seconds: float,
        jobs: Mapping[str, Job] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._jobs = dict(jobs or {})
        unfireable = sorted(set(cadences) - set(fireable(cadences, self._jobs)))
        if unfireable:
            raise ValueError(f"scheduled scopes with neither a run scope nor a job: {unfireable}")
        self._factory = factory
        self._executor = executor
        self._provinces = tuple(provinces)
        self._cadences = dict(cadences)
        self._poll_seconds = poll_seconds
        self._clock = clock
        # The last slot this replica saw taken, per (province, scope): saves an insert per poll.
        self._seen: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._cadences and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("scheduler pass failed")
            await asyncio.sleep(self._poll_seconds)

    async def tick(self) -> list[Fired]:
        """Fire every tick that is due and not yet taken; what this replica fired."""
        fired = []
        now = self._clock()
        slots = {scope: cadence.slot_at(now) for scope, cadence in self._cadences.items()}
        for province_code in self._provinces:
            for scope, slot in slots.items():
                if self._seen.get((province_code, scope)) == slot.number:
                    continue
                self._seen[(province_code, scope)] = slot.number
                if await self._claim(province_code, scope, slot, now):
                    fired.append(await self._fire(province_code, scope, slot))
        return fired

    async def _claim(self, province_code: str, scope: str, slot: Slot, now: datetime) -> bool:
        async with self._factory() as session:
            session.add(
                ScheduleTick(
                    province_code=province_code,
                    scope=scope,
                    slot=slot.number,
                    interval_s=slot.interval_s,
                    due_at=slot.due_at,
                    claimed_at=now,
                    owner=self._executor.owner,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                return False  # another replica fired this tick
        return True

    async def _fire(self, province_code: str, scope: str, slot: Slot) -> Fired:
        job = self._jobs.get(scope)
        if job is not None:
            outcome, run_id, detail = await self._run_job(job, province_code, scope, slot)
        else:
            outcome, run_id, detail = await self._submit(province_code, scope)
        if detail is not None and len(detail) > DETAIL_MAX:
            detail = detail[: DETAIL_MAX - 1] + "…"
        async with self._factory() as session:
            await session.exec(
                update(ScheduleTick)
                .where(
                    col(ScheduleTick.province_code) == province_code,
                    col(ScheduleTick.scope) == scope,
                    col(ScheduleTick.slot) == slot.number,
                )
                .values(outcome=outcome, run_id=run_id, detail=detail)
            )
            await session.commit()
        SCHEDULE_TICKS.labels(scope, outcome).inc()
        if outcome != TickOutcome.STARTED:
            logger.info("scheduled %s tick of %s %s: %s", scope, province_code, outcome, detail)
        return Fired(province_code, scope, slot.number, outcome, run_id, detail)

    async def _run_job(
        self, job: Job, province_code: str, scope: str, slot: Slot
    ) -> tuple[str, str | None, str | None]:
        try:
            detail = await job(province_code, slot.due_at)
        except Exception as exc:
            logger.exception("scheduled %s job of %s failed", scope, province_code)
            return TickOutcome.FAILED, None, f"{type(exc).__name__}: {exc}"
        return TickOutcome.STARTED, None, detail

    async def _submit(self, province_code: str, scope: str) -> tuple[str, str | None, str | None]:
        run_id: str | None = None
        detail: str | None = None
        try:
            submission = await self._executor.submit(
                province_code,
                RunRequest(scope=RunScope(scope), period=Period(*default_period())),
                trigger="schedule",
            )
        except RunConflict as exc:
            outcome, detail = TickOutcome.SKIPPED, exc.detail
            run_id = exc.active_run_id
        except Exception as exc:
            logger.exception("scheduled %s run of %s could not be submitted", scope, province_code)
            outcome, detail = TickOutcome.FAILED, f"{type(exc).__name__}: {exc}"
        else:
            run_id = submission.run.id
            if submission.coalesced:
                outcome, detail = TickOutcome.SKIPPED, "an identical run was already active"
            else:
                outcome = TickOutcome.STARTED
        return outcome, run_id, detail


async def recent_ticks(
    session: AsyncSession, province_code: str, scope: str, limit: int
) -> list[ScheduleTick]:
    rows = await session.exec(
        select(ScheduleTick)
        .where(col(ScheduleTick.province_code) == province_code, col(ScheduleTick.scope) == scope)
        # By due time, not slot: slots of different cadences (a scope moved from an interval
        # to a cron) are not comparable numbers.
        .order_by(col(ScheduleTick.due_at).desc(), col(ScheduleTick.slot).desc())
        .limit(limit)
    )
    return list(rows.all())
