"""Simulated dossiers: truth checked by an independent oracle, the three routes' contract
(paging, filters, validation, faults), the promised figures, and flat memory at 1,000,000."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from app.simulator.dossiers.plan import DOSSIER_REASONS, ORPHAN_KINDS, T_LATE_ORPHAN, T_OLD_CODE
from app.simulator.dossiers.render import DossierSet
from app.simulator.dossiers.truth import DossierTruth
from app.simulator.faults import Credentials, Faults
from app.simulator.scenarios.dong_thap import district_codes
from app.simulator.scenarios.registry import get_scenario
from app.simulator.server import SimulatorServer
from app.simulator.upstreams import create_simulator_app
from app.simulator.wire_time import fmt_time
from tests.simulator import dossier_oracle as oracle

CREDS = Credentials()
SMALL = "dong-thap-2023-small"
DT_PERIOD = (date(2023, 1, 1), date(2023, 10, 23))
TN_PERIOD = (date(2023, 1, 1), date(2023, 11, 30))
P_DOSSIERS = "/provincial/v1/dossiers"
N_SYNCED = "/national/api/v1/ho-so/dong-bo"
N_TX = "/national/api/v1/thanh-toan/giao-dich"
WINDOW = {"receivedFrom": "20230101000000", "receivedTo": "20231023235959"}
N_WINDOW = {"MaTinh": "H29", "TuNgay": "20230101000000", "DenNgay": "20231023235959"}
BAD_WINDOW = "receivedFrom and receivedTo must be yyyyMMddHHmmss"
RUN_START = datetime(2024, 1, 15, 9, 0)  # any moment after the transactions' horizon


def small() -> DossierSet:
    dossiers = get_scenario(SMALL).dossiers
    assert dossiers is not None
    return dossiers


def small_truth() -> DossierTruth:
    truth = get_scenario(SMALL).dossier_truth
    assert truth is not None
    return truth


def compare(truth: DossierTruth, verdict: oracle.Verdict, agencies: list[dict[str, Any]]) -> None:
    """Every figure and set of the truth equals the oracle's reading of the wire data."""
    planned = {
        code: (f.fee_bearing, f.portal_counted, f.verified_online, f.paid_offline)
        for code, f in truth.agencies.items()
        if f.fee_bearing
    }
    assert verdict.agencies == planned
    assert verdict.reasons == truth.reasons_normalized
    assert verdict.offline == set(truth.offline_normalized)
    assert verdict.orphans == set(truth.orphan_transactions)
    parent_of = oracle.parents(agencies)
    assert {k: parent_of[k] for k in truth.parent_of} == truth.parent_of
    assert verdict.group(parent_of) == {
        code: (f.fee_bearing, f.portal_counted, f.verified_online, f.paid_offline)
        for code, f in truth.groups.items()
        if f.fee_bearing
    }
    for month, per_agency in truth.overdue.items():
        assert verdict.overdue[month] == {
            code: (o.finished, o.overdue, o.open_past_due) for code, o in per_agency.items()
        }, month


def in_process(
    dossiers: DossierSet,
    period: tuple[date, date],
    *,
    national: bool = True,
    transactions: bool = True,
) -> oracle.Listings:
    """The same listings without HTTP (large scenarios), rendered page by page."""
    start = (period[0] - date(2020, 1, 1)).days * 86400
    end = (period[1] - date(2020, 1, 1)).days * 86400 + 86399
    p = dossiers.provincial(start, end, None)
    n = dossiers.national(start, end)
    t = dossiers.transactions(start, end + 30 * 86400)
    return oracle.Listings(
        agencies=[],
        provincial=oracle.read_pages(lambda i: p.page(i, 1000, False)),
        national=oracle.read_pages(lambda i: n.page(i, 1000, False)) if national else [],
        transactions=oracle.read_pages(lambda i: t.page(i, 1000, False)) if transactions else [],
    )


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Hundreds of thousands of rendered items: the cyclic collector would only slow us down."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---- (a) truth against the oracle --------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SMALL) as running:
        yield running


async def test_small_truth_agrees_with_an_oracle_over_http(small_server: SimulatorServer) -> None:
    listings = await oracle.fetch(
        small_server.base_url,
        province="H29",
        period=DT_PERIOD,
        provincial_credentials=(CREDS.provincial_client_id, CREDS.provincial_client_secret),
        national_credentials=(CREDS.national_client_id, CREDS.national_client_secret),
    )
    truth = small_truth()
    verdict = oracle.judge(listings, DT_PERIOD, RUN_START)
    compare(truth, verdict, listings.agencies)
    assert len(listings.provincial) == truth.counts["in_period"]
    # Every reason of §3 is planted, and so are orphans and offline payments.
    assert all(truth.reason_counts[r] >= 2 for r in DOSSIER_REASONS)
    assert len(truth.orphan_transactions) >= 2
    assert truth.offline


def test_small_truth_json_digest(small_server: SimulatorServer) -> None:
    body = httpx.get(f"{small_server.base_url}/_sim/dossier-truth").json()
    truth = small_truth()
    assert body["province"]["fee_bearing"] == truth.province.fee_bearing
    assert body["reason_counts"] == truth.reason_counts


@pytest.mark.usefixtures("no_gc")
def test_dong_thap_at_scale_1_has_the_letters_figures() -> None:
    scenario = get_scenario("dong-thap-2023")
    truth = scenario.dossier_truth
    assert truth is not None
    assert scenario.dossiers is not None
    assert (truth.province.fee_bearing, truth.province.portal_counted) == (256_939, 43_109)
    assert truth.online_rate() == 0.1678
    rates = {name: truth.online_rate(code) for code, name in district_codes().items()}
    assert {name: round(rate * 100, 2) for name, rate in rates.items() if rate is not None} | {
        "thành phố Sa Đéc": 0,
        "huyện Hồng Ngự": 0,
    } == {
        "thành phố Hồng Ngự": 62.59,
        "thành phố Cao Lãnh": 36.02,
        "huyện Tam Nông": 35.29,
        "huyện Châu Thành": 20.51,
        "huyện Tân Hồng": 13.52,
        "huyện Cao Lãnh": 10.58,
        "huyện Thanh Bình": 7.11,
        "huyện Lấp Vò": 7.45,
        "huyện Lai Vung": 7.46,
        "huyện Tháp Mười": 5.99,
        "thành phố Sa Đéc": 0,
        "huyện Hồng Ngự": 0,
    }
    assert (rates["thành phố Sa Đéc"] or 1) < 0.30
    assert (rates["huyện Hồng Ngự"] or 1) < 0.30
    assert sum(1 for r in rates.values() if r is not None and r >= 0.30) == 3
    assert all(100 <= n <= 7000 for n in truth.reason_counts.values()), truth.reason_counts

    # An independent count over the rendered wire items agrees (in-process: 650,000 items over
    # HTTP would be slow; the full judgement runs over HTTP on the small variant).
    listings = in_process(scenario.dossiers, DT_PERIOD, transactions=False)
    counted = oracle.online_figures(listings.provincial, listings.national, DT_PERIOD)
    assert counted == {
        code: (f.fee_bearing, f.portal_counted)
        for code, f in truth.agencies.items()
        if f.fee_bearing
    }
    parent_of = oracle.parents(scenario.agencies)
    for code, name in district_codes().items():
        fee, portal = (
            sum(v[i] for k, v in counted.items() if parent_of[k] == code) for i in (0, 1)
        )
        assert round(portal / fee * 100, 2) == round(rates[name] * 100, 2)  # type: ignore[operator]


@pytest.mark.usefixtures("no_gc")
def test_tay_ninh_overdue_rates_and_unchanged_procedure_truth() -> None:
    scenario = get_scenario("tay-ninh-2023")
    tinh = scenario.truth.summary["tinh"]
    assert (tinh.fee_bearing, tinh.synced, tinh.not_synced) == (543, 195, 348)
    truth = scenario.dossier_truth
    assert truth is not None
    assert scenario.dossiers is not None
    rates = {m: truth.overdue_rate(m) for m in ("2023-09", "2023-10", "2023-11")}
    assert rates == {"2023-09": 0.2074, "2023-10": 0.1996, "2023-11": 0.178}
    for month in rates:
        assert truth.overdue_province[month].open_past_due > 0
    # Concentrated in the land-registry branches.
    names = truth.agency_names
    branches = {c for c, n in names.items() if n.startswith("Chi nhánh Văn phòng Đăng ký đất đai")}
    assert len(branches) == 9
    sep = truth.overdue["2023-09"]
    late_share = sum(sep[c].overdue for c in branches if c in sep) / sum(
        o.overdue for o in sep.values()
    )
    done_share = sum(sep[c].finished for c in branches if c in sep) / sum(
        o.finished for o in sep.values()
    )
    assert late_share > 0.5 > done_share
    listings = in_process(scenario.dossiers, TN_PERIOD, transactions=False, national=False)
    verdict = oracle.judge(listings, TN_PERIOD, RUN_START, payments=False)
    for month in rates:
        finished = sum(v[0] for v in verdict.overdue[month].values())
        late = sum(v[1] for v in verdict.overdue[month].values())
        assert round(late / finished, 4) == rates[month]
    assert verdict.overdue == {
        month: {c: (o.finished, o.overdue, o.open_past_due) for c, o in per.items()}
        for month, per in truth.overdue.items()
    }


def test_tay_ninh_small_truth_agrees_with_the_oracle() -> None:
    scenario = get_scenario("tay-ninh-2023", dossier_scale=0.05)
    truth = scenario.dossier_truth
    assert truth is not None
    assert scenario.dossiers is not None
    assert all(truth.reason_counts[r] >= 1 for r in DOSSIER_REASONS)
    verdict = oracle.judge(in_process(scenario.dossiers, TN_PERIOD), TN_PERIOD, RUN_START)
    compare(truth, verdict, scenario.agencies)


def test_kinds_and_variants_are_planted() -> None:
    dossiers = small()
    truth = small_truth()
    start = (DT_PERIOD[0] - date(2020, 1, 1)).days * 86400
    end = (DT_PERIOD[1] - date(2020, 1, 1)).days * 86400 + 86399
    p = oracle.read_pages(lambda i: dossiers.provincial(0, 2**32 - 1, None).page(i, 1000, False))
    n = oracle.read_pages(lambda i: dossiers.national(0, 2**32 - 1).page(i, 1000, False))
    t = oracle.read_pages(lambda i: dossiers.transactions(0, 2**32 - 1).page(i, 1000, False))
    # keys are unique once normalized
    assert len({oracle.code(x["MaHoSo"]) for x in p}) == len(p)
    assert len({oracle.code(x["MaHoSo"]) for x in n}) == len(n)
    assert len({x["MaGiaoDich"] for x in t}) == len(t)
    # dossiers without fees, and dossiers just outside the period
    assert any(oracle.fee_sum(x) == 0 for x in p)
    received = [oracle.moment(x["NgayTiepNhan"]) for x in p]
    assert any(r is not None and r.date() < DT_PERIOD[0] for r in received)
    assert any(r is not None and r.date() > DT_PERIOD[1] for r in received)
    assert received == sorted(received)  # type: ignore[type-var]
    # formatting variants that are not differences
    assert any(x["MaHoSo"] != oracle.code(x["MaHoSo"]) for x in p)
    assert any(x["MaHoSo"] != oracle.code(x["MaHoSo"]) for x in n)
    assert any(x["MaDonVi"] != oracle.code(x["MaDonVi"]) for x in p)
    legacy = re.compile(r"\d{1,3}(\.\d{3})+")
    assert any(legacy.fullmatch(line["Gia"]) for x in p for line in x["DanhSachLePhi"])
    assert any(legacy.fullmatch(line["Gia"]) for x in n for line in x["DanhSachLePhi"])
    assert all(isinstance(x["TrangThaiHoSo"], int) for x in p)
    assert all(isinstance(x["TrangThaiHoSo"], str) for x in n)
    assert all(
        unicodedata.is_normalized("NFC", line["TenPhiLePhi"])
        for x in p
        for line in x["DanhSachLePhi"]
    )
    # payments: every method, matched by MaThamChieu and by MaHoSo (P's reference null)
    methods = Counter((x["ThanhToan"] or {}).get("HinhThuc") for x in p)
    assert {"DVCQG", "QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS", None} <= set(methods)
    assert any(
        x["ThanhToan"]
        and x["ThanhToan"]["HinhThuc"] == "DVCQG"
        and not x["ThanhToan"]["MaThamChieu"]
        for x in p
    )
    states = Counter(x["TrangThaiGD"] for x in t)
    assert {"1", "3", "4"} <= set(states)
    assert {x["DuocThanhToanTrucTuyen"] for x in n} == {"1", "2", "3", ""}
    # transactions up to 30 days after the period, none later for dossiers of the period
    times = [oracle.moment(x["ThoiGianGD"]) for x in t]
    horizon = datetime(2023, 11, 22, 23, 59, 59)
    assert any(m is not None and datetime(2023, 10, 24) <= m <= horizon for m in times)
    kinds = Counter(dossiers.tx_kind)
    assert all(kinds[k] >= 1 for k in ORPHAN_KINDS)
    old = [dossiers.tx_item(k) for k in range(len(t)) if dossiers.tx_kind[k] == T_OLD_CODE]
    assert not {x["MaGiaoDich"] for x in old} & truth.orphan_transactions
    late = [k for k in range(len(t)) if dossiers.tx_kind[k] == T_LATE_ORPHAN]
    assert all(dossiers.tx_time[k] > end for k in late)
    # a pending transaction next to a verified one, for the same dossier
    by_dossier: dict[int, set[int]] = {}
    for k, row in enumerate(dossiers.tx_dossier):
        by_dossier.setdefault(row, set()).add(dossiers.tx_kind[k])
    assert any({0, 3} <= kinds_ for kinds_ in by_dossier.values())
    # payments of dossiers received just before the period, paid inside it: not orphans
    before = [
        k
        for k, row in enumerate(dossiers.tx_dossier)
        if row != 0xFFFFFFFF and dossiers.received[row] < start <= dossiers.tx_time[k]
    ]
    assert before


def test_same_seed_same_dossiers() -> None:
    a = get_scenario(SMALL, 5, cached=False).dossiers
    b = get_scenario(SMALL, 5, cached=False).dossiers
    c = get_scenario(SMALL, 6, cached=False).dossiers
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.provincial(0, 2**32 - 1, None).page(3, 200, False) == b.provincial(
        0, 2**32 - 1, None
    ).page(3, 200, False)
    assert a.transactions(0, 2**32 - 1).page(0, 500, False) == b.transactions(0, 2**32 - 1).page(
        0, 500, False
    )
    assert a.provincial(0, 2**32 - 1, None).page(3, 200, False) != c.provincial(
        0, 2**32 - 1, None
    ).page(3, 200, False)
    assert a.truth.reason_counts == b.truth.reason_counts


# ---- (b) the routes' contract ------------------------------------------------------------------


def _client(faults: Faults | None = None) -> httpx.AsyncClient:
    app = create_simulator_app(SMALL, faults)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with _client() as client:
        yield client


async def p_token(client: httpx.AsyncClient) -> dict[str, str]:
    body = (
        await client.post(
            "/provincial/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CREDS.provincial_client_id,
                "client_secret": CREDS.provincial_client_secret,
            },
        )
    ).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def n_token(client: httpx.AsyncClient) -> dict[str, str]:
    body = (
        await client.post(
            "/national/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CREDS.national_client_id, CREDS.national_client_secret),
        )
    ).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_p_dossier_pages(sim: httpx.AsyncClient) -> None:
    headers = await p_token(sim)
    truth = small_truth()
    first = (await sim.get(P_DOSSIERS, params=WINDOW, headers=headers)).json()
    assert set(first) == {"content", "number", "size", "totalElements", "totalPages", "last"}
    assert (first["number"], first["size"], len(first["content"])) == (0, 100, 100)
    total = first["totalElements"]
    assert total == truth.counts["in_period"]
    items: list[dict[str, Any]] = []
    page = 0
    while True:
        body = (
            await sim.get(
                P_DOSSIERS, params={**WINDOW, "page": page, "size": 1000}, headers=headers
            )
        ).json()
        assert body["totalPages"] == -(-total // 1000)
        items.extend(body["content"])
        if body["last"]:
            break
        page += 1
    assert len({oracle.code(x["MaHoSo"]) for x in items}) == total
    assert set(items[0]) == {
        "MaHoSo", "MaTTHC", "MaDonVi", "KenhThucHien", "NgayTiepNhan", "NgayHenTra",
        "NgayKetThucXuLy", "TrangThaiHoSo", "DanhSachLePhi", "ThanhToan", "DaDongBo",
        "NgayCapNhat",
    }  # fmt: skip
    past = await sim.get(P_DOSSIERS, params={**WINDOW, "page": 99, "size": 1000}, headers=headers)
    assert past.json()["content"] == []


async def test_p_filters_are_inclusive(sim: httpx.AsyncClient) -> None:
    headers = await p_token(sim)
    dossiers = small()
    rows = [r for r in range(len(dossiers)) if dossiers.received[r] != dossiers.received[r - 1]]
    lo, hi = rows[100], rows[160]
    params = {
        "receivedFrom": fmt_time(dossiers.received[lo]),
        "receivedTo": fmt_time(dossiers.received[hi]),
        "size": 1000,
    }
    body = (await sim.get(P_DOSSIERS, params=params, headers=headers)).json()
    got = [x["NgayTiepNhan"] for x in body["content"]]
    assert got[0] == params["receivedFrom"]
    assert got[-1] == params["receivedTo"]
    assert body["totalElements"] == sum(
        params["receivedFrom"] <= fmt_time(t) <= params["receivedTo"] for t in dossiers.received
    )
    since = "20230601000000"
    body = (
        await sim.get(
            P_DOSSIERS, params={**WINDOW, "updatedSince": since, "size": 1000}, headers=headers
        )
    ).json()
    window = dossiers.provincial(
        dossiers.spec.period_start_secs, dossiers.spec.period_end_secs, None
    )
    everything = window.page(0, len(window), False)
    expected = [x for x in everything if x["NgayCapNhat"] >= since]
    assert 0 < body["totalElements"] == len(expected) < len(everything)
    assert body["content"] == expected[:1000]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, BAD_WINDOW),
        ({"receivedFrom": "20230101000000"}, BAD_WINDOW),
        ({**WINDOW, "receivedTo": "2023-10-23"}, BAD_WINDOW),
        ({**WINDOW, "receivedFrom": "20230230000000"}, BAD_WINDOW),
        ({**WINDOW, "receivedFrom": "20231024000000"}, "receivedFrom must be <= receivedTo"),
        ({**WINDOW, "updatedSince": "yesterday"}, "updatedSince must be yyyyMMddHHmmss"),
        ({**WINDOW, "size": 1001}, "size must be <= 1000"),
        ({**WINDOW, "page": -1}, "page must be >= 0"),
    ],
)  # fmt: skip
async def test_p_dossier_bad_requests(
    sim: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await sim.get(P_DOSSIERS, params=params, headers=await p_token(sim))
    assert response.status_code == 400
    assert response.json() == {"status": 400, "error": "Bad Request", "message": message}


async def test_p_dossiers_need_a_token(sim: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, await n_token(sim)):
        response = await sim.get(P_DOSSIERS, params=WINDOW, headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "invalid_token"})


@pytest.mark.parametrize(("path", "field"), [(N_SYNCED, "NgayTiepNhan"), (N_TX, "ThoiGianGD")])
async def test_n_listings_page_and_filter(sim: httpx.AsyncClient, path: str, field: str) -> None:
    headers = await n_token(sim)
    first = (await sim.get(path, params=N_WINDOW, headers=headers)).json()
    assert (first["error_code"], first["message"]) == ("0", "")
    result = first["result"]
    assert (result["pageIndex"], result["pageSize"]) == (1, 100)
    total = result["total"]
    items: list[dict[str, Any]] = []
    index = 1
    while True:
        params = {**N_WINDOW, "pageIndex": index, "pageSize": 500}
        data = (await sim.get(path, params=params, headers=headers)).json()["result"]["data"]
        if not data:
            break
        items.extend(data)
        index += 1
    assert len(items) == total > 0
    stamps = [x[field] for x in items]
    assert stamps == sorted(stamps)
    assert N_WINDOW["TuNgay"] <= stamps[0]
    assert stamps[-1] <= N_WINDOW["DenNgay"]
    # inclusive bounds
    exact = {**N_WINDOW, "TuNgay": stamps[10], "DenNgay": stamps[20], "pageSize": 500}
    data = (await sim.get(path, params=exact, headers=headers)).json()["result"]["data"]
    assert [x[field] for x in data] == [s for s in stamps if stamps[10] <= s <= stamps[20]]
    key = "MaHoSo" if path == N_SYNCED else "MaGiaoDich"
    assert len({oracle.code(x[key]) for x in items}) == total


@pytest.mark.parametrize("path", [N_SYNCED, N_TX])
@pytest.mark.parametrize(
    "params",
    [
        {"TuNgay": "20230101000000", "DenNgay": "20231023235959"},  # no MaTinh
        {**N_WINDOW, "MaTinh": "H53"},
        {"MaTinh": "H29"},
        {**N_WINDOW, "DenNgay": "2023"},
        {**N_WINDOW, "TuNgay": "20231024000000"},
        {**N_WINDOW, "pageSize": 501},
        {**N_WINDOW, "pageIndex": 0},
    ],
)
async def test_n_invalid_requests(
    sim: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    response = await sim.get(path, params=params, headers=await n_token(sim))
    assert response.status_code == 200
    assert response.json()["error_code"] == "1"


async def test_n_token_errors(sim: httpx.AsyncClient) -> None:
    assert (await sim.get(N_SYNCED, params=N_WINDOW)).status_code == 401
    body = (await sim.get(N_TX, params=N_WINDOW, headers=await p_token(sim))).json()
    assert body["error_code"] == "401"


async def test_scenario_without_dossiers_answers_501() -> None:
    app = create_simulator_app("small")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get(N_SYNCED, params=N_WINDOW)).status_code == 501
        assert (await c.get(N_TX, params=N_WINDOW)).status_code == 501
        assert (await c.get(P_DOSSIERS, params=WINDOW)).status_code == 501


async def test_dossier_faults(sim: httpx.AsyncClient) -> None:
    p, n = await p_token(sim), await n_token(sim)
    fail = ["provincial.dossiers:1", "national.dong-bo:2", "national.giao-dich:1"]
    assert (await sim.patch("/_sim/faults", json={"fail_pages": fail})).status_code == 200
    assert (await sim.get(P_DOSSIERS, params={**WINDOW, "page": 1}, headers=p)).status_code == 503
    assert (await sim.get(P_DOSSIERS, params={**WINDOW, "page": 2}, headers=p)).status_code == 200
    n2 = {**N_WINDOW, "pageIndex": 2}
    assert (await sim.get(N_SYNCED, params=n2, headers=n)).status_code == 503
    assert (await sim.get(N_TX, params=N_WINDOW, headers=n)).status_code == 503
    assert (await sim.get(N_TX, params=n2, headers=n)).status_code == 200
    await sim.patch("/_sim/faults", json={"fail_pages": [], "rate_429": 1.0, "retry_after_s": 3})
    response = await sim.get(N_SYNCED, params=N_WINDOW, headers=n)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    await sim.patch("/_sim/faults", json={"rate_429": 0.0, "rate_n_busy": 1.0})
    assert (await sim.get(N_TX, params=N_WINDOW, headers=n)).json()["error_code"] in {"99", "-1"}
    assert (await sim.get(P_DOSSIERS, params=WINDOW, headers=p)).status_code == 200
    stats = (await sim.get("/_sim/stats")).json()
    assert {"provincial.dossiers", "national.dong-bo", "national.giao-dich"} <= set(
        stats["responses"]
    )


async def _pass(sim: httpx.AsyncClient, headers: dict[str, str], path: str) -> tuple[int, int]:
    keys: set[str] = set()
    index, total = 1, 0
    while True:
        params = {**N_WINDOW, "pageIndex": index, "pageSize": 200}
        result = (await sim.get(path, params=params, headers=headers)).json()["result"]
        total = result["total"]
        if not result["data"]:
            return len(keys), total
        keys.update(x.get("MaGiaoDich") or oracle.code(x["MaHoSo"]) for x in result["data"])
        index += 1


async def test_shifted_passes_on_dossier_listings(sim: httpx.AsyncClient) -> None:
    n = await n_token(sim)
    await sim.patch("/_sim/faults", json={"shift_passes": 1})
    for path in (N_SYNCED, N_TX):
        seen, total = await _pass(sim, n, path)
        assert seen == total - 1
        assert await _pass(sim, n, path) == (total, total)
    p = await p_token(sim)
    await sim.patch("/_sim/faults", json={"shift_passes": 1})
    keys: set[str] = set()
    page = 0
    while True:
        body = (
            await sim.get(P_DOSSIERS, params={**WINDOW, "page": page, "size": 700}, headers=p)
        ).json()
        keys.update(oracle.code(x["MaHoSo"]) for x in body["content"])
        if body["last"]:
            break
        page += 1
    assert len(keys) == body["totalElements"] - 1


async def test_dossier_tokens_expire_and_concurrency_is_limited() -> None:
    async with _client(Faults(token_max_uses=1)) as sim:
        p = await p_token(sim)
        assert (await sim.get(P_DOSSIERS, params=WINDOW, headers=p)).status_code == 200
        assert (await sim.get(P_DOSSIERS, params=WINDOW, headers=p)).status_code == 401
        n = await n_token(sim)
        assert (await sim.get(N_TX, params=N_WINDOW, headers=n)).json()["error_code"] == "0"
        assert (await sim.get(N_TX, params=N_WINDOW, headers=n)).json()["error_code"] == "401"
    async with _client(Faults(latency_ms=100)) as sim:
        n = await n_token(sim)
        responses = await asyncio.gather(
            *(sim.get(N_SYNCED, params=N_WINDOW, headers=n) for _ in range(7))
        )
        assert sorted(r.status_code for r in responses).count(429) == 3
        stats = (await sim.get("/_sim/stats")).json()
        assert stats["concurrency_rejections"] == 3


def test_fault_listing_names_are_known() -> None:
    names = ["provincial.dossiers:0", "national.dong-bo:1", "national.giao-dich:3"]
    assert Faults(fail_pages=names).fail_pages == names


# ---- (c) flat memory, fast pages ---------------------------------------------------------------


_MILLION = """
import json, resource, time
from app.simulator.scenarios.registry import get_scenario
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
dossiers = get_scenario("dong-thap-2023", dossier_scale=3.1).dossiers
built = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
window = dossiers.provincial(0, 2**32 - 1, None)
window.page(700, 500, False)
started = time.perf_counter()
sizes = [len(window.page(index, 500, False)) for index in (1000, 1500, 1999)]
page = (time.perf_counter() - started) / 3
print(json.dumps({"dossiers": len(dossiers), "grown_kib": peak - before, "built": built,
                  "page": page, "sizes": sizes}))
"""


def test_a_million_dossiers_in_flat_memory() -> None:
    """Built in a fresh process, whose peak resident size is what the plan costs. (tracemalloc
    would say the same — a peak of about 45 MB — but makes the build some 15 times slower.)"""
    done = subprocess.run(
        [sys.executable, "-c", _MILLION], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(done.stdout)
    assert result["dossiers"] >= 1_000_000
    assert result["grown_kib"] < 150 * 1024, result
    assert result["built"] < 60, result
    assert result["sizes"] == [500, 500, 500]
    assert result["page"] < 0.05, result
