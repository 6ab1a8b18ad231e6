"""The worklists agencies act on, against the simulator over HTTP: synced and unsynced lists in
both views, the fix for every reason in both languages, and an agency-scoped key that sees its
agency and nothing else on every read endpoint."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections import Counter
from typing import Any

import openpyxl

from app.domain.reasons import CATALOGUE
from app.read.kpi import hierarchy
from app.simulator.server import SimulatorServer
from tests.integration.conftest import settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


async def every_item_as(
    service: Any, headers: dict[str, str], path: str, **params: Any
) -> tuple[dict[str, Any], list[Any]]:
    """Every page of a list, read with ``headers`` (an agency officer's key, say)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await service.http.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return body, items


async def every_item(service: Any, path: str, **params: Any) -> tuple[dict[str, Any], list[Any]]:
    return await every_item_as(service, service.auth, path, **params)


async def test_synced_and_unsynced_lists_in_both_views(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    service = await service_factory(settings_for(sim, database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]
    truth = sim.state.scenario.truth

    # The letters' unit: procedures at the provincial level, 348 not synced and 195 synced.
    _, unsynced_tinh = await every_item(
        service, "/procedures/unsynced", level="tinh", view="procedure"
    )
    _, synced_tinh = await every_item(service, "/procedures/synced", level="tinh", view="procedure")
    assert len(unsynced_tinh) == 348
    assert len(synced_tinh) == 195
    assert not {i["procedure_code"] for i in unsynced_tinh} & {
        i["procedure_code"] for i in synced_tinh
    }
    for item in synced_tinh:
        assert item["synced_configurations"] == item["configurations"] == len(item["agencies"])
        assert all(a["synced"] and not a["reasons"] for a in item["agencies"])
    for item in unsynced_tinh:
        assert item["synced_configurations"] < item["configurations"]
        assert any(not a["synced"] for a in item["agencies"])

    # Per configuration, the two lists split the fee-bearing configurations between them.
    _, unsynced = await every_item(service, "/procedures/unsynced")
    _, synced = await every_item(service, "/procedures/synced")
    keys = {(i["procedure_code"], i["agency_code"]) for i in unsynced}
    synced_keys = {(i["procedure_code"], i["agency_code"]) for i in synced}
    assert not keys & synced_keys
    assert len(keys) + len(synced_keys) == len(truth.configurations)
    assert all(not i["reasons"] and not i["fixes"] for i in synced)

    # Every reason of every unsynced configuration comes with its fix, in Vietnamese by default.
    for item in unsynced:
        assert [f["reason"] for f in item["fixes"]] == item["reasons"]
        for fix in item["fixes"]:
            assert fix["title"] == CATALOGUE[fix["reason"]].title.vi
            assert fix["fix"]
            assert fix["who_acts"]
            assert unicodedata.is_normalized("NFC", fix["fix"])
    first = unsynced[0]
    english = (
        await service.get(
            "/procedures/unsynced",
            params={"limit": 1},
            headers={**service.auth, "Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"},
        )
    ).json()["items"][0]
    assert english["fixes"][0]["title"] == CATALOGUE[first["reasons"][0]].title.en
    by_param = (
        await service.get("/procedures/unsynced", params={"limit": 1, "lang": "vi"})
    ).json()["items"][0]
    assert by_param["fixes"][0]["title"] == CATALOGUE[first["reasons"][0]].title.vi

    # The same lists as files: rows equal to the JSON's, Vietnamese headers, the fix per row.
    response = await service.get(
        "/procedures/unsynced", params={"level": "tinh", "view": "procedure", "format": "xlsx"}
    )
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = book.worksheets[1]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Mã TTHC", "Tên thủ tục hành chính")
    assert len(rows) - 1 == 348
    assert {r[0] for r in rows[1:]} == {i["procedure_code"] for i in unsynced_tinh}

    response = await service.get(
        "/procedures/unsynced", headers={**service.auth, "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith(codecs.BOM_UTF8)
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = lines[0], lines[1:]
    assert "Cách khắc phục" in header
    assert len(body) == len(unsynced)
    fix_column = header.index("Cách khắc phục")
    assert all(line[fix_column] for line in body)
    assert all(unicodedata.is_normalized("NFC", cell) for line in body for cell in line)

    response = await service.get("/procedures/unsynced", params={"format": "zip"})
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    per_agency = Counter(i["agency_code"] for i in unsynced)
    workbooks = [n for n in archive.namelist() if n != "tong-hop.xlsx"]
    assert len(workbooks) == len(per_agency)
    total = 0
    for name in workbooks:
        book = openpyxl.load_workbook(io.BytesIO(archive.read(name)), read_only=True)
        data = list(book.worksheets[-1].iter_rows(values_only=True))[1:]
        codes = {row[2] for row in data}
        assert len(codes) == 1
        assert name.startswith(f"{next(iter(codes))}-")
        assert len(data) == per_agency[next(iter(codes))]
        total += len(data)
    assert total == len(unsynced)

    # A reason filter in the procedure view keeps the procedures having it at that level.
    reason = Counter(r for i in unsynced if i["level"] == "tinh" for r in i["reasons"]).most_common(
        1
    )[0][0]
    _, with_reason = await every_item(
        service, "/procedures/unsynced", level="tinh", view="procedure", reason=reason
    )
    expected = {
        i["procedure_code"] for i in unsynced if i["level"] == "tinh" and reason in i["reasons"]
    }
    assert {i["procedure_code"] for i in with_reason} == expected


async def test_an_agency_key_sees_its_agency_and_nothing_else(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(tay_ninh_clean, database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]
    _, unsynced = await every_item(service, "/procedures/unsynced")
    agency, _ = Counter(i["agency_code"] for i in unsynced).most_common(1)[0]
    created = await service.post(
        "/keys", json={"name": "officer", "role": "reader", "agency": agency}
    )
    assert created.status_code == 201, created.text
    officer = {"Authorization": f"Bearer {created.json()['key']}"}

    async with service.app.state.session_factory() as session:
        theirs = (await hierarchy(session, "H53")).descendants(agency)
    body, mine = await every_item_as(service, officer, "/procedures/unsynced")
    assert {i["agency_code"] for i in mine} <= theirs
    assert agency in {i["agency_code"] for i in mine}
    assert len(mine) == sum(1 for i in unsynced if i["agency_code"] in theirs)
    # The summary counts only what the key sees.
    assert sum(f["fee_bearing"] for f in body["summary"].values()) == len(
        {(i["procedure_code"], i["level"]) for i in mine}
    ) + len(
        {
            (i["procedure_code"], i["level"])
            for i in (await every_item_as(service, officer, "/procedures/synced"))[1]
        }
        - {(i["procedure_code"], i["level"]) for i in mine}
    )
    other = next(i for i in unsynced if i["agency_code"] not in theirs)
    detail = await service.http.get(f"/procedures/{other['procedure_code']}", headers=officer)
    if detail.status_code == 200:
        assert {c["agency_code"] for c in detail.json()["configurations"]} <= theirs
    else:
        assert detail.status_code == 404
    # Province-wide answers are refused rather than shown with every agency's counts.
    assert (await service.http.get("/runs", headers=officer)).status_code == 403
    assert (await service.http.get(f"/runs/{run['run_id']}", headers=officer)).status_code == 403
    # Revoked: refused at once.
    revoked = await service.http.delete(f"/keys/{created.json()['id']}", headers=service.auth)
    assert revoked.status_code in (200, 204), revoked.text
    assert (await service.http.get("/procedures/unsynced", headers=officer)).status_code == 401


def _expected_summary(
    configurations: list[dict[str, Any]], unit_of: Any, view: str
) -> dict[tuple[str, str], tuple[int, int, Counter[str]]]:
    """The summary computed from the two lists' configurations, the slow obvious way."""
    if view == "configuration":
        groups: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        for item in configurations:
            key = (unit_of(item["agency_code"]), item["level"] or "")
            groups.setdefault(key, []).append([item])
    else:
        by_procedure: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for item in configurations:
            key3 = (unit_of(item["agency_code"]), item["level"] or "", item["procedure_code"])
            by_procedure.setdefault(key3, []).append(item)
        groups = {}
        for (unit, level, _), members in by_procedure.items():
            groups.setdefault((unit, level), []).append(members)
    expected = {}
    for key, units in groups.items():
        synced = sum(1 for members in units if all(not m["reasons"] for m in members))
        reasons: Counter[str] = Counter()
        for members in units:
            reasons.update({r for m in members for r in m["reasons"]})
        expected[key] = (len(units), synced, reasons)
    return expected


async def test_agency_summary_in_both_views_and_as_files(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(tay_ninh_clean, database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]
    _, unsynced = await every_item(service, "/procedures/unsynced")
    _, synced = await every_item(service, "/procedures/synced")
    configurations = unsynced + synced
    async with service.app.state.session_factory() as session:
        tree = await hierarchy(session, "H53")

    for view, group, unit_of in [
        ("procedure", "agency", lambda code: code),
        ("configuration", "agency", lambda code: code),
        ("procedure", "parent", tree.root),
    ]:
        response = await service.get("/agencies/summary", params={"view": view, "group": group})
        assert response.status_code == 200, response.text
        body = response.json()
        got = {
            (i["agency_code"], i["level"]): (i["fee_bearing"], i["synced"], Counter(i["reasons"]))
            for i in body["items"]
        }
        assert got == _expected_summary(configurations, unit_of, view), (view, group)
        rates = [2.0 if i["rate"] is None else i["rate"] for i in body["items"]]
        assert rates == sorted(rates), "worst first"
        assert set(body["reason_titles"]) == {r for i in body["items"] for r in i["reasons"]}
    # The letters' figure for the province: 543 at level tinh, 195 synced, 348 not.
    assert body["province"]["tinh"]["fee_bearing"] == 543
    assert body["province"]["tinh"]["not_synced"] == 348

    response = await service.get("/agencies/summary", params={"format": "xlsx", "level": "tinh"})
    assert response.status_code == 200, response.text
    assert "tong-hop-co-quan-H53.xlsx" in response.headers["content-disposition"]
    as_json = (await service.get("/agencies/summary", params={"level": "tinh"})).json()
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert header[:7] == (
        "Mã cơ quan",
        "Tên cơ quan",
        "Cấp thực hiện",
        "Số TTHC có thu phí",
        "Đã đồng bộ",
        "Chưa đồng bộ",
        "Tỷ lệ đồng bộ",
    )
    assert [r[0] for r in data] == [i["agency_code"] for i in as_json["items"]]
    assert sum(r[5] for r in data) == sum(i["not_synced"] for i in as_json["items"])
    for code, title in as_json["reason_titles"].items():
        column = header.index(CATALOGUE[code].title.vi)
        assert title == CATALOGUE[code].title.vi
        assert sum(r[column] for r in data) == sum(
            i["reasons"].get(code, 0) for i in as_json["items"]
        )
    summary = list(book.worksheets[0].iter_rows(values_only=True))
    assert any(row[0] == "Cấp tỉnh: chưa đồng bộ" and row[1] == 348 for row in summary)

    response = await service.get(
        "/agencies/summary", params={"format": "csv", "view": "configuration", "lang": "en"}
    )
    assert response.content.startswith(codecs.BOM_UTF8)
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["Agency code", "Agency", "Level"]
    configuration_json = (
        await service.get("/agencies/summary", params={"view": "configuration"})
    ).json()
    assert len(lines) - 1 == len(configuration_json["items"])
    assert all(unicodedata.is_normalized("NFC", cell) for line in lines for cell in line)
