"""Scheduled ticks: each fires in exactly one replica, on an interval or a cron, and a tick during
an active run is skipped and recorded; a job (the monthly report) fires through the same claim.
Two services on one database stand for two replicas; a settable clock stands for time passing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError
from sqlmodel import col, select

from app.cadence import Cadence, Cron, Interval, slot_start, tick_slot
from app.domain.records import Period
from app.main import create_app
from app.models import RunScope, ScheduleTick, TickOutcome
from app.models.types import utcnow
from app.reconcile.executor import RunRequest, submit_run
from app.scheduler import Job, Scheduler
from app.settings import Settings, parse_interval
from tests.conftest import ADMIN_KEY, make_settings
from tests.integration.test_dossier_run import World, world  # noqa: F401  (fixture)

EVERY = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        # Just after the start of the current tick: real time, so retention leaves its rows be.
        self.now = slot_start(tick_slot(utcnow(), EVERY), EVERY) + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now


def scheduler_of(
    service: Any,
    clock: Any,
    cadences: dict[str, Cadence] | None = None,
    jobs: dict[str, Job] | None = None,
) -> Scheduler:
    state = service.app.state
    return Scheduler(
        state.session_factory,
        state.executor,
        provinces=["H53"],
        cadences={"dossiers": Interval(EVERY)} if cadences is None else cadences,
        poll_seconds=1,
        jobs=jobs,
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
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        schedule_dossiers_every="off",
        schedule_report_cron="off",
    )
    assert settings.schedule_cadences() == {"procedures": Interval(timedelta(minutes=15))}
    for wrong in ("15 minutes", "5m,10m", "10ms"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, schedule_procedures_every=wrong)  # type: ignore[call-arg]


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
MONTHLY = Cron("0 7 1 * *", VIETNAM)
DAILY = Cron("0 7 * * *", VIETNAM)


class CronClock:
    def __init__(self, cron: Cron) -> None:
        # Just after the cron's latest real fire time: real time, so retention leaves its rows be.
        self.now = cron.slot_at(utcnow()).due_at + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now


async def together(schedulers: list[Scheduler]) -> list[Any]:
    """One poll of every replica at once, as replicas polling the same moment would."""
    return [f for batch in await asyncio.gather(*(s.tick() for s in schedulers)) for f in batch]


async def stored_ticks(service: Any, scope: str) -> list[ScheduleTick]:
    async with service.app.state.session_factory() as session:
        rows = await session.exec(
            select(ScheduleTick)
            .where(col(ScheduleTick.scope) == scope)
            .order_by(col(ScheduleTick.slot))
        )
        return list(rows.all())


async def test_two_replicas_fire_each_cron_tick_once(
    world: World,  # noqa: F811
    database_url: str,
    service_factory: Any,
) -> None:
    clock = CronClock(DAILY)
    replicas = [await service_factory(make_settings(database_url)) for _ in range(2)]
    schedulers = [scheduler_of(service, clock, {"dossiers": DAILY}) for service in replicas]

    fired = await together(schedulers)
    assert [f.outcome for f in fired] == [TickOutcome.STARTED]
    first_due = DAILY.slot_at(clock.now).due_at
    assert fired[0].slot == int(first_due.timestamp())
    for service in replicas:
        await service.app.state.executor.wait(fired[0].run_id or "")
    # Later the same day (local): still that day's slot, fired nowhere again.
    clock.now += timedelta(hours=23, minutes=59)
    assert await together(schedulers) == []

    # At the next 07:00 exactly, the next day's tick, once.
    clock.now = first_due + timedelta(days=1)
    fired = await together(schedulers)
    assert [f.outcome for f in fired] == [TickOutcome.STARTED]
    for service in replicas:
        await service.app.state.executor.wait(fired[0].run_id or "")
    assert await together(schedulers) == []

    ticks = await stored_ticks(replicas[1], "dossiers")
    assert [t.due_at for t in ticks] == [first_due, first_due + timedelta(days=1)]
    assert {t.due_at.astimezone(VIETNAM).time().isoformat() for t in ticks} == {"07:00:00"}
    assert [t.interval_s for t in ticks] == [86400, 86400]  # seconds since the previous fire
    runs = (await replicas[0].get("/runs")).json()["items"]
    assert sorted(r["run_id"] for r in runs) == sorted(t.run_id or "" for t in ticks)


async def test_a_job_fires_once_across_replicas_and_its_failure_is_recorded(
    database_url: str, service_factory: Any
) -> None:
    calls: list[tuple[str, datetime]] = []

    async def freeze(province_code: str, due_at: datetime) -> str:
        calls.append((province_code, due_at))
        if len(calls) > 1:
            raise RuntimeError("kho báo cáo không trả lời")  # Vietnamese text kept as it is
        return f"froze {due_at.astimezone(VIETNAM):%Y-%m}"

    clock = CronClock(MONTHLY)
    replicas = [await service_factory(make_settings(database_url)) for _ in range(2)]
    schedulers = [
        scheduler_of(service, clock, {"report": MONTHLY}, {"report": freeze})
        for service in replicas
    ]
    due = MONTHLY.slot_at(clock.now).due_at
    assert (due.astimezone(VIETNAM).day, due.astimezone(VIETNAM).hour) == (1, 7)

    fired = await together(schedulers)
    assert [(f.outcome, f.detail) for f in fired] == [
        (TickOutcome.STARTED, f"froze {due.astimezone(VIETNAM):%Y-%m}")
    ]
    assert calls == [("H53", due)]
    assert await together(schedulers) == []

    # Next month's tick: the job raises; the tick records it and is not retried in its slot.
    clock.now = MONTHLY.slot_at(clock.now).next_due_at + timedelta(seconds=1)
    fired = await together(schedulers)
    assert [(f.outcome, f.detail) for f in fired] == [
        (TickOutcome.FAILED, "RuntimeError: kho báo cáo không trả lời")
    ]
    assert len(calls) == 2
    assert await together(schedulers) == []
    assert len(calls) == 2

    shown = (await replicas[0].get("/schedules")).json()["schedules"]
    report = next(s for s in shown if s["scope"] == "report")
    assert [(t["outcome"], t["detail"], t["run_id"]) for t in report["ticks"]] == [
        ("failed", "RuntimeError: kho báo cáo không trả lời", None),
        ("started", f"froze {due.astimezone(VIETNAM):%Y-%m}", None),
    ]
    assert report["ticks"][1]["due_local"] == due.astimezone(VIETNAM).isoformat()
    # No job is registered in these services (and their scheduler is off): not enabled.
    assert (report["kind"], report["enabled"], report["next_due_at"]) == ("job", False, None)


def test_a_scheduled_scope_with_nothing_to_fire_is_refused() -> None:
    with pytest.raises(ValueError, match="report"):
        Scheduler(
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            provinces=["H53"],
            cadences={"report": MONTHLY},
            poll_seconds=1,
        )


async def test_the_app_fires_its_registered_jobs_and_shows_crons_with_next_due(
    world: World,  # noqa: F811
    sqlite_url: str,
) -> None:
    settings = make_settings(
        sqlite_url,
        scheduler_enabled=True,
        scheduler_poll_seconds=0.05,
        schedule_procedures_every="off",
        schedule_dossiers_every="off",
        schedule_dossiers_cron="0 7 * * *",
    )
    calls: list[tuple[str, datetime]] = []

    async def freeze(province_code: str, due_at: datetime) -> str:
        calls.append((province_code, due_at))
        return "frozen"

    app = create_app(settings)
    app.state.scheduled_jobs = {"report": freeze}  # what the lead's wiring will set
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://recon.test") as http,
    ):
        # Started after their latest fire times, the replica fires both slots at once.
        for _ in range(200):
            shown = (await http.get("/schedules", headers=headers)).json()["schedules"]
            by_scope = {s["scope"]: s for s in shown}
            if by_scope["report"]["ticks"] and by_scope["dossiers"]["ticks"]:
                break
            await asyncio.sleep(0.05)
        now = datetime.now(UTC)
        run_id = by_scope["dossiers"]["ticks"][0]["run_id"]
        if run_id:
            await app.state.executor.wait(run_id)

    report, dossiers = by_scope["report"], by_scope["dossiers"]
    monthly, daily = MONTHLY.slot_at(now), DAILY.slot_at(now)
    assert calls == [("H53", monthly.due_at)]
    assert {k: report[k] for k in ("kind", "every_s", "cron", "timezone", "enabled")} == {
        "kind": "job",
        "every_s": None,
        "cron": "0 7 1 * *",
        "timezone": "Asia/Ho_Chi_Minh",
        "enabled": True,
    }
    assert report["next_due_at"] == monthly.next_due_at.isoformat()
    assert report["next_due_at"].endswith("T00:00:00+00:00")
    assert report["next_due_local"].endswith("-01T07:00:00+07:00")
    assert [(t["outcome"], t["detail"]) for t in report["ticks"]] == [("started", "frozen")]

    assert (dossiers["kind"], dossiers["cron"], dossiers["every_s"]) == ("run", "0 7 * * *", None)
    assert dossiers["enabled"] is True
    assert dossiers["next_due_local"] == daily.next_due_at.astimezone(VIETNAM).isoformat()
    assert dossiers["next_due_local"].endswith("T07:00:00+07:00")
    (tick,) = dossiers["ticks"]
    assert (tick["outcome"], tick["due_at"]) == ("started", daily.due_at.isoformat())
    assert by_scope["procedures"]["enabled"] is False
