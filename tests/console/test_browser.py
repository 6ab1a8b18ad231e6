"""The console in a real browser (Debian's chromium): each role and an agency key sign in and
visit every page they may; no request fails, nothing leaves the service, the console logs no
error; the figures shown are the API's; the worklist downloads; a screenshot of every page is
kept in build/screenshots/ (the README's overview is one of them)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser

from app.demo import demo_sign_in_link
from tests.console.browser import PHONE, Watched, watched_page
from tests.console.conftest import SCREENSHOTS, Province

pytestmark = pytest.mark.integration

# name → (path, the least role that sees it; "agency": an agency key sees it too)
Paths = Callable[[Province], str]
PAGES: dict[str, tuple[Paths, str]] = {
    "overview": (lambda p: "/", "agency"),
    "agencies": (lambda p: "/console/agencies?level=tinh", "agency"),
    "worklist": (lambda p: f"/console/agencies/{p.agency}?level=tinh", "agency"),
    "worklist-synced": (lambda p: f"/console/agencies/{p.agency}?tab=synced", "agency"),
    "procedure": (lambda p: f"/console/procedures/{_a_procedure(p)}", "agency"),
    "dossiers": (lambda p: "/console/dossiers", "agency"),
    "dossiers-offline": (lambda p: "/console/dossiers?tab=offline", "agency"),
    "dossiers-orphans": (lambda p: "/console/dossiers?tab=orphans", "agency"),
    "dossier": (lambda p: _a_dossier(p), "agency"),
    "figures": (lambda p: "/console/figures", "reader"),
    "runs": (lambda p: "/console/runs", "reader"),
    "run": (lambda p: f"/console/runs/{_the_run(p)}", "reader"),
    "webhooks": (lambda p: "/console/webhooks", "admin"),
}
RANK = {"agency": 0, "reader": 1, "operator": 2, "admin": 3}


def _a_procedure(province: Province) -> str:
    items = province.get("/procedures/unsynced", agency=province.agency, limit=1)["items"]
    code: str = items[0]["procedure_code"]
    return code


def _a_dossier(province: Province) -> str:
    """A mismatching dossier of the agency key's own agency: every role may open it."""
    items = province.get_as("agency", "/dossiers/mismatches", limit=1)["items"]
    return "/console" + str(items[0]["link"])


def _the_run(province: Province) -> str:
    run_id: str = province.get("/runs", limit=1)["items"][0]["run_id"]
    return run_id


def _vi_percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}".replace(".", ",") + " %"


def _vi_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _walk(browser: Browser, province: Province, role: str) -> Watched:
    tab = watched_page(browser, province.base_url)
    tab.sign_in(province.keys[role])
    assert tab.page.url == province.base_url + "/", tab.page.url
    folder = SCREENSHOTS / province.backend
    for name, (path_of, least) in PAGES.items():
        path = path_of(province)
        before = len(tab.problems)
        response = tab.goto(path)
        if RANK[role] >= RANK[least]:
            assert response.status == 200, (role, path, response.status)
            assert tab.page.locator("h1").count() == 1, (role, path)
            tab.shoot(folder, f"{role}-{name}")
        else:
            assert response.status == 403, (role, path, response.status)
            # The refusal itself is the browser's only complaint, and it is the one expected.
            assert all("403" in problem for problem in tab.problems[before:]), tab.problems
            del tab.problems[before:]
    return tab


def _check_overview_figures(tab: Watched, province: Province, role: str) -> None:
    summary = province.get_as(role, "/procedures/unsynced", limit=1)["summary"]
    overdue = province.get_as(
        role, "/kpi/overdue", from_month="2023-09", to_month="2023-11", group="province"
    )
    tab.goto("/")
    for month in overdue["province"]:
        row = tab.page.locator(f"table[data-testid=overdue] tr[data-month='{month['month']}']")
        assert row.locator("[data-figure=rate]").inner_text() == _vi_percent(month["rate"])
    for level, figures in summary.items():
        tile = tab.page.locator(f"[data-testid=level-{level}]")
        assert tile.locator("[data-figure=rate]").inner_text() == _vi_percent(figures["rate"])
        assert tile.locator("[data-figure=synced]").inner_text() == _vi_number(figures["synced"])
        assert tile.locator("[data-figure=fee_bearing]").inner_text() == _vi_number(
            figures["fee_bearing"]
        )


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_each_role_visits_every_page_without_an_error(
    browser: Browser, province: Province, role: str
) -> None:
    tab = _walk(browser, province, role)
    _check_overview_figures(tab, province, role)
    if role == "reader":
        # Seed 001, the Tây Ninh letter: overdue 20.74 %, 19.96 %, 17.8 % in Sep–Nov 2023.
        rates = tab.page.locator("table[data-testid=overdue] [data-figure=rate]")
        assert rates.all_inner_texts() == ["20,74 %", "19,96 %", "17,80 %"]
        tiles = tab.page.locator("[data-testid=level-tinh]")
        assert tiles.locator("[data-figure=not_synced]").inner_text() == "348"
        assert tiles.locator("[data-figure=fee_bearing]").inner_text() == "543"
    assert tab.problems == []


def test_an_agency_key_sees_its_agency_on_every_page(browser: Browser, province: Province) -> None:
    tab = _walk(browser, province, "agency")
    _check_overview_figures(tab, province, "agency")
    tab.goto("/console/agencies")
    rows = tab.page.locator("table[data-testid=agencies] tbody tr[data-agency]")
    codes = {rows.nth(i).get_attribute("data-agency") for i in range(rows.count())}
    assert province.agency in codes
    assert province.other_agency not in codes
    assert tab.problems == []
    refused = tab.goto(f"/console/agencies/{province.other_agency}")
    assert refused.status == 404
    assert "404" in tab.page.locator("h1").inner_text()


def test_the_worst_agency_is_found_its_worklist_opened_and_downloaded(
    browser: Browser, province: Province
) -> None:
    """The closing note's walk: the demo's address, the worst agency, what to fix, the file."""
    tab = watched_page(browser, province.base_url)
    tab.sign_in(province.keys["reader"])
    folder = SCREENSHOTS / province.backend
    tab.shoot(folder, "walk-1-overview")
    tab.page.get_by_role("link", name="Đơn vị", exact=True).click()
    tab.page.select_option("#f-level", "tinh")
    tab.page.wait_for_load_state("networkidle")
    tab.shoot(folder, "walk-2-agencies")
    worst = province.get("/agencies/summary", level="tinh")["items"][0]
    first_row = tab.page.locator("table[data-testid=agencies] tbody tr").first
    assert first_row.get_attribute("data-agency") == worst["agency_code"]
    first_row.locator("a").first.click()
    tab.page.wait_for_load_state("networkidle")
    tab.shoot(folder, "walk-3-worklist")
    assert tab.page.locator("table[data-testid=worklist] .fix").count() > 0
    with tab.page.expect_download() as download_info:
        tab.page.locator("[data-testid=download]").click()
    download = download_info.value
    saved = Path(download.path())
    book = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()), read_only=True)
    rows = list(book.worksheets[-1].iter_rows(values_only=True))
    api = province.get(
        "/procedures/unsynced", agency=worst["agency_code"], level="tinh", limit=1000
    )
    assert len(rows) - 1 == len(api["items"])
    assert download.suggested_filename.endswith(".xlsx")
    assert tab.problems == []


def test_pages_fit_a_phone_and_switch_to_english(browser: Browser, province: Province) -> None:
    tab = watched_page(browser, province.base_url, PHONE)
    tab.sign_in(province.keys["reader"])
    folder = SCREENSHOTS / province.backend
    for name, path in (("overview", "/"), ("worklist", f"/console/agencies/{province.agency}")):
        tab.goto(path)
        overflow = tab.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (name, overflow)
        tab.shoot(folder, f"phone-{name}")
    tab.goto("/")
    tab.page.get_by_role("button", name="English").click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("h1").inner_text().startswith("Province overview")
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("document.activeElement.className") == "skip"
    assert tab.problems == []


def test_the_demos_sign_in_link_signs_in_and_keeps_the_key_out_of_the_address(
    browser: Browser, province: Province
) -> None:
    tab = watched_page(browser, province.base_url)
    sent: list[str] = []
    tab.page.on("request", lambda request: sent.append(request.url))
    tab.goto(demo_sign_in_link("", province.keys["reader"]))
    tab.page.wait_for_url(province.base_url + "/")
    assert tab.page.locator("[data-testid=who]").inner_text().startswith("console reader")
    assert not [url for url in sent if province.keys["reader"] in url]
    assert province.keys["reader"] not in tab.page.url
    assert tab.problems == []


@pytest.mark.postgres
def test_the_console_on_postgresql(browser: Browser, postgres_province: Province) -> None:
    """The same pages on the production database, walked once, by the admin."""
    tab = _walk(browser, postgres_province, "admin")
    _check_overview_figures(tab, postgres_province, "admin")
    assert tab.problems == []
