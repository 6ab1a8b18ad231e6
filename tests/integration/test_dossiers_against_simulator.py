"""Dossier runs against the simulator over real HTTP, on SQLite and PostgreSQL: every figure,
finding, offline dossier and orphan transaction equals the scenario's ground truth, which the
simulator derives from its plan and never from the JSON it serves."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import openpyxl
import pytest
from sqlmodel import select

from app.domain.normalize import normalize_code
from app.models import OutboxEvent
from app.read.kpi import hierarchy
from app.simulator.dossiers.truth import DossierTruth, Figures
from app.simulator.server import SimulatorServer
from tests.conftest import ServiceClient
from tests.integration.conftest import set_faults, settings_for

DONG_THAP = {"period_from": "2023-01-01", "period_to": "2023-10-23", "scope": "dossiers"}
DONG_THAP_DISTRICT_RATES = {
    "UBND thành phố Hồng Ngự": 0.6259,
    "UBND thành phố Cao Lãnh": 0.3602,
    "UBND huyện Tam Nông": 0.3529,
    "UBND huyện Châu Thành": 0.2051,
    "UBND huyện Tân Hồng": 0.1352,
    "UBND huyện Cao Lãnh": 0.1058,
    "UBND huyện Thanh Bình": 0.0711,
    "UBND huyện Lấp Vò": 0.0745,
    "UBND huyện Lai Vung": 0.0746,
    "UBND huyện Tháp Mười": 0.0599,
}


@pytest.fixture(scope="module")
def dong_thap_small() -> Iterator[SimulatorServer]:
    with SimulatorServer("dong-thap-2023-small", prebuild_dossiers=True) as sim:
        yield sim


@pytest.fixture(scope="module")
def dong_thap() -> Iterator[SimulatorServer]:
    with SimulatorServer("dong-thap-2023", prebuild_dossiers=True, startup_timeout_s=60) as sim:
        yield sim


def truth_of(sim: SimulatorServer) -> DossierTruth:
    truth = sim.state.scenario.dossier_truth
    assert truth is not None
    return truth


def figures(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["fee_bearing"], row["portal_counted"], row["verified_online"]


def expected(f: Figures) -> tuple[int, int, int]:
    return f.fee_bearing, f.portal_counted, f.verified_online


async def pages(service: ServiceClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        response = await service.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def online_payment(service: ServiceClient, group: str, **params: Any) -> dict[str, Any]:
    response = await service.get(
        "/kpi/online-payment",
        params={"from": "2023-01-01", "to": "2023-10-23", "group": group, **params},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def assert_figures_equal_truth(service: ServiceClient, truth: DossierTruth) -> None:
    by_parent = await online_payment(service, "parent")
    assert by_parent["coverage"]["complete"] is True
    assert figures(by_parent["province"]) == expected(truth.province)
    assert by_parent["province"]["portal_rate"] == truth.province.portal_rate
    assert {i["group"]: figures(i) for i in by_parent["items"]} == {
        code: expected(f) for code, f in truth.groups.items()
    }
    rates = [i["portal_rate"] for i in by_parent["items"]]
    assert rates == sorted(rates), "worst first"

    by_agency = await online_payment(service, "agency")
    assert {i["group"]: figures(i) for i in by_agency["items"]} == {
        code: expected(f) for code, f in truth.agencies.items() if f.fee_bearing
    }


async def assert_overdue_equals_truth(
    service: ServiceClient, truth: DossierTruth, months: list[str]
) -> None:
    response = await service.get(
        "/kpi/overdue",
        params={"from_month": months[0], "to_month": months[-1], "group": "agency"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    for row in body["province"]:
        want = truth.overdue_province[row["month"]]
        assert (row["finished"], row["overdue"], row["open_past_due"], row["rate"]) == (
            want.finished,
            want.overdue,
            want.open_past_due,
            want.rate,
        ), row["month"]
    served = {
        (item["group"], row["month"]): (row["finished"], row["overdue"], row["open_past_due"])
        for item in body["items"]
        for row in item["months"]
        if row["finished"] or row["open_past_due"]
    }
    planned = {
        (agency, month): (o.finished, o.overdue, o.open_past_due)
        for month in months
        for agency, o in truth.overdue[month].items()
        if o.finished or o.open_past_due
    }
    assert served == planned


async def assert_online_payment_as_the_letters_print_it(service: ServiceClient) -> None:
    """Departments and districts in separate sections, each worst first with its met count;
    the same table as a workbook (a sheet per section) and as one CSV."""
    body = await online_payment(service, "parent")
    async with service.app.state.session_factory() as session:
        tree = await hierarchy(session, service.app.state.settings.province_codes()[0])
    sections = {s["section"]: s for s in body["sections"]}
    assert {"departments", "districts"} <= set(sections)
    for key, level in (("departments", 1), ("districts", 2)):
        section = sections[key]
        assert [i["group"] for i in section["items"]] == [
            i["group"] for i in body["items"] if tree.levels.get(i["group"]) == level
        ]
        assert section["met"] == sum(i["met"] for i in section["items"])
        assert section["units"] == len(section["items"])
    assert sum(s["units"] for s in body["sections"]) == len(body["items"])

    response = await service.get(
        "/kpi/online-payment",
        params={"from": "2023-01-01", "to": "2023-10-23", "group": "parent", "format": "xlsx"},
    )
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    sheets = book.worksheets[1:]
    assert len(sheets) == len(body["sections"]) + 1  # and the province's total
    for sheet, section in zip(sheets, body["sections"], strict=False):
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("Mã đơn vị", "Tên đơn vị", "Hồ sơ có thu phí")
        assert [r[0] for r in rows[1:]] == [i["group"] for i in section["items"]]
        assert [r[2] for r in rows[1:]] == [i["fee_bearing"] for i in section["items"]]
        assert all(unicodedata.is_normalized("NFC", r[1]) for r in rows[1:] if r[1])
    total = list(sheets[-1].iter_rows(values_only=True))[1]
    assert total[2] == body["province"]["fee_bearing"]

    response = await service.get(
        "/kpi/online-payment",
        params={"from": "2023-01-01", "to": "2023-10-23", "group": "parent"},
        headers={**service.auth, "Accept": "text/csv"},
    )
    assert response.content.startswith(codecs.BOM_UTF8)
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][0] == "Nhóm"
    assert len(lines) - 1 == len(body["items"]) + 1


async def assert_lists_equal_truth(service: ServiceClient, truth: DossierTruth) -> None:
    findings = await pages(service, "/dossiers/mismatches")
    reasons: dict[str, set[str]] = defaultdict(set)
    for item in findings:
        reasons[item["code"]].add(item["reason"])
    assert dict(reasons) == {code: set(r) for code, r in truth.reasons.items()}

    counts = (await service.get("/dossiers/mismatches", params={"limit": 1})).json()["summary"]
    assert counts == {r: n for r, n in sorted(truth.reason_counts.items()) if n}

    orphans = await pages(service, "/dossiers/orphan-transactions")
    assert {o["transaction_id"] for o in orphans} == set(truth.orphan_transactions)


async def test_small_dong_thap_equals_its_ground_truth(
    dong_thap_small: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    truth = truth_of(dong_thap_small)
    service = await service_factory(settings_for(dong_thap_small, database_url))
    run = await service.reconcile(**DONG_THAP)
    assert run["status"] == "succeeded", run["errors"]
    assert run["counts"]["orphan_transactions"] == len(truth.orphan_transactions)

    await assert_figures_equal_truth(service, truth)
    await assert_lists_equal_truth(service, truth)
    await assert_overdue_equals_truth(service, truth, sorted(truth.overdue_province))
    await assert_online_payment_as_the_letters_print_it(service)

    offline = await pages(
        service, "/dossiers/offline", **{"from": "2023-01-01", "to": "2023-10-23"}
    )
    assert {o["code"] for o in offline} == set(truth.offline)
    assert all(o["paid_offline"] and not o["verified_online"] for o in offline)

    # One dossier in full: its findings carry the evidence for each reason.
    code, want = next(iter(sorted(truth.reasons.items())))
    detail = (await service.get(f"/dossiers/{code}")).json()
    assert {f["reason"] for f in detail["findings"]} == set(want)


@pytest.mark.slow
@pytest.mark.postgres
async def test_dong_thap_letter_figures_over_http(
    dong_thap: SimulatorServer, postgres_url: str, service_factory: Any
) -> None:
    """Seed 000: 43,109 of 256,939 (16.78%), the ten district rates, 3 of 12 districts at 30%.

    Full size on PostgreSQL, the production database, only: on SQLite the same pipeline runs
    at 2 % (``test_small_dong_thap_equals_its_ground_truth``), which spares CI 2½ minutes."""
    truth = truth_of(dong_thap)
    service = await service_factory(settings_for(dong_thap, postgres_url))
    run = await service.reconcile(**DONG_THAP)
    assert run["status"] == "succeeded", run["errors"]

    await assert_figures_equal_truth(service, truth)
    by_parent = await online_payment(service, "parent")
    assert figures(by_parent["province"])[:2] == (256_939, 43_109)
    assert by_parent["province"]["portal_rate"] == 0.1678
    assert by_parent["province"]["met"] is False

    districts = await online_payment(service, "parent", level=2)
    rates = {i["name"]: i["portal_rate"] for i in districts["items"]}
    assert len(rates) == 12
    assert {name: rates[name] for name in DONG_THAP_DISTRICT_RATES} == DONG_THAP_DISTRICT_RATES
    assert rates["UBND thành phố Sa Đéc"] < 0.3
    assert rates["UBND huyện Hồng Ngự"] < 0.3
    assert sum(i["met"] for i in districts["items"]) == 3
    assert districts["items"][0]["name"] == "UBND huyện Tháp Mười", "worst first"

    await assert_lists_equal_truth(service, truth)


@pytest.fixture(scope="module")
def tay_ninh_dossiers(tay_ninh: SimulatorServer) -> SimulatorServer:
    # Plan them before the first request, which would otherwise wait for the plan.
    assert tay_ninh.state.scenario.dossiers is not None
    return tay_ninh


@pytest.mark.postgres
async def test_tay_ninh_monthly_overdue_rates_and_changes(
    tay_ninh_dossiers: SimulatorServer, postgres_url: str, service_factory: Any
) -> None:
    """Seed 001: 20.74%, 19.96%, 17.8% for September to November, concentrated in land
    registry branches, each month with its change in points against the month before.

    On PostgreSQL; on SQLite the console's tests read the same three rates off the overview
    (tests/console/test_browser.py), from the one Tây Ninh run they share."""
    sim = tay_ninh_dossiers
    truth = truth_of(sim)
    service = await service_factory(settings_for(sim, postgres_url))
    run = await service.reconcile(
        period_from="2023-01-01", period_to="2023-11-30", scope="dossiers"
    )
    assert run["status"] == "succeeded", run["errors"]

    response = await service.get(
        "/kpi/overdue", params={"from_month": "2023-09", "to_month": "2023-11", "group": "parent"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["coverage"]["complete"] is True
    province = {row["month"]: row for row in body["province"]}
    assert {m: row["rate"] for m, row in province.items()} == {
        "2023-09": 0.2074,
        "2023-10": 0.1996,
        "2023-11": 0.178,
    }
    assert {m: row["change_points"] for m, row in province.items()} == {
        "2023-09": round((0.2074 - truth.overdue_province["2023-08"].rate) * 100, 2),
        "2023-10": -0.78,
        "2023-11": -2.16,
    }
    by_agency = await service.get(
        "/kpi/overdue", params={"from_month": "2023-09", "to_month": "2023-11", "group": "agency"}
    )
    ranked = sorted(
        by_agency.json()["items"],
        key=lambda item: -sum(row["overdue"] for row in item["months"]),
    )
    assert all("Văn phòng Đăng ký đất đai" in item["name"] for item in ranked[:5])

    await assert_overdue_equals_truth(
        service, truth, ["2023-06", "2023-07", "2023-08", "2023-09", "2023-10", "2023-11"]
    )
    by_parent = (
        await service.get(
            "/kpi/overdue",
            params={"from_month": "2023-09", "to_month": "2023-11", "group": "parent"},
        )
    ).json()
    last_rates = [
        -1.0 if i["months"][-1]["rate"] is None else i["months"][-1]["rate"]
        for i in by_parent["items"]
    ]
    assert last_rates == sorted(last_rates, reverse=True), "worst first"
    response = await service.get(
        "/kpi/overdue",
        params={
            "from_month": "2023-09",
            "to_month": "2023-11",
            "group": "parent",
            "format": "xlsx",
        },
    )
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    header = rows[0]
    assert header[2:8] == (
        "Tháng",
        "Hồ sơ đã giải quyết",
        "Giải quyết quá hạn",
        "Tỷ lệ quá hạn",
        "Thay đổi so với tháng trước (điểm %)",
        "Chưa giải quyết, đã quá hạn",
    )
    assert len(rows) - 1 == 3 * (len(by_parent["items"]) + 1)
    province_rows = [r for r in rows[1:] if r[0] == "province"]
    assert [(r[2], r[5], r[6]) for r in province_rows] == [
        (m["month"], m["rate"], m["change_points"]) for m in by_parent["province"]
    ]
    await assert_figures_equal_truth_for_period(service, truth)


async def assert_figures_equal_truth_for_period(
    service: ServiceClient, truth: DossierTruth
) -> None:
    response = await service.get(
        "/kpi/online-payment",
        params={"from": "2023-01-01", "to": "2023-11-30", "group": "parent"},
    )
    body = response.json()
    assert figures(body["province"]) == expected(truth.province)
    assert {i["group"]: figures(i) for i in body["items"]} == {
        code: expected(f) for code, f in truth.groups.items()
    }


async def test_scope_all_is_one_run_with_both_parts(
    tay_ninh_dossiers: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    truth = truth_of(sim)
    service = await service_factory(settings_for(sim, sqlite_url))
    run = await service.reconcile(period_from="2023-01-01", period_to="2023-11-30", scope="all")
    assert run["status"] == "succeeded", run["errors"]
    assert run["scope"] == "all"
    assert run["counts"]["procedures"]["status"] == "succeeded"
    assert run["counts"]["dossiers"]["fee_bearing"] == truth.province.fee_bearing
    assert {"provincial.procedures", "provincial.dossiers"} <= set(run["listings"])

    summary = (await service.get("/procedures/unsynced", params={"limit": 1})).json()["summary"]
    assert summary["tinh"]["not_synced"] == 348
    await assert_figures_equal_truth_for_period(service, truth)
    events = await outbox_types(service)
    assert events.count("run.completed") == 1
    assert "run.failed" not in events


async def test_scope_all_keeps_the_complete_part_when_the_other_is_partial(
    tay_ninh_dossiers: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    set_faults(sim, fail_pages=["provincial.dossiers:3"])
    try:
        service = await service_factory(settings_for(sim, sqlite_url))
        run = await service.reconcile(period_from="2023-01-01", period_to="2023-11-30", scope="all")
    finally:
        set_faults(sim)
    assert run["status"] == "partial"
    assert run["errors"]
    assert all(e.startswith("dossiers: ") for e in run["errors"])
    assert run["counts"]["procedures"]["status"] == "succeeded"
    assert run["counts"]["dossiers"]["status"] == "partial"
    # The procedures part committed its findings; the dossiers part changed nothing.
    summary = (await service.get("/procedures/unsynced", params={"limit": 1})).json()["summary"]
    assert summary["tinh"]["not_synced"] == 348
    figures = await service.get(
        "/kpi/online-payment", params={"from": "2023-01-01", "to": "2023-11-30"}
    )
    assert figures.json()["province"]["fee_bearing"] == 0
    assert figures.json()["coverage"]["complete"] is False
    mismatches = (await service.get("/dossiers/mismatches")).json()
    assert mismatches["items"] == []
    assert (await outbox_types(service)).count("run.failed") == 1


async def outbox_types(service: ServiceClient) -> list[str]:
    async with service.app.state.session_factory() as session:
        rows = await session.exec(select(OutboxEvent.event_type))
        return list(rows.all())


async def test_scope_all_runs_in_a_row_succeed_and_a_rerun_resolves(
    dong_thap_small: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    """Each part's listings are compared with the same listings of the latest complete part of
    its scope: the second and third ``all`` runs succeed (before, the procedures part was
    compared with the dossier listings of the previous ``all`` run and every run after the
    first ended partial), and an ``all`` run resolves what the data no longer shows."""
    sim = dong_thap_small
    service = await service_factory(settings_for(sim, database_url))
    body = {**DONG_THAP, "scope": "all", "full": True}
    for _ in range(3):
        run = await service.reconcile(**body)
        assert run["status"] == "succeeded", run["errors"]
        assert run["counts"]["procedures"]["status"] == "succeeded"
        assert run["counts"]["dossiers"]["status"] == "succeeded"

    _, items = await service.all_unsynced()
    gone = items[0]
    key = (gone["procedure_code"], gone["agency_code"])
    params = {"MaTTHC": gone["procedure_code"], "MaDonVi": gone["agency_code"]}
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as simulator:
        deleted = await simulator.delete("/_sim/procedures", params=params)
        assert deleted.status_code == 200
        try:
            run = await service.reconcile(**body)
        finally:
            await simulator.delete("/_sim/procedures", params={"all": "true"})
    assert run["status"] == "succeeded", run["errors"]
    assert run["counts"]["procedures"]["findings"]["resolved"] >= len(gone["reasons"])
    _, after = await service.all_unsynced()
    assert key not in {(i["procedure_code"], i["agency_code"]) for i in after}
    assert len(after) == len(items) - 1


# Every GET the API offers, and what an agency-scoped key gets from it: ``scoped`` answers hold
# only its agencies' rows; ``province`` answers are province-wide and refused (403); ``role``
# answers need a role a reader has not (403); ``public`` ones carry no agency's data.
MONTHS = {"from_month": "2023-09", "to_month": "2023-11"}
PERIOD_PARAMS = {"from": "2023-01-01", "to": "2023-11-30"}
READ_ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "/health/live": ("public", {}),
    "/health/ready": ("public", {}),
    "/metrics": ("public", {}),
    "/runs": ("province", {}),
    "/runs/{run_id}": ("province", {}),
    "/schedules": ("province", {}),
    "/procedures/unsynced": ("scoped", {}),
    "/procedures/synced": ("scoped", {}),
    "/procedures/orphans": ("scoped", {}),
    "/procedures/{procedure_code}": ("detail", {}),
    "/agencies/summary": ("scoped", {}),
    "/dossiers/mismatches": ("scoped", {}),
    "/dossiers/offline": ("scoped", PERIOD_PARAMS),
    "/dossiers/orphan-transactions": ("scoped", {}),
    "/dossiers/{code}": ("detail", {}),
    "/kpi/online-payment": ("scoped", {**PERIOD_PARAMS, "group": "agency"}),
    "/kpi/overdue": ("scoped", {**MONTHS, "group": "agency"}),
    "/reports/monthly": ("province", {"month": "2023-11"}),
    "/reports/monthly/months": ("province", {}),
    "/keys": ("role", {}),
    "/webhooks/endpoints": ("role", {}),
    "/webhooks/endpoints/{endpoint_id}": ("role", {}),
    "/webhooks/endpoints/{endpoint_id}/deliveries": ("role", {}),
    "/webhooks/endpoints/{endpoint_id}/deliveries/{message_id}": ("role", {}),
    "/webhooks/endpoints/{endpoint_id}/attempts": ("role", {}),
}
AGENCY_KEYS = frozenset({"agency_code", "group"})
GROUPINGS = frozenset({"agency", "parent", "province"})
HOLDS_THEIR_ROWS = frozenset(
    {"/procedures/unsynced", "/agencies/summary", "/dossiers/mismatches", "/kpi/online-payment"}
)
AGENCY_HEADERS = ("Mã cơ quan", "Mã đơn vị")


def agency_codes(body: Any) -> set[str]:
    """Every agency code an answer names, at any depth, normalized (the raw values beside the
    parsed ones carry the upstream's spelling: " 000.01.15.h53 ")."""
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            # ``group`` is also the grouping asked for ("agency", "parent"), not a unit.
            if key in AGENCY_KEYS and isinstance(value, str) and value not in GROUPINGS:
                found.add(normalize_code(value))
            else:
                found |= agency_codes(value)
    elif isinstance(body, list):
        for value in body:
            found |= agency_codes(value)
    return found


async def test_an_agency_key_sees_only_its_agencies_on_every_read_endpoint(
    tay_ninh_dossiers: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    service = await service_factory(settings_for(sim, sqlite_url))
    run = await service.reconcile(period_from="2023-01-01", period_to="2023-11-30", scope="all")
    assert run["status"] == "succeeded", run["errors"]
    everything = await pages(service, "/dossiers/mismatches")
    async with service.app.state.session_factory() as session:
        tree = await hierarchy(session, "H53")
    # The unit with the most findings, with its branches: a key for it must see them too.
    busiest = max(
        {tree.root(i["agency_code"]) for i in everything},
        key=lambda unit: sum(1 for i in everything if tree.root(i["agency_code"]) == unit),
    )
    theirs = tree.descendants(busiest)
    assert len(theirs) > 1
    created = await service.post(
        "/keys", json={"name": "land office", "role": "reader", "agency": busiest}
    )
    assert created.status_code == 201, created.text
    officer = {"Authorization": f"Bearer {created.json()['key']}"}

    inside = next(i for i in everything if i["agency_code"] in theirs)
    outside = next(i for i in everything if i["agency_code"] not in theirs)
    _, unsynced = await service.all_unsynced()
    procedure_outside = next(
        code
        for code in {i["procedure_code"] for i in unsynced}
        if not {i["agency_code"] for i in unsynced if i["procedure_code"] == code} & theirs
    )
    schema = service.app.openapi()
    offered = {path for path, operations in schema["paths"].items() if "get" in operations}
    assert offered == set(READ_ENDPOINTS), "a new GET endpoint: say what a scoped key gets"
    placeholders = {
        "run_id": run["run_id"],
        "endpoint_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
        "message_id": "msg_1",
    }
    for path, (kind, params) in READ_ENDPOINTS.items():
        if kind == "detail":
            continue
        url = path.format(**placeholders)
        response = await service.http.get(url, params=params, headers=officer)
        if kind in ("province", "role"):
            assert response.status_code == 403, (path, response.text)
            continue
        assert response.status_code == 200, (path, response.text)
        if kind == "public":
            continue
        named = agency_codes(response.json())
        assert named <= theirs, (path, named - theirs)
        if path in HOLDS_THEIR_ROWS:
            assert named, (path, "shows nothing of the key's own agencies")
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        if "text/csv" in content:
            exported = await service.http.get(
                url, params={**params, "format": "csv"}, headers=officer
            )
            assert exported.status_code == 200, (path, exported.text)
            lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
            column = next(i for i, h in enumerate(lines[0]) if h in AGENCY_HEADERS)
            codes = {line[column] for line in lines[1:]} - {"province"}
            assert codes <= theirs, (path, codes - theirs)

    # Lists and their sums agree on what the key sees.
    mine = []
    cursor: str | None = None
    while True:
        query = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = (
            await service.http.get("/dossiers/mismatches", params=query, headers=officer)
        ).json()
        mine.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(mine) == sum(1 for i in everything if i["agency_code"] in theirs)
    assert sum(page["summary"].values()) == len(mine)

    # Details: one of theirs is shown, one of another agency is not found.
    shown = await service.http.get(f"/dossiers/{inside['code']}", headers=officer)
    assert shown.status_code == 200, shown.text
    hidden = await service.http.get(f"/dossiers/{outside['code']}", headers=officer)
    assert hidden.status_code == 404, hidden.text
    hidden = await service.http.get(f"/procedures/{procedure_outside}", headers=officer)
    assert hidden.status_code == 404, hidden.text
