"""A dossier run end to end on both databases, with respx playing P and N: every reason of §3,
offline payments, orphans, the snapshot, findings and their events, and re-runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text
from sqlmodel import col, select

from app.db import DOSSIER_RUN_TABLES
from app.domain.dossiers import dossier_link
from app.models import Dossier, Finding, OrphanTransaction, OutboxEvent, StageItem
from tests.conftest import make_settings
from tests.upstream_pages import TOKEN, envelope, spring

P = "http://provincial.test/api"
N = "http://national.test/gateway"
AGENCY = "000.00.15.H53"
PERIOD = {"scope": "dossiers", "period_from": "2023-09-01", "period_to": "2023-09-30"}


def code(n: int, day: str = "230905") -> str:
    return f"{AGENCY}-{day}-{n:04d}"


def p_item(n: int, *, gia: str = "100000", pay: dict[str, Any] | None = None, **extra: Any) -> Any:
    return {
        "MaHoSo": code(n),
        "MaTTHC": "1.004227",
        "MaDonVi": AGENCY,
        "KenhThucHien": 2,
        "NgayTiepNhan": "20230905080000",
        "NgayHenTra": "20230915170000",
        "NgayKetThucXuLy": None,
        "TrangThaiHoSo": 4,
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "Gia": gia}],
        "ThanhToan": pay,
        "DaDongBo": True,
        "NgayCapNhat": "20230905090000",
        **extra,
    }


def portal(ref: str, amount: str = "100000") -> dict[str, Any]:
    return {"HinhThuc": "DVCQG", "SoTien": amount, "MaThamChieu": ref, "NgayThanhToan": ""}


def n_item(n: int, flag: str = "1", status: str = "4", gia: str = "100000") -> Any:
    return {
        "MaHoSo": code(n),
        "TrangThaiHoSo": status,
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "Gia": gia}],
        "DuocThanhToanTrucTuyen": flag,
        "NgayDongBo": "20230905100000",
    }


def tx(tid: str, ref: str | None, dossier: str, state: str = "1", amount: str = "100000") -> Any:
    return {
        "MaGiaoDich": tid,
        "MaThamChieu": ref,
        "MaHoSo": dossier,
        "MaDonVi": AGENCY,
        "SoTien": amount,
        "TrangThaiGD": state,
        "ThoiGianGD": "20230906101010",
        "KenhThanhToan": "QR_DONG",
    }


class World:
    def __init__(self) -> None:
        self.p = [
            p_item(1, pay=portal("R1"), NgayKetThucXuLy="20230910100000"),  # on time
            p_item(2, pay=portal("R2")),  # not on N, no payment on the platform
            p_item(
                3,
                pay={"HinhThuc": "TIEN_MAT", "SoTien": "100000", "MaThamChieu": None},
                NgayKetThucXuLy="20230920100000",  # late
            ),
            p_item(4, pay=portal("R4"), MaHoSo="HS-2023-0004"),  # malformed code
            p_item(5, gia="0"),  # not fee-bearing
            p_item(6, pay=portal("R6", "100000")),  # verified 90000: amount mismatch
        ]
        self.n = [n_item(1), n_item(3, flag="3"), n_item(6), n_item(5, flag="3", gia="0")]
        self.n.append({**n_item(4), "MaHoSo": "HS-2023-0004"})
        self.tx = [
            tx("GD1", "R1", code(1)),
            tx("GD4", "R4", "HS-2023-0004"),
            tx("GD6", "R6", code(6), amount="90.000"),
            tx("GD9", "R9", code(99)),  # orphan: nothing in P
            tx("GD8", "R8", code(7, "230815")),  # pays a dossier from before the period
            tx("GD7", "R7", code(98), state="4"),  # failed: never an orphan
        ]


@pytest.fixture
def world() -> Iterator[World]:
    state = World()
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
        router.post("http://provincial.test/oauth/token").mock(
            return_value=httpx.Response(200, json=TOKEN)
        )
        router.post("http://national.test/oauth/token").mock(
            return_value=httpx.Response(200, json=TOKEN)
        )
        agency = {"MaDonVi": AGENCY, "TenDonVi": "Sở Xây dựng", "CapDonVi": 1}
        router.get(f"{P}/v1/agencies").mock(return_value=httpx.Response(200, json=spring([agency])))

        def page(items: Any, shape: Any) -> Any:
            def respond(request: httpx.Request) -> httpx.Response:
                first = request.url.params.get("page", request.url.params.get("pageIndex"))
                empty = first not in ("0", "1")
                return httpx.Response(200, json=shape([] if empty else items()))

            return respond

        router.get(f"{P}/v1/dossiers").mock(side_effect=page(lambda: state.p, spring))
        router.get(f"{N}/api/v1/ho-so/dong-bo").mock(side_effect=page(lambda: state.n, envelope))
        router.get(f"{N}/api/v1/thanh-toan/giao-dich").mock(
            side_effect=page(lambda: state.tx, envelope)
        )
        yield state


async def test_a_dossier_run_judges_every_dossier(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run
    counts = run["counts"]
    assert (counts["dossiers"], counts["fee_bearing"]) == (6, 5)
    assert (counts["portal_counted"], counts["verified_online"], counts["paid_offline"]) == (
        3,
        3,
        1,
    )
    assert counts["by_reason"] == {
        "invalid_dossier_code": 1,
        "dossier_not_synced": 1,
        "payment_not_on_platform": 1,
        "amount_mismatch": 1,
    }
    assert counts["orphan_transactions"] == 1

    factory = service.app.state.session_factory
    async with factory() as session:
        findings = (await session.exec(select(Finding))).all()
        assert sorted((f.subject_key, f.reason) for f in findings) == [
            (code(2), "dossier_not_synced"),
            (code(2), "payment_not_on_platform"),
            (code(6), "amount_mismatch"),
            ("HS-2023-0004", "invalid_dossier_code"),
        ]
        dossiers = {d.key: d for d in (await session.exec(select(Dossier))).all()}
        assert len(dossiers) == 6
        assert dossiers[code(3)].paid_offline
        assert not dossiers[code(5)].fee_bearing
        assert dossiers[code(1)].portal_counted
        assert dossiers[code(1)].verified_online
        orphans = (await session.exec(select(OrphanTransaction))).all()
        assert [o.transaction_id for o in orphans] == ["GD9"]
        # The listings stay as the dossiers' records; verdicts and staged findings go.
        staged = (await session.exec(select(StageItem))).all()
        assert {(s.run_id, s.listing) for s in staged} == {
            (run["run_id"], "p"),
            (run["run_id"], "n"),
            (run["run_id"], "tx"),
        }
        events = (
            await session.exec(
                select(OutboxEvent).where(col(OutboxEvent.event_type) == "mismatch.opened")
            )
        ).all()
    assert len(events) == 4
    if database_url.startswith("postgresql"):
        # The tables the run rewrote were ANALYZEd after its commit (autovacuum may be off).
        async with factory() as session:
            analyzed = await session.exec(
                text("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")
            )
            assert set(DOSSIER_RUN_TABLES) - {"finding_events"} <= set(analyzed.scalars())
    amount = next(e for e in events if e.payload["data"]["reason"] == "amount_mismatch")
    data = amount.payload["data"]
    assert data["subject"]["kind"] == "dossier"
    assert data["subject"]["agency_name"] == "Sở Xây dựng"
    assert data["evidence"]["national"] == {"raw": ["90.000"], "normalized": 90000}
    assert data["link"] == f"/dossiers/{code(6)}"

    # The agency fixes dossier 6 on the platform; dossier 2 gets synced and paid.
    world.tx[2] = tx("GD6", "R6", code(6), amount="100000")
    world.n.append(n_item(2))
    world.tx.append(tx("GD2", "R2", code(2)))
    rerun = await service.reconcile(**PERIOD)
    assert rerun["status"] == "succeeded"
    assert rerun["counts"]["findings"] == {
        "opened": 0,
        "updated": 0,
        "resolved": 3,
        "unchanged": 1,
    }
    async with factory() as session:
        staged_runs = {s.run_id for s in (await session.exec(select(StageItem))).all()}
    assert staged_runs == {rerun["run_id"]}  # the first run's records are no longer referred to

    # A dry run keeps nothing: the snapshot still refers to the run before it.
    dry = await service.reconcile(**PERIOD, dry_run=True)
    assert dry["status"] == "succeeded"
    async with factory() as session:
        staged_runs = {s.run_id for s in (await session.exec(select(StageItem))).all()}
    assert staged_runs == {rerun["run_id"]}
    detail = (await service.get(f"/dossiers/{code(2)}")).json()
    assert detail["national"]["online_flag"] == "1"
    assert [t["transaction_id"] for t in detail["transactions"]] == ["GD2"]


async def test_figures_and_lists_after_a_run(
    world: World, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    window = {"from": "2023-09-01", "to": "2023-09-30"}

    online = await service.get("/kpi/online-payment", params={**window, "group": "parent"})
    assert online.status_code == 200, online.text
    body = online.json()
    assert body["coverage"]["complete"] is True
    assert body["province"] | {"name": None} == {
        "group": "province",
        "name": None,
        "fee_bearing": 5,
        "portal_counted": 3,
        "verified_online": 3,
        "portal_rate": 0.6,
        "verified_rate": 0.6,
        "target": 0.3,
        "met": True,
    }
    assert [item["group"] for item in body["items"]] == [AGENCY]
    assert body["items"][0]["name"] == "Sở Xây dựng"
    uncovered = await service.get(
        "/kpi/online-payment", params={"from": "2023-08-01", "to": "2023-09-30"}
    )
    assert uncovered.json()["coverage"]["complete"] is False

    overdue = await service.get(
        "/kpi/overdue", params={"from_month": "2023-09", "to_month": "2023-09", "group": "province"}
    )
    assert overdue.status_code == 200, overdue.text
    assert overdue.json()["province"] == [
        {
            "month": "2023-09",
            "finished": 2,
            "overdue": 1,
            "rate": 0.5,
            "change_points": None,
            "open_past_due": 4,
        }
    ]

    listed = await service.get("/dossiers/mismatches", params={"limit": 2})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["summary"] == {
        "amount_mismatch": 1,
        "dossier_not_synced": 1,
        "invalid_dossier_code": 1,
        "payment_not_on_platform": 1,
    }
    rest = await service.get("/dossiers/mismatches", params={"cursor": page["next_cursor"]})
    seen = [(i["code"], i["reason"]) for i in page["items"] + rest.json()["items"]]
    assert len(seen) == 4
    assert len(set(seen)) == 4
    only = await service.get(
        "/dossiers/mismatches",
        params={"reason": "amount_mismatch", "agency": AGENCY.lower(), "include_descendants": True},
    )
    assert [i["code"] for i in only.json()["items"]] == [code(6)]

    offline = (await service.get("/dossiers/offline", params=window)).json()
    assert offline["agencies"] == [
        {
            "agency_code": AGENCY,
            "agency_name": "Sở Xây dựng",
            "paid_offline": 1,
            "by_method": {"TIEN_MAT": 1},
        }
    ]
    assert [d["code"] for d in offline["items"]] == [code(3)]

    detail = await service.get(f"/dossiers/{code(6)}")
    assert detail.status_code == 200, detail.text
    shown = detail.json()
    assert shown["dossier"]["verified_online"] is True
    assert [f["reason"] for f in shown["findings"]] == ["amount_mismatch"]
    # Both sides and the platform's transactions, raw values beside parsed ones.
    assert shown["provincial"]["code"] == code(6)
    assert shown["provincial"]["payment"]["reference"] == "R6"
    assert shown["provincial"]["payment"]["amount"] == 100000
    assert [f["amount_raw"] for f in shown["national"]["fees"]] == ["100000"]
    assert shown["national"]["online_flag"] == "1"
    assert [(t["transaction_id"], t["amount_raw"], t["amount"]) for t in shown["transactions"]] == [
        ("GD6", "90.000", 90000)
    ]
    unsynced = (await service.get(f"/dossiers/{code(2)}")).json()
    assert unsynced["provincial"]["payment"]["reference"] == "R2"
    assert unsynced["national"] is None
    assert unsynced["transactions"] == []

    for path, params, status in [
        ("/dossiers/NOPE-1", {}, 404),
        ("/kpi/online-payment", {"from": "2023-09-30", "to": "2023-09-01"}, 400),
        ("/kpi/online-payment", {"from": "yesterday", "to": "2023-09-01"}, 422),
        ("/kpi/online-payment", {**window, "group": "district"}, 422),
        ("/kpi/overdue", {"from_month": "2023-13", "to_month": "2023-09"}, 400),
        ("/kpi/overdue", {"from_month": "2023-10", "to_month": "2023-09"}, 400),
        ("/kpi/overdue", {"from_month": "Sep", "to_month": "2023-09"}, 422),
        ("/dossiers/mismatches", {"reason": "whatever"}, 422),
        ("/dossiers/mismatches", {"cursor": "!!"}, 400),
        ("/dossiers/offline", {}, 422),
    ]:
        response = await service.get(path, params=params)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


# Codes old data holds: each fails the MaHoSo pattern (invalid_dossier_code), and each must open.
ODD_CODES = [
    "HS 2023/0007",  # a space and a slash
    "HỒ SƠ-ĐẶC BIỆT-0008",  # Vietnamese letters
    "HS%2F0009%",  # a literal percent sign: decoded once, it must stay as it is
    "HS?0010#A",  # what would end a path
    "../0011",  # not a way out of /dossiers
]


def links_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "link" and isinstance(v, str)]
        return found + [link for v in value.values() for link in links_in(v)]
    if isinstance(value, list):
        return [link for v in value for link in links_in(v)]
    return []


async def test_every_link_of_every_list_opens(
    world: World, database_url: str, service_factory: Any
) -> None:
    offline = {"HinhThuc": "TIEN_MAT", "SoTien": "100000", "MaThamChieu": None}
    for n, odd in enumerate(ODD_CODES, start=7):
        world.p.append(p_item(n, MaHoSo=odd, pay=offline))
        world.n.append({**n_item(n, flag="3"), "MaHoSo": odd})
    service = await service_factory(make_settings(database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run
    assert run["counts"]["by_reason"]["invalid_dossier_code"] == 1 + len(ODD_CODES)

    window = {"from": "2023-09-01", "to": "2023-09-30"}
    lists = [
        ("/procedures/unsynced", {}),
        ("/procedures/orphans", {}),
        ("/dossiers/mismatches", {}),
        ("/dossiers/mismatches", {"reason": "invalid_dossier_code"}),
        ("/dossiers/offline", window),
        ("/dossiers/orphan-transactions", {}),
        ("/runs", {}),
    ]
    links: set[str] = set()
    for path, params in lists:
        listed = await service.get(path, params={**params, "limit": 500})
        assert listed.status_code == 200, (path, listed.text)
        links.update(links_in(listed.json()))
    odd_links = {link for link in links if link.startswith("/dossiers/")}
    assert len(odd_links) >= 3 + len(ODD_CODES)  # mismatches and offline, odd codes included
    opened: set[str] = set()
    for link in sorted(links):
        response = await service.get(link)
        assert response.status_code == 200, (link, response.text)
        if link.startswith("/dossiers/"):
            opened.add(response.json()["dossier"]["code"])
    assert set(ODD_CODES) <= opened
    # Each odd dossier opens by its link, and its link is the one the dossier shows.
    for odd in ODD_CODES:
        shown = (await service.get(dossier_link(odd))).json()
        assert shown["dossier"]["code"] == odd
        assert shown["dossier"]["link"] == dossier_link(odd)
        assert [f["reason"] for f in shown["findings"]] == ["invalid_dossier_code"]
