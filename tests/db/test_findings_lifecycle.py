"""The findings lifecycle (DESIGN promise 3) and its outbox events, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from app.db import SessionFactory, create_engine, create_session_factory
from app.migrate import upgrade
from app.models import Finding, FindingEvent, OutboxEvent
from app.reconcile.findings import ObservedFinding, apply_findings

KIND = "procedure_configuration"
T0 = datetime(2023, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


def seen(key: str, reason: str, **evidence: Any) -> ObservedFinding:
    return ObservedFinding(
        subject_kind=KIND,
        subject_key=key,
        reason=reason,
        evidence=evidence or {"provincial": {"raw": "1"}, "national": {"raw": "2"}},
        procedure_code=key.split("|")[0],
        agency_code=key.split("|")[1],
        level="tinh",
        subject={"kind": KIND, "key": key},
        link=f"/procedures/{key.split('|')[0]}",
    )


async def run(
    factory: SessionFactory,
    observed: list[ObservedFinding],
    n: int,
    *,
    dry_run: bool = False,
    in_reach: list[str] | None = None,
) -> dict[str, int]:
    async with factory() as session:
        changes = await apply_findings(
            session,
            province_code="H53",
            subject_kind=KIND,
            observed=observed,
            run_id=f"run-{n}",
            now=T0 + timedelta(hours=n),
            dry_run=dry_run,
            in_reach=in_reach,
        )
        await session.commit()
    return changes.counts()


async def event_types(factory: SessionFactory) -> list[str]:
    async with factory() as session:
        rows = await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))
        return [e.event_type for e in rows.all()]


async def findings(factory: SessionFactory) -> list[Finding]:
    async with factory() as session:
        return list((await session.exec(select(Finding).order_by(col(Finding.id)))).all())


A = "1.004227|000.00.15.H53"


async def test_open_then_unchanged_then_updated_then_resolved_then_reopened(
    factory: SessionFactory,
) -> None:
    assert await run(factory, [seen(A, "account_mismatch")], 1) == {
        "opened": 1,
        "updated": 0,
        "resolved": 0,
        "unchanged": 0,
    }
    assert (await run(factory, [seen(A, "account_mismatch")], 2))["unchanged"] == 1
    assert await event_types(factory) == ["mismatch.opened"]

    [finding] = await findings(factory)
    assert finding.seen_count == 2
    assert finding.first_seen_at == T0 + timedelta(hours=1)
    assert finding.last_seen_at == T0 + timedelta(hours=2)

    changed = seen(A, "account_mismatch", provincial={"raw": "9"}, national={"raw": "2"})
    assert (await run(factory, [changed], 3))["updated"] == 1
    assert (await run(factory, [], 4))["resolved"] == 1
    assert (await run(factory, [seen(A, "account_mismatch")], 5))["opened"] == 1
    assert await event_types(factory) == [
        "mismatch.opened",
        "mismatch.updated",
        "mismatch.resolved",
        "mismatch.opened",
    ]

    first, second = await findings(factory)
    assert (first.status, first.episode, first.resolved_run_id) == ("resolved", 1, "run-4")
    assert (second.status, second.episode, second.first_run_id) == ("open", 2, "run-5")
    async with factory() as session:
        history = (
            await session.exec(select(FindingEvent.change).order_by(col(FindingEvent.id)))
        ).all()
    assert list(history) == ["opened", "updated", "resolved", "opened"]


async def test_event_payload_carries_subject_reason_evidence_and_link(
    factory: SessionFactory,
) -> None:
    await run(factory, [seen(A, "bank_mismatch")], 1)
    async with factory() as session:
        [event] = (await session.exec(select(OutboxEvent))).all()
    payload = event.payload
    assert payload["type"] == "mismatch.opened"
    data = payload["data"]
    assert data["reason"] == "bank_mismatch"
    assert data["subject"]["key"] == A
    assert data["evidence"] == {"provincial": {"raw": "1"}, "national": {"raw": "2"}}
    assert data["run_id"] == "run-1"
    assert data["link"] == "/procedures/1.004227"
    assert event.agency_code == "000.00.15.H53"


async def test_dry_run_writes_nothing(factory: SessionFactory) -> None:
    assert (await run(factory, [seen(A, "bank_mismatch")], 1, dry_run=True))["opened"] == 1
    assert await findings(factory) == []
    assert await event_types(factory) == []


async def test_resolution_is_limited_to_the_runs_reach(factory: SessionFactory) -> None:
    other = "1.000001|000.00.01.H53"
    await run(factory, [seen(A, "bank_mismatch"), seen(other, "bank_mismatch")], 1)
    assert (await run(factory, [], 2, in_reach=[A]))["resolved"] == 1
    statuses = {f.subject_key: f.status for f in await findings(factory)}
    assert statuses == {A: "resolved", other: "open"}


async def test_each_reason_of_a_subject_is_its_own_finding(factory: SessionFactory) -> None:
    await run(factory, [seen(A, "bank_mismatch"), seen(A, "account_mismatch")], 1)
    await run(factory, [seen(A, "account_mismatch")], 2)
    statuses = {f.reason: f.status for f in await findings(factory)}
    assert statuses == {"bank_mismatch": "resolved", "account_mismatch": "open"}
