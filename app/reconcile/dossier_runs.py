"""A dossier run (semantics §3) with flat memory: stream → stage → judge in chunks → commit.

1. P's dossiers of the period, N's synced dossiers of the period and N's transactions of the
   period extended by ``TRANSACTION_TAIL`` stream into ``stage_items`` (one page at a time).
2. The staged P dossiers are judged in key order, ``CHUNK`` at a time, each chunk fetching only
   its own counterparts; verdicts go to ``stage_dossier_results``.
3. Orphan transactions come from one anti-join over the staging rows.
4. The caller commits the outcome in one transaction: findings, snapshot replaced by
   ``INSERT … SELECT`` for the period, orphans, events, run status.

Only findings (bounded by the number of mismatches) and one chunk are ever in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, and_, delete, exists, insert, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.base import StreamedListing
from app.clients.national import NationalClient
from app.clients.provincial import ProvincialClient
from app.db import SessionFactory, in_values
from app.domain.dossiers import (
    NationalDossier,
    PaymentTransaction,
    ProvincialDossier,
    dossier_link,
    fee_total,
)
from app.domain.normalize import normalize_code
from app.domain.records import DataQualityWarning, Period
from app.domain.values import local_day_end, local_day_start
from app.models import (
    Dossier,
    DossierResult,
    Finding,
    FindingStatus,
    OrphanTransaction,
    Run,
    StageItem,
    SubjectKind,
)
from app.reconcile.bulk import insert_rows
from app.reconcile.dossier_rules import (
    DOSSIER_REASONS,
    is_orphan_transaction,
    judge_dossier,
)
from app.reconcile.findings import KeyRange, LifecycleChanges, ObservedFinding, apply_findings
from app.reconcile.staging import StageSink

P_LISTING, N_LISTING, TX_LISTING = "p", "n", "tx"
FINDINGS_LISTING = "finding"  # a run's observed findings, staged while it judges
CHUNK = 2000
TRANSACTION_TAIL = timedelta(days=30)  # a fee is paid after the dossier is received (§3)
PENDING_GRACE = timedelta(minutes=30)
STAGE: Table = StageItem.__table__  # type: ignore[attr-defined]
RESULTS: Table = DossierResult.__table__  # type: ignore[attr-defined]
SNAPSHOT: Table = Dossier.__table__  # type: ignore[attr-defined]


@dataclass
class DossierFetch:
    listings: dict[str, StreamedListing]

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "complete": listing.complete,
                "reported_total": listing.reported_total,
                "distinct": listing.distinct,
                "passes": listing.passes,
                "error": listing.error,
            }
            for name, listing in self.listings.items()
        }

    def warnings(self) -> list[DataQualityWarning]:
        return [w for listing in self.listings.values() for w in listing.warnings]


async def fetch_dossiers(
    factory: SessionFactory,
    run_id: str,
    period: Period,
    provincial: ProvincialClient,
    national: NationalClient,
) -> DossierFetch:
    """Stream the three listings into staging, concurrently (each upstream keeps its limit)."""
    p_sink: StageSink[ProvincialDossier] = StageSink(
        factory,
        run_id,
        P_LISTING,
        to_row=ProvincialDossier.to_row,
        ref=lambda d: d.payment.reference if d.payment else None,
        moment=lambda d: d.received_at,
    )
    n_sink: StageSink[NationalDossier] = StageSink(
        factory, run_id, N_LISTING, to_row=NationalDossier.to_row
    )
    tx_sink: StageSink[PaymentTransaction] = StageSink(
        factory,
        run_id,
        TX_LISTING,
        to_row=PaymentTransaction.to_row,
        ref=lambda t: t.reference,
        link_key=lambda t: normalize_code(t.dossier_code),
        moment=lambda t: t.at,
    )
    extended = Period(period.start, period.end + TRANSACTION_TAIL)
    p, n, tx = await asyncio.gather(
        provincial.stream_dossiers(period, p_sink),
        national.stream_synced_dossiers(period, n_sink),
        national.stream_transactions(extended, tx_sink),
    )
    return DossierFetch({p.name: p, n.name: n, tx.name: tx})


@dataclass
class DossierVerdicts:
    counts: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    orphans: list[PaymentTransaction] = field(default_factory=list)


async def judge_staged(
    factory: SessionFactory,
    run_id: str,
    period: Period,
    *,
    run_started: datetime,
    agency_names: dict[str, str],
) -> DossierVerdicts:
    verdicts = DossierVerdicts()
    cutoff = run_started - PENDING_GRACE
    await _analyze_stage(factory)
    after = ""
    while True:
        async with factory() as session:
            chunk = await _chunk(session, run_id, after)
            if not chunk:
                break
            after = chunk[-1].key
            results, findings = await _judge_chunk(
                session, run_id, chunk, cutoff, agency_names, verdicts
            )
            connection = await session.connection()
            await insert_rows(connection, RESULTS, results)
            await insert_rows(connection, STAGE, findings)
            await session.commit()
    verdicts.orphans = await _orphans(factory, run_id, period)
    verdicts.counts["orphan_transactions"] = len(verdicts.orphans)
    return verdicts


async def _analyze_stage(factory: SessionFactory) -> None:
    """Fresh statistics for the rows just staged: without them PostgreSQL plans the chunk
    lookups for an empty table and scans the whole staging area once per chunk."""
    async with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.exec(sa.text("ANALYZE stage_items"))  # type: ignore[call-overload]
            await session.commit()


# Staged rows are read with Core, not as ORM objects: a run reads every staged record once and
# building an identity-mapped instance for each cost more than judging it.
STAGED_COLUMNS = (STAGE.c.key, STAGE.c.ref, STAGE.c.link_key, STAGE.c.data)
Staged = sa.Row[Any, Any, Any, Any]  # key, ref, link_key, data


async def _chunk(session: AsyncSession, run_id: str, after: str) -> list[Staged]:
    rows = await (await session.connection()).execute(
        sa.select(*STAGED_COLUMNS)
        .where(STAGE.c.run_id == run_id, STAGE.c.listing == P_LISTING, STAGE.c.key > after)
        .order_by(STAGE.c.key)
        .limit(CHUNK)
    )
    return list(rows.all())


async def _staged(session: AsyncSession, run_id: str, listing: str, condition: Any) -> list[Staged]:
    rows = await (await session.connection()).execute(
        sa.select(*STAGED_COLUMNS).where(
            STAGE.c.run_id == run_id, STAGE.c.listing == listing, condition
        )
    )
    return list(rows.all())


async def _judge_chunk(
    session: AsyncSession,
    run_id: str,
    chunk: list[Staged],
    cutoff: datetime,
    agency_names: dict[str, str],
    verdicts: DossierVerdicts,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Judge one chunk: its snapshot rows and its findings (staged, never all in memory)."""
    refs = [item.ref for item in chunk if item.ref]
    unreferenced = [item.key for item in chunk if not item.ref]
    # The chunk is a key range: N's dossiers come by the same range, not a list of keys.
    same_range = and_(STAGE.c.key >= chunk[0].key, STAGE.c.key <= chunk[-1].key)
    national = {
        item.key: NationalDossier.from_row(item.data)
        for item in await _staged(session, run_id, N_LISTING, same_range)
    }
    dialect = session.get_bind().dialect.name
    by_ref: dict[str, list[PaymentTransaction]] = defaultdict(list)
    by_code: dict[str, list[PaymentTransaction]] = defaultdict(list)
    tx_rows = await _staged(
        session,
        run_id,
        TX_LISTING,
        or_(
            in_values(STAGE.c.ref, refs, dialect),
            in_values(STAGE.c.link_key, unreferenced, dialect),
        ),
    )
    for item in tx_rows:
        transaction = PaymentTransaction.from_row(item.data)
        if item.ref:
            by_ref[item.ref].append(transaction)
        if item.link_key:
            by_code[item.link_key].append(transaction)

    results: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for item in chunk:
        dossier = ProvincialDossier.from_row(item.data)
        counterpart = national.get(item.key)
        row: dict[str, Any] = {
            "stage_run_id": run_id,
            "run_id": run_id,
            "key": item.key,
            "code": dossier.code,
            "agency_code": dossier.agency_code,
            "procedure_code": dossier.procedure_code,
            "received_at": dossier.received_at,
            "due_at": dossier.due_at,
            "finished_at": dossier.finished_at,
            "fee_bearing": dossier.fee_bearing,
            "synced": counterpart is not None,
            "payment_method": dossier.payment.method if dossier.payment else None,
            "fee_total": fee_total(dossier.fees),
            "portal_counted": False,
            "verified_online": False,
            "paid_offline": False,
            "reasons": [],
        }
        verdicts.counts["dossiers"] += 1
        if dossier.fee_bearing:
            transactions = by_ref[item.ref] if item.ref else by_code[item.key]
            judged = judge_dossier(dossier, counterpart, transactions, pending_cutoff=cutoff)
            row |= {
                "portal_counted": judged.portal_counted,
                "verified_online": judged.verified_online,
                "paid_offline": judged.paid_offline,
                "reasons": list(judged.reasons),
            }
            verdicts.counts["fee_bearing"] += 1
            verdicts.counts["portal_counted"] += judged.portal_counted
            verdicts.counts["verified_online"] += judged.verified_online
            verdicts.counts["paid_offline"] += judged.paid_offline
            verdicts.counts["with_reasons"] += bool(judged.reasons)
            verdicts.by_reason.update(judged.reasons)
            subject = _subject(dossier, item.key, agency_names)
            for reason in judged.reasons:
                findings.append(
                    _finding_row(
                        run_id,
                        item.key,
                        reason,
                        {
                            "e": judged.evidence.get(reason, {}),
                            "p": dossier.procedure_code,
                            "a": dossier.agency_code,
                            "s": subject,
                            "l": dossier_link(dossier.code.strip()),
                        },
                    )
                )
        results.append(row)
    return results, findings


def _finding_row(run_id: str, key: str, reason: str, data: dict[str, Any]) -> dict[str, Any]:
    # Staged under a digest: a dossier key may already use the column's whole width.
    digest = hashlib.sha1(f"{key}|{reason}".encode(), usedforsecurity=False).hexdigest()
    return {
        "run_id": run_id,
        "listing": FINDINGS_LISTING,
        "key": digest,
        "ref": key,
        "link_key": reason,
        "moment": None,
        "data": data,
    }


async def apply_dossier_findings(
    session: AsyncSession,
    *,
    province_code: str,
    run_id: str,
    period: Period,
    now: datetime,
    dry_run: bool,
    changes: LifecycleChanges,
) -> LifecycleChanges:
    """The findings lifecycle for a dossier run, one range of dossier keys at a time, so memory
    stays flat however many dossiers and findings the province has. Ranges follow the staged P
    dossiers ``CHUNK`` at a time; the last range is open-ended, for findings of dossiers that
    are gone."""
    if session.get_bind().dialect.name == "postgresql":
        # The findings table grows while this transaction fills it range by range; a generic
        # plan cached while it was small would scan it whole for every range (quadratic).
        await session.exec(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))  # type: ignore[call-overload]
    after = ""
    while True:
        bound = await session.exec(
            select(col(StageItem.key))
            .where(
                col(StageItem.run_id) == run_id,
                col(StageItem.listing) == P_LISTING,
                col(StageItem.key) > after,
            )
            .order_by(col(StageItem.key))
            .offset(CHUNK - 1)
            .limit(1)
        )
        upto = bound.first()
        key_range: KeyRange = (after, upto)
        await apply_findings(
            session,
            province_code=province_code,
            subject_kind=SubjectKind.DOSSIER,
            observed=await _staged_findings(session, run_id, key_range),
            run_id=run_id,
            now=now,
            in_reach=await in_reach(session, province_code, run_id, period, key_range),
            dry_run=dry_run,
            key_range=key_range,
            changes=changes,
        )
        if upto is None:
            return changes
        after = upto


async def _staged_findings(
    session: AsyncSession, run_id: str, key_range: KeyRange
) -> list[ObservedFinding]:
    rows = await (await session.connection()).execute(
        sa.select(STAGE.c.ref, STAGE.c.link_key, STAGE.c.data).where(
            STAGE.c.run_id == run_id,
            STAGE.c.listing == FINDINGS_LISTING,
            *_in_range(STAGE.c.ref, key_range),
        )
    )
    return [
        ObservedFinding(
            subject_kind=SubjectKind.DOSSIER,
            subject_key=key,
            reason=reason,
            evidence=data["e"],
            procedure_code=data["p"],
            agency_code=data["a"],
            subject=data["s"],
            link=data["l"],
        )
        for key, reason, data in rows
    ]


def _in_range(column: Any, key_range: KeyRange) -> list[Any]:
    after, upto = key_range
    return [column > after] if upto is None else [column > after, column <= upto]


def _subject(dossier: ProvincialDossier, key: str, names: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": SubjectKind.DOSSIER.value,
        "key": key,
        "dossier_code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "agency_code": dossier.agency_code,
        "agency_name": names.get(dossier.agency_code),
        "received_at": dossier.received_at.isoformat() if dossier.received_at else None,
    }


async def _orphans(
    factory: SessionFactory, run_id: str, period: Period
) -> list[PaymentTransaction]:
    """Verified transactions of the period that match no P dossier of the period (§3)."""
    tx, p = STAGE.alias("tx"), STAGE.alias("p")
    of_run = (p.c.run_id == run_id, p.c.listing == P_LISTING)
    by_ref = exists().where(*of_run, p.c.ref.is_not(None), p.c.ref == tx.c.ref)
    by_code = exists().where(*of_run, p.c.ref.is_(None), p.c.key == tx.c.link_key)
    start, end = local_day_start(period.start), local_day_end(period.end)
    query = sa.select(tx.c.data).where(
        tx.c.run_id == run_id,
        tx.c.listing == TX_LISTING,
        tx.c.moment >= start,
        tx.c.moment <= end,
        ~and_(tx.c.ref.is_not(None), by_ref),
        ~by_code,
    )
    async with factory() as session:
        rows = await (await session.connection()).execute(query)
        candidates = [PaymentTransaction.from_row(data) for (data,) in rows]
    return [t for t in candidates if is_orphan_transaction(t, period.start, matched=False)]


async def in_reach(
    session: AsyncSession, province_code: str, run_id: str, period: Period, key_range: KeyRange
) -> list[str]:
    """Open dossier findings in ``key_range`` this run may resolve: dossiers received in its
    period (staged now, or in the snapshot from before)."""
    start, end = local_day_start(period.start), local_day_end(period.end)
    # Every subquery is bounded by the range too: otherwise each range would hash every staged
    # key again, and the commit would grow with the square of the province's dossiers.
    staged = select(col(StageItem.key)).where(
        col(StageItem.run_id) == run_id,
        col(StageItem.listing) == P_LISTING,
        *_in_range(col(StageItem.key), key_range),
    )
    known = select(col(Dossier.key)).where(
        col(Dossier.province_code) == province_code,
        col(Dossier.received_at) >= start,
        col(Dossier.received_at) <= end,
        *_in_range(col(Dossier.key), key_range),
    )
    rows = await session.exec(
        select(col(Finding.subject_key)).where(
            col(Finding.province_code) == province_code,
            col(Finding.subject_kind) == SubjectKind.DOSSIER,
            col(Finding.status) == FindingStatus.OPEN,
            *_in_range(col(Finding.subject_key), key_range),
            or_(col(Finding.subject_key).in_(staged), col(Finding.subject_key).in_(known)),
        )
    )
    return list(rows.all())


async def replace_snapshot(
    session: AsyncSession, province_code: str, run_id: str, period: Period
) -> None:
    """The period's dossiers become this run's, set-based (nothing passes through Python)."""
    start, end = local_day_start(period.start), local_day_end(period.end)
    await session.exec(
        delete(Dossier).where(
            col(Dossier.province_code) == province_code,
            col(Dossier.received_at) >= start,
            col(Dossier.received_at) <= end,
        )
    )
    columns = [c.name for c in SNAPSHOT.columns if c.name != "province_code"]
    source = RESULTS
    staged_keys = select(col(DossierResult.key)).where(col(DossierResult.stage_run_id) == run_id)
    # A dossier whose received date moved out of the period is replaced as well.
    await session.exec(
        delete(Dossier).where(
            col(Dossier.province_code) == province_code, col(Dossier.key).in_(staged_keys)
        )
    )
    await (await session.connection()).execute(
        insert(SNAPSHOT).from_select(
            ["province_code", *columns],
            sa.select(literal(province_code), *[source.c[name] for name in columns]).where(
                source.c.stage_run_id == run_id
            ),
        )
    )
    await session.exec(
        delete(OrphanTransaction).where(
            col(OrphanTransaction.province_code) == province_code,
            col(OrphanTransaction.at) >= start,
            col(OrphanTransaction.at) <= end,
        )
    )


def orphan_rows(
    province_code: str, run_id: str, orphans: list[PaymentTransaction]
) -> list[dict[str, Any]]:
    return [
        {
            "province_code": province_code,
            "transaction_id": t.transaction_id,
            "reference": t.reference,
            "dossier_code": t.dossier_code,
            "agency_code": t.agency_code,
            "amount": t.amount,
            "at": t.at,
            "channel": t.channel,
            "run_id": run_id,
        }
        for t in orphans
    ]


async def keep_stage(factory: SessionFactory, run_id: str, province_code: str) -> None:
    """After a run's snapshot is committed, its staged listings stay: they are both sides' records
    and the transactions that ``GET /dossiers/{code}`` shows. Its verdicts and staged findings go,
    and so do the listings of the province's earlier runs that no snapshot row refers to any
    more (a later run covered their period, or they never committed one)."""
    referenced = (
        sa.select(SNAPSHOT.c.run_id)
        .where(SNAPSHOT.c.province_code == province_code)
        .distinct()
        .scalar_subquery()
    )
    finished_elsewhere = sa.select(col(Run.id)).where(
        col(Run.province_code) == province_code,
        col(Run.id) != run_id,
        col(Run.active_province).is_(None),
    )
    async with factory() as session:
        await session.exec(
            delete(StageItem).where(
                col(StageItem.run_id) == run_id, col(StageItem.listing) == FINDINGS_LISTING
            )
        )
        await session.exec(delete(DossierResult).where(col(DossierResult.stage_run_id) == run_id))
        await session.exec(
            delete(StageItem).where(
                col(StageItem.run_id).in_(finished_elsewhere),
                col(StageItem.run_id).not_in(referenced),
            )
        )
        await session.commit()


async def drop_stage(factory: SessionFactory, run_id: str) -> None:
    """A run's staging, whatever its outcome: listings and verdicts."""
    async with factory() as session:
        await session.exec(delete(StageItem).where(col(StageItem.run_id) == run_id))
        await session.exec(delete(DossierResult).where(col(DossierResult.stage_run_id) == run_id))
        await session.commit()


def dossier_counts(verdicts: DossierVerdicts) -> dict[str, Any]:
    counts: dict[str, Any] = dict(verdicts.counts)
    fee_bearing = counts.get("fee_bearing", 0)
    counts["by_reason"] = {
        r: verdicts.by_reason[r] for r in DOSSIER_REASONS if verdicts.by_reason[r]
    }
    counts["online_rate"] = (
        round(counts.get("portal_counted", 0) / fee_bearing, 4) if fee_bearing else None
    )
    return counts
