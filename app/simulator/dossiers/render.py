"""Dossier rendering: ``DossierSet`` places the planned rows, renders each wire item on demand."""

from __future__ import annotations

import bisect
import random
import threading
from array import array
from collections.abc import Callable, Sequence
from functools import cached_property
from itertools import repeat
from typing import Protocol

from app.simulator.dossiers.plan import (
    _BINS,
    _CHANNEL_BY_ROLL,
    _CHANNELS,
    _N_STATUS_DIFF,
    _OPEN_STATUS,
    _VERIFIED_KINDS,
    AMOUNT_DIFF,
    BAD_CODE,
    FAILED,
    FEE,
    FEE_DIFF,
    METHOD_SHIFT,
    METHODS,
    NONE,
    PENDING,
    STATUS_DIFF,
    SYNCED,
    T_FAILED,
    T_FULL,
    T_LATE_ORPHAN,
    T_OLD_CODE,
    T_ORPHAN_BAD,
    T_ORPHAN_CODE,
    T_PENDING,
    T_SPLIT1,
    T_SPLIT2,
    T_STRAY,
    DossierSpec,
    FeeTemplate,
    JsonDict,
    allocate,
    by_reference,
    flag_of,
    has_transactions,
    mix,
    money,
    verified_of,
)
from app.simulator.dossiers.truth import (
    DossierTruth,
    build_truth,
)
from app.simulator.wire_time import (
    DAY,
    day_of,
    day_text,
    fmt_time,
)


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


class DossierSet:
    """The planned dossiers and transactions of one scenario, rendered on demand."""

    def __init__(self, spec: DossierSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.seed = spec.seed
        self.province_code = spec.province_code
        self.agencies = spec.agencies
        self._key = mix(spec.seed * 1_000_003 + 17)
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
        return mix(self._key ^ (row << 2))

    def _hn(self, row: int) -> int:
        return mix(self._key ^ ((row << 2) | 1))

    def procedure(self, row: int) -> tuple[FeeTemplate, bool]:
        """The dossier's procedure, and whether its fees are waived (Gia "0"): a dossier without
        fees is of a free procedure, or (one in four, or when there is none) of a waived one."""
        agency = self.agencies[self.agency[row]]
        h = mix(self._key ^ ((row << 2) | 2))
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
        yymmdd = day_text(self.received[row] // DAY)[2:]
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
        return f"TT{self.province_code}{day_text(self.received[row] // DAY)[2:]}{row:08d}"

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
        h = mix(self._key ^ (k * 0x100 + 0x55))
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
            "MaGiaoDich": f"GD{day_text(at // DAY)[2:]}{k:08d}",
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
        yymmdd = day_text(day)[2:]
        if kind == T_ORPHAN_BAD:
            code = f"HS-{yymmdd}-{k:06d}"
        else:
            code = f"{agency.code}-{yymmdd}-{9000 + k % 1000:04d}"
        state = "1"
        if kind == T_STRAY:
            state = "3" if h % 2 else "4"
        return {
            "MaGiaoDich": f"GD{day_text(at // DAY)[2:]}{k:08d}",
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
        return build_truth(self)


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
