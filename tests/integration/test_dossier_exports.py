"""The dossier lists and the orphans on national as files, against the simulator over HTTP: each
export opened with openpyxl or csv holds the JSON list's every item (paged through), Vietnamese
headers by default and English ones on asking, NFC text, the fix of every row, real date and
money cells, the run on its summary; the ZIP's workbooks add up to the list; an agency key's
file holds only its agencies; a format not offered is a 400 problem."""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import openpyxl
import pytest

from app.domain.reasons import CATALOGUE
from app.read.kpi import hierarchy
from app.simulator.server import SimulatorServer
from tests.conftest import ServiceClient
from tests.integration.conftest import settings_for
from tests.integration.test_worklists import every_item_as

pytestmark = pytest.mark.integration

PERIOD = {"from": "2023-01-01", "to": "2023-10-23"}
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def dong_thap_small() -> Iterator[SimulatorServer]:
    with SimulatorServer("dong-thap-2023-small", prebuild_dossiers=True) as sim:
        yield sim


async def reconciled(sim: SimulatorServer, url: str, service_factory: Any) -> ServiceClient:
    service: ServiceClient = await service_factory(settings_for(sim, url))
    run = await service.reconcile(period_from=PERIOD["from"], period_to=PERIOD["to"], scope="all")
    assert run["status"] == "succeeded", run["errors"]
    return service


async def download(
    service: ServiceClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> bytes:
    response = await service.http.get(path, params=params, headers=headers or service.auth)
    assert response.status_code == 200, response.text
    return response.content


def workbook_rows(content: bytes) -> tuple[list[Any], Rows, list[Any]]:
    """(headers, rows by header, every value of the summary sheet) of a workbook."""
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    summary = [v for row in book.worksheets[0].iter_rows(values_only=True) for v in row]
    header, *body = book.worksheets[-1].iter_rows(values_only=True)
    return list(header), [dict(zip(header, row, strict=True)) for row in body], summary


def csv_rows(content: bytes) -> tuple[list[str], Rows]:
    """(headers, rows by header) of a CSV export (the summary lines first, then the list)."""
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert all(unicodedata.is_normalized("NFC", cell) for line in lines for cell in line)
    start = max(i for i, line in enumerate(lines) if line and line[0] in HEADERS)
    header, body = lines[start], lines[start + 1 :]
    return header, [dict(zip(header, line, strict=True)) for line in body if line]


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


FIRST_HEADERS = {
    "/dossiers/mismatches": ("Mã hồ sơ", "Dossier code"),
    "/dossiers/offline": ("Mã hồ sơ", "Dossier code"),
    "/dossiers/orphan-transactions": ("Mã giao dịch", "Transaction"),
    "/procedures/orphans": ("Mã TTHC", "Procedure code"),
}
HEADERS = {h for pair in FIRST_HEADERS.values() for h in pair}


async def assert_files_hold_the_list(
    service: ServiceClient, path: str, items: Rows, zipped: bool, **params: Any
) -> Rows:
    """The list's XLSX, CSV (and ZIP) against its JSON ``items``; the XLSX rows back."""
    vi, en = FIRST_HEADERS[path]
    header, rows, summary = workbook_rows(await download(service, path, format="xlsx", **params))
    assert header[0] == vi
    assert {"Mã cơ quan", "Tên cơ quan", "Cách khắc phục", "Đơn vị xử lý"} <= set(header)
    assert len(rows) == len(items)
    assert all(row["Cách khắc phục"] and row["Đơn vị xử lý"] for row in rows)
    texts = [v for row in rows for v in row.values() if isinstance(v, str)]
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)
    assert "H29" in summary
    # The same fix, in NFC (the upstreams' names in the JSON's evidence may come decomposed).
    assert [nfc(i["fix"]["fix"]) for i in items] == [row["Cách khắc phục"] for row in rows]

    csv_header, lines = csv_rows(await download(service, path, format="csv", **params))
    assert csv_header == header
    assert len(lines) == len(items)
    assert all(line["Cách khắc phục"] for line in lines)

    english = await download(service, path, format="xlsx", lang="en", **params)
    assert workbook_rows(english)[0][0] == en
    by_header = await download(
        service, path, {**service.auth, "Accept-Language": "en-GB,en;q=0.8"}, format="csv", **params
    )
    assert csv_rows(by_header)[0][0] == en

    if zipped:
        archive = zipfile.ZipFile(io.BytesIO(await download(service, path, format="zip", **params)))
        per_agency = Counter(i["agency_code"] for i in items)
        workbooks = [n for n in archive.namelist() if n != "tong-hop.xlsx"]
        assert len(workbooks) == len(per_agency)
        total = 0
        for name in workbooks:
            _, agency_rows, _ = workbook_rows(archive.read(name))
            (code,) = {row["Mã cơ quan"] for row in agency_rows}
            assert name.startswith(f"{code}-")
            assert len(agency_rows) == per_agency[code]
            total += len(agency_rows)
        assert total == len(items)
    return rows


async def test_dossier_lists_as_files(
    dong_thap_small: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await reconciled(dong_thap_small, sqlite_url, service_factory)

    body, mismatches = await every_item_as(service, service.auth, "/dossiers/mismatches")
    assert mismatches
    rows = await assert_files_hold_the_list(service, "/dossiers/mismatches", mismatches, True)
    for row, item in zip(rows, mismatches, strict=True):
        assert row["Mã lý do"] == item["reason"]
        assert row["Lý do"] == CATALOGUE[item["reason"]].title.vi
        assert row["Mã hồ sơ"] == item["code"]
    # Dates and amounts are cells of their type, not text.
    assert any(isinstance(row["Ngày tiếp nhận"], datetime) for row in rows)
    assert all(isinstance(row["Tổng phí, lệ phí"], int | float | None) for row in rows)
    # The summary counts each reason, and names the run.
    _, _, summary = workbook_rows(await download(service, "/dossiers/mismatches", format="xlsx"))
    for code, count in body["summary"].items():
        label = f"{CATALOGUE[code].title.vi} ({code})"
        assert summary[summary.index(label) + 1] == count
    # A filter narrows the file as it narrows the JSON, and is printed on the summary.
    reason = next(iter(body["summary"]))
    _, of_reason = await every_item_as(service, service.auth, "/dossiers/mismatches", reason=reason)
    _, filtered, summary = workbook_rows(
        await download(service, "/dossiers/mismatches", format="xlsx", reason=reason)
    )
    assert len(filtered) == len(of_reason) == body["summary"][reason]
    assert "reason" in summary
    assert reason in summary

    _, offline = await every_item_as(service, service.auth, "/dossiers/offline", **PERIOD)
    assert offline
    rows = await assert_files_hold_the_list(service, "/dossiers/offline", offline, True, **PERIOD)
    assert {row["Mã hồ sơ"] for row in rows} == {i["code"] for i in offline}
    assert all(row["Lý do"] == CATALOGUE["paid_offline"].title.vi for row in rows)

    _, orphans = await every_item_as(service, service.auth, "/dossiers/orphan-transactions")
    assert orphans
    rows = await assert_files_hold_the_list(
        service, "/dossiers/orphan-transactions", orphans, False
    )
    assert all(isinstance(row["Số tiền"], int | float) for row in rows if row["Số tiền"])

    _, national = await every_item_as(service, service.auth, "/procedures/orphans")
    assert national
    await assert_files_hold_the_list(service, "/procedures/orphans", national, False)

    # A format a list does not offer, or no format at all, is a 400 problem naming the offer.
    for path, fmt in [
        ("/dossiers/orphan-transactions", "zip"),
        ("/procedures/orphans", "zip"),
        ("/dossiers/mismatches", "pdf"),
    ]:
        refused = await service.get(path, params={"format": fmt})
        assert refused.status_code == 400, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_an_agency_key_exports_its_agencies_only(
    dong_thap_small: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await reconciled(dong_thap_small, sqlite_url, service_factory)
    _, everything = await every_item_as(service, service.auth, "/dossiers/mismatches")
    async with service.app.state.session_factory() as session:
        tree = await hierarchy(session, "H29")
    # A parent with several units having findings: its key sees those units and nothing else.
    parent = Counter(
        tree.parents.get(i["agency_code"]) for i in everything if tree.parents.get(i["agency_code"])
    ).most_common(1)[0][0]
    assert parent is not None
    created = await service.post(
        "/keys", json={"name": "officer", "role": "reader", "agency": parent}
    )
    assert created.status_code == 201, created.text
    officer = {"Authorization": f"Bearer {created.json()['key']}"}
    theirs = tree.descendants(parent)

    for path, params in [("/dossiers/mismatches", {}), ("/dossiers/offline", PERIOD)]:
        _, mine = await every_item_as(service, officer, path, **params)
        assert mine
        _, rows = csv_rows(await download(service, path, officer, format="csv", **params))
        assert len(rows) == len(mine)
        assert {row["Mã cơ quan"] for row in rows} <= theirs
        archive = zipfile.ZipFile(
            io.BytesIO(await download(service, path, officer, format="zip", **params))
        )
        codes = {name.split("-", 1)[0] for name in archive.namelist() if name != "tong-hop.xlsx"}
        assert codes == {i["agency_code"] for i in mine}
        assert codes <= theirs
