"""The dossier pipeline (semantics §3): fetch → judge → commit, with flat memory.

- fetch: P's agencies, then P's dossiers, N's synced dossiers and N's transactions streamed into
  staging (``dossier_runs.fetch_dossiers``);
- judge: completeness and the sharp-drop guard (``app.reconcile.completeness``), then the staged
  dossiers judged in bulk (``dossier_runs.judge_staged``);
- commit: ONE transaction with the findings lifecycle, the period's snapshot replaced by the
  staged verdicts, orphan transactions, agencies and the run's outcome with its event.
The staging rows go when the run ends, unless the snapshot now refers to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import DOSSIER_RUN_TABLES, analyze
from app.domain.normalize import normalize_code
from app.domain.records import Agency, Listing, Period
from app.models import Agency as AgencyRow
from app.models import OrphanTransaction, RunScope, RunStatus
from app.models.types import utcnow
from app.reconcile import completeness, dossier_runs
from app.reconcile.context import RunContext
from app.reconcile.outcome import PhaseClock, listing_summary


async def run_dossiers(ctx: RunContext) -> None:
    run = ctx.run
    period = Period(run.period_from, run.period_to)
    provincial, national = ctx.upstreams()
    clock = PhaseClock()
    kept = False  # whether the run's snapshot now refers to its staged records
    try:
        async with provincial, national:
            agencies = await provincial.list_agencies()
            fetched = await dossier_runs.fetch_dossiers(
                ctx.factory, run.id, period, provincial, national
            )
            upstream_stats = {
                "provincial": asdict(provincial.stats),
                "national": asdict(national.stats),
            }
        clock.lap("fetch")
        verdicts = await _judge(ctx, period, agencies, fetched, upstream_stats)
        if verdicts is None:
            return  # ended partial: nothing was judged, nothing changes
        judged, details = verdicts
        clock.lap("judge")
        kept = await _commit(ctx, period, agencies.items, judged, details, clock)
    finally:
        if kept:
            await dossier_runs.keep_stage(ctx.factory, run.id, run.province_code)
        else:
            await dossier_runs.drop_stage(ctx.factory, run.id)


async def _judge(
    ctx: RunContext,
    period: Period,
    agencies: Listing[Agency],
    fetched: dossier_runs.DossierFetch,
    upstream_stats: dict[str, Any],
) -> tuple[dossier_runs.DossierVerdicts, dict[str, Any]] | None:
    """The staged dossiers' verdicts; None when the part ended partial."""
    run = ctx.run
    listings = {agencies.name: listing_summary(agencies), **fetched.summaries()}
    warnings = list(agencies.warnings) + fetched.warnings()
    details = {"listings": listings, "upstream_stats": upstream_stats, "warnings": warnings}
    incomplete = completeness.incomplete([agencies, *fetched.listings.values()])
    if incomplete:
        await ctx.recorder.finish(run, RunStatus.PARTIAL, incomplete, details)
        return None
    drops = await completeness.sharp_drops(
        ctx.factory, run, RunScope.DOSSIERS, listings, threshold=ctx.settings.sharp_drop_threshold
    )
    if drops and not run.accept_drop:
        await ctx.recorder.finish(run, RunStatus.PARTIAL, drops, details)
        return None
    names = {normalize_code(a.code): a.name for a in agencies.items}
    verdicts = await dossier_runs.judge_staged(
        ctx.factory,
        run.id,
        period,
        run_started=run.started_at or utcnow(),
        agency_names=names,
    )
    return verdicts, details


async def _commit(
    ctx: RunContext,
    period: Period,
    agencies: Sequence[Agency],
    verdicts: dossier_runs.DossierVerdicts,
    details: dict[str, Any],
    clock: PhaseClock,
) -> bool:
    """Commit the run's outcome; True when it replaced the snapshot with its dossiers."""
    run, recorder = ctx.run, ctx.recorder
    now = utcnow()
    counts = dossier_runs.dossier_counts(verdicts)
    async with ctx.factory() as session:
        if not await recorder.still_ours(session, run):
            return False
        changes = await dossier_runs.apply_dossier_findings(
            session,
            province_code=run.province_code,
            run_id=run.id,
            period=period,
            now=now,
            dry_run=run.dry_run,
            changes=recorder.changes(),
        )
        counts["findings"] = changes.counts()
        sample = recorder.dry_run_sample(run, changes)
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
        recorder.apply(session, run, RunStatus.SUCCEEDED, [], details, counts, now)
        await session.commit()
    if not run.dry_run:
        await analyze(ctx.factory, DOSSIER_RUN_TABLES)
    recorder.count(run)
    return not run.dry_run


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
