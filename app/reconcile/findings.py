"""The findings lifecycle (DESIGN promise 3): open, update on changed evidence, resolve, reopen.

Called inside the run's single transaction; it stages rows and outbox events and never commits.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import in_values
from app.events import (
    MAX_PAYLOAD_BYTES,
    MISMATCH_OPENED,
    MISMATCH_RESOLVED,
    MISMATCH_UPDATED,
    fit_payload,
)
from app.models import Finding, FindingEvent, FindingStatus, OutboxEvent
from app.models.outbox import new_event_id
from app.reconcile.sightings import SeenThrough, caught_up, sequences


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def evidence_hash(evidence: Mapping[str, Any]) -> str:
    # orjson with sorted keys writes the same bytes as ``canonical_json`` (so hashes stored by
    # earlier releases still match) several times faster.
    return hashlib.sha256(orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
    finding: _Changed,
    observed: ObservedFinding | None,
    run_id: str,
    subject: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "finding_id": finding.id,
        "episode": finding.episode,
        "subject": dict(subject) if subject is not None else _subject_of(finding),
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
    subjects: Collection[str] | None = None,
    seen_through: SeenThrough | None = None,
) -> LifecycleChanges:
    """Bring stored findings of ``subject_kind`` in line with what a complete run observed.

    ``in_reach`` limits which open findings this run may resolve (subject keys); ``None`` means
    every finding of the kind. A dry run computes the same changes and writes nothing.

    With ``key_range`` only the findings of subjects in that range are considered, so a run
    with more findings than fit in memory applies them range by range in one transaction
    (``observed`` then holds that range's findings), accumulating into ``changes``.

    With ``subjects`` only the findings of those subjects are considered: a run that judged
    only what changed says which subjects those are, and the others' findings stay as stored.

    With ``seen_through`` a finding seen unchanged is not written at all; its last sighting is
    derived from the runs (``app.reconcile.sightings``), and a finding that is updated or
    resolved first catches up with the sightings it was not written for.
    """
    changes = changes if changes is not None else LifecycleChanges()
    current = {(item.subject_key, item.reason): item for item in observed}
    if subjects is not None and not subjects and not current:
        return changes
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
    if subjects is not None:
        conditions.append(in_values(col(Finding.subject_key), sorted(subjects), _dialect(session)))
    rows = await session.exec(select(Finding).where(*conditions))
    open_findings = {(f.subject_key, f.reason): f for f in rows.all()}
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

    if seen_through is not None:
        await _catch_up(session, [f for f, _, _ in to_update] + to_resolve, seen_through)
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
    # Updates and resolutions first: a reopened episode must not meet its predecessor still open.
    await session.flush()
    opened = await _insert_opened(session, province_code, to_open, run_id, now)

    changed: list[tuple[_Changed, ObservedFinding | None, str, str]] = [
        *((f, item, "opened", MISMATCH_OPENED) for f, item in opened),
        *((_Changed.of(f), item, "updated", MISMATCH_UPDATED) for f, item, _ in to_update),
        *((_Changed.of(f), None, "resolved", MISMATCH_RESOLVED) for f in to_resolve),
    ]
    if changed:
        # Plain rows in two statements: ORM objects for thousands of events cost more than the
        # inserts themselves.
        await session.exec(
            insert(FindingEvent),
            params=[
                {
                    "finding_id": finding.id,
                    "run_id": run_id,
                    "change": change,
                    "evidence": finding.evidence,
                    "at": now,
                }
                for finding, _, change, _ in changed
            ],
        )
        await session.exec(
            insert(OutboxEvent),
            params=[
                _outbox_row(
                    province_code,
                    event_type,
                    _finding_data(finding, cause, run_id, cause.subject if cause else None),
                    now,
                    finding.agency_code,
                )
                for finding, cause, _, event_type in changed
            ],
        )

    unchanged_ids = [f.id for f in unchanged if f.id is not None]
    if unchanged_ids and seen_through is None:
        # One statement for everything still seen unchanged: no per-row round trips.
        await session.exec(
            update(Finding)
            .where(in_values(col(Finding.id), unchanged_ids, _dialect(session)))
            .values(last_seen_at=now, last_run_id=run_id, seen_count=Finding.seen_count + 1)
        )
    return changes


@dataclass(frozen=True, slots=True)
class _Changed:
    """What an event about a finding says of it."""

    id: int
    episode: int
    subject_kind: str
    subject_key: str
    procedure_code: str | None
    agency_code: str | None
    level: str | None
    reason: str
    evidence: dict[str, Any]
    first_seen_at: datetime
    status: str

    @classmethod
    def of(cls, finding: Finding) -> _Changed:
        assert finding.id is not None
        return cls(
            id=finding.id,
            episode=finding.episode,
            subject_kind=finding.subject_kind,
            subject_key=finding.subject_key,
            procedure_code=finding.procedure_code,
            agency_code=finding.agency_code,
            level=finding.level,
            reason=finding.reason,
            evidence=finding.evidence,
            first_seen_at=finding.first_seen_at,
            status=finding.status,
        )


async def _insert_opened(
    session: AsyncSession,
    province_code: str,
    to_open: list[tuple[ObservedFinding, str]],
    run_id: str,
    now: datetime,
) -> list[tuple[_Changed, ObservedFinding]]:
    """Insert new episodes in one statement and return them with their ids."""
    if not to_open:
        return []
    subject_kind = to_open[0][0].subject_kind
    episodes = await _episode_counts(
        session, province_code, subject_kind, [(i.subject_key, i.reason) for i, _ in to_open]
    )
    rows = [
        _new_finding(
            province_code,
            item,
            digest,
            episodes.get((item.subject_key, item.reason), 0) + 1,
            run_id,
            now,
        )
        for item, digest in to_open
    ]
    inserted = await session.exec(
        insert(Finding).returning(col(Finding.id), sort_by_parameter_order=True),
        params=rows,
    )
    ids = list(inserted.scalars())
    return [
        (
            _Changed(
                id=finding_id,
                episode=row["episode"],
                subject_kind=row["subject_kind"],
                subject_key=row["subject_key"],
                procedure_code=row["procedure_code"],
                agency_code=row["agency_code"],
                level=row["level"],
                reason=row["reason"],
                evidence=row["evidence"],
                first_seen_at=now,
                status=FindingStatus.OPEN,
            ),
            item,
        )
        for finding_id, row, (item, _) in zip(ids, rows, to_open, strict=True)
    ]


async def _catch_up(session: AsyncSession, findings: list[Finding], through: SeenThrough) -> None:
    """Give findings about to be written the sightings they were not written for."""
    if not findings:
        return
    numbers = await sequences(session, {f.last_run_id for f in findings})
    for finding in findings:
        if finding.last_seen_at < through.at:
            finding.seen_count = caught_up(
                finding.seen_count, numbers.get(finding.last_run_id), through
            )
            finding.last_seen_at = through.at
            finding.last_run_id = through.run_id


_FIT_MARGIN = 1024  # room for any difference between orjson's and the sender's encoding


def _outbox_row(
    province_code: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    agency_code: str | None,
) -> dict[str, Any]:
    # The row ``app.events.add_event`` stages, as plain values for a bulk insert; ids are taken
    # in order, so ``(created_at, id)`` keeps the order events were made in.
    payload = {"type": event_type, "timestamp": at.isoformat(), "data": data}
    # orjson's bytes are the body's; only a payload near the limit needs ``fit_payload``.
    if len(orjson.dumps(payload)) >= MAX_PAYLOAD_BYTES - _FIT_MARGIN:
        payload = fit_payload(payload)
    return {
        "id": new_event_id(),
        "province_code": province_code,
        "event_type": event_type,
        "agency_code": agency_code,
        "payload": payload,
        "created_at": at,
        "fanned_out_at": None,
    }


def _subject_of(finding: _Changed) -> dict[str, Any]:
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
) -> dict[str, Any]:
    return {
        "province_code": province_code,
        "subject_kind": item.subject_kind,
        "subject_key": item.subject_key,
        "procedure_code": item.procedure_code,
        "agency_code": item.agency_code,
        "level": item.level,
        "reason": item.reason,
        "status": FindingStatus.OPEN.value,
        "episode": episode,
        "evidence": dict(item.evidence),
        "evidence_hash": digest,
        "first_seen_at": now,
        "last_seen_at": now,
        "seen_count": 1,
        "first_run_id": run_id,
        "last_run_id": run_id,
        "resolved_at": None,
        "resolved_run_id": None,
        "updated_at": now,
    }


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
