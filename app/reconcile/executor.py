"""Runs, from the claim to the outcome: one active run per province (claims), the lease a
replica renews while it works (leases), and each run's lifecycle — queued, running, then an
outcome written once, whatever happened (crash, deadline, shutdown, abandonment).

What a run does in between is its pipeline's: ``procedure_pipeline.run_procedures`` and
``dossier_pipeline.run_dossiers`` (an ``all`` run is both, as two parts of one record).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import NationalClient, ProvincialClient, UpstreamAuthError
from app.clients.base import UpstreamClient
from app.db import SessionFactory
from app.domain.records import Period
from app.events import RUN_FAILED, add_event
from app.metrics import RUN_DURATION, RUNS
from app.models import ACTIVE_STATUSES, Run, RunScope, RunStatus
from app.models.types import utcnow
from app.reconcile.context import RunContext
from app.reconcile.dossier_pipeline import run_dossiers
from app.reconcile.outcome import RunRecorder, run_data
from app.reconcile.procedure_pipeline import run_procedures
from app.settings import Settings

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_INTERVAL_S = 5.0  # how soon a replica notices its run was declared abandoned


@dataclass(frozen=True, slots=True)
class RunRequest:
    scope: RunScope
    period: Period
    dry_run: bool = False
    accept_drop: bool = False
    full_check: bool = False  # read all of P's procedures, not only what changed (deletions)

    def key(self) -> str:
        """Requests are identical (and coalesce) when every field that changes the outcome is."""
        text = "|".join(
            [
                self.scope,
                self.period.start.isoformat(),
                self.period.end.isoformat(),
                str(self.dry_run),
                str(self.accept_drop),
                str(self.full_check),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Submission:
    run: Run
    coalesced: bool


class Upstreams(Protocol):
    """What a run needs from the outside world; tests substitute respx-backed clients."""

    def __call__(self, settings: Settings) -> tuple[ProvincialClient, NationalClient]: ...


def default_upstreams(settings: Settings) -> tuple[ProvincialClient, NationalClient]:
    return (
        ProvincialClient(settings.provincial()),
        NationalClient(settings.national(), settings.national_province_code),
    )


class RunConflict(Exception):
    """A different run of the province is active (or another is starting right now): the new
    one is refused. A domain error (no HTTP here): ``app.errors`` answers it 409 problem+json,
    with ``extra`` as the problem's members (the active run's id and status, when known)."""

    def __init__(
        self,
        detail: str,
        *,
        active_run_id: str | None = None,
        active_run_status: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.active_run_id = active_run_id
        self.active_run_status = active_run_status

    @property
    def extra(self) -> dict[str, Any]:
        members = {"active_run_id": self.active_run_id, "active_run_status": self.active_run_status}
        return {name: value for name, value in members.items() if value is not None}


async def active_run(session: AsyncSession, province_code: str) -> Run | None:
    rows = await session.exec(select(Run).where(col(Run.active_province) == province_code))
    return rows.first()


async def submit_run(
    factory: SessionFactory,
    *,
    province_code: str,
    request: RunRequest,
    trigger: str,
    owner: str,
    lease: timedelta,
) -> Submission:
    """Create a queued run, or join the identical active one; a different one raises
    ``RunConflict`` (answered 409).

    The UNIQUE ``active_province`` column decides races between replicas: the loser of an insert
    race re-reads the winner and coalesces or conflicts exactly as if it had come second.
    """
    for _ in range(3):
        async with factory() as session:
            current = await active_run(session, province_code)
            if current is not None:
                return _join_or_conflict(current, request)
            now = utcnow()
            run = Run(
                province_code=province_code,
                scope=request.scope,
                status=RunStatus.QUEUED,
                trigger=trigger,
                period_from=request.period.start,
                period_to=request.period.end,
                dry_run=request.dry_run,
                accept_drop=request.accept_drop,
                full_check=request.full_check,
                request_key=request.key(),
                active_province=province_code,
                created_at=now,
                lease_owner=owner,
                lease_expires_at=now + lease,
            )
            session.add(run)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                continue
            return Submission(run=run, coalesced=False)
    raise RunConflict("Another run of this province is starting; try again.")


def _join_or_conflict(current: Run, request: RunRequest) -> Submission:
    if current.request_key == request.key():
        return Submission(run=current, coalesced=True)
    raise RunConflict(
        f"Run {current.id} ({current.scope}, {current.period_from}–{current.period_to}) is "
        f"{current.status} for province {current.province_code}; one run per province at a time.",
        active_run_id=current.id,
        active_run_status=current.status,
    )


class RunExecutor:
    """Executes runs of this replica in background tasks, renewing their leases while they work."""

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        *,
        owner: str,
        upstreams: Upstreams = default_upstreams,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._owner = owner
        self._upstreams = upstreams
        # Told when a run's outcome (and its events) is committed: wakes the webhook dispatcher.
        self._on_finished = on_finished
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._abandoned: dict[str, str] = {}  # run id → why this replica stopped it
        self._clients: dict[str, list[UpstreamClient]] = {}  # run id → its clients, for progress

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self._settings.run_lease_seconds)

    def progress(self, run_id: str) -> dict[str, int] | None:
        """Pages read so far per listing by a run executing on this replica (None when it is
        not): held in memory only, the run's record gets its listings when it ends."""
        clients = self._clients.get(run_id)
        if clients is None:
            return None
        pages: dict[str, int] = {}
        for client in clients:
            for listing, count in client.pages_by_listing.items():
                pages[listing] = pages.get(listing, 0) + count
        return pages

    def _upstreams_of(self, run: Run) -> tuple[ProvincialClient, NationalClient]:
        provincial, national = self._upstreams(self._settings.for_province(run.province_code))
        self._clients.setdefault(run.id, []).extend((provincial, national))
        return provincial, national

    async def submit(self, province_code: str, request: RunRequest, *, trigger: str) -> Submission:
        """Queue a run under this replica's lease and start it, or join the identical active
        one; a different active run raises ``RunConflict``. The one call of the router and
        the scheduler."""
        submission = await submit_run(
            self._factory,
            province_code=province_code,
            request=request,
            trigger=trigger,
            owner=self._owner,
            lease=self.lease,
        )
        if not submission.coalesced:
            self.start(submission.run.id)
        return submission

    def start(self, run_id: str) -> None:
        if run_id in self._tasks:
            return
        task = asyncio.create_task(self.execute(run_id), name=f"run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(run_id, None))

    async def wait(self, run_id: str) -> None:
        task = self._tasks.get(run_id)
        if task is not None:
            # Waiting never cancels the run, nor raises if someone else cancelled it.
            await asyncio.wait({task})

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def abandon(self, run_ids: Sequence[str], why: str) -> None:
        """Stop this replica's work on runs that are no longer its own (the janitor, here or in
        another replica, declared them abandoned): cancelled at once, they call no upstream and
        write nothing more (their final write checks the lease too)."""
        for run_id in run_ids:
            task = self._tasks.get(run_id)
            if task is None or task.done() or run_id in self._abandoned:
                continue
            self._abandoned[run_id] = why
            logger.warning(
                "run %s abandoned: %s; stopping it",
                run_id,
                why,
                extra={"run_id": run_id, "reason": why},
            )
            task.cancel()

    async def execute(self, run_id: str) -> None:
        started = time.monotonic()
        run = await self._mark_running(run_id)
        if run is None:
            return
        _log_run_start(run)
        recorder = self._recorder(run)
        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        deadline = self._settings.run_deadline_s
        try:
            async with asyncio.timeout(deadline) as budget:
                await self._execute(run, recorder)
        except TimeoutError:
            if not budget.expired():
                raise
            await recorder.finish(
                run,
                RunStatus.PARTIAL,
                [f"deadline: the run did not finish within {deadline:g} s (RUN_DEADLINE_S)"],
                {},
                final=True,
            )
        except asyncio.CancelledError:
            if run_id in self._abandoned:
                return  # nothing to write: the run is someone else's record now
            await recorder.finish(
                run, RunStatus.FAILED, ["interrupted: the service shut down"], {}, final=True
            )
            raise
        except UpstreamAuthError as exc:
            await recorder.finish(
                run, RunStatus.FAILED, [f"authentication failed: {exc}"], {}, final=True
            )
        except Exception as exc:
            logger.exception("run %s crashed", run_id, extra={"run_id": run_id})
            await recorder.finish(
                run,
                RunStatus.FAILED,
                [f"crashed: {type(exc).__name__}: {exc}"],
                {},
                final=True,
            )
        finally:
            heartbeat.cancel()
            self._clients.pop(run.id, None)
            why_abandoned = self._abandoned.pop(run_id, None)
            elapsed = time.monotonic() - started
            RUN_DURATION.labels(run.province_code, run.scope).observe(elapsed)
            _log_run_end(run, elapsed, abandoned=why_abandoned)
            if self._on_finished is not None:
                self._on_finished()

    async def _mark_running(self, run_id: str) -> Run | None:
        async with self._factory() as session:
            now = utcnow()
            result = await session.exec(
                update(Run)
                .where(col(Run.id) == run_id, col(Run.status) == RunStatus.QUEUED)
                .values(
                    status=RunStatus.RUNNING,
                    started_at=now,
                    lease_owner=self._owner,
                    lease_expires_at=now + self.lease,
                )
            )
            await session.commit()
            if result.rowcount != 1:
                return None
            return await session.get(Run, run_id)

    async def _heartbeat(self, run_id: str) -> None:
        """Renew the run's lease; when it is not ours any more, or could not be renewed before
        it expired (another replica may then declare it abandoned), stop the run."""
        lease = self._settings.run_lease_seconds
        interval = min(max(lease / 3, 0.5), HEARTBEAT_MAX_INTERVAL_S)
        valid_until = time.monotonic() + lease
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._factory() as session:
                    result = await session.exec(
                        update(Run)
                        .where(
                            col(Run.id) == run_id,
                            col(Run.lease_owner) == self._owner,
                            col(Run.status) == RunStatus.RUNNING,
                        )
                        .values(lease_expires_at=utcnow() + self.lease)
                    )
                    await session.commit()
            except Exception:
                logger.warning("run %s: lease renewal failed", run_id, exc_info=True)
                if time.monotonic() > valid_until:
                    self.abandon([run_id], "its lease could not be renewed before it expired")
                    return
                continue
            if result.rowcount != 1:
                if await self._has_ended(run_id):
                    return  # it committed its outcome between two beats: nothing to stop
                self.abandon([run_id], "it was declared abandoned (its lease had expired)")
                return
            valid_until = time.monotonic() + lease

    async def _has_ended(self, run_id: str) -> bool:
        """The run committed its own outcome, which clears the lease (the janitor's verdict on
        an abandoned run leaves it set)."""
        async with self._factory() as session:
            row = await session.get(Run, run_id)
            return (
                row is not None
                and row.status not in ACTIVE_STATUSES
                and row.lease_expires_at is None
            )

    async def _execute(self, run: Run, recorder: RunRecorder) -> None:
        context = RunContext(
            run=run,
            factory=self._factory,
            settings=self._settings,
            recorder=recorder,
            upstreams=lambda: self._upstreams_of(run),
        )
        if run.scope == RunScope.PROCEDURES:
            await run_procedures(context)
        elif run.scope == RunScope.DOSSIERS:
            await run_dossiers(context)
        else:
            # Procedures, then dossiers, as one run: each part commits its own findings as
            # soon as it is complete; the run's outcome (and its one ``run.*`` event) waits for
            # both. A crash, a deadline or an interruption in a part is finished by ``execute``,
            # merged with the parts before it, so a part that committed stays recorded.
            await run_procedures(context)
            recorder.next_part()
            await run_dossiers(context)

    def _recorder(self, run: Run) -> RunRecorder:
        return RunRecorder(
            self._factory,
            owner=self._owner,
            dry_run_sample_size=self._settings.dry_run_sample_size,
            parts=("procedures", "dossiers") if run.scope == RunScope.ALL else None,
        )


def _log_run_start(run: Run) -> None:
    logger.info(
        "run started: %s %s %s (%s, %s–%s)",
        run.id,
        run.province_code,
        run.scope,
        run.trigger,
        run.period_from,
        run.period_to,
        extra={
            "run_id": run.id,
            "province": run.province_code,
            "scope": run.scope,
            "trigger": run.trigger,
            "period_from": run.period_from.isoformat(),
            "period_to": run.period_to.isoformat(),
            "dry_run": run.dry_run,
        },
    )


def _log_run_end(run: Run, elapsed: float, *, abandoned: str | None) -> None:
    outcome = "abandoned" if abandoned else str(run.status)
    reason = abandoned or "; ".join(run.errors or [])[:1000]
    level = logging.INFO if outcome == RunStatus.SUCCEEDED else logging.WARNING
    logger.log(
        level,
        "run finished: %s %s %s %s in %.1f s%s",
        run.id,
        run.province_code,
        run.scope,
        outcome,
        elapsed,
        f": {reason}" if reason else "",
        extra={
            "run_id": run.id,
            "province": run.province_code,
            "scope": run.scope,
            "outcome": outcome,
            "reason": reason or None,
            "duration_s": round(elapsed, 3),
        },
    )


async def fail_abandoned_runs(factory: SessionFactory, *, now: datetime | None = None) -> list[str]:
    """Declare failed every active run whose lease expired: its replica died or hung."""
    moment = now or utcnow()
    failed: list[str] = []
    failed_scopes: list[tuple[str, str]] = []
    async with factory() as session:
        rows = await session.exec(
            select(Run)
            .where(col(Run.status).in_(ACTIVE_STATUSES), col(Run.lease_expires_at) < moment)
            .with_for_update(skip_locked=True)
        )
        for run in rows.all():
            run.status = RunStatus.FAILED
            run.finished_at = moment
            run.active_province = None
            run.errors = [
                *run.errors,
                "abandoned: the replica running it stopped renewing its lease",
            ]
            session.add(run)
            if not run.dry_run:
                add_event(
                    session,
                    province_code=run.province_code,
                    event_type=RUN_FAILED,
                    data=run_data(run),
                    at=moment,
                )
            failed.append(run.id)
            failed_scopes.append((run.province_code, run.scope))
        await session.commit()
    for province_code, scope in failed_scopes:
        RUNS.labels(province_code, scope, RunStatus.FAILED).inc()
    return failed
