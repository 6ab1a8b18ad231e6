"""Scenario ``small``: about twenty configurations, every reason at least once, for fast tests."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from app.simulator.scenarios.plan import (
    AM,
    BEN,
    BM,
    FAILED,
    IA,
    INACTIVE,
    MPI,
    NON,
    PENDING,
    TM,
    UB,
    Agency,
    ConfigPlan,
    ProcedurePlan,
    Scenario,
    build_province,
)
from app.simulator.scenarios.render import Renderer


def build_small(name: str, seed: int, scale: int) -> Scenario:
    rng = random.Random(seed)
    province = build_province("H53", rng)
    renderer = Renderer(
        name=name,
        seed=seed,
        province="H53",
        period_start=date(2023, 1, 1),
        period_end=date(2023, 11, 30),
        rng=rng,
        agencies=province.all(),
    )
    assert province.land_office is not None
    land = province.land_office
    branch = province.land_branches[6]  # Châu Thành
    d = province.departments
    c1, c2, c3 = province.communes[20], province.communes[21], province.communes[22]

    def cfg(agency: Agency, *reasons: str, level: str = "tinh", **extra: Any) -> ConfigPlan:
        return ConfigPlan(agency=agency, level=level, reasons=frozenset(reasons), **extra)

    codes = iter(
        [
            "1.004227", "1.004221", "1.001990", "2.000889", "1.009994", "1.010092", "2.001824",
            "1.003009", "1.004873", "1.005451", "2.000305", "1.008901", "1.002279", "1.001612",
            "1.003514", "2.000528", "2.000635", "1.000894", "1.004082",
        ]
    )  # fmt: skip
    plans = [
        ProcedurePlan(
            next(codes),
            "Đăng ký biến động quyền sử dụng đất",
            [cfg(land, extra_bad_gia="100000.00"), cfg(branch)],
        ),
        ProcedurePlan(next(codes), "Đăng ký thế chấp quyền sử dụng đất", [cfg(land)]),
        ProcedurePlan(next(codes), "Cấp phiếu lý lịch tư pháp", [cfg(d[5], MPI)]),
        ProcedurePlan(next(codes), "Cấp giấy phép xây dựng", [cfg(d[7], IA, AM)]),
        ProcedurePlan(next(codes), "Cấp giấy phép lái xe", [cfg(d[8], UB)]),
        ProcedurePlan(next(codes), "Cấp chứng chỉ hành nghề dược", [cfg(d[11], NON)]),
        ProcedurePlan(next(codes), "Cấp giấy phép hoạt động in", [cfg(d[16], INACTIVE, FAILED)]),
        ProcedurePlan(
            next(codes), "Cấp giấy phép kinh doanh karaoke", [cfg(d[14], BM, TM)]
        ),
        ProcedurePlan(
            next(codes),
            "Cung cấp thông tin, dữ liệu đất đai",
            [cfg(land), cfg(province.land_branches[1], BEN)],
        ),
        ProcedurePlan(
            next(codes),
            "Cấp giấy phép môi trường",
            [cfg(d[15], PENDING, unknown_sync_state="5")],
        ),
        ProcedurePlan(
            next(codes), "Cấp giấy phép lao động", [cfg(d[13])], fee_dossiers=False,
            no_fee_style="outside_period",
        ),
        ProcedurePlan(next(codes), "Cấp giấy chứng nhận đăng ký đầu tư", [cfg(d[6], FAILED)]),
        ProcedurePlan(next(codes), "Cấp thẻ hướng dẫn viên du lịch", [cfg(d[14], AM)]),
        ProcedurePlan(next(codes), "Cấp giấy phép hoạt động điện lực", [cfg(d[9], PENDING)]),
        ProcedurePlan(
            next(codes),
            "Thủ tục không thu phí",
            [ConfigPlan(agency=d[12], level="tinh", fee_bearing=False)],
        ),
        ProcedurePlan(
            next(codes),
            "Chứng thực bản sao từ bản chính",
            [cfg(c1, level="xa"), cfg(c2, MPI, level="xa"), cfg(c3, BEN, level="xa")],
        ),
        ProcedurePlan(
            next(codes),
            "Đăng ký kết hôn",
            [cfg(c1, level="xa"), cfg(c2, level="xa")],
            fee_dossiers=False,
            no_fee_style="zero_fee",
        ),
        ProcedurePlan(
            next(codes), "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
            [cfg(province.districts[3], NON, level="huyen")],
        ),
    ]  # fmt: skip
    plans[7].configs[0].bad_updated = "20231345000000"
    for plan in plans:
        renderer.render(plan)
    renderer.add_national_orphan(next(codes), d[17])
    return renderer.finish()
