"""Three `recon serve` processes on one PostgreSQL database, as a province deploys them behind a
load balancer (DESIGN promises 2 and 6): concurrent requests make one run, scheduled ticks fire
once each, a replica killed mid-run leaves a run that is declared abandoned and the next tick
runs normally, and no webhook is lost meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import SessionFactory, create_engine, create_session_factory
from app.migrate import upgrade
from app.models import OutboxEvent, Run, ScheduleTick
from app.simulator.server import SimulatorServer
from tests.conftest import ADMIN_KEY, TEST_SECRET_KEY, ReceiverServer

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
EVERY = timedelta(seconds=10)
LEASE_S = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


class Deployment:
    """Replicas started and stopped by the test; every one is gone when it ends."""

    def __init__(self, database_url: str, simulator: SimulatorServer, tmp: Path) -> None:
        self.database_url = database_url
        self.simulator = simulator
        self.tmp = tmp
        self.replicas: list[Replica] = []

    def environment(self, *, scheduled: bool) -> dict[str, str]:
        return {
            **os.environ,
            **self.simulator.environment(),
            "DATABASE_URL": self.database_url,
            "RECON_ADMIN_KEY": ADMIN_KEY,
            "WEBHOOK_SECRET_KEY": TEST_SECRET_KEY,
            "RUN_LEASE_SECONDS": str(LEASE_S),
            "JANITOR_INTERVAL_SECONDS": "0.5",
            "SCHEDULER_ENABLED": str(scheduled).lower(),
            "SCHEDULE_PROCEDURES_EVERY": f"{int(EVERY.total_seconds())}s",
            "SCHEDULE_DOSSIERS_EVERY": "off",
            "SCHEDULER_POLL_SECONDS": "0.2",
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_LEASE_SECONDS": "2",
            "WEBHOOK_POLL_INTERVAL_S": "0.1",
            "WEBHOOK_RETRY_SCHEDULE": "1s,1s,2s,2s",
            "UPSTREAM_RETRY_INITIAL_WAIT_S": "0",
            "UPSTREAM_RETRY_MAX_WAIT_S": "0.1",
        }

    async def start(self, count: int, *, scheduled: bool) -> list[Replica]:
        started = []
        for n in range(len(self.replicas), len(self.replicas) + count):
            port = free_port()
            process = _spawn(
                port, self.environment(scheduled=scheduled), self.tmp / f"replica-{n}.log"
            )
            started.append(Replica(process, f"http://127.0.0.1:{port}"))
        self.replicas += started
        async with httpx.AsyncClient() as http:
            for replica in started:
                await _until(lambda r=replica: _is_up(http, r), timeout_s=60, what=replica.url)
        return started

    def stop_all(self) -> None:
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                replica.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
        self.replicas = []

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.tmp.glob("replica-*.log"))
        )


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def _is_up(http: httpx.AsyncClient, replica: Replica) -> bool:
    if replica.process.poll() is not None:
        raise AssertionError(f"replica {replica.url} exited with {replica.process.returncode}")
    try:
        return (await http.get(f"{replica.url}/health/live", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False


async def _until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def _runs(factory: SessionFactory) -> list[Run]:
    async with factory() as session:
        return list((await session.exec(select(Run).order_by(col(Run.created_at)))).all())


async def _ticks(factory: SessionFactory) -> list[ScheduleTick]:
    async with factory() as session:
        rows = await session.exec(select(ScheduleTick).order_by(col(ScheduleTick.slot)))
        return list(rows.all())


@pytest.fixture
async def deployment(
    postgres_url: str, tmp_path: Path, receiver: ReceiverServer
) -> AsyncIterator[Deployment]:
    engine = create_engine(postgres_url)
    await upgrade(engine)  # once, before the replicas (each would also do it, under a lock)
    await engine.dispose()
    with SimulatorServer("tay-ninh-2023") as simulator:
        deployed = Deployment(postgres_url, simulator, tmp_path)
        try:
            yield deployed
        finally:
            deployed.stop_all()


async def test_three_replicas_on_one_database(
    deployment: Deployment, receiver: ReceiverServer, postgres_url: str
) -> None:
    engine = create_engine(postgres_url)
    factory = create_session_factory(engine)
    try:
        await _scenario(deployment, receiver, factory)
    except BaseException:
        print(deployment.logs())
        raise
    finally:
        await engine.dispose()


async def _scenario(
    deployment: Deployment, receiver: ReceiverServer, factory: SessionFactory
) -> None:
    replicas = await deployment.start(3, scheduled=False)
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as http:
        created = await http.post(
            f"{replicas[0].url}/webhooks/endpoints",
            json={"url": f"{receiver.base_url}/hooks", "description": "Trung tâm giám sát"},
        )
        assert created.status_code == 201, created.text
        receiver.app.expect("/hooks", created.json()["secret"])

        # 1. Twenty identical requests spread over the replicas: one run, the rest join it.
        answers = await asyncio.gather(
            *(http.post(f"{replicas[n % 3].url}/reconcile") for n in range(20))
        )
        assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
        assert len({a.json()["run_id"] for a in answers}) == 1
        assert [a.json()["coalesced"] for a in answers].count(False) == 1
        (run,) = await _runs(factory)

        async def finished() -> bool:
            return (await _runs(factory))[0].status not in ("queued", "running")

        await _until(finished, timeout_s=60, what="the requested run")
        (run,) = await _runs(factory)
        assert run.status == "succeeded", run.errors

    # 2. The same replicas with the scheduler on, for a minute: each tick fires once.
    deployment.stop_all()
    replicas = await deployment.start(3, scheduled=True)
    window_start = datetime.now().astimezone()
    await asyncio.sleep(60)
    ticks = [t for t in await _ticks(factory) if t.due_at >= window_start - EVERY]
    slots = [t.slot for t in ticks]
    assert len(ticks) >= 6, ticks
    assert slots == list(range(slots[0], slots[0] + len(slots)))  # no tick missed
    runs = await _runs(factory)
    scheduled = [r for r in runs if r.trigger == "schedule"]
    # Every tick started its run, and every scheduled run was started by one tick.
    assert all(t.outcome == "started" for t in ticks[:-1]), [(t.outcome, t.detail) for t in ticks]
    assert sorted(r.id for r in scheduled) == sorted(t.run_id for t in ticks if t.run_id)
    for tick in ticks[:-1]:
        fired = next(r for r in scheduled if r.id == tick.run_id)
        assert fired.status == "succeeded", fired.errors

    # 3. A replica is killed in the middle of a run: the run is declared abandoned once its
    # lease expires, and the next tick runs normally.
    async with httpx.AsyncClient(timeout=10) as sim:
        slow = await sim.patch(
            f"{deployment.simulator.base_url}/_sim/faults", json={"latency_ms": 2000}
        )
        assert slow.status_code == 200, slow.text
        victim_run: list[Run] = []

        async def a_run_is_running() -> bool:
            victim_run[:] = [r for r in await _runs(factory) if r.status == "running"]
            return bool(victim_run)

        await _until(a_run_is_running, timeout_s=30, what="a scheduled run to be running")
        victim = victim_run[0]
        assert victim.lease_owner is not None
        pid = int(victim.lease_owner.rsplit(":", 1)[1])
        (killed,) = [r for r in replicas if r.pid == pid]
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        killed_at = datetime.now().astimezone()
        fast = await sim.patch(
            f"{deployment.simulator.base_url}/_sim/faults", json={"latency_ms": 0}
        )
        assert fast.status_code == 200

    async def abandoned() -> bool:
        run = next(r for r in await _runs(factory) if r.id == victim.id)
        return run.status == "failed"

    await _until(abandoned, timeout_s=LEASE_S + 10, what="the killed replica's run to fail")
    failed = next(r for r in await _runs(factory) if r.id == victim.id)
    assert any("abandoned" in e for e in failed.errors), failed.errors
    assert failed.active_province is None  # the province is free for the next run

    async def a_later_run_succeeded() -> bool:
        return any(
            r.trigger == "schedule" and r.created_at > killed_at and r.status == "succeeded"
            for r in await _runs(factory)
        )

    await _until(
        a_later_run_succeeded, timeout_s=EVERY.total_seconds() * 2 + 10, what="the next tick"
    )

    # 4. Webhooks: every event written meanwhile reaches the subscriber, killed replica or not.
    async with factory() as session:
        events = {e.id for e in (await session.exec(select(OutboxEvent))).all()}
    assert events

    async def all_delivered() -> bool:
        return events <= {r.webhook_id for r in receiver.app.accepted("/hooks")}

    await _until(all_delivered, timeout_s=60, what="every webhook to be delivered")
    received: Any = [r.payload()["type"] for r in receiver.app.accepted("/hooks")]
    assert "run.failed" in received
    assert "run.completed" in received
