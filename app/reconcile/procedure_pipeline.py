"""The procedure pipeline (semantics §1–2): fetch → judge → commit.

- fetch: P's agencies and procedures (all of them, or what changed since the last complete run:
  ``_plan_poll``), N's payment info and procedure stats, and the stored side, concurrently;
- judge: completeness and the sharp-drop guard (``app.reconcile.completeness``), then the pure
  rules of ``app.reconcile.procedures`` over the keys whose inputs moved;
- commit: ONE transaction with the findings lifecycle, the snapshot rows of the keys judged
  again, the agencies that changed and the run's outcome with its event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import PROCEDURE_RUN_TABLES, SessionFactory, analyze, in_values
from app.domain.normalize import normalize_code
from app.domain.records import (
    Agency,
    DataQualityWarning,
    Listing,
    NationalPaymentInfo,
    Period,
    ProcedureStat,
    ProvincialProcedure,
)
from app.models import Agency as AgencyRow
from app.models import ProcedureSnapshot, Run, RunScope, RunStatus, SubjectKind
from app.models.types import utcnow
from app.reconcile import completeness, sightings
from app.reconcile.context import RunContext
from app.reconcile.findings import ObservedFinding, apply_findings
from app.reconcile.outcome import PhaseClock, listing_summary
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


@dataclass(slots=True)
class _Read:
    """What the fetch phase read: the listings, how P was read, and the stored side."""

    fetched: _Fetched
    poll: PollPlan
    stored: StoredSide
    details: dict[str, Any]


async def run_procedures(ctx: RunContext) -> None:
    """Read P (all of it, or what changed since the last complete run) and N, judge what
    changed, then commit. See ``_plan_poll`` for when a run reads all of P."""
    clock = PhaseClock()
    read = await _fetch(ctx)
    clock.lap("fetch")
    judgement = await _judge(ctx, read)
    if judgement is None:
        return  # ended partial: nothing was judged, nothing changes
    plan, judged = judgement
    clock.lap("judge")
    await _commit(ctx, read, plan, judged, clock)


async def _fetch(ctx: RunContext) -> _Read:
    run = ctx.run
    period = Period(run.period_from, run.period_to)
    poll = await _plan_poll(ctx)
    provincial, national = ctx.upstreams()
    # The stored side is read while the upstreams are: it does not depend on them.
    stored_read = asyncio.ensure_future(_read_stored(ctx.factory, run.province_code))
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
    fetched = _Fetched(agencies, procedures, payment_info, stats)
    listings = {listing.name: listing_summary(listing) for listing in fetched.listings()}
    warnings = [w for listing in fetched.listings() for w in listing.warnings]
    details = {"listings": listings, "upstream_stats": upstream_stats, "warnings": warnings}
    # Even a run that ends partial says how it read P.
    listings[procedures.name]["updated_since"] = (
        poll.updated_since.isoformat() if poll.updated_since else None
    )
    return _Read(fetched, poll, stored, details)


async def _judge(ctx: RunContext, read: _Read) -> tuple[ChangePlan, JudgedChanges] | None:
    """The plan of what to judge again and its judgement; None when the part ended partial
    (an incomplete listing or a sharp drop)."""
    run, fetched, details = ctx.run, read.fetched, read.details
    incomplete = completeness.incomplete(fetched.listings())
    if incomplete:
        await ctx.recorder.finish(run, RunStatus.PARTIAL, incomplete, details)
        return None

    procedures = fetched.procedures
    p_by_key, n_by_key, stat_by_code = keyed_inputs(
        procedures.items, fetched.payment_info.items, fetched.stats.items
    )
    plan = plan_changes(
        read.stored.subjects,
        p_by_key,
        n_by_key,
        stat_by_code,
        provincial_is_whole=read.poll.updated_since is None,
    )
    # The sharp-drop guard counts P's keys as the run knows them: an incremental read is
    # small by nature, what it merges into is not.
    listings = details["listings"]
    listings[procedures.name] |= {"distinct": plan.provincial_keys, "read": len(procedures.items)}
    drops = await completeness.sharp_drops(
        ctx.factory,
        run,
        RunScope.PROCEDURES,
        listings,
        threshold=ctx.settings.sharp_drop_threshold,
    )
    if drops and not run.accept_drop:
        await ctx.recorder.finish(run, RunStatus.PARTIAL, drops, details)
        return None

    # Keys judged again whose P item this run did not read: from the stored snapshot.
    rebuilt = (
        await _read_stored_provincial(ctx.factory, run.province_code, plan.stored_provincial_needed)
        if plan.stored_provincial_needed
        else {}
    )
    judged = judge_changes(plan, read.stored.subjects, p_by_key | rebuilt, n_by_key, stat_by_code)
    warnings: list[DataQualityWarning] = details["warnings"]
    details["warnings"] = warnings + listing_warnings(p_by_key, n_by_key)
    return plan, judged


async def _commit(
    ctx: RunContext,
    read: _Read,
    plan: ChangePlan,
    judged: JudgedChanges,
    clock: PhaseClock,
) -> None:
    """One transaction: findings and snapshot rows of the keys judged again (nothing for a
    key whose fingerprint did not move), agencies if they changed, and the run's outcome."""
    run, recorder, fetched, poll = ctx.run, ctx.recorder, read.fetched, read.poll
    now = utcnow()
    agency_names = {normalize_code(a.code): a.name for a in fetched.agencies.items}
    observed = _observed_findings(judged, agency_names)
    counts = _counts(poll, plan, judged)
    async with ctx.factory() as session:
        if not await recorder.still_ours(session, run):
            return
        changes = await apply_findings(
            session,
            province_code=run.province_code,
            subject_kind=SubjectKind.PROCEDURE,
            observed=observed,
            run_id=run.id,
            now=now,
            dry_run=run.dry_run,
            changes=recorder.changes(),
            subjects=set(plan.changed) | set(plan.gone),
            seen_through=poll.seen_through,
        )
        # Open findings of the keys not judged again were seen too, and are unchanged.
        changes.totals["unchanged"] += _carried_findings(plan, judged)
        counts["findings"] = changes.counts()
        sample = recorder.dry_run_sample(run, changes)
        if not run.dry_run:
            await _sync_agencies(
                session, run.province_code, fetched.agencies.items, read.stored.agencies, now
            )
            await _write_snapshot(session, run, plan, judged, now)
        run.dry_run_sample = sample
        counts["timings_s"] = clock.lap("commit").laps
        recorder.apply(session, run, RunStatus.SUCCEEDED, [], read.details, counts, now)
        await session.commit()
    if not run.dry_run:
        await analyze(ctx.factory, PROCEDURE_RUN_TABLES)
    recorder.count(run)


async def _plan_poll(ctx: RunContext) -> PollPlan:
    """Incremental unless a full re-check is asked for, due, or impossible."""
    run = ctx.run
    async with ctx.factory() as session:
        previous = await latest_complete(session, run.province_code, RunScope.PROCEDURES)
    started = run.started_at or utcnow()
    settings = ctx.settings
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


async def _read_stored(factory: SessionFactory, province_code: str) -> StoredSide:
    """What the last complete procedure run stored: every key's judgement and fingerprints,
    and the agencies (plain columns: JSON snapshots are read only for keys judged again)."""
    async with factory() as session:
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
    factory: SessionFactory, province_code: str, keys: Sequence[str]
) -> dict[str, ProvincialProcedure]:
    """P's items as the store has them, for keys judged again without P sending them."""
    async with factory() as session:
        dialect = session.get_bind().dialect.name
        rows = await (await session.connection()).execute(
            sa.select(_SNAPSHOT.c.key, _SNAPSHOT.c.provincial).where(
                _SNAPSHOT.c.province_code == province_code,
                in_values(_SNAPSHOT.c.key, list(keys), dialect),
            )
        )
        return {key: provincial_from_snapshot(snapshot) for key, snapshot in rows if snapshot}


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
