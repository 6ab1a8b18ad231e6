"""Scenario ``tay-ninh-2023``: Tây Ninh (H53), every reason code, 543 fee-bearing tinh
procedures."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import Final

from app.simulator import geography as geo
from app.simulator.scenarios.plan import (
    AM,
    BEN,
    BM,
    FAILED,
    IA,
    INACTIVE,
    MPI,
    NO_FEE,
    NON,
    PENDING,
    TM,
    UB,
    Agency,
    ConfigPlan,
    Names,
    ProcedurePlan,
    Scenario,
    build_province,
)
from app.simulator.scenarios.render import Renderer

TINH_FEE_PROCEDURES: Final = 543
TINH_SYNCED_PROCEDURES: Final = 195

# How the 348 tinh procedures that are NOT synced fail (reasons of their failing configuration;
# NO_FEE marks a procedure without fee-bearing dossiers in the period).
TINH_NOT_SYNCED_PROFILES: Final[tuple[tuple[frozenset[str], int], ...]] = (
    (frozenset({MPI}), 67),
    (frozenset({NO_FEE}), 40),
    (frozenset({NON}), 45),
    (frozenset({AM}), 30),
    (frozenset({BEN}), 28),
    (frozenset({PENDING}), 18),
    (frozenset({FAILED}), 16),
    (frozenset({BM}), 14),
    (frozenset({TM}), 14),
    (frozenset({IA}), 12),
    (frozenset({INACTIVE}), 12),
    (frozenset({UB}), 10),
    (frozenset({MPI, NON}), 10),
    (frozenset({AM, BEN}), 6),
    (frozenset({MPI, NO_FEE}), 5),
    (frozenset({NON, NO_FEE}), 5),
    (frozenset({BM, TM}), 3),
    (frozenset({AM, FAILED}), 3),
    (frozenset({BEN, PENDING}), 3),
    (frozenset({IA, AM}), 2),
    (frozenset({UB, BM}), 2),
    (frozenset({INACTIVE, FAILED}), 2),
    (frozenset({IA, UB, NON}), 1),
)
_SECONDARY_REASONS: Final = (MPI, NON, AM, BEN, PENDING, FAILED, TM)
_XA_PROFILES: Final[tuple[tuple[frozenset[str], int], ...]] = (
    (frozenset({MPI}), 6),
    (frozenset({NON}), 4),
    (frozenset({BEN}), 3),
    (frozenset({AM}), 3),
    (frozenset({PENDING}), 2),
    (frozenset({FAILED}), 2),
    (frozenset({TM}), 2),
    (frozenset({INACTIVE}), 1),
    (frozenset({UB}), 1),
    (frozenset({IA}), 1),
    (frozenset({BM}), 1),
    (frozenset({MPI, NON}), 1),
)


def _weighted(rng: random.Random, profiles: Sequence[tuple[frozenset[str], int]]) -> frozenset[str]:
    return rng.choices([p for p, _ in profiles], weights=[w for _, w in profiles])[0]


def build_tay_ninh(name: str, seed: int, scale: int) -> Scenario:
    rng = random.Random(seed)
    province = build_province("H53", rng)
    names = Names(rng)
    renderer = Renderer(
        name=name,
        seed=seed,
        province="H53",
        period_start=date(2023, 1, 1),
        period_end=date(2023, 11, 30),
        rng=rng,
        agencies=province.all(),
    )
    land_office = province.land_office
    assert land_office is not None
    land_units = [land_office, *province.land_branches]
    dept_zz = [zz for zz, _, _ in geo.DEPARTMENTS]
    plans: list[ProcedurePlan] = []

    def single() -> tuple[str, list[Agency]]:
        if rng.random() < 0.12:
            return names.land(), [rng.choice(land_units)]
        zz = rng.choice(dept_zz)
        return names.department(zz), [province.departments[zz]]

    def several(count: int) -> tuple[str, list[Agency]]:
        if count > 2 or rng.random() < 0.75:
            return names.land(), [land_office, *rng.sample(province.land_branches, count - 1)]
        # Building permits are issued both by the department and by the economic-zone board.
        zz = rng.choice((7, 6))
        return names.department(zz), [province.departments[zz], province.departments[20]]

    def tinh(agency: Agency, reasons: frozenset[str] = frozenset()) -> ConfigPlan:
        return ConfigPlan(agency=agency, level="tinh", reasons=reasons)

    # Synced procedures: every fee-bearing configuration at tinh level is synced.
    for index in range(TINH_SYNCED_PROCEDURES):
        count = 3 if index < 5 else 2 if index < 25 else 1
        title, agencies = several(count) if count > 1 else single()
        configs = [tinh(agency) for agency in agencies]
        plans.append(ProcedurePlan(province.procedure_code(), title, configs))

    profiles = [p for p, n in TINH_NOT_SYNCED_PROFILES for _ in range(n)]
    rng.shuffle(profiles)
    partial_two = partial_three = no_fee_two = 0
    for profile in profiles:
        no_fee = NO_FEE in profile
        reasons = profile - {NO_FEE}
        if not no_fee and partial_two < 20:
            # One synced, one not: the procedure is not synced at this level.
            partial_two += 1
            title, agencies = several(2)
            configs = [tinh(agencies[0], reasons), tinh(agencies[1])]
        elif not no_fee and partial_three < 6:
            partial_three += 1
            title, agencies = several(3)
            second = frozenset({rng.choice(_SECONDARY_REASONS)})
            configs = [tinh(agencies[0], reasons), tinh(agencies[1], second), tinh(agencies[2])]
        elif no_fee and no_fee_two < 4:
            no_fee_two += 1
            title, agencies = several(2)
            configs = [tinh(agencies[0], reasons), tinh(agencies[1])]
        else:
            title, agencies = single()
            configs = [tinh(agencies[0], reasons)]
        style = ("absent", "zero_fee", "outside_period")[len(plans) % 3]
        plans.append(
            ProcedurePlan(
                province.procedure_code(),
                title,
                configs,
                fee_dossiers=not no_fee,
                no_fee_style=style,
            )
        )

    _plant_unknown_sync_states(plans, 3)
    tinh_plans = list(plans)

    # A few procedures where a second agency is configured without any fee: its N item is an
    # orphan even though the procedure itself is fee-bearing.
    for plan in rng.sample(tinh_plans, 6):
        used = {c.agency.code for c in plan.configs}
        spare = next(a for a in province.departments.values() if a.code not in used)
        plan.configs.append(ConfigPlan(agency=spare, level="tinh", fee_bearing=False))

    # Non-fee-bearing procedures at tinh level (about one in five on N, as orphans).
    for _ in range(460):
        title, agencies = single()
        config = ConfigPlan(
            agency=agencies[0], level="tinh", fee_bearing=False, on_national=rng.random() < 0.2
        )
        plans.append(ProcedurePlan(province.procedure_code(), title, [config]))

    # Commune level: the same procedure performed by many communes.
    for index in range(32 * scale):
        communes = rng.sample(province.communes, rng.randint(12, 28))
        title = names.pick(geo.COMMUNE_PROCEDURES)
        kind = ("all_synced", "mixed", "mixed", "no_fee", "mixed", "all_synced", "mixed")[index % 7]
        configs = []
        for commune in communes:
            planted = frozenset[str]()
            if kind == "mixed" and rng.random() < 0.35:
                planted = _weighted(rng, _XA_PROFILES)
            configs.append(ConfigPlan(agency=commune, level="xa", reasons=planted))
        if kind == "mixed" and not any(c.reasons for c in configs):
            configs[0] = ConfigPlan(agency=communes[0], level="xa", reasons=frozenset({MPI}))
        plans.append(
            ProcedurePlan(
                province.procedure_code(),
                title,
                configs,
                fee_dossiers=kind != "no_fee",
                no_fee_style="zero_fee",
            )
        )
    for _ in range(16 * scale):
        communes = rng.sample(province.communes, rng.randint(8, 16))
        configs = [
            ConfigPlan(agency=c, level="xa", fee_bearing=False, on_national=rng.random() < 0.1)
            for c in communes
        ]
        plans.append(
            ProcedurePlan(province.procedure_code(), names.pick(geo.COMMUNE_PROCEDURES), configs)
        )

    # District level, old data; two procedures were later moved up to tinh (shared MaTTHC).
    huyen_reasons: tuple[frozenset[str], ...] = (
        frozenset(),
        frozenset({MPI}),
        frozenset({NON}),
        frozenset({BEN}),
        frozenset({PENDING}),
        frozenset(),
        frozenset({AM}),
    )
    counter = 0
    for title in geo.DISTRICT_PROCEDURES[:4]:
        configs = []
        for district in rng.sample(province.districts, 3):
            configs.append(
                ConfigPlan(
                    agency=district,
                    level="huyen",
                    reasons=huyen_reasons[counter % len(huyen_reasons)],
                )
            )
            counter += 1
        plans.append(ProcedurePlan(province.procedure_code(), title, configs))
    synced_tinh = tinh_plans[30]
    no_fee_tinh = next(p for p in tinh_plans if not p.fee_dossiers)
    for plan in (synced_tinh, no_fee_tinh):
        for district in rng.sample(province.districts, 2):
            plan.configs.append(ConfigPlan(agency=district, level="huyen"))

    _plant_data_quality(tinh_plans, plans)
    for plan in plans:
        renderer.render(plan)

    # Orphans with no P configuration at all.
    for _ in range(12):
        zz = rng.choice(dept_zz)
        renderer.add_national_orphan(province.procedure_code(), province.departments[zz])
    for plan in rng.sample(tinh_plans[:195], 4):
        used = {c.agency.code for c in plan.configs}
        other = next(a for a in province.departments.values() if a.code not in used)
        renderer.add_national_orphan(plan.ma_tthc, other)
    # Statistics for procedures P does not know (deleted from the provincial catalogue).
    for _ in range(5):
        renderer.add_stat(province.procedure_code(), 2023, rng.randint(1, 11), 3, 1)
    return renderer.finish()


def _plant_unknown_sync_states(plans: list[ProcedurePlan], count: int) -> None:
    """Turn some sync_pending configurations into ones with a TrangThaiDongBo N does not list."""
    planted = 0
    for plan in plans:
        for index, config in enumerate(plan.configs):
            if planted < count and PENDING in config.reasons and len(config.reasons) == 1:
                plan.configs[index] = ConfigPlan(
                    agency=config.agency,
                    level=config.level,
                    reasons=config.reasons,
                    unknown_sync_state=("5", "3", "5")[planted],
                )
                planted += 1


def _plant_data_quality(tinh_plans: list[ProcedurePlan], plans: list[ProcedurePlan]) -> None:
    synced = [p for p in tinh_plans if p.fee_dossiers and not any(c.reasons for c in p.configs)]
    failing = [p for p in tinh_plans if any(c.reasons for c in p.configs)]
    synced[3].configs[0].extra_bad_gia = "100000.00"
    synced[7].configs[0].extra_bad_gia = ""
    synced[11].configs[0].bad_updated = "20231131083000"
    synced[15].configs[0].bad_national_updated = "2023-10-05 14:20:00"
    failing[5].configs[0].extra_bad_gia = "abc"
    failing[9].configs[0].bad_updated = "30/11/2023 08:30"
    # A configuration whose only fee is unreadable: counts as 0, so it is not fee-bearing.
    non_fee = next(p for p in plans if all(not c.fee_bearing for c in p.configs))
    non_fee.configs[0].only_bad_gia = "abc"
    non_fee.configs[0].on_national = True
