"""Read models for the procedure endpoints: what the IT department and agencies look at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models import (
    Agency,
    Finding,
    FindingEvent,
    FindingStatus,
    ProcedureSnapshot,
    Run,
    RunScope,
    SubjectKind,
)
from app.pagination import KeyCursor, decode_cursor, encode_cursor
from app.read.complete_runs import latest_complete
from app.reconcile import sightings
from app.reconcile.normalize import normalize_code


async def _agency_names(
    session: AsyncSession, province_code: str, codes: set[str]
) -> dict[str, str]:
    if not codes:
        return {}
    rows = await session.exec(
        select(col(Agency.code), col(Agency.name)).where(
            col(Agency.province_code) == province_code, col(Agency.code).in_(codes)
        )
    )
    return dict(rows.all())


async def _open_findings_by_key(
    session: AsyncSession, province_code: str, keys: list[str]
) -> dict[str, list[Finding]]:
    """Open findings of a page's configurations in one query (no N+1)."""
    if not keys:
        return {}
    rows = await session.exec(
        select(Finding).where(
            col(Finding.province_code) == province_code,
            col(Finding.subject_kind) == SubjectKind.PROCEDURE,
            col(Finding.status) == FindingStatus.OPEN,
            col(Finding.subject_key).in_(keys),
        )
    )
    found: dict[str, list[Finding]] = {}
    for finding in rows.all():
        found.setdefault(finding.subject_key, []).append(finding)
    return found


def _earliest(findings: list[Finding]) -> str | None:
    if not findings:
        return None
    return min(f.first_seen_at for f in findings).isoformat()


def _run_ref(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.id,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "period_from": run.period_from.isoformat(),
        "period_to": run.period_to.isoformat(),
    }


async def unsynced_procedures(
    session: AsyncSession,
    *,
    province_code: str,
    level: str | None,
    agency: str | None,
    reason: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    position = decode_cursor(cursor, KeyCursor)
    complete = await latest_complete(session, province_code, RunScope.PROCEDURES)
    run = complete.run if complete else None
    summary = (complete.counts.get("summary") if complete else None) or {}
    query = select(ProcedureSnapshot).where(
        col(ProcedureSnapshot.province_code) == province_code,
        col(ProcedureSnapshot.kind) == "configuration",
        col(ProcedureSnapshot.synced).is_(False),
    )
    if level:
        query = query.where(col(ProcedureSnapshot.level) == level)
    if agency:
        query = query.where(col(ProcedureSnapshot.agency_code) == normalize_code(agency))
    if reason:
        # Per configuration, its findings by their subject (the one index that fits): with the
        # reason and status among the lookup's conditions, PostgreSQL without statistics read
        # every open finding of the reason once per configuration instead.
        findings_of_key = (
            select(col(Finding.reason), col(Finding.status))
            .where(
                col(Finding.province_code) == col(ProcedureSnapshot.province_code),
                col(Finding.subject_kind) == SubjectKind.PROCEDURE,
                col(Finding.subject_key) == col(ProcedureSnapshot.key),
            )
            .correlate(ProcedureSnapshot)
        )
        query = query.where(
            tuple_(literal(reason), literal(str(FindingStatus.OPEN))).in_(findings_of_key)
        )
    if position:
        query = query.where(col(ProcedureSnapshot.key) > position.key)
    rows = list(
        (await session.exec(query.order_by(col(ProcedureSnapshot.key)).limit(limit + 1))).all()
    )
    page, more = rows[:limit], len(rows) > limit
    names = await _agency_names(session, province_code, {row.agency_code for row in page})
    open_findings = await _open_findings_by_key(session, province_code, [row.key for row in page])
    items = [
        {
            "procedure_code": row.procedure_code,
            "procedure_name": row.procedure_name,
            "agency_code": row.agency_code,
            "agency_name": names.get(row.agency_code),
            "level": row.level,
            "reasons": row.reasons,
            "provincial": row.provincial,
            "national": row.national,
            "evidence": {f.reason: f.evidence for f in open_findings.get(row.key, [])},
            "first_seen_at": _earliest(open_findings.get(row.key, [])),
        }
        for row in page
    ]
    return {
        "summary": summary,
        "as_of": _run_ref(run),
        "items": items,
        "next_cursor": encode_cursor([page[-1].key]) if more and page else None,
    }


async def orphans_on_national(
    session: AsyncSession, *, province_code: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    position = decode_cursor(cursor, KeyCursor)
    query = select(ProcedureSnapshot).where(
        col(ProcedureSnapshot.province_code) == province_code,
        col(ProcedureSnapshot.kind) == "orphan",
    )
    if position:
        query = query.where(col(ProcedureSnapshot.key) > position.key)
    rows = list(
        (await session.exec(query.order_by(col(ProcedureSnapshot.key)).limit(limit + 1))).all()
    )
    page, more = rows[:limit], len(rows) > limit
    names = await _agency_names(session, province_code, {row.agency_code for row in page})
    complete = await latest_complete(session, province_code, RunScope.PROCEDURES)
    run = complete.run if complete else None
    return {
        "as_of": _run_ref(run),
        "items": [
            {
                "procedure_code": row.procedure_code,
                "agency_code": row.agency_code,
                "agency_name": names.get(row.agency_code),
                # P knows the configuration but charges no fee there, or P has no such item.
                "provincial_configuration": "without_fees" if row.provincial else "absent",
                "national": row.national,
                "provincial": row.provincial,
            }
            for row in page
        ],
        "next_cursor": encode_cursor([page[-1].key]) if more and page else None,
    }


async def procedure_detail(
    session: AsyncSession, *, province_code: str, procedure_code: str
) -> dict[str, Any]:
    code = normalize_code(procedure_code)
    snapshots = list(
        (
            await session.exec(
                select(ProcedureSnapshot)
                .where(
                    col(ProcedureSnapshot.province_code) == province_code,
                    col(ProcedureSnapshot.procedure_code) == code,
                )
                .order_by(col(ProcedureSnapshot.key))
            )
        ).all()
    )
    findings = list(
        (
            await session.exec(
                select(Finding)
                .where(
                    col(Finding.province_code) == province_code,
                    col(Finding.subject_kind) == SubjectKind.PROCEDURE,
                    col(Finding.procedure_code) == code,
                )
                .order_by(col(Finding.subject_key), col(Finding.reason), col(Finding.episode))
            )
        ).all()
    )
    if not snapshots and not findings:
        raise NotFound(
            f"No configuration or finding of procedure {code} in province {province_code}."
        )
    finding_ids = [f.id for f in findings if f.id is not None]
    events: dict[int, list[dict[str, Any]]] = {}
    if finding_ids:
        rows = await session.exec(
            select(FindingEvent)
            .where(col(FindingEvent.finding_id).in_(finding_ids))
            .order_by(col(FindingEvent.id))
        )
        for event in rows.all():
            events.setdefault(event.finding_id, []).append(
                {
                    "change": event.change,
                    "run_id": event.run_id,
                    "at": event.at.isoformat(),
                    "evidence": event.evidence,
                }
            )
    names = await _agency_names(session, province_code, {s.agency_code for s in snapshots})
    # Procedure runs do not rewrite a finding they see unchanged: an open finding's last
    # sighting is the latest complete procedure run (app.reconcile.sightings).
    through = await sightings.latest_procedure_run(session, province_code)
    numbers = await sightings.sequences(
        session, {f.last_run_id for f in findings if f.status == FindingStatus.OPEN}
    )

    def finding_view(f: Finding) -> dict[str, Any]:
        seen = sightings.sighting(f, through, numbers)
        return {
            "id": f.id,
            "agency_code": f.agency_code,
            "reason": f.reason,
            "status": f.status,
            "episode": f.episode,
            "evidence": f.evidence,
            "first_seen_at": f.first_seen_at.isoformat(),
            "last_seen_at": seen.last_seen_at.isoformat(),
            "seen_count": seen.seen_count,
            "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None,
            "history": events.get(f.id or -1, []),
        }

    return {
        "procedure_code": code,
        "procedure_name": next((s.procedure_name for s in snapshots if s.procedure_name), None),
        "configurations": [
            {
                "agency_code": s.agency_code,
                "agency_name": names.get(s.agency_code),
                "kind": s.kind,
                "level": s.level,
                "synced": s.synced,
                "reasons": s.reasons,
                "provincial": s.provincial,
                "national": s.national,
            }
            for s in snapshots
        ],
        "open_findings": [finding_view(f) for f in findings if f.status == FindingStatus.OPEN],
        "history": [finding_view(f) for f in findings if f.status != FindingStatus.OPEN],
    }
