"""The findings lifecycle (DESIGN promise 3): open, update on changed evidence, resolve, reopen.

Called inside the run's single transaction; it stages rows and outbox events and never commits.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import in_values
from app.events import MISMATCH_OPENED, MISMATCH_RESOLVED, MISMATCH_UPDATED, add_event
from app.models import Finding, FindingEvent, FindingStatus


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def evidence_hash(evidence: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(evidence).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ObservedFinding:
    """A reason that a complete run saw hold for a subject, with what the event should say."""

    subject_kind: str
    subject_key: str
    reason: str
    evidence: Mapping[str, Any]
    procedure_code: str | None = None
    agency_code: str | None = None
    level: str | None = None
    subject: Mapping[str, Any] = field(default_factory=dict)  # names, codes for the payload
    link: str = ""


@dataclass(slots=True)
class LifecycleChanges:
    """How many findings a run opened, updated, resolved or saw unchanged, with the first few
    "subject_key|reason" of each change (a dry run's sample): counted, never all kept, because
    a dossier run's changes grow with the province."""

    sample_size: int = 20
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)

    def note(self, change: str, subject_key: str, reason: str) -> None:
        self.totals[change] += 1
        sample: list[str] = getattr(self, change)
        if len(sample) < self.sample_size:
            sample.append(f"{subject_key}|{reason}")

    @property
    def unchanged(self) -> int:
        return self.totals["unchanged"]

    def counts(self) -> dict[str, int]:
        return {
            change: self.totals[change] for change in ("opened", "updated", "resolved", "unchanged")
        }


KeyRange = tuple[str, str | None]  # subject keys: (after, up to and including; None = no end)


def _finding_data(
    finding: Finding, observed: ObservedFinding | None, run_id: str, subject: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "finding_id": finding.id,
        "episode": finding.episode,
        "subject": dict(subject),
        "reason": finding.reason,
        "evidence": finding.evidence,
        "run_id": run_id,
        "first_seen_at": finding.first_seen_at.isoformat(),
        "status": finding.status,
        "link": observed.link if observed else "",
    }


async def apply_findings(
    session: AsyncSession,
    *,
    province_code: str,
    subject_kind: str,
    observed: Iterable[ObservedFinding],
    run_id: str,
    now: datetime,
    in_reach: Iterable[str] | None = None,
    dry_run: bool = False,
    key_range: KeyRange | None = None,
    changes: LifecycleChanges | None = None,
) -> LifecycleChanges:
    """Bring stored findings of ``subject_kind`` in line with what a complete run observed.

    ``in_reach`` limits which open findings this run may resolve (subject keys); ``None`` means
    every finding of the kind. A dry run computes the same changes and writes nothing.

    With ``key_range`` only the findings of subjects in that range are considered, so a run
    with more findings than fit in memory applies them range by range in one transaction
    (``observed`` then holds that range's findings), accumulating into ``changes``.
    """
    current = {(item.subject_key, item.reason): item for item in observed}
    reach = None if in_reach is None else set(in_reach)
    conditions = [
        col(Finding.province_code) == province_code,
        col(Finding.subject_kind) == subject_kind,
        col(Finding.status) == FindingStatus.OPEN,
    ]
    if key_range is not None:
        conditions.append(col(Finding.subject_key) > key_range[0])
        if key_range[1] is not None:
            conditions.append(col(Finding.subject_key) <= key_range[1])
    rows = await session.exec(select(Finding).where(*conditions))
    open_findings = {(f.subject_key, f.reason): f for f in rows.all()}
    changes = changes if changes is not None else LifecycleChanges()
    to_open: list[tuple[ObservedFinding, str]] = []
    to_update: list[tuple[Finding, ObservedFinding, str]] = []
    unchanged: list[Finding] = []
    for key, item in current.items():
        digest = evidence_hash(item.evidence)
        existing = open_findings.get(key)
        if existing is None:
            changes.note("opened", *key)
            to_open.append((item, digest))
        elif existing.evidence_hash != digest:
            changes.note("updated", *key)
            to_update.append((existing, item, digest))
        else:
            changes.totals["unchanged"] += 1
            unchanged.append(existing)
    to_resolve = [
        finding
        for key, finding in open_findings.items()
        if key not in current and (reach is None or finding.subject_key in reach)
    ]
    for finding in to_resolve:
        changes.note("resolved", finding.subject_key, finding.reason)
    if dry_run:
        return changes

    episodes = await _episode_counts(
        session, province_code, subject_kind, [(i.subject_key, i.reason) for i, _ in to_open]
    )
    opened = []
    for item, digest in to_open:
        episode = episodes.get((item.subject_key, item.reason), 0) + 1
        opened.append((_new_finding(province_code, item, digest, episode, run_id, now), item))
    for finding, item, digest in to_update:
        finding.evidence = dict(item.evidence)
        finding.evidence_hash = digest
        _seen(finding, run_id, now)
        finding.updated_at = now
    for finding in to_resolve:
        finding.status = FindingStatus.RESOLVED
        finding.resolved_at = now
        finding.resolved_run_id = run_id
        finding.updated_at = now
    session.add_all([finding for finding, _ in opened])
    # One flush: new episodes are inserted in a batch (INSERT … RETURNING) and get their ids.
    await session.flush()

    changed: list[tuple[Finding, ObservedFinding | None, str, str]] = [
        *((f, item, "opened", MISMATCH_OPENED) for f, item in opened),
        *((f, item, "updated", MISMATCH_UPDATED) for f, item, _ in to_update),
        *((f, None, "resolved", MISMATCH_RESOLVED) for f in to_resolve),
    ]
    for finding, cause, change, event_type in changed:
        assert finding.id is not None
        session.add(
            FindingEvent(
                finding_id=finding.id,
                run_id=run_id,
                change=change,
                evidence=finding.evidence,
                at=now,
            )
        )
        add_event(
            session,
            province_code=province_code,
            event_type=event_type,
            data=_finding_data(
                finding, cause, run_id, cause.subject if cause else _subject_of(finding)
            ),
            at=now,
            agency_code=finding.agency_code,
        )

    unchanged_ids = [f.id for f in unchanged if f.id is not None]
    if unchanged_ids:
        # One statement for everything still seen unchanged: no per-row round trips.
        await session.exec(
            update(Finding)
            .where(in_values(col(Finding.id), unchanged_ids, _dialect(session)))
            .values(last_seen_at=now, last_run_id=run_id, seen_count=Finding.seen_count + 1)
        )
    # Written now, so what this call staged (findings, events) need not stay in memory.
    await session.flush()
    return changes


def _subject_of(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.subject_kind,
        "key": finding.subject_key,
        "procedure_code": finding.procedure_code,
        "agency_code": finding.agency_code,
        "level": finding.level,
    }


def _seen(finding: Finding, run_id: str, now: datetime) -> None:
    finding.last_seen_at = now
    finding.last_run_id = run_id
    finding.seen_count += 1


def _new_finding(
    province_code: str,
    item: ObservedFinding,
    digest: str,
    episode: int,
    run_id: str,
    now: datetime,
) -> Finding:
    return Finding(
        province_code=province_code,
        subject_kind=item.subject_kind,
        subject_key=item.subject_key,
        procedure_code=item.procedure_code,
        agency_code=item.agency_code,
        level=item.level,
        reason=item.reason,
        status=FindingStatus.OPEN,
        episode=episode,
        evidence=dict(item.evidence),
        evidence_hash=digest,
        first_seen_at=now,
        last_seen_at=now,
        first_run_id=run_id,
        last_run_id=run_id,
        updated_at=now,
    )


async def _episode_counts(
    session: AsyncSession,
    province_code: str,
    subject_kind: str,
    keys: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], int]:
    """How many episodes each (subject, reason) already had, so a reopening numbers itself."""
    wanted = set(keys)
    if not wanted:
        return {}
    subjects = sorted({subject for subject, _ in wanted})
    rows = await session.exec(
        select(col(Finding.subject_key), col(Finding.reason), func.max(col(Finding.episode)))
        .where(
            col(Finding.province_code) == province_code,
            col(Finding.subject_kind) == subject_kind,
            in_values(col(Finding.subject_key), subjects, _dialect(session)),
        )
        .group_by(col(Finding.subject_key), col(Finding.reason))
    )
    return {(k, r): int(n) for k, r, n in rows.all() if (k, r) in wanted}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
