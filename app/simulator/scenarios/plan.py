"""Scenario plans: reason codes, the planned procedures and configurations, the agencies of a
province, and the ``Scenario`` a registry hands out.

A scenario is planned first — which procedures exist, which agencies perform them, and which
semantics §1 reasons each fee-bearing configuration must end up with — and only then rendered to
wire items. The rendering plants exactly the planned reasons (and formatting variants that must
NOT count as mismatches), so the truth is what was planned, never what a normalizer computes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from app.simulator import geography as geo
from app.simulator.truth import ScenarioTruth

if TYPE_CHECKING:
    from app.simulator.dossiers.render import DossierSet, DossierSource
    from app.simulator.dossiers.truth import DossierTruth


JsonDict = dict[str, Any]

MPI: Final = "missing_payment_info"
IA: Final = "invalid_account"
UB: Final = "unknown_bank"
NON: Final = "not_on_national"
INACTIVE: Final = "inactive_on_national"
AM: Final = "account_mismatch"
BM: Final = "bank_mismatch"
BEN: Final = "beneficiary_mismatch"
TM: Final = "treasury_mismatch"
PENDING: Final = "sync_pending"
FAILED: Final = "sync_failed"
NO_FEE: Final = "no_fee_dossier_synced"

P_PROCEDURES: Final = "provincial.procedures"
N_PAYMENT_INFO: Final = "national.thong-tin-thu-huong"

SKIPPED_BY_MPI: Final = frozenset({IA, UB, AM, BM, BEN, TM})
SKIPPED_BY_NON: Final = frozenset({INACTIVE, AM, BM, BEN, TM, PENDING, FAILED})
TREASURY_BINS: Final = ("970415", "970418", "970405", "970436")
BANK_BINS: Final = ("970415", "970418", "970405", "970436", "970403", "970422", "970406", "970407")


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    cap: int
    parent: str | None
    beneficiary: str
    account: str  # normalized digits
    treasury_account: bool  # a State Treasury account, shown dotted (3511.0.1104195)
    bank_bin: str
    revenue_account: str | None  # TaiKhoanThuNSNN digits; None → the unit collects no budget
    khobac: str


@dataclass
class ConfigPlan:
    agency: Agency
    level: str
    fee_bearing: bool = True
    reasons: frozenset[str] = frozenset()  # planted; the procedure-wide NO_FEE is added later
    on_national: bool = True  # non-fee configurations only: does N hold an (orphan) item?
    extra_bad_gia: str | None = None  # an invalid fee line next to a valid positive one
    only_bad_gia: str | None = None  # the only fee line is invalid → counts 0 → not fee-bearing
    bad_updated: str | None = None  # P NgayCapNhat that does not parse
    bad_national_updated: str | None = None
    unknown_sync_state: str | None = None  # TrangThaiDongBo value the contract does not list

    def __post_init__(self) -> None:
        if MPI in self.reasons and self.reasons & SKIPPED_BY_MPI:
            raise ValueError(f"{MPI} skips {sorted(self.reasons & SKIPPED_BY_MPI)}")
        if NON in self.reasons and self.reasons & SKIPPED_BY_NON:
            raise ValueError(f"{NON} skips {sorted(self.reasons & SKIPPED_BY_NON)}")
        if {PENDING, FAILED} <= self.reasons:
            raise ValueError("a sync state is either pending or failed")
        if NO_FEE in self.reasons:
            raise ValueError(f"{NO_FEE} is planned per procedure (ProcedurePlan.fee_dossiers)")
        if self.unknown_sync_state is not None and PENDING not in self.reasons:
            raise ValueError("an unknown TrangThaiDongBo makes the configuration sync_pending")
        if not self.fee_bearing and self.reasons:
            raise ValueError("reasons apply to fee-bearing configurations only")


@dataclass
class ProcedurePlan:
    ma_tthc: str
    name: str
    configs: list[ConfigPlan]
    fee_dossiers: bool = True  # ≥1 synced dossier with a non-zero fee inside the period
    no_fee_style: str = "absent"  # absent | zero_fee | outside_period (when not fee_dossiers)


@dataclass(frozen=True)
class MonthlyStat:
    """Dossiers of one procedure synced to N in one month (counted at the month's 15th, noon)."""

    ma_tthc: str  # as written on the wire
    year: int
    month: int
    synced: int
    with_fee: int
    paid_online: int

    @property
    def moment(self) -> str:
        return f"{self.year:04d}{self.month:02d}15120000"


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    province_code: str
    period_start: date
    period_end: date
    agencies: list[JsonDict]
    procedures: list[JsonDict]
    payment_infos: list[JsonDict]
    monthly_stats: list[MonthlyStat]
    truth: ScenarioTruth
    # Dossiers are planned lazily (first use), so procedure-only users never pay for them.
    dossier_source: DossierSource | None = field(default=None, compare=False, repr=False)

    @property
    def dossiers(self) -> DossierSet | None:
        """The scenario's dossiers and transactions (``None``: dossiers are not simulated)."""
        return self.dossier_source.get() if self.dossier_source is not None else None

    @property
    def dossier_truth(self) -> DossierTruth | None:
        dossiers = self.dossiers
        return dossiers.truth if dossiers is not None else None

    def procedure_stats(self, from_: str, to: str) -> list[JsonDict]:
        """N's ``thong-ke-tthc`` for a window given as ``yyyyMMddHHmmss`` bounds (inclusive)."""
        totals: dict[str, list[int]] = {}
        for stat in self.monthly_stats:
            if from_ <= stat.moment <= to:
                row = totals.setdefault(stat.ma_tthc, [0, 0, 0])
                row[0] += stat.synced
                row[1] += stat.with_fee
                row[2] += stat.paid_online
        return [
            {
                "MaTTHC": code,
                "SoHoSoDongBo": row[0],
                "SoHoSoCoPhi": row[1],
                "SoHoSoThanhToanTrucTuyen": row[2],
            }
            for code, row in sorted(totals.items(), key=lambda kv: kv[0].strip())
            if row[0] > 0
        ]

    def period_stats(self) -> list[JsonDict]:
        return self.procedure_stats(
            self.period_start.strftime("%Y%m%d") + "000000",
            self.period_end.strftime("%Y%m%d") + "235959",
        )


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    description: str
    province_code: str
    period_start: date
    period_end: date
    default_seed: int
    demo_scope: str = "procedures"  # what ``recon demo`` reconciles by default: its story


# --------------------------------------------------------------------------------------------
# Agencies and codes
# --------------------------------------------------------------------------------------------


@dataclass
class Province:
    code: str
    rng: random.Random
    departments: dict[int, Agency] = field(default_factory=dict)
    land_office: Agency | None = None
    land_branches: list[Agency] = field(default_factory=list)
    service_center: Agency | None = None
    districts: list[Agency] = field(default_factory=list)
    communes: list[Agency] = field(default_factory=list)
    _used_accounts: set[str] = field(default_factory=set)
    _used_codes: set[str] = field(default_factory=set)

    def all(self) -> list[Agency]:
        land = [self.land_office] if self.land_office else []
        center = [self.service_center] if self.service_center else []
        return [
            *self.departments.values(),
            *land,
            *self.land_branches,
            *center,
            *self.districts,
            *self.communes,
        ]

    def treasury_digits(self) -> str:
        while True:
            digits = f"35110{self.rng.randint(1000000, 1199999)}"
            if self.rng.random() < 0.15:
                digits += "00000"
            if digits not in self._used_accounts:
                self._used_accounts.add(digits)
                return digits

    def bank_digits(self) -> str:
        while True:
            prefix = self.rng.choice(("0", "1", "57", "6", "19"))
            length = self.rng.choice((10, 12, 13, 14))
            digits = prefix + "".join(
                str(self.rng.randint(0, 9)) for _ in range(length - len(prefix))
            )
            if digits not in self._used_accounts:
                self._used_accounts.add(digits)
                return digits

    def revenue_digits(self) -> str:
        return f"71110{self.rng.randint(1000000, 1099999)}"

    def procedure_code(self) -> str:
        while True:
            code = f"{self.rng.choice('1112')}.{self.rng.randint(0, 12999):06d}"
            if code not in self._used_codes:
                self._used_codes.add(code)
                return code


def build_province(code: str, rng: random.Random) -> Province:
    province = Province(code=code, rng=rng)
    khobac = "Kho bạc Nhà nước Tây Ninh"
    for zz, name, _ in geo.DEPARTMENTS:
        beneficiary = name if "Tây Ninh" in name else f"{name} tỉnh Tây Ninh"
        province.departments[zz] = Agency(
            code=f"000.00.{zz:02d}.{code}",
            name=name,
            cap=1,
            parent=None,
            beneficiary=beneficiary,
            account=province.treasury_digits(),
            treasury_account=True,
            bank_bin=rng.choice(TREASURY_BINS),
            revenue_account=province.revenue_digits(),
            khobac=khobac,
        )
    tnmt = province.departments[15]
    province.land_office = Agency(
        code=f"000.01.15.{code}",
        name=geo.LAND_OFFICE_NAME,
        cap=1,
        parent=tnmt.code,
        beneficiary=geo.LAND_OFFICE_NAME,
        account=province.bank_digits(),
        treasury_account=False,
        bank_bin="970403",
        revenue_account=None,
        khobac=khobac,
    )
    province.service_center = Agency(
        code=f"000.00.02.{code}",
        name="Trung tâm Phục vụ hành chính công tỉnh Tây Ninh",
        cap=1,
        parent=None,
        beneficiary="Trung tâm Phục vụ hành chính công tỉnh Tây Ninh",
        account=province.bank_digits(),
        treasury_account=False,
        bank_bin="970422",
        revenue_account=province.revenue_digits(),
        khobac=khobac,
    )
    for index, (zz, district, communes) in enumerate(geo.DISTRICTS, start=1):
        place = district.removeprefix("huyện ").removeprefix("thị xã ").removeprefix("thành phố ")
        district_khobac = f"Kho bạc Nhà nước {place}"
        branch_name = f"Chi nhánh Văn phòng Đăng ký đất đai {district}"
        province.land_branches.append(
            Agency(
                code=f"{index:03d}.01.15.{code}",
                name=branch_name,
                cap=1,
                parent=province.land_office.code,
                beneficiary=branch_name,
                account=province.bank_digits(),
                treasury_account=False,
                bank_bin=rng.choice(BANK_BINS),
                revenue_account=None,
                khobac=district_khobac,
            )
        )
        district_agency = Agency(
            code=f"000.00.{zz:02d}.{code}",
            name=f"UBND {district}",
            cap=2,
            parent=None,
            beneficiary=f"Ủy ban nhân dân {district}",
            account=province.treasury_digits(),
            treasury_account=True,
            bank_bin=rng.choice(TREASURY_BINS),
            revenue_account=province.revenue_digits(),
            khobac=district_khobac,
        )
        province.districts.append(district_agency)
        for yy, commune in enumerate(communes, start=1):
            province.communes.append(
                Agency(
                    code=f"000.{yy:02d}.{zz:02d}.{code}",
                    name=f"UBND {commune}",
                    cap=3,
                    parent=district_agency.code,
                    beneficiary=f"Ủy ban nhân dân {commune}",
                    account=province.treasury_digits(),
                    treasury_account=True,
                    bank_bin=rng.choice(TREASURY_BINS),
                    revenue_account=(province.revenue_digits() if rng.random() < 0.8 else None),
                    khobac=district_khobac,
                )
            )
    return province


class Names:
    """Procedure names that read like the national catalogue and do not repeat."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def department(self, zz: int) -> str:
        objects = next(objs for code, _, objs in geo.DEPARTMENTS if code == zz)
        return self._unique(lambda: f"{self._rng.choice(geo.ACTIONS)} {self._rng.choice(objects)}")

    def land(self) -> str:
        return self._unique(
            lambda: f"{self._rng.choice(geo.ACTIONS[:5])} {self._rng.choice(geo.LAND_OBJECTS)}"
        )

    def pick(self, pool: Sequence[str]) -> str:
        return self._unique(lambda: self._rng.choice(pool))

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(20):
            name = make()
            if name not in self._used:
                self._used.add(name)
                return name
        name = make()
        suffix = 2
        while f"{name} (trường hợp {suffix})" in self._used:
            suffix += 1
        name = f"{name} (trường hợp {suffix})"
        self._used.add(name)
        return name
