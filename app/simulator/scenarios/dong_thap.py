"""Đồng Tháp (H29), 1 January – 23 October 2023: the online-payment figures of the seed letters.

Province-level departments, the Land Registration Office with a branch per district, and the 12
district-level units (3 cities, 9 districts; names before the July 2025 merger) with some of their
communes as child agencies. Semantics §4: 43,109 of 256,939 fee-bearing dossiers portal-counted
online (16.78%); Hồng Ngự city 62.59%, Cao Lãnh city 36.02% and Tam Nông 35.29% meet the 30%
target, the other nine districts do not.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Final

from app.simulator import geography as geo
from app.simulator.dossiers import provinces as plans
from app.simulator.dossiers.render import DossierSet
from app.simulator.scenarios.plan import (
    AM,
    BEN,
    FAILED,
    MPI,
    NON,
    PENDING,
    Agency,
    ConfigPlan,
    Names,
    ProcedurePlan,
    Province,
    Scenario,
)
from app.simulator.scenarios.render import Renderer

PROVINCE: Final = "H29"
PROVINCE_NAME: Final = "Đồng Tháp"
PERIOD: Final = (date(2023, 1, 1), date(2023, 10, 23))

# (zz, name, fee-bearing dossiers at scale 1, portal-counted rate, communes)
DISTRICTS: Final[tuple[tuple[int, str, int, float, tuple[str, ...]], ...]] = (
    (
        31,
        "thành phố Cao Lãnh",
        11_906,
        0.3602,
        ("phường 1", "phường 2", "phường 4", "phường Mỹ Phú", "phường Hòa Thuận", "xã Mỹ Tân"),
    ),
    (
        32,
        "thành phố Sa Đéc",
        9_145,
        0.2483,
        ("phường 1", "phường 2", "phường An Hòa", "phường Tân Quy Đông", "xã Tân Khánh Đông"),
    ),
    (
        33,
        "thành phố Hồng Ngự",
        7_412,
        0.6259,
        ("phường An Thạnh", "phường An Lộc", "phường An Lạc", "xã Tân Hội", "xã Bình Thạnh"),
    ),
    (
        34,
        "huyện Tân Hồng",
        6_041,
        0.1352,
        ("thị trấn Sa Rài", "xã Tân Hộ Cơ", "xã Thông Bình", "xã Bình Phú", "xã An Phước"),
    ),
    (
        35,
        "huyện Hồng Ngự",
        7_308,
        0.2138,
        ("thị trấn Thường Thới Tiền", "xã Thường Phước 1", "xã Long Khánh A", "xã Phú Thuận A"),
    ),
    (
        36,
        "huyện Tam Nông",
        6_233,
        0.3529,
        ("thị trấn Tràm Chim", "xã Phú Cường", "xã Tân Công Sính", "xã An Long", "xã Phú Ninh"),
    ),
    (
        37,
        "huyện Thanh Bình",
        8_956,
        0.0711,
        ("thị trấn Thanh Bình", "xã Tân Thạnh", "xã Tân Mỹ", "xã Bình Thành", "xã An Phong"),
    ),
    (
        38,
        "huyện Tháp Mười",
        10_032,
        0.0599,
        ("thị trấn Mỹ An", "xã Mỹ Hòa", "xã Trường Xuân", "xã Thạnh Lợi", "xã Láng Biển"),
    ),
    (
        39,
        "huyện Cao Lãnh",
        10_877,
        0.1058,
        ("thị trấn Mỹ Thọ", "xã Mỹ Hiệp", "xã Bình Hàng Trung", "xã Ba Sao", "xã Phương Trà"),
    ),
    (
        40,
        "huyện Lấp Vò",
        10_214,
        0.0745,
        ("thị trấn Lấp Vò", "xã Mỹ An Hưng A", "xã Tân Mỹ", "xã Bình Thạnh Trung", "xã Vĩnh Thạnh"),
    ),
    (
        41,
        "huyện Lai Vung",
        9_687,
        0.0746,
        ("thị trấn Lai Vung", "xã Tân Thành", "xã Long Hậu", "xã Hòa Long", "xã Tân Dương"),
    ),
    (
        42,
        "huyện Châu Thành",
        9_518,
        0.2051,
        ("thị trấn Cái Tàu Hạ", "xã An Nhơn", "xã An Hiệp", "xã Tân Nhuận Đông", "xã Phú Hựu"),
    ),
)
# Department zz → (share of the province-level dossiers, relative online propensity).
_DEPARTMENT_WEIGHTS: Final[dict[int, tuple[float, float]]] = {
    5: (5.0, 2.0),  # Tư pháp: criminal records, mostly online
    6: (6.0, 2.2),  # Kế hoạch và Đầu tư: business registration
    7: (3.0, 1.0),
    8: (8.0, 1.4),  # Giao thông vận tải: driving licences
    9: (2.0, 1.0),
    11: (3.0, 1.0),
}
_LAND_OFFICE_WEIGHT: Final = (10.0, 0.6)
_LAND_BRANCH_WEIGHT: Final = (3.5, 0.6)
_OTHER_WEIGHT: Final = (1.0, 1.0)
_KHOBAC: Final = "Kho bạc Nhà nước Đồng Tháp"
_TREASURY_BINS: Final = ("970415", "970418", "970405", "970436")
_BANK_BINS: Final = ("970415", "970418", "970405", "970436", "970403", "970422", "970407")


def _province(rng: random.Random) -> Province:
    province = Province(code=PROVINCE, rng=rng)

    def treasury_unit(code: str, name: str, beneficiary: str, cap: int, parent: str | None,
                      khobac: str, revenue: bool = True) -> Agency:  # fmt: skip
        return Agency(
            code=code,
            name=name,
            cap=cap,
            parent=parent,
            beneficiary=beneficiary,
            account=province.treasury_digits(),
            treasury_account=True,
            bank_bin=rng.choice(_TREASURY_BINS),
            revenue_account=province.revenue_digits() if revenue else None,
            khobac=khobac,
        )

    for zz, name, _ in geo.DEPARTMENTS:
        if zz == 20:
            name = "Ban Quản lý các khu công nghiệp tỉnh Đồng Tháp"
        beneficiary = name if PROVINCE_NAME in name else f"{name} tỉnh {PROVINCE_NAME}"
        province.departments[zz] = treasury_unit(
            f"000.00.{zz:02d}.{PROVINCE}", name, beneficiary, 1, None, _KHOBAC
        )
    land_name = f"Văn phòng Đăng ký đất đai tỉnh {PROVINCE_NAME}"
    province.land_office = Agency(
        code=f"000.01.15.{PROVINCE}",
        name=land_name,
        cap=1,
        parent=province.departments[15].code,
        beneficiary=land_name,
        account=province.bank_digits(),
        treasury_account=False,
        bank_bin="970403",
        revenue_account=None,
        khobac=_KHOBAC,
    )
    for index, (zz, district, _, _, communes) in enumerate(DISTRICTS, start=1):
        place = district.removeprefix("huyện ").removeprefix("thành phố ")
        khobac = f"Kho bạc Nhà nước {place}"
        branch = f"Chi nhánh Văn phòng Đăng ký đất đai {district}"
        province.land_branches.append(
            Agency(
                code=f"{index:03d}.01.15.{PROVINCE}",
                name=branch,
                cap=1,
                parent=province.land_office.code,
                beneficiary=branch,
                account=province.bank_digits(),
                treasury_account=False,
                bank_bin=rng.choice(_BANK_BINS),
                revenue_account=None,
                khobac=khobac,
            )
        )
        unit = treasury_unit(
            f"000.00.{zz:02d}.{PROVINCE}",
            f"UBND {district}",
            f"Ủy ban nhân dân {district}",
            2,
            None,
            khobac,
        )
        province.districts.append(unit)
        for yy, commune in enumerate(communes, start=1):
            province.communes.append(
                treasury_unit(
                    f"000.{yy:02d}.{zz:02d}.{PROVINCE}",
                    f"UBND {commune}",
                    f"Ủy ban nhân dân {commune}",
                    3,
                    unit.code,
                    khobac,
                    revenue=rng.random() < 0.8,
                )
            )
    return province


def build_dong_thap(name: str, seed: int, scale: int) -> Scenario:
    """The procedure side of the scenario (configurations, N's payment information, statistics);
    dossiers are attached by ``attach_dossiers``. ``scale`` multiplies commune procedures."""
    rng = random.Random(seed)
    province = _province(rng)
    names = Names(rng)
    renderer = Renderer(
        name=name,
        seed=seed,
        province=PROVINCE,
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        rng=rng,
        agencies=province.all(),
    )
    planted = (MPI, NON, AM, BEN, PENDING, FAILED)
    counter = 0

    def config(agency: Agency, level: str, fee_bearing: bool = True) -> ConfigPlan:
        nonlocal counter
        reasons: frozenset[str] = frozenset()
        if fee_bearing:
            counter += 1
            if counter % 17 == 0:
                reasons = frozenset({planted[(counter // 17) % len(planted)]})
        return ConfigPlan(agency=agency, level=level, fee_bearing=fee_bearing, reasons=reasons)

    plans_: list[ProcedurePlan] = []
    for zz, department in province.departments.items():
        for index in range(10):
            fee_bearing = index < 8
            plans_.append(
                ProcedurePlan(
                    province.procedure_code(),
                    names.department(zz),
                    [config(department, "tinh", fee_bearing)],
                )
            )
    land = province.land_office
    assert land is not None
    for index in range(12):
        fee_bearing = index < 10
        configs = [config(unit, "tinh", fee_bearing) for unit in (land, *province.land_branches)]
        plans_.append(ProcedurePlan(province.procedure_code(), names.land(), configs))
    for title in geo.DISTRICT_PROCEDURES:
        configs = [config(unit, "huyen") for unit in province.districts]
        plans_.append(ProcedurePlan(province.procedure_code(), title, configs))
    for index in range(16 * scale):
        fee_bearing = index % 16 < 10
        configs = [config(unit, "xa", fee_bearing) for unit in province.communes]
        plans_.append(
            ProcedurePlan(province.procedure_code(), names.pick(geo.COMMUNE_PROCEDURES), configs)
        )
    for plan in plans_:
        renderer.render(plan)
    return renderer.finish(extra_agencies=province.all())


def attach_dossiers(scenario: Scenario, scale: float) -> DossierSet:
    """Đồng Tháp's dossiers at ``scale`` (1: the letters' exact figures)."""
    agencies = plans.dossier_agencies(scenario.agencies, scenario.procedures)
    districts = {f"000.00.{zz:02d}.{PROVINCE}": (n, rate) for zz, _, n, rate, _ in DISTRICTS}
    weights: dict[str, tuple[float, float]] = {}
    for agency in agencies:
        if agency.code in districts or agency.parent in districts:
            continue
        zz = int(agency.code.split(".")[2])
        if agency.name.startswith("Chi nhánh"):
            weights[agency.code] = _LAND_BRANCH_WEIGHT
        elif agency.name.startswith("Văn phòng Đăng ký"):
            weights[agency.code] = _LAND_OFFICE_WEIGHT
        else:
            weights[agency.code] = _DEPARTMENT_WEIGHTS.get(zz, _OTHER_WEIGHT)
    spec = plans.dong_thap_spec(scenario.name, scenario.seed, scale, agencies, districts, weights)
    spec.hierarchy = plans.hierarchy(scenario.agencies)
    return DossierSet(spec)


def district_codes() -> dict[str, str]:
    """District-level unit code → name, e.g. ``000.00.33.H29`` → "thành phố Hồng Ngự"."""
    return {f"000.00.{zz:02d}.{PROVINCE}": name for zz, name, _, _, _ in DISTRICTS}


__all__ = ["DISTRICTS", "PROVINCE", "attach_dossiers", "build_dong_thap", "district_codes"]
