"""Runs on a schedule, from every replica, each tick fired by exactly one of them.

A tick is (province, scope, slot), the slot being whole intervals since the Unix epoch, so every
replica computes the same tick for the same moment. Firing starts with inserting the tick's row:
the primary key lets one insert succeed and the others fail, whichever replica gets there first,
and the row then records what came of the tick. A tick that finds a run of the province active
is skipped and recorded (semantics §0: one run per province at a time). A replica that dies
between claiming and firing loses that one tick; the next fires as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.domain.records import Period
from app.domain.values import default_period
from app.errors import Conflict
from app.metrics import SCHEDULE_TICKS
from app.models import RunScope, ScheduleTick, TickOutcome
from app.models.types import utcnow
from app.reconcile.runs import RunExecutor, RunRequest, submit_run

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tick_slot(moment: datetime, every: timedelta) -> int:
    return int((moment - EPOCH) // every)


def slot_start(slot: int, every: timedelta) -> datetime:
    return EPOCH + slot * every


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
        intervals: dict[str, timedelta],
        poll_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = factory
        self._executor = executor
        self._provinces = tuple(provinces)
        self._intervals = dict(intervals)
        self._poll_seconds = poll_seconds
        self._clock = clock
        # The last slot this replica saw taken, per (province, scope): saves an insert per poll.
        self._seen: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._intervals and self._task is None:
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
        for province_code in self._provinces:
            for scope, every in self._intervals.items():
                slot = tick_slot(now, every)
                if self._seen.get((province_code, scope)) == slot:
                    continue
                self._seen[(province_code, scope)] = slot
                if await self._claim(province_code, scope, slot, every, now):
                    fired.append(await self._fire(province_code, scope, slot))
        return fired

    async def _claim(
        self, province_code: str, scope: str, slot: int, every: timedelta, now: datetime
    ) -> bool:
        async with self._factory() as session:
            session.add(
                ScheduleTick(
                    province_code=province_code,
                    scope=scope,
                    slot=slot,
                    interval_s=int(every.total_seconds()),
                    due_at=slot_start(slot, every),
                    claimed_at=now,
                    owner=self._executor.owner,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                return False  # another replica fired this tick
        return True

    async def _fire(self, province_code: str, scope: str, slot: int) -> Fired:
        run_id: str | None = None
        detail: str | None
        try:
            submission = await submit_run(
                self._factory,
                province_code=province_code,
                request=RunRequest(scope=RunScope(scope), period=Period(*default_period())),
                trigger="schedule",
                owner=self._executor.owner,
                lease=self._executor.lease,
            )
        except Conflict as exc:
            outcome, detail = TickOutcome.SKIPPED, exc.detail
            run_id = str(exc.extra.get("active_run_id") or "") or None
        except Exception as exc:
            logger.exception("scheduled %s run of %s could not be submitted", scope, province_code)
            outcome, detail = TickOutcome.FAILED, f"{type(exc).__name__}: {exc}"
        else:
            run_id = submission.run.id
            if submission.coalesced:
                outcome, detail = TickOutcome.SKIPPED, "an identical run was already active"
            else:
                self._executor.start(run_id)
                outcome, detail = TickOutcome.STARTED, None
        async with self._factory() as session:
            await session.exec(
                update(ScheduleTick)
                .where(
                    col(ScheduleTick.province_code) == province_code,
                    col(ScheduleTick.scope) == scope,
                    col(ScheduleTick.slot) == slot,
                )
                .values(outcome=outcome, run_id=run_id, detail=detail)
            )
            await session.commit()
        SCHEDULE_TICKS.labels(scope, outcome).inc()
        if outcome != TickOutcome.STARTED:
            logger.info("scheduled %s tick of %s %s: %s", scope, province_code, outcome, detail)
        return Fired(province_code, scope, slot, outcome, run_id, detail)


async def recent_ticks(
    session: AsyncSession, province_code: str, scope: str, limit: int
) -> list[ScheduleTick]:
    rows = await session.exec(
        select(ScheduleTick)
        .where(col(ScheduleTick.province_code) == province_code, col(ScheduleTick.scope) == scope)
        .order_by(col(ScheduleTick.slot).desc())
        .limit(limit)
    )
    return list(rows.all())
