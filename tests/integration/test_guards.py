"""The sharp-drop guard (semantics §0) and abandoned runs (DESIGN promise 1, 6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from app.db import create_engine, create_session_factory
from app.migrate import upgrade
from app.models import Finding, OutboxEvent, Run, RunStatus
from app.models.types import utcnow
from app.reconcile.executor import fail_abandoned_runs
from app.simulator.server import SimulatorServer
from tests.integration.conftest import settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


@pytest.fixture(scope="module")
def small() -> Iterator[SimulatorServer]:
    with SimulatorServer("small") as sim:
        yield sim


async def test_a_sharp_drop_is_partial_unless_accepted(
    tay_ninh_clean: SimulatorServer, small: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    full = await service_factory(settings_for(tay_ninh_clean, sqlite_url))
    assert (await full.reconcile(**PERIOD))["status"] == "succeeded"
    opened_before = (await full.all_unsynced())[1]

    # The same database, but the upstreams now answer with a few dozen items instead of ~1,900.
    # Only a full re-check reads all of P (deletions are invisible to updatedSince).
    shrunk = await service_factory(settings_for(small, sqlite_url))
    dropped = await shrunk.reconcile(full=True, **PERIOD)
    assert dropped["status"] == "partial"
    assert any(error.startswith("sharp drop: provincial.procedures") for error in dropped["errors"])
    assert (await shrunk.all_unsynced())[1] == opened_before

    accepted = await shrunk.reconcile(accept_drop=True, full=True, **PERIOD)
    assert accepted["status"] == "succeeded"
    assert accepted["counts"]["findings"]["resolved"] > 300
    summary = (await shrunk.all_unsynced())[0]
    assert summary == {
        level: s.model_dump() for level, s in small.state.scenario.truth.summary.items()
    }


async def test_a_run_whose_lease_expired_is_failed_as_abandoned(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    factory = create_session_factory(engine)
    now = utcnow()
    async with factory() as session:
        session.add_all(
            [
                Run(
                    id="dead",
                    province_code="H53",
                    scope="procedures",
                    status=RunStatus.RUNNING,
                    period_from=now.date(),
                    period_to=now.date(),
                    request_key="k",
                    active_province="H53",
                    lease_owner="replica-a",
                    lease_expires_at=now - timedelta(seconds=1),
                ),
                Run(
                    id="alive",
                    province_code="H54",
                    scope="procedures",
                    status=RunStatus.RUNNING,
                    period_from=now.date(),
                    period_to=now.date(),
                    request_key="k",
                    active_province="H54",
                    lease_owner="replica-b",
                    lease_expires_at=now + timedelta(minutes=1),
                ),
            ]
        )
        await session.commit()
    assert await fail_abandoned_runs(factory) == ["dead"]
    async with factory() as session:
        dead = await session.get(Run, "dead")
        alive = await session.get(Run, "alive")
        events = (await session.exec(select(OutboxEvent))).all()
        findings = (await session.exec(select(Finding).where(col(Finding.id) > 0))).all()
    assert dead is not None
    assert alive is not None
    assert (dead.status, dead.active_province) == ("failed", None)
    assert "abandoned" in dead.errors[-1]
    assert alive.status == "running"
    assert [e.event_type for e in events] == ["run.failed"]
    assert findings == []
    await engine.dispose()
