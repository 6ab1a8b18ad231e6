"""One reconciliation run, end to end: claim, fetch, compare, then ONE transaction that writes the
snapshot, the findings lifecycle, the outbox events and the run's outcome (DESIGN promise 1, 4).

A run that could not read every listing completely ends ``partial`` (or ``failed`` when it could
not run at all) and touches nothing but its own record.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import NationalClient, ProvincialClient, UpstreamAuthError
from app.clients.base import UpstreamClient
from app.db import DOSSIER_RUN_TABLES, PROCEDURE_RUN_TABLES, SessionFactory, analyze, in_values
from app.domain.normalize import normalize_code
from app.domain.records import (
    Agency,
    DataQualityWarning,
    Listing,
    ListingName,
    NationalPaymentInfo,
    Period,
    ProcedureStat,
    ProvincialProcedure,
)
from app.events import RUN_COMPLETED, RUN_FAILED, add_event
from app.metrics import RUN_DURATION, RUNS
from app.models import (
    ACTIVE_STATUSES,
    OrphanTransaction,
    ProcedureSnapshot,
    Run,
    RunScope,
    RunStatus,
    SubjectKind,
)
from app.models import Agency as AgencyRow
from app.models.types import utcnow
from app.reconcile import dossier_runs, sightings
from app.reconcile.findings import LifecycleChanges, ObservedFinding, apply_findings
from app.reconcile.procedures import (
    ChangePlan,
    JudgedChanges,
    StoredSubject,
    judge_changes,
    keyed_inputs,
    listing_warnings,
    plan_changes,
    provincial_from_snapshot,
    summarize,
)
from app.runs_history import latest_complete
from app.settings import Settings

logger = logging.getLogger(__name__)

MAX_STORED_WARNINGS = 500
HEARTBEAT_MAX_INTERVAL_S = 5.0  # how soon a replica notices its run was declared abandoned


class PhaseClock:
    """Seconds spent in each phase of a run, kept in its counts for operators and benchmarks."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}
        self.peak_rss_mb: dict[str, int] = {}

    def lap(self, phase: str) -> PhaseClock:
        now = time.perf_counter()
        self.laps[phase] = round(now - self._last, 3)
        self._last = now
        self.peak_rss_mb[phase] = _peak_rss_mb()
        return self


def _peak_rss_mb() -> int:
    """The process's peak resident set so far: where in a run memory grows, if it does.
    Linux's VmHWM, because ``ru_maxrss`` also counts the parent before ``exec``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


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


@dataclass(slots=True)
class _Composite:
    """The parts of an ``all`` run: each part's outcome, merged into the run's at the last."""

    parts: tuple[str, ...]
    index: int = 0
    outcomes: dict[str, tuple[RunStatus, list[str], dict[str, Any], dict[str, Any]]] = field(
        default_factory=dict
    )

    @property
    def at_last_part(self) -> bool:
        return self.index == len(self.parts) - 1

    def next_part(self) -> None:
        self.index += 1

    def record(
        self,
        status: RunStatus,
        errors: list[str],
        details: dict[str, Any],
        counts: dict[str, Any],
    ) -> None:
        self.outcomes[self.parts[self.index]] = (status, errors, details, counts)

    def merged(self) -> tuple[RunStatus, list[str], dict[str, Any], dict[str, Any]]:
        statuses = [status for status, _, _, _ in self.outcomes.values()]
        worst = next(
            (s for s in (RunStatus.FAILED, RunStatus.PARTIAL) if s in statuses),
            RunStatus.SUCCEEDED,
        )
        errors = [f"{part}: {e}" for part, (_, errs, _, _) in self.outcomes.items() for e in errs]
        details: dict[str, Any] = {"listings": {}, "upstream_stats": {}, "warnings": []}
        for part, (_, _, part_details, _) in self.outcomes.items():
            details["listings"].update(part_details.get("listings", {}))
            details["upstream_stats"][part] = part_details.get("upstream_stats", {})
            details["warnings"].extend(part_details.get("warnings", []))
        counts = {
            part: {**part_counts, "status": status}
            for part, (status, _, _, part_counts) in self.outcomes.items()
        }
        return worst, errors, details, counts


@dataclass(slots=True)
class _Fetched:
    agencies: Listing[Agency]
    procedures: Listing[ProvincialProcedure]
    payment_info: Listing[NationalPaymentInfo]
    stats: Listing[ProcedureStat]

    def listings(self) -> Sequence[Listing[Any]]:
        return (self.agencies, self.procedures, self.payment_info, self.stats)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """How a procedure run reads P, and what it records about it."""

    full_check_reason: str | None  # why P is read whole; None for an incremental run
    updated_since: datetime | None  # P's items changed since then; None: all of P
    sequence: int  # this run's place among the province's complete procedure runs
    full_checked_at: datetime  # when the last full re-check (this one, if it is) started
    seen_through: sightings.SeenThrough | None  # the previous complete procedure run


@dataclass(frozen=True, slots=True)
class StoredSide:
    subjects: dict[str, StoredSubject]
    agencies: dict[str, tuple[str, str, int, str | None]]  # code → raw code, name, level, parent


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


_SNAPSHOT = ProcedureSnapshot.__table__  # type: ignore[attr-defined]
_AGENCY = AgencyRow.__table__  # type: ignore[attr-defined]


# Listings whose size should not swing between runs; the stats depend on the period asked for.
_DROP_GUARDED = (
    ListingName.PROVINCIAL_AGENCIES,
    ListingName.PROVINCIAL_PROCEDURES,
    ListingName.NATIONAL_PAYMENT_INFO,
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
        self._composites: dict[str, _Composite] = {}
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
        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        deadline = self._settings.run_deadline_s
        try:
            async with asyncio.timeout(deadline) as budget:
                await self._execute(run)
        except TimeoutError:
            if not budget.expired():
                raise
            await self._finish(
                run,
                RunStatus.PARTIAL,
                [f"deadline: the run did not finish within {deadline:g} s (RUN_DEADLINE_S)"],
                {},
                final=True,
            )
        except asyncio.CancelledError:
            if run_id in self._abandoned:
                return  # nothing to write: the run is someone else's record now
            await self._finish(
                run, RunStatus.FAILED, ["interrupted: the service shut down"], {}, final=True
            )
            raise
        except UpstreamAuthError as exc:
            await self._finish(
                run, RunStatus.FAILED, [f"authentication failed: {exc}"], {}, final=True
            )
        except Exception as exc:
            logger.exception("run %s crashed", run_id, extra={"run_id": run_id})
            await self._finish(
                run,
                RunStatus.FAILED,
                [f"crashed: {type(exc).__name__}: {exc}"],
                {},
                final=True,
            )
        finally:
            heartbeat.cancel()
            self._composites.pop(run.id, None)
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

    async def _execute(self, run: Run) -> None:
        if run.scope == RunScope.DOSSIERS:
            await self._execute_dossiers(run)
        elif run.scope == RunScope.ALL:
            await self._execute_all(run)
        else:
            await self._execute_procedures(run)

    async def _execute_all(self, run: Run) -> None:
        """Procedures, then dossiers, as one run: each part commits its own findings as soon as
        it is complete; the run's outcome (and its one ``run.*`` event) waits for both."""
        composite = self._composites[run.id] = _Composite(parts=("procedures", "dossiers"))
        # A crash, a deadline or an interruption in a part is finished by ``execute``: merged
        # with the parts before it, so a part that committed stays recorded as complete.
        await self._execute_procedures(run)
        composite.next_part()
        await self._execute_dossiers(run)

    async def _execute_procedures(self, run: Run) -> None:
        """Read P (all of it, or what changed since the last complete run) and N, judge what
        changed, then commit. See ``_plan_poll`` for when a run reads all of P."""
        clock = PhaseClock()
        period = Period(run.period_from, run.period_to)
        poll = await self._plan_poll(run)
        provincial, national = self._upstreams_of(run)
        # The stored side is read while the upstreams are: it does not depend on them.
        stored_read = asyncio.ensure_future(self._read_stored(run.province_code))
        try:
            async with provincial, national:
                agencies, procedures, payment_info, stats = await asyncio.gather(
                    provincial.list_agencies(),
                    provincial.list_procedures(poll.updated_since),
                    national.list_payment_info(),
                    national.list_procedure_stats(period),
                )
                upstream_stats = {
                    "provincial": asdict(provincial.stats),
                    "national": asdict(national.stats),
                }
            stored = await stored_read
        finally:
            if not stored_read.done():
                stored_read.cancel()
                await asyncio.gather(stored_read, return_exceptions=True)
        clock.lap("fetch")
        fetched = _Fetched(agencies, procedures, payment_info, stats)
        listings = {listing.name: _listing_summary(listing) for listing in fetched.listings()}
        warnings = [w for listing in fetched.listings() for w in listing.warnings]
        details = {"listings": listings, "upstream_stats": upstream_stats, "warnings": warnings}
        # Even a run that ends partial says how it read P.
        listings[procedures.name]["updated_since"] = (
            poll.updated_since.isoformat() if poll.updated_since else None
        )

        incomplete = [
            item.error or f"{item.name}: incomplete"  # the error names its listing
            for item in fetched.listings()
            if not item.complete
        ]
        if incomplete:
            await self._finish(run, RunStatus.PARTIAL, incomplete, details)
            return

        p_by_key, n_by_key, stat_by_code = keyed_inputs(
            procedures.items, payment_info.items, stats.items
        )
        plan = plan_changes(
            stored.subjects,
            p_by_key,
            n_by_key,
            stat_by_code,
            provincial_is_whole=poll.updated_since is None,
        )
        # The sharp-drop guard counts P's keys as the run knows them: an incremental read is
        # small by nature, what it merges into is not.
        listings[procedures.name] |= {
            "distinct": plan.provincial_keys,
            "read": len(procedures.items),
        }
        drops = await self._sharp_drops(run, RunScope.PROCEDURES, listings)
        if drops and not run.accept_drop:
            await self._finish(run, RunStatus.PARTIAL, drops, details)
            return

        # Keys judged again whose P item this run did not read: from the stored snapshot.
        rebuilt = (
            await self._read_stored_provincial(run.province_code, plan.stored_provincial_needed)
            if plan.stored_provincial_needed
            else {}
        )
        judged = judge_changes(plan, stored.subjects, p_by_key | rebuilt, n_by_key, stat_by_code)
        details["warnings"] = warnings + listing_warnings(p_by_key, n_by_key)
        clock.lap("judge")
        await self._commit_success(run, fetched, poll, plan, judged, stored, details, clock)

    async def _plan_poll(self, run: Run) -> PollPlan:
        """Incremental unless a full re-check is asked for, due, or impossible."""
        async with self._factory() as session:
            previous = await latest_complete(session, run.province_code, RunScope.PROCEDURES)
        started = run.started_at or utcnow()
        settings = self._settings
        counts = sightings.procedure_counts(previous.run) if previous else {}
        last_full = _parse_moment(counts.get("full_checked_at"))
        sequence = sightings.sequence_of(previous.run) if previous else None
        seen_through = (
            sightings.SeenThrough(
                run_id=previous.run.id,
                at=previous.run.finished_at or started,
                sequence=sequence if sequence is not None else 0,
            )
            if previous
            else None
        )
        full_every = settings.procedure_full_check_interval()
        why = None
        if run.full_check:
            why = "asked for"
        elif not settings.procedure_incremental:
            why = "incremental polling is off (PROCEDURE_INCREMENTAL)"
        elif previous is None or previous.run.started_at is None:
            why = "no complete procedure run to start from"
        elif last_full is None:
            why = "the last complete run does not record a full re-check"
        elif full_every is not None and started - last_full >= full_every:
            why = f"the last full re-check started {last_full.isoformat()}"
        if why is not None or previous is None or previous.run.started_at is None:
            return PollPlan(
                full_check_reason=why,
                updated_since=None,
                sequence=(sequence or 0) + 1,
                full_checked_at=started,
                seen_through=seen_through,
            )
        overlap = timedelta(seconds=settings.procedure_updated_since_overlap_s)
        return PollPlan(
            full_check_reason=None,
            updated_since=previous.run.started_at - overlap,
            sequence=(sequence or 0) + 1,
            full_checked_at=last_full or started,
            seen_through=seen_through,
        )

    async def _read_stored(self, province_code: str) -> StoredSide:
        """What the last complete procedure run stored: every key's judgement and fingerprints,
        and the agencies (plain columns: JSON snapshots are read only for keys judged again)."""
        async with self._factory() as session:
            connection = await session.connection()
            rows = await connection.execute(
                sa.select(
                    _SNAPSHOT.c.key,
                    _SNAPSHOT.c.kind,
                    _SNAPSHOT.c.level,
                    _SNAPSHOT.c.procedure_code,
                    _SNAPSHOT.c.reasons,
                    _SNAPSHOT.c.fingerprint,
                    _SNAPSHOT.c.provincial_fingerprint,
                ).where(_SNAPSHOT.c.province_code == province_code)
            )
            subjects = {
                row.key: StoredSubject(
                    key=row.key,
                    kind=row.kind,
                    level=row.level,
                    procedure_code=row.procedure_code,
                    reasons=tuple(row.reasons or ()),
                    fingerprint=row.fingerprint,
                    has_provincial=row.provincial_fingerprint is not None,
                    provincial_fingerprint=row.provincial_fingerprint,
                )
                for row in rows
            }
            agency_rows = await connection.execute(
                sa.select(
                    _AGENCY.c.code,
                    _AGENCY.c.raw_code,
                    _AGENCY.c.name,
                    _AGENCY.c.level,
                    _AGENCY.c.parent_code,
                ).where(_AGENCY.c.province_code == province_code)
            )
            agencies = {
                code: (raw, name, level, parent) for code, raw, name, level, parent in agency_rows
            }
        return StoredSide(subjects=subjects, agencies=agencies)

    async def _read_stored_provincial(
        self, province_code: str, keys: Sequence[str]
    ) -> dict[str, ProvincialProcedure]:
        """P's items as the store has them, for keys judged again without P sending them."""
        async with self._factory() as session:
            dialect = session.get_bind().dialect.name
            rows = await (await session.connection()).execute(
                sa.select(_SNAPSHOT.c.key, _SNAPSHOT.c.provincial).where(
                    _SNAPSHOT.c.province_code == province_code,
                    in_values(_SNAPSHOT.c.key, list(keys), dialect),
                )
            )
            return {key: provincial_from_snapshot(snapshot) for key, snapshot in rows if snapshot}

    async def _execute_dossiers(self, run: Run) -> None:
        period = Period(run.period_from, run.period_to)
        provincial, national = self._upstreams_of(run)
        clock = PhaseClock()
        kept = False  # whether the run's snapshot now refers to its staged records
        try:
            async with provincial, national:
                agencies = await provincial.list_agencies()
                fetched = await dossier_runs.fetch_dossiers(
                    self._factory, run.id, period, provincial, national
                )
                upstream_stats = {
                    "provincial": asdict(provincial.stats),
                    "national": asdict(national.stats),
                }
            clock.lap("fetch")
            listings = {agencies.name: _listing_summary(agencies), **fetched.summaries()}
            warnings = list(agencies.warnings) + fetched.warnings()
            details = {"listings": listings, "upstream_stats": upstream_stats, "warnings": warnings}
            incomplete = [agencies.error or agencies.name] if not agencies.complete else []
            incomplete += fetched.incomplete
            if incomplete:
                await self._finish(run, RunStatus.PARTIAL, incomplete, details)
                return
            drops = await self._sharp_drops(run, RunScope.DOSSIERS, listings)
            if drops and not run.accept_drop:
                await self._finish(run, RunStatus.PARTIAL, drops, details)
                return
            names = {normalize_code(a.code): a.name for a in agencies.items}
            verdicts = await dossier_runs.judge_staged(
                self._factory,
                run.id,
                period,
                run_started=run.started_at or utcnow(),
                agency_names=names,
            )
            clock.lap("judge")
            kept = await self._commit_dossiers(
                run, period, agencies.items, verdicts, details, clock
            )
        finally:
            if kept:
                await dossier_runs.keep_stage(self._factory, run.id, run.province_code)
            else:
                await dossier_runs.drop_stage(self._factory, run.id)

    async def _commit_dossiers(
        self,
        run: Run,
        period: Period,
        agencies: Sequence[Agency],
        verdicts: dossier_runs.DossierVerdicts,
        details: dict[str, Any],
        clock: PhaseClock,
    ) -> bool:
        """Commit the run's outcome; True when it replaced the snapshot with its dossiers."""
        now = utcnow()
        counts = dossier_runs.dossier_counts(verdicts)
        async with self._factory() as session:
            if not await self._still_ours(session, run):
                return False
            changes = await dossier_runs.apply_dossier_findings(
                session,
                province_code=run.province_code,
                run_id=run.id,
                period=period,
                now=now,
                dry_run=run.dry_run,
                changes=self._changes(),
            )
            counts["findings"] = changes.counts()
            sample = self._dry_run_sample(run, changes)
            if not run.dry_run:
                await _replace_agencies(session, run.province_code, agencies, now)
                await dossier_runs.replace_snapshot(session, run.province_code, run.id, period)
                orphans = dossier_runs.orphan_rows(run.province_code, run.id, verdicts.orphans)
                if orphans:
                    await session.exec(insert(OrphanTransaction), params=orphans)
            run.dry_run_sample = sample
            # "commit" is everything up to the final COMMIT, which cannot time itself.
            counts["timings_s"] = clock.lap("commit").laps
            counts["peak_rss_mb"] = clock.peak_rss_mb
            self._apply_outcome(session, run, RunStatus.SUCCEEDED, [], details, counts, now)
            await session.commit()
        if not run.dry_run:
            await analyze(self._factory, DOSSIER_RUN_TABLES)
        self._count_outcome(run)
        return not run.dry_run

    async def _sharp_drops(
        self, run: Run, scope: RunScope, listings: Mapping[str, Mapping[str, Any]]
    ) -> list[str]:
        """Each guarded listing this part read, against the same listing of the latest complete
        part of its scope (an ``all`` run's part counts): never against listings the part does
        not read, which an ``all`` run's record also holds."""
        async with self._factory() as session:
            previous = await latest_complete(session, run.province_code, scope)
        if previous is None:
            return []
        guarded = [name for name in _DROP_GUARDED if name in listings]
        # (choice) dossier listings depend on the period: compared only with a run of the same one.
        same_period = (previous.run.period_from, previous.run.period_to) == (
            run.period_from,
            run.period_to,
        )
        if scope == RunScope.DOSSIERS and same_period:
            guarded += [name for name in dossier_runs.DROP_GUARDED if name in listings]
        drops = []
        for name in guarded:
            before = int((previous.run.listings or {}).get(name, {}).get("distinct", 0))
            now = int(listings[name].get("distinct", 0))
            if before and now < before * self._settings.sharp_drop_threshold:
                drops.append(
                    f"sharp drop: {name} returned {now} distinct items against {before} in run "
                    f"{previous.run.id}; nothing was resolved. "
                    "Re-run with accept_drop=true if the drop is real."
                )
        return drops

    async def _commit_success(
        self,
        run: Run,
        fetched: _Fetched,
        poll: PollPlan,
        plan: ChangePlan,
        judged: JudgedChanges,
        stored: StoredSide,
        details: dict[str, Any],
        clock: PhaseClock,
    ) -> None:
        """One transaction: findings and snapshot rows of the keys judged again (nothing for a
        key whose fingerprint did not move), agencies if they changed, and the run's outcome."""
        now = utcnow()
        agency_names = {normalize_code(a.code): a.name for a in fetched.agencies.items}
        observed = _observed_findings(judged, agency_names)
        counts = _counts(poll, plan, judged)
        async with self._factory() as session:
            if not await self._still_ours(session, run):
                return
            changes = await apply_findings(
                session,
                province_code=run.province_code,
                subject_kind=SubjectKind.PROCEDURE,
                observed=observed,
                run_id=run.id,
                now=now,
                dry_run=run.dry_run,
                changes=self._changes(),
                subjects=set(plan.changed) | set(plan.gone),
                seen_through=poll.seen_through,
            )
            # Open findings of the keys not judged again were seen too, and are unchanged.
            changes.totals["unchanged"] += _carried_findings(plan, judged)
            counts["findings"] = changes.counts()
            sample = self._dry_run_sample(run, changes)
            if not run.dry_run:
                await _sync_agencies(
                    session, run.province_code, fetched.agencies.items, stored.agencies, now
                )
                await _write_snapshot(session, run, plan, judged, now)
            run.dry_run_sample = sample
            counts["timings_s"] = clock.lap("commit").laps
            self._apply_outcome(session, run, RunStatus.SUCCEEDED, [], details, counts, now)
            await session.commit()
        if not run.dry_run:
            await analyze(self._factory, PROCEDURE_RUN_TABLES)
        self._count_outcome(run)

    @staticmethod
    def _count_outcome(run: Run) -> None:
        if run.status != RunStatus.RUNNING:  # not the first part of an "all" run
            RUNS.labels(run.province_code, run.scope, run.status).inc()

    def _changes(self) -> LifecycleChanges:
        return LifecycleChanges(sample_size=self._settings.dry_run_sample_size)

    def _dry_run_sample(self, run: Run, changes: LifecycleChanges) -> dict[str, Any]:
        """What a dry run would have changed, a few of each kind; nothing for a real run."""
        if not run.dry_run:
            return {}
        size = self._settings.dry_run_sample_size
        return {
            "opened": changes.opened[:size],
            "updated": changes.updated[:size],
            "resolved": changes.resolved[:size],
        }

    async def _finish(
        self,
        run: Run,
        status: RunStatus,
        errors: list[str],
        details: dict[str, Any],
        *,
        final: bool = False,
    ) -> None:
        """A run's (or a part's) outcome without findings; ``final``: the run ends here even if
        parts remain (crash, deadline, interruption)."""
        now = utcnow()
        async with self._factory() as session:
            if not await self._still_ours(session, run):
                return
            self._apply_outcome(
                session, run, status, errors, details, run.counts or {}, now, final=final
            )
            await session.commit()
        self._count_outcome(run)

    async def _still_ours(self, session: AsyncSession, run: Run) -> bool:
        """Lock our run row; a run the janitor already declared abandoned must not write."""
        rows = await session.exec(select(Run).where(col(Run.id) == run.id).with_for_update())
        current = rows.first()
        return (
            current is not None
            and current.status == RunStatus.RUNNING
            and current.lease_owner == self._owner
        )

    def _apply_outcome(
        self,
        session: AsyncSession,
        run: Run,
        status: RunStatus,
        errors: list[str],
        details: dict[str, Any],
        counts: dict[str, Any],
        now: datetime,
        *,
        final: bool = False,
    ) -> None:
        composite = self._composites.get(run.id)
        if composite is not None:
            composite.record(status, errors, details, counts)
            if not composite.at_last_part and not final:
                return  # the part's own writes commit; the run stays running
            status, errors, details, counts = composite.merged()
        warnings: list[DataQualityWarning] = details.get("warnings", [])
        run.status = status
        run.finished_at = now
        run.active_province = None
        run.lease_expires_at = None
        run.errors = errors
        run.listings = details.get("listings", {})
        run.upstream_stats = details.get("upstream_stats", {})
        run.warnings = [asdict(w) for w in warnings[:MAX_STORED_WARNINGS]]
        run.counts = {**counts, "warnings": len(warnings)}
        session.add(run)
        # The run's event commits with its outcome (outbox); a dry run announces nothing.
        if not run.dry_run:
            add_event(
                session,
                province_code=run.province_code,
                event_type=RUN_COMPLETED if status == RunStatus.SUCCEEDED else RUN_FAILED,
                data=_run_data(run),
                at=now,
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


def _listing_summary(listing: Listing[Any]) -> dict[str, Any]:
    return {
        "complete": listing.complete,
        "reported_total": listing.reported_total,
        "distinct": len(listing.items),
        "passes": listing.passes,
        "error": listing.error,
    }


def _run_data(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "province_code": run.province_code,
        "scope": run.scope,
        "status": run.status,
        "period_from": run.period_from.isoformat(),
        "period_to": run.period_to.isoformat(),
        "counts": run.counts,
        "errors": run.errors,
        "link": f"/runs/{run.id}",
    }


def _poll_counts(poll: PollPlan) -> dict[str, Any]:
    return {
        "mode": "incremental" if poll.updated_since else "full",
        "updated_since": poll.updated_since.isoformat() if poll.updated_since else None,
        "full_check_reason": poll.full_check_reason,
        "full_checked_at": poll.full_checked_at.isoformat(),
        sightings.SEQUENCE: poll.sequence,
    }


def _counts(poll: PollPlan, plan: ChangePlan, judged: JudgedChanges) -> dict[str, Any]:
    configurations = [s for s in judged.standings.values() if s.kind == "configuration"]
    not_synced = sum(1 for c in configurations if c.reasons)
    by_reason: dict[str, int] = {}
    for config in configurations:
        for reason in config.reasons:
            by_reason[reason] = by_reason.get(reason, 0) + 1
    return {
        **_poll_counts(poll),
        # Keys on either side: judged again, carried over as stored, or gone from both sides.
        "keys": {
            "judged": len(plan.changed),
            "unchanged": len(plan.fingerprints) - len(plan.changed),
            "removed": len(plan.gone),
        },
        "fee_bearing_configurations": len(configurations),
        "synced_configurations": len(configurations) - not_synced,
        "not_synced_configurations": not_synced,
        "orphans": sum(1 for s in judged.standings.values() if s.kind == "orphan"),
        "by_reason": dict(sorted(by_reason.items())),
        "summary": {
            level: asdict(figure) for level, figure in summarize(judged.standings.values()).items()
        },
    }


def _carried_findings(plan: ChangePlan, judged: JudgedChanges) -> int:
    judged_again = set(plan.changed)
    return sum(
        len(standing.reasons)
        for key, standing in judged.standings.items()
        if key not in judged_again and standing.kind == "configuration"
    )


def _observed_findings(
    judged: JudgedChanges, agency_names: Mapping[str, str]
) -> list[ObservedFinding]:
    observed = []
    for config in judged.configurations:
        subject = {
            "kind": SubjectKind.PROCEDURE.value,
            "key": config.key,
            "procedure_code": config.procedure_code,
            "procedure_name": config.procedure_name,
            "agency_code": config.agency_code,
            "agency_name": agency_names.get(config.agency_code),
            "level": config.level,
        }
        for reason in config.reasons:
            observed.append(
                ObservedFinding(
                    subject_kind=SubjectKind.PROCEDURE,
                    subject_key=config.key,
                    reason=reason,
                    evidence=config.evidence.get(reason, {}),
                    procedure_code=config.procedure_code,
                    agency_code=config.agency_code,
                    level=config.level,
                    subject=subject,
                    link=f"/procedures/{config.procedure_code}",
                )
            )
    return observed


async def _replace_agencies(
    session: AsyncSession, province_code: str, agencies: Sequence[Agency], now: datetime
) -> None:
    await session.exec(delete(AgencyRow).where(col(AgencyRow.province_code) == province_code))
    seen: set[str] = set()
    for agency in agencies:
        code = normalize_code(agency.code)
        if code in seen:
            continue
        seen.add(code)
        session.add(
            AgencyRow(
                province_code=province_code,
                code=code,
                raw_code=agency.code,
                name=agency.name,
                level=agency.level,
                parent_code=normalize_code(agency.parent_code) if agency.parent_code else None,
                updated_at=now,
            )
        )


async def _sync_agencies(
    session: AsyncSession,
    province_code: str,
    agencies: Sequence[Agency],
    stored: Mapping[str, tuple[str, str, int, str | None]],
    now: datetime,
) -> None:
    """Write only the agencies that changed: a run that read the same agencies writes nothing."""
    wanted: dict[str, tuple[str, str, int, str | None]] = {}
    for agency in agencies:
        code = normalize_code(agency.code)
        parent = normalize_code(agency.parent_code) if agency.parent_code else None
        wanted.setdefault(code, (agency.code, agency.name, agency.level, parent))
    stale = [code for code, values in stored.items() if wanted.get(code) != values]
    fresh = [code for code, values in wanted.items() if stored.get(code) != values]
    if stale:
        await session.exec(
            delete(AgencyRow).where(
                col(AgencyRow.province_code) == province_code,
                in_values(col(AgencyRow.code), stale, session.get_bind().dialect.name),
            )
        )
    if fresh:
        await session.exec(
            insert(AgencyRow),
            params=[
                {
                    "province_code": province_code,
                    "code": code,
                    "raw_code": wanted[code][0],
                    "name": wanted[code][1],
                    "level": wanted[code][2],
                    "parent_code": wanted[code][3],
                    "updated_at": now,
                }
                for code in fresh
            ],
        )


async def _write_snapshot(
    session: AsyncSession, run: Run, plan: ChangePlan, judged: JudgedChanges, now: datetime
) -> None:
    """Rows of the keys judged again replace theirs; rows of keys gone from both sides go;
    every other row stays as it is (its fingerprint says nothing it derives from moved)."""
    replaced = [*plan.changed, *plan.gone]
    if not replaced:
        return
    await session.exec(
        delete(ProcedureSnapshot).where(
            col(ProcedureSnapshot.province_code) == run.province_code,
            in_values(col(ProcedureSnapshot.key), replaced, session.get_bind().dialect.name),
        )
    )

    def row(key: str, **values: Any) -> dict[str, Any]:
        # Plain dicts for a Core executemany: thousands of ORM objects cost more than the insert.
        procedure_code, agency_code = key.split("|", 1)
        return {
            "province_code": run.province_code,
            "key": key,
            "procedure_code": procedure_code,
            "agency_code": agency_code,
            "level": None,
            "procedure_name": None,
            "synced": None,
            "reasons": [],
            "provincial": None,
            "national": None,
            "fingerprint": plan.fingerprints[key],
            "provincial_fingerprint": plan.provincial_fingerprints.get(key),
            "run_id": run.id,
            "updated_at": now,
            **values,
        }

    rows = [
        *(
            row(
                c.key,
                kind="configuration",
                level=c.level,
                procedure_name=c.procedure_name,
                synced=not c.reasons,
                reasons=list(c.reasons),
                provincial=c.provincial,
                national=c.national,
            )
            for c in judged.configurations
        ),
        *(
            row(
                u.key,
                kind="unpaid",
                level=u.level,
                procedure_name=u.procedure_name,
                provincial=u.provincial,
            )
            for u in judged.unpaid
        ),
        # A P configuration without fees whose N item exists is an orphan, both sides shown.
        *(
            row(
                o.key,
                kind="orphan",
                level=o.level,
                procedure_name=o.procedure_name,
                provincial=o.provincial,
                national=o.national,
            )
            for o in judged.orphans
        ),
    ]
    if rows:
        await session.exec(insert(ProcedureSnapshot), params=rows)


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
                    data=_run_data(run),
                    at=moment,
                )
            failed.append(run.id)
            failed_scopes.append((run.province_code, run.scope))
        await session.commit()
    for province_code, scope in failed_scopes:
        RUNS.labels(province_code, scope, RunStatus.FAILED).inc()
    return failed


RunStarter = Callable[[str], Awaitable[None]]
