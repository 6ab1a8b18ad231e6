"""Frozen monthly reports against the simulator (Tây Ninh, dossiers through November 2023): a
frozen month reads the same, byte for byte, in JSON and XLSX, after later runs and edits change
the data; the change compares two frozen bodies; refusals (unfinished, incomplete, unfrozen,
agency-scoped keys, no key); and the ``report`` schedule freezing the month before its tick."""

from __future__ import annotations

import io
import json
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.cadence import Cron
from app.domain.values import LOCAL_TZ, local_day_start, local_today
from app.models import Dossier, ProcedureSnapshot, TickOutcome
from app.read.procedures import level_figures
from app.reports.canonical import sha256_of
from app.reports.change import points
from app.reports.monthly import month_before, scheduled_freeze
from app.scheduler import Scheduler
from app.simulator.server import SimulatorServer
from tests.conftest import ServiceClient
from tests.integration.conftest import settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONTHLY = Cron("0 7 1 * *", LOCAL_TZ)


@pytest.fixture(scope="module")
def tay_ninh_dossiers(tay_ninh: SimulatorServer) -> SimulatorServer:
    # Plan the dossiers before the first request, which would otherwise wait for the plan.
    assert tay_ninh.state.scenario.dossiers is not None
    return tay_ninh


async def freeze(service: ServiceClient, month: str, **params: Any) -> Any:
    return await service.post("/reports/monthly", params={"month": month, **params})


async def report_bytes(service: ServiceClient, month: str, **params: Any) -> bytes:
    response = await service.get("/reports/monthly", params={"month": month, **params})
    assert response.status_code == 200, response.text
    return response.content


def strings_of(book: Any) -> list[str]:
    return [
        value
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, str)
    ]


def assert_change_between(now: dict[str, Any], before: dict[str, Any], change: Any) -> None:
    """Every change number as computed by hand from the two frozen bodies."""
    assert (change["from_month"], change["to_month"]) == (before["month"], now["month"])
    for level, figure in now["procedures"]["levels"].items():
        was = before["procedures"]["levels"][level]
        row = change["levels"][level]
        assert row["rate_points"] == points(figure["rate"], was["rate"])
        assert row["not_synced_change"] == figure["not_synced"] - was["not_synced"]
    agencies_before = {(a["agency_code"], a["level"]): a for a in before["agencies"]["items"]}
    assert len(change["agencies"]) == len(
        {(a["agency_code"], a["level"]) for a in now["agencies"]["items"]} | set(agencies_before)
    )
    for row in change["agencies"]:
        was = agencies_before[(row["agency_code"], row["level"])]
        assert row["previous_not_synced"] == was["not_synced"]
        assert row["not_synced_change"] == row["not_synced"] - was["not_synced"]

    payment_now, payment_before = now["online_payment"]["month"], before["online_payment"]["month"]
    province = change["online_payment"]["month"]["province"]
    assert province["portal_rate"] == payment_now["province"]["portal_rate"]
    assert province["previous_portal_rate"] == payment_before["province"]["portal_rate"]
    assert province["portal_rate_points"] == round(
        (payment_now["province"]["portal_rate"] - payment_before["province"]["portal_rate"]) * 100,
        2,
    )
    assert province["fee_bearing_change"] == (
        payment_now["province"]["fee_bearing"] - payment_before["province"]["fee_bearing"]
    )
    groups_before = {i["group"]: i for i in payment_before["items"]}
    for item in change["online_payment"]["month"]["items"]:
        current = next(i for i in payment_now["items"] if i["group"] == item["group"])
        was = groups_before[item["group"]]
        assert item["portal_rate_points"] == points(current["portal_rate"], was["portal_rate"])
        assert item["verified_rate_points"] == points(
            current["verified_rate"], was["verified_rate"]
        )

    overdue_now, overdue_before = now["overdue"]["province"][0], before["overdue"]["province"][0]
    overdue = change["overdue"]["province"]
    assert (overdue["rate"], overdue["previous_rate"]) == (
        overdue_now["rate"],
        overdue_before["rate"],
    )
    assert overdue["rate_points"] == points(overdue_now["rate"], overdue_before["rate"])
    assert overdue["overdue_change"] == overdue_now["overdue"] - overdue_before["overdue"]
    assert overdue["open_past_due_change"] == (
        overdue_now["open_past_due"] - overdue_before["open_past_due"]
    )


async def test_a_frozen_month_reads_the_same_after_the_data_change(
    tay_ninh_dossiers: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    service = await service_factory(settings_for(sim, database_url))
    run = await service.reconcile(scope="all", **PERIOD)
    assert run["status"] == "succeeded", run["errors"]

    missing = await service.get("/reports/monthly", params={"month": "2023-11"})
    assert missing.status_code == 404
    assert "POST /reports/monthly?month=2023-11" in missing.json()["detail"]

    october = await freeze(service, "2023-10")
    assert october.status_code == 201, october.text
    november = await freeze(service, "2023-11")
    assert november.status_code == 201, november.text
    again = await freeze(service, "2023-11")
    assert again.status_code == 200
    assert again.content == november.content  # never rewritten

    body = json.loads(november.content)
    before = json.loads(october.content)
    assert body["complete"] is True
    assert body["incomplete"] == []
    assert body["month"] == "2023-11"
    assert (body["from"], body["to"]) == ("2023-11-01", "2023-11-30")
    assert body["procedures"]["as_of"]["run_id"] == run["run_id"]
    assert body["coverage"] == {"complete": True, "run_id": run["run_id"], "as_of": ANY_TIME}
    assert body["procedures"]["levels"]["tinh"]["not_synced"] == 348
    assert body["overdue"]["province"][0]["rate"] == 0.178
    assert before["overdue"]["province"][0]["rate"] == 0.1996
    levels = {item["agency_level"] for item in body["online_payment"]["month"]["items"]}
    assert {1, 2} <= levels
    # Canonical text: sorted keys, no spaces, Vietnamese as UTF-8 and NFC.
    text = november.content.decode()
    assert text == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert unicodedata.is_normalized("NFC", text)
    assert "\\u" not in text

    answer = await report_bytes(service, "2023-11")
    assert answer.startswith(b'{"change":')
    assert b'"report":' + november.content + b"}" in answer  # the stored bytes, as they are
    parsed = json.loads(answer)
    assert parsed["previous_month"] == "2023-10"
    assert parsed["report"] == body
    assert_change_between(body, before, parsed["change"])
    assert parsed["change"]["overdue"]["province"]["rate_points"] == -2.16
    first = json.loads(await report_bytes(service, "2023-10"))
    assert (first["previous_month"], first["change"]) == (None, None)

    workbook = await service.get("/reports/monthly", params={"month": "2023-11", "format": "xlsx"})
    assert workbook.status_code == 200, workbook.text
    assert workbook.headers["content-type"] == XLSX
    assert 'filename="bao-cao-thang-2023-11-H53.xlsx"' in workbook.headers["content-disposition"]
    assert (await report_bytes(service, "2023-11", format="xlsx")) == workbook.content
    english = await report_bytes(service, "2023-11", format="xlsx", lang="en")

    listed = (await service.get("/reports/monthly/months")).json()
    assert [(i["month"], i["complete"]) for i in listed["items"]] == [
        ("2023-11", True),
        ("2023-10", True),
    ]
    assert listed["items"][0]["sha256"] == sha256_of(november.content.decode())

    # The data change: a later run, then edits to the rows both reads stand on.
    later = await service.reconcile(scope="procedures", **PERIOD)
    assert later["status"] == "succeeded", later["errors"]
    async with service.app.state.session_factory() as session:
        await session.exec(
            update(Dossier)
            .where(
                col(Dossier.received_at) >= local_day_start(date(2023, 11, 1)),
                col(Dossier.fee_bearing).is_(True),
            )
            .values(portal_counted=True, finished_at=None)
        )
        await session.exec(update(ProcedureSnapshot).values(synced=True))
        await session.commit()
    live = (
        await service.get(
            "/kpi/online-payment",
            params={"from": "2023-11-01", "to": "2023-11-30", "group": "parent"},
        )
    ).json()
    assert live["province"]["portal_rate"] == 1.0
    assert (
        live["province"]["portal_rate"]
        != body["online_payment"]["month"]["province"]["portal_rate"]
    )
    async with service.app.state.session_factory() as session:
        # Read directly: the replica's answer cache would still hold the answers of that run.
        live_levels = await level_figures(session, "H53", None)
    assert live_levels["tinh"].not_synced == 0

    assert await report_bytes(service, "2023-11") == answer
    assert await report_bytes(service, "2023-11", format="xlsx") == workbook.content
    assert await report_bytes(service, "2023-11", format="xlsx", lang="en") == english
    assert (await freeze(service, "2023-11")).content == november.content

    # The workbook: Vietnamese headers by default, English with lang=en, NFC throughout.
    book = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True)
    assert book.sheetnames == [
        "Tổng hợp",
        "Theo cấp",
        "Theo cơ quan",
        "TT trực tuyến - Sở, ngành",
        "TT trực tuyến - Huyện",
        "Quá hạn",
        "So với tháng trước",
    ]
    assert all(unicodedata.is_normalized("NFC", s) for s in strings_of(book))
    by_level = list(book["Theo cấp"].iter_rows(values_only=True))
    assert by_level[0] == ("Cấp thực hiện", "TTHC có thu phí", "Đã đồng bộ", "Chưa đồng bộ",
                           "Tỷ lệ đồng bộ")  # fmt: skip
    assert by_level[1][:4] == ("tinh", 543, 195, 348)
    districts = list(book["TT trực tuyến - Huyện"].iter_rows(values_only=True))
    assert districts[0][:2] == ("Mã đơn vị", "Tên đơn vị")
    rates = [row[9] for row in districts[1:]]
    assert rates == sorted(rates), "worst first"
    payment_groups = {i["group"]: i for i in body["online_payment"]["year_to_date"]["items"]}
    assert all(payment_groups[row[0]]["agency_level"] == 2 for row in districts[1:])
    overdue = list(book["Quá hạn"].iter_rows(values_only=True))
    assert overdue[1][:5] == ("province", "Toàn tỉnh", *[
        body["overdue"]["province"][0][k] for k in ("finished", "overdue", "rate")
    ])  # fmt: skip
    change_rows = list(book["So với tháng trước"].iter_rows(values_only=True))
    overdue_row = next(r for r in change_rows if r[0].startswith("Quá hạn") and r[1] == "province")
    assert overdue_row[4:7] == (0.1996, 0.178, -2.16)
    english_book = openpyxl.load_workbook(io.BytesIO(english), read_only=True)
    assert english_book.sheetnames[:3] == ["Summary", "By level", "By agency"]
    assert next(english_book["By level"].iter_rows(values_only=True))[0] == "Level"


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and datetime.fromisoformat(other).tzinfo is not None


ANY_TIME: Any = _AnyTime()


async def test_refusals_and_incomplete_months(
    tay_ninh_dossiers: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    service = await service_factory(settings_for(sim, sqlite_url))
    today = local_today()
    this_month = f"{today:%Y-%m}"

    unfinished = await freeze(service, this_month, allow_incomplete="true")
    assert unfinished.status_code == 409
    assert "has not ended" in unfinished.json()["detail"]

    # No run at all: refused, unless asked to freeze incomplete figures (which says so).
    incomplete = await freeze(service, "2023-09")
    assert incomplete.status_code == 409
    assert incomplete.json()["incomplete"] == [
        "no complete procedure run",
        "no complete dossier run covered 2023-09-01…2023-09-30",
    ]
    assert (await service.get("/reports/monthly/months")).json()["items"] == []
    forced = await freeze(service, "2023-09", allow_incomplete="true")
    assert forced.status_code == 201, forced.text
    assert json.loads(forced.content)["complete"] is False
    listed = (await service.get("/reports/monthly/months")).json()["items"]
    assert [(i["month"], i["complete"], i["procedure_run_id"]) for i in listed] == [
        ("2023-09", False, None)
    ]

    assert (await service.get("/reports/monthly", params={"month": "2023-08"})).status_code == 404
    assert (await service.get("/reports/monthly", params={"month": "2023-13"})).status_code in (
        400,
        422,
    )
    assert (
        await service.get("/reports/monthly", params={"month": "2023-09", "format": "csv"})
    ).status_code in (400, 422)

    # Keys: none, an agency's (the report holds every agency), a reader freezing.
    assert (
        await service.http.get("/reports/monthly", params={"month": "2023-09"})
    ).status_code == 401
    agency = str(sim.state.scenario.agencies[0]["MaDonVi"])
    scoped = await service.post("/keys", json={"name": "so", "role": "reader", "agency": agency})
    assert scoped.status_code == 201, scoped.text
    officer = {"Authorization": f"Bearer {scoped.json()['key']}"}
    for path in ("/reports/monthly", "/reports/monthly/months"):
        answer = await service.http.get(path, params={"month": "2023-09"}, headers=officer)
        assert answer.status_code == 403, path
    reader = await service.post("/keys", json={"name": "r", "role": "reader"})
    as_reader = {"Authorization": f"Bearer {reader.json()['key']}"}
    assert (
        await service.http.get("/reports/monthly", params={"month": "2023-09"}, headers=as_reader)
    ).status_code == 200
    assert (
        await service.http.post("/reports/monthly", params={"month": "2023-08"}, headers=as_reader)
    ).status_code == 403


async def test_the_report_schedule_freezes_the_month_before_its_tick(
    tay_ninh_dossiers: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_dossiers
    settings = settings_for(sim, sqlite_url)
    service = await service_factory(settings)
    state = service.app.state
    # The app registers the freeze as its report job.
    assert set(state.scheduled_jobs) == {"report"}
    run = await service.reconcile(scope="all", **PERIOD)
    assert run["status"] == "succeeded", run["errors"]

    now = [datetime(2023, 12, 1, 0, 0, 5, tzinfo=UTC)]  # 07:00:05 on 1 December, Vietnam time
    scheduler = Scheduler(
        state.session_factory,
        state.executor,
        provinces=["H53"],
        cadences={"report": MONTHLY},
        poll_seconds=1,
        jobs={"report": scheduled_freeze(state.session_factory, settings.online_target)},
        clock=lambda: now[0],
    )
    assert month_before(now[0]) == (2023, 11)
    (fired,) = await scheduler.tick()
    assert fired.outcome == TickOutcome.STARTED, fired.detail
    assert fired.detail
    assert fired.detail.startswith("2023-11 frozen at ")
    november = await report_bytes(service, "2023-11")
    assert json.loads(november)["report"]["complete"] is True

    # January's tick: December was never reconciled, so the freeze is refused and recorded.
    now[0] = datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)
    (fired,) = await scheduler.tick()
    assert fired.outcome == TickOutcome.FAILED
    assert fired.detail
    assert fired.detail.startswith("Conflict: The figures of 2023-12 are incomplete")
    assert "no complete dossier run covered 2023-12-01…2023-12-31" in fired.detail
    assert (await service.get("/reports/monthly", params={"month": "2023-12"})).status_code == 404
    shown = (await service.get("/schedules")).json()["schedules"]
    report = next(s for s in shown if s["scope"] == "report")
    assert [t["outcome"] for t in report["ticks"]] == ["failed", "started"]
