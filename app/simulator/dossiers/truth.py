"""Dossier ground truth, derived from the planned facts, never from the rendered JSON.

Rule choices where semantics.md is silent (also in ``DossierTruth``'s docstring):

* **Grace window for pending transactions.** Every pending (``"3"``) transaction is dated in
  the scenario's own year, long before any run can start, so it is older than the grace window
  (30 minutes before the run started) whenever the run happens: a dossier whose platform
  transactions are pending only has ``payment_pending`` (and ``payment_not_on_platform`` when P
  says ``DVCQG``).
* **Overdue population.** The overdue figures count P dossiers *received in the scenario's
  period* (what a dossier run for that period reads). ``open_past_due`` at a month end ``E``
  counts dossiers with ``NgayTiepNhan <= E``, ``NgayHenTra < E`` and no ``NgayKetThucXuLy`` at or
  before ``E``; a dossier finished exactly at ``NgayHenTra`` is on time.
* **Months** are the calendar months (local time) from the period's first to its last day.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from app.simulator.dossiers.plan import (
    DOSSIER_REASONS,
    FEE,
    GRACE_WINDOW_MINUTES,
    T_ORPHAN_BAD,
    T_ORPHAN_CODE,
    DossierAgency,
    JsonDict,
    paid_offline,
    portal_counted,
    reasons_of,
    verified_of,
)
from app.simulator.wire_time import (
    DAY,
    EPOCH,
    day_of,
)

if TYPE_CHECKING:
    from app.simulator.dossiers.render import DossierSet


@dataclass(frozen=True)
class Figures:
    """Fee-bearing dossiers received in the period (semantics §4)."""

    fee_bearing: int = 0
    portal_counted: int = 0
    verified_online: int = 0
    paid_offline: int = 0

    @property
    def portal_rate(self) -> float | None:
        return round(self.portal_counted / self.fee_bearing, 4) if self.fee_bearing else None

    @property
    def verified_rate(self) -> float | None:
        return round(self.verified_online / self.fee_bearing, 4) if self.fee_bearing else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.fee_bearing + other.fee_bearing,
            self.portal_counted + other.portal_counted,
            self.verified_online + other.verified_online,
            self.paid_offline + other.paid_offline,
        )


@dataclass(frozen=True)
class Overdue:
    """Dossiers with a NgayHenTra, for one calendar month (semantics §4)."""

    finished: int = 0
    overdue: int = 0
    open_past_due: int = 0

    @property
    def rate(self) -> float | None:
        return round(self.overdue / self.finished, 4) if self.finished else None

    def __add__(self, other: Overdue) -> Overdue:
        return Overdue(
            self.finished + other.finished,
            self.overdue + other.overdue,
            self.open_past_due + other.open_past_due,
        )


@dataclass(frozen=True)
class DossierTruth:
    """What a correct dossier run over the scenario's period must conclude (semantics §3–§4).

    Derived from the planned facts of each dossier, never from the rendered JSON. Codes used as
    keys are normalized (trimmed, upper-case) unless the field says "raw".

    Rule choices: a run is assumed to start after ``transactions_until`` — every pending
    transaction is older than the grace window (``grace_window_minutes`` before the run start);
    transactions are read from the period's start to ``transactions_until`` (period end + 30
    days); overdue figures count dossiers received in the period, per calendar month (see the
    module docstring for ``open_past_due``).
    """

    scenario: str
    seed: int
    scale: float
    province_code: str
    period_start: date
    period_end: date
    transactions_until: datetime  # local time
    grace_window_minutes: int
    agencies: dict[str, Figures]  # every agency that received dossiers
    agency_names: dict[str, str]
    parent_of: dict[str, str]  # agency → its top-level unit (group "parent")
    groups: dict[str, Figures]  # top-level unit → figures of it and all its descendants
    province: Figures
    reasons: dict[str, tuple[str, ...]]  # raw MaHoSo (as P serves it) → reasons, ≥ 1
    reasons_normalized: dict[str, tuple[str, ...]]
    reason_counts: dict[str, int]
    orphan_transactions: frozenset[str]  # MaGiaoDich
    offline: frozenset[str]  # raw MaHoSo of fee-bearing dossiers paid offline
    offline_normalized: frozenset[str]
    overdue: dict[str, dict[str, Overdue]]  # "YYYY-MM" → agency → figures
    overdue_province: dict[str, Overdue]
    counts: dict[str, int]

    def online_rate(self, code: str | None = None) -> float | None:
        """Portal-counted rate of the province (``None``) or of a top-level unit."""
        figures = self.province if code is None else self.groups[code]
        return figures.portal_rate

    def overdue_rate(self, month: str, group: str | None = None) -> float | None:
        if group is None:
            return self.overdue_province[month].rate
        total = Overdue()
        for agency, figures in self.overdue[month].items():
            if self.parent_of[agency] == group:
                total = total + figures
        return total.rate

    def summary(self) -> JsonDict:
        """A JSON-able digest (figures, counts; no per-dossier sets)."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "scale": self.scale,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "transactions_until": self.transactions_until.isoformat(),
            "province": _figures_json(self.province),
            "groups": {code: _figures_json(f) for code, f in sorted(self.groups.items())},
            "reason_counts": self.reason_counts,
            "orphan_transactions": len(self.orphan_transactions),
            "offline": len(self.offline),
            "overdue_province": {
                month: {**vars(o), "rate": o.rate} for month, o in self.overdue_province.items()
            },
            "counts": self.counts,
        }


def _figures_json(figures: Figures) -> JsonDict:
    return {**vars(figures), "portal_rate": figures.portal_rate}


def _months(start: date, end: date) -> list[tuple[str, int, int]]:
    """(``YYYY-MM``, first second, last second) of each calendar month from start to end."""
    months: list[tuple[str, int, int]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        following = date(year + (month == 12), month % 12 + 1, 1)
        months.append(
            (
                f"{year:04d}-{month:02d}",
                day_of(date(year, month, 1)) * DAY,
                day_of(following) * DAY - 1,
            )
        )
        year, month = following.year, following.month
    return months


def _top_level(
    agencies: Sequence[DossierAgency], hierarchy: dict[str, str | None]
) -> dict[str, str]:
    """Each dossier agency's top-level unit (group "parent"), following MaDonViCha."""
    parents = {**hierarchy, **{a.code: a.parent for a in agencies}}
    result: dict[str, str] = {}
    for code in (a.code for a in agencies):
        top, seen = code, {code}
        while parents.get(top) and parents[top] in parents and parents[top] not in seen:
            top = parents[top] or top
            seen.add(top)
        result[code] = top
    return result


def build_truth(dossiers: DossierSet) -> DossierTruth:
    spec = dossiers.spec
    start, end = spec.period_start_secs, spec.period_end_secs
    lo = bisect.bisect_left(dossiers.received, start)
    hi = bisect.bisect_right(dossiers.received, end)
    n_agencies = len(spec.agencies)
    fee = [0] * n_agencies
    portal = [0] * n_agencies
    verified = [0] * n_agencies
    offline_counts = [0] * n_agencies
    reasons: dict[str, tuple[str, ...]] = {}
    reasons_normalized: dict[str, tuple[str, ...]] = {}
    offline: set[str] = set()
    offline_normalized: set[str] = set()
    reason_counts = dict.fromkeys(DOSSIER_REASONS, 0)
    months = _months(spec.period_start, spec.period_end)
    month_ends = [m[2] for m in months]
    month_starts = [m[1] for m in months]
    finished = [[0] * len(months) for _ in range(n_agencies)]
    overdue = [[0] * len(months) for _ in range(n_agencies)]
    open_diff = [[0] * (len(months) + 1) for _ in range(n_agencies)]
    for row in range(lo, hi):
        profile_bits = dossiers.bits[row]
        index = dossiers.agency[row]
        due, finish = dossiers.due[row], dossiers.finish[row]
        if due:
            if finish:
                month = bisect.bisect_left(month_ends, finish)
                if month < len(months) and finish >= month_starts[month]:
                    finished[index][month] += 1
                    if finish > due:
                        overdue[index][month] += 1
            first = bisect.bisect_left(month_ends, max(dossiers.received[row], due + 1))
            last = bisect.bisect_left(month_ends, finish) if finish else len(months)
            if first < last:
                open_diff[index][first] += 1
                open_diff[index][last] -= 1
        if not profile_bits & FEE:
            continue
        fee[index] += 1
        portal[index] += portal_counted(profile_bits)
        verified[index] += verified_of(profile_bits) > 0
        found = reasons_of(profile_bits)
        if found or paid_offline(profile_bits):
            raw = dossiers.p_code(row)
            normalized = raw.strip().upper()
            if found:
                reasons[raw] = found
                reasons_normalized[normalized] = found
                for reason in found:
                    reason_counts[reason] += 1
            if paid_offline(profile_bits):
                offline_counts[index] += 1
                offline.add(raw)
                offline_normalized.add(normalized)
    orphans: set[str] = set()
    for k, kind in enumerate(dossiers.tx_kind):
        # By construction every transaction of a dossier of the period matches it; unmatched
        # ones are the planted kinds, and those of dossiers received just before the period
        # carry well-formed codes dated before it (never orphans).
        if kind in (T_ORPHAN_CODE, T_ORPHAN_BAD) and start <= dossiers.tx_time[k] <= end:
            orphans.add(dossiers.tx_item(k)["MaGiaoDich"])
    codes = [a.code for a in spec.agencies]
    agencies = {
        codes[i]: Figures(fee[i], portal[i], verified[i], offline_counts[i])
        for i in range(n_agencies)
    }
    parent_of = _top_level(spec.agencies, spec.hierarchy)
    groups: dict[str, Figures] = {}
    for code, figures in agencies.items():
        top = parent_of[code]
        groups[top] = groups.get(top, Figures()) + figures
    province = Figures()
    for figures in agencies.values():
        province = province + figures
    overdue_by_month: dict[str, dict[str, Overdue]] = {}
    overdue_province: dict[str, Overdue] = {}
    for month, (label, _, _) in enumerate(months):
        per_agency: dict[str, Overdue] = {}
        total = Overdue()
        for i in range(n_agencies):
            open_now = sum(open_diff[i][: month + 1])
            month_figures = Overdue(finished[i][month], overdue[i][month], open_now)
            if month_figures != Overdue():
                per_agency[codes[i]] = month_figures
                total = total + month_figures
        overdue_by_month[label] = per_agency
        overdue_province[label] = total
    return DossierTruth(
        scenario=spec.name,
        seed=spec.seed,
        scale=spec.scale,
        province_code=spec.province_code,
        period_start=spec.period_start,
        period_end=spec.period_end,
        transactions_until=EPOCH + timedelta(seconds=spec.transactions_until_secs),
        grace_window_minutes=GRACE_WINDOW_MINUTES,
        agencies=agencies,
        agency_names={a.code: a.name for a in spec.agencies},
        parent_of=parent_of,
        groups=groups,
        province=province,
        reasons=reasons,
        reasons_normalized=reasons_normalized,
        reason_counts=reason_counts,
        orphan_transactions=frozenset(orphans),
        offline=frozenset(offline),
        offline_normalized=frozenset(offline_normalized),
        overdue=overdue_by_month,
        overdue_province=overdue_province,
        counts={
            "dossiers": len(dossiers),
            "in_period": hi - lo,
            "fee_bearing": province.fee_bearing,
            "synced": len(dossiers.synced_rows),
            "transactions": len(dossiers.tx_time),
            "with_reasons": len(reasons),
        },
    )
