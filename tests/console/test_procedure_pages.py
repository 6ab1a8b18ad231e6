"""Agencies worst first, an agency's worklist and its download, one procedure: the figures on
the pages are the API's, and an agency key sees its own agency only."""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser

import openpyxl

from tests.console.conftest import Province


class _Figures(HTMLParser):
    """``data-figure`` cells' text per row (``data-agency``/``data-level``) of a table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self._row: tuple[str, str] | None = None
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and values.get("data-agency"):
            self._row = (values["data-agency"] or "", values.get("data-level") or "")
            self.rows[self._row] = {}
        if values.get("data-figure") and self._row:
            self._figure = values["data-figure"]

    def handle_data(self, data: str) -> None:
        if self._figure and self._row:
            self.rows[self._row][self._figure] = data.strip()
            self._figure = None


def _vi_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _vi_percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}".replace(".", ",") + " %"


def test_the_agencies_page_shows_the_apis_figures_worst_first(
    province: Province, signed_in: object
) -> None:
    client = signed_in("reader")  # type: ignore[operator]
    page = client.get("/console/agencies", params={"level": "tinh"})
    assert page.status_code == 200, page.text
    api = province.get("/agencies/summary", level="tinh")
    parser = _Figures()
    parser.feed(page.text)
    shown = list(parser.rows)
    assert shown == [(item["agency_code"], item["level"]) for item in api["items"]]
    for item in api["items"]:
        row = parser.rows[(item["agency_code"], item["level"])]
        assert row == {
            "fee_bearing": _vi_number(item["fee_bearing"]),
            "synced": _vi_number(item["synced"]),
            "not_synced": _vi_number(item["not_synced"]),
            "rate": _vi_percent(item["rate"]),
        }
    worst = api["items"][0]
    assert f'href="/console/agencies/{worst["agency_code"]}?level=tinh"' in page.text


def test_the_worklist_lists_every_unsynced_configuration_with_its_fix(
    province: Province, signed_in: object
) -> None:
    client = signed_in("reader")  # type: ignore[operator]
    agency = province.agency
    api = province.get("/procedures/unsynced", agency=agency, limit=1000)
    page = client.get(f"/console/agencies/{agency}", params={"limit": 1000})
    assert page.status_code == 200
    listed = set(re.findall(r'<tr data-procedure="([^"]+)" data-agency="([^"]+)"', page.text))
    expected = {(i["procedure_code"], i["agency_code"]) for i in api["items"]}
    assert listed <= expected
    assert listed
    if len(api["items"]) <= 50:
        assert listed == expected
    first = api["items"][0]
    for fix in first["fixes"]:
        assert fix["fix"] in html.unescape(page.text)

    synced = client.get(f"/console/agencies/{agency}", params={"tab": "synced"})
    assert synced.status_code == 200
    synced_api = province.get("/procedures/synced", agency=agency, limit=1000)
    shown = set(re.findall(r'<tr data-procedure="([^"]+)"', synced.text))
    assert shown == {i["procedure_code"] for i in synced_api["items"][:50]}


def test_the_worklist_downloads_as_the_whole_list_in_excel(
    province: Province, signed_in: object
) -> None:
    client = signed_in("reader")  # type: ignore[operator]
    agency = province.agency
    response = client.get(f"/console/agencies/{agency}/export", params={"format": "xlsx"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(book.worksheets[-1].iter_rows(values_only=True))
    api = province.get("/procedures/unsynced", agency=agency, limit=1000)
    assert len(rows) - 1 == len(api["items"])
    header = rows[0]
    assert "Cách khắc phục" in header or any("khắc phục" in str(cell) for cell in header)


def test_an_agency_key_sees_its_agency_only(province: Province, signed_in: object) -> None:
    client = signed_in("agency")  # type: ignore[operator]
    page = client.get("/console/agencies")
    agencies = set(re.findall(r'<tr data-agency="([^"]+)"', page.text))
    assert province.agency in agencies
    assert province.other_agency not in agencies
    assert client.get(f"/console/agencies/{province.other_agency}").status_code == 404
    export = client.get(f"/console/agencies/{province.other_agency}/export")
    assert export.status_code == 404
    for path in ("/console/figures", "/console/runs"):
        assert client.get(path).status_code == 403, path
    other = province.get("/procedures/unsynced", agency=province.other_agency, limit=1)
    code = other["items"][0]["procedure_code"]
    detail = client.get(f"/console/procedures/{code}")
    assert province.other_agency not in detail.text


def test_the_procedure_page_shows_both_sides_and_the_open_findings(
    province: Province, signed_in: object
) -> None:
    client = signed_in("reader")  # type: ignore[operator]
    item = province.get("/procedures/unsynced", agency=province.agency, limit=1)["items"][0]
    api = province.get(f"/procedures/{item['procedure_code']}")
    page = client.get(f"/console/procedures/{item['procedure_code']}")
    assert page.status_code == 200
    assert len(re.findall(r'<tr data-agency="', page.text)) == len(api["configurations"])
    assert len(re.findall(r'data-finding="', page.text)) == len(api["open_findings"])
    assert client.get("/console/procedures/9.999999").status_code == 404
