"""The figures a province is judged by (semantics §4), from the dossier snapshot.

Rows are streamed and folded into per-group counters, so memory grows with the number of
groups, never with the number of dossiers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.normalize import normalize_code
from app.domain.reasons import Lang, Text
from app.domain.values import local_day_end, local_day_start
from app.errors import BadRequest
from app.models import Agency, Dossier, RunScope
from app.runs_history import latest_complete

Group = Literal["agency", "parent", "province"]
PROVINCE = "province"

# The letters' two tables (seed 000): province-level departments and boards (CapDonVi 1) apart
# from districts (CapDonVi 2), each unit under the section of its top-level unit.
SECTIONS: Final[tuple[tuple[str, int | None, Text], ...]] = (
    ("departments", 1, Text("Sở, ban, ngành cấp tỉnh", "Province-level departments")),
    ("districts", 2, Text("UBND cấp huyện (cùng các xã)", "Districts (with their communes)")),
    ("other", None, Text("Đơn vị khác", "Other units")),
)


@dataclass(frozen=True)
class Hierarchy:
    names: dict[str, str]
    parents: dict[str, str | None]
    levels: dict[str, int]

    def root(self, agency: str) -> str:
        """The top-level unit above ``agency`` (itself when it has no known parent)."""
        current, seen = agency, {agency}
        while (parent := self.parents.get(current)) and parent in self.parents:
            if parent in seen:
                break
            seen.add(parent)
            current = parent
        return current

    def group_of(self, agency: str, group: Group) -> str:
        if group == "province":
            return PROVINCE
        return self.root(agency) if group == "parent" else agency

    def descendants(self, agency: str) -> set[str]:
        """The agency and every unit below it."""
        children: dict[str, list[str]] = defaultdict(list)
        for code, parent in self.parents.items():
            if parent:
                children[parent].append(code)
        found, stack = {agency}, [agency]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found


async def hierarchy(session: AsyncSession, province_code: str) -> Hierarchy:
    rows = (
        await session.exec(select(Agency).where(col(Agency.province_code) == province_code))
    ).all()
    return Hierarchy(
        names={a.code: a.name for a in rows},
        parents={a.code: normalize_code(a.parent_code) if a.parent_code else None for a in rows},
        levels={a.code: a.level for a in rows},
    )


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise BadRequest("`to` is before `from`.")
    return local_day_start(start), local_day_end(end)


async def coverage(
    session: AsyncSession, province_code: str, start: date, end: date
) -> dict[str, Any]:
    """Whether one complete dossier run covered the whole period: figures over a period nobody
    reconciled completely are shown, but flagged, never passed off as complete."""
    complete = await latest_complete(
        session, province_code, RunScope.DOSSIERS, covering=(start, end)
    )
    run = complete.run if complete else None
    return {
        "complete": run is not None,
        "run_id": run.id if run else None,
        "as_of": run.finished_at.isoformat() if run and run.finished_at else None,
    }


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass(frozen=True, slots=True)
class OnlinePaymentQuery:
    start: date
    end: date
    target: float
    group: Group = "agency"
    level: int | None = None
    visible: frozenset[str] | None = None
    lang: Lang = "vi"


@dataclass(frozen=True, slots=True)
class OverdueQuery:
    from_month: str
    to_month: str
    group: Group = "agency"
    visible: frozenset[str] | None = None


async def online_payment(
    session: AsyncSession, province_code: str, query: OnlinePaymentQuery
) -> dict[str, Any]:
    """Per group: fee-bearing dossiers received in the period, paid online as the portal counts
    them and as verified on the platform; worst first (over the agencies a key may see)."""
    start, end, group, level, target = (
        query.start,
        query.end,
        query.group,
        query.level,
        query.target,
    )
    low, high = period_bounds(start, end)
    tree = await hierarchy(session, province_code)
    # One row per agency from the database; groups are folded from those.
    conditions = [
        col(Dossier.province_code) == province_code,
        col(Dossier.fee_bearing).is_(True),
        col(Dossier.received_at) >= low,
        col(Dossier.received_at) <= high,
    ]
    if query.visible is not None:
        conditions.append(col(Dossier.agency_code).in_(query.visible))
    per_agency = (
        select(
            col(Dossier.agency_code),
            func.count(),
            func.sum(case((col(Dossier.portal_counted), 1), else_=0)),
            func.sum(case((col(Dossier.verified_online), 1), else_=0)),
        )
        .where(*conditions)
        .group_by(col(Dossier.agency_code))
    )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    province = [0, 0, 0]
    for agency, count, portal, verified in (await session.exec(per_agency)).all():
        key = tree.group_of(agency, group)
        # ``level`` picks the rows: districts (2) with their communes for ``parent``, agencies
        # of that level for ``agency`` and ``province``.
        unit = key if group == "parent" else agency
        if level is not None and tree.levels.get(unit) != level:
            continue
        for bucket in (totals[key], province):
            bucket[0] += int(count)
            bucket[1] += int(portal or 0)
            bucket[2] += int(verified or 0)

    def row(key: str, counts: list[int]) -> dict[str, Any]:
        portal_rate = _rate(counts[1], counts[0])
        return {
            "group": key,
            "name": tree.names.get(key, "Toàn tỉnh" if key == PROVINCE else None),
            "fee_bearing": counts[0],
            "portal_counted": counts[1],
            "verified_online": counts[2],
            "portal_rate": portal_rate,
            "verified_rate": _rate(counts[2], counts[0]),
            "target": target,
            "met": portal_rate is not None and portal_rate >= target,
        }

    items = sorted(
        (row(key, counts) for key, counts in totals.items()),
        key=lambda item: (
            item["portal_rate"] if item["portal_rate"] is not None else 2,
            item["group"],
        ),
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group": group,
        "target": target,
        "coverage": await coverage(session, province_code, start, end),
        "province": row(PROVINCE, province),
        "items": items,
        "sections": [] if group == "province" else _sections(tree, items, query.lang),
    }


def _section_of(tree: Hierarchy, unit: str) -> str:
    top_level = tree.levels.get(tree.root(unit))
    return next((key for key, level, _ in SECTIONS if level == top_level), "other")


def _sections(tree: Hierarchy, items: list[dict[str, Any]], lang: Lang) -> list[dict[str, Any]]:
    """The items split as the letters print them, each section worst first (the items' order),
    with how many of its units met the target; "other" only when some unit falls in it."""
    sections = []
    for key, level, title in SECTIONS:
        rows = [item for item in items if _section_of(tree, item["group"]) == key]
        if rows or level is not None:
            sections.append(
                {
                    "section": key,
                    "title": title.get(lang),
                    "units": len(rows),
                    "met": sum(1 for item in rows if item["met"]),
                    "items": rows,
                }
            )
    return sections


def parse_month(text: str, name: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError:
        raise BadRequest(f"`{name}` must be a month like 2023-09, not {text!r}.") from None
    return year, month


def _months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    months, (year, month) = [], first
    while (year, month) <= last:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return local_day_start(start), local_day_start(following)


async def _month_counts(
    session: AsyncSession,
    province_code: str,
    year: int,
    month: int,
    visible: frozenset[str] | None = None,
) -> dict[str, tuple[int, int, int]]:
    """Per agency: finished in the month, of them overdue, and open past due at its end."""
    start, following = _month_bounds(year, month)
    within = (col(Dossier.agency_code).in_(visible),) if visible is not None else ()
    finished_in_month = (
        col(Dossier.due_at).is_not(None),
        col(Dossier.finished_at) >= start,
        col(Dossier.finished_at) < following,
    )
    finished = await session.exec(
        select(
            col(Dossier.agency_code),
            func.count(),
            func.sum(case((col(Dossier.finished_at) > col(Dossier.due_at), 1), else_=0)),
        )
        .where(col(Dossier.province_code) == province_code, *finished_in_month, *within)
        .group_by(col(Dossier.agency_code))
    )
    open_past_due = await session.exec(
        select(col(Dossier.agency_code), func.count())
        .where(
            col(Dossier.province_code) == province_code,
            col(Dossier.received_at) < following,
            col(Dossier.due_at) < following,
            (col(Dossier.finished_at).is_(None)) | (col(Dossier.finished_at) >= following),
            *within,
        )
        .group_by(col(Dossier.agency_code))
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for agency, total, late in finished.all():
        counts[agency][0] += int(total)
        counts[agency][1] += int(late or 0)
    for agency, total in open_past_due.all():
        counts[agency][2] += int(total)
    return {agency: (c[0], c[1], c[2]) for agency, c in counts.items()}


async def overdue(session: AsyncSession, province_code: str, query: OverdueQuery) -> dict[str, Any]:
    from_month, to_month, group = query.from_month, query.to_month, query.group
    first, last = parse_month(from_month, "from_month"), parse_month(to_month, "to_month")
    if last < first:
        raise BadRequest("`to_month` is before `from_month`.")
    months = _months(first, last)
    if len(months) > 36:
        raise BadRequest("Ask for at most 36 months at a time.")
    tree = await hierarchy(session, province_code)
    before = (first[0] - 1, 12) if first[1] == 1 else (first[0], first[1] - 1)
    per_month: dict[tuple[int, int], dict[str, list[int]]] = {}
    for year, month in [before, *months]:
        grouped: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for agency, values in (
            await _month_counts(session, province_code, year, month, query.visible)
        ).items():
            for key in {tree.group_of(agency, group), PROVINCE}:
                for i, value in enumerate(values):
                    grouped[key][i] += value
        per_month[(year, month)] = grouped

    def series(key: str) -> list[dict[str, Any]]:
        rows, previous = [], per_month[before].get(key)
        for year, month in months:
            finished, late, open_past_due = per_month[(year, month)].get(key, [0, 0, 0])
            rate = _rate(late, finished)
            prior = _rate(previous[1], previous[0]) if previous else None
            rows.append(
                {
                    "month": f"{year:04d}-{month:02d}",
                    "finished": finished,
                    "overdue": late,
                    "rate": rate,
                    "change_points": (
                        round((rate - prior) * 100, 2)
                        if rate is not None and prior is not None
                        else None
                    ),
                    "open_past_due": open_past_due,
                }
            )
            previous = per_month[(year, month)].get(key)
        return rows

    keys = sorted({k for grouped in per_month.values() for k in grouped} - {PROVINCE})
    start = date(first[0], first[1], 1)
    end = (date(last[0] + 1, 1, 1) if last[1] == 12 else date(last[0], last[1] + 1, 1)) - timedelta(
        days=1
    )
    return {
        "from_month": from_month,
        "to_month": to_month,
        "group": group,
        "coverage": await coverage(session, province_code, start, end),
        "province": series(PROVINCE),
        "items": []
        if group == "province"
        else _worst_first(
            [{"group": key, "name": tree.names.get(key), "months": series(key)} for key in keys]
        ),
    }


def _worst_first(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest overdue rate of the last month first; groups with nothing finished then last."""

    def badness(group: dict[str, Any]) -> tuple[float, int, str]:
        last = group["months"][-1]
        rate = last["rate"]
        return (-rate if rate is not None else 1.0, -last["open_past_due"], group["group"])

    return sorted(groups, key=badness)
