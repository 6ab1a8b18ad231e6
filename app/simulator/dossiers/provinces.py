"""How many dossiers of which kind each scenario holds, and when they happen.

Counts are planned per agency first (fee-bearing and portal-counted dossiers in the period, the
scatter of every semantics §3 reason, dossiers without fees, dossiers just outside the period,
orphan transactions); ``app.simulator.dossiers.render`` then places and renders them. ``scale``
multiplies every count; figures the scenarios promise (Đồng Tháp's online-payment rates, Tây
Ninh's overdue rates) are re-fitted at each scale so their rounded rates do not move.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final

from app.simulator.dossiers.plan import (
    T_LATE_ORPHAN,
    T_OLD_CODE,
    T_ORPHAN_BAD,
    T_ORPHAN_CODE,
    T_STRAY,
    AgencyQuota,
    DossierAgency,
    DossierSpec,
    FeeTemplate,
    Timing,
    TimingFn,
    allocate,
    profile,
)
from app.simulator.dossiers.render import DossierSet
from app.simulator.wire_time import DAY, day_of

JsonDict = dict[str, Any]

# ---- the mix of dossier kinds (counts at scale 1, Đồng Tháp's size) -----------------------------

DV: Final = "DVCQG"

# Portal-counted (synced, DuocThanhToanTrucTuyen "1"/"2") dossiers that are not the plain case.
PORTAL_SCATTER: Final[tuple[tuple[dict[str, Any], int], ...]] = (
    # counted, but nothing verified on the platform
    ({"method": DV, "flag": "1"}, 1150),
    ({"method": DV, "pending": True, "flag": "1"}, 640),
    ({"method": DV, "failed": True, "flag": "1"}, 380),
    ({"method": "QR_TINH", "flag": "2"}, 2100),  # the province's own gateway: paid offline
    # verified, with a difference
    ({"method": DV, "verified": 1, "amount_diff": True, "flag": "1"}, 520),
    ({"verified": 1, "flag": "1"}, 460),  # P records no payment
    ({"method": "TIEN_MAT", "verified": 1, "flag": "1"}, 310),
    ({"method": DV, "verified": 1, "status_diff": True, "flag": "1"}, 900),
    ({"method": DV, "verified": 1, "fee_diff": True, "flag": "1"}, 430),
    ({"method": DV, "verified": 1, "bad_code": True, "flag": "1"}, 260),
    ({"method": DV, "verified": 1, "status_diff": True, "fee_diff": True, "flag": "1"}, 120),
    ({"verified": 1, "amount_diff": True, "flag": "2"}, 90),
    # clean variants (no reason)
    ({"method": DV, "no_ref": True, "verified": 1, "flag": "1"}, 1800),  # matched by MaHoSo
    ({"method": DV, "verified": 1, "failed": True, "flag": "1"}, 1200),
    ({"method": DV, "verified": 1, "pending": True, "flag": "1"}, 350),
    ({"method": DV, "verified": 2, "flag": "1"}, 400),
    ({"method": DV, "verified": 1, "flag": "2"}, 1500),
)
PORTAL_BULK: Final[dict[str, Any]] = {"method": DV, "verified": 1, "flag": "1"}

# Fee-bearing dossiers the portal does not count.
OTHER_SCATTER: Final[tuple[tuple[dict[str, Any], int], ...]] = (
    ({"synced": False, "method": "TIEN_MAT"}, 1900),
    ({"synced": False}, 800),
    ({"synced": False, "method": DV, "verified": 1}, 450),
    ({"synced": False, "method": DV}, 220),
    ({"method": DV, "verified": 1, "flag": "3"}, 1300),  # verified, the portal does not count
    ({"method": DV, "verified": 1, "flag": ""}, 350),
    ({"method": DV, "failed": True, "flag": "3"}, 600),
    ({"method": DV, "pending": True, "flag": "3"}, 420),
    ({"pending": True, "flag": "3"}, 260),
    ({"method": "CHUYEN_KHOAN", "status_diff": True, "flag": "3"}, 1100),
    ({"method": "POS", "fee_diff": True, "flag": "3"}, 500),
    ({"method": "TIEN_MAT", "bad_code": True, "flag": "3"}, 380),
    ({"synced": False, "bad_code": True}, 150),
    ({"method": DV, "no_ref": True, "flag": "3"}, 200),
    ({"method": "TIEN_MAT", "verified": 1, "flag": "3"}, 140),
)
OTHER_BULK: Final[tuple[tuple[dict[str, Any], int], ...]] = (
    ({"method": "TIEN_MAT", "flag": "3"}, 30),
    ({"method": "CHUYEN_KHOAN", "flag": "3"}, 18),
    ({"method": "POS", "flag": "3"}, 8),
    ({"method": "QR_TINH", "flag": "3"}, 14),
    ({"flag": "3"}, 24),  # nothing paid yet
    ({"flag": ""}, 6),
)
NON_FEE: Final[tuple[tuple[dict[str, Any], int], ...]] = (
    ({"fee": False}, 95),
    ({"fee": False, "synced": False}, 5),
)
OUTSIDE: Final[tuple[tuple[dict[str, Any], int], ...]] = (
    ({"method": DV, "verified": 1, "flag": "1"}, 30),
    ({"method": "TIEN_MAT", "flag": "3"}, 30),
    ({"flag": "3"}, 15),
    ({"fee": False}, 15),
    ({"method": DV, "flag": "1"}, 5),
    ({"synced": False, "method": "CHUYEN_KHOAN"}, 5),
)
ORPHANS: Final[dict[int, int]] = {
    T_ORPHAN_CODE: 180,
    T_ORPHAN_BAD: 90,
    T_OLD_CODE: 60,
    T_STRAY: 120,
    T_LATE_ORPHAN: 40,
}


def scaled(count: int, scale: float) -> int:
    """A scatter count at ``scale``; at least one, so every kind exists at every scale."""
    return max(1, round(count * scale))


def _profiles(
    rows: Sequence[tuple[dict[str, Any], int]], scale: float | None
) -> list[tuple[int, int]]:
    return [(profile(**kw), scaled(n, scale) if scale is not None else n) for kw, n in rows]


def exact_rate(total: int, rate: float, *, search: int = 400) -> tuple[int, int]:
    """(total', part) with total' ≥ ``total`` as small as possible and part / total' rounding to
    ``rate`` at 4 decimals without ambiguity; ``(total, round(rate·total))`` when none is near."""
    for candidate in range(max(total, 1), max(total, 1) + search):
        part = round(rate * candidate)
        if abs(part / candidate - rate) < 0.00005 - 1e-12:
            return candidate, part
    return total, round(rate * total)


# ---- agencies and their procedures, from a scenario's P catalogue -------------------------------


def _amount(raw: str) -> int | None:
    text = raw.strip()
    if text.isdigit():
        return int(text)
    parts = text.split(".")
    if (
        len(parts) > 1
        and all(p.isdigit() for p in parts)
        and 1 <= len(parts[0]) <= 3
        and all(len(p) == 3 for p in parts[1:])
    ):
        return int("".join(parts))
    return None


def dossier_agencies(
    agencies: Sequence[JsonDict], procedures: Sequence[JsonDict]
) -> list[DossierAgency]:
    """Agencies with at least one fee-bearing procedure whose fee lines are all readable."""
    fee: dict[str, list[FeeTemplate]] = {}
    free: dict[str, list[FeeTemplate]] = {}
    for item in procedures:
        lines = tuple(
            (
                str(line["MaPhiLePhi"]),
                str(line["TenPhiLePhi"]),
                str(line["Gia"]),
                str(line["LoaiPhiLePhi"]),
            )
            for line in item["DanhSachLePhi"]
        )
        amounts = tuple(_amount(line[2]) for line in lines)
        if any(a is None for a in amounts):
            continue  # data-quality items stay in the procedure listing only
        clean = tuple(a or 0 for a in amounts)
        template = FeeTemplate(str(item["MaTTHC"]).strip().upper(), lines, clean)
        agency = str(item["MaDonVi"]).strip().upper()
        if template.total > 0:
            if min(a for a in clean if a) >= 10_000:
                fee.setdefault(agency, []).append(template)
        else:
            free.setdefault(agency, []).append(template)
    result: list[DossierAgency] = []
    for item in agencies:
        code = str(item["MaDonVi"]).strip().upper()
        if code in fee:
            parent = item["MaDonViCha"]
            result.append(
                DossierAgency(
                    code=code,
                    name=str(item["TenDonVi"]),
                    parent=str(parent).strip().upper() if parent else None,
                    fee_procedures=tuple(sorted(fee[code], key=lambda t: t.code)),
                    free_procedures=tuple(sorted(free.get(code, []), key=lambda t: t.code)),
                )
            )
    return result


# ---- calendars -------------------------------------------------------------------------------

# Public holidays (2022–2023) on which offices receive almost nothing.
_HOLIDAYS: Final = frozenset(
    [date(2023, 1, 1), date(2023, 1, 2)]
    + [date(2023, 1, 20) + timedelta(days=i) for i in range(7)]  # Tết
    + [date(2023, 4, 29) + timedelta(days=i) for i in range(5)]
    + [date(2023, 9, 1) + timedelta(days=i) for i in range(4)]
)


def day_weight(day: date) -> float:
    if day in _HOLIDAYS:
        return 0.03
    return (1.0, 1.05, 1.0, 0.95, 0.9, 0.3, 0.04)[day.weekday()]


def days_between(first: date, last: date) -> tuple[list[int], list[float]]:
    """Day numbers (``dossiers.day_of``) and their cumulative weights."""
    days: list[int] = []
    cumulative: list[float] = []
    running = 0.0
    current = first
    while current <= last:
        running += day_weight(current)
        days.append(day_of(current))
        cumulative.append(running)
        current += timedelta(days=1)
    return days, cumulative


def _working_moment(rng: random.Random, day: int) -> int:
    return day * DAY + rng.randrange(7 * 3600 + 1800, 17 * 3600)


_SPANS: Final = (1, 2, 3, 5, 5, 7, 10, 10, 15, 20, 30, 3, 5, 7, 15, 1)


def random_timings(
    rng: random.Random,
    count: int,
    days: Sequence[int],
    cumulative: Sequence[float],
    snapshot: int,
) -> list[Timing]:
    """Received days by weight; NgayHenTra 1–30 days later at 17:00 (4% none); most finish on
    time, about one in ten late, some still open; nothing finishes after ``snapshot``."""
    result: list[Timing] = []
    closing = 17 * 3600
    for day in rng.choices(days, cum_weights=cumulative, k=count):
        bits = rng.getrandbits(64)
        span = _SPANS[bits & 15]
        due_day = day + span
        due = 0 if (bits >> 4) % 25 == 0 else due_day * DAY + closing
        roll = (bits >> 10) % 100
        if roll < 86:  # on time: a working moment on or before the due day
            finish = (day + 1 + (bits >> 20) % span) * DAY + 27_000 + (bits >> 40) % 34_200
        elif roll < 96:
            finish = due_day * DAY + closing + 3600 + (bits >> 20) % (12 * DAY)
        else:
            finish = 0
        result.append((day, due, finish if finish <= snapshot else 0))
    return result


# ---- Đồng Tháp -------------------------------------------------------------------------------

DT_PERIOD: Final = (date(2023, 1, 1), date(2023, 10, 23))
DT_FEE_BEARING: Final = 256_939
DT_PORTAL_COUNTED: Final = 43_109
DT_NON_FEE_SHARE: Final = 0.22
DT_OUTSIDE_SHARE: Final = 0.012


def dong_thap_spec(
    name: str,
    seed: int,
    scale: float,
    agencies: list[DossierAgency],
    district_targets: dict[str, tuple[int, float]],
    department_weights: dict[str, tuple[float, float]],
) -> DossierSpec:
    """``district_targets``: district code → (fee-bearing dossiers at scale 1, portal-counted
    rate of the district with its communes); ``department_weights``: code of every other agency
    → (share of the rest, relative online propensity)."""
    rng = random.Random(f"{name}:{seed}:quotas")
    by_code = {a.code: i for i, a in enumerate(agencies)}
    members: dict[str, list[int]] = {code: [by_code[code]] for code in district_targets}
    for index, agency in enumerate(agencies):
        if agency.parent in members:
            members[agency.parent].append(index)
    fee = [0] * len(agencies)
    portal = [0] * len(agencies)
    district_fee = district_portal = 0
    for code, (count, rate) in district_targets.items():
        total, part = exact_rate(round(count * scale), rate)
        district_fee += total
        district_portal += part
        group = members[code]
        weights = [0.4] + [0.6 / (len(group) - 1) * rng.uniform(0.7, 1.3) for _ in group[1:]]
        for index, n in zip(group, allocate(total, weights), strict=True):
            fee[index] = n
        for index, n in zip(group, allocate(part, [fee[i] for i in group]), strict=True):
            portal[index] = min(n, fee[index])
        _settle(portal, fee, group, part)
    rest = [by_code[c] for c in department_weights]
    rest_fee = round(DT_FEE_BEARING * scale) - district_fee
    rest_portal = round(DT_PORTAL_COUNTED * scale) - district_portal
    for index, n in zip(
        rest,
        allocate(rest_fee, [department_weights[agencies[i].code][0] for i in rest]),
        strict=True,
    ):
        fee[index] = n
    propensity = [fee[i] * department_weights[agencies[i].code][1] for i in rest]
    for index, n in zip(rest, allocate(rest_portal, propensity), strict=True):
        portal[index] = min(n, fee[index])
    _settle(portal, fee, rest, rest_portal)
    quotas = []
    for index, agency in enumerate(agencies):
        free_share = 0.45 if agency.parent in district_targets else DT_NON_FEE_SHARE
        quotas.append(
            AgencyQuota(
                fee_bearing=fee[index],
                portal_counted=portal[index],
                non_fee=round(fee[index] * free_share),
                before=round(fee[index] * DT_OUTSIDE_SHARE),
                after=round(fee[index] * DT_OUTSIDE_SHARE),
            )
        )
    start, end = DT_PERIOD
    snapshot = (day_of(end) + 30) * DAY
    regions = {
        "in": days_between(start, end),
        "before": days_between(date(2022, 12, 19), date(2022, 12, 31)),
        "after": days_between(end + timedelta(days=1), date(2023, 10, 31)),
    }

    def timing(_: int, region: str, count: int, trng: random.Random) -> list[Timing]:
        days, cumulative = regions[region]
        return random_timings(trng, count, days, cumulative, snapshot)

    return _spec(name, seed, scale, "H29", start, end, agencies, quotas, timing, scale)


def _settle(portal: list[int], fee: list[int], group: Sequence[int], total: int) -> None:
    """Give back what capping ``portal`` at ``fee`` took away, to members with room."""
    missing = total - sum(portal[i] for i in group)
    while missing > 0:
        room = [i for i in group if portal[i] < fee[i]]
        if not room:
            raise ValueError("more portal-counted dossiers than fee-bearing ones")
        for index in room[:missing]:
            portal[index] += 1
            missing -= 1


def _spec(
    name: str,
    seed: int,
    scale: float,
    province: str,
    start: date,
    end: date,
    agencies: list[DossierAgency],
    quotas: list[AgencyQuota],
    timing: TimingFn,
    scatter_scale: float,
) -> DossierSpec:
    return DossierSpec(
        name=name,
        seed=seed,
        scale=scale,
        province_code=province,
        period_start=start,
        period_end=end,
        agencies=agencies,
        quotas=quotas,
        timing=timing,
        portal_scatter=_profiles(PORTAL_SCATTER, scatter_scale),
        other_scatter=_profiles(OTHER_SCATTER, scatter_scale),
        portal_bulk=profile(**PORTAL_BULK),
        other_bulk=_profiles(OTHER_BULK, None),
        non_fee_profiles=_profiles(NON_FEE, None),
        outside_profiles=_profiles(OUTSIDE, None),
        orphans={kind: scaled(n, scatter_scale) for kind, n in ORPHANS.items()},
    )


# ---- Tây Ninh --------------------------------------------------------------------------------

TN_PERIOD: Final = (date(2023, 1, 1), date(2023, 11, 30))
# Finished dossiers with a NgayHenTra (whole province, scale 1) and the overdue rate, per month.
TN_MONTHS: Final[tuple[tuple[int, int, float], ...]] = (
    (6, 15_200, 0.2310),
    (7, 16_400, 0.2262),
    (8, 17_100, 0.2189),
    (9, 18_320, 0.2074),
    (10, 19_140, 0.1996),
    (11, 17_650, 0.1780),
)
TN_OPEN_SHARE: Final = 0.07
TN_NO_DUE_SHARE: Final = 0.03
TN_SCATTER_SCALE: Final = 0.3  # Tây Ninh's reasons: about a third of Đồng Tháp's counts
_LAND_BRANCH: Final = "Chi nhánh Văn phòng Đăng ký đất đai"
_LAND_OFFICE: Final = "Văn phòng Đăng ký đất đai"


def _tay_ninh_weight(agency: DossierAgency, cap: int) -> tuple[float, float, float]:
    """(volume, overdue propensity, portal-counted share) of an agency."""
    if agency.name.startswith(_LAND_BRANCH):
        return 5.0, 7.0, 0.10
    if agency.name.startswith(_LAND_OFFICE):
        return 8.0, 2.5, 0.12
    if cap == 2:
        return 2.0, 1.0, 0.22
    if cap == 3:
        return 0.4, 0.5, 0.18
    return 1.5, 0.6, 0.38


def tay_ninh_spec(
    name: str,
    seed: int,
    scale: float,
    agencies: list[DossierAgency],
    caps: dict[str, int],
) -> DossierSpec:
    """Overdue figures planned per month and agency, concentrated in the land-registry branches;
    Sep–Nov 2023 province-wide rates are exactly 20.74%, 19.96% and 17.8% at scale 1."""
    rng = random.Random(f"{name}:{seed}:quotas")
    weights = [_tay_ninh_weight(a, caps.get(a.code, 1)) for a in agencies]
    volume = [w[0] for w in weights]
    # finished[a][m], late[a][m]
    finished: list[list[int]] = [[] for _ in agencies]
    late: list[list[int]] = [[] for _ in agencies]
    for _, count, rate in TN_MONTHS:
        total, overdue = exact_rate(round(count * scale), rate)
        split = allocate(total, volume)
        late_split = _capped(
            overdue, [n * w[1] for n, w in zip(split, weights, strict=True)], split
        )
        for index in range(len(agencies)):
            finished[index].append(split[index])
            late[index].append(late_split[index])
    plans: list[tuple[list[int], list[int], int, int]] = []
    quotas: list[AgencyQuota] = []
    for index, _ in enumerate(agencies):
        done = sum(finished[index])
        open_count = round(done * TN_OPEN_SHARE)
        no_due = round(done * TN_NO_DUE_SHARE)
        total = done + open_count + no_due
        fee = round(total * 0.72)
        portal = round(fee * weights[index][2] * rng.uniform(0.8, 1.2))
        plans.append((finished[index], late[index], open_count, no_due))
        quotas.append(
            AgencyQuota(
                fee_bearing=fee,
                portal_counted=min(portal, fee),
                non_fee=total - fee,
                before=round(total * 0.01),
                after=round(total * 0.01),
            )
        )
    start, end = TN_PERIOD
    snapshot = (day_of(end) + 15) * DAY
    outside = {
        "before": days_between(date(2022, 12, 19), date(2022, 12, 31)),
        "after": days_between(end + timedelta(days=1), date(2023, 12, 12)),
    }

    def timing(index: int, region: str, count: int, trng: random.Random) -> list[Timing]:
        if region != "in":
            days, cumulative = outside[region]
            return random_timings(trng, count, days, cumulative, snapshot)
        result = _tay_ninh_timings(trng, *plans[index])
        trng.shuffle(result)
        return result

    return _spec(
        name, seed, scale, "H53", start, end, agencies, quotas, timing, scale * TN_SCATTER_SCALE
    )


def _capped(total: int, weights: Sequence[float], caps: Sequence[int]) -> list[int]:
    """``allocate`` with ``result[i] <= caps[i]``."""
    result = [min(n, c) for n, c in zip(allocate(total, weights), caps, strict=True)]
    missing = total - sum(result)
    order = sorted(range(len(caps)), key=lambda i: -weights[i])
    while missing > 0:
        moved = False
        for index in order:
            if missing and result[index] < caps[index]:
                result[index] += 1
                missing -= 1
                moved = True
        if not moved:
            raise ValueError("overdue dossiers exceed finished ones")
    return result


def _month_days(month: int) -> list[int]:
    first = date(2023, month, 1)
    following = date(2023 + (month == 12), month % 12 + 1, 1)
    return [
        day_of(first + timedelta(days=i))
        for i in range((following - first).days)
        if day_weight(first + timedelta(days=i)) >= 0.9
    ]


def _tay_ninh_timings(
    rng: random.Random, finished: list[int], late: list[int], open_count: int, no_due: int
) -> list[Timing]:
    result: list[Timing] = []
    for (month, _, _), done, overdue in zip(TN_MONTHS, finished, late, strict=True):
        days = _month_days(month)
        for position in range(done):
            finish_day = rng.choice(days)
            finish = _working_moment(rng, finish_day)
            if position < overdue:
                # Finished after NgayHenTra: due 17:00 some days before (or earlier that day).
                lag = rng.choice((0, 1, 1, 2, 3, 5, 8, 12))
                due = (finish_day - lag) * DAY + (17 * 3600 if lag else 7 * 3600)
                if due >= finish:
                    due = finish - 1800
                received_day = due // DAY - rng.randint(2, 20)
            else:
                slack = rng.choice((0, 0, 1, 2, 3, 5, 7, 10))
                due = (finish_day + slack) * DAY + 17 * 3600
                if position == overdue and slack == 0:
                    due = finish  # finished exactly when due: on time
                received_day = finish_day - rng.randint(1, 18)
            result.append((received_day, due, finish))
    start, last = day_of(date(2023, 6, 1)), day_of(date(2023, 11, 30))
    for _ in range(open_count):
        received_day = rng.randint(start, last)
        if rng.random() < 0.25:
            received_day = rng.randint(start, day_of(date(2023, 8, 31)))  # long stuck
        due = (received_day + rng.choice((3, 5, 7, 10, 15, 20, 30))) * DAY + 17 * 3600
        result.append((received_day, due, 0))
    months = [m for m, _, _ in TN_MONTHS]
    for _ in range(no_due):
        finish_day = rng.choice(_month_days(rng.choice(months)))
        result.append((finish_day - rng.randint(1, 5), 0, _working_moment(rng, finish_day)))
    return result


def build(spec: DossierSpec) -> DossierSet:
    return DossierSet(spec)


def tay_ninh_dossiers(
    name: str, seed: int, scale: float, agencies: Sequence[JsonDict], procedures: Sequence[JsonDict]
) -> DossierSet:
    """Tây Ninh's dossiers at ``scale``, on the agencies and procedures of its P catalogue."""
    chosen = dossier_agencies(agencies, procedures)
    caps = {str(a["MaDonVi"]).strip().upper(): int(a["CapDonVi"]) for a in agencies}
    spec = tay_ninh_spec(name, seed, scale, chosen, caps)
    spec.hierarchy = hierarchy(agencies)
    return DossierSet(spec)


def hierarchy(agencies: Sequence[JsonDict]) -> dict[str, str | None]:
    """MaDonVi → MaDonViCha (normalized) of every agency P lists."""
    return {
        str(a["MaDonVi"]).strip().upper(): (
            str(a["MaDonViCha"]).strip().upper() if a.get("MaDonViCha") else None
        )
        for a in agencies
    }
