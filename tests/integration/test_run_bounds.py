"""Runs that finish, and finish right, whatever the upstreams do (over real HTTP against the
simulator): abandonment is final, runs have a deadline, every misbehaving upstream ends a run
``partial`` with its reason and changes nothing, and hostile but working upstreams always
succeed."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from app.models import Finding, RunStatus
from app.models.types import utcnow
from app.reconcile.executor import fail_abandoned_runs
from app.simulator.server import SimulatorServer
from tests.integration.conftest import set_faults, settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


async def start_run(service: Any, **body: Any) -> str:
    response = await service.post("/reconcile", json={**PERIOD, **body})
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def wait_until(condition: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def listing_requests(sim: SimulatorServer) -> int:
    return sum(n for label, n in sim.state.requests.items() if not label.endswith(".token"))


async def findings_of(service: Any) -> list[tuple[Any, ...]]:
    async with service.app.state.session_factory() as session:
        rows = (await session.exec(select(Finding).order_by(col(Finding.id)))).all()
    return [(f.id, f.status, f.evidence_hash, f.seen_count, f.last_run_id) for f in rows]


async def test_a_run_declared_abandoned_stops_calling_upstreams_and_never_writes(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    # Small pages and a slow upstream: the run needs hundreds of requests and many seconds.
    set_faults(sim, latency_ms=40)
    service = await service_factory(
        settings_for(sim, database_url, provincial_page_size=5, run_lease_seconds=3)
    )
    run_id = await start_run(service)
    await wait_until(lambda: listing_requests(sim) > 20)

    # Another replica's janitor, whose clock sees the lease expired (this replica hung, say),
    # declares the run abandoned in the shared database. Its clock is a minute ahead rather than
    # the lease set back: a heartbeat (every second here) renews a set-back lease before the
    # janitor looks, but never a minute ahead.
    factory = service.app.state.session_factory
    later = utcnow() + timedelta(seconds=60)
    # The janitor skips a row another transaction holds (the run's heartbeat, say) and takes
    # it on its next pass: so does this one.
    abandoned: list[str] = []
    for _ in range(50):
        abandoned = await fail_abandoned_runs(factory, now=later)
        if abandoned:
            break
        await asyncio.sleep(0.1)
    assert abandoned == [run_id]

    # Within a heartbeat (a second here) the run's task is cancelled: no request after that.
    await asyncio.wait_for(service.app.state.executor.wait(run_id), timeout=10)
    settled = listing_requests(sim)
    await asyncio.sleep(1.5)
    assert listing_requests(sim) == settled
    assert sum(sim.state.in_flight.values()) == 0

    run = (await service.get(f"/runs/{run_id}")).json()
    assert run["status"] == "failed"
    assert any("abandoned" in error for error in run["errors"])
    assert await findings_of(service) == []
    # The province is free: a new run starts and finishes.
    set_faults(sim)
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"


async def test_a_run_past_its_deadline_ends_partial_with_its_reason(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    service = await service_factory(settings_for(sim, sqlite_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    before = await findings_of(service)

    set_faults(sim, latency_ms=200)
    slow = await service_factory(
        settings_for(sim, sqlite_url, provincial_page_size=5, run_deadline_s=1.5)
    )
    started = time.monotonic()
    run = await slow.reconcile(full=True, **PERIOD)
    assert time.monotonic() - started < 5
    assert run["status"] == "partial"
    assert run["errors"] == ["deadline: the run did not finish within 1.5 s (RUN_DEADLINE_S)"]
    assert await findings_of(slow) == before


MISBEHAVIOURS = {
    # listing, mode → what the run's reason says
    ("provincial.procedures", "trickle"): "deadline: no complete answer within 1 s",
    ("provincial.procedures", "endless"): "kept growing",
    ("provincial.procedures", "huge_total"): "more than the ceiling",
    ("national.thong-tin-thu-huong", "padded"): "response larger than",
    ("national.thong-tin-thu-huong", "deep_json"): "response is not JSON",
    ("national.thong-tin-thu-huong", "huge_total"): "more than the ceiling",
}


async def test_every_misbehaving_upstream_ends_the_run_partial_and_changes_nothing(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    overrides = {
        "upstream_request_deadline_s": 1.0,
        "upstream_max_attempts": 2,
        "upstream_max_body_bytes": 4 * 1024 * 1024,
        "upstream_max_pages": 1000,
        "run_deadline_s": 60,
    }
    service = await service_factory(settings_for(sim, sqlite_url, **overrides))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    before = await findings_of(service)
    unsynced_before = await service.all_unsynced()
    for (listing, mode), reason in MISBEHAVIOURS.items():
        set_faults(sim, misbehave=[f"{listing}:{mode}"], trickle_interval_s=0.2, pad_bytes=10**8)
        started = time.monotonic()
        run = await service.reconcile(full=True, **PERIOD)
        elapsed = time.monotonic() - started
        assert run["status"] == "partial", (mode, run["errors"])
        assert any(reason in error for error in run["errors"]), (mode, run["errors"])
        assert elapsed < 30, (mode, elapsed)
        assert await findings_of(service) == before, mode
    set_faults(sim)
    assert await service.all_unsynced() == unsynced_before


@pytest.mark.slow
async def test_hostile_but_working_upstreams_succeed_every_time(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    """Tokens that die after 9 uses; 429, 503 and N's "99" (or P's 502) in streaks of eight
    requests in every fifty: a page alone in a streak meets eight failures in a row, more than
    one round of five attempts can ride out (two rounds can: the streaks are counted in
    requests, so the pause between rounds does not help here as it does against a bad minute)."""
    sim = tay_ninh_clean
    set_faults(sim, token_max_uses=9, streak_every=50, streak_length=8, retry_after_s=0)
    service = await service_factory(
        settings_for(sim, sqlite_url, provincial_page_size=100, national_page_size=100)
    )
    outcomes, exhausted_rounds, refreshes = [], 0, 0
    for _ in range(20):
        run = await service.reconcile(full=True, **PERIOD)
        outcomes.append(run["status"])
        assert run["status"] == "succeeded", run["errors"]
        stats = run["upstream_stats"]
        exhausted_rounds += stats["provincial"]["failures"] + stats["national"]["failures"]
        refreshes += stats["provincial"]["token_refreshes"] + stats["national"]["token_refreshes"]
    assert outcomes.count("succeeded") == 20
    assert refreshes > 20
    assert exhausted_rounds > 0  # the second round was needed, and it sufficed
    summary, _ = await service.all_unsynced()
    assert summary["tinh"]["not_synced"] == 348


async def test_runs_are_logged_at_start_and_end(
    tay_ninh_clean: SimulatorServer,
    sqlite_url: str,
    service_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = tay_ninh_clean
    service = await service_factory(settings_for(sim, sqlite_url, upstream_max_attempts=2))
    set_faults(sim, fail_pages=["national.thong-tin-thu-huong:2"])
    with caplog.at_level(logging.INFO, logger="app"):
        run = await service.reconcile(**PERIOD)
    assert run["status"] == "partial"
    started = [r for r in caplog.records if r.getMessage().startswith("run started")]
    finished = [r for r in caplog.records if r.getMessage().startswith("run finished")]
    assert [r.__dict__["run_id"] for r in started] == [run["run_id"]]
    assert [r.__dict__["run_id"] for r in finished] == [run["run_id"]]
    end = finished[0]
    assert end.levelno == logging.WARNING
    assert (end.__dict__["province"], end.__dict__["scope"], end.__dict__["outcome"]) == (
        "H53",
        "procedures",
        RunStatus.PARTIAL,
    )
    assert "thong-tin-thu-huong" in end.__dict__["reason"]
    assert end.__dict__["duration_s"] > 0
    retries = [r for r in caplog.records if r.getMessage().startswith("upstream retry")]
    assert retries
    assert all(r.levelno == logging.WARNING for r in retries)
    assert {r.__dict__["listing"] for r in retries} == {"national.payment_info"}
    assert {r.__dict__["page"] for r in retries} == {2}
    secrets = ("provincial-secret", "national-secret", "Bearer ")
    assert not [r for r in caplog.records for s in secrets if s in r.getMessage()]
