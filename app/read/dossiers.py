"""The lists people fix things from: dossier mismatches, offline payments, one dossier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.dossiers import (
    NationalDossier,
    PaymentTransaction,
    ProvincialDossier,
    dossier_link,
    plain,
)
from app.domain.normalize import normalize_code
from app.domain.reasons import Lang
from app.errors import NotFound
from app.models import (
    Dossier,
    Finding,
    FindingStatus,
    OrphanTransaction,
    StageItem,
    SubjectKind,
)
from app.pagination import FindingCursor, KeyCursor, decode_cursor, encode_cursor
from app.read.fixes import fix_of
from app.read.kpi import Hierarchy, hierarchy, period_bounds
from app.read.visibility import agency_set, may_see
from app.reconcile.dossier_runs import N_LISTING, P_LISTING, TX_LISTING

PAID_OFFLINE: Final = "paid_offline"
ORPHAN_TRANSACTION: Final = "orphan_transaction"


@dataclass(frozen=True, slots=True)
class MismatchesQuery:
    reason: str | None = None
    agency: str | None = None
    include_descendants: bool = False
    start: date | None = None
    end: date | None = None
    lang: Lang = "vi"
    visible: frozenset[str] | None = None
    limit: int = 100
    cursor: str | None = None
    # The counts per reason cover the whole list: an export paging through it counts them once.
    with_summary: bool = True


@dataclass(frozen=True, slots=True)
class OfflineQuery:
    start: date
    end: date
    agency: str | None = None
    include_descendants: bool = True
    lang: Lang = "vi"
    visible: frozenset[str] | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OrphanTransactionsQuery:
    agency: str | None = None
    include_descendants: bool = True
    lang: Lang = "vi"
    visible: frozenset[str] | None = None
    limit: int = 100
    cursor: str | None = None


def _agency_filter(
    tree: Hierarchy,
    query: MismatchesQuery | OfflineQuery | OrphanTransactionsQuery,
) -> frozenset[str] | None:
    return agency_set(tree, query.agency, query.include_descendants, query.visible)


def _dossier_view(dossier: Dossier, names: dict[str, str]) -> dict[str, Any]:
    return {
        "code": dossier.code,
        "agency_code": dossier.agency_code,
        "agency_name": names.get(dossier.agency_code),
        "procedure_code": dossier.procedure_code,
        "received_at": dossier.received_at.isoformat() if dossier.received_at else None,
        "due_at": dossier.due_at.isoformat() if dossier.due_at else None,
        "finished_at": dossier.finished_at.isoformat() if dossier.finished_at else None,
        "fee_bearing": dossier.fee_bearing,
        "fee_total": dossier.fee_total,
        "payment_method": dossier.payment_method,
        "synced": dossier.synced,
        "portal_counted": dossier.portal_counted,
        "verified_online": dossier.verified_online,
        "paid_offline": dossier.paid_offline,
        "reasons": dossier.reasons,
        "run_id": dossier.run_id,
        "link": dossier_link(dossier.code),
    }


def _mismatch_conditions(tree: Hierarchy, province_code: str, query: MismatchesQuery) -> list[Any]:
    """The open dossier findings under the query's agency and period (not its reason: the
    counts per reason are of every reason)."""
    start, end = query.start, query.end
    agencies = _agency_filter(tree, query)
    conditions = [
        col(Finding.province_code) == province_code,
        col(Finding.subject_kind) == SubjectKind.DOSSIER,
        col(Finding.status) == FindingStatus.OPEN,
    ]
    if agencies is not None:
        conditions.append(col(Finding.agency_code).in_(agencies))
    if start is not None or end is not None:
        low, high = period_bounds(start or date(1900, 1, 1), end or date(9999, 12, 30))
        # The period is tested by one primary-key lookup of the finding's dossier, not as a
        # condition on the joined dossiers: that one PostgreSQL may serve from the
        # received-date index on the inner side of a nested loop, reading the whole period
        # once per finding, which it did when the tables had no statistics (9 minutes for a
        # year of Đồng Tháp). Here no index but the primary key applies to the lookup.
        received = aliased(Dossier, name="received")
        in_period = (
            select(col(received.received_at).between(low, high))
            .where(
                col(received.province_code) == col(Finding.province_code),
                col(received.key) == col(Finding.subject_key),
            )
            .correlate(Finding)
            .scalar_subquery()
        )
        conditions.append(in_period.is_(True))
    return conditions


async def mismatch_agencies(
    session: AsyncSession, province_code: str, query: MismatchesQuery
) -> list[str]:
    """The agencies having open findings under the query's filters, by code."""
    tree = await hierarchy(session, province_code)
    conditions = _mismatch_conditions(tree, province_code, query)
    if query.reason is not None:
        conditions.append(col(Finding.reason) == query.reason)
    conditions.append(col(Finding.agency_code).is_not(None))
    rows = await session.exec(select(col(Finding.agency_code)).where(*conditions).distinct())
    return sorted(code for code in rows.all() if code is not None)


async def mismatches_per_agency(
    session: AsyncSession, province_code: str, query: MismatchesQuery
) -> list[tuple[str, int]]:
    """Open findings per agency under the list's filters (its reason included), most first:
    the rows ``mismatches`` lists, counted by the conditions it lists them by."""
    tree = await hierarchy(session, province_code)
    conditions = _mismatch_conditions(tree, province_code, query)
    if query.reason is not None:
        conditions.append(col(Finding.reason) == query.reason)
    conditions.append(col(Finding.agency_code).is_not(None))
    rows = await session.exec(
        select(col(Finding.agency_code), func.count())
        .where(*conditions)
        .group_by(col(Finding.agency_code))
    )
    counts = [(str(code), int(count)) for code, count in rows.all()]
    return sorted(counts, key=lambda row: (-row[1], row[0]))


async def mismatches(
    session: AsyncSession, province_code: str, query: MismatchesQuery
) -> dict[str, Any]:
    """Open dossier findings with their dossier, by (dossier, reason); counts per reason."""
    reason, limit = query.reason, query.limit
    after = decode_cursor(query.cursor, FindingCursor)
    # Read once: the agency filter and the names on every item both come from it.
    tree = await hierarchy(session, province_code)
    conditions = _mismatch_conditions(tree, province_code, query)
    joined = (col(Dossier.province_code) == col(Finding.province_code)) & (
        col(Dossier.key) == col(Finding.subject_key)
    )
    summary: dict[str, int] = {}
    if query.with_summary:
        by_reason = await session.exec(
            select(col(Finding.reason), func.count())
            .join(Dossier, joined, isouter=True)
            .where(*conditions)
            .group_by(col(Finding.reason))
        )
        summary = dict(sorted((r, int(n)) for r, n in by_reason.all()))
    if reason is not None:
        conditions.append(col(Finding.reason) == reason)
    if after is not None:
        conditions.append(
            (col(Finding.subject_key) > after.subject_key)
            | (
                (col(Finding.subject_key) == after.subject_key)
                & (col(Finding.reason) > after.reason)
            )
        )
    rows = await session.exec(
        select(Finding, Dossier)
        .join(Dossier, joined, isouter=True)
        .where(*conditions)
        .order_by(col(Finding.subject_key), col(Finding.reason))
        .limit(limit + 1)
    )
    page = list(rows.all())
    names = tree.names
    items = []
    for finding, dossier in page[:limit]:
        items.append(
            {
                **(_dossier_view(dossier, names) if dossier else _gone(finding, names)),
                "reason": finding.reason,
                "evidence": finding.evidence,
                "first_seen_at": finding.first_seen_at.isoformat(),
                "last_seen_at": finding.last_seen_at.isoformat(),
                "link": dossier_link(dossier.code if dossier else finding.subject_key),
                "fix": fix_of(finding.reason, finding.evidence, query.lang),
            }
        )
    last = page[limit - 1][0] if len(page) > limit else None
    return {
        "summary": summary,
        "items": items,
        "next_cursor": encode_cursor([last.subject_key, last.reason]) if last else None,
    }


def _gone(finding: Finding, names: dict[str, str]) -> dict[str, Any]:
    """A finding's dossier no longer stored: its code and the finding's agency."""
    agency = finding.agency_code
    return {
        "code": finding.subject_key,
        "agency_code": agency,
        "agency_name": names.get(agency) if agency else None,
    }


async def offline(session: AsyncSession, province_code: str, query: OfflineQuery) -> dict[str, Any]:
    """Fee-bearing dossiers paid outside the platform: per agency, then the dossiers."""
    start, end, limit = query.start, query.end, query.limit
    low, high = period_bounds(start, end)
    after = decode_cursor(query.cursor, KeyCursor)
    tree = await hierarchy(session, province_code)
    agencies = _agency_filter(tree, query)
    conditions = [
        col(Dossier.province_code) == province_code,
        col(Dossier.paid_offline).is_(True),
        col(Dossier.received_at) >= low,
        col(Dossier.received_at) <= high,
    ]
    if agencies is not None:
        conditions.append(col(Dossier.agency_code).in_(agencies))
    per_agency = await session.exec(
        select(col(Dossier.agency_code), col(Dossier.payment_method), func.count())
        .where(*conditions)
        .group_by(col(Dossier.agency_code), col(Dossier.payment_method))
    )
    agencies_summary: dict[str, dict[str, Any]] = {}
    for code, method, count in per_agency.all():
        entry = agencies_summary.setdefault(
            code, {"agency_code": code, "agency_name": tree.names.get(code), "paid_offline": 0}
        )
        entry["paid_offline"] += int(count)
        entry.setdefault("by_method", {})[method or ""] = int(count)
    if after is not None:
        conditions.append(col(Dossier.key) > after.key)
    rows = await session.exec(
        select(Dossier).where(*conditions).order_by(col(Dossier.key)).limit(limit + 1)
    )
    page = list(rows.all())
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "agencies": sorted(
            agencies_summary.values(), key=lambda e: (-e["paid_offline"], e["agency_code"])
        ),
        "items": [
            {
                **_dossier_view(d, tree.names),
                "fix": fix_of(PAID_OFFLINE, {"payment_method": d.payment_method}, query.lang),
            }
            for d in page[:limit]
        ],
        "next_cursor": encode_cursor([page[limit - 1].key]) if len(page) > limit else None,
    }


async def orphan_transactions(
    session: AsyncSession, province_code: str, query: OrphanTransactionsQuery
) -> dict[str, Any]:
    """Verified payments of the last complete run's period that match no dossier (§3): listed
    apart, never findings, because nobody on P's side can fix them by editing a dossier."""
    limit = query.limit
    after = decode_cursor(query.cursor, KeyCursor)
    tree = await hierarchy(session, province_code)
    agencies = _agency_filter(tree, query)
    conditions = [col(OrphanTransaction.province_code) == province_code]
    if agencies is not None:
        conditions.append(col(OrphanTransaction.agency_code).in_(agencies))
    totals = await session.exec(
        select(func.count(), func.coalesce(func.sum(col(OrphanTransaction.amount)), 0)).where(
            *conditions
        )
    )
    count, amount = totals.one()
    if after is not None:
        conditions.append(col(OrphanTransaction.transaction_id) > after.key)
    rows = await session.exec(
        select(OrphanTransaction)
        .where(*conditions)
        .order_by(col(OrphanTransaction.transaction_id))
        .limit(limit + 1)
    )
    page = list(rows.all())
    names = tree.names
    return {
        "summary": {"transactions": int(count), "amount": int(amount or 0)},
        "items": [
            {
                "transaction_id": t.transaction_id,
                "dossier_code": t.dossier_code,
                "reference": t.reference,
                "agency_code": t.agency_code,
                "agency_name": names.get(t.agency_code),
                "amount": t.amount,
                "at": t.at.isoformat() if t.at else None,
                "channel": t.channel,
                "run_id": t.run_id,
                "fix": fix_of(
                    ORPHAN_TRANSACTION,
                    {
                        "transaction_id": t.transaction_id,
                        "dossier_code": t.dossier_code,
                        "reference": t.reference,
                        "amount": t.amount,
                        "at": t.at.isoformat() if t.at else None,
                    },
                    query.lang,
                ),
            }
            for t in page[:limit]
        ],
        "next_cursor": (
            encode_cursor([page[limit - 1].transaction_id]) if len(page) > limit else None
        ),
    }


async def dossier_detail(
    session: AsyncSession,
    province_code: str,
    code: str,
    visible: frozenset[str] | None = None,
    lang: Lang = "vi",
) -> dict[str, Any]:
    key = normalize_code(code)
    dossier = await session.get(Dossier, (key, province_code))
    if dossier is not None and not may_see(visible, dossier.agency_code):
        dossier = None
    findings = (
        await session.exec(
            select(Finding)
            .where(
                col(Finding.province_code) == province_code,
                col(Finding.subject_kind) == SubjectKind.DOSSIER,
                col(Finding.subject_key) == key,
            )
            .order_by(col(Finding.reason), col(Finding.episode))
        )
    ).all()
    if visible is not None:
        findings = [f for f in findings if f.agency_code in visible]
    if dossier is None and not findings:
        raise NotFound(f"No dossier {code} in the last complete dossier runs.")
    names = (await hierarchy(session, province_code)).names
    records = await _records(session, dossier) if dossier else {}
    return {
        "dossier": _dossier_view(dossier, names) if dossier else None,
        "provincial": records.get(P_LISTING),
        "national": records.get(N_LISTING),
        "transactions": records.get(TX_LISTING, []),
        "findings": [
            {
                "reason": f.reason,
                "status": f.status,
                "episode": f.episode,
                "evidence": f.evidence,
                "first_seen_at": f.first_seen_at.isoformat(),
                "last_seen_at": f.last_seen_at.isoformat(),
                "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None,
                "fix": fix_of(f.reason, f.evidence, lang),
            }
            for f in findings
        ],
    }


async def _records(session: AsyncSession, dossier: Dossier) -> dict[str, Any]:
    """Both sides' records and the platform's transactions as the dossier's run read them:
    the raw values the upstreams served beside what the service parsed them into. A
    transaction belongs to the dossier by its payment reference or by the code it declares."""
    staged = (
        await session.exec(
            select(StageItem).where(
                col(StageItem.run_id) == dossier.run_id,
                col(StageItem.listing).in_((P_LISTING, N_LISTING)),
                col(StageItem.key) == dossier.key,
            )
        )
    ).all()
    records: dict[str, Any] = {}
    reference = None
    for item in staged:
        if item.listing == P_LISTING:
            provincial = ProvincialDossier.from_row(item.data)
            reference = provincial.payment.reference if provincial.payment else None
            records[P_LISTING] = plain(provincial)
        else:
            records[N_LISTING] = plain(NationalDossier.from_row(item.data))
    belongs = col(StageItem.link_key) == dossier.key
    if reference:
        belongs = or_(belongs, col(StageItem.ref) == reference)
    transactions = (
        await session.exec(
            select(StageItem)
            .where(
                col(StageItem.run_id) == dossier.run_id,
                col(StageItem.listing) == TX_LISTING,
                belongs,
            )
            .order_by(col(StageItem.moment), col(StageItem.key))
        )
    ).all()
    records[TX_LISTING] = [plain(PaymentTransaction.from_row(t.data)) for t in transactions]
    return records
