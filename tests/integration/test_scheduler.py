"""Scheduled ticks: each fires in exactly one replica, and a tick during an active run is skipped
and recorded. Two services on one database stand for two replicas; a settable clock stands for
time passing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.domain.records import Period
from app.models import RunScope, TickOutcome
from app.models.types import utcnow
from app.reconcile.runs import RunRequest, submit_run
from app.scheduler import Scheduler, slot_start, tick_slot
from app.settings import Settings, parse_interval
from tests.conftest import make_settings
from tests.integration.test_dossier_run import World, world  # noqa: F401  (fixture)

EVERY = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        # Just after the start of the current tick: real time, so retention leaves its rows be.
        self.now = slot_start(tick_slot(utcnow(), EVERY), EVERY) + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now


def scheduler_of(service: Any, clock: Clock) -> Scheduler:
    state = service.app.state
    return Scheduler(
        state.session_factory,
        state.executor,
        provinces=["H53"],
        intervals={"dossiers": EVERY},
        poll_seconds=1,
        clock=clock,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_each_tick_fires_in_one_replica_only(
    world: World,  # noqa: F811
    database_url: str,
    service_factory: Any,
    clock: Clock,
) -> None:
    replicas = [await service_factory(make_settings(database_url)) for _ in range(3)]
    schedulers = [scheduler_of(service, clock) for service in replicas]

    fired = [f for s in schedulers for f in await s.tick()]
    assert [f.outcome for f in fired] == [TickOutcome.STARTED]
    first = fired[0].run_id
    assert first is not None
    # Polling again within the same interval fires nothing anywhere.
    assert [f for s in schedulers for f in await s.tick()] == []
    for service in replicas:
        await service.app.state.executor.wait(first)
    run = (await replicas[2].get(f"/runs/{first}")).json()
    assert (run["status"], run["trigger"], run["scope"]) == ("succeeded", "schedule", "dossiers")

    clock.now += EVERY
    fired = [f for s in reversed(schedulers) for f in await s.tick()]
    assert [f.outcome for f in fired] == [TickOutcome.STARTED]
    assert fired[0].run_id != first
    for service in replicas:
        await service.app.state.executor.wait(fired[0].run_id or "")

    shown = await replicas[1].get("/schedules")
    assert shown.status_code == 200, shown.text
    dossiers = next(s for s in shown.json()["schedules"] if s["scope"] == "dossiers")
    assert [t["outcome"] for t in dossiers["ticks"]] == ["started", "started"]
    assert [t["run_id"] for t in dossiers["ticks"]] == [fired[0].run_id, first]


async def test_a_tick_during_an_active_run_is_skipped_and_recorded(
    world: World,  # noqa: F811
    database_url: str,
    service_factory: Any,
    clock: Clock,
) -> None:
    service = await service_factory(make_settings(database_url))
    # A queued run is active: submitted by some replica, not started yet.
    submission = await submit_run(
        service.app.state.session_factory,
        province_code="H53",
        request=RunRequest(RunScope.PROCEDURES, Period(date(2023, 9, 1), date(2023, 9, 30))),
        trigger="api",
        owner="elsewhere",
        lease=timedelta(minutes=5),
    )
    active = submission.run.id
    (fired,) = await scheduler_of(service, clock).tick()
    assert fired.outcome == TickOutcome.SKIPPED
    assert fired.run_id == active
    assert fired.detail is not None
    assert active in fired.detail

    runs = (await service.get("/runs")).json()["items"]
    assert [r["run_id"] for r in runs] == [active]  # the skipped tick started nothing
    ticks = (await service.get("/schedules")).json()["schedules"]
    (tick,) = next(s for s in ticks if s["scope"] == "dossiers")["ticks"]
    assert (tick["outcome"], tick["run_id"]) == ("skipped", active)


def test_intervals_parse_and_off_disables() -> None:
    assert parse_interval("15m") == timedelta(minutes=15)
    assert parse_interval("off") is None
    settings = Settings(_env_file=None, schedule_dossiers_every="off")  # type: ignore[call-arg]
    assert settings.schedule_intervals() == {"procedures": timedelta(minutes=15)}
    for wrong in ("15 minutes", "5m,10m", "10ms"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, schedule_procedures_every=wrong)  # type: ignore[call-arg]
