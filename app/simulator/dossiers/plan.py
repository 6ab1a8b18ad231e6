"""Dossier plans: profile bits, reasons of a profile, and the inputs a builder is given.

Simulated dossiers: P's ``/v1/dossiers``, N's ``ho-so/dong-bo`` and ``thanh-toan/giao-dich``.

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
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Final

from app.simulator.wire_time import (
    DAY,
    day_of,
)

JsonDict = dict[str, Any]

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


def mix(value: int) -> int:
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
