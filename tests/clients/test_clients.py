"""Both clients against respx-mocked upstreams: every rule and quirk of the contract."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from tenacity import RetryCallState

from app.clients import NationalClient, ProvincialClient, UpstreamAuthError
from app.clients.base import retry_wait
from app.clients.config import UpstreamSettings
from app.clients.errors import UpstreamRetryableError
from app.domain.records import Period

P_BASE, P_TOKEN = "https://p.test/api", "https://p.test/oauth/token"
N_BASE, N_TOKEN = "https://n.test/gw", "https://n.test/oauth/token"
PROCEDURES = f"{P_BASE}/v1/procedures"
PAYMENT_INFO = f"{N_BASE}/api/v1/thanh-toan/thong-tin-thu-huong"


def upstream(base: str, token: str, **overrides: Any) -> UpstreamSettings:
    values: dict[str, Any] = {
        "base_url": base,
        "token_url": token,
        "client_id": "recon",
        "client_secret": "s3cret",
        "page_size": 2,
        "max_attempts": 3,
        "retry_initial_wait_s": 0,
        "retry_max_wait_s": 0,
        "retry_after_cap_s": 0,
        "round_pause_s": 0,
    }
    values.update(overrides)
    return UpstreamSettings(**values)


def procedure(code: str, agency: str = "000.00.15.H53", gia: str = "100000") -> dict[str, Any]:
    return {
        "MaTTHC": code,
        "MaDVC": f"{code}.000.00.00.H53",
        "TenTTHC": "Đăng ký biến động quyền sử dụng đất",
        "MaDonVi": agency,
        "CapThucHien": "tinh",
        "DanhSachLePhi": [
            {"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "Gia": gia, "LoaiPhiLePhi": "2"}
        ],
        "ThongTinThuHuong": None,
        "NgayCapNhat": "20231130083000",
    }


def spring(content: list[Any], number: int, total: int, size: int = 2) -> dict[str, Any]:
    pages = max((total + size - 1) // size, 1)
    return {
        "content": content,
        "number": number,
        "size": size,
        "totalElements": total,
        "totalPages": pages,
        "last": number >= pages - 1,
    }


def envelope(data: list[Any], index: int, total: int, code: str = "0") -> dict[str, Any]:
    return {
        "error_code": code,
        "message": "",
        "result": {"total": total, "pageIndex": index, "pageSize": 2, "data": data},
    }


def payment(code: str) -> dict[str, Any]:
    return {
        "MaTTHC": code,
        "MaDonVi": "000.00.15.H53",
        "TKThuHuong": "3511.0.1104195",
        "MaNHThuHuong": "970415",
        "TenTKThuHuong": "Van phong",
        "KhoBac": "",
        "TaiKhoanThuNSNN": "",
        "TrangThai": "1",
        "TrangThaiDongBo": "1",
        "LoiDongBo": "",
        "NgayDongBo": "",
        "NgayCapNhat": "20231001000000",
    }


TOKEN_OK = httpx.Response(
    200, json={"access_token": "t1", "token_type": "Bearer", "expires_in": 300}
)


@pytest.fixture
def p_mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


def p_pages(router: respx.MockRouter, pages: list[httpx.Response]) -> respx.Route:
    router.post(P_TOKEN).mock(return_value=TOKEN_OK)
    return router.get(PROCEDURES).mock(side_effect=pages)


def by_page(handler: dict[int, Any]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", request.url.params.get("pageIndex", "0")))
        result = handler[page]
        return result(request) if callable(result) else result

    return respond


async def test_provincial_token_uses_form_fields_and_is_reused(p_mock: respx.MockRouter) -> None:
    token = p_mock.post(P_TOKEN).mock(return_value=TOKEN_OK)
    listing = p_mock.get(PROCEDURES).mock(
        side_effect=by_page(
            {
                0: httpx.Response(
                    200, json=spring([procedure("1.000001"), procedure("1.000002")], 0, 3)
                ),
                1: httpx.Response(200, json=spring([procedure("1.000003")], 1, 3)),
            }
        )
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
    assert result.complete
    assert [p.procedure_code for p in result.items] == ["1.000001", "1.000002", "1.000003"]
    assert token.call_count == 1
    form = parse_qs(token.calls[0].request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["recon"],
        "client_secret": ["s3cret"],
    }
    sent = listing.calls[0].request
    assert sent.headers["Authorization"] == "Bearer t1"
    assert sent.url.params["page"] == "0"
    assert sent.url.params["size"] == "2"


async def test_national_token_uses_basic_auth_and_pages_are_one_based(
    p_mock: respx.MockRouter,
) -> None:
    token = p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    listing = p_mock.get(PAYMENT_INFO).mock(
        side_effect=by_page(
            {
                1: httpx.Response(
                    200, json=envelope([payment("1.000001"), payment("1.000002")], 1, 3)
                ),
                2: httpx.Response(200, json=envelope([payment("1.000003")], 2, 3)),
            }
        )
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_payment_info()
    assert result.complete
    assert len(result.items) == 3
    assert (
        token.calls[0].request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"recon:s3cret").decode()
    )
    assert parse_qs(token.calls[0].request.content.decode()) == {
        "grant_type": ["client_credentials"]
    }
    pages = sorted(int(c.request.url.params["pageIndex"]) for c in listing.calls)
    assert pages == [1, 2]
    assert {c.request.url.params["MaTinh"] for c in listing.calls} == {"H53"}
    assert {c.request.url.params["pageSize"] for c in listing.calls} == {"2"}


async def test_expired_token_is_refreshed_once(p_mock: respx.MockRouter) -> None:
    token = p_mock.post(P_TOKEN).mock(
        side_effect=[TOKEN_OK, httpx.Response(200, json={"access_token": "t2", "expires_in": 300})]
    )
    p_mock.get(PROCEDURES).mock(
        side_effect=[
            httpx.Response(401, json={"error": "invalid_token"}),
            httpx.Response(200, json=spring([procedure("1.000001")], 0, 1)),
        ]
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
        assert client.stats.token_refreshes == 1
    assert result.complete
    assert token.call_count == 2


async def test_national_error_code_401_refreshes_the_token(p_mock: respx.MockRouter) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    p_mock.get(PAYMENT_INFO).mock(
        side_effect=[
            httpx.Response(
                200, json={"error_code": "401", "message": "token het han", "result": None}
            ),
            httpx.Response(200, json=envelope([payment("1.000001")], 1, 1)),
        ]
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_payment_info()
        assert client.stats.token_refreshes == 1
    assert result.complete


async def test_a_second_401_in_a_row_is_a_configuration_error(p_mock: respx.MockRouter) -> None:
    token = p_mock.post(P_TOKEN).mock(return_value=TOKEN_OK)
    route = p_mock.get(PROCEDURES).mock(
        return_value=httpx.Response(401, json={"error": "invalid_token"})
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        with pytest.raises(UpstreamAuthError):
            await client.list_procedures()
    assert route.call_count == 2
    assert token.call_count == 2


async def test_token_endpoint_401_means_wrong_credentials(p_mock: respx.MockRouter) -> None:
    p_mock.post(N_TOKEN).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        with pytest.raises(UpstreamAuthError, match="credentials"):
            await client.list_payment_info()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(500),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(504),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_retryable_failures_are_retried(p_mock: respx.MockRouter, failure: Any) -> None:
    route = p_pages(
        p_mock, [failure, httpx.Response(200, json=spring([procedure("1.000001")], 0, 1))]
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
        assert client.stats.retries == 1
    assert result.complete
    assert route.call_count == 2


@pytest.mark.parametrize("code", ["-1", "99"])
async def test_national_busy_codes_are_retried(p_mock: respx.MockRouter, code: str) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    route = p_mock.get(PAYMENT_INFO).mock(
        side_effect=[
            httpx.Response(
                200, json={"error_code": code, "message": "he thong ban", "result": None}
            ),
            httpx.Response(200, json=envelope([payment("1.000001")], 1, 1)),
        ]
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        assert (await client.list_payment_info()).complete
    assert route.call_count == 2


@pytest.mark.parametrize("code", ["1", "7", ""])
async def test_national_request_errors_and_unknown_codes_are_not_retried(
    p_mock: respx.MockRouter, code: str
) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    route = p_mock.get(PAYMENT_INFO).mock(
        return_value=httpx.Response(
            200, json={"error_code": code, "message": "sai tham so", "result": None}
        )
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_payment_info()
    assert not result.complete
    assert result.error is not None
    assert "error_code" in result.error
    assert route.call_count == 1


async def test_provincial_400_is_not_retried(p_mock: respx.MockRouter) -> None:
    route = p_pages(
        p_mock,
        [
            httpx.Response(
                400, json={"status": 400, "error": "Bad Request", "message": "size must be <= 1000"}
            )
        ],
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
    assert not result.complete
    assert result.error is not None
    assert "size must be <= 1000" in result.error
    assert route.call_count == 1


async def test_attempts_are_capped_and_the_listing_ends_incomplete(
    p_mock: respx.MockRouter,
) -> None:
    p_mock.post(P_TOKEN).mock(return_value=TOKEN_OK)
    route = p_mock.get(PROCEDURES).mock(return_value=httpx.Response(503))
    async with ProvincialClient(upstream(P_BASE, P_TOKEN, max_attempts=4)) as client:
        result = await client.list_procedures()
    assert route.call_count == 4 * 2  # the attempts of each of the two rounds
    assert not result.complete
    assert result.error is not None
    assert "after 4 attempts" in result.error


def _state_after(error: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.set_exception((type(error), error, None))
    state.attempt_number = 1
    return state


def test_retry_after_is_honoured_and_capped() -> None:
    wait = retry_wait(upstream(P_BASE, P_TOKEN, retry_after_cap_s=60, retry_max_wait_s=30))
    told = [wait(_state_after(UpstreamRetryableError("p", "HTTP 429", retry_after=7)))]
    told += [wait(_state_after(UpstreamRetryableError("p", "HTTP 429", retry_after=7)))]
    # Never sooner than told, up to half as long again, and not twice the same (jitter).
    assert all(7 <= w <= 7 * 1.5 for w in told)
    assert told[0] != told[1]
    capped = wait(_state_after(UpstreamRetryableError("p", "HTTP 429", retry_after=3600)))
    assert 60 <= capped <= 60 + 30
    no_jitter = retry_wait(upstream(P_BASE, P_TOKEN, retry_after_cap_s=60, retry_after_jitter=0))
    assert no_jitter(_state_after(UpstreamRetryableError("p", "HTTP 429", retry_after=7))) == 7
    backoff = wait(_state_after(UpstreamRetryableError("p", "HTTP 503")))
    assert 0 <= backoff <= 30


async def test_a_repeated_key_keeps_the_later_page(p_mock: respx.MockRouter) -> None:
    newer = procedure(" 1.000002 ", gia="200000")
    p_pages(
        p_mock,
        [
            httpx.Response(200, json=spring([procedure("1.000001"), procedure("1.000002")], 0, 3)),
            httpx.Response(200, json=spring([newer, procedure("1.000003")], 1, 3)),
        ],
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
    assert result.complete
    fees = {p.procedure_code.strip(): p.fees[0].amount for p in result.items}
    assert fees == {"1.000001": 100000, "1.000002": 200000, "1.000003": 100000}


async def test_a_shifted_pass_is_read_again_and_completes(p_mock: respx.MockRouter) -> None:
    a, b, c = procedure("1.000001"), procedure("1.000002"), procedure("1.000003")
    route = p_pages(
        p_mock,
        [
            httpx.Response(200, json=spring([a, b], 0, 3)),
            httpx.Response(200, json=spring([b], 1, 3)),  # c shifted out of view, b seen twice
            httpx.Response(200, json=spring([a, b], 0, 3)),
            httpx.Response(200, json=spring([c], 1, 3)),
        ],
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
    assert result.complete
    assert result.passes == 2
    assert len(result.items) == 3
    assert route.call_count == 4


async def test_two_short_passes_leave_the_listing_incomplete(p_mock: respx.MockRouter) -> None:
    a, b = procedure("1.000001"), procedure("1.000002")
    p_pages(
        p_mock,
        [httpx.Response(200, json=spring([a, b], 0, 3)), httpx.Response(200, json=spring([], 1, 3))]
        * 2,
    )
    async with ProvincialClient(upstream(P_BASE, P_TOKEN)) as client:
        result = await client.list_procedures()
    assert not result.complete
    assert result.passes == 2
    assert result.error is not None
    assert "2 distinct items but 3 reported" in result.error


async def test_an_empty_page_ends_a_pass(p_mock: respx.MockRouter) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    p_mock.get(PAYMENT_INFO).mock(
        side_effect=by_page(
            {
                1: httpx.Response(
                    200, json=envelope([payment("1.000001"), payment("1.000002")], 1, 2)
                ),
                2: httpx.Response(200, json=envelope([], 2, 2)),
            }
        )
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_payment_info()
    assert result.complete
    assert result.reported_total == 2


async def test_a_page_failing_for_good_is_an_incomplete_listing_not_an_exception(
    p_mock: respx.MockRouter,
) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    p_mock.get(PAYMENT_INFO).mock(
        side_effect=by_page(
            {
                1: httpx.Response(
                    200, json=envelope([payment("1.000001"), payment("1.000002")], 1, 4)
                ),
                2: httpx.Response(503, text="Service Unavailable"),
            }
        )
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_payment_info()
    assert not result.complete
    assert result.error is not None
    assert "HTTP 503" in result.error


async def test_concurrency_never_exceeds_the_limit(p_mock: respx.MockRouter) -> None:
    in_flight = peak = 0
    total = 40

    async def respond(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        page = int(request.url.params["page"])
        items = [procedure(f"1.{page * 2 + i:06d}") for i in range(2)]
        return httpx.Response(200, json=spring(items, page, total))

    p_mock.post(P_TOKEN).mock(return_value=TOKEN_OK)
    p_mock.get(PROCEDURES).mock(side_effect=respond)
    async with ProvincialClient(upstream(P_BASE, P_TOKEN, max_concurrency=4)) as client:
        result = await client.list_procedures()
    assert result.complete
    assert len(result.items) == total
    assert peak == 4


async def test_values_are_parsed_and_text_passes_through(p_mock: respx.MockRouter) -> None:
    nfd = "Va\u0306n pho\u0300ng"  # NFD as sent: kept as sent, normalization is for comparing
    item = procedure("1.000001", gia="1.500.000")
    item["TenTTHC"] = nfd
    bad = procedure("1.000002", gia="100000.00")
    bad["NgayCapNhat"] = "2023-11-30"
    p_pages(p_mock, [httpx.Response(200, json=spring([item, bad, {"MaDonVi": "x"}], 0, 2, size=3))])
    async with ProvincialClient(upstream(P_BASE, P_TOKEN, page_size=3)) as client:
        result = await client.list_procedures()
    first, second = result.items
    assert first.fees[0].amount == 1_500_000
    assert first.procedure_name == nfd
    assert first.updated_at is not None
    assert second.fees[0].amount is None
    assert second.fees[0].amount_raw == "100000.00"
    assert second.updated_at is None
    fields = sorted(w.field for w in result.warnings)
    assert fields == ["MaTTHC/MaDonVi", "NgayCapNhat"]


async def test_statistics_window_is_the_local_period(p_mock: respx.MockRouter) -> None:
    p_mock.post(N_TOKEN).mock(return_value=TOKEN_OK)
    route = p_mock.get(f"{N_BASE}/api/v1/ho-so/thong-ke-tthc").mock(
        return_value=httpx.Response(
            200,
            json=envelope(
                [
                    {
                        "MaTTHC": "1.000001",
                        "SoHoSoDongBo": 5,
                        "SoHoSoCoPhi": "3",
                        "SoHoSoThanhToanTrucTuyen": 1,
                    }
                ],
                1,
                1,
            ),
        )
    )
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53") as client:
        result = await client.list_procedure_stats(Period(date(2023, 1, 1), date(2023, 11, 30)))
    params = route.calls[0].request.url.params
    assert (params["TuNgay"], params["DenNgay"]) == ("20230101000000", "20231130235959")
    [stat] = result.items
    assert (stat.synced_dossiers, stat.fee_dossiers, stat.online_paid_dossiers) == (5, 3, 1)
