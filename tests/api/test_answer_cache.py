"""The replica's answer cache: served from memory only while the runs it was computed from are
still the latest, on this replica and on another one sharing the database; bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import respx

from app.models import Run
from app.read.answer_cache import AnswerCache, to_json
from tests.conftest import ServiceClient, make_settings
from tests.upstream_pages import TOKEN, envelope, spring

P = "http://provincial.test/api"
N = "http://national.test/gateway"
AGENCY = "000.00.15.H53"
PERIOD = {"scope": "dossiers", "period_from": "2023-09-01", "period_to": "2023-09-30"}
FIGURES = {"from": "2023-09-01", "to": "2023-09-30", "group": "agency"}
CHANGE_DEADLINE_S = 5.0


def code(n: int) -> str:
    return f"{AGENCY}-230905-{n:04d}"


def p_item(n: int) -> dict[str, Any]:
    return {
        "MaHoSo": code(n),
        "MaTTHC": "1.004227",
        "MaDonVi": AGENCY,
        "KenhThucHien": 2,
        "NgayTiepNhan": "20230905080000",
        "NgayHenTra": "20230915170000",
        "NgayKetThucXuLy": None,
        "TrangThaiHoSo": 4,
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "Gia": "100000"}],
        "ThanhToan": {
            "HinhThuc": "DVCQG",
            "SoTien": "100000",
            "MaThamChieu": f"R{n}",
            "NgayThanhToan": "",
        },
        "DaDongBo": True,
        "NgayCapNhat": "20230905090000",
    }


def n_item(n: int) -> dict[str, Any]:
    return {
        "MaHoSo": code(n),
        "TrangThaiHoSo": "4",
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "Gia": "100000"}],
        "DuocThanhToanTrucTuyen": "1",
        "NgayDongBo": "20230905100000",
    }


def tx(n: int) -> dict[str, Any]:
    return {
        "MaGiaoDich": f"GD{n}",
        "MaThamChieu": f"R{n}",
        "MaHoSo": code(n),
        "MaDonVi": AGENCY,
        "SoTien": "100000",
        "TrangThaiGD": "1",
        "ThoiGianGD": "20230906101010",
        "KenhThanhToan": "QR_DONG",
    }


class World:
    """Three dossiers paid on the portal; only the first is on N and on the platform."""

    def __init__(self) -> None:
        self.p = [p_item(1), p_item(2), p_item(3)]
        self.n = [n_item(1)]
        self.tx = [tx(1)]


@pytest.fixture
def world() -> Iterator[World]:
    state = World()
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
        for token_url in ("http://provincial.test/oauth/token", "http://national.test/oauth/token"):
            router.post(token_url).mock(return_value=httpx.Response(200, json=TOKEN))
        agency = {"MaDonVi": AGENCY, "TenDonVi": "Sở Xây dựng", "CapDonVi": 1}
        router.get(f"{P}/v1/agencies").mock(return_value=httpx.Response(200, json=spring([agency])))

        def first_page_of(listing: str, shape: Any) -> Any:
            def respond(request: httpx.Request) -> httpx.Response:
                page = request.url.params.get("page", request.url.params.get("pageIndex"))
                items = getattr(state, listing) if page in ("0", "1") else []
                return httpx.Response(200, json=shape(items))

            return respond

        router.get(f"{P}/v1/dossiers").mock(side_effect=first_page_of("p", spring))
        router.get(f"{N}/api/v1/ho-so/dong-bo").mock(side_effect=first_page_of("n", envelope))
        router.get(f"{N}/api/v1/thanh-toan/giao-dich").mock(
            side_effect=first_page_of("tx", envelope)
        )
        yield state


async def figures(service: ServiceClient) -> dict[str, Any]:
    response = await service.get("/kpi/online-payment", params=FIGURES)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    province: dict[str, Any] = response.json()["province"]
    return province


async def mismatch_reasons(service: ServiceClient) -> dict[str, int]:
    response = await service.get("/dossiers/mismatches")
    assert response.status_code == 200, response.text
    summary: dict[str, int] = response.json()["summary"]
    return summary


def cache_of(service: ServiceClient) -> AnswerCache:
    cache: AnswerCache = service.app.state.answer_cache
    return cache


async def test_a_new_complete_run_changes_the_answers(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    first = await service.reconcile(**PERIOD)
    assert first["status"] == "succeeded", first
    before = await figures(service)
    assert (before["fee_bearing"], before["portal_counted"], before["verified_online"]) == (3, 1, 1)
    reasons_before = await mismatch_reasons(service)
    assert reasons_before["dossier_not_synced"] == 2

    hits = cache_of(service).hits
    assert await figures(service) == before  # from memory this time
    assert cache_of(service).hits == hits + 1

    # The other two dossiers reach N and are paid on the platform.
    world.n += [n_item(2), n_item(3)]
    world.tx += [tx(2), tx(3)]
    second = await service.reconcile(**PERIOD)
    assert second["status"] == "succeeded", second
    after = await figures(service)
    assert (after["fee_bearing"], after["portal_counted"], after["verified_online"]) == (3, 3, 3)
    assert after["portal_counted"] == second["counts"]["portal_counted"]
    assert "dossier_not_synced" not in await mismatch_reasons(service)


async def test_another_replica_s_run_changes_this_replica_s_answers(
    world: World, database_url: str, service_factory: Any
) -> None:
    """This replica learns of the other's run by NOTIFY or by its next poll, not by a query per
    request: until then it answers the previous complete run's figures, never a partial mix."""
    here = await service_factory(make_settings(database_url))
    there = await service_factory(make_settings(database_url))
    assert (await here.reconcile(**PERIOD))["status"] == "succeeded"
    previous = await figures(here)  # now in this replica's memory
    assert (previous["fee_bearing"], previous["portal_counted"], previous["verified_online"]) == (
        3,
        1,
        1,
    )

    world.n += [n_item(2)]
    world.tx += [tx(2)]
    assert (await there.reconcile(**PERIOD))["status"] == "succeeded"
    # Loose, so that a loaded machine does not fail it: one poll (0.5 s) is what the design
    # promises, and NOTIFY brings it at once on PostgreSQL.
    deadline = asyncio.get_running_loop().time() + CHANGE_DEADLINE_S
    while (answer := await figures(here)) == previous:
        assert asyncio.get_running_loop().time() < deadline, "the other replica's run never showed"
        await asyncio.sleep(0.05)
    assert (answer["fee_bearing"], answer["portal_counted"], answer["verified_online"]) == (3, 2, 2)


async def test_answers_are_not_kept_while_a_run_is_active(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    kept = len(cache_of(service)) if hasattr(service.app.state, "answer_cache") else 0
    async with service.app.state.session_factory() as session:
        # A run that has started committing (an ``all`` run between its parts, say).
        session.add(
            Run(
                province_code="H53",
                scope="all",
                status="running",
                period_from=date(2023, 9, 1),
                period_to=date(2023, 9, 30),
                request_key="x",
                active_province="H53",
            )
        )
        await session.commit()
    first, again = await figures(service), await figures(service)
    assert first == again
    assert len(cache_of(service)) == kept
    assert cache_of(service).hits == 0


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = AnswerCache(max_entries=3, max_bytes=100, max_entry_bytes=60)
    for name in "abc":
        cache.put(name, b"x" * 10)
    assert cache.get("a") == b"x" * 10  # "a" is now the most recent
    cache.put("d", b"x" * 10)
    assert len(cache) == 3
    assert cache.get("b") is None  # the least recently used went
    cache.put("big", b"y" * 61)
    assert cache.get("big") is None  # never kept: larger than one entry may be
    cache.put("e", b"z" * 60)
    cache.put("f", b"z" * 30)
    assert cache.size_bytes <= 100
    assert cache.get("f") is not None


def test_numbers_serialize_as_the_api_shows_them() -> None:
    body = to_json({"count": Decimal("12"), "rate": Decimal("0.25"), "name": "Tháp Mười"})
    assert orjson.loads(body) == {"count": 12, "rate": 0.25, "name": "Tháp Mười"}
