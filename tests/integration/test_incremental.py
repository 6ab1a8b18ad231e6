"""Incremental polling against the simulator over HTTP, on SQLite and PostgreSQL: a run with
nothing changed writes nothing but its own record; a change on P is judged alone; a deletion
waits for a full re-check; an incomplete page still changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import col, select

from app.domain.values import format_local_time, parse_local_time
from app.models import Agency, Finding, FindingEvent, OutboxEvent, ProcedureSnapshot
from app.models.types import utcnow
from app.simulator.server import SimulatorServer
from tests.integration.conftest import set_faults, settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


@pytest.fixture
def sim(tay_ninh_clean: SimulatorServer) -> Iterator[SimulatorServer]:
    yield tay_ninh_clean
    httpx.delete(f"{tay_ninh_clean.base_url}/_sim/procedures", params={"all": "true"}, timeout=10)


def put_procedure(sim: SimulatorServer, item: dict[str, Any]) -> None:
    response = httpx.put(f"{sim.base_url}/_sim/procedures", json=item, timeout=10)
    assert response.status_code == 200, response.text


def delete_procedure(sim: SimulatorServer, item: dict[str, Any]) -> None:
    params = {"MaTTHC": item["MaTTHC"], "MaDonVi": item["MaDonVi"]}
    response = httpx.delete(f"{sim.base_url}/_sim/procedures", params=params, timeout=10)
    assert response.status_code == 200, response.text


def key_of(item: dict[str, Any]) -> str:
    return f"{item['MaTTHC'].strip().upper()}|{item['MaDonVi'].strip().upper()}"


def now_local() -> str:
    return format_local_time(utcnow())


async def stored_state(service: Any) -> dict[str, Any]:
    """Every row a procedure run may write, with the columns that say it was written."""
    async with service.app.state.session_factory() as session:
        snapshots = await session.exec(
            select(
                ProcedureSnapshot.key,
                ProcedureSnapshot.fingerprint,
                ProcedureSnapshot.run_id,
                ProcedureSnapshot.updated_at,
            ).order_by(col(ProcedureSnapshot.key))
        )
        findings = await session.exec(
            select(
                Finding.id,
                Finding.status,
                Finding.evidence_hash,
                Finding.seen_count,
                Finding.last_seen_at,
            ).order_by(col(Finding.id))
        )
        agencies = await session.exec(select(Agency.code, Agency.updated_at))
        history = await session.exec(select(FindingEvent.id))
        outbox = await session.exec(select(OutboxEvent.id, OutboxEvent.event_type))
        return {
            "snapshots": list(snapshots.all()),
            "findings": list(findings.all()),
            "agencies": sorted(agencies.all()),
            "finding_events": len(history.all()),
            "outbox": sorted(outbox.all()),
        }


class WriteCounter:
    """Counts INSERT, UPDATE and DELETE statements per table on the service's engine."""

    def __init__(self, service: Any) -> None:
        self.engine = service.app.state.engine.sync_engine
        self.writes: list[str] = []

    def __enter__(self) -> WriteCounter:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = (words[2] if verb in ("INSERT", "DELETE") else words[1]).strip('"')
            self.writes.append(f"{verb} {table}")

    def beyond(self, *tables: str) -> list[str]:
        return [w for w in self.writes if w.split()[1] not in tables]


async def test_a_second_run_with_nothing_changed_writes_only_its_own_record(
    sim: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(sim, database_url))
    first = await service.reconcile(**PERIOD)
    assert first["status"] == "succeeded", first["errors"]
    assert first["counts"]["mode"] == "full"
    before = await stored_state(service)
    assert before["snapshots"]
    assert before["findings"]

    with WriteCounter(service) as counter:
        second = await service.reconcile(**PERIOD)
    assert second["status"] == "succeeded", second["errors"]
    counts = second["counts"]
    assert counts["mode"] == "incremental"
    assert datetime.fromisoformat(counts["updated_since"]) < datetime.fromisoformat(
        first["started_at"]
    )
    # P sends again only what changed, and items whose NgayCapNhat it cannot compare.
    undated = [p for p in sim.state.procedures() if parse_local_time(p["NgayCapNhat"]) is None]
    assert second["listings"]["provincial.procedures"]["read"] == len(undated)
    assert second["listings"]["provincial.procedures"]["distinct"] == len(sim.state.procedures())
    assert counts["keys"]["judged"] == 0
    assert counts["summary"] == first["counts"]["summary"]
    assert counts["findings"] == {
        "opened": 0,
        "updated": 0,
        "resolved": 0,
        "unchanged": first["counts"]["findings"]["opened"],
    }

    after = await stored_state(service)
    # The run's row and its run.completed event (semantics §0) are all it wrote.
    assert counter.beyond("runs", "outbox_events") == []
    assert [w for w in counter.writes if w.endswith("outbox_events")] == ["INSERT outbox_events"]
    new_events = sorted(set(after["outbox"]) - set(before["outbox"]))
    assert [event_type for _, event_type in new_events] == ["run.completed"]
    assert {k: v for k, v in after.items() if k != "outbox"} == {
        k: v for k, v in before.items() if k != "outbox"
    }

    # Findings are not rewritten, yet they say the second run saw them (derived from the runs).
    finding = (await service.get("/procedures/unsynced", params={"limit": 1})).json()["items"][0]
    detail = (await service.get(f"/procedures/{finding['procedure_code']}")).json()
    seen = detail["open_findings"][0]
    assert seen["seen_count"] == 2
    assert seen["last_seen_at"] == second["finished_at"]


async def test_changes_on_p_are_judged_alone_and_deletions_wait_for_a_full_recheck(
    sim: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(sim, database_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    items = (await service.all_unsynced())[1]
    unsynced = {(i["procedure_code"], i["agency_code"]) for i in items}
    # On P only: deleting it on P leaves the key on neither side.
    p_only = {
        (i["procedure_code"], i["agency_code"]) for i in items if "not_on_national" in i["reasons"]
    }
    procedures = sim.state.procedures()
    synced = next(
        p
        for p in procedures
        if p["DanhSachLePhi"]
        and any(fee["Gia"] not in ("0", "") for fee in p["DanhSachLePhi"])
        and tuple(key_of(p).split("|")) not in unsynced
        and p["ThongTinThuHuong"]
    )
    doomed = next(p for p in procedures if tuple(key_of(p).split("|")) in p_only)

    # P blanks the account of a synced configuration and adds a new configuration.
    broken = {
        **synced,
        "ThongTinThuHuong": {**synced["ThongTinThuHuong"], "TKThuHuong": ""},
        "NgayCapNhat": now_local(),
    }
    added = {
        **synced,
        "MaDonVi": "000.00.99.H53",
        "DanhSachLePhi": [],
        "NgayCapNhat": now_local(),
    }
    put_procedure(sim, broken)
    put_procedure(sim, added)
    delete_procedure(sim, doomed)

    second = await service.reconcile(**PERIOD)
    assert second["status"] == "succeeded", second["errors"]
    assert second["counts"]["mode"] == "incremental"
    undated = [p for p in procedures if parse_local_time(p["NgayCapNhat"]) is None]
    assert second["listings"]["provincial.procedures"]["read"] == 2 + len(undated)
    assert (second["counts"]["keys"]["judged"], second["counts"]["keys"]["removed"]) == (2, 0)
    assert second["counts"]["findings"]["opened"] == 1
    assert second["counts"]["findings"]["resolved"] == 0  # the deletion is not seen yet
    async with service.app.state.session_factory() as session:
        opened = (
            await session.exec(
                select(Finding).where(
                    col(Finding.subject_key) == key_of(broken), col(Finding.status) == "open"
                )
            )
        ).all()
        assert [f.reason for f in opened] == ["missing_payment_info"]
        added_row = await session.get(ProcedureSnapshot, ("H53", key_of(added)))
        assert added_row is not None
        assert added_row.kind == "unpaid"
        assert await session.get(ProcedureSnapshot, ("H53", key_of(doomed))) is not None

    full = await service.reconcile(full=True, **PERIOD)
    assert full["status"] == "succeeded", full["errors"]
    assert full["counts"]["mode"] == "full"
    assert full["counts"]["full_check_reason"] == "asked for"
    assert full["counts"]["keys"]["removed"] == 1
    assert full["counts"]["findings"]["opened"] == 0
    assert full["counts"]["findings"]["resolved"] >= 1
    async with service.app.state.session_factory() as session:
        assert await session.get(ProcedureSnapshot, ("H53", key_of(doomed))) is None
        still_open = (
            await session.exec(
                select(Finding).where(
                    col(Finding.subject_key) == key_of(doomed), col(Finding.status) == "open"
                )
            )
        ).all()
        assert still_open == []


async def test_an_incomplete_incremental_read_changes_nothing(
    sim: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(sim, database_url, upstream_max_attempts=2))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    procedure = next(p for p in sim.state.procedures() if p["DanhSachLePhi"])
    put_procedure(sim, {**procedure, "ThongTinThuHuong": None, "NgayCapNhat": now_local()})
    before = await stored_state(service)

    set_faults(sim, fail_pages=["provincial.procedures:0"])
    partial = await service.reconcile(**PERIOD)
    assert partial["status"] == "partial"
    assert partial["listings"]["provincial.procedures"]["updated_since"] is not None
    after = await stored_state(service)
    assert {k: v for k, v in after.items() if k != "outbox"} == {
        k: v for k, v in before.items() if k != "outbox"
    }
    assert [t for _, t in sorted(set(after["outbox"]) - set(before["outbox"]))] == ["run.failed"]


async def test_a_full_recheck_is_due_after_the_configured_interval(
    sim: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(sim, sqlite_url, procedure_full_check_every="1s"))
    assert (await service.reconcile(**PERIOD))["counts"]["mode"] == "full"
    await asyncio.sleep(1.1)
    due = await service.reconcile(**PERIOD)
    assert due["counts"]["mode"] == "full"
    assert due["counts"]["full_check_reason"].startswith("the last full re-check started")
