"""Simulated dossiers: P's ``/v1/dossiers``, N's ``ho-so/dong-bo`` and ``thanh-toan/giao-dich``.

A scenario may hold a million dossiers, so nothing here keeps one dict per dossier. The builder
keeps a compact plan — parallel ``array`` columns of small integers, one row per dossier, sorted
by received time — and every wire item is rendered on demand, deterministically from (seed,
row). Date windows are binary searches over the sorted columns.

Each dossier row carries a *profile* (``bits``): the facts a §3 judgement depends on (fee-bearing,
synced to N, malformed code, status/fee differences, how P says it was paid, how many verified,
pending and failed transactions the platform holds for it, N's ``DuocThanhToanTrucTuyen``).
Rendering plants exactly those facts — plus formatting variants that must NOT count as
differences — and the ground truth (``DossierTruth``) is derived from the planned facts, never
from the rendered JSON.

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
import random
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from itertools import repeat
from typing import Any, Final, Protocol

JsonDict = dict[str, Any]

EPOCH: Final = datetime(2020, 1, 1)  # local (UTC+7) wall-clock time; times are seconds since it
DAY: Final = 86400
NONE: Final = 0xFFFFFFFF  # "no dossier" in the transaction → dossier column
GRACE_WINDOW_MINUTES: Final = 30
TRANSACTION_DAYS_AFTER: Final = 30

# ---- profile bits ------------------------------------------------------------------------------

FEE: Final = 1 << 0  # DanhSachLePhi has a Gia above zero
SYNCED: Final = 1 << 1  # N's ho-so/dong-bo holds the dossier
BAD_CODE: Final = 1 << 2  # MaHoSo is not <MaDonVi>-<yyMMdd>-<4 digits>
STATUS_DIFF: Final = 1 << 3  # N's TrangThaiHoSo differs (synced only)
FEE_DIFF: Final = 1 << 4  # N's sum of Gia differs (synced only)
METHOD_SHIFT: Final = 5  # 3 bits: index into METHODS
NO_REF: Final = 1 << 8  # P's ThanhToan has no MaThamChieu: transactions match by MaHoSo
VERIFIED_SHIFT: Final = 9  # 2 bits: verified ("1") transactions, 0..2 (2 = a split payment)
AMOUNT_DIFF: Final = 1 << 11  # the verified amount differs from what P expects
PENDING: Final = 1 << 12  # one pending ("3") transaction, older than any grace window
FAILED: Final = 1 << 13  # one failed ("4") transaction
FLAG_SHIFT: Final = 14  # 2 bits: index into FLAGS (N's DuocThanhToanTrucTuyen)

METHODS: Final[tuple[str, ...]] = ("", "DVCQG", "QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS")
OFFLINE_METHODS: Final = frozenset({"QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS"})
FLAGS: Final[tuple[str, ...]] = ("3", "1", "2", "")
PORTAL_FLAGS: Final = frozenset({"1", "2"})

DOSSIER_REASONS: Final[tuple[str, ...]] = (
    "invalid_dossier_code",
    "dossier_not_synced",
    "status_mismatch",
    "fee_mismatch",
    "payment_not_on_platform",
    "payment_pending",
    "payment_not_recorded",
    "amount_mismatch",
    "online_flag_mismatch",
)

# ---- transaction kinds -------------------------------------------------------------------------

T_FULL: Final = 0  # verified, the whole amount
T_SPLIT1: Final = 1  # verified, first part of a split payment
T_SPLIT2: Final = 2  # verified, the rest
T_PENDING: Final = 3
T_FAILED: Final = 4
T_ORPHAN_CODE: Final = 5  # verified, in the period, a well-formed code P does not have → orphan
T_ORPHAN_BAD: Final = 6  # verified, in the period, a malformed MaHoSo → orphan
T_OLD_CODE: Final = 7  # verified, in the period, well-formed code dated before it → not orphan
T_STRAY: Final = 8  # pending or failed, matching nothing → not an orphan (not verified)
T_LATE_ORPHAN: Final = 9  # verified, matching nothing, after the period → not an orphan
ORPHAN_KINDS: Final = (T_ORPHAN_CODE, T_ORPHAN_BAD, T_OLD_CODE, T_STRAY, T_LATE_ORPHAN)
_VERIFIED_KINDS: Final = frozenset(
    {T_FULL, T_SPLIT1, T_SPLIT2, T_ORPHAN_CODE, T_ORPHAN_BAD, T_OLD_CODE, T_LATE_ORPHAN}
)

_BINS: Final = ("970436", "970415", "970418", "970405", "970422", "970407", "970416", "970432")
_CHANNELS: Final = ("QR_DONG", "QR_DONG", "QR_DONG", "NGAN_HANG", "NGAN_HANG", "VI_DIEN_TU", "THE")
_N_STATUS_DIFF: Final = {10: 9, 9: 4, 4: 2, 2: 1, 5: 4, 6: 4}
# Open dossiers: 4 processing (most), 2 accepted, 5 supplement, 6 financial obligation.
_OPEN_STATUS: Final = (4,) * 12 + (2,) * 3 + (5,) * 3 + (6,) * 2
_CHANNEL_BY_ROLL: Final = (1,) * 6 + (2,) * 3 + (3,)
_M64: Final = (1 << 64) - 1


def profile(
    *,
    fee: bool = True,
    synced: bool = True,
    bad_code: bool = False,
    status_diff: bool = False,
    fee_diff: bool = False,
    method: str = "",
    no_ref: bool = False,
    verified: int = 0,
    amount_diff: bool = False,
    pending: bool = False,
    failed: bool = False,
    flag: str = "3",
) -> int:
    """The profile bits of a dossier; refuses combinations the facts cannot have."""
    if (status_diff or fee_diff) and not synced:
        raise ValueError("status and fee differences need a synced dossier")
    if amount_diff and not verified:
        raise ValueError("an amount difference needs a verified payment")
    if amount_diff and verified > 1:
        raise ValueError("split payments are planted without amount differences")
    if not fee and (method or verified or pending or failed or bad_code):
        raise ValueError("dossiers without fees carry no payment and no reasons")
    if no_ref and method != "DVCQG":
        raise ValueError("only a DVCQG payment has a MaThamChieu to leave out")
    if not 0 <= verified <= 2:
        raise ValueError("0, 1 or 2 verified transactions")
    bits = FEE if fee else 0
    bits |= SYNCED if synced else 0
    bits |= BAD_CODE if bad_code else 0
    bits |= STATUS_DIFF if status_diff else 0
    bits |= FEE_DIFF if fee_diff else 0
    bits |= METHODS.index(method) << METHOD_SHIFT
    bits |= NO_REF if no_ref else 0
    bits |= verified << VERIFIED_SHIFT
    bits |= AMOUNT_DIFF if amount_diff else 0
    bits |= PENDING if pending else 0
    bits |= FAILED if failed else 0
    bits |= FLAGS.index(flag if synced else "3") << FLAG_SHIFT
    return bits


def method_of(bits: int) -> str:
    return METHODS[(bits >> METHOD_SHIFT) & 7]


def verified_of(bits: int) -> int:
    return (bits >> VERIFIED_SHIFT) & 3


def flag_of(bits: int) -> str:
    return FLAGS[(bits >> FLAG_SHIFT) & 3]


def by_reference(bits: int) -> bool:
    """Transactions carry P's MaThamChieu (else they are matched by MaHoSo)."""
    return method_of(bits) == "DVCQG" and not bits & NO_REF


def has_transactions(bits: int) -> bool:
    return bool(verified_of(bits) or bits & (PENDING | FAILED))


def portal_counted(bits: int) -> bool:
    return bool(bits & SYNCED) and flag_of(bits) in PORTAL_FLAGS


def paid_offline(bits: int) -> bool:
    return not verified_of(bits) and method_of(bits) in OFFLINE_METHODS


@lru_cache(maxsize=4096)
def reasons_of(bits: int) -> tuple[str, ...]:
    """Semantics §3 applied to the planned facts of a fee-bearing dossier (not to wire data)."""
    reasons: list[str] = []
    synced = bool(bits & SYNCED)
    method = method_of(bits)
    verified = verified_of(bits)
    if bits & BAD_CODE:
        reasons.append("invalid_dossier_code")
    if not synced:
        reasons.append("dossier_not_synced")
    else:
        if bits & STATUS_DIFF:
            reasons.append("status_mismatch")
        if bits & FEE_DIFF:
            reasons.append("fee_mismatch")
    # Every pending transaction is older than the grace window (module docstring).
    if method == "DVCQG" and not verified:
        reasons.append("payment_not_on_platform")
    if not verified and bits & PENDING:
        reasons.append("payment_pending")
    if verified and method != "DVCQG":
        reasons.append("payment_not_recorded")
    if verified and bits & AMOUNT_DIFF:
        reasons.append("amount_mismatch")
    if synced and (flag_of(bits) in PORTAL_FLAGS) != bool(verified):
        reasons.append("online_flag_mismatch")
    return tuple(reasons)


# ---- time ------------------------------------------------------------------------------------


def secs_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def day_of(day: date) -> int:
    return (day - EPOCH.date()).days


def date_of(day: int) -> date:
    return EPOCH.date() + timedelta(days=day)


@lru_cache(maxsize=8192)
def _day_text(day: int) -> str:
    return date_of(day).strftime("%Y%m%d")


_HHMM: Final = tuple(f"{m // 60:02d}{m % 60:02d}" for m in range(1440))
_SS: Final = tuple(f"{second:02d}" for second in range(60))


def fmt_time(secs: int) -> str:
    """Seconds since ``EPOCH`` → ``yyyyMMddHHmmss``."""
    day, rest = divmod(secs, DAY)
    return _day_text(day) + _HHMM[rest // 60] + _SS[rest % 60]


def parse_time(text: str) -> int | None:
    """``yyyyMMddHHmmss`` → seconds since ``EPOCH``; None when it is not a real time."""
    text = text.strip()
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        return None
    try:
        moment = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError:
        return None
    return secs_of(moment)


def _mix(value: int) -> int:
    """splitmix64: a cheap, well-spread hash for per-row deterministic choices."""
    value = (value + 0x9E3779B97F4A7C15) & _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


def money(amount: int, legacy: bool = False) -> str:
    return f"{amount:,}".replace(",", ".") if legacy else str(amount)


# ---- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeTemplate:
    """One procedure as dossiers of one agency use it: code and fee lines (Gia as configured)."""

    code: str
    lines: tuple[tuple[str, str, str, str], ...]  # MaPhiLePhi, TenPhiLePhi, Gia, LoaiPhiLePhi
    amounts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.amounts)


@dataclass(frozen=True)
class DossierAgency:
    code: str  # normalized MaDonVi
    name: str
    parent: str | None
    fee_procedures: tuple[FeeTemplate, ...]
    free_procedures: tuple[FeeTemplate, ...]


@dataclass
class AgencyQuota:
    """Dossiers of one agency: fee-bearing and portal-counted in the period, the rest around."""

    fee_bearing: int
    portal_counted: int
    non_fee: int
    before: int = 0  # received in the days just before the period
    after: int = 0  # received in the days just after it


Timing = tuple[int, int, int]  # received day, NgayHenTra (secs, 0 = none), finish (secs, 0 = open)
TimingFn = Callable[[int, str, int, random.Random], list[Timing]]


@dataclass
class DossierSpec:
    """What a scenario asks the engine for. Counts are exact; the engine only places them."""

    name: str
    seed: int
    scale: float
    province_code: str
    period_start: date
    period_end: date
    agencies: list[DossierAgency]
    quotas: list[AgencyQuota]
    timing: TimingFn  # (agency, region "before" | "in" | "after", count, rng) → timings
    portal_scatter: list[tuple[int, int]]  # (profile, count) among portal-counted dossiers
    other_scatter: list[tuple[int, int]]  # (profile, count) among the not portal-counted
    portal_bulk: int
    other_bulk: list[tuple[int, int]]  # (profile, weight) for the rest of the not counted
    non_fee_profiles: list[tuple[int, int]]  # (profile, weight)
    outside_profiles: list[tuple[int, int]]  # (profile, weight), dossiers outside the period
    orphans: dict[int, int] = field(default_factory=dict)  # kind → count
    # MaDonViCha of every agency of the province (also those without dossiers), for roll-ups
    hierarchy: dict[str, str | None] = field(default_factory=dict)

    @property
    def period_start_secs(self) -> int:
        return day_of(self.period_start) * DAY

    @property
    def period_end_secs(self) -> int:
        return day_of(self.period_end) * DAY + DAY - 1

    @property
    def transactions_until_secs(self) -> int:
        return self.period_end_secs + TRANSACTION_DAYS_AFTER * DAY


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split by ``weights`` (largest remainder; ties by position): sums exactly."""
    weight_sum = float(sum(weights))
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    raw = [total * w / weight_sum for w in weights]
    result = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - result[i]), i))
    for i in order[: total - sum(result)]:
        result[i] += 1
    return result


def _draw(rng: random.Random, capacity: list[int], count: int) -> list[int]:
    """``count`` agencies drawn in proportion to (and within) their remaining capacity."""
    if count > sum(capacity):
        raise ValueError(f"cannot place {count} dossiers in a capacity of {sum(capacity)}")
    chosen: list[int] = []
    population = range(len(capacity))
    while count:
        for index in rng.choices(population, weights=capacity, k=count):
            if capacity[index] > 0:
                capacity[index] -= 1
                chosen.append(index)
                count -= 1
    return chosen


# ---- the engine ------------------------------------------------------------------------------


class PagedItems(Protocol):
    """A listing the simulator pages through without materializing it."""

    def __len__(self) -> int: ...

    def page(self, index: int, size: int, shifted: bool) -> list[JsonDict]: ...


class _Rows:
    """``rows[lo:hi]`` of an index column, without copying it."""

    def __init__(self, rows: Sequence[int], lo: int, hi: int) -> None:
        self._rows, self._lo, self._hi = rows, lo, max(lo, hi)

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, index: int) -> int:
        return self._rows[self._lo + index]


class Window:
    """One listing's selection: row numbers and how to render one row."""

    def __init__(self, rows: Sequence[int] | _Rows, render: Callable[[int], JsonDict]) -> None:
        self._rows = rows
        self._render = render

    def __len__(self) -> int:
        return len(self._rows)

    def page(self, index: int, size: int, shifted: bool) -> list[JsonDict]:
        """Items of a 0-based page. ``shifted`` mirrors ``upstreams._slice``: the last item moved
        to the front after the first page was read."""
        total = len(self._rows)
        start, stop = index * size, min((index + 1) * size, total)
        if shifted and index > 0:
            start, stop = start - 1, stop - 1
        return [self._render(self._rows[j]) for j in range(start, stop)]


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


class DossierSet:
    """The planned dossiers and transactions of one scenario, rendered on demand."""

    def __init__(self, spec: DossierSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.seed = spec.seed
        self.province_code = spec.province_code
        self.agencies = spec.agencies
        self._key = _mix(spec.seed * 1_000_003 + 17)
        self.received = array("I")
        self.agency = array("H")
        self.bits = array("I")
        self.due = array("I")
        self.finish = array("I")
        self.seq = array("H")
        self.tx_time = array("I")
        self.tx_dossier = array("I")
        self.tx_kind = array("B")
        self.synced_rows = array("I")
        self._updated_cache: dict[tuple[int, int, int], array[int]] = {}
        self._lock = threading.Lock()
        self._build()

    def __len__(self) -> int:
        return len(self.received)

    # ---- build -----------------------------------------------------------------------------

    def _build(self) -> None:
        spec = self.spec
        rng = random.Random(f"{spec.name}:{spec.seed}:dossiers")
        days, agency, bits, due, finish = (
            array("H"),
            array("H"),
            array("I"),
            array("I"),
            array("I"),
        )
        portal_left = [q.portal_counted for q in spec.quotas]
        other_left = [q.fee_bearing - q.portal_counted for q in spec.quotas]
        if min(other_left, default=0) < 0:
            raise ValueError("an agency has more portal-counted than fee-bearing dossiers")
        planted: list[list[int]] = [[] for _ in spec.agencies]
        for scatter, capacity in (
            (spec.portal_scatter, portal_left),
            (spec.other_scatter, other_left),
        ):
            for profile_bits, count in scatter:
                for index in _draw(rng, capacity, count):
                    planted[index].append(profile_bits)
        other_weights = [w for _, w in spec.other_bulk]
        free_weights = [w for _, w in spec.non_fee_profiles]
        outside_weights = [w for _, w in spec.outside_profiles]
        for index, quota in enumerate(spec.quotas):
            if quota.fee_bearing + quota.non_fee + quota.before + quota.after == 0:
                continue
            if not self.agencies[index].fee_procedures:
                raise ValueError(f"{self.agencies[index].code} has dossiers but no procedure")
            region_profiles: dict[str, list[int]] = {
                "in": planted[index]
                + [spec.portal_bulk] * portal_left[index]
                + _expand(spec.other_bulk, allocate(other_left[index], other_weights))
                + _expand(spec.non_fee_profiles, allocate(quota.non_fee, free_weights)),
                "before": _expand(spec.outside_profiles, allocate(quota.before, outside_weights)),
                "after": _expand(spec.outside_profiles, allocate(quota.after, outside_weights)),
            }
            for region, profiles in region_profiles.items():
                if not profiles:
                    continue
                timings = spec.timing(index, region, len(profiles), rng)
                if len(timings) != len(profiles):
                    raise ValueError(f"timing gave {len(timings)} rows for {len(profiles)}")
                received_days, due_at, finish_at = zip(*timings, strict=True)
                days.extend(received_days)
                due.extend(due_at)
                finish.extend(finish_at)
                bits.extend(_shuffled(rng, profiles))
                agency.extend(repeat(index, len(profiles)))
        self._sort_by_received(rng, days, agency, bits, due, finish)
        del days, agency, bits, due, finish
        self._number()
        self._transactions(rng)
        self.synced_rows = array("I", (i for i, b in enumerate(self.bits) if b & SYNCED))

    def _sort_by_received(
        self,
        rng: random.Random,
        days: array[int],
        agency: array[int],
        bits: array[int],
        due: array[int],
        finish: array[int],
    ) -> None:
        """Counting sort by day; within a day, random times of day (07:00–17:30) in order."""
        count = len(days)
        first, last = min(days), max(days)
        per_day = [0] * (last - first + 1)
        for day in days:
            per_day[day - first] += 1
        starts = [0] * len(per_day)
        running = 0
        for offset, n in enumerate(per_day):
            starts[offset] = running
            running += n
        cursor = list(starts)
        order = array("I", bytes(4 * count))
        for row, day in enumerate(days):
            offset = day - first
            order[cursor[offset]] = row
            cursor[offset] += 1
        received = array("I", bytes(4 * count))
        opening, span = 7 * 3600, 10 * 3600 + 1800
        for offset, n in enumerate(per_day):
            if not n:
                continue
            start = starts[offset]
            moments = [opening + v % span for v in _random_words(rng, n)]
            ranked = sorted(range(n), key=moments.__getitem__)
            chunk = order[start : start + n]
            order[start : start + n] = array("I", map(chunk.__getitem__, ranked))
            base = (first + offset) * DAY
            received[start : start + n] = array("I", [base + moments[i] for i in ranked])
        self.received = received
        self.agency = array("H", map(agency.__getitem__, order))
        self.bits = array("I", map(bits.__getitem__, order))
        self.due = array("I", map(due.__getitem__, order))
        self.finish = array("I", map(finish.__getitem__, order))
        for at, due_at, finish_at in zip(received, self.due, self.finish, strict=True):
            if (due_at and due_at <= at) or (finish_at and finish_at < at):
                raise ValueError("a NgayHenTra or NgayKetThucXuLy before NgayTiepNhan")

    def _number(self) -> None:
        """The 4-digit sequence of MaHoSo: per agency and received day, in received order."""
        counts = [0] * len(self.agencies)
        touched: list[int] = []
        current = -1
        seq = array("H")
        for row, at in enumerate(self.received):
            day = at // DAY
            if day != current:
                for index in touched:
                    counts[index] = 0
                touched.clear()
                current = day
            index = self.agency[row]
            value = counts[index] + 1
            if value == 1:
                touched.append(index)
            counts[index] = value
            seq.append(value)
        if seq and max(seq) >= 8000:
            raise ValueError("more than 7999 dossiers of one agency on one day")
        self.seq = seq

    def pay_time(self, row: int) -> int:
        """When the dossier's (first verified or attempted) payment happened."""
        h = self._h(row) >> 24
        received = self.received[row]
        roll = h % 10
        if roll < 6:
            delay = 300 + (h >> 4) % 3300  # minutes after receipt
        elif roll < 9:
            delay = 3600 + (h >> 4) % (2 * DAY)
        else:
            delay = DAY + (h >> 4) % (12 * DAY)
        latest = self.spec.transactions_until_secs - 3600
        start = self.spec.period_start_secs
        if received < start and (h >> 30) % 2:
            # Received just before the period, paid in its first days: a verified payment in
            # the period whose well-formed MaHoSo is dated before it (not an orphan).
            return start + 8 * 3600 + (h >> 4) % (5 * DAY)
        return max(received + 60, min(received + delay, latest))

    def _transactions(self, rng: random.Random) -> None:
        spec = self.spec
        times, rows, kinds = array("I"), array("I"), array("B")
        for row, profile_bits in enumerate(self.bits):
            if not has_transactions(profile_bits):
                continue
            paid = self.pay_time(row)
            verified = verified_of(profile_bits)
            if profile_bits & FAILED:
                times.append(max(self.received[row] + 30, paid - 600))
                rows.append(row)
                kinds.append(T_FAILED)
            if profile_bits & PENDING:
                times.append(max(self.received[row] + 20, paid - 1800) if verified else paid)
                rows.append(row)
                kinds.append(T_PENDING)
            if verified == 1:
                times.append(paid)
                rows.append(row)
                kinds.append(T_FULL)
            elif verified == 2:
                times.extend((paid, paid + 120 + (self._h(row) >> 40) % 86400))
                rows.extend((row, row))
                kinds.extend((T_SPLIT1, T_SPLIT2))
        start, end = spec.period_start_secs, spec.period_end_secs
        for kind, count in sorted(spec.orphans.items()):
            for _ in range(count):
                if kind == T_LATE_ORPHAN:
                    at = rng.randrange(end + 1, spec.transactions_until_secs - 3600)
                else:
                    at = rng.randrange(start + 8 * 3600, end - 3600)
                times.append(at)
                rows.append(NONE)
                kinds.append(kind)
        order = sorted(range(len(times)), key=times.__getitem__)
        self.tx_time = array("I", (times[k] for k in order))
        self.tx_dossier = array("I", (rows[k] for k in order))
        self.tx_kind = array("B", (kinds[k] for k in order))

    # ---- rendering -------------------------------------------------------------------------
    #
    # One 64-bit hash per row (``_h``) drives every cosmetic choice of P's item, another
    # (``_hn``) N's; bit ranges: 0–15 MaHoSo variant, 16–23 status, 24–63 payment time (and
    # the other P choices, shifted out of its way).

    def _h(self, row: int) -> int:
        return _mix(self._key ^ (row << 2))

    def _hn(self, row: int) -> int:
        return _mix(self._key ^ ((row << 2) | 1))

    def procedure(self, row: int) -> tuple[FeeTemplate, bool]:
        """The dossier's procedure, and whether its fees are waived (Gia "0"): a dossier without
        fees is of a free procedure, or (one in four, or when there is none) of a waived one."""
        agency = self.agencies[self.agency[row]]
        h = _mix(self._key ^ ((row << 2) | 2))
        fee = agency.fee_procedures
        if self.bits[row] & FEE:
            return fee[h % len(fee)], False
        free = agency.free_procedures
        if free and (h >> 40) % 4:
            return free[h % len(free)], False
        return fee[h % len(fee)], True

    def fee_total(self, row: int) -> int:
        template, waived = self.procedure(row)
        return 0 if waived else template.total

    def code(self, row: int, h: int | None = None) -> str:
        """MaHoSo, normalized (the form N and the platform agree on)."""
        agency = self.agencies[self.agency[row]].code
        yymmdd = _day_text(self.received[row] // DAY)[2:]
        seq = self.seq[row]
        if not self.bits[row] & BAD_CODE:
            return f"{agency}-{yymmdd}-{seq:04d}"
        variant = (self._h(row) if h is None else h) % 5
        if variant == 0:  # sequence and date swapped
            return f"{agency}-{seq:04d}-{yymmdd}"
        if variant == 1:  # five-digit sequence
            return f"{agency}-{yymmdd}-{seq:05d}"
        if variant == 2:  # no dashes (legacy import)
            return f"{agency}{yymmdd}{seq:04d}"
        if variant == 3:  # a day that does not exist
            return f"{agency}-{yymmdd[:4]}{int(yymmdd[4:]) + 40}-{seq:04d}"
        # Well formed, but another province's agency: not "its own MaDonVi".
        other = agency[:-2] + ("28" if not agency.endswith("28") else "27")
        return f"{other}-{yymmdd}-{seq:04d}"

    def p_code(self, row: int, h: int | None = None) -> str:
        """MaHoSo as P serves it (sometimes lower-case or padded: the same code)."""
        h = self._h(row) if h is None else h
        code = self.code(row, h)
        variant = (h >> 3) % 100
        if variant < 3:
            return code.lower()
        if variant < 5:
            return f" {code}"
        return code

    def reference(self, row: int) -> str | None:
        if not by_reference(self.bits[row]):
            return None
        return f"TT{self.province_code}{_day_text(self.received[row] // DAY)[2:]}{row:08d}"

    def status(self, row: int, h: int | None = None) -> int:
        roll = ((self._h(row) if h is None else h) >> 16) % 20
        if self.finish[row]:
            return 10 if roll < 12 else 9
        return _OPEN_STATUS[roll]

    def updated(self, row: int, h: int | None = None) -> int:
        h = self._h(row) if h is None else h
        return max(self.received[row], self.finish[row]) + (h >> 44) % 3000

    def p_item(self, row: int) -> JsonDict:
        profile_bits = self.bits[row]
        agency = self.agencies[self.agency[row]]
        template, waived = self.procedure(row)
        h = self._h(row)
        method = METHODS[(profile_bits >> METHOD_SHIFT) & 7]
        payment: JsonDict | None = None
        if method:
            total = 0 if waived else template.total
            paid_at = self.pay_time(row) if method == "DVCQG" else self.received[row] + 600
            payment = {
                "HinhThuc": method,
                "SoTien": money(total, legacy=total >= 1_000_000 and (h >> 36) % 3 == 0),
                "MaThamChieu": self.reference(row),
                "NgayThanhToan": fmt_time(paid_at),
            }
        received, due, finish = self.received[row], self.due[row], self.finish[row]
        channel = 2 if method == "DVCQG" else _CHANNEL_BY_ROLL[(h >> 28) % 10]
        fees = [
            {"MaPhiLePhi": ma, "TenPhiLePhi": ten, "Gia": "0" if waived else gia, "LoaiPhiLePhi": k}
            for ma, ten, gia, k in template.lines
        ]
        return {
            "MaHoSo": self.p_code(row, h),
            "MaTTHC": template.code,
            "MaDonVi": agency.code.lower() if (h >> 50) % 50 == 0 else agency.code,
            "KenhThucHien": channel,
            "NgayTiepNhan": fmt_time(received),
            "NgayHenTra": fmt_time(due) if due else None,
            "NgayKetThucXuLy": fmt_time(finish) if finish else None,
            "TrangThaiHoSo": self.status(row, h),
            "DanhSachLePhi": fees,
            "ThanhToan": payment,
            "DaDongBo": bool(profile_bits & SYNCED) or (h >> 56) % 3 != 0,
            "NgayCapNhat": fmt_time(self.updated(row, h)),
        }

    def _n_fees(self, row: int, template: FeeTemplate, waived: bool, h: int) -> list[JsonDict]:
        flip = h % 2 == 0
        lines: list[JsonDict] = []
        for (ma, ten, gia, kind), amount in zip(template.lines, template.amounts, strict=True):
            if waived:
                text = "0"
            elif amount >= 1_000_000 and flip:
                text = money(amount, legacy="." not in gia)  # the other way of writing it
            else:
                text = gia
            lines.append({"MaPhiLePhi": ma, "TenPhiLePhi": ten, "Gia": text, "LoaiPhiLePhi": kind})
        if self.bits[row] & FEE_DIFF:
            amounts = template.amounts
            if len(lines) > 1 and amounts[-1] > 0 and (h >> 1) % 2:
                lines.pop()  # N lost a fee line
            else:
                first = next(i for i, amount in enumerate(amounts) if amount > 0)
                lines[first]["Gia"] = str(amounts[first] + 10_000)
        return lines

    def n_item(self, row: int) -> JsonDict:
        profile_bits = self.bits[row]
        template, waived = self.procedure(row)
        h = self._h(row)
        hn = self._hn(row)
        status = self.status(row, h)
        if profile_bits & STATUS_DIFF:
            status = _N_STATUS_DIFF[status]
        code = self.code(row, h)
        received, due, finish = self.received[row], self.due[row], self.finish[row]
        return {
            "MaHoSo": code.lower() if (hn >> 8) % 25 == 0 else code,
            "MaTTHC": template.code,
            "MaDonVi": self.agencies[self.agency[row]].code,
            "NgayTiepNhan": fmt_time(received),
            "NgayHenTra": fmt_time(due) if due else "",
            "NgayKetThucXuLy": fmt_time(finish) if finish else "",
            "TrangThaiHoSo": str(status),
            "DanhSachLePhi": self._n_fees(row, template, waived, hn),
            "DuocThanhToanTrucTuyen": flag_of(profile_bits) if profile_bits & FEE else "3",
            "NgayDongBo": fmt_time(max(received, finish) + 60 + (hn >> 16) % 7200),
        }

    def tx_item(self, k: int) -> JsonDict:
        kind, row, at = self.tx_kind[k], self.tx_dossier[k], self.tx_time[k]
        h = _mix(self._key ^ (k * 0x100 + 0x55))
        if row == NONE:
            return self._unmatched_tx(k, kind, at, h)
        state = "1" if kind in _VERIFIED_KINDS else "3" if kind == T_PENDING else "4"
        profile_bits = self.bits[row]
        template, waived = self.procedure(row)
        total = 0 if waived else template.total
        if kind == T_SPLIT1:
            amount = (total // 2000) * 1000
        elif kind == T_SPLIT2:
            amount = total - (total // 2000) * 1000
        elif kind == T_FULL and profile_bits & AMOUNT_DIFF:
            amount = total - 5000
        else:
            amount = total
        code = self.code(row)
        if by_reference(profile_bits):
            reference: str | None = self.reference(row)
        else:
            reference = None if h % 3 == 0 else f"KB{k:010d}"
            code = code.lower() if h % 20 == 1 else code
        return {
            "MaGiaoDich": f"GD{_day_text(at // DAY)[2:]}{k:08d}",
            "MaThamChieu": reference,
            "MaHoSo": code,
            "MaTTHC": template.code,
            "MaDonVi": self.agencies[self.agency[row]].code,
            "SoTien": money(amount),
            "TrangThaiGD": state,
            "ThoiGianGD": fmt_time(at),
            "MaNganHang": _BINS[(h >> 8) % len(_BINS)],
            "KenhThanhToan": _CHANNELS[(h >> 16) % len(_CHANNELS)],
        }

    def _unmatched_tx(self, k: int, kind: int, at: int, h: int) -> JsonDict:
        agency = self.agencies[(h >> 4) % len(self.agencies)]
        template = agency.fee_procedures[(h >> 12) % len(agency.fee_procedures)]
        day = at // DAY
        if kind == T_OLD_CODE:
            # Dated before the period (and before any dossier P serves): an older dossier's.
            day = day_of(self.spec.period_start) - 40 - (h >> 20) % 200
        elif kind in (T_ORPHAN_CODE, T_STRAY, T_LATE_ORPHAN):
            day = max(day_of(self.spec.period_start), day - (h >> 20) % 3)
        yymmdd = _day_text(day)[2:]
        if kind == T_ORPHAN_BAD:
            code = f"HS-{yymmdd}-{k:06d}"
        else:
            code = f"{agency.code}-{yymmdd}-{9000 + k % 1000:04d}"
        state = "1"
        if kind == T_STRAY:
            state = "3" if h % 2 else "4"
        return {
            "MaGiaoDich": f"GD{_day_text(at // DAY)[2:]}{k:08d}",
            "MaThamChieu": None if h % 4 == 0 else f"KB{k:010d}",
            "MaHoSo": code,
            "MaTTHC": template.code,
            "MaDonVi": agency.code,
            "SoTien": money(template.total),
            "TrangThaiGD": state,
            "ThoiGianGD": fmt_time(at),
            "MaNganHang": _BINS[(h >> 8) % len(_BINS)],
            "KenhThanhToan": _CHANNELS[(h >> 16) % len(_CHANNELS)],
        }

    # ---- listings --------------------------------------------------------------------------

    def provincial(self, received_from: int, received_to: int, updated_since: int | None) -> Window:
        """P's ``/v1/dossiers``: ``NgayTiepNhan`` in [from, to] (and ``NgayCapNhat`` ≥ since)."""
        lo = bisect.bisect_left(self.received, received_from)
        hi = bisect.bisect_right(self.received, received_to)
        if updated_since is None:
            return Window(range(lo, max(lo, hi)), self.p_item)
        key = (lo, hi, updated_since)
        with self._lock:
            rows = self._updated_cache.get(key)
            if rows is None:
                rows = array("I", (r for r in range(lo, hi) if self.updated(r) >= updated_since))
                if len(self._updated_cache) >= 8:
                    self._updated_cache.pop(next(iter(self._updated_cache)))
                self._updated_cache[key] = rows
        return Window(rows, self.p_item)

    def national(self, received_from: int, received_to: int) -> Window:
        """N's ``ho-so/dong-bo``: synced dossiers with ``NgayTiepNhan`` in [from, to]."""
        at = self.received.__getitem__
        lo = bisect.bisect_left(self.synced_rows, received_from, key=at)
        hi = bisect.bisect_right(self.synced_rows, received_to, key=at)
        return Window(_Rows(self.synced_rows, lo, hi), self.n_item)

    def transactions(self, time_from: int, time_to: int) -> Window:
        """N's ``thanh-toan/giao-dich``: ``ThoiGianGD`` in [from, to]."""
        lo = bisect.bisect_left(self.tx_time, time_from)
        hi = bisect.bisect_right(self.tx_time, time_to)
        return Window(range(lo, max(lo, hi)), self.tx_item)

    # ---- truth -----------------------------------------------------------------------------

    @cached_property
    def truth(self) -> DossierTruth:
        return _truth(self)


def _random_words(rng: random.Random, count: int) -> array[int]:
    """``count`` random 32-bit words, drawn in one call (much faster than ``randrange``)."""
    words = array("I")
    words.frombytes(rng.randbytes(4 * count))
    return words


def _shuffled(rng: random.Random, items: list[int]) -> list[int]:
    keys = _random_words(rng, len(items))
    return list(map(items.__getitem__, sorted(range(len(items)), key=keys.__getitem__)))


def _expand(profiles: Sequence[tuple[int, int]], counts: Sequence[int]) -> list[int]:
    result: list[int] = []
    for (profile_bits, _), count in zip(profiles, counts, strict=True):
        result.extend([profile_bits] * count)
    return result


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


def _truth(dossiers: DossierSet) -> DossierTruth:
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


class DossierSource:
    """Builds a scenario's dossiers on first use (thread-safe), so procedure-only users of a
    scenario never pay for them."""

    def __init__(self, build: Callable[[], DossierSet]) -> None:
        self._build = build
        self._value: DossierSet | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._value is not None

    def get(self) -> DossierSet:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


__all__ = [
    "DOSSIER_REASONS",
    "AgencyQuota",
    "DossierAgency",
    "DossierSet",
    "DossierSource",
    "DossierSpec",
    "DossierTruth",
    "FeeTemplate",
    "Figures",
    "Overdue",
    "PagedItems",
    "Window",
    "allocate",
    "profile",
    "reasons_of",
]
