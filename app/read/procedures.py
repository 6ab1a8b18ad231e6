"""Read models for the procedure endpoints: what the IT department and agencies look at."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from sqlalchemy import case, func, literal, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.normalize import normalize_code
from app.domain.reasons import Lang
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
from app.pagination import KeyCursor, ProcedureLevelCursor, decode_cursor, encode_cursor
from app.read import figures
from app.read.fixes import fix_of, fixes_of
from app.read.kpi import hierarchy
from app.read.visibility import agency_set
from app.reconcile import sightings
from app.runs_history import latest_complete
from app.schemas.procedures import (
    ConfigurationBrief,
    LevelFigures,
    OrphanItem,
    OrphanPage,
    ProcedureItem,
    RunRef,
    UnsyncedItem,
    UnsyncedPage,
)

ORPHAN_ON_NATIONAL: Final = "orphan_on_national"


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


def run_ref(run: Run | None) -> RunRef | None:
    if run is None:
        return None
    return RunRef(
        run_id=run.id,
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        period_from=run.period_from.isoformat(),
        period_to=run.period_to.isoformat(),
    )


ListView = Literal["configuration", "procedure"]


@dataclass(frozen=True, slots=True)
class ConfigurationsQuery:
    """``/procedures/unsynced`` and ``/procedures/synced``: every parameter that shapes the
    answer, so that it is the answer's cache key as well as the read's argument."""

    synced: bool
    level: str | None = None
    agency: str | None = None
    include_descendants: bool = False
    reason: str | None = None
    view: ListView = "configuration"
    lang: Lang = "vi"
    visible: frozenset[str] | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OrphansQuery:
    lang: Lang = "vi"
    visible: frozenset[str] | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ProcedureQuery:
    procedure_code: str
    visible: frozenset[str] | None = None


def _level_key() -> Any:
    return figures.level_key()


def _configuration_conditions(
    province_code: str, query: ConfigurationsQuery, agencies: frozenset[str] | None
) -> list[Any]:
    return figures.configuration_conditions(province_code, query.level, agencies)


def _with_open_reason(reason: str) -> Any:
    """The configuration has an open finding of ``reason``. Per configuration, its findings by
    their subject (the one index that fits): with the reason and status among the lookup's
    conditions, PostgreSQL without statistics read every open finding of the reason once per
    configuration instead."""
    findings_of_key = (
        select(col(Finding.reason), col(Finding.status))
        .where(
            col(Finding.province_code) == col(ProcedureSnapshot.province_code),
            col(Finding.subject_kind) == SubjectKind.PROCEDURE,
            col(Finding.subject_key) == col(ProcedureSnapshot.key),
        )
        .correlate(ProcedureSnapshot)
    )
    return tuple_(literal(reason), literal(str(FindingStatus.OPEN))).in_(findings_of_key)


async def _agencies_of(
    session: AsyncSession, province_code: str, query: ConfigurationsQuery
) -> frozenset[str] | None:
    tree = await hierarchy(session, province_code) if query.include_descendants else None
    return agency_set(tree, query.agency, query.include_descendants, query.visible)


async def level_figures(
    session: AsyncSession,
    province_code: str,
    agencies: frozenset[str] | None,
    level: str | None = None,
) -> dict[str, LevelFigures]:
    """The letters' figure per level over the configurations of ``agencies`` (all: ``None``),
    as the API shows it (the count is ``app.read.figures``')."""
    counted = await figures.level_figures(session, province_code, agencies, level)
    return {lvl: LevelFigures(**asdict(figure)) for lvl, figure in counted.items()}


async def configurations(
    session: AsyncSession, province_code: str, query: ConfigurationsQuery
) -> UnsyncedPage:
    """The synced or the unsynced fee-bearing configurations (or procedures, per level) of the
    latest complete procedure run, under the query's filters."""
    complete = await latest_complete(session, province_code, RunScope.PROCEDURES)
    agencies = await _agencies_of(session, province_code, query)
    if query.visible is None:
        stored = (complete.counts.get("summary") if complete else None) or {}
        summary = {lvl: LevelFigures.model_validate(fig) for lvl, fig in stored.items()}
    else:
        summary = await level_figures(session, province_code, query.visible)
    items: list[UnsyncedItem] | list[ProcedureItem]
    if query.view == "procedure":
        items, next_cursor = await _procedure_items(session, province_code, query, agencies)
    else:
        items, next_cursor = await _configuration_items(session, province_code, query, agencies)
    return UnsyncedPage(
        summary=summary,
        as_of=run_ref(complete.run if complete else None),
        view=query.view,
        items=items,
        next_cursor=next_cursor,
    )


async def _configuration_items(
    session: AsyncSession,
    province_code: str,
    query: ConfigurationsQuery,
    agencies: frozenset[str] | None,
) -> tuple[list[UnsyncedItem], str | None]:
    position = decode_cursor(query.cursor, KeyCursor)
    conditions = _configuration_conditions(province_code, query, agencies)
    conditions.append(col(ProcedureSnapshot.synced).is_(query.synced))
    if query.reason:
        conditions.append(_with_open_reason(query.reason))
    if position:
        conditions.append(col(ProcedureSnapshot.key) > position.key)
    rows = list(
        (
            await session.exec(
                select(ProcedureSnapshot)
                .where(*conditions)
                .order_by(col(ProcedureSnapshot.key))
                .limit(query.limit + 1)
            )
        ).all()
    )
    page, more = rows[: query.limit], len(rows) > query.limit
    names = await _agency_names(session, province_code, {row.agency_code for row in page})
    open_findings = await _open_findings_by_key(session, province_code, [row.key for row in page])
    items = []
    for row in page:
        evidence = {f.reason: f.evidence for f in open_findings.get(row.key, [])}
        items.append(
            UnsyncedItem(
                procedure_code=row.procedure_code,
                procedure_name=row.procedure_name,
                agency_code=row.agency_code,
                agency_name=names.get(row.agency_code),
                level=row.level,
                reasons=row.reasons,
                provincial=row.provincial,
                national=row.national,
                evidence=evidence,
                first_seen_at=_earliest(open_findings.get(row.key, [])),
                fixes=fixes_of(row.reasons, evidence, query.lang),
            )
        )
    return items, encode_cursor([page[-1].key]) if more and page else None


async def _procedure_items(
    session: AsyncSession,
    province_code: str,
    query: ConfigurationsQuery,
    agencies: frozenset[str] | None,
) -> tuple[list[ProcedureItem], str | None]:
    position = decode_cursor(query.cursor, ProcedureLevelCursor)
    conditions = _configuration_conditions(province_code, query, agencies)
    level_key = _level_key()
    if query.reason:
        with_reason = aliased(ProcedureSnapshot, name="with_reason")
        pairs = select(
            col(with_reason.procedure_code), func.coalesce(col(with_reason.level), "")
        ).where(
            col(with_reason.province_code) == province_code,
            col(with_reason.kind) == "configuration",
            col(with_reason.key).in_(
                select(col(Finding.subject_key)).where(
                    col(Finding.province_code) == province_code,
                    col(Finding.subject_kind) == SubjectKind.PROCEDURE,
                    col(Finding.status) == FindingStatus.OPEN,
                    col(Finding.reason) == query.reason,
                )
            ),
        )
        if agencies is not None:
            pairs = pairs.where(col(with_reason.agency_code).in_(agencies))
        conditions.append(tuple_(col(ProcedureSnapshot.procedure_code), level_key).in_(pairs))
    if position:
        conditions.append(
            (col(ProcedureSnapshot.procedure_code) > position.procedure_code)
            | (
                (col(ProcedureSnapshot.procedure_code) == position.procedure_code)
                & (level_key > position.level)
            )
        )
    unsynced = func.sum(case((col(ProcedureSnapshot.synced).is_(True), 0), else_=1))
    grouped = await session.exec(
        select(
            col(ProcedureSnapshot.procedure_code),
            level_key,
            func.count(),
            unsynced,
        )
        .where(*conditions)
        .group_by(col(ProcedureSnapshot.procedure_code), level_key)
        .having(unsynced == 0 if query.synced else unsynced > 0)
        .order_by(col(ProcedureSnapshot.procedure_code), level_key)
        .limit(query.limit + 1)
    )
    rows = list(grouped.all())
    page, more = rows[: query.limit], len(rows) > query.limit
    members: dict[tuple[str, str], list[ProcedureSnapshot]] = {}
    if page:
        config_conditions = _configuration_conditions(province_code, query, agencies)
        config_conditions.append(
            col(ProcedureSnapshot.procedure_code).in_({row[0] for row in page})
        )
        for snapshot in (
            await session.exec(
                select(ProcedureSnapshot)
                .where(*config_conditions)
                .order_by(col(ProcedureSnapshot.key))
            )
        ).all():
            members.setdefault((snapshot.procedure_code, snapshot.level or ""), []).append(snapshot)
    names = await _agency_names(
        session, province_code, {s.agency_code for group in members.values() for s in group}
    )
    items = [
        ProcedureItem(
            procedure_code=code,
            procedure_name=next(
                (s.procedure_name for s in members.get((code, level_code), []) if s.procedure_name),
                None,
            ),
            level=level_code or None,
            configurations=int(count),
            synced_configurations=int(count) - int(not_synced or 0),
            agencies=[
                ConfigurationBrief(
                    agency_code=s.agency_code,
                    agency_name=names.get(s.agency_code),
                    synced=bool(s.synced),
                    reasons=s.reasons,
                )
                for s in members.get((code, level_code), [])
            ],
        )
        for code, level_code, count, not_synced in page
    ]
    last = page[-1] if more and page else None
    return items, encode_cursor([last[0], last[1]]) if last else None


def _orphan_conditions(province_code: str, query: OrphansQuery) -> list[Any]:
    conditions: list[Any] = [
        col(ProcedureSnapshot.province_code) == province_code,
        col(ProcedureSnapshot.kind) == "orphan",
    ]
    if query.visible is not None:
        conditions.append(col(ProcedureSnapshot.agency_code).in_(query.visible))
    return conditions


async def orphan_count(session: AsyncSession, province_code: str, query: OrphansQuery) -> int:
    """How many orphans the query sees."""
    rows = await session.exec(select(func.count()).where(*_orphan_conditions(province_code, query)))
    return int(rows.one())


async def configuration_agencies(
    session: AsyncSession, province_code: str, query: ConfigurationsQuery
) -> list[str]:
    """The agencies having synced (or unsynced) configurations under the query's level and
    agency, by code: the workbooks of a ZIP (an agency without a row of the reason asked for
    yields no workbook)."""
    agencies = await _agencies_of(session, province_code, query)
    conditions = _configuration_conditions(province_code, query, agencies)
    conditions.append(col(ProcedureSnapshot.synced).is_(query.synced))
    rows = await session.exec(
        select(col(ProcedureSnapshot.agency_code)).where(*conditions).distinct()
    )
    return sorted(rows.all())


async def orphans_on_national(
    session: AsyncSession, province_code: str, query: OrphansQuery
) -> OrphanPage:
    position = decode_cursor(query.cursor, KeyCursor)
    conditions = _orphan_conditions(province_code, query)
    if position:
        conditions.append(col(ProcedureSnapshot.key) > position.key)
    rows = list(
        (
            await session.exec(
                select(ProcedureSnapshot)
                .where(*conditions)
                .order_by(col(ProcedureSnapshot.key))
                .limit(query.limit + 1)
            )
        ).all()
    )
    page, more = rows[: query.limit], len(rows) > query.limit
    names = await _agency_names(session, province_code, {row.agency_code for row in page})
    complete = await latest_complete(session, province_code, RunScope.PROCEDURES)
    return OrphanPage(
        as_of=run_ref(complete.run if complete else None),
        items=[
            OrphanItem(
                procedure_code=row.procedure_code,
                agency_code=row.agency_code,
                agency_name=names.get(row.agency_code),
                # P knows the configuration but charges no fee there, or P has no such item.
                provincial_configuration="without_fees" if row.provincial else "absent",
                national=row.national,
                provincial=row.provincial,
                fix=fix_of(
                    ORPHAN_ON_NATIONAL,
                    {"national": row.national, "provincial": row.provincial},
                    query.lang,
                ),
            )
            for row in page
        ],
        next_cursor=encode_cursor([page[-1].key]) if more and page else None,
    )


async def procedure_detail(
    session: AsyncSession, province_code: str, query: ProcedureQuery
) -> dict[str, Any]:
    code = normalize_code(query.procedure_code)
    visible = query.visible
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
    if visible is not None:
        snapshots = [s for s in snapshots if s.agency_code in visible]
        findings = [f for f in findings if f.agency_code in visible]
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
