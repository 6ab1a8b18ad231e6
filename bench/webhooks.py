"""Webhook deliveries per second: a burst of events × endpoints, fanned out, signed, POSTed to a
local receiver (its own process) and recorded, until every delivery is recorded as delivered.

    uv run python bench/webhooks.py [--database sqlite|postgres] [--events 348] [--endpoints 5]

Target (issue #2): at least 500 deliveries/s on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import SessionFactory, create_engine, create_session_factory
from app.eventloop import run
from app.events import add_event
from app.migrate import upgrade
from app.models import DeliveryStatus, WebhookDelivery
from app.models.types import utcnow
from app.settings import Settings
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.endpoints import create_endpoint
from app.webhooks.examples import example_data

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/recon_bench_webhooks"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_receiver(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.webhooks.receiver", "--port", str(port)], cwd=REPO
    )


async def wait_until_ready(process: subprocess.Popen[bytes], port: int) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(f"http://127.0.0.1:{port}/_received")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit("the receiver did not start")


async def fresh_postgres() -> str:
    admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS recon_bench_webhooks WITH (FORCE)"))
        await connection.execute(text("CREATE DATABASE recon_bench_webhooks"))
    await admin.dispose()
    return PG_BENCH


async def emit(factory: SessionFactory, count: int) -> None:
    """One run's worth of mismatch.opened events, committed together as a run commits them."""
    async with factory() as session:
        now = utcnow()
        for n in range(count):
            data = example_data("mismatch.opened")
            data["finding_id"] = n
            add_event(
                session,
                province_code="H53",
                event_type="mismatch.opened",
                data=data,
                at=now,
                agency_code=data["subject"]["agency_code"],
            )
        await session.commit()


async def delivered(factory: SessionFactory) -> int:
    async with factory() as session:
        result = await session.exec(
            select(func.count()).where(
                col(WebhookDelivery.status) == DeliveryStatus.DELIVERED.value
            )
        )
        return int(result.one())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=348)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    receiver = launch_receiver(port)
    await wait_until_ready(receiver, port)
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        else:
            url = await fresh_postgres()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            webhook_allowed_networks="127.0.0.0/8",
            webhook_allow_http=True,
            webhook_secret_key=Fernet.generate_key().decode(),
        )
        engine = create_engine(url)
        await upgrade(engine)
        factory = create_session_factory(engine)
        async with factory() as session:
            for n in range(args.endpoints):
                await create_endpoint(
                    session,
                    province_code="H53",
                    url=f"http://127.0.0.1:{port}/subscriber-{n}",
                    event_types=[],
                    agency_codes=[],
                    description=f"bench subscriber {n}",
                    box=settings.webhook_secret_box(),
                )
        dispatcher = Dispatcher(factory, settings, owner="bench")
        burst = args.events * args.endpoints
        rates: list[float] = []
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            for round_number in range(1, args.repeat + 1):
                before = await delivered(factory)
                await emit(factory, args.events)
                started = time.perf_counter()
                while await delivered(factory) < before + burst:
                    await dispatcher.drain()
                elapsed = time.perf_counter() - started
                rates.append(burst / elapsed)
                print(
                    f"round {round_number}: {burst} deliveries ({args.events} events × "
                    f"{args.endpoints} endpoints) in {elapsed:.2f} s = {burst / elapsed:.0f}/s"
                )
            async with httpx.AsyncClient() as http:
                stats = (await http.get(f"http://127.0.0.1:{port}/_received")).json()
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await dispatcher.aclose()
            await engine.dispose()
            receiver.terminate()
            receiver.wait(timeout=10)
    receiver_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    expected = burst * args.repeat
    assert stats["accepted"] == expected, stats
    ours = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    theirs = receiver_cpu.ru_utime + receiver_cpu.ru_stime
    print(
        f"CPU per delivery: dispatcher {ours / expected * 1000:.2f} ms, "
        f"receiver {theirs / expected * 1000:.2f} ms (its whole life, start-up included)"
    )
    print(
        f"{args.database}: median {statistics.median(rates):.0f} deliveries/s "
        f"(best {max(rates):.0f}); receiver accepted {stats['accepted']}/{expected}, "
        f"batch {settings.webhook_batch_size}, {settings.webhook_max_concurrency} endpoints at once"
    )


if __name__ == "__main__":
    run(main())  # the event loop `recon worker` and uvicorn (the in-process dispatcher) use
