"""Streamed dossier listings against respx-mocked upstreams: passes, order, bounded window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx
import respx

from app.clients import NationalClient, ProvincialClient
from app.domain.records import Period
from tests.clients.test_clients import (
    N_BASE,
    N_TOKEN,
    P_BASE,
    P_TOKEN,
    TOKEN_OK,
    by_page,
    envelope,
    spring,
    upstream,
)

DOSSIERS = f"{P_BASE}/v1/dossiers"
SYNCED = f"{N_BASE}/api/v1/ho-so/dong-bo"
TRANSACTIONS = f"{N_BASE}/api/v1/thanh-toan/giao-dich"
PERIOD = Period(date(2023, 9, 1), date(2023, 9, 30))


class MemorySink:
    """A ListingSink in a dict, recording what it was told."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.restarts = 0
        self.batches = 0

    async def restart(self) -> None:
        self.items.clear()
        self.restarts += 1

    async def add(self, items: Sequence[tuple[str, Any]]) -> None:
        self.batches += 1
        for key, record in items:
            self.items.pop(key, None)
            self.items[key] = record

    async def count(self) -> int:
        return len(self.items)


def p_dossier(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "MaTTHC": "1.004227",
        "MaDonVi": "000.00.15.H53",
        "KenhThucHien": 2,
        "NgayTiepNhan": "20230902080000",
        "NgayHenTra": "20230910170000",
        "NgayKetThucXuLy": None,
        "TrangThaiHoSo": 4,
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "Gia": "1.500.000"}],
        "ThanhToan": {
            "HinhThuc": "DVCQG",
            "SoTien": "1500000",
            "MaThamChieu": " R-1 ",
            "NgayThanhToan": "20230902090000",
        },
        "DaDongBo": True,
        "NgayCapNhat": "20230902090000",
        **extra,
    }


def code(n: int) -> str:
    return f"000.00.15.H53-230902-{n:04d}"


async def test_dossiers_stream_in_page_order_with_the_local_window() -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.post(P_TOKEN).mock(return_value=TOKEN_OK)
        pages = {
            0: httpx.Response(200, json=spring([p_dossier(code(1)), p_dossier(code(2))], 0, 3)),
            1: httpx.Response(
                200, json=spring([p_dossier(code(2), TrangThaiHoSo=9), p_dossier(code(3))], 1, 3)
            ),
        }
        route = router.get(DOSSIERS).mock(side_effect=by_page(pages))
        sink = MemorySink()
        async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
            listing = await client.stream_dossiers(PERIOD, sink)
    assert listing.complete
    assert (listing.distinct, listing.reported_total, listing.passes) == (3, 3, 1)
    params = route.calls[0].request.url.params
    assert (params["receivedFrom"], params["receivedTo"]) == ("20230901000000", "20230930235959")
    assert sink.items[code(2)].status_raw == "9"  # the later page won
    first = sink.items[code(1)]
    assert first.fees[0].amount == 1_500_000  # legacy thousands separators
    assert first.payment.reference == "R-1"
    assert first.received_at == datetime(2023, 9, 2, 1, 0, tzinfo=UTC)
    assert first.fees[0].name == "Lệ phí"


async def test_a_short_pass_restarts_the_sink_and_two_leave_it_incomplete() -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.post(P_TOKEN).mock(return_value=TOKEN_OK)
        router.get(DOSSIERS).mock(
            side_effect=by_page(
                {
                    0: httpx.Response(200, json=spring([p_dossier(code(1))], 0, 2, size=1)),
                    1: httpx.Response(200, json=spring([p_dossier(code(1))], 1, 2, size=1)),
                }
            )
        )
        sink = MemorySink()
        async with ProvincialClient(upstream(P_BASE, P_TOKEN, page_size=1)) as client:
            listing = await client.stream_dossiers(PERIOD, sink)
    assert not listing.complete
    assert listing.passes == 2
    assert sink.restarts == 2
    assert listing.error is not None
    assert "1 distinct items but 2 reported" in listing.error


async def test_only_a_window_of_pages_is_in_flight() -> None:
    in_flight = 0
    peak = 0
    total = 40

    async def respond(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        index = int(request.url.params["pageIndex"])
        item = {
            "MaGiaoDich": f"GD{index}",
            "MaThamChieu": f"R{index}",
            "MaHoSo": code(index),
            "MaDonVi": "000.00.15.H53",
            "SoTien": "abc" if index == 3 else "100000",
            "TrangThaiGD": "1",
            "ThoiGianGD": "20230905101010",
            "KenhThanhToan": "QR_DONG",
        }
        return httpx.Response(200, json=envelope([item], index, total))

    with respx.mock(assert_all_mocked=True) as router:
        router.post(N_TOKEN).mock(return_value=TOKEN_OK)
        router.get(TRANSACTIONS).mock(side_effect=respond)
        sink = MemorySink()
        settings = upstream(N_BASE, N_TOKEN, page_size=1, max_concurrency=2)
        async with NationalClient(settings, "H53") as client:
            listing = await client.stream_transactions(PERIOD, sink)
    assert listing.complete
    assert listing.distinct == total
    assert peak <= 2  # the upstream's limit holds
    assert sink.batches == total  # one write per page, in order
    assert list(sink.items) == [f"GD{i}" for i in range(1, total + 1)]
    [warning] = listing.warnings
    assert (warning.key, warning.field) == ("GD3", "SoTien")
    assert sink.items["GD3"].amount is None


async def test_synced_dossiers_keep_flags_and_warn_on_unknown_ones() -> None:
    items = [
        {
            "MaHoSo": code(1),
            "TrangThaiHoSo": "9",
            "DanhSachLePhi": [],
            "DuocThanhToanTrucTuyen": "1",
        },
        {
            "MaHoSo": code(2),
            "TrangThaiHoSo": "9",
            "DanhSachLePhi": [],
            "DuocThanhToanTrucTuyen": "x",
        },
        {"TrangThaiHoSo": "9"},
    ]
    with respx.mock(assert_all_mocked=True) as router:
        router.post(N_TOKEN).mock(return_value=TOKEN_OK)
        route = router.get(SYNCED).mock(
            return_value=httpx.Response(200, json=envelope(items, 1, 2))
        )
        sink = MemorySink()
        async with NationalClient(upstream(N_BASE, N_TOKEN, page_size=10), "H53") as client:
            listing = await client.stream_synced_dossiers(PERIOD, sink)
    assert listing.complete
    assert route.calls[0].request.url.params["TuNgay"] == "20230901000000"
    assert sink.items[code(1)].online_flag == "1"
    assert {w.field for w in listing.warnings} == {"DuocThanhToanTrucTuyen", "MaHoSo"}
