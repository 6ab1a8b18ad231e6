"""Incremental polling of procedures with respx playing P and N: what P is asked for
(``updatedSince``), and how its answer merges with the stored side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlmodel import col, select

from app.domain.values import format_local_time, parse_local_time
from app.models import Finding, FindingStatus, ProcedureSnapshot
from tests.conftest import make_settings
from tests.upstream_pages import TOKEN, envelope, spring

P = "http://provincial.test/api"
N = "http://national.test/gateway"
AGENCY = "000.00.15.H53"
PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}
OLD = "20230101080000"  # NgayCapNhat of everything before the test changes it
ACCOUNT = "3511.0.1104195"


def p_item(code: str, account: str = ACCOUNT, gia: str = "100000") -> dict[str, Any]:
    return {
        "MaTTHC": code,
        "MaDVC": f"{code}.000.00.00.H53",
        "TenTTHC": f"Thủ tục {code}",
        "MaDonVi": AGENCY,
        "CapThucHien": "tinh",
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "Gia": gia}],
        "ThongTinThuHuong": {
            "TKThuHuong": account,
            "MaNHThuHuong": "970415",
            "TenTKThuHuong": "Văn phòng Đăng ký đất đai tỉnh Tây Ninh",
            "KhoBac": "",
            "TaiKhoanThuNSNN": "",
        },
        "NgayCapNhat": OLD,
    }


def n_item(code: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "MaTTHC": code,
        "MaDonVi": AGENCY,
        "TKThuHuong": account,
        "MaNHThuHuong": "970415",
        "TenTKThuHuong": "Văn phòng Đăng ký đất đai tỉnh Tây Ninh",
        "KhoBac": "",
        "TaiKhoanThuNSNN": "",
        "TrangThai": "1",
        "TrangThaiDongBo": "1",
        "LoiDongBo": "",
        "NgayDongBo": OLD,
        "NgayCapNhat": OLD,
    }


def stat(code: str) -> dict[str, Any]:
    return {"MaTTHC": code, "SoHoSoDongBo": 5, "SoHoSoCoPhi": 5, "SoHoSoThanhToanTrucTuyen": 1}


def touched(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The item as P serves it after someone edited it now."""
    return {**item, **changes, "NgayCapNhat": format_local_time(datetime.now().astimezone())}


class World:
    """P's and N's items; the ``updatedSince`` of every request P received."""

    def __init__(self) -> None:
        # A: synced; B: account mismatch (a finding); C: on P only (not_on_national).
        self.p = [p_item("1.000001"), p_item("1.000002", "111111111"), p_item("1.000003")]
        self.n = [n_item("1.000001"), n_item("1.000002", "222222222")]
        self.stats = [stat("1.000001"), stat("1.000002"), stat("1.000003")]
        self.asked_since: list[str | None] = []


@pytest.fixture
def world() -> Iterator[World]:
    state = World()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        for token_url in ("http://provincial.test/oauth/token", "http://national.test/oauth/token"):
            router.post(token_url).mock(return_value=httpx.Response(200, json=TOKEN))
        agency = {"MaDonVi": AGENCY, "TenDonVi": "Sở Tài nguyên và Môi trường", "CapDonVi": 1}
        router.get(f"{P}/v1/agencies").mock(return_value=httpx.Response(200, json=spring([agency])))

        def procedures(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("page") != "0":
                return httpx.Response(200, json=spring([]))
            since = request.url.params.get("updatedSince")
            state.asked_since.append(since)
            items = [i for i in state.p if since is None or i["NgayCapNhat"] >= since]
            return httpx.Response(200, json=spring(items))

        def national(items: Any) -> Any:
            def respond(request: httpx.Request) -> httpx.Response:
                first = request.url.params.get("pageIndex") == "1"
                return httpx.Response(200, json=envelope(items() if first else []))

            return respond

        router.get(f"{P}/v1/procedures").mock(side_effect=procedures)
        router.get(f"{N}/api/v1/thanh-toan/thong-tin-thu-huong").mock(
            side_effect=national(lambda: state.n)
        )
        router.get(f"{N}/api/v1/ho-so/thong-ke-tthc").mock(
            side_effect=national(lambda: state.stats)
        )
        yield state


async def open_findings(service: Any) -> dict[tuple[str, str], Finding]:
    async with service.app.state.session_factory() as session:
        rows = await session.exec(select(Finding).where(col(Finding.status) == FindingStatus.OPEN))
        return {(f.subject_key.split("|")[0], f.reason): f for f in rows.all()}


async def snapshot_rows(service: Any) -> dict[str, ProcedureSnapshot]:
    async with service.app.state.session_factory() as session:
        rows = await session.exec(select(ProcedureSnapshot))
        return {row.procedure_code: row for row in rows.all()}


async def test_p_is_asked_only_for_what_changed_since_the_last_complete_run(
    world: World, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(
        make_settings(sqlite_url, procedure_updated_since_overlap_s=120)
    )
    first = await service.reconcile(**PERIOD)
    assert first["status"] == "succeeded", first["errors"]
    second = await service.reconcile(**PERIOD)
    assert second["status"] == "succeeded", second["errors"]

    assert world.asked_since[0] is None  # the first run reads all of P
    since = parse_local_time(world.asked_since[1])
    assert since is not None
    expected = datetime.fromisoformat(first["started_at"]) - timedelta(seconds=120)
    # P's parameter has whole seconds, in local time.
    assert expected - timedelta(seconds=1) < since <= expected
    assert second["counts"]["mode"] == "incremental"
    assert second["counts"]["updated_since"] == expected.isoformat()


async def test_a_changed_item_is_judged_again_and_an_unchanged_one_is_not(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    findings_before = await open_findings(service)
    rows_before = await snapshot_rows(service)
    assert set(findings_before) == {
        ("1.000002", "account_mismatch"),
        ("1.000003", "not_on_national"),
    }

    # P fixes B's account; a new fee-bearing D appears, unknown to N.
    fixed = {**world.p[1]["ThongTinThuHuong"], "TKThuHuong": "222222222"}
    world.p[1] = touched(world.p[1], ThongTinThuHuong=fixed)
    world.p.append(touched(p_item("1.000004")))
    world.stats.append(stat("1.000004"))

    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]
    assert run["counts"]["mode"] == "incremental"
    assert run["listings"]["provincial.procedures"]["read"] == 2
    assert run["listings"]["provincial.procedures"]["distinct"] == 4
    assert run["counts"]["keys"] == {"judged": 2, "unchanged": 2, "removed": 0}
    assert run["counts"]["findings"] == {"opened": 1, "updated": 0, "resolved": 1, "unchanged": 1}
    assert run["counts"]["fee_bearing_configurations"] == 4

    findings_after = await open_findings(service)
    assert set(findings_after) == {("1.000003", "not_on_national"), ("1.000004", "not_on_national")}
    # C was not judged again: neither its finding nor its row was written.
    unchanged = findings_before[("1.000003", "not_on_national")]
    assert findings_after[("1.000003", "not_on_national")].updated_at == unchanged.updated_at
    rows_after = await snapshot_rows(service)
    for code in ("1.000001", "1.000003"):
        assert rows_after[code].run_id == rows_before[code].run_id
        assert rows_after[code].updated_at == rows_before[code].updated_at
    assert rows_after["1.000002"].run_id == run["run_id"]
    assert rows_after["1.000002"].synced is True
    assert rows_after["1.000004"].kind == "configuration"


async def test_a_change_on_n_alone_is_judged_from_ps_stored_item(
    world: World, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(sqlite_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    world.n[0] = {**world.n[0], "TrangThaiDongBo": "2", "LoiDongBo": "Sai tài khoản"}

    run = await service.reconcile(**PERIOD)
    assert run["counts"]["mode"] == "incremental"
    assert run["listings"]["provincial.procedures"]["read"] == 0
    assert run["counts"]["keys"]["judged"] == 1
    findings = await open_findings(service)
    assert ("1.000001", "sync_failed") in findings
    row = (await snapshot_rows(service))["1.000001"]
    assert row.provincial is not None
    assert row.provincial["payment_info"]["account"] == ACCOUNT  # P's side, from the store


async def test_a_deletion_is_seen_by_the_full_recheck_only(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    del world.p[2]  # C, on P only, with an open not_on_national finding

    incremental = await service.reconcile(**PERIOD)
    assert incremental["counts"]["mode"] == "incremental"
    assert incremental["counts"]["findings"]["resolved"] == 0
    assert ("1.000003", "not_on_national") in await open_findings(service)

    full = await service.reconcile(full=True, **PERIOD)
    assert full["status"] == "succeeded", full["errors"]
    assert full["full"] is True
    assert world.asked_since[-1] is None
    assert full["counts"]["mode"] == "full"
    assert full["counts"]["keys"]["removed"] == 1
    assert full["counts"]["findings"]["resolved"] == 1
    assert ("1.000003", "not_on_national") not in await open_findings(service)
    assert "1.000003" not in await snapshot_rows(service)
    # Never rewritten while open, the finding still records both runs that saw it.
    async with service.app.state.session_factory() as session:
        resolved = (
            await session.exec(select(Finding).where(col(Finding.status) == "resolved"))
        ).one()
    assert resolved.seen_count == 2
    assert resolved.last_run_id == incremental["run_id"]
    assert resolved.last_seen_at.isoformat() == incremental["finished_at"]


async def test_full_is_part_of_what_makes_requests_identical(
    world: World, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(sqlite_url))
    first = await service.post("/reconcile", json={"full": True, **PERIOD})
    joined = await service.post("/reconcile", json={"full": True, **PERIOD})
    other = await service.post("/reconcile", json=PERIOD)
    assert first.status_code == joined.status_code == 202
    assert joined.json()["coalesced"] is True
    assert joined.json()["run_id"] == first.json()["run_id"]
    assert other.status_code == 409
    await service.app.state.executor.wait(first.json()["run_id"])
