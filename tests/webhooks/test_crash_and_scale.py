"""At least once, for real: a worker killed with SIGKILL mid-burst, and two dispatchers on one
PostgreSQL database that never send the same attempt twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from app.background_server import BackgroundServer
from app.db import SessionFactory, create_engine, create_session_factory
from app.events import add_event
from app.migrate import upgrade
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.models.types import utcnow
from app.webhooks.dispatcher import RECORD_BEHIND, Dispatcher
from app.webhooks.endpoints import create_endpoint
from app.webhooks.receiver import Receiver
from app.webhooks.secretbox import SecretBox
from tests.conftest import TEST_SECRET_KEY
from tests.webhooks.conftest import hook_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def setup_burst(
    factory: SessionFactory, base_url: str, receiver: Receiver, paths: list[str], count: int
) -> list[str]:
    async with factory() as session:
        for path in paths:
            _, secret = await create_endpoint(
                session,
                province_code="H53",
                url=f"{base_url}{path}",
                event_types=[],
                agency_codes=[],
                description="",
                box=SecretBox(TEST_SECRET_KEY),
            )
            receiver.expect(path, secret)
    async with factory() as session:
        now = utcnow()
        ids = [
            add_event(
                session,
                province_code="H53",
                event_type="mismatch.opened",
                data={"n": n, "agency_name": "Sở Tài chính"},
                at=now,
            ).id
            for n in range(count)
        ]
        await session.commit()
    return ids


def start_worker(database_url: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET_KEY": TEST_SECRET_KEY,
        "RECON_SIMULATOR": "true",  # the worker needs no upstream, but settings ask for one
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_LEASE_SECONDS": "1",
        "WEBHOOK_POLL_INTERVAL_S": "0.05",
        "WEBHOOK_BATCH_SIZE": "20",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=cwd,  # no stray .env
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def slow_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(delay_s=0.01)
    with BackgroundServer(receiver, name="receiver") as server:
        yield receiver, server.base_url


async def test_sigkill_mid_burst_loses_nothing(
    database_url: str,
    factory: SessionFactory,
    slow_receiver: tuple[Receiver, str],
    tmp_path: Path,
) -> None:
    receiver, base_url = slow_receiver
    ids = await setup_burst(factory, base_url, receiver, ["/a", "/b"], 150)
    expected = {(path, message_id) for path in ("/a", "/b") for message_id in ids}

    worker = start_worker(database_url, tmp_path)
    try:
        await asyncio.to_thread(
            wait_for, lambda: len(receiver.received) >= 40, 60, "the burst to start"
        )
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    at_kill = len({(item.path, item.webhook_id) for item in receiver.accepted()})
    assert at_kill < len(expected), "the worker finished before it was killed"

    restarted = start_worker(database_url, tmp_path)
    try:
        await asyncio.to_thread(
            wait_for,
            lambda: receiver.stats()["unique_accepted"] == len(expected),
            60,
            "every event after the restart",
        )
        # SIGTERM lets the current pass record its results before the worker exits.
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=15) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()

    accepted = receiver.accepted()
    assert {(item.path, item.webhook_id) for item in accepted} == expected
    # Results are committed as they come, so the restart resends only what was in flight at
    # the kill: per endpoint, the requests awaiting an answer plus the answers awaiting their
    # group commit (RECORD_BEHIND), not the whole claimed batch.
    duplicates = len(receiver.received) - len({(i.path, i.webhook_id) for i in receiver.received})
    assert duplicates <= 2 * (1 + RECORD_BEHIND), duplicates
    assert all(item.verified for item in receiver.received)
    # A message sent twice is the same message: same id, same body.
    bodies: dict[tuple[str, str], bytes] = {}
    for item in receiver.received:
        key = (item.path, item.webhook_id)
        assert bodies.setdefault(key, item.body) == item.body
    async with factory() as session:
        statuses = await session.exec(select(WebhookDelivery.status))
        assert Counter(statuses.all()) == {"delivered": len(expected)}


@pytest.mark.postgres
async def test_two_dispatchers_on_postgres_never_send_an_attempt_twice(postgres_url: str) -> None:
    engines = [create_engine(postgres_url) for _ in range(2)]
    await upgrade(engines[0])
    factories = [create_session_factory(engine) for engine in engines]
    receiver = Receiver()
    settings = hook_settings(postgres_url, webhook_batch_size=10, webhook_lease_seconds=30)
    with BackgroundServer(receiver, name="receiver") as server:
        ids = await setup_burst(factories[0], server.base_url, receiver, ["/a", "/b"], 348)
        total = 2 * len(ids)
        dispatchers = [
            Dispatcher(factory, settings, owner=f"replica-{n}")
            for n, factory in enumerate(factories)
        ]

        async def work(dispatcher: Dispatcher) -> None:
            while receiver.stats()["accepted"] < total:
                if not await dispatcher.run_once():
                    await asyncio.sleep(0.01)

        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(work(d) for d in dispatchers))
            await asyncio.gather(*(d.drain() for d in dispatchers))
        finally:
            for dispatcher in dispatchers:
                await dispatcher.aclose()

    stats = receiver.stats()
    assert stats["received"] == total  # nothing sent twice
    assert stats["unique_accepted"] == total
    async with factories[0]() as session:
        attempts = await session.exec(
            select(WebhookAttempt.dispatcher, func.count()).group_by(col(WebhookAttempt.dispatcher))
        )
        by_dispatcher = dict(attempts.all())
    for engine in engines:
        await engine.dispose()
    assert sum(by_dispatcher.values()) == total
    assert set(by_dispatcher) == {"replica-0", "replica-1"}  # both did share the work


async def _delivered_at(factory: SessionFactory, endpoint_id: str) -> list[float]:
    async with factory() as session:
        rows = await session.exec(
            select(WebhookDelivery.delivered_at).where(
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == "delivered",
            )
        )
        return [at.timestamp() for at in rows.all() if at is not None]


BURST = 60


async def _run_fast_burst(
    database_url: str, factory: SessionFactory, fast_url: str, slow_url: str | None
) -> float:
    """Seconds from the burst's commit to the fast endpoint's last delivery, with the
    dispatcher running as in production (its own loop, woken by the commit)."""
    paths = {"fast": fast_url, **({"slow": slow_url} if slow_url else {})}
    ids: dict[str, str] = {}
    async with factory() as session:
        for name, url in paths.items():
            endpoint, _ = await create_endpoint(
                session,
                province_code="H53",
                url=url,
                event_types=[],
                agency_codes=[],
                description=name,
                box=SecretBox(TEST_SECRET_KEY),
            )
            ids[name] = endpoint.id
    # Claims of 10: the burst needs several, so a claim that waited for the slow endpoint's
    # share (10 s a request) would show in the fast endpoint's figures.
    settings = hook_settings(database_url, webhook_timeout_s=30, webhook_batch_size=10)
    dispatcher = Dispatcher(factory, settings, owner="isolation")
    dispatcher.start()
    try:
        async with factory() as session:
            started = utcnow()
            for n in range(BURST):
                add_event(
                    session,
                    province_code="H53",
                    event_type="mismatch.opened",
                    data={"n": n},
                    at=started,
                )
            await session.commit()
        dispatcher.wake()
        async with asyncio.timeout(60):
            while True:
                if len(await _delivered_at(factory, ids["fast"])) == BURST:
                    break
                await asyncio.sleep(0.02)
        finished = max(await _delivered_at(factory, ids["fast"]))
    finally:
        await dispatcher.aclose(grace_s=0.5)
    return finished - started.timestamp()


async def test_a_slow_endpoint_does_not_delay_a_fast_one(
    database_url: str, factory: SessionFactory
) -> None:
    # The fast endpoint answers in 50 ms, one request at a time: 60 deliveries take about 3 s,
    # long enough for 10 % to be more than the machine's scheduling noise.
    fast, slow = Receiver(delay_s=0.05), Receiver(delay_s=10)
    with (
        BackgroundServer(fast, name="fast") as fast_server,
        BackgroundServer(slow, name="slow") as slow_server,
    ):
        alone = await _run_fast_burst(database_url, factory, f"{fast_server.base_url}/f", None)
        async with factory() as session:  # a clean slate for the second burst
            await session.exec(update(WebhookEndpoint).values(enabled=False))
            await session.commit()
        beside = await _run_fast_burst(
            database_url, factory, f"{fast_server.base_url}/f2", f"{slow_server.base_url}/s"
        )
        assert len(slow.received) <= 1  # the slow one was still on its first request
    # The slow endpoint answers every 10 s; the fast one's deliveries do not wait for it:
    # within 10 % of their time alone (a dispatcher that waited for the slow one would take
    # 10 s a claim and more).
    assert alone > 2.5, alone
    assert beside <= alone * 1.1, (alone, beside)
