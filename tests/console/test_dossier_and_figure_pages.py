"""The dossiers and figures pages over real HTTP: who may open them, that their figures are the
API's, filters and paging, an agency key kept to its agencies, and real workbooks to download."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from openpyxl import load_workbook

from app.console.formatting import number, percent, points
from tests.console.conftest import Province, csrf_of

SignedIn = Callable[[str], httpx.Client]
PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(client: httpx.Client, path: str, **params: Any) -> str:
    # httpx drops a URL's own query when given params, even empty ones.
    response = client.get(path, params=params or None)
    assert response.status_code == 200, (path, response.status_code, response.text[:800])
    assert "text/html" in response.headers["content-type"]
    return response.text


def _rows(page: str, attribute: str) -> dict[str, str]:
    """Each ``<tr data-{attribute}="…">``'s inner HTML, by that attribute's value."""
    pattern = rf'<tr data-{attribute}="([^"]*)"[^>]*>(.*?)</tr>'
    return {html.unescape(key): body for key, body in re.findall(pattern, page, re.S)}


def _figure(fragment: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', fragment)
    assert found, (name, fragment[:400])
    return html.unescape(found.group(1))


def _figures(fragment: str, name: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'data-figure="{name}">([^<]*)<', fragment)]


def _table(page: str, testid: str) -> str:
    found = re.search(rf'<table data-testid="{testid}">(.*?)</table>', page, re.S)
    assert found, testid
    return found.group(1)


def _input(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def _api_as(province: Province, role: str, path: str, **params: Any) -> httpx.Response:
    return province.api.get(
        path, params=params, headers={"Authorization": f"Bearer {province.keys[role]}"}
    )


def _workbook(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith(XLSX)
    return load_workbook(io.BytesIO(response.content), read_only=True)


def _num(value: int | None) -> str:
    return number(value, "vi")


def _strict_policy_holds(page: str) -> None:
    """Nothing the Content-Security-Policy would block, and no id twice."""
    assert 'style="' not in page
    assert " onclick=" not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


# --- the mismatches tab ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "reader", "agency"])
def test_every_role_opens_the_dossier_lists(signed_in: SignedIn, role: str) -> None:
    client = signed_in(role)
    for tab in ("mismatches", "offline", "orphans"):
        page = _page(client, "/console/dossiers", tab=tab)
        assert page.count("<h1>") == 1
        _strict_policy_holds(page)
        assert 'aria-current="page">Hồ sơ</a>' in page  # the nav item


def test_counts_per_reason_and_the_first_page_are_the_apis(
    province: Province, signed_in: SignedIn
) -> None:
    api = province.get("/dossiers/mismatches", limit=PAGE_SIZE)
    assert api["summary"], "the scenario has open mismatches"
    page = _page(signed_in("reader"), "/console/dossiers")
    per_reason = _rows(_table(page, "per-reason"), "reason")
    assert {code: _figure(row, "count") for code, row in per_reason.items()} == {
        code: _num(count) for code, count in api["summary"].items()
    }
    assert _figure(_table(page, "per-reason"), "total") == _num(sum(api["summary"].values()))
    listed = re.findall(
        r'<tr data-dossier="([^"]*)" data-reason="([^"]*)">', _table(page, "mismatches")
    )
    assert [(html.unescape(c), r) for c, r in listed] == [
        (item["code"], item["reason"]) for item in api["items"]
    ]
    assert "Cách khắc phục" in page


def test_counts_per_agency_are_the_apis_for_each_agency(
    province: Province, signed_in: SignedIn
) -> None:
    page = _page(signed_in("reader"), "/console/dossiers")
    per_agency = _rows(_table(page, "per-agency"), "agency")
    assert per_agency
    for code, row in list(per_agency.items())[:3]:
        api = province.get("/dossiers/mismatches", agency=code, limit=1)
        assert _figure(row, "count") == _num(sum(api["summary"].values())), code


def test_the_reason_and_agency_filters_list_what_the_api_lists(
    province: Province, signed_in: SignedIn
) -> None:
    client = signed_in("reader")
    summary = province.get("/dossiers/mismatches", limit=1)["summary"]
    reason = max(summary, key=summary.get)
    page = _page(client, "/console/dossiers", reason=reason)
    api = province.get("/dossiers/mismatches", reason=reason, limit=PAGE_SIZE)
    listed = _rows(_table(page, "mismatches"), "dossier")
    assert list(listed) == [item["code"] for item in api["items"]]
    assert all(
        f'data-reason="{reason}"' in row
        for row in re.findall(r"<tr data-dossier=[^>]*>", _table(page, "mismatches"))
    )
    # The per-agency counts follow the reason; a count's link filters the list by both.
    per_agency = _rows(_table(page, "per-agency"), "agency")
    agency, row = next(iter(per_agency.items()))
    both = province.get("/dossiers/mismatches", reason=reason, agency=agency, limit=1000)
    assert _figure(row, "count") == _num(len(both["items"]))
    link = re.search(r'href="([^"]+)"', row)
    assert link
    filtered = _page(client, html.unescape(link.group(1)))
    assert list(_rows(_table(filtered, "mismatches"), "dossier")) == [
        item["code"] for item in both["items"][:PAGE_SIZE]
    ]


def test_the_pager_follows_the_apis_cursor(province: Province, signed_in: SignedIn) -> None:
    client = signed_in("reader")
    first_api = province.get("/dossiers/mismatches", limit=PAGE_SIZE)
    if first_api["next_cursor"] is None:
        pytest.skip("the scenario has one page of mismatches")
    page = _page(client, "/console/dossiers")
    found = re.search(r'data-testid="next-page" href="([^"]+)"', page)
    assert found
    href = html.unescape(found.group(1))
    assert parse_qs(urlsplit(href).query)["cursor"] == [first_api["next_cursor"]]
    second_api = province.get(
        "/dossiers/mismatches", limit=PAGE_SIZE, cursor=first_api["next_cursor"]
    )
    second = _page(client, href)
    listed = re.findall(r'<tr data-dossier="([^"]*)" data-reason="([^"]*)">', second)
    assert [(html.unescape(c), r) for c, r in listed] == [
        (item["code"], item["reason"]) for item in second_api["items"]
    ]
    assert "Trang đầu" in second


def test_a_wrong_tab_or_reason_is_a_400_page(signed_in: SignedIn) -> None:
    client = signed_in("reader")
    assert client.get("/console/dossiers", params={"tab": "nope"}).status_code == 400
    wrong = client.get("/console/dossiers", params={"reason": "not_a_reason"})
    assert wrong.status_code == 400
    assert "text/html" in wrong.headers["content-type"]


# --- an agency key --------------------------------------------------------------------------


def test_an_agency_key_sees_only_its_agencies(province: Province, signed_in: SignedIn) -> None:
    client = signed_in("agency")
    page = _page(client, "/console/dossiers")
    api = _api_as(province, "agency", "/dossiers/mismatches", limit=PAGE_SIZE).json()
    per_reason = _rows(_table(page, "per-reason"), "reason")
    assert {code: _figure(row, "count") for code, row in per_reason.items()} == {
        code: _num(count) for code, count in api["summary"].items()
    }
    assert list(_rows(_table(page, "mismatches"), "dossier")) == list(
        dict.fromkeys(item["code"] for item in api["items"])
    )
    visible = {item["agency_code"] for item in api["items"]}
    assert province.other_agency not in visible
    assert province.other_agency not in _rows(_table(page, "per-agency"), "agency")
    assert (
        client.get("/console/dossiers", params={"agency": province.other_agency}).status_code == 404
    )
    assert (
        client.get(
            "/console/dossiers", params={"tab": "offline", "agency": province.other_agency}
        ).status_code
        == 404
    )


def test_another_agencys_dossier_is_404_for_an_agency_key(
    province: Province, signed_in: SignedIn
) -> None:
    other = province.get("/dossiers/mismatches", agency=province.other_agency, limit=1)["items"]
    if not other:
        pytest.skip("the other agency has no open mismatch")
    code = other[0]["code"]
    path = "/console" + other[0]["link"]
    assert signed_in("reader").get(path).status_code == 200
    refused = signed_in("agency").get(path)
    assert refused.status_code == 404
    # The error page names the code asked for (the reader's own URL), nothing of the dossier.
    assert code in refused.text
    assert 'data-testid="findings"' not in refused.text


# --- one dossier ----------------------------------------------------------------------------


def test_one_dossier_shows_its_records_and_findings(
    province: Province, signed_in: SignedIn
) -> None:
    item = province.get("/dossiers/mismatches", limit=1)["items"][0]
    api = province.get("/dossiers/" + quote(item["code"], safe=""))
    page = _page(signed_in("reader"), "/console" + item["link"])
    _strict_policy_holds(page)
    shown = re.search(r'data-testid="dossier-code">([^<]*)<', page)
    assert shown
    assert html.unescape(shown.group(1)) == item["code"]
    findings = re.findall(r'<tr data-reason="([^"]*)" data-status="([^"]*)">', page)
    assert findings == [(f["reason"], f["status"]) for f in api["findings"]]
    assert api["dossier"]["agency_code"] in page
    if api["provincial"]:
        assert "Không có bản ghi." not in page.split('data-testid="provincial"')[1][:200]
    for finding in api["findings"]:
        assert html.escape(finding["fix"]["fix"], quote=False) in page.replace("&#39;", "'")


def test_an_unknown_dossier_is_a_404_page(signed_in: SignedIn) -> None:
    missing = signed_in("reader").get("/console/dossiers/KHONG-CO%2F123")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


# --- offline and orphans --------------------------------------------------------------------


def test_the_offline_tab_is_the_apis(province: Province, signed_in: SignedIn) -> None:
    client = signed_in("reader")
    page = _page(client, "/console/dossiers", tab="offline")
    start, end = _input(page, "from"), _input(page, "to")
    api = province.get("/dossiers/offline", limit=PAGE_SIZE, **{"from": start, "to": end})
    agencies = _rows(_table(page, "offline-agencies"), "agency")
    assert {code: _figure(row, "paid_offline") for code, row in agencies.items()} == {
        entry["agency_code"]: _num(entry["paid_offline"]) for entry in api["agencies"]
    }
    assert list(_rows(_table(page, "offline"), "dossier")) == [
        item["code"] for item in api["items"]
    ]


def test_the_orphans_tab_is_the_apis(province: Province, signed_in: SignedIn) -> None:
    page = _page(signed_in("reader"), "/console/dossiers", tab="orphans")
    api = province.get("/dossiers/orphan-transactions", limit=PAGE_SIZE)
    summary = re.search(r'data-testid="orphan-summary">(.*?)</p>', page, re.S)
    assert summary
    assert _figure(summary.group(1), "transactions") == _num(api["summary"]["transactions"])
    assert _figure(summary.group(1), "amount") == _num(api["summary"]["amount"])
    assert list(_rows(_table(page, "orphans"), "transaction")) == [
        item["transaction_id"] for item in api["items"]
    ]


@pytest.mark.parametrize("tab", ["mismatches", "offline", "orphans"])
def test_each_tab_downloads_the_apis_workbook(
    province: Province, signed_in: SignedIn, tab: str
) -> None:
    client = signed_in("reader")
    page = _page(client, "/console/dossiers", tab=tab)
    found = re.search(r'href="([^"]+)" data-testid="download"', page)
    assert found
    href = html.unescape(found.group(1))
    assert href.startswith("/console/dossiers/export?")
    book = _workbook(client.get(href))
    assert len(book.sheetnames) >= 2  # the summary and the list
    if tab == "mismatches":
        rows = list(book[book.sheetnames[-1]].iter_rows(values_only=True))
        total = sum(province.get("/dossiers/mismatches", limit=1)["summary"].values())
        assert len([row for row in rows[1:] if any(v is not None for v in row)]) == total


def test_an_agency_keys_download_holds_only_its_agencies(
    province: Province, signed_in: SignedIn
) -> None:
    client = signed_in("agency")
    book = _workbook(client.get("/console/dossiers/export", params={"format": "xlsx"}))
    text = "\n".join(
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )
    assert province.other_agency not in text
    refused = client.get(
        "/console/dossiers/export", params={"format": "xlsx", "agency": province.other_agency}
    )
    assert refused.status_code == 404
    assert client.get("/console/dossiers/export", params={"format": "pdf"}).status_code == 400


# --- figures --------------------------------------------------------------------------------


def test_figures_are_province_wide(signed_in: SignedIn) -> None:
    for role in ("admin", "operator", "reader"):
        page = _page(signed_in(role), "/console/figures")
        assert page.count("<h1>") == 1
        _strict_policy_holds(page)
    refused = signed_in("agency").get("/console/figures")
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    for path in ("/console/figures/online-payment", "/console/figures/overdue"):
        assert signed_in("agency").get(path).status_code == 403
    wrong = signed_in("reader").get("/console/figures", params={"from_month": "2023-13"})
    assert wrong.status_code == 400
    assert "text/html" in wrong.headers["content-type"]


def test_the_online_payment_table_is_the_apis(province: Province, signed_in: SignedIn) -> None:
    page = _page(signed_in("reader"), "/console/figures")
    start, end = _input(page, "from"), _input(page, "to")
    api = province.get("/kpi/online-payment", group="parent", **{"from": start, "to": end})
    head = re.search(r'data-testid="online-province">(.*?)</p>', page, re.S)
    assert head
    assert _figure(head.group(1), "portal_rate") == percent(api["province"]["portal_rate"], "vi")
    assert _figure(head.group(1), "fee_bearing") == _num(api["province"]["fee_bearing"])
    assert _figure(head.group(1), "target") == percent(api["target"], "vi", 0)
    assert api["sections"]
    for section in api["sections"]:
        found = re.search(
            rf'data-testid="section-{section["section"]}">(.*?)</section>', page, re.S
        )
        assert found, section["section"]
        part = found.group(1)
        assert _figure(part, "met") == str(section["met"])
        assert _figure(part, "units") == str(section["units"])
        rows = _rows(part, "group")
        assert list(rows) == [item["group"] for item in section["items"]]
        for item in section["items"]:
            row = rows[item["group"]]
            assert _figure(row, "fee_bearing") == _num(item["fee_bearing"])
            assert _figure(row, "portal_counted") == _num(item["portal_counted"])
            assert _figure(row, "portal_rate") == percent(item["portal_rate"], "vi")
    chart = re.search(r"<svg.*?</svg>", page, re.S)
    assert chart  # one bar per unit against the target line
    units = [item for section in api["sections"] for item in section["items"]]
    assert chart.group(0).count('<g class="bar">') == len(units)
    assert 'class="target"' in chart.group(0)


def test_a_chosen_period_is_the_apis_too(province: Province, signed_in: SignedIn) -> None:
    client = signed_in("reader")
    default = _page(client, "/console/figures")
    start, end = _input(default, "from"), _input(default, "to")
    later = start[:5] + "07-01" if start[:5] == end[:5] else start
    page = _page(client, "/console/figures", **{"from": later, "to": end})
    api = province.get("/kpi/online-payment", group="parent", **{"from": later, "to": end})
    head = re.search(r'data-testid="online-province">(.*?)</p>', page, re.S)
    assert head
    assert _figure(head.group(1), "fee_bearing") == _num(api["province"]["fee_bearing"])


def test_the_overdue_report_is_the_apis(province: Province, signed_in: SignedIn) -> None:
    page = _page(signed_in("reader"), "/console/figures")
    from_month, to_month = _input(page, "from_month"), _input(page, "to_month")
    api = province.get("/kpi/overdue", group="parent", from_month=from_month, to_month=to_month)
    assert len(api["province"]) == 3  # the last three months of the period by default
    rows = _rows(_table(page, "overdue"), "group")
    assert list(rows) == ["province"] + [group["group"] for group in api["items"]]
    for key, months in [("province", api["province"])] + [
        (group["group"], group["months"]) for group in api["items"]
    ]:
        row = rows[key]
        assert _figures(row, "rate") == [percent(m["rate"], "vi") for m in months]
        assert _figures(row, "overdue") == [_num(m["overdue"]) for m in months]
        assert _figures(row, "finished") == [_num(m["finished"]) for m in months]
    changes = _figures(rows["province"], "change_points")
    for shown, month in zip(changes, api["province"], strict=True):
        change = month["change_points"]
        assert shown.startswith(points(change / 100, "vi") if change is not None else "—")


def test_the_figure_tables_download_as_the_apis_workbooks(
    province: Province, signed_in: SignedIn
) -> None:
    client = signed_in("reader")
    page = _page(client, "/console/figures")
    for testid, api_path in (
        ("download-online-payment", "/kpi/online-payment"),
        ("download-overdue", "/kpi/overdue"),
    ):
        found = re.search(rf'href="([^"]+)" data-testid="{testid}"', page)
        assert found, testid
        href = html.unescape(found.group(1))
        ours = _workbook(client.get(href))
        params = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
        theirs = _workbook(province.api.get(api_path, params={**params, "group": "parent"}))
        assert ours.sheetnames == theirs.sheetnames
        for name in ours.sheetnames[1:]:  # the summary sheet carries the time it was made
            assert list(ours[name].iter_rows(values_only=True)) == list(
                theirs[name].iter_rows(values_only=True)
            )


def test_a_frozen_report_is_listed_and_downloads_as_the_apis(
    province: Province, signed_in: SignedIn
) -> None:
    client = signed_in("reader")
    empty = _page(client, "/console/figures")
    month = _input(empty, "to_month")
    frozen = province.api.post(
        "/reports/monthly", params={"month": month, "allow_incomplete": "true"}
    )
    assert frozen.status_code in (200, 201), frozen.text
    page = _page(client, "/console/figures")
    listed = _rows(_table(page, "reports"), "month")
    assert month in listed
    link = re.search(r'href="([^"]+)"', listed[month])
    assert link
    ours = client.get(html.unescape(link.group(1)))
    _workbook(ours)
    theirs = province.api.get("/reports/monthly", params={"month": month, "format": "xlsx"})
    assert ours.content == theirs.content  # frozen: the same file byte for byte
    assert client.get("/console/figures/reports/2001-01.xlsx").status_code == 404
    assert signed_in("agency").get(html.unescape(link.group(1))).status_code == 403


def test_the_pages_switch_to_english(signed_in: SignedIn) -> None:
    client = signed_in("reader")
    page = _page(client, "/console/figures")
    switched = client.post(
        "/console/language",
        data={
            "csrf_token": csrf_of(page),
            "lang": "en",
            "next": "/console/figures",
        },
        follow_redirects=True,
    )
    assert switched.status_code == 200
    assert (
        "The province&#39;s figures" in switched.text or "The province's figures" in switched.text
    )
    dossiers = _page(client, "/console/dossiers")
    assert "Dossiers to fix" in dossiers
